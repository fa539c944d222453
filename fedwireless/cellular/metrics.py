"""Next-token accuracy and perplexity of a causal LM on tokenized table rows.

Conventions (as `transformers` causal LMs): `logits[b, t]` is the prediction of token `t + 1`, so the
functions shift internally: position t predicts `input_ids[b, t + 1]`.

Two variants:

- ``masked=True`` (default, ours): only the *predicted span* counts, i.e. the tokens of the target
  value after ``--> target =`` plus the closing ``</s>`` (`loss_mask` from
  `fedwireless.cellular.tokenize.TabularTextTask`); padding never counts.
- ``masked=False`` (the paper's variant, Becking et al. arXiv 2504.01947 §III, which reports top-1
  accuracy and perplexity of next-token prediction over the sequences): every real (non-padding)
  token from the second on counts, including the feature names, ``=`` and digits that follow the fixed
  row format. It is higher than the masked figure because most of those tokens are easy.

Perplexity = exp(mean token cross-entropy in nats) over the counted tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def _counted(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    loss_mask: torch.Tensor | None,
    masked: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shifted logits [B, T-1, V], targets [B, T-1] and the boolean mask [B, T-1] of counted tokens."""
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape [batch, seq, vocab], got {tuple(logits.shape)}")
    if input_ids.shape != logits.shape[:2] or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"input_ids {tuple(input_ids.shape)} and attention_mask {tuple(attention_mask.shape)} must match "
            f"logits' [batch, seq] = {tuple(logits.shape[:2])}"
        )
    if masked:
        if loss_mask is None:
            raise ValueError("loss_mask is required when masked=True (use masked=False for all tokens)")
        if loss_mask.shape != input_ids.shape:
            raise ValueError(f"loss_mask shape {tuple(loss_mask.shape)} must equal {tuple(input_ids.shape)}")
        keep = loss_mask[:, 1:].bool() & attention_mask[:, 1:].bool()
    else:
        keep = attention_mask[:, 1:].bool() & attention_mask[:, :-1].bool()
    return logits[:, :-1, :], input_ids[:, 1:], keep


def token_nll_sum(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    loss_mask: torch.Tensor | None = None,
    *,
    masked: bool = True,
) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy (nats, differentiable) and the number of counted tokens."""
    import torch.nn.functional as F

    pred, target, keep = _counted(logits, input_ids, attention_mask, loss_mask, masked)
    nll = F.cross_entropy(pred.reshape(-1, pred.shape[-1]).float(), target.reshape(-1), reduction="none")
    return (nll * keep.reshape(-1)).sum(), int(keep.sum())


def span_loss(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    loss_mask: torch.Tensor | None = None,
    *,
    masked: bool = True,
) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) over the counted tokens; the training loss."""
    total, n = token_nll_sum(logits, input_ids, attention_mask, loss_mask, masked=masked)
    if n == 0:
        raise ValueError("no token is counted: every position is padding or outside the predicted span")
    return total / n


def next_token_accuracy(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    loss_mask: torch.Tensor | None = None,
    *,
    masked: bool = True,
) -> float:
    """Top-1 next-token accuracy in [0, 1] over the counted tokens (see module docstring)."""
    import torch

    with torch.no_grad():
        pred, target, keep = _counted(logits, input_ids, attention_mask, loss_mask, masked)
        n = int(keep.sum())
        if n == 0:
            raise ValueError("no token is counted: every position is padding or outside the predicted span")
        hits = (pred.argmax(dim=-1) == target) & keep
        return float(hits.sum()) / n


def perplexity(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    loss_mask: torch.Tensor | None = None,
    *,
    masked: bool = True,
) -> float:
    """exp(mean next-token cross-entropy) over the counted tokens (see module docstring)."""
    import math

    import torch

    with torch.no_grad():
        return math.exp(float(span_loss(logits, input_ids, attention_mask, loss_mask, masked=masked)))
