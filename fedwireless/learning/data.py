"""Data sets (generated offline or read from local files), a word-level tokenizer, and partitions.

No downloads: the built-in `sentiment` set is generated from a numpy Generator; GLUE, CSV and JSONL
are read from files the user has.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedwireless.learning.config import DatasetConfig, PartitionConfig
from fedwireless.learning.instructions import InstructionRows, generate_instructions, read_instructions
from fedwireless.learning.sentiment import lexicon, public_reviews, sentiment_texts, with_names


@dataclass(frozen=True)
class TextData:
    """Texts with integer labels (label_names gives their meaning)."""

    texts: list[str]
    labels: np.ndarray  # [n] int
    label_names: tuple[str, ...]


def generate_sentiment(n: int, rng: np.random.Generator, label_noise: float = 0.0) -> TextData:
    texts, y = sentiment_texts(n, rng, label_noise)
    return TextData(texts, y, ("negative", "positive"))


# ----------------------------------------------------------------------------- files


def _file(path: str | None, what: str) -> Path:
    if not path:
        raise ValueError(f"task.dataset.{what}: a file path is required")
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"task.dataset.{what}: file not found: {p}")
    return p


def _labels(raw: list[str], where: str, names: tuple[str, ...] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    names = names or tuple(
        sorted(set(raw), key=lambda s: (not s.lstrip("-").isdigit(), int(s) if s.lstrip("-").isdigit() else 0, s))
    )
    index = {n: i for i, n in enumerate(names)}
    bad = [r for r in raw if r not in index]
    if bad:
        raise ValueError(f"{where}: label {bad[0]!r} not among {list(names)}")
    return np.array([index[r] for r in raw], dtype=np.int64), names


def read_glue(path: Path, task: str, limit: int | None = None, names: tuple[str, ...] | None = None) -> TextData:
    """GLUE TSV with a header: SST-2 (`sentence`, `label`) or QNLI (`question`, `sentence`, `label`)."""
    cols = {"glue-sst2": ["sentence"], "glue-qnli": ["question", "sentence"]}[task]
    texts, raw = [], []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file")
        missing = [c for c in cols + ["label"] if c not in header]
        if missing:
            raise ValueError(f"{path}: line 1: missing column(s) {missing}; found {header}")
        pos = [header.index(c) for c in cols]
        lab = header.index("label")
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise ValueError(f"{path}: line {line_no}: expected {len(header)} tab-separated fields, got {len(row)}")
            texts.append(" [SEP] ".join(row[p] for p in pos))
            raw.append(row[lab].strip())
            if limit and len(texts) >= limit:
                break
    labels, label_names = _labels(raw, str(path), names)
    return TextData(texts, labels, label_names)


def read_table(
    path: Path,
    kind: str,
    text_columns: Sequence[str],
    label_column: str,
    limit: int | None = None,
    names: tuple[str, ...] | None = None,
) -> TextData:
    """CSV (with a header) or JSONL with named text column(s) and a label column."""
    texts, raw = [], []

    def take(row: dict, where: str) -> None:
        missing = [c for c in [*text_columns, label_column] if c not in row]
        if missing:
            raise ValueError(f"{where}: missing column(s) {missing}; found {sorted(row)}")
        texts.append(" [SEP] ".join(str(row[c]) for c in text_columns))
        raw.append(str(row[label_column]).strip())

    with path.open(encoding="utf-8", newline="") as f:
        if kind == "csv":
            for line_no, row in enumerate(csv.DictReader(f), start=2):
                take(row, f"{path}: line {line_no}")
                if limit and len(texts) >= limit:
                    break
        else:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}: line {line_no}: invalid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}: line {line_no}: expected a JSON object")
                take(row, f"{path}: line {line_no}")
                if limit and len(texts) >= limit:
                    break
    if not texts:
        raise ValueError(f"{path}: no rows")
    labels, label_names = _labels(raw, str(path), names)
    return TextData(texts, labels, label_names)


@dataclass(frozen=True)
class Splits:
    train: TextData
    test: TextData
    public: list[str]  # unlabelled text for pre-training the base
    # instructions: the rows behind train/test/public (prompts, responses, helpful/safe labels)
    rows: dict[str, InstructionRows] | None = None


def _instruction_splits(cfg: DatasetConfig, rng: np.random.Generator) -> Splits:
    """Generated rows, or a JSONL file (test: `test_path` or 20 % held out; public: `public_path` or the
    training rows, whose helpful/safe labels train the reward models)."""
    if cfg.path:
        train = read_instructions(_file(cfg.path, "path"), cfg.max_train)
        if cfg.test_path:
            test = read_instructions(_file(cfg.test_path, "test_path"), cfg.max_test, train.topics)
        else:
            order = rng.permutation(len(train.prompts))
            cut = max(1, len(order) // 5)
            train, test = train.take(order[cut:]), train.take(order[:cut])
        public = (
            read_instructions(_file(cfg.public_path, "public_path"), None, train.topics) if cfg.public_path else train
        )
    else:
        train = generate_instructions(cfg.num_train, rng)
        test = generate_instructions(cfg.num_test, rng)
        public = generate_instructions(max(cfg.num_public, 2), rng, cfg.label_noise, cfg.public_topics)
    # The reward models judge every topic: with topics kept out of the public split they train on rows of all.
    judge = public
    if cfg.public_topics is not None:
        judge = generate_instructions(max(cfg.num_public, 2), rng, cfg.label_noise)
    as_text = [TextData(r.texts, r.topic, r.topics) for r in (train, test)]
    return Splits(*as_text, public.texts, {"train": train, "test": test, "public": public, "reward": judge})


def load_splits(cfg: DatasetConfig, rng: np.random.Generator) -> Splits:
    if cfg.name == "instructions":
        return _instruction_splits(cfg, rng)
    if cfg.name == "sentiment":
        # Test labels carry the same noise: like real annotations, so no model reaches 100 %.
        train = generate_sentiment(cfg.num_train, rng, cfg.label_noise)
        test = generate_sentiment(cfg.num_test, rng, cfg.label_noise)
        public = public_reviews(cfg.num_public, rng)
        if cfg.lexicon:  # drawn after the reviews, so the reviews themselves do not change
            words = lexicon(cfg.lexicon, rng)
            train, test = (TextData(with_names(d.texts, words, rng), d.labels, d.label_names) for d in (train, test))
            public = with_names(public, words, rng)
        return Splits(train, test, public)

    def read(path: Path, limit: int | None, names=None) -> TextData:
        if cfg.name.startswith("glue-"):
            return read_glue(path, cfg.name, limit, names)
        return read_table(path, cfg.name, cfg.text_columns, cfg.label_column, limit, names)

    train = read(_file(cfg.path, "path"), cfg.max_train)
    if cfg.test_path:
        test = read(_file(cfg.test_path, "test_path"), cfg.max_test, train.label_names)
    else:  # hold out 20 % of the training file
        order = rng.permutation(len(train.texts))
        cut = max(1, len(order) // 5)
        te, tr = order[:cut], order[cut:]
        test = TextData([train.texts[i] for i in te], train.labels[te], train.label_names)
        train = TextData([train.texts[i] for i in tr], train.labels[tr], train.label_names)
    if cfg.public_path:
        p = _file(cfg.public_path, "public_path")
        public = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        public = list(train.texts)
    return Splits(train, test, public)


# ----------------------------------------------------------------------------- partitions


def partition(
    labels: np.ndarray,
    num_devices: int,
    cfg: PartitionConfig,
    rng: np.random.Generator,
    device_groups: Sequence[str] | None = None,
) -> list[np.ndarray]:
    """Indices of the training set held by each device; every device gets at least one sample.

    iid: a shuffled equal split. dirichlet: for each label, device shares ~ Dir(alpha) (Hsu et al. 2019); with
    `balanced`, equal shares whose label mixes ~ Dir(alpha) (`_balanced_dirichlet`). by-group: devices of group g
    draw `group_share` of their samples from label g mod L and the rest uniformly. Devices left empty take one
    sample from the largest holder.
    """
    n = len(labels)
    if n < num_devices:
        raise ValueError(f"task.dataset: {n} training samples cannot cover {num_devices} devices")
    num_labels = int(labels.max()) + 1 if n else 1
    if cfg.kind == "iid":
        parts = np.array_split(rng.permutation(n), num_devices)
    elif cfg.kind == "dirichlet" and cfg.balanced:
        parts = _balanced_dirichlet(labels, num_devices, cfg.alpha, rng)
    elif cfg.kind == "dirichlet":
        buckets: list[list[int]] = [[] for _ in range(num_devices)]
        for y in range(num_labels):
            idx = rng.permutation(np.flatnonzero(labels == y))
            shares = rng.dirichlet(np.full(num_devices, cfg.alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for d, chunk in enumerate(np.split(idx, cuts)):
                buckets[d].extend(chunk.tolist())
        parts = [np.array(sorted(b), dtype=np.int64) for b in buckets]
    else:
        groups = list(device_groups or ["g0"] * num_devices)
        names = list(dict.fromkeys(groups))
        per = n // num_devices
        pools = {y: list(rng.permutation(np.flatnonzero(labels == y))) for y in range(num_labels)}
        rest = list(rng.permutation(n))
        used: set[int] = set()
        parts = []
        for d in range(num_devices):
            pref = names.index(groups[d]) % num_labels
            want_pref = int(round(cfg.group_share * per))
            mine: list[int] = []
            while pools[pref] and len(mine) < want_pref:
                i = int(pools[pref].pop())
                if i not in used:
                    used.add(i)
                    mine.append(i)
            while rest and len(mine) < per:
                i = int(rest.pop())
                if i not in used:
                    used.add(i)
                    mine.append(i)
            parts.append(np.array(sorted(mine), dtype=np.int64))
    parts = [np.asarray(p, dtype=np.int64) for p in parts]
    for d in range(num_devices):
        if len(parts[d]) == 0:
            donor = int(np.argmax([len(p) for p in parts]))
            parts[d], parts[donor] = parts[donor][-1:], parts[donor][:-1]
    return parts


def _balanced_dirichlet(labels: np.ndarray, num_devices: int, alpha: float, rng: np.random.Generator) -> list:
    """Equal shares (±1 row); device d's label mix ~ Dir(alpha): each of its rows takes a label drawn from its mix
    among the labels with rows left (a label that runs out passes its draws to the others)."""
    num_labels = int(labels.max()) + 1
    pools = [list(rng.permutation(np.flatnonzero(labels == y))) for y in range(num_labels)]
    mix = rng.dirichlet(np.full(num_labels, alpha), num_devices)
    sizes = [len(c) for c in np.array_split(np.arange(len(labels)), num_devices)]
    parts: list[list[int]] = [[] for _ in range(num_devices)]
    for _ in range(max(sizes)):
        for d in range(num_devices):
            if len(parts[d]) == sizes[d]:
                continue
            left = np.array([len(p) > 0 for p in pools], dtype=float)
            p = mix[d] * left
            p = p / p.sum() if p.sum() > 0 else left / left.sum()
            parts[d].append(int(pools[rng.choice(num_labels, p=p)].pop()))
    return [np.array(sorted(p), dtype=np.int64) for p in parts]
