"""A local round's training FLOPs from the scenario alone (no torch, no model load), for `validate`.

Counts as `learning.flops` does (Kaplan et al. 2020, §2.1): weights on the token path, adapters, weight
gradients of what trains, attention scores; every text taken at `max_seq_len`, so it is an upper bound
of what the learner counts (it pads each batch to its longest text). Built-in Llamas use their dimensions;
a local checkpoint its `config.json` (Llama/Qwen/Mistral gated MLPs, BERT-family and GPT-2 plain ones).
"""

from __future__ import annotations

import json
from pathlib import Path

from fedwireless.learning.families import ENCODERS, GATED_MLP
from fedwireless.learning.flops import ParamCounts, attention_step_flops, local_step_count, training_step_flops


def _dims(task) -> dict | None:
    m = task.model
    if m.source == "tiny-llama":
        return {"hidden": m.hidden_size, "layers": m.num_layers, "inter": m.intermediate_size, "heads": m.num_heads,
                "kv_heads": m.num_kv_heads, "gated": True, "causal": True,
                "vocab": task.tokenizer.vocab_size}  # fmt: skip
    if m.source != "local":
        return None
    try:
        cfg = json.loads((Path(m.path).expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = str(cfg.get("model_type", ""))
    hidden = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("dim")
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("n_layers")
    heads = cfg.get("num_attention_heads") or cfg.get("n_head") or cfg.get("n_heads")
    if not (isinstance(hidden, int) and isinstance(layers, int) and isinstance(heads, int)) or heads < 1:
        return None
    inter = cfg.get("intermediate_size") or cfg.get("n_inner") or cfg.get("hidden_dim") or 4 * hidden
    return {"hidden": hidden, "layers": layers, "inter": int(inter), "heads": heads,
            "kv_heads": int(cfg.get("num_key_value_heads") or heads), "gated": kind in GATED_MLP,
            "causal": kind not in ENCODERS, "vocab": int(cfg.get("vocab_size") or 0)}  # fmt: skip


def round_flops(task, federated, num_rows: int, rank: int) -> tuple[float, int] | None:
    """(FLOPs of one device's local training at `rank` over `num_rows` rows, its steps); None when the model's
    shape cannot be read without loading it."""
    d = _dims(task)
    if d is None:
        return None
    h, inter, layers = d["hidden"], d["inter"], d["layers"]
    kv = h * d["kv_heads"] // d["heads"]
    shapes = {"q": (h, h), "k": (h, kv), "v": (h, kv), "o": (h, h)}
    mlp = 3 * h * inter if d["gated"] else 2 * h * inter
    base = layers * (sum(i * o for i, o in shapes.values()) + mlp) + _head_params(task, d)
    if federated.training == "full":
        counts = ParamCounts(base, 0, base)
    else:  # adapters on the named projections, sized like a square h×h layer when the name is not a q/k/v/o
        targets = [shapes.get(t.removesuffix("_proj")[:1] if t.endswith("_proj") else t[:1], (h, h))
                   for t in federated.target_modules]  # fmt: skip
        adapter = layers * sum(rank * (i + o) for i, o in targets)
        head = _head_params(task, d) if task.kind == "classification" and federated.modules_to_save is None else 0
        counts = ParamCounts(base, adapter, adapter + head)
    bs = min(task.batch_size, max(num_rows, 1))
    steps = local_step_count(num_rows, local_steps=task.local_steps, local_epochs=task.local_epochs,
                             batch_size=task.batch_size)  # fmt: skip
    seq = task.model.max_seq_len
    step = training_step_flops(counts, bs * seq) + attention_step_flops(layers, h, bs, seq, causal=d["causal"])
    return steps * step, steps


def _head_params(task, d: dict) -> int:
    """Weights between the last layer and the loss: the vocabulary projection of a causal LM (every token
    pays for it); for classification, the label layer (two labels assumed: it is tiny beside the body) and,
    in encoders, the h×h pooler or dense layer before it."""
    h = d["hidden"]
    if task.kind != "classification":
        return h * d["vocab"]
    return 2 * h + (0 if d["causal"] else h * h)


# The sequence-classification head of each family (`models.HEAD_NAMES` names them on a loaded model).
FAMILY_HEADS = {"distilbert": "pre_classifier + classifier", **{k: "classifier" for k in ENCODERS if k != "distilbert"}}


def head_description(task, federated) -> str:
    """Which modules train in full beside the adapters, said without loading the model."""
    if federated.training != "lora":
        return ""
    if federated.modules_to_save is not None:
        listed = ", ".join(federated.modules_to_save) or "none"
        return f"{listed} (federated.modules_to_save)"
    if task.kind != "classification":
        return "none: adapters only (causal LM; list lm_head in federated.modules_to_save to train it)"
    if task.model.source != "local":
        return "score (a fresh linear head on the pre-trained base)"
    root = Path(task.model.path).expanduser()
    try:
        kind = str(json.loads((root / "config.json").read_text(encoding="utf-8")).get("model_type", ""))
    except (OSError, ValueError):
        return "the model family's head (decided when the model loads)"
    head = FAMILY_HEADS.get(kind, "score")
    missing = ""
    if kind in ("bert", "albert") and not any(
        k.startswith("pooler.") or ".pooler." in k for k in _checkpoint_keys(root)
    ):
        missing = f" + {kind}.pooler.dense (absent from the checkpoint: freshly initialised)"
    return f"{head}{missing} ({kind or 'unknown family'}), plus any other module the checkpoint lacks"


def _checkpoint_keys(root: Path) -> list[str]:
    from safetensors import safe_open

    keys: list[str] = []
    for f in sorted(root.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="numpy") as fh:
                keys += list(fh.keys())
        except Exception:  # an unreadable file is the loader's error to report, with its own message
            continue
    return keys
