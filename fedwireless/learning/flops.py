"""FLOPs of local training, counted the same way by the real learner and the learning-curve surrogate.

One training step over T tokens (Kaplan et al., "Scaling laws for neural language models", 2020, §2.1):
forward 2·N·T over the matmul path N
(base + adapter weights a token passes through); backward, the input-gradient pass through every
weight, frozen ones included (2·N·T), plus the weight gradients of the trainable parameters
(2·N_train·T). Full fine-tuning gives the familiar 6·N·T. Attention scores add, per layer and per
(query, key) pair a causal or sliding-window pattern lets through, 2·d (QKᵀ) + 2·d (weights × V) forward
and twice that backward: 12·d per pair per layer (`attention_step_flops`; Kaplan et al.'s context term,
counted for the pattern). No torch here: the surrogate imports it.

This is an upper bound of the products torch runs (tests check both against `FlopCounterMode`): autograd
skips the input gradient of projections that read frozen embeddings (layer 0's q/k/v under LoRA), and an
encoder's pooler and classifier act on the [CLS] row only, where this counts every token.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ParamCounts:
    base_matmul: int  # weights of the matrix multiplications a token passes through (no embeddings)
    adapter_matmul: int  # LoRA A and B weights on that path (0 for full fine-tuning)
    trainable: int  # parameters that get a weight gradient


def training_step_flops(counts: ParamCounts, tokens: int) -> float:
    """FLOPs of one forward + backward step over `tokens` tokens."""
    n = counts.base_matmul + counts.adapter_matmul
    return float(tokens * (4 * n + 2 * counts.trainable))


def attention_pairs(seq_len: int | float, window: int | None = None, causal: bool = True) -> float:
    """(query, key) pairs of one sequence: causal Σᵢ min(i + 1, window) (window None: dense, L(L+1)/2);
    bidirectional (encoders) L²."""
    if not causal:
        return seq_len * seq_len
    if window is None or window >= seq_len:
        return seq_len * (seq_len + 1) / 2
    return window * (window + 1) // 2 + (seq_len - window) * window


def attention_step_flops(
    num_layers: int, attention_dim: int, sequences: int, seq_len: int | float, window=None, causal: bool = True
) -> float:
    """Attention-score FLOPs of one training step (forward and backward) over `sequences` of `seq_len`."""
    return float(12 * num_layers * attention_dim * sequences * attention_pairs(seq_len, window, causal))


def linear_shapes(hidden_size: int, num_heads: int, num_kv_heads: int, intermediate_size: int) -> dict[str, tuple]:
    """(in, out) of each Llama decoder-layer projection; k/v follow the grouped-query heads."""
    head_dim = hidden_size // num_heads
    kv = num_kv_heads * head_dim
    return {
        "q_proj": (hidden_size, num_heads * head_dim),
        "k_proj": (hidden_size, kv),
        "v_proj": (hidden_size, kv),
        "o_proj": (num_heads * head_dim, hidden_size),
        "gate_proj": (hidden_size, intermediate_size),
        "up_proj": (hidden_size, intermediate_size),
        "down_proj": (intermediate_size, hidden_size),
    }


def llama_lora_counts(
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int,
    intermediate_size: int,
    head_outputs: int,
    target_modules: Sequence[str],
    rank: int,
    head_trainable: bool,
) -> ParamCounts:
    """Counts for a Llama with LoRA of `rank` on `target_modules` (rank 0: full fine-tuning).

    `head_outputs` is the output layer's width (labels for classification, vocabulary for a causal
    LM); `head_trainable` says whether it trains beside the adapters (a classifier head does).
    """
    shapes = linear_shapes(hidden_size, num_heads, num_kv_heads, intermediate_size)
    head = hidden_size * head_outputs
    base = num_layers * sum(i * o for i, o in shapes.values()) + head
    if rank == 0:
        return ParamCounts(base, 0, base)
    unknown = [t for t in target_modules if t not in shapes]
    if unknown:
        raise ValueError(f"target_modules: unknown projection(s) {unknown}; known: {', '.join(shapes)}")
    adapter = num_layers * sum(rank * (shapes[t][0] + shapes[t][1]) for t in target_modules)
    return ParamCounts(base, adapter, adapter + (head if head_trainable else 0))


def local_step_count(num_rows: int, *, local_steps: int, local_epochs: float | None, batch_size: int) -> int:
    """Optimizer steps of one local training: `local_steps`, or `local_epochs` passes over `num_rows` rows
    in batches of min(batch_size, num_rows)."""
    if local_epochs is None:
        return int(local_steps)
    return max(1, math.ceil(local_epochs * num_rows / max(min(batch_size, num_rows), 1)))
