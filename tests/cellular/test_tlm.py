"""TLM sizes: parameter counts against the paper (Becking et al., arXiv 2504.01947) and determinism."""

import pytest

from fedwireless.cellular.tlm import PAPER_VOCAB_SIZE, TLM_SIZES, build_tlm, count_tlm_params, tlm_config

# Exact counts of what we build with the paper's 237-token vocabulary (derivation in tlm.py's docstring).
EXPECTED_PARAMS = {0: 409_472, 1: 10_027_584, 2: 31_753_216}
# The paper prints sizes 1 and 2 rounded to 3 significant digits (10.0 M, 31.8 M).
PAPER_ROUNDING_REL = 0.005


def _count_on_meta(size: int, vocab: int) -> int:
    import torch
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(tlm_config(size, vocab, 256))
    return sum(p.numel() for p in model.parameters())  # tied embedding counted once


def test_size0_matches_paper_exactly():
    model = build_tlm(0, PAPER_VOCAB_SIZE, 128, torch_seed=0)
    assert sum(p.numel() for p in model.parameters()) == 409_472 == TLM_SIZES[0].paper_params
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied embeddings
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (
        64, 8, 8, 4,
    )  # fmt: skip
    assert cfg.intermediate_size == 192


@pytest.mark.parametrize("size", [0, 1, 2])
def test_counts_closed_form_built_and_paper(size):
    built = _count_on_meta(size, PAPER_VOCAB_SIZE)
    assert built == count_tlm_params(size, PAPER_VOCAB_SIZE) == EXPECTED_PARAMS[size]
    paper = TLM_SIZES[size].paper_params
    assert abs(built - paper) / paper < PAPER_ROUNDING_REL


def test_max_seq_len_adds_no_parameters():
    assert _count_on_meta(0, PAPER_VOCAB_SIZE) == sum(
        p.numel() for p in build_tlm(0, PAPER_VOCAB_SIZE, 1024, torch_seed=1).parameters()
    )


def test_build_is_deterministic_and_leaves_global_rng_alone():
    import torch

    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_tlm(0, 30, 64, torch_seed=7)
    b = build_tlm(0, 30, 64, torch_seed=7)
    c = build_tlm(0, 30, 64, torch_seed=8)
    assert torch.equal(before, torch.get_rng_state())
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(pa["model.embed_tokens.weight"], pc["model.embed_tokens.weight"])
    assert torch.all(pa["model.norm.weight"] == 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"size": 3, "vocab_size": 10, "max_seq_len": 8}, "size"),
     ({"size": 0, "vocab_size": 0, "max_seq_len": 8}, "vocab_size"),
     ({"size": 0, "vocab_size": 10, "max_seq_len": 0}, "max_seq_len")],
)  # fmt: skip
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tlm_config(**kwargs)


def test_dropout_where_llama2c_puts_it():
    """Dropout 0.5: half of the embedding, attention-output and MLP-output activations are zeroed in training
    (the rest scaled by 2), none in eval mode; attention weights get it through the config; 0 adds no hook."""
    import torch

    model = build_tlm(0, PAPER_VOCAB_SIZE, 32, torch_seed=1, dropout=0.5)
    assert model.config.attention_dropout == 0.5
    seen = {}
    hooked = ["model.embed_tokens", "model.layers.0.self_attn.o_proj", "model.layers.7.mlp.down_proj"]
    for name in hooked:  # registered after the dropout hook, so they see its output
        model.get_submodule(name).register_forward_hook(lambda m, a, out, name=name: seen.__setitem__(name, out))
    x = torch.randint(3, PAPER_VOCAB_SIZE, (16, 32), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model.train()
    model(input_ids=x)
    for name in hooked:
        zero_share = (seen[name] == 0).float().mean().item()
        assert 0.47 < zero_share < 0.53, (name, zero_share)
    emb = model.model.embed_tokens(x)  # training mode: dropped and scaled
    model.eval()
    plain = model.model.embed_tokens(x)
    kept = emb != 0
    assert torch.allclose(emb[kept], 2 * plain[kept])
    model(input_ids=x)
    assert all((seen[name] == 0).float().mean().item() < 0.01 for name in hooked)
    assert not build_tlm(0, PAPER_VOCAB_SIZE, 32, torch_seed=1).model.embed_tokens._forward_hooks
    with pytest.raises(ValueError, match="dropout"):
        build_tlm(0, PAPER_VOCAB_SIZE, 32, torch_seed=1, dropout=1.0)
