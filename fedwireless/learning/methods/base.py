"""The seam every federated method implements (in the spirit of Flower's Strategy and PEFT's per-method
model): what a client trains, what it sends, what the server aggregates and what it broadcasts.

The learner drives a method through these calls only; the round loop and the SimPy engine see payload bytes,
FLOPs and metrics, so adding a method changes neither. Each round, for every selected (device, rank):

    start = method.client_start(device, rank, round)   # loads the client's starting point into the model
    ... local training of method.trainable_params(rank) ...
    trained = method.client_state(rank)                # what the client ends with
    # the learner codes Δ = trained − start into the payload bytes; the server reconstructs start + Δ̂
then `method.aggregate(states, weights, round)` with the reconstructed states of the updates that arrived, and
`method.downlink_payload()` for the next broadcast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

State = dict[str, torch.Tensor]


class FederatedMethod(ABC):
    """One federated method. `ranks` are the modules a policy chooses among ((0,) when there is one)."""

    ranks: tuple[int, ...]
    model: torch.nn.Module
    needs_row_index: bool = False  # batches carry their row indices (for per-row weights, e.g. rewards)
    station_of = None  # hierarchical rounds: [devices] the base station whose edge model a client starts from
    attention_window: int | None = None  # sliding-window attention in local training (FLOPs follow it); None: dense

    @abstractmethod
    def trainable_count(self, rank: int, device: int | None = None) -> int:
        """Parameters a client of this rank trains (on `device`'s model, where models differ)."""

    def adapter_matmul(self, rank: int, device: int | None = None) -> int:
        """Matmul parameters a token passes through besides the base model's (LoRA factors)."""
        return 0

    @abstractmethod
    def update_template(self, rank: int) -> State:
        """Zeros shaped like a client's update (payload size before training)."""

    @abstractmethod
    def client_start(self, device: int, rank: int, round_index: int) -> State:
        """Load the client's starting point into the model and return it."""

    @abstractmethod
    def trainable_params(self, rank: int) -> list[torch.nn.Parameter]:
        """The parameters local training updates (after `client_start`)."""

    @abstractmethod
    def client_state(self, rank: int) -> State:
        """The trained state, same keys as the start (cloned, not views of live parameters)."""

    @abstractmethod
    def aggregate(self, states: Sequence[State], weights: Sequence[float], round_index: int) -> None:
        """Fold the arrived clients' reconstructed states (weights ∝ samples) into the global model."""

    def aggregate_late(self, states: Sequence[State], weights: Sequence[float], scale: Sequence[float],
                       round_index: int) -> None:  # fmt: skip
        """Fold in updates that trained from older global models, each weighted by its staleness weight `scale`
        (semi-synchronous rounds); only methods whose global model is a weighted average of states can."""
        raise NotImplementedError(f"{type(self).__name__} cannot mix late updates (federated.mode: semi-sync)")

    def aggregate_buffer(self, states: Sequence[State], starts: Sequence[State], scale: Sequence[float],
                         server_lr: float) -> None:  # fmt: skip
        """Asynchronous FedBuff: move the global model by the updates' deltas from their starts."""
        raise NotImplementedError(f"{type(self).__name__} cannot apply update deltas (federated.mode: async)")

    def aggregate_at_edges(self, groups: dict[int, tuple[Sequence[State], Sequence[float]]]) -> None:
        """Hierarchical rounds: each station's edge model from the (states, weights) it received."""
        raise NotImplementedError(f"{type(self).__name__} keeps no edge models (federated.mode: hierarchical)")

    def aggregate_at_cloud(self) -> None:
        """Hierarchical rounds: the global model from the edge models (HierFAVG)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no edge models (federated.mode: hierarchical)")

    @abstractmethod
    def downlink_payload(self) -> bytes:
        """The bytes of the next broadcast."""

    @abstractmethod
    def eval_model(self) -> torch.nn.Module:
        """The model carrying the global state, for evaluation."""

    def rank_residuals(self) -> dict[int, float] | None:
        """ε(r) of the last aggregation, for policies that weigh rank choices (None if not applicable)."""
        return None

    def batch_start(self, device: int, rank: int, round_index: int) -> State:
        """The starting point of a client trained in a batch (`train_batched` takes it as a tensor, so a method
        may skip loading it into the model); `client_start` by default."""
        return self.client_start(device, rank, round_index)

    def batching(self, num_clients: int) -> tuple[bool, str]:
        """Whether a round's clients can be trained together with results equal to one by one, and why not."""
        return False, f"{type(self).__name__} trains clients one by one"

    def train_batched(self, starts, batches, loss_from_logits, settings):  # pragma: no cover - optional
        raise NotImplementedError

    def start_round(self, round_index: int) -> None:
        """Called before a round's clients train (e.g. to draw the round's shared inputs)."""
        return None

    def local_loss(self, loss_fn, device: int):
        """The loss a client trains on: the task's, unless the method adds a term (distillation)."""
        return loss_fn

    def client_payload(self, device: int, rank: int, start: State, trained: State, budget_bits: float | None):
        """(payload bytes, what the server reads from them, per-device info) when the method sends something
        other than a coded parameter difference; None lets the learner code Δ = trained − start."""
        return None

    def expected_payload_bits(self, rank: int) -> int | None:
        """Planned uplink bits when the method sends something other than a coded parameter difference; None
        lets the learner size the coded `update_template(rank)`."""
        return None

    def payload_growth(self) -> tuple[int, int, float] | None:
        """(least bits, most bits, η) of a payload that fills η of its upload window; None: a fixed size."""
        return None

    def payload_params(self) -> int | None:
        """Parameters an uncompressed update carries, when not the largest `trainable_count` (0: nothing)."""
        return None

    def evaluate(self, data, task):
        """(test metrics, per-device metrics) when the method has no single global model; None otherwise."""
        return None

    def info(self) -> dict[str, object]:
        return {}
