"""A learning-curve surrogate that stands in for real training in large policy studies.

It answers the same questions as `fedwireless.learning.learner.Learner` (payload sizes, FLOPs,
accuracy after aggregation) without torch, so 1,000 devices × 200 rounds run in seconds. It is
never the default, and every results file it produces says `learning: surrogate`.

Model (documented in `SurrogateConfig`): after a round whose arrived updates carry shares p_k of the
selected devices' samples and ranks r_k, accuracy moves toward `max_accuracy` by
``rate · Σ p_k · r_k / (r_k + rank_half)`` of the remaining gap (saturating returns in rank), plus
optional Gaussian noise. In semi-synchronous rounds an update that trained from the model of τ rounds ago counts
s(τ) of a fresh one (`federated.staleness`, the weight the real learner mixes it in with), its share p_k taken
of the cohort it was selected with. Asynchronous updates count in full: a FedAsync arrival moves
α·s(τ)·r/(r + rank_half) of a round's progress, a FedBuff server update η times its buffer's mean
s(τ_k)·r_k/(r_k + rank_half) (the model has no variance that averaging would reduce, so it does not reward larger
cohorts). In hierarchical rounds the edge rounds' progress adds up and moves accuracy at the cloud aggregation, all
at once.
Loss is the binary cross-entropy of a calibrated classifier with that
accuracy, −[a ln a + (1 − a) ln(1 − a)].
Payload sizes are those of float32 LoRA adapters (and classifier head) on the task's model; FLOPs
come from the same counting functions as the real learner's (`fedwireless.learning.flops`: weights and dense
causal attention scores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fedwireless.contracts import ClientUpdate, PayloadModel
from fedwireless.learning.config import TaskConfig
from fedwireless.learning.federated_config import FederatedConfig
from fedwireless.learning.flops import attention_step_flops, llama_lora_counts, local_step_count, training_step_flops
from fedwireless.scenario.schema import SurrogateConfig

# Per-payload framing the real codec adds (names, shapes); small against the tensors themselves.
HEADER_BYTES = 256


class SurrogateLearner:
    """Learning-curve stand-in for the real learner (`fedwireless.contracts.Learner`)."""

    def __init__(
        self,
        cfg: SurrogateConfig,
        task: TaskConfig,
        federated: FederatedConfig,
        num_devices: int,
        partition_rng: np.random.Generator,
        noise_rng: np.random.Generator,
    ):
        self.cfg = cfg
        fed = federated
        self.ranks = tuple(fed.ranks)
        k = num_devices
        total = task.dataset.num_train
        # Equal shares with the remainder spread, as an IID partition gives.
        self._num_samples = np.full(k, total // k) + (np.arange(k) < total % k)
        self._num_samples = np.maximum(self._num_samples, 1)
        m = task.model
        classify = task.kind == "classification"
        # Output layer: two labels for the built-in and GLUE classification sets; for a causal LM the
        # tokenizer's vocabulary (its upper bound: the real one depends on the data).
        head = 2 if classify else task.dataset.tokenizer_vocab
        self._counts = {
            r: llama_lora_counts(
                hidden_size=m.hidden_size,
                num_layers=m.num_layers,
                num_heads=m.num_heads,
                num_kv_heads=m.num_kv_heads,
                intermediate_size=m.intermediate_size,
                head_outputs=head,
                target_modules=fed.target_modules,
                rank=r,
                head_trainable=classify,
            )
            for r in self.ranks
        }
        # No texts here: a step runs over batch · max_seq_len tokens, an upper bound of the learner's batches
        # (padded to their longest text).
        self._step_tokens = task.batch_size * m.max_seq_len
        self._task = task
        self._noise_rng = noise_rng
        self._selected_samples = 0.0
        self.accuracy = self.cfg.initial_accuracy
        self._edge_progress = 0.0  # hierarchical rounds: the edge rounds' progress since the last cloud round
        self._cohort_samples: dict[int, float] = {}  # per device: the samples of the cohort it was last sent with
        self._async = fed.mode == "async"  # an asynchronous update counts in full, not as a share of a cohort
        self._flops: dict[int, np.ndarray] = {}  # per rank: the loop asks every round, for every client

    def num_samples(self) -> np.ndarray:
        return self._num_samples.copy()

    def adapter_params(self, rank: int) -> int:
        """Parameters a client uploads: the adapters (and a classifier head) of `rank`."""
        return int(self._counts[rank].trainable)

    def expected_flops(self, rank: int) -> np.ndarray:
        """[devices] FLOPs of a round's local training; with `local_epochs`, steps follow each device's share
        (the surrogate holds nothing out for per-device evaluation, so shares are slightly larger)."""
        if rank not in self._flops:  # fixed per rank: computed once, for every device at a time
            t = self._task
            # Samples take few distinct values (equal shares): count the steps once per value.
            values, where = np.unique(self._num_samples, return_inverse=True)
            steps = np.array([
                local_step_count(int(n), local_steps=t.local_steps, local_epochs=t.local_epochs,
                                 batch_size=t.batch_size)
                for n in values
            ], dtype=float)[where]  # fmt: skip
            m = t.model
            attention = attention_step_flops(m.num_layers, m.hidden_size, t.batch_size, m.max_seq_len)
            self._flops[rank] = steps * (training_step_flops(self._counts[rank], self._step_tokens) + attention)
            self._flops[rank].flags.writeable = False
        return self._flops[rank]

    def next_round_flops(self, rank: int) -> np.ndarray:
        """[devices] FLOPs of the coming round's local training: every surrogate round costs the expected."""
        return self.expected_flops(rank)

    def expected_payload_bits(self, rank: int) -> int:
        return 8 * (HEADER_BYTES + 4 * self.adapter_params(rank))

    def payload_model(self, ranks: Sequence[int]) -> PayloadModel:
        """Surrogate payloads have a fixed size per rank."""
        return PayloadModel(bits=tuple(self.expected_payload_bits(r) for r in ranks))

    def rank_residuals(self) -> dict[int, float]:
        """The surrogate's own ε(r) = rank_half / (r + rank_half): one minus a rank-r update's progress share."""
        h = self.cfg.rank_half
        return {r: h / (r + h) for r in self.ranks}

    def downlink_payload(self) -> bytes:
        return bytes(HEADER_BYTES + 4 * self.adapter_params(max(self.ranks)))

    def train_clients(
        self, assignments: Sequence[tuple[int, int]], uplink_budget_bits: dict[int, float] | None = None
    ) -> list[ClientUpdate]:
        self._selected_samples = float(sum(self._num_samples[d] for d, _ in assignments))
        for d, _ in assignments:  # a late update's share is of the cohort it was selected with (semi-sync)
            self._cohort_samples[d] = float(self._num_samples[d]) if self._async else self._selected_samples
        payloads = {r: bytes(self.expected_payload_bits(r) // 8) for r in {r for _, r in assignments}}
        return [
            ClientUpdate(
                device=d,
                rank=r,
                state={},
                payload=payloads[r],  # immutable: one buffer per rank serves every client
                num_samples=int(self._num_samples[d]),
                flops=float(self.expected_flops(r)[d]),
                train_loss=float("nan"),
            )
            for d, r in assignments
        ]

    def _progress(self, updates: Sequence[ClientUpdate], staleness_weights: Sequence[float] | None = None) -> float:
        n = np.array([u.num_samples for u in updates], dtype=float)
        r = np.array([u.rank for u in updates], dtype=float)
        # Shares of the selected data: one arrival out of twelve selected moves a twelfth as far.
        selected = max(self._selected_samples, float(n.sum()))
        if staleness_weights is not None:  # each of the cohort it was selected with (late ones: an earlier one)
            selected = np.array([self._cohort_samples.get(u.device, selected) for u in updates])
        gain = n / selected * r / (r + self.cfg.rank_half)
        if staleness_weights is not None:  # a late update moves s(τ) as far as a fresh one would
            gain = gain * np.asarray(staleness_weights, dtype=float)
        return float(np.sum(gain))

    def aggregate(self, updates: Sequence[ClientUpdate], staleness_weights: Sequence[float] | None = None) -> None:
        if updates:
            self._move(self._progress(updates, staleness_weights))

    def aggregate_buffer(self, updates: Sequence[ClientUpdate], staleness_weights: Sequence[float],
                         server_lr: float) -> None:  # fmt: skip
        """FedBuff: the buffer's mean progress s_k·r_k/(r_k + rank_half), times η."""
        if updates:
            r = np.array([u.rank for u in updates], dtype=float)
            s = np.asarray(staleness_weights, dtype=float)
            self._move(float(server_lr) * float(np.mean(s * r / (r + self.cfg.rank_half))))

    def start_from_edges(self, station_of: np.ndarray | None) -> None:
        return None  # one accuracy for every model: the edges' progress waits for the cloud (`aggregate_at_cloud`)

    def aggregate_at_edges(self, updates_by_station: Mapping[int, Sequence[ClientUpdate]]) -> None:
        every = [u for us in updates_by_station.values() for u in us]
        if every:
            self._edge_progress += self._progress(every)

    def aggregate_at_cloud(self) -> None:
        if self._edge_progress > 0:
            self._move(self._edge_progress)
        self._edge_progress = 0.0

    def _move(self, progress: float) -> None:
        gap = self.cfg.max_accuracy - self.accuracy
        self.accuracy += self.cfg.rate * progress * gap
        if self.cfg.noise_std > 0:
            self.accuracy += float(self._noise_rng.normal(0.0, self.cfg.noise_std))
        self.accuracy = float(np.clip(self.accuracy, 1e-6, self.cfg.max_accuracy))

    def evaluate(self) -> dict[str, float]:
        a = min(max(self.accuracy, 1e-6), 1 - 1e-6)
        return {"accuracy": self.accuracy, "loss": float(-(a * np.log(a) + (1 - a) * np.log(1 - a)))}

    def device_metrics(self) -> list[dict[str, float]]:
        """The surrogate models the global accuracy only."""
        return []

    def compression_params(self) -> int:
        """No parameters are coded (payloads are sized, not encoded): no compression ratio."""
        return 0

    def artifacts(self) -> dict[str, bytes]:
        return {}

    def info(self) -> dict[str, object]:
        return {"learning": "surrogate", "training_path": "surrogate"}
