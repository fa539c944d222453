"""A learning-curve surrogate that stands in for real training in large policy studies.

It answers the same questions as `fedwireless.learning.learner.Learner` (payload sizes, FLOPs,
accuracy after aggregation) without torch, so 1,000 devices × 200 rounds run in seconds. It is
never the default, and every results file it produces says `learning: surrogate`.

Model (documented in `SurrogateConfig`): after a round whose arrived updates carry sample shares
p_k and ranks r_k, accuracy moves toward `max_accuracy` by ``rate · Σ p_k · r_k / (r_k + rank_half)``
of the remaining gap (saturating returns in rank), plus optional Gaussian noise. Loss is the binary
cross-entropy of a calibrated classifier with that accuracy, −[a ln a + (1 − a) ln(1 − a)].
Payload sizes are those of float32 LoRA adapters on the task's model; FLOPs follow the same
6·N·tokens rule as the real learner (REFERENCE.md, Link and energy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fedwireless.scenario import Scenario

# Per-payload framing the real codec adds (names, shapes); small against the tensors themselves.
HEADER_BYTES = 256


@dataclass
class SurrogateUpdate:
    device: int
    rank: int
    payload: bytes
    num_samples: int
    flops: float
    train_loss: float
    state: dict = field(default_factory=dict)


class SurrogateLearner:
    """Learning-curve stand-in for `Learner` (same methods the engine calls)."""

    def __init__(self, scenario: Scenario, partition_rng: np.random.Generator, noise_rng: np.random.Generator):
        self.cfg = scenario.surrogate
        assert self.cfg is not None
        task, fed = scenario.task, scenario.federated
        self.ranks = tuple(fed.ranks)
        k = scenario.num_devices
        total = task.dataset.num_train
        # Equal shares with the remainder spread, as an IID partition gives.
        self._num_samples = np.full(k, total // k) + (np.arange(k) < total % k)
        self._num_samples = np.maximum(self._num_samples, 1)
        m = task.model
        head_dim = m.hidden_size // m.num_heads
        dims = {
            "q_proj": (m.hidden_size, m.num_heads * head_dim),
            "k_proj": (m.hidden_size, m.num_kv_heads * head_dim),
            "v_proj": (m.hidden_size, m.num_kv_heads * head_dim),
            "o_proj": (m.num_heads * head_dim, m.hidden_size),
            "gate_proj": (m.hidden_size, m.intermediate_size),
            "up_proj": (m.hidden_size, m.intermediate_size),
            "down_proj": (m.intermediate_size, m.hidden_size),
        }
        self._per_rank_params = m.num_layers * sum(
            sum(dims.get(t, (m.hidden_size, m.hidden_size))) for t in fed.target_modules
        )
        # Parameters on the training path (forward + backward) for the 6·N·tokens FLOP count.
        self._backbone_params = m.num_layers * (
            4 * m.hidden_size * m.hidden_size + 3 * m.hidden_size * m.intermediate_size
        )
        self._tokens = task.local_steps * task.batch_size * m.max_seq_len
        self._noise_rng = noise_rng
        self.accuracy = self.cfg.initial_accuracy

    def num_samples(self) -> np.ndarray:
        return self._num_samples.copy()

    def adapter_params(self, rank: int) -> int:
        return int(rank * self._per_rank_params)

    def expected_flops(self, rank: int) -> float:
        return 6.0 * (self._backbone_params + self.adapter_params(rank)) * self._tokens

    def expected_payload_bits(self, rank: int) -> int:
        return 8 * (HEADER_BYTES + 4 * self.adapter_params(rank))

    def downlink_payload(self) -> bytes:
        return bytes(HEADER_BYTES + 4 * self.adapter_params(max(self.ranks)))

    def train_clients(self, assignments: Sequence[tuple[int, int]]) -> list[SurrogateUpdate]:
        return [
            SurrogateUpdate(
                device=d,
                rank=r,
                payload=bytes(self.expected_payload_bits(r) // 8),
                num_samples=int(self._num_samples[d]),
                flops=self.expected_flops(r),
                train_loss=float("nan"),
            )
            for d, r in assignments
        ]

    def aggregate(self, updates: Sequence[SurrogateUpdate]) -> None:
        if not updates:
            return
        n = np.array([u.num_samples for u in updates], dtype=float)
        r = np.array([u.rank for u in updates], dtype=float)
        progress = float(np.sum(n / n.sum() * r / (r + self.cfg.rank_half)))
        gap = self.cfg.max_accuracy - self.accuracy
        self.accuracy += self.cfg.rate * progress * gap
        if self.cfg.noise_std > 0:
            self.accuracy += float(self._noise_rng.normal(0.0, self.cfg.noise_std))
        self.accuracy = float(np.clip(self.accuracy, 1e-6, self.cfg.max_accuracy))

    def evaluate(self) -> dict[str, float]:
        a = min(max(self.accuracy, 1e-6), 1 - 1e-6)
        return {"accuracy": self.accuracy, "loss": float(-(a * np.log(a) + (1 - a) * np.log(1 - a)))}

    def info(self) -> dict[str, object]:
        return {"learning": "surrogate", "training_path": "surrogate"}
