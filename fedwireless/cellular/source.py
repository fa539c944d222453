"""Cellular drive-test rows as a federated causal-LM data set for the learner.

Generated traces (`cellular`) or a Berlin V2X table (`berlin-v2x`) -> rows as text -> an in-memory
SentencePiece tokenizer trained on the training rows -> fixed-length token arrays with the predicted
span marked, and each training row's area (the paper's five clients).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


class DatasetConfig(Protocol):
    """What this module reads of a scenario's `task.dataset` (cellular/ does not import learning/)."""

    name: str
    path: str | None
    rows_per_area: int
    areas: Sequence[str] | None
    features: Sequence[str]
    target: str
    test_fraction: float
    tokenizer_vocab: int
    column_map: Mapping[str, str | None]
    datarate_scale: float


@dataclass(frozen=True)
class CellularData:
    areas: tuple[str, ...]
    train_ids: np.ndarray  # [N, L] int64, right-padded with pad_id
    train_mask: np.ndarray  # [N, L] attention mask
    train_span: np.ndarray  # [N, L] 1 on the predicted span (target value and </s>)
    train_area: np.ndarray  # [N] index into `areas`
    test_ids: np.ndarray
    test_mask: np.ndarray
    test_span: np.ndarray
    test_area: np.ndarray
    tokenizer_bytes: bytes  # the SentencePiece model (saved with the run)
    tokenizer_pieces: int
    pad_id: int

    @property
    def max_seq_len(self) -> int:
        return int(self.train_ids.shape[1])


def _table(cfg: DatasetConfig, rng: np.random.Generator):
    if cfg.name == "cellular":
        from fedwireless.cellular.columns import AREAS
        from fedwireless.cellular.traces import generate_traces

        areas = tuple(cfg.areas) if cfg.areas else AREAS
        return generate_traces(cfg.rows_per_area, rng, areas=areas), list(areas)
    from fedwireless.cellular.berlin import load_berlin_v2x

    path = Path(cfg.path or "").expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"task.dataset.path: no such file {str(path)!r}")
    df = load_berlin_v2x(path, cfg.column_map or None, datarate_scale=cfg.datarate_scale)
    if "area" not in df.columns:
        raise ValueError("task.dataset.column_map: the table needs an area column to split clients by area")
    present = list(dict.fromkeys(df["area"].astype(str).tolist()))
    if cfg.areas:
        unknown = [a for a in cfg.areas if a not in present]
        if unknown:
            raise ValueError(f"task.dataset.areas: {unknown} not in the file's areas {present}")
        df = df[df["area"].astype(str).isin(cfg.areas)]
        present = list(cfg.areas)
    missing = [c for c in (*cfg.features, cfg.target) if c not in df.columns]
    if missing:
        raise ValueError(f"task.dataset.features/target: column(s) {missing} not in the table {list(df.columns)}")
    df = df.assign(area=df["area"].astype(str))
    return df, present


def _fixed(seqs, length: int, pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(seqs)
    ids = np.full((n, length), pad_id, dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    span = np.zeros((n, length), dtype=np.int64)
    for i, row in enumerate(seqs.ids):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
        span[i, int(seqs.span_starts[i]) : len(row)] = 1
    return ids, mask, span


def load_cellular(cfg: DatasetConfig, rng: np.random.Generator) -> CellularData:
    """Token arrays of the training rows (all areas, area index kept) and of the held-out rows."""
    from fedwireless.cellular.tokenize import RowFormat, TabularTextTask

    df, areas = _table(cfg, rng)
    fmt = RowFormat(feature_columns=tuple(cfg.features), target_column=cfg.target)
    task = TabularTextTask(df, fmt=fmt, test_fraction=cfg.test_fraction, clients=areas, vocab_size=cfg.tokenizer_vocab)
    length, pad = task.max_seq_len, task.tokenizer.pad_id
    parts = [_fixed(task.train[a], length, pad) for a in areas]
    train_area = np.concatenate([np.full(len(task.train[a]), k, dtype=np.int64) for k, a in enumerate(areas)])
    test = _fixed(task.test, length, pad)
    index = {a: k for k, a in enumerate(areas)}
    return CellularData(
        areas=tuple(areas),
        train_ids=np.concatenate([p[0] for p in parts]),
        train_mask=np.concatenate([p[1] for p in parts]),
        train_span=np.concatenate([p[2] for p in parts]),
        train_area=train_area,
        test_ids=test[0],
        test_mask=test[1],
        test_span=test[2],
        test_area=np.array([index[str(a)] for a in task.test_clients], dtype=np.int64),
        tokenizer_bytes=task.tokenizer.to_bytes(),
        tokenizer_pieces=task.tokenizer.vocab_size,
        pad_id=pad,
    )


def area_partition(
    train_area: np.ndarray, areas: tuple[str, ...], device_groups: list[str], rng: np.random.Generator
) -> tuple[list[np.ndarray], list[str]]:
    """Rows of each device and its area: the area named like its device group (case-insensitive), else
    areas in turn by device index; devices that share an area split its rows (shuffled, equal shares)."""
    lower = {a.lower(): k for k, a in enumerate(areas)}
    device_area = [lower.get(g.lower(), d % len(areas)) for d, g in enumerate(device_groups)]
    parts: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(device_groups)
    for k in range(len(areas)):
        holders = [d for d, a in enumerate(device_area) if a == k]
        if not holders:
            continue
        rows = rng.permutation(np.flatnonzero(train_area == k))
        if len(rows) < len(holders):
            raise ValueError(f"task.dataset: area {areas[k]!r} has {len(rows)} rows for {len(holders)} devices")
        for d, chunk in zip(holders, np.array_split(rows, len(holders))):
            parts[d] = np.sort(chunk)
    return parts, [areas[a] for a in device_area]
