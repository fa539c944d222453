"""Sliding-window (block-sparse along the diagonal) self-attention for local training.

Each token attends to itself and the `window` − 1 tokens before it, instead of every earlier token, so the
attention cost per token is bounded by the window (Beltagy et al., "Longformer", 2020; Child et al.,
"Generating long sequences with sparse transformers", 2019). Hugging Face Llama models take the pattern as
a 4-D boolean attention mask (True: may attend); `flops.attention_pairs` counts the pairs it lets through.
"""

from __future__ import annotations

import torch


def window_mask(mask: torch.Tensor, window: int | None) -> torch.Tensor:
    """[B, 1, L, L] causal sliding-window pattern over the real (mask 1) keys; `mask` as is when window is None."""
    if window is None:
        return mask
    length = mask.shape[1]
    i = torch.arange(length, device=mask.device)
    allowed = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < window)
    eye = torch.eye(length, dtype=torch.bool, device=mask.device)
    # Every query keeps itself: a padded position past the window would otherwise see no key (NaN softmax).
    return (allowed[None, None] & mask[:, None, None, :].bool()) | eye
