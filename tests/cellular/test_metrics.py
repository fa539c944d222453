"""Span metrics on hand-made logits: masked (our default) vs the paper's unmasked variant."""

import math

import pytest
import torch

from fedwireless.cellular.metrics import next_token_accuracy, perplexity, span_loss


def _one_hot_logits(pred_next: list[list[int]], vocab: int, high: float = 10.0) -> torch.Tensor:
    """logits[b, t] peaked on pred_next[b][t] (the model's guess for token t + 1)."""
    logits = torch.zeros(len(pred_next), len(pred_next[0]), vocab)
    for b, row in enumerate(pred_next):
        for t, tok in enumerate(row):
            logits[b, t, tok] = high
    return logits


# Two sequences of length 6; the second has 2 padding positions. Span = last real tokens.
INPUT_IDS = torch.tensor([[1, 5, 6, 7, 8, 2], [1, 5, 6, 2, 0, 0]])
ATTENTION = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
LOSS_MASK = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 0, 0]])
# Predictions for tokens 1..5: row 0 gets every structure token right but misses the span token 8;
# row 1 gets token 5 right, misses span token 6, gets span token 2 right; padding "predictions" are wrong.
PRED = [[5, 6, 7, 3, 2, 0], [5, 3, 2, 9, 9, 0]]


def test_masked_accuracy_counts_only_the_span():
    logits = _one_hot_logits(PRED, 10)
    # span targets: row 0 -> 8 (miss), 2 (hit); row 1 -> 6 (miss), 2 (hit)
    assert next_token_accuracy(logits, INPUT_IDS, ATTENTION, LOSS_MASK) == pytest.approx(2 / 4)


def test_unmasked_accuracy_counts_every_real_token_but_no_padding():
    logits = _one_hot_logits(PRED, 10)
    # row 0: 5 targets (5,6,7,8,2) -> 4 hits; row 1: 3 targets (5,6,2) -> 2 hits; padding ignored
    acc = next_token_accuracy(logits, INPUT_IDS, ATTENTION, LOSS_MASK, masked=False)
    assert acc == pytest.approx(6 / 8)
    assert acc > next_token_accuracy(logits, INPUT_IDS, ATTENTION, LOSS_MASK)


def test_perplexity_uniform_logits_is_vocab_size():
    logits = torch.zeros(2, 6, 10)
    for masked in (True, False):
        assert perplexity(logits, INPUT_IDS, ATTENTION, LOSS_MASK, masked=masked) == pytest.approx(10.0)


def test_perplexity_matches_scalar_rederivation():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 10, generator=g)
    nll, n = 0.0, 0
    for b in range(2):
        for t in range(5):
            if LOSS_MASK[b, t + 1] and ATTENTION[b, t + 1]:
                logp = logits[b, t] - torch.logsumexp(logits[b, t], dim=0)
                nll -= float(logp[INPUT_IDS[b, t + 1]])
                n += 1
    assert perplexity(logits, INPUT_IDS, ATTENTION, LOSS_MASK) == pytest.approx(math.exp(nll / n), rel=1e-6)


def test_span_loss_is_differentiable():
    logits = torch.zeros(2, 6, 10, requires_grad=True)
    span_loss(logits, INPUT_IDS, ATTENTION, LOSS_MASK).backward()
    assert logits.grad is not None and logits.grad[1, 4:].abs().sum() == 0  # padding gets no gradient


def test_errors():
    logits = torch.zeros(2, 6, 10)
    with pytest.raises(ValueError, match="loss_mask"):
        next_token_accuracy(logits, INPUT_IDS, ATTENTION)
    with pytest.raises(ValueError, match="logits"):
        next_token_accuracy(logits[0], INPUT_IDS, ATTENTION, LOSS_MASK)
    with pytest.raises(ValueError, match="no token"):
        span_loss(logits, INPUT_IDS, ATTENTION, torch.zeros_like(LOSS_MASK))
