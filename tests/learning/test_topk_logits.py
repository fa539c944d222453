"""Top-k logit payloads, channel-adaptive k and sparse-distribution aggregation (seed 003), by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedwireless.learning.methods.topk_logits import (
    HEADER_BYTES,
    adaptive_k,
    aggregate_topk,
    decode_topk,
    encode_topk,
    index_bits,
    payload_bytes,
)


@pytest.mark.parametrize("bits", [32, 16, 8])
def test_payload_round_trip_is_exact_at_each_precision(bits):
    rng = np.random.default_rng(bits)
    vocab, n, k = 1000, 7, 5
    idx = np.stack([rng.choice(vocab, k, replace=False) for _ in range(n)])
    val = rng.normal(-3, 2, (n, k)).astype(np.float32)
    payload = encode_topk(idx, val, vocab, bits)
    assert len(payload) == payload_bytes(n, vocab, k, bits) == HEADER_BYTES + -(-n * k * 10 // 8) + n * k * bits // 8
    got_idx, got_val, got_vocab = decode_topk(payload)
    assert got_vocab == vocab and np.array_equal(got_idx, idx)
    cast = {32: torch.float32, 16: torch.float16, 8: torch.float8_e4m3fn}[bits]
    assert np.array_equal(got_val, torch.from_numpy(val).to(cast).to(torch.float32).numpy())


def test_payload_rejects_bad_input():
    with pytest.raises(ValueError, match="indices"):
        encode_topk(np.array([[5]]), np.array([[0.0]]), 4, 32)
    with pytest.raises(ValueError, match="value_bits"):
        encode_topk(np.array([[1]]), np.array([[0.0]]), 4, 12)
    with pytest.raises(ValueError, match="payload"):
        decode_topk(encode_topk(np.array([[1]]), np.array([[0.0]]), 4, 32)[:-1])
    assert index_bits(2) == 1 and index_bits(1000) == 10 and index_bits(1024) == 10 and index_bits(1025) == 11


def test_adaptive_k_grows_with_rate_and_fits_the_window():
    n, vocab, bits, window = 32, 5000, 16, 0.2
    ks = [adaptive_k(rate, window, num_samples=n, vocab=vocab, value_bits=bits) for rate in (1e3, 1e5, 1e6, 1e7)]
    assert ks == sorted(ks) and ks[0] == 1 and ks[-1] > ks[1]
    for rate, k in zip((1e3, 1e5, 1e6, 1e7), ks):
        if k > 1:  # a chosen k's payload crosses the link within the window
            assert 8 * payload_bytes(n, vocab, k, bits) / rate <= window
            assert k == vocab or 8 * payload_bytes(n, vocab, k + 1, bits) / rate > window
    assert adaptive_k(1e12, 1.0, num_samples=n, vocab=vocab, value_bits=bits) == vocab
    assert adaptive_k(1e6, 0.0, num_samples=n, vocab=vocab, value_bits=bits) == 1  # no window left
    # η scales the share of the window the logits may use.
    assert adaptive_k(1e6, window, num_samples=n, vocab=vocab, value_bits=bits, eta=0.5) < ks[2]


def test_adaptive_aggregation_by_hand_and_against_zero_padding():
    # One proxy sample, vocabulary 4. Client A (weight 1) sends {0: 0.6, 1: 0.3}; client B (weight 3) {0: 0.5, 2: 0.4}.
    lp = lambda *p: np.log(np.array([p]))  # noqa: E731
    idx = [np.array([[0, 1]]), np.array([[0, 2]])]
    val = [lp(0.6, 0.3), lp(0.5, 0.4)]
    q = aggregate_topk(idx, val, [1.0, 3.0], 4)
    # Per entry over its senders: 0 -> (0.6 + 3·0.5)/4 = 0.525; 1 -> 0.3; 2 -> 0.4. Covered mass M =
    # (0.9 + 3·0.9)/4 = 0.9, so the sent entries are scaled to 0.9 and entry 3 gets the remaining 0.1.
    mean = np.array([0.525, 0.3, 0.4])
    assert q[0, :3] == pytest.approx(mean / mean.sum() * 0.9)
    assert q[0, 3] == pytest.approx(0.1) and q.sum() == pytest.approx(1.0)
    z = aggregate_topk(idx, val, [1.0, 3.0], 4, mode="zero-pad")
    # Zero padding: (1·[0.6, 0.3, 0, 0] + 3·[0.5, 0, 0.4, 0]) / 4, renormalised; entry 1 is diluted by B's zero.
    raw = np.array([0.6 + 1.5, 0.3, 1.2, 0.0]) / 4
    assert z[0] == pytest.approx(raw / raw.sum())
    assert q[0, 1] > z[0, 1] and z[0, 3] == 0.0


def test_confidence_weighting_favours_the_client_that_covers_more_mass():
    idx = [np.array([[0]]), np.array([[1]])]
    val = [np.log(np.array([[0.9]])), np.log(np.array([[0.3]]))]
    plain = aggregate_topk(idx, val, [1.0, 1.0], 3)
    conf = aggregate_topk(idx, val, [1.0, 1.0], 3, confidence=True)
    assert conf[0, 0] / conf[0, 1] == pytest.approx(plain[0, 0] / plain[0, 1])  # disjoint entries: same ratio
    assert conf[0, 2] < plain[0, 2]  # more covered mass: less spread over the unsent entry
