"""Local-training batches padded to their longest text, not to `max_seq_len`: a step pays for real tokens.

Rows are right-padded, so cutting trailing columns that no row of the batch uses changes no real token's
result (causal decoders never look ahead; encoders mask padded keys).
"""

from __future__ import annotations

import numpy as np
import torch


def local_batches(data, rows: np.ndarray, steps: int, batch_size: int, rng: np.random.Generator, device,
                  row_index: bool = False) -> list[tuple[torch.Tensor, ...]]:  # fmt: skip
    """`steps` batches of min(batch_size, rows) of a device's `rows`, each a pass through a fresh permutation
    until it runs out: (ids, mask, labels[, span][, row index]), each cut to its batch's longest text."""
    arrays = [data.train_ids, data.train_mask, data.train_labels] + (
        [data.train_span] if data.train_span is not None else []
    )
    if row_index:
        arrays.append(np.arange(len(data.train_ids)))
    batches = []
    for take in batch_rows(rows, steps, batch_size, rng):
        width = max(int(data.train_mask[take].sum(axis=1).max()), 1)
        batches.append(tuple(torch.from_numpy(trim(a[take], width)).to(device) for a in arrays))
    return batches


def batch_rows(rows: np.ndarray, steps: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The rows of each of `steps` batches: min(batch_size, rows) at a time through a fresh permutation until
    it runs out. Planning draws the same rows from the same seed, so it knows each batch's longest text."""
    bs = min(batch_size, len(rows))
    if bs == 0:
        return []
    out = []
    order, pos = rng.permutation(rows), 0
    for _ in range(steps):
        if pos + bs > len(order):
            order, pos = rng.permutation(rows), 0
        out.append(order[pos : pos + bs])
        pos += bs
    return out


def trim(a: np.ndarray, width: int) -> np.ndarray:
    """A batch's [rows, L] array cut to `width` columns (its longest text); row vectors unchanged."""
    return a[:, :width] if a.ndim == 2 else a


def pad_steps(per_client: list[list[tuple[torch.Tensor, ...]]], pad_id: int) -> list[list[tuple[torch.Tensor, ...]]]:
    """Each local step's batches of all clients padded to that step's longest (they run as one batch):
    ids with `pad_id`, masks and spans with 0. Trailing padding changes no real token's result."""
    steps = len(per_client[0]) if per_client else 0
    out: list[list[tuple[torch.Tensor, ...]]] = [[] for _ in per_client]
    for k in range(steps):
        width = max(b[k][0].shape[1] for b in per_client)
        for c, b in enumerate(per_client):
            padded = [
                torch.nn.functional.pad(t, (0, width - t.shape[1]), value=pad_id if i == 0 else 0)
                if t.dim() == 2
                else t
                for i, t in enumerate(b[k])
            ]
            out[c].append(tuple(padded))
    return out


def expected_longest(lengths: np.ndarray, rows: int) -> float:
    """Expected longest of `rows` lengths drawn without replacement: Σ_j l_(j)·P(the j-th smallest is the max)."""
    ls = np.sort(np.asarray(lengths, dtype=float))
    n = len(ls)
    rows = min(rows, n)
    j = np.arange(1, n + 1, dtype=float)
    # P(max <= l_(j)) = C(j, rows) / C(n, rows), a product of `rows` ratios.
    cdf = np.prod(np.clip((j[:, None] - np.arange(rows)) / (n - np.arange(rows)), 0.0, None), axis=1)
    return float(np.dot(ls, np.diff(cdf, prepend=0.0)))
