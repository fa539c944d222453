"""What a policy plans a round with, from the learner's data and model: rows, local steps and FLOPs.

FLOPs follow `learning.flops` (shared with the surrogate). A round's batches are drawn from the seed of
(round, device, rank), so planning draws the same rows and knows each batch's longest text before training.
"""

from __future__ import annotations

import numpy as np

from fedwireless.learning.batches import batch_rows, expected_longest
from fedwireless.learning.flops import ParamCounts, attention_step_flops, local_step_count, training_step_flops
from fedwireless.rng import child_seed


class PlanningSizes:
    """Mixed into `Learner`: needs `data`, `task`, `method`, `seeds`, `round`, `_base_matmul`, `_causal`."""

    def num_samples(self) -> np.ndarray:
        return np.array([len(p) for p in self.data.parts], dtype=np.int64)

    def local_steps(self, device: int) -> int:
        """Optimizer steps of a device's local training: `local_steps`, or epochs over its own rows."""
        t, n = self.task, len(self.data.parts[device])
        return local_step_count(n, local_steps=t.local_steps, local_epochs=t.local_epochs, batch_size=t.batch_size)

    def step_flops(self, rank: int, rows: int, seq_len: int, device: int) -> float:
        """FLOPs of one training step on `device`'s model over `rows` texts padded to `seq_len` tokens
        (`fedwireless.learning.flops`, shared with the surrogate): weights, plus attention scores over the
        pattern local training uses (causal for decoders, every pair for encoders)."""
        base = self._base_matmul[device]
        trainable = base if rank == 0 else self.method.trainable_count(rank, device)
        counts = ParamCounts(base, self.method.adapter_matmul(rank, device), trainable)
        model = self.data.model_of(device)
        cfg = model.config
        width = cfg.num_attention_heads * (getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
        return training_step_flops(counts, rows * seq_len) + attention_step_flops(
            cfg.num_hidden_layers, width, rows, seq_len, self.method.attention_window, causal=self._causal[id(model)]
        )

    def expected_flops(self, rank: int) -> np.ndarray:
        """[devices] FLOPs of a round's local training at this rank, for planning: each batch padded to the
        expected longest of its rows (batches are padded to their longest text)."""
        lengths = self.data.train_mask.sum(axis=1)
        out = []
        for d, p in enumerate(self.data.parts):
            rows = min(self.task.batch_size, len(p))
            seq = expected_longest(lengths[p], rows) if len(p) else 0.0
            out.append(self.local_steps(d) * self.step_flops(rank, rows, seq, d) if len(p) else 0.0)
        return np.array(out, dtype=float)

    def next_round_flops(self, rank: int) -> np.ndarray:
        """[devices] FLOPs each device's local training at this rank will cost in the coming round: the
        batches that round draws (same seed), each padded to its longest text, as the engine will charge."""
        lengths = self.data.train_mask.sum(axis=1)
        out = np.zeros(len(self.data.parts))
        for d, p in enumerate(self.data.parts):
            takes = batch_rows(p, self.local_steps(d), self.task.batch_size, self._batch_rng(self.round + 1, d, rank))
            out[d] = float(sum(self.step_flops(rank, len(t), int(lengths[t].max()), d) for t in takes))
        return out

    def _batch_rng(self, round_index: int, device: int, rank: int) -> np.random.Generator:
        return np.random.default_rng(child_seed(self.seeds, "batches", round_index, device, rank))
