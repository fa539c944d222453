"""Models built from configs (no downloads) or read from a local directory, and the cached pre-trained base.

LoRA fine-tuning needs a pre-trained base. The first run pre-trains a causal LM on the task's
public (unlabelled) split and saves it under a hash of everything that determines it (model
dimensions, vocabulary, public text, pre-training settings, seed); later runs load it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedwireless.learning.config import ModelConfig, PretrainConfig
from fedwireless.learning.families import ENCODERS


@contextmanager
def seeded(seed: int):
    """Run a block with torch's RNG at `seed`, then restore the caller's RNG state (no global leak)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed % (2**63))
        yield


def quiet_transformers() -> None:
    """Load reports, shard progress bars and deprecation chatter would bury the run's own progress."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def llama_config(cfg: ModelConfig, vocab_size: int, pad_id: int, num_labels: int | None = None):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=max(cfg.max_seq_len, 8),
        pad_token_id=pad_id,
        bos_token_id=2,
        eos_token_id=3,
        tie_word_embeddings=True,
        num_labels=num_labels or 2,
        attention_dropout=0.0,
    )


def default_cache_dir() -> Path:
    root = os.environ.get("FEDWIRELESS_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "fedwireless"


def cache_key(parts: dict[str, Any]) -> str:
    """A short, stable key of the settings that determine a cached artifact."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def causal_lm_loss(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy over non-padded targets."""
    targets = ids[:, 1:].clone()
    targets[mask[:, 1:] == 0] = -100
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100
    )


# Part of the cache key: a changed recipe never reuses old bases.
PRETRAIN_RECIPE = "run_steps-warmup-cosine-deterministic-3"


def pretrained_base(
    cfg: ModelConfig,
    pre: PretrainConfig,
    vocab: Sequence[str],
    public_ids: np.ndarray,
    public_mask: np.ndarray,
    seed: int,
    cache_dir: Path | None,
    status=None,
    tokenizer_model: bytes | None = None,
    device: torch.device | None = None,
) -> tuple[Path, bool]:
    """Directory of the pre-trained causal-LM base (save_pretrained format) and whether it was cached.

    Pre-training runs the one training loop (`training.run_steps`): AdamW, warm-up over the first 10 % of
    the steps then cosine decay, gradient norm clipped at 1. `status(message)` hears its progress.
    """
    from transformers import LlamaForCausalLM

    from fedwireless.learning.training import OptimizerSettings, clip_together, make_optimizer, run_steps

    key = cache_key(
        {
            "model": cfg.model_dump(mode="json", exclude={"dropout"}),  # TLM-only: keys made before it stay valid
            "pretrain": {k: v for k, v in pre.model_dump(mode="json").items() if k != "cache_dir"},
            "vocab": hashlib.sha256("\n".join(vocab).encode()).hexdigest(),
            "data": hashlib.sha256(public_ids.tobytes() + public_mask.tobytes()).hexdigest(),
            "seed": seed,
            "torch": torch.__version__,
            "recipe": PRETRAIN_RECIPE,
            "device": torch.device(device or "cpu").type,
        }
    )
    root = Path(pre.cache_dir).expanduser() if pre.cache_dir else (cache_dir or default_cache_dir())
    target = root / "base-models" / key
    if (target / "config.json").is_file():
        return target, True
    with building(target):  # one process pre-trains a base; others of a sweep wait, then find it cached
        if (target / "config.json").is_file():
            return target, True
        with seeded(seed):
            model = LlamaForCausalLM(llama_config(cfg, len(vocab), pad_id=0))
        rng = np.random.default_rng(seed)
        if pre.steps and len(public_ids):
            settings = OptimizerSettings(pre.lr, schedule="warmup-cosine", warmup_fraction=0.1, max_grad_norm=1.0)
            model.to(device or "cpu")
            params = list(model.parameters())
            ids_t, mask_t = (
                torch.from_numpy(public_ids).to(device or "cpu"),
                torch.from_numpy(public_mask).to(device or "cpu"),
            )
            say = status or (lambda msg: None)
            every = max(1, pre.steps // 20)

            def step_loss(_step: int) -> list[torch.Tensor]:
                idx = torch.from_numpy(rng.integers(0, len(public_ids), pre.batch_size)).to(ids_t.device)
                ids, mask = ids_t[idx], mask_t[idx]
                return [causal_lm_loss(model(input_ids=ids, attention_mask=mask).logits, ids, mask)]

            def progress(done: int) -> None:
                if done % every == 0 or done == pre.steps:
                    say(f"pre-training the base model: step {done}/{pre.steps}")

            model.train()
            run_steps(pre.steps, step_loss, make_optimizer(params, settings), settings,
                      clip=clip_together(params, 1.0), progress=progress)  # fmt: skip
            model.eval()
        model.to("cpu")
        extra = {"vocab.txt": ("\n".join(vocab) + "\n").encode()}
        if tokenizer_model is not None:  # a SentencePiece base: reusing it as a local model needs its pieces' model
            extra["tokenizer.model"] = tokenizer_model
        save_to_cache(model, target, extra)
    return target, False


@contextmanager
def building(target: Path):
    """Hold an exclusive lock on a cache entry while it is built, so that concurrent runs (a sweep's workers)
    build it once: the others wait, then find it. Without fcntl (Windows) there is no lock and each builds."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on this project's machines
        yield
        return
    locks = target.parent.parent / ".locks"  # beside the entries' folder, so a listing of it shows entries only
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{target.parent.name}-{target.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_to_cache(model: torch.nn.Module, target: Path, extra: dict[str, bytes] | None = None) -> None:
    """save_pretrained into `target` all at once: a staging folder renamed into place, so a reader never sees
    half a model; when another process saved the same key first, theirs is kept."""
    tmp = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    for name, data in (extra or {}).items():
        (tmp / name).write_bytes(data)
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "tf_model.h5")


def load_local(path: str | Path, kind: str, num_labels: int, pad_id: int):
    """A model from a local Hugging Face directory (save_pretrained format), never the hub, never remote code,
    and only from safetensors weights (pickled weights can run code when loaded)."""
    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"task.model.path: no Hugging Face model directory (config.json) at {p}")
    if not any(p.glob("*.safetensors")):
        found = [name for name in PICKLE_WEIGHTS if (p / name).exists()]
        what = f"only pickled weights ({', '.join(found)})" if found else "no weight file"
        raise ValueError(
            f"task.model.path: {p} has {what}; fedwireless loads safetensors weights only (save the model with "
            "save_pretrained(..., safe_serialization=True))"
        )
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    common = {"local_files_only": True, "trust_remote_code": False, "use_safetensors": True,
              "output_loading_info": True}  # fmt: skip
    if kind == "classification":
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            p, num_labels=num_labels, pad_token_id=pad_id, **common
        )
    else:
        model, loading = AutoModelForCausalLM.from_pretrained(p, **common)
    own = dict(model.named_parameters())
    model.fedwireless_new_params = tuple(sorted(k for k in loading.get("missing_keys", ()) if k in own))
    return model


# Sequence-classification heads of the Hugging Face families, as attributes of the model: Llama, Qwen,
# Mistral and GPT-2 call theirs `score`; BERT, RoBERTa, ALBERT, ELECTRA and DeBERTa `classifier`; DistilBERT
# adds a `pre_classifier` (peft's own SEQ_CLS list is `classifier` and `score`).
HEAD_NAMES = ("pre_classifier", "classifier", "score")


def head_modules(model: torch.nn.Module, kind: str, requested: Sequence[str] | None = None) -> list[str]:
    """Module paths trained in full beside the adapters (peft `modules_to_save`).

    `requested` None: for classification, the family's head attributes (`HEAD_NAMES`) plus every module
    the checkpoint did not hold (freshly initialised, e.g. a pooler absent from a masked-LM checkpoint);
    for causal LM nothing (`lm_head` trains only when asked). A list names modules by path or last name.
    """
    names = {n for n, _ in model.named_modules() if n}
    if requested is not None:
        found = []
        for want in requested:
            hits = sorted(n for n in names if n == want or n.endswith("." + want))
            if not hits:
                tops = sorted(n for n, _ in model.named_children())
                raise ValueError(f"federated.modules_to_save: {want!r} is not a module of the model; "
                                 f"its top-level modules are {tops}")  # fmt: skip
            found += hits
        return _outermost(found)
    if kind != "classification":
        return []
    picked = [n for n, _ in model.named_children() if n in HEAD_NAMES]
    picked += [k.rsplit(".", 1)[0] for k in getattr(model, "fedwireless_new_params", ())]
    return _outermost(picked)


def _outermost(paths: Sequence[str]) -> list[str]:
    """Drop paths inside another listed path (peft wraps a module once)."""
    unique = sorted(set(paths))
    return [p for p in unique if not any(p.startswith(q + ".") for q in unique if q != p)]


def is_causal(model: torch.nn.Module) -> bool:
    """Whether the model's attention is causal (decoders) rather than bidirectional (BERT-style encoders)."""
    flags = [m.is_causal for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)]
    if flags:
        return any(flags)
    cfg = model.config
    return not (getattr(cfg, "model_type", "") in ENCODERS or getattr(cfg, "is_encoder_decoder", False))


def matmul_params(model: torch.nn.Module) -> int:
    """Parameters of the matrix multiplications a token passes through (excludes embeddings and norms)."""
    total = 0
    for name, mod in model.named_modules():
        if is_projection(mod) and "embed" not in name:
            total += mod.weight.numel()
    return total


def is_projection(module: torch.nn.Module) -> bool:
    """A weight matrix a token is multiplied by: nn.Linear, or GPT-2's Conv1D (a transposed Linear)."""
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"
