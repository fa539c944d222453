"""The seams of the round loop: what a learner answers and what one client's training hands the server.

The loop (`fedwireless.sim`) talks to a learner only through `Learner`; the real one
(`fedwireless.learning.Learner`, torch + peft) and the surrogate (`fedwireless.surrogate`) both implement
it, and a test checks that they do. Nothing here imports torch, so the surrogate runs without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass
class ClientUpdate:
    """One client's trained update: the record the loop moves from training to the engine to aggregation."""

    device: int
    rank: int  # 0 for full-parameter training
    state: Mapping[str, Any]  # what the server reconstructs from the payload (start + decoded Δ); {} for the surrogate
    payload: bytes  # the real encoded bytes that cross the uplink
    num_samples: int
    flops: float
    train_loss: float
    info: dict = field(default_factory=dict)  # method figures for devices.csv (e.g. topk)
    # The state it trained from, kept in asynchronous runs (FedBuff applies state − start); {} otherwise.
    start: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PayloadModel:
    """Uplink payload size per module (policies plan with it). Fixed-size payloads have `bits` only; a payload
    that follows the channel (adaptive top-k logits) fills `fill` of its upload window, between `bits` (its
    floor) and `max_bits` (its ceiling)."""

    bits: tuple[int, ...]  # [modules]
    max_bits: tuple[int, ...] | None = None  # [modules]; None: fixed size
    fill: float | None = None  # share of the upload window a growing payload fills

    @property
    def grows(self) -> bool:
        return self.fill is not None


@runtime_checkable
class Learner(Protocol):
    """What the round loop asks of the learning side, and nothing else.

    Called in this order: `num_samples`, `payload_model`, `expected_flops` once at setup; each round
    `downlink_payload`, `next_round_flops`, `train_clients`, `aggregate`, `evaluate` (then `device_metrics`
    and, for policies that read them, `rank_residuals`); `compression_params`, `artifacts` and `info` at the end.
    Hierarchical rounds call `start_from_edges` before `train_clients`, and `aggregate_at_edges` (then, every
    `edge_rounds` rounds, `aggregate_at_cloud`) instead of `aggregate`. Asynchronous FedBuff calls `aggregate_buffer`
    instead of `aggregate`.
    """

    def num_samples(self) -> np.ndarray:
        """[devices] training rows each device holds (aggregation weights)."""

    def payload_model(self, ranks: Sequence[int]) -> PayloadModel:
        """Uplink payload sizes of the modules `ranks` (0: full-parameter)."""

    def expected_flops(self, rank: int) -> np.ndarray:
        """[devices] FLOPs of a typical round's local training at `rank` (setup warnings)."""

    def next_round_flops(self, rank: int) -> np.ndarray:
        """[devices] FLOPs of the coming round's local training at `rank`, as the engine will charge them."""

    def downlink_payload(self) -> bytes:
        """The bytes of the next broadcast."""

    def train_clients(
        self, assignments: Sequence[tuple[int, int]], uplink_budget_bits: dict[int, float] | None = None
    ) -> list[ClientUpdate]:
        """Train each (device, rank) from the current global model; updates come back in the caller's order."""

    def aggregate(self, updates: Sequence[ClientUpdate], staleness_weights: Sequence[float] | None = None) -> None:
        """Fold the updates that arrived into the global model; `staleness_weights` (semi-synchronous rounds) give
        each one's weight s(τ) ≤ 1 for the rounds since the one whose model it trained from (None: all fresh)."""

    def aggregate_buffer(self, updates: Sequence[ClientUpdate], staleness_weights: Sequence[float],
                         server_lr: float) -> None:  # fmt: skip
        """Asynchronous FedBuff (Nguyen et al. 2022): x ← x + η·(1/K)·Σ_k s_k·Δ_k over the K buffered updates,
        Δ_k an update's state less the state it trained from (`ClientUpdate.start`), s_k its staleness weight, η
        `server_lr`."""

    def start_from_edges(self, station_of: np.ndarray | None) -> None:
        """Hierarchical rounds: each device's next training starts from its base station's edge model
        (`station_of[device]`; a station without one yet gives the global model); None: from the global model."""

    def aggregate_at_edges(self, updates_by_station: Mapping[int, Sequence[ClientUpdate]]) -> None:
        """Hierarchical rounds: each listed station's edge model becomes the FedAvg of the updates it received."""

    def aggregate_at_cloud(self) -> None:
        """Hierarchical rounds: the global model becomes the sample-weighted mean of the edge models that aggregated
        since the last cloud aggregation (HierFAVG); every station starts from it again."""

    def evaluate(self) -> dict[str, float]:
        """Test metrics of the global model (`accuracy`, `loss`, and the task's extras)."""

    def device_metrics(self) -> list[dict[str, float]]:
        """Per-device metrics of the last evaluation ([] when there are none)."""

    def rank_residuals(self) -> dict[int, float] | None:
        """ε(r) of the last aggregation per rank, for policies that weigh rank choices (None: not measured)."""

    def compression_params(self) -> int:
        """Parameters an uncompressed update would carry (the compression ratio's denominator; 0: none)."""

    def artifacts(self) -> dict[str, bytes]:
        """Files the run directory keeps besides the tables (e.g. a trained tokenizer), by file name."""

    def info(self) -> dict[str, object]:
        """What the summary says about the learning side (`learning`, `training_path`, ...)."""
