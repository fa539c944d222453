"""Two reward models, helpfulness and safety, that score an instruction response (PWFF, arXiv 2404.13238).

Each is a small Llama sequence classifier on the task's tokenizer, trained once on the labelled public split (or,
when `public_topics` keeps topics out of it, on a labelled split of every topic; `[BOS] prompt [SEP] response [CLS]`
→ 0/1) through the one training loop, and cached like the base model:
under a hash of everything that determines it (dimensions, vocabulary, rows, labels, steps, seed, recipe).
A reward is the classifier's probability of label 1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from fedwireless.learning.config import ModelConfig
from fedwireless.learning.models import building, cache_key, default_cache_dir, llama_config, save_to_cache, seeded

REWARD_RECIPE = "reward-classifier-1"
REWARD_MODEL = ModelConfig(hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=2, intermediate_size=64)
KINDS = ("helpful", "safe")


def train_reward_model(
    kind: str,
    vocab: list[str],
    ids: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int,
    seed: int,
    cache_dir: Path | None,
    max_seq_len: int,
    pad_id: int = 0,
) -> tuple[torch.nn.Module, bool]:
    """The `kind` reward model (eval mode, CPU) and whether it came from the cache."""
    from transformers import LlamaForSequenceClassification

    from fedwireless.learning.training import OptimizerSettings, clip_together, make_optimizer, run_steps

    keep = labels >= 0
    if keep.sum() < 2 or len(np.unique(labels[keep])) < 2:
        raise ValueError(
            f"task.dataset: the '{kind}' reward model needs labelled rows (the public split's) of both 0 and 1"
        )
    ids, mask, labels = ids[keep], mask[keep], labels[keep]
    cfg = REWARD_MODEL.model_copy(update={"max_seq_len": max_seq_len})
    key = cache_key({
        "kind": kind, "model": cfg.model_dump(mode="json", exclude={"dropout"}), "steps": steps, "seed": seed,
        "recipe": REWARD_RECIPE, "pad": pad_id,
        "vocab": hashlib.sha256("\n".join(vocab).encode()).hexdigest(), "torch": torch.__version__,
        "data": hashlib.sha256(ids.tobytes() + mask.tobytes() + labels.astype(np.int64).tobytes()).hexdigest(),
    })  # fmt: skip
    target = (cache_dir or default_cache_dir()) / "reward-models" / key
    if (target / "config.json").is_file():
        return LlamaForSequenceClassification.from_pretrained(target, local_files_only=True).eval(), True
    with building(target):  # built once when several runs ask at the same time
        if (target / "config.json").is_file():
            return LlamaForSequenceClassification.from_pretrained(target, local_files_only=True).eval(), True
        with seeded(seed):
            model = LlamaForSequenceClassification(llama_config(cfg, len(vocab), pad_id=pad_id, num_labels=2))
        rng = np.random.default_rng(seed)
        settings = OptimizerSettings(3e-3, schedule="warmup-cosine", warmup_fraction=0.1, max_grad_norm=1.0)
        params = list(model.parameters())
        ids_t, mask_t, y_t = (torch.from_numpy(a) for a in (ids, mask, labels.astype(np.int64)))

        def step_loss(_step: int) -> list[torch.Tensor]:
            idx = torch.from_numpy(rng.integers(0, len(ids), 32))
            logits = model(input_ids=ids_t[idx], attention_mask=mask_t[idx]).logits
            return [torch.nn.functional.cross_entropy(logits, y_t[idx])]

        model.train()
        run_steps(steps, step_loss, make_optimizer(params, settings), settings, clip=clip_together(params, 1.0))
        model.eval()
        save_to_cache(model, target)
    return model, False


@torch.no_grad()
def score(model: torch.nn.Module, ids: np.ndarray, mask: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """[n] probability of label 1 for classifier inputs (`[BOS] … [CLS]`, right-padded)."""
    out = []
    for s in range(0, len(ids), batch_size):
        logits = model(input_ids=torch.from_numpy(ids[s : s + batch_size]),
                       attention_mask=torch.from_numpy(mask[s : s + batch_size])).logits  # fmt: skip
        out.append(torch.softmax(logits.float(), dim=-1)[:, 1].numpy())
    return np.concatenate(out) if out else np.zeros(0)


def classifier_inputs(ids: np.ndarray, mask: np.ndarray, eos_id: int, cls_id: int, max_len: int, pad_id: int = 0):
    """Language-model rows (`[BOS] … [EOS]`, or cut without EOS) as classifier inputs ending in [CLS]."""
    out_ids = np.full((len(ids), max_len), pad_id, dtype=np.int64)
    out_mask = np.zeros_like(out_ids)
    for i, (row, m) in enumerate(zip(ids, mask)):
        toks = [int(t) for t in row[m > 0]]
        if eos_id in toks:
            toks = toks[: toks.index(eos_id)]
        toks = toks[: max_len - 1] + [cls_id]
        out_ids[i, : len(toks)] = toks
        out_mask[i, : len(toks)] = 1
    return out_ids, out_mask
