"""Bring your own model: a local Hugging Face checkpoint with its own BPE tokenizer runs a whole scenario."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedwireless.cli import main
from fedwireless.learning.sentiment import public_reviews


def _bpe_tokenizer(texts):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<pad>", "<unk>", "<s>", "</s>"])
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("hf")
    tok = _bpe_tokenizer(public_reviews(300, np.random.default_rng(0)))
    torch.manual_seed(0)
    llama = LlamaForCausalLM(
        LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                    num_key_value_heads=1, intermediate_size=64, pad_token_id=tok.pad_token_id)
    )  # fmt: skip
    llama.save_pretrained(root / "llama", safe_serialization=True)
    tok.save_pretrained(root / "llama")
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=64))
    gpt2.save_pretrained(root / "gpt2", safe_serialization=True)
    tok.save_pretrained(root / "gpt2")
    pickled = root / "pickled"  # the same checkpoint with its weights as a pickle instead of safetensors
    gpt2.config.save_pretrained(pickled)
    torch.save(gpt2.state_dict(), pickled / "pytorch_model.bin")
    tok.save_pretrained(pickled)
    return root


def _run(tmp_path, path, kind, modules, capsys):
    sc = {
        "name": "byo",
        "rounds": 1,
        "deadline_s": 100,
        "devices": [{"count": 3}],
        "task": {
            "kind": kind,
            "model": {"source": "local", "path": str(path), "max_seq_len": 16},
            "dataset": {"num_train": 60, "num_test": 20, "num_public": 30},
            "local_steps": 2,
            "batch_size": 4,
        },
        "federated": {"ranks": [2], "target_modules": modules},
        "output": {"plots": False},
    }
    (tmp_path / "s.yaml").write_text(json.dumps(sc), encoding="utf-8")
    code = main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--quiet"])
    return code, capsys.readouterr()


@pytest.mark.parametrize(
    ("name", "kind", "modules"),
    [
        ("llama", "classification", ["q_proj", "v_proj"]),
        ("llama", "causal-lm", ["q_proj"]),
        ("gpt2", "causal-lm", ["c_attn"]),
    ],
)
def test_local_checkpoint_with_its_own_tokenizer(checkpoints, tmp_path, capsys, name, kind, modules):
    code, out = _run(tmp_path, checkpoints / name, kind, modules, capsys)
    assert code == 0, out.err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["base_cache"] == "local" and summary["tokenizer"]["kind"].startswith("local (")
    assert summary["tokenizer"]["vocab_size"] == 200 and np.isfinite(summary["final_loss"])
    assert summary["trainable_params"]["2"] > 0


def test_unsafe_weights_and_unknown_modules_are_clear_errors(checkpoints, tmp_path, capsys):
    code, out = _run(tmp_path, checkpoints / "pickled", "causal-lm", ["c_attn"], capsys)
    assert code == 2 and "safetensors weights only" in out.err and "Traceback" not in out.err
    code, out = _run(tmp_path, checkpoints / "gpt2", "causal-lm", ["q_proj"], capsys)
    assert code == 2 and "federated.target_modules: ['q_proj'] not in the model" in out.err and "c_attn" in out.err
