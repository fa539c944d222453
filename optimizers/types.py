"""What a policy sees (RoundState), what it returns (Allocation), and what it learns afterwards (RoundOutcome)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

PLANNING_MARGIN = 1e-3  # share of each upload window kept free


def _check_shape(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if np.shape(arr) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {np.shape(arr)}")


@dataclass(frozen=True)
class RoundState:
    """Per-device inputs of one round's decision. K devices, M modules, C cells."""

    round_index: int
    deadline_s: float  # seconds from round start by which uploads must have arrived
    ranks: tuple[int, ...]  # module options (LoRA ranks; 0 = full model); module index -1 means skip
    available: np.ndarray  # [K] bool
    gain_lin: np.ndarray  # [K] uplink power gain to the serving base station
    noise_psd_w_per_hz: np.ndarray  # [K] at the serving base station
    cell: np.ndarray  # [K] int serving base station
    cell_bandwidth_hz: np.ndarray  # [C] uplink pool per base station
    p_max_w: np.ndarray  # [K]
    payload_bits: np.ndarray  # [K, M]
    compute_time_s: np.ndarray  # [K, M]
    compute_energy_j: np.ndarray  # [K, M]
    downlink_time_s: np.ndarray  # [K]
    energy_budget_j: np.ndarray  # [K] long-term average budget per round (inf = none)
    num_samples: np.ndarray  # [K]
    max_clients: int | None = None

    def __post_init__(self) -> None:
        k, m = len(self.gain_lin), len(self.ranks)
        if m == 0:
            raise ValueError("ranks: must offer at least one module")
        for name in (
            "available",
            "noise_psd_w_per_hz",
            "cell",
            "p_max_w",
            "downlink_time_s",
            "energy_budget_j",
            "num_samples",
        ):
            _check_shape(name, getattr(self, name), (k,))
        for name in ("payload_bits", "compute_time_s", "compute_energy_j"):
            _check_shape(name, getattr(self, name), (k, m))
        if len(self.cell) and (self.cell.min() < 0 or self.cell.max() >= len(self.cell_bandwidth_hz)):
            raise ValueError(f"cell: indices must be in [0, {len(self.cell_bandwidth_hz)}), got {self.cell.max()}")

    @property
    def num_devices(self) -> int:
        return len(self.gain_lin)

    def upload_window_s(self) -> np.ndarray:
        """[K, M] time left for the upload after downlink and local training, less a planning margin.

        Energy-minimal plans use the whole window, so they would end exactly at the deadline; the
        margin keeps rounding in the simulator from turning a plan that fits into a straggler.
        """
        return (self.deadline_s - self.downlink_time_s[:, None] - self.compute_time_s) * (1.0 - PLANNING_MARGIN)


@dataclass(frozen=True)
class Allocation:
    module: np.ndarray  # [K] index into ranks, -1 = skip
    power_w: np.ndarray  # [K]
    bandwidth_hz: np.ndarray  # [K]
    skip_reason: tuple[str, ...]  # [K] '' when selected
    terms: Mapping[str, float] = field(default_factory=dict)
    cpu_hz: np.ndarray | None = None

    def __post_init__(self) -> None:
        k = len(self.module)
        _check_shape("power_w", self.power_w, (k,))
        _check_shape("bandwidth_hz", self.bandwidth_hz, (k,))
        if len(self.skip_reason) != k:
            raise ValueError(f"skip_reason: expected {k} entries, got {len(self.skip_reason)}")

    @property
    def selected(self) -> np.ndarray:
        return self.module >= 0


@dataclass(frozen=True)
class RoundOutcome:
    round_index: int
    module: np.ndarray  # [K] as allocated
    arrived: np.ndarray  # [K] bool
    energy_j: np.ndarray  # [K] energy spent this round
    accuracy: float
    loss: float


class Policy(Protocol):
    name: str

    def decide(self, state: RoundState) -> Allocation: ...

    def observe(self, outcome: RoundOutcome) -> None: ...
