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
