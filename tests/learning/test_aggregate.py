"""Aggregation functions against hand-computed results."""

from __future__ import annotations

import pytest
import torch

from fedwireless.learning import aggregate as agg

M = "layer.q_proj"
A, B = M + agg.A_SUFFIX, M + agg.B_SUFFIX


def state(a, b, head):
    return {
        A: torch.tensor(a, dtype=torch.float64),
        B: torch.tensor(b, dtype=torch.float64),
        "score.weight": torch.tensor(head, dtype=torch.float64),
    }


S1 = state([[1.0, 0.0, 2.0]], [[1.0], [3.0]], [[1.0, 1.0]])  # rank 1: A [1, 3], B [2, 1]
S2 = state([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], [[2.0, 0.0], [0.0, 1.0]], [[3.0, -1.0]])  # rank 2
W = [1.0, 3.0]  # sample counts -> p = 0.25, 0.75


def test_fedavg_pads_and_averages_a_and_b_separately():
    out = agg.fedavg([S1, S2], W)
    assert out[A].tolist() == [[0.25, 0.75, 0.5], [0.75, 0.75, 0.75]]
    assert out[B].tolist() == [[1.75, 0.0], [0.75, 0.75]]
    assert out["score.weight"].tolist() == [[2.5, -0.5]]
    # The average of the products is not the product of the averages.
    mean_product = 0.25 * (S1[B] @ S1[A]) + 0.75 * (S2[B] @ S2[A])
    assert not torch.allclose(out[B] @ out[A], mean_product)


def test_flora_stacking_is_exactly_the_weighted_sum_of_products():
    out = agg.flora([S1, S2], W)
    assert out[A].shape == (3, 3) and out[B].shape == (2, 3)
    expected = 0.25 * (S1[B] @ S1[A]) + 0.75 * (S2[B] @ S2[A])
    assert torch.equal(out[B] @ out[A], expected)


def test_hetlora_weights_by_data_share_and_adapter_norm():
    n1 = torch.linalg.matrix_norm(S1[B] @ S1[A])
    n2 = torch.linalg.matrix_norm(S2[B] @ S2[A])
    w1, w2 = 0.25 * n1, 0.75 * n2
    w1, w2 = w1 / (w1 + w2), w2 / (w1 + w2)
    out = agg.hetlora([S1, S2], W)
    a1, b1 = agg.pad_rank(S1[A], S1[B], 2)
    assert torch.allclose(out[A], w1 * a1 + w2 * S2[A])
    assert torch.allclose(out[B], w1 * b1 + w2 * S2[B])
    assert torch.allclose(out["score.weight"], torch.tensor([[2.5, -0.5]], dtype=torch.float64))
    assert agg.truncate_rank(out, 1)[A].shape == (1, 3)


def test_flexlora_svd_factors_reconstruct_the_sum():
    deltas, others = agg.flexlora([S1, S2], W)
    expected = 0.25 * (S1[B] @ S1[A]) + 0.75 * (S2[B] @ S2[A])
    assert torch.allclose(deltas[M], expected)
    full = agg.flexlora_client_state(deltas, others, 2, dtype=torch.float64)
    assert torch.allclose(full[B] @ full[A], expected)  # rank(ΔW) ≤ 2: exact
    one = agg.flexlora_client_state(deltas, others, 1, dtype=torch.float64)
    u, s, vh = torch.linalg.svd(expected)
    assert torch.allclose(one[B] @ one[A], s[0] * torch.outer(u[:, 0], vh[0]))  # best rank-1 approximation


def test_bad_weights_are_rejected():
    with pytest.raises(ValueError, match="weights"):
        agg.fedavg([S1, S2], [0.0, 0.0])
