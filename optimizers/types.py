"""What a policy sees (RoundState), what it returns (Allocation), and what it learns afterwards (RoundOutcome)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

import channels
from optimizers.queue import EnergyQueue

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
    # Transmit-chain circuit power drawn during airtime, on top of the radiated power [K] (None: 0 W).
    circuit_power_w: np.ndarray | None = None
    # Packet errors (Chen et al. 2021): the waterfall threshold m, or None when uploads never fail.
    waterfall_m: float | None = None
    # CPU frequency scaling (Yang et al. 2021): cycles of the local training [K, M], κ [K] and the
    # frequency range [K]. compute_time_s / compute_energy_j are the figures at cpu_hz_max. Devices
    # with cpu_hz_min == cpu_hz_max (or no cycles model) run at their fixed speed.
    cycles: np.ndarray | None = None
    kappa: np.ndarray | None = None
    cpu_hz_min: np.ndarray | None = None
    cpu_hz_max: np.ndarray | None = None
    # Payloads that follow the channel (channel-adaptive top-k logits, arXiv 2509.01750): a device sends
    # clip(payload_fill·rate·window, payload_bits, payload_max_bits) bits, so payload_bits is then the least
    # it can send and its airtime is at least payload_fill·window. None: every payload has its fixed size.
    payload_fill: float | None = None
    payload_max_bits: np.ndarray | None = None  # [K, M]

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
        if (self.payload_fill is None) != (self.payload_max_bits is None):
            raise ValueError("payload_fill, payload_max_bits: give both or neither")
        if self.payload_fill is not None:
            if not 0.0 < self.payload_fill <= 1.0:
                raise ValueError(f"payload_fill: must be in (0, 1], got {self.payload_fill}")
            _check_shape("payload_max_bits", self.payload_max_bits, (k, m))
        if self.circuit_power_w is not None:
            _check_shape("circuit_power_w", self.circuit_power_w, (k,))
        dvfs = (self.cycles, self.kappa, self.cpu_hz_min, self.cpu_hz_max)
        if any(x is not None for x in dvfs) and any(x is None for x in dvfs):
            raise ValueError("cycles, kappa, cpu_hz_min, cpu_hz_max: give all four or none")
        if self.cycles is not None:
            _check_shape("cycles", self.cycles, (k, m))
            for name in ("kappa", "cpu_hz_min", "cpu_hz_max"):
                _check_shape(name, getattr(self, name), (k,))
        if len(self.cell) and (self.cell.min() < 0 or self.cell.max() >= len(self.cell_bandwidth_hz)):
            raise ValueError(f"cell: indices must be in [0, {len(self.cell_bandwidth_hz)}), got {self.cell.max()}")

    @property
    def num_devices(self) -> int:
        return len(self.gain_lin)

    @property
    def circuit_w(self) -> np.ndarray:
        """[K] circuit power during airtime (0 where not given)."""
        return np.zeros(self.num_devices) if self.circuit_power_w is None else self.circuit_power_w

    @property
    def dvfs(self) -> np.ndarray:
        """[K] True where the device's CPU frequency is a decision (a range and a cycles model)."""
        if self.cycles is None:
            return np.zeros(self.num_devices, dtype=bool)
        return self.cpu_hz_min < self.cpu_hz_max

    def compute_at(self, cpu_hz: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """[K, M] compute time and energy at the given frequency ([K] or [K, M]; None: full speed).

        Cycles model (Yang et al. 2021): time C/f, energy κ·C·f². Devices without DVFS keep their
        fixed figures whatever `cpu_hz` says.
        """
        if cpu_hz is None or self.cycles is None:
            return self.compute_time_s, self.compute_energy_j
        f = np.asarray(cpu_hz, dtype=float)
        f = f[:, None] if f.ndim == 1 else f
        use = self.dvfs[:, None] & np.isfinite(f) & (f > 0)
        f = np.where(use, f, 1.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t = np.where(use, channels.cycles_time_s(self.cycles, cpu_hz=f), self.compute_time_s)
            e = np.where(
                use, channels.cycles_energy_j(self.cycles, kappa=self.kappa[:, None], cpu_hz=f), self.compute_energy_j
            )
        return t, e

    def payload_growth(self, cpu_hz: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """[K, M] least airtime (`payload_fill`·window) and most bits of each payload; 0 and inf for fixed
        payloads. See `channels.airtime_s`."""
        shape = self.payload_bits.shape
        if self.payload_fill is None:
            return np.zeros(shape), np.full(shape, np.inf)
        w = self.upload_window_s(cpu_hz)
        return self.payload_fill * np.maximum(np.where(np.isfinite(w), w, 0.0), 0.0), self.payload_max_bits

    def upload_window_s(self, cpu_hz: np.ndarray | None = None, margin: float = PLANNING_MARGIN) -> np.ndarray:
        """[K, M] time left for the upload after downlink and local training, less a planning margin.

        Energy-minimal plans use the whole window, so they would end exactly at the deadline; the
        margin keeps rounding in the simulator from turning a plan that fits into a straggler (the run
        sizes channel-following payloads with margin 0: the whole time the device has).
        Non-finite inputs give a window of −inf (the module cannot be planned).
        """
        compute_s, _ = self.compute_at(cpu_hz)
        with np.errstate(invalid="ignore"):
            w = (self.deadline_s - self.downlink_time_s[:, None] - compute_s) * (1.0 - margin)
        return np.where(np.isfinite(w), w, -np.inf)

    def link_ok(self) -> np.ndarray:
        """[K] True where the uplink can carry anything: finite positive gain, power and noise."""
        with np.errstate(invalid="ignore"):
            return (
                np.isfinite(self.gain_lin)
                & (self.gain_lin > 0)
                & np.isfinite(self.p_max_w)
                & (self.p_max_w > 0)
                & np.isfinite(self.noise_psd_w_per_hz)
                & (self.noise_psd_w_per_hz > 0)
            )


@dataclass(frozen=True)
class Allocation:
    module: np.ndarray  # [K] index into ranks, -1 = skip
    power_w: np.ndarray  # [K]
    bandwidth_hz: np.ndarray  # [K]
    skip_reason: tuple[str, ...]  # [K] '' when selected
    terms: Mapping[str, float] = field(default_factory=dict)
    cpu_hz: np.ndarray | None = None  # [K] chosen CPU frequency (None: every device at full speed)
    packet_error_prob: np.ndarray | None = None  # [K] the policy's own estimate, where it models errors

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
    # Share of the aggregated update's energy each offered rank cannot carry, ε(r) = Σ_{i>r} σ_i² / Σ σ_i²
    # (learner: singular values of the aggregated adapter product; surrogate: its closed form); None if unknown.
    rank_residual: Mapping[int, float] | None = None
    # Share of a round's energy budget this outcome's period earns: 1 for a round; an asynchronous server step
    # earns its length over the deadline, so energy queues advance in time.
    budget_share: float = 1.0


class Policy(Protocol):
    """A per-round allocator. `uses_rank_residual`: `observe` reads `RoundOutcome.rank_residual` (the learner
    measures it only then). `energy_queue`: the policy's own virtual energy queues, which the run reports;
    None when it keeps none (the run then keeps them itself)."""

    name: str
    uses_rank_residual: bool
    energy_queue: EnergyQueue | None

    def decide(self, state: RoundState) -> Allocation: ...

    def observe(self, outcome: RoundOutcome) -> None: ...
