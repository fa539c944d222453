"""Tiny Llama-style language models (TLMs) of the paper's three sizes, built with `transformers`.

Source: Becking et al., "Efficient Federated Learning Tiny Language Models for Mobile Network Feature
Prediction" (arXiv 2504.01947), which trains llama2.c models (Karpathy, `model.py`): RMSNorm, rotary
position embeddings (RoPE), SwiGLU feed-forward, tied input/output embeddings, grouped KV heads, no
biases. `LlamaForCausalLM` implements the same architecture.

Sizes (paper's parameter counts in brackets) and what `build_tlm` gives with a 237-token vocabulary:

========  ====  ======  =====  ========  ==========  ================  ================
size      dim   layers  heads  kv heads  FFN hidden  built (V = 237)   paper
========  ====  ======  =====  ========  ==========  ================  ================
0         64    8       8      4         192         409,472           409,472
1         288   10      6      6         768         10,027,584        10.0 M
2         512   10      8      8         1376        31,753,216        31.8 M
========  ====  ======  =====  ========  ==========  ================  ================

Choices for sizes 1 and 2, which the paper gives only as dim / layers / total: heads follow llama2.c's
stories15M (288 -> 6 heads, head dim 48) and stories42M (512 -> 8 heads, head dim 64); kv heads equal
heads (llama2.c's default `n_kv_heads=None`). With half as many kv heads size 1 would have 9.2 M, not
10.0 M, so full multi-head attention is what matches the paper. FFN hidden follows llama2.c:
``hidden = multiple_of * ceil(int(2 * 4 * dim / 3) / multiple_of)`` with ``multiple_of = 32``
(64 -> 192, 288 -> 768, 512 -> 1376); the paper's 192 for size 0 is the same rule.

Parameter count (tied embeddings counted once; no biases):
``V*d + L*(2*d*d + 2*d*kv*hd + 3*d*F + 2*d) + d`` with hd = d / heads: the embedding, per layer the q/o
projections, the k/v projections, the three SwiGLU matrices and two RMSNorm weights, plus the final
RMSNorm. Size 0 matches the paper exactly. Sizes 1 and 2 differ from the paper's figures only by its
rounding to 3 significant digits (10,027,584 -> 10.0 M; 31,753,216 -> 31.8 M). Not counted (as in
llama2.c): the RoPE frequency buffers (`inv_freq`, a buffer, not a parameter), so `max_seq_len` does not
change the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy imports only where used
    from transformers import LlamaConfig, LlamaForCausalLM


@dataclass(frozen=True)
class TLMSize:
    """Architecture of one TLM size (llama2.c `ModelArgs` names in comments)."""

    dim: int  # dim: model width
    n_layers: int  # n_layers
    n_heads: int  # n_heads
    n_kv_heads: int  # n_kv_heads (grouped-query attention when < n_heads)
    hidden_dim: int  # FFN hidden width of the SwiGLU block
    paper_params: int  # parameter count as printed in the paper (rounded for sizes 1 and 2)


def llama2c_hidden_dim(dim: int, multiple_of: int = 32) -> int:
    """FFN hidden width as llama2.c's `FeedForward` computes it (4*dim, times 2/3, rounded up)."""
    hidden = int(2 * (4 * dim) / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


TLM_SIZES: dict[int, TLMSize] = {
    0: TLMSize(dim=64, n_layers=8, n_heads=8, n_kv_heads=4, hidden_dim=192, paper_params=409_472),
    1: TLMSize(dim=288, n_layers=10, n_heads=6, n_kv_heads=6, hidden_dim=768, paper_params=10_000_000),
    2: TLMSize(dim=512, n_layers=10, n_heads=8, n_kv_heads=8, hidden_dim=1376, paper_params=31_800_000),
}

# Vocabulary of the paper's size-0 tokenizer.
PAPER_VOCAB_SIZE = 237


def _check_size(size: int) -> TLMSize:
    if size not in TLM_SIZES:
        raise ValueError(f"size must be one of {sorted(TLM_SIZES)}, got {size!r}")
    return TLM_SIZES[size]


def count_tlm_params(size: int, vocab_size: int) -> int:
    """Closed-form parameter count of `build_tlm(size, vocab_size, ...)` (formula in the module docstring)."""
    s = _check_size(size)
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    d, hd = s.dim, s.dim // s.n_heads
    per_layer = 2 * d * d + 2 * d * s.n_kv_heads * hd + 3 * d * s.hidden_dim + 2 * d
    return vocab_size * d + s.n_layers * per_layer + d


def tlm_config(size: int, vocab_size: int, max_seq_len: int, dropout: float = 0.0) -> LlamaConfig:
    """`LlamaConfig` of TLM `size` (0, 1, 2) for a tokenizer of `vocab_size` pieces.

    `max_seq_len` sets `max_position_embeddings` (RoPE range; no learned positions, so no parameters).
    RMSNorm eps 1e-5 and RoPE theta 10000 as in llama2.c.
    """
    from transformers import LlamaConfig

    s = _check_size(size)
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    if max_seq_len < 1:
        raise ValueError(f"max_seq_len must be >= 1, got {max_seq_len}")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=s.dim,
        intermediate_size=s.hidden_dim,
        num_hidden_layers=s.n_layers,
        num_attention_heads=s.n_heads,
        num_key_value_heads=s.n_kv_heads,
        hidden_act="silu",  # SwiGLU = silu(W1 x) * (W3 x), then W2
        max_position_embeddings=max_seq_len,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=dropout,
        initializer_range=0.02,  # llama2.c: normal(0, 0.02)
        bos_token_id=1,  # SentencePiece ids: <unk>=0, <s>=1, </s>=2 (see fedwireless.cellular.tokenize)
        eos_token_id=2,
        pad_token_id=None,
        use_cache=False,
    )


def build_tlm(size: int, vocab_size: int, max_seq_len: int, torch_seed: int, dropout: float = 0.0) -> LlamaForCausalLM:
    """Build TLM `size` with weights initialised from `torch_seed` through a local `torch.Generator`.

    `dropout` (llama2.c's `dropout`) applies in training mode where llama2.c applies it: to the token
    embeddings, the attention weights, the attention output projection and the feed-forward output.
    `LlamaForCausalLM` has only the attention weights' dropout; the other three are forward hooks.

    Initialisation follows llama2.c `Transformer._init_weights`: every matrix and the embedding
    ~ N(0, 0.02²); the residual-output projections (llama2.c `wo` and `w3`, here `o_proj` and
    `up_proj`) ~ N(0, (0.02/sqrt(2·n_layers))²); RMSNorm weights 1. The global torch RNG state is left as
    it was (transformers' default init, which uses it, runs inside `torch.random.fork_rng`).
    """
    import math

    import torch
    from transformers import LlamaForCausalLM

    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    config = tlm_config(size, vocab_size, max_seq_len, dropout)
    with torch.random.fork_rng(devices=[]):  # transformers' own init draws from the global RNG; undo that
        model = LlamaForCausalLM(config)
    gen = torch.Generator().manual_seed(int(torch_seed))
    std_out = 0.02 / math.sqrt(2 * config.num_hidden_layers)
    with torch.no_grad():
        for name, param in model.named_parameters():  # sorted, deterministic order; tied weight once
            if name.endswith("norm.weight") or "layernorm" in name:
                param.fill_(1.0)
            elif name.endswith(("o_proj.weight", "up_proj.weight")):
                param.normal_(0.0, std_out, generator=gen)
            else:
                param.normal_(0.0, 0.02, generator=gen)
    if dropout > 0:
        hooked = [model.model.embed_tokens]
        for layer in model.model.layers:
            hooked += [layer.self_attn.o_proj, layer.mlp.down_proj]
        for module in hooked:
            module.register_forward_hook(_OutputDropout(dropout))
    return model


class _OutputDropout:
    """Forward hook: dropout on a module's output while the module trains (llama2.c's residual dropout)."""

    def __init__(self, p: float):
        self.p = p

    def __call__(self, module, args, output):
        import torch.nn.functional as F

        return F.dropout(output, self.p, training=module.training)
