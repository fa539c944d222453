"""Checkpoints of the encoder families as users bring them: the classification head trains, is sent and moves.

Each checkpoint is a masked-LM save (no classification head, as pretrained encoders ship), built from a
config with random weights and its own tokenizer: BERT and DistilBERT with WordPiece, RoBERTa with byte-level
BPE. Loading it for classification adds a fresh head that must train beside the LoRA adapters.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fedwireless.learning.config import TaskConfig
from fedwireless.learning.federated_config import FederatedConfig
from fedwireless.learning.learner import Learner
from fedwireless.learning.sentiment import public_reviews


def _wordpiece(texts):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _byte_bpe(texts):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=specials))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
    )


# name: (target modules, the head's module paths, whether the head's first token is the tokenizer's cls)
FAMILIES = {
    "bert": (["query", "value"], ["bert.pooler.dense", "classifier"]),
    "distilbert": (["q_lin", "v_lin"], ["classifier", "pre_classifier"]),
    "roberta": (["query", "value"], ["classifier.dense", "classifier.out_proj"]),
}


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        DistilBertConfig,
        DistilBertForMaskedLM,
        RobertaConfig,
        RobertaForMaskedLM,
    )

    root = tmp_path_factory.mktemp("encoders")
    texts = public_reviews(300, np.random.default_rng(0))
    wp, bpe = _wordpiece(texts), _byte_bpe(texts)
    torch.manual_seed(0)
    small = {"num_attention_heads": 2, "max_position_embeddings": 70}
    bert = BertConfig(
        vocab_size=len(wp),
        hidden_size=32,
        num_hidden_layers=1,
        intermediate_size=64,
        pad_token_id=wp.pad_token_id,
        **small,
    )
    distil = DistilBertConfig(
        vocab_size=len(wp),
        dim=32,
        n_layers=1,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=70,
        pad_token_id=wp.pad_token_id,
    )
    roberta = RobertaConfig(
        vocab_size=len(bpe),
        hidden_size=32,
        num_hidden_layers=1,
        intermediate_size=64,
        pad_token_id=bpe.pad_token_id,
        **small,
    )
    built = {
        "bert": (BertForMaskedLM(bert), wp),
        "distilbert": (DistilBertForMaskedLM(distil), wp),
        "roberta": (RobertaForMaskedLM(roberta), bpe),
    }
    for name, (model, tok) in built.items():
        model.save_pretrained(root / name)  # safetensors
        tok.save_pretrained(root / name)
    return root


def _learner(path, modules, batch_clients=True, seed=0):
    task = TaskConfig.model_validate({
        "kind": "classification",
        "model": {"source": "local", "path": str(path), "max_seq_len": 24},
        "dataset": {"num_train": 160, "num_test": 40, "num_public": 40},
        "local_steps": 3,
        "batch_size": 8,
        "lr": 0.01,
    })  # fmt: skip
    fed = FederatedConfig(ranks=[4], target_modules=modules, batch_clients=batch_clients)
    return Learner(task, fed, 4, ["a"] * 4, np.random.SeedSequence(seed))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_head_trains_is_sent_and_moves(encoders, name):
    modules, head = FAMILIES[name]
    lrn = _learner(encoders / name, modules)
    info = lrn.info()
    assert info["head_modules"] == head
    keys = lrn.method.head_keys()
    by_name = dict(lrn.method.model.named_parameters())
    head_params = [p for n, p in by_name.items() if "modules_to_save" in n]
    assert head_params and all(p.requires_grad for p in head_params)
    assert info["trainable_params_head"] == sum(p.numel() for p in head_params)
    assert info["trainable_params"]["4"] == info["trainable_params_head"] + info["trainable_params_adapters"]["4"]
    # The encoder's own framing: the classifier token first (where the pooler reads), the separator last.
    tok = lrn.data.tokenizer._tok
    first = lrn.data.train_ids[:, 0]
    last = lrn.data.train_ids[np.arange(len(first)), lrn.data.train_mask.sum(axis=1) - 1]
    assert (first == tok.cls_token_id).all() and (last == tok.sep_token_id).all()

    before = {k: lrn.method.global_state[k].clone() for k in keys}
    ups = lrn.train_clients([(d, 4) for d in range(4)])
    assert lrn.info()["training_path"] == "batched"
    for u in ups:
        sent = lrn.codec.decode(u.payload)
        assert set(keys) <= set(sent)
        assert all(float(sent[k].abs().max()) > 0 for k in keys)  # every head tensor moved on every client
    lrn.aggregate(ups)
    for k in keys:
        assert not torch.equal(lrn.method.global_state[k], before[k]), k


@pytest.mark.parametrize("name", ["bert", "roberta"])
def test_encoder_batched_equals_one_by_one_without_dropout(encoders, name):
    """Mixed rows and a bias-carrying head: the stacked head reproduces each client's own head (dropout off,
    since its masks are drawn differently on the two paths)."""
    modules, _ = FAMILIES[name]
    runs = []
    for batched in (True, False):
        lrn = _learner(encoders / name, modules, batch_clients=batched)
        for m in lrn.method.model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        runs.append(lrn.train_clients([(d, 4) for d in range(4)]))
    for a, b in zip(*runs):
        for k in b.state:
            torch.testing.assert_close(a.state[k], b.state[k], atol=1e-5, rtol=0)


def test_encoder_runs_end_to_end_and_the_head_is_in_the_summary(encoders, tmp_path):
    from fedwireless.cli import main

    sc = {
        "name": "encoder",
        "rounds": 1,
        "deadline_s": 300,
        "devices": [{"count": 3}],
        "task": {
            "kind": "classification",
            "model": {"source": "local", "path": str(encoders / "bert"), "max_seq_len": 24},
            "dataset": {"num_train": 90, "num_test": 30, "num_public": 30},
            "local_steps": 2,
            "batch_size": 4,
        },
        "federated": {"ranks": [2], "target_modules": ["query", "value"]},
        "output": {"plots": False},
    }
    (tmp_path / "s.yaml").write_text(json.dumps(sc), encoding="utf-8")
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["head_modules"] == ["bert.pooler.dense", "classifier"]
    assert summary["trainable_params_head"] == (32 * 32 + 32) + (32 * 2 + 2)  # pooler + classifier, by shape


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_validate_estimate_counts_what_the_learner_counts(encoders, name):
    """`validate` reads only config.json; at full-length batches its figure is the learner's own count of the
    loaded model (body, pooler or dense layer, label layer, adapters, head gradients) within 1%."""
    from fedwireless.learning.estimate import round_flops

    modules, _ = FAMILIES[name]
    lrn = _learner(encoders / name, modules)
    rows = len(lrn.data.parts[0])
    flops, steps = round_flops(lrn.task, lrn.fed, rows, 4)
    counted = lrn.local_steps(0) * lrn.step_flops(4, min(8, rows), 24, 0)
    assert steps == lrn.local_steps(0)
    assert flops == pytest.approx(counted, rel=0.01)
    assert flops >= lrn.expected_flops(4)[0]  # an upper bound of a round with real text lengths


def test_a_requested_head_that_peft_widens_is_reported(encoders, caplog):
    """peft matches `modules_to_save` by name suffix: asking DistilBERT for `classifier` trains
    `pre_classifier` too. The run says so, and the summary lists what really trains."""
    task = TaskConfig.model_validate({
        "kind": "classification",
        "model": {"source": "local", "path": str(encoders / "distilbert"), "max_seq_len": 24},
        "dataset": {"num_train": 80, "num_test": 20, "num_public": 20},
        "local_steps": 1,
        "batch_size": 8,
    })  # fmt: skip
    fed = FederatedConfig(ranks=[4], target_modules=["q_lin", "v_lin"], modules_to_save=["classifier"])
    with caplog.at_level("WARNING"):
        lrn = Learner(task, fed, 2, ["a"] * 2, np.random.SeedSequence(0))
    assert lrn.info()["head_modules"] == ["classifier", "pre_classifier"]
    assert "peft also trains ['pre_classifier']" in caplog.text


def test_bert_step_flops_by_hand_and_against_torchs_flop_counter(encoders):
    """One LoRA step of the 1-layer BERT (h 32, MLP 64, rank 4 on query and value, pooler + 2-label
    classifier on the [CLS] row), weights and attention by hand from the shapes: torch's FlopCounterMode
    matches exactly. Ours is
    Kaplan et al.'s per-token count: it also charges the layer-0 input gradient autograd skips, and the head
    on every token with its biases (a few per cent of a real encoder's step; here, a tiny body, far more)."""
    from ..conftest import counted_step

    lrn = _learner(encoders / "bert", FAMILIES["bert"][0])
    rows, width, measured = counted_step(lrn, 4)
    t = rows * width
    body = 4 * 32 * 32 + 2 * 32 * 64  # query, key, value, output; the MLP
    lora = 2 * 4 * (32 + 32)
    head = 32 * 32 + 32 * 2  # pooler.dense and classifier, on one row per text
    reads_embeddings = 3 * 32 * 32 + 2 * 4 * 32  # layer 0's query, key, value and the two A matrices
    forward = 2 * t * (body + lora) + 2 * rows * head
    input_grads = 2 * t * (body + lora - reads_embeddings) + 2 * rows * head
    weight_grads = 2 * t * lora + 2 * rows * head
    # With dropout on, CPU attention runs as matrix products torch counts: QKᵀ and PV forward (2·d per
    # pair each); backward the gradients of P, V and Q, not K (key has no adapter and reads the embeddings).
    pairs = rows * width * width  # every (query, key) pair: bidirectional
    assert measured == forward + input_grads + weight_grads + 4 * 32 * pairs + 6 * 32 * pairs
    attention = 12 * 32 * pairs
    head_biases = 32 + 2
    ours = 4 * t * (body + lora + head) + 2 * t * (lora + head + head_biases) + attention
    assert lrn.step_flops(4, rows, width, 0) == ours
    assert ours - attention > measured  # the per-token count is an upper bound of what torch runs


@pytest.mark.parametrize("keys, absent", [(["bert.embeddings.x"], True), (["pooler.dense.weight"], False),
                                          (["bert.pooler.dense.weight"], False)])  # fmt: skip
def test_validate_says_whether_the_pooler_is_freshly_initialised(tmp_path, keys, absent):
    """A masked-LM checkpoint has no pooler; a bare BertModel saves it unprefixed, a task model prefixed."""
    from safetensors.numpy import save_file

    from fedwireless.learning.estimate import head_description

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    save_file({k: np.zeros((2, 2), dtype=np.float32) for k in keys}, str(tmp_path / "model.safetensors"))
    task = TaskConfig.model_validate({"kind": "classification", "model": {"source": "local", "path": str(tmp_path)}})
    text = head_description(task, FederatedConfig(ranks=[4], target_modules=["query"]))
    assert text.startswith("classifier") and ("bert.pooler.dense (absent from the checkpoint" in text) == absent
