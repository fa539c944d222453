"""What a federated run learns from: token arrays, each device's share, and the base model.

`prepare_task` turns the scenario's `task:` into a `TaskData` with the same fields whatever the data set
(text or cellular rows), so methods, training and evaluation never ask which kind they have.
Each device keeps `eval.device_holdout` of its share as its own held-out slice (never trained on),
for per-device evaluation; cellular devices of an area use that area's held-out rows instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fedwireless.learning.config import TaskConfig
from fedwireless.learning.data import load_splits, partition
from fedwireless.learning.models import load_local, pretrained_base
from fedwireless.learning.registry import CELLULAR_DATASETS
from fedwireless.learning.tokenizers import make_tokenizer
from fedwireless.rng import child_seed

log = logging.getLogger("fedwireless.learning")


@dataclass
class TaskData:
    train_ids: np.ndarray  # [N, L] token ids, right-padded
    train_mask: np.ndarray  # [N, L] attention mask
    train_labels: np.ndarray  # [N] class (classification) or group (area index on cellular rows)
    train_span: np.ndarray | None  # [N, L] 1 on the predicted span (cellular rows, instruction responses), else None
    test_ids: np.ndarray
    test_mask: np.ndarray
    test_labels: np.ndarray
    test_span: np.ndarray | None
    parts: list[np.ndarray]  # training rows of each device
    device_eval: list[np.ndarray]  # each device's held-out rows, indices into the arrays device_eval_split names
    device_eval_split: str  # which arrays device_eval indexes: "train" (held-out rows) or "test"
    label_names: tuple[str, ...]
    pad_id: int
    model: torch.nn.Module
    info: dict[str, object] = field(default_factory=dict)  # for summary.json
    artifacts: dict[str, bytes] = field(default_factory=dict)  # files saved with the run
    tokenizer: object | None = None  # text tasks: the tokenizer that made the arrays
    base_dir: Path | None = None  # text tasks: the pre-trained (or local) base model's directory
    public_ids: np.ndarray | None = None  # text tasks: the public split encoded like the task's inputs
    public_mask: np.ndarray | None = None
    extra_models: dict[str, torch.nn.Module] = field(default_factory=dict)  # task.models, pre-trained
    device_model: list[str | None] = field(default_factory=list)  # each device's model name (None: `model`)
    public_rows: object | None = None  # instructions: the labelled rows the reward models train on

    def model_of(self, device: int) -> torch.nn.Module:
        name = self.device_model[device] if self.device_model else None
        return self.model if name is None else self.extra_models[name]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def spread_subsample(n: int, max_samples: int | None) -> np.ndarray:
    """Indices of at most `max_samples` of n rows, evenly spread (test rows come grouped by area or label:
    a prefix would leave whole groups out)."""
    if not max_samples or max_samples >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_samples).round().astype(np.int64))


def zero_fresh_head(model) -> None:
    """The built-in base's fresh label layer starts at zero: round 0 is then a constant prediction (the
    share of one class), not the luck of a random head (on seeds 0–9 that luck gave 0.43–0.69)."""
    new = set(getattr(model, "fedwireless_new_params", ()))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in new and name.startswith("score."):
                param.zero_()


def hold_out(parts: list[np.ndarray], fraction: float, rng: np.random.Generator) -> tuple[list, list]:
    """Split each device's rows into (training, held-out); a device with one row keeps it for training."""
    train, held = [], []
    for p in parts:
        k = min(max(int(round(fraction * len(p))), 1), len(p) - 1) if fraction > 0 and len(p) >= 2 else 0
        shuffled = rng.permutation(p)
        held.append(np.sort(shuffled[:k]))
        train.append(np.sort(shuffled[k:]))
    return train, held


def prepare_task(
    task: TaskConfig,
    num_devices: int,
    device_groups: Sequence[str],
    seeds: np.random.SeedSequence,
    cache_dir: Path | None,
    status=None,
    device_models: Sequence[str | None] | None = None,
    device: torch.device | None = None,
) -> TaskData:
    """Data, partition and base model(s) of a run, all randomness from children of `seeds`."""

    def say(message: str) -> None:
        log.info(message)
        if status is not None:
            status(message)

    data_rng = np.random.default_rng(child_seed(seeds, "data"))
    if task.dataset.name in CELLULAR_DATASETS:
        return _prepare_cellular(task, num_devices, device_groups, seeds, data_rng, say)
    data = _prepare_text(task, num_devices, device_groups, seeds, data_rng, cache_dir, say, device)
    data.device_model = list(device_models) if device_models is not None else [None] * num_devices
    return data


def _prepare_cellular(task, num_devices, device_groups, seeds, data_rng, say) -> TaskData:
    from fedwireless.cellular.source import area_partition, load_cellular
    from fedwireless.cellular.tlm import build_tlm

    say("generating and tokenizing cellular rows")
    data = load_cellular(task.dataset, data_rng)
    keep = spread_subsample(len(data.test_ids), task.eval.max_samples)
    if task.partition.kind == "by-area":
        parts, device_area = area_partition(data.train_area, data.areas, list(device_groups), data_rng)
    else:  # iid / dirichlet over areas / by-group over areas
        parts = partition(data.train_area, num_devices, task.partition, data_rng, device_groups)
        device_area = None
    if device_area is not None:  # an area's devices are judged on that area's held-out rows
        index = {a: k for k, a in enumerate(data.areas)}
        device_eval = [np.flatnonzero(data.test_area[keep] == index[a]) for a in device_area]
        split = "test"
    else:
        parts, device_eval = hold_out(parts, task.eval.device_holdout, data_rng)
        split = "train"
    vocab = max(data.tokenizer_pieces, task.model.min_vocab_size)
    say(f"building TLM size {task.model.size}")
    model = build_tlm(
        task.model.size, vocab, data.max_seq_len, child_seed(seeds, "model", as_int=True), task.model.dropout
    )
    info: dict[str, object] = {
        "base_cache": "none (trained from scratch)",
        "tokenizer_pieces": data.tokenizer_pieces,
        "model_vocab": vocab,
        "model_params": int(sum(p.numel() for p in model.parameters())),
        "metric_tokens": (
            "span: the predicted target value and </s>"
            if task.eval.tokens == "span"
            else "all: every real next token (the paper's unmasked variant)"
        ),
    }
    if device_area is not None:
        info["device_area"] = list(device_area)
    return TaskData(
        data.train_ids, data.train_mask, data.train_area, data.train_span,
        data.test_ids[keep], data.test_mask[keep], data.test_area[keep], data.test_span[keep],
        parts, device_eval, split, (), data.pad_id, model, info, {"tokenizer.model": data.tokenizer_bytes},
    )  # fmt: skip


def _prepare_text(task, num_devices, device_groups, seeds, data_rng, cache_dir, say, device=None) -> TaskData:
    say(f"reading the {task.dataset.name} data")
    splits = load_splits(task.dataset, data_rng)
    m = task.model
    classify = task.kind == "classification"
    tokenizer = make_tokenizer(task, list(splits.train.texts) + list(splits.public))
    L = m.max_seq_len
    train_ids, train_mask, cut_train = tokenizer.encode(splits.train.texts, L, classify)
    keep = spread_subsample(len(splits.test.texts), task.eval.max_samples)
    test_texts = [splits.test.texts[i] for i in keep]
    test_ids, test_mask, cut_test = tokenizer.encode(test_texts, L, classify)
    described = tokenizer.describe()
    if hasattr(tokenizer, "unknown_share"):  # word vocabularies: how much of the test text they miss
        described["unknown_share_test"] = round(tokenizer.unknown_share(test_texts), 4)
    info: dict[str, object] = {
        "tokenizer": described,
        "truncated_share": {"train": round(float(cut_train.mean()), 4) if len(cut_train) else 0.0,
                            "test": round(float(cut_test.mean()), 4) if len(cut_test) else 0.0},
    }  # fmt: skip
    if cut_train.mean() > 0.05:
        log.warning(
            "%.0f %% of training texts are longer than task.model.max_seq_len = %d tokens and are cut",
            100 * cut_train.mean(), L,
        )  # fmt: skip
    num_labels = len(splits.train.label_names)
    if m.source == "local":
        say(f"loading the local model at {m.path}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(child_seed(seeds, "head", as_int=True))
            model = load_local(m.path, task.kind, num_labels, tokenizer.pad_id)
        info["base_cache"] = "local"
        base_dir = Path(m.path).expanduser()
    pub_ids, pub_mask, _ = tokenizer.encode(splits.public, L)

    def built(cfg, name: str):
        """A pre-trained (cached) base of `cfg` with a fresh classification head (named models: own seeds)."""
        key = (name,) if name else ()
        path, hit = pretrained_base(
            cfg, task.pretrain, tokenizer.vocab, pub_ids, pub_mask, child_seed(seeds, "pretrain", *key, as_int=True),
            cache_dir, status=say, tokenizer_model=getattr(tokenizer, "model_bytes", None), device=device,
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(child_seed(seeds, "head", *key, as_int=True))
            model = load_local(path, task.kind, num_labels, tokenizer.pad_id)
        zero_fresh_head(model)
        return path, hit, model

    if m.source != "local":
        base_dir, hit, model = built(m, "")
        info["base_cache"] = "hit" if hit else "miss"
    extra = {name: built(cfg, name)[2] for name, cfg in task.models.items()}
    parts = partition(splits.train.labels, num_devices, task.partition, data_rng, device_groups)
    parts, held = hold_out(parts, task.eval.device_holdout, data_rng)
    proxy_ids, proxy_mask, _ = tokenizer.encode(splits.public, L, classify)
    train_span = test_span = None
    if splits.rows is not None:  # instructions: the response tokens are what a client learns to say
        from fedwireless.learning.instructions import response_span

        if "[SEP]" not in tokenizer.vocab:
            raise ValueError(
                "task.dataset: instruction rows need a tokenizer with [SEP] as one token (between prompt and "
                f"response); the tokenizer of {m.path if m.source == 'local' else task.tokenizer.kind!r} has none"
            )
        sep = tokenizer.vocab.index("[SEP]")
        train_span, test_span = (response_span(i, k, sep) for i, k in ((train_ids, train_mask), (test_ids, test_mask)))
    return TaskData(
        train_ids, train_mask, splits.train.labels, train_span, test_ids, test_mask, splits.test.labels[keep],
        test_span, parts, held, "train", splits.train.label_names, tokenizer.pad_id, model, info,
        {"tokenizer.model": tokenizer.model_bytes} if hasattr(tokenizer, "model_bytes") else {}, tokenizer, base_dir,
        proxy_ids, proxy_mask, extra, public_rows=None if splits.rows is None else splits.rows["reward"],
    )  # fmt: skip
