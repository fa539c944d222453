"""The multi-cell bandwidth split at its edges, against a brute-force optimum over two-device splits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.optimizers.test_solvers_policies import instance


def _brute_split(bits, window, gain, n0, p_max, total, w):
    """min Σ w·p·window over two-device splits of `total` on a fine grid (p at the whole window)."""
    best = np.inf
    for f in np.linspace(1e-4, 1 - 1e-4, 40001):
        bb = np.array([f, 1 - f]) * total
        with np.errstate(over="ignore"):
            pp = n0 * bb / gain * np.expm1(np.log(2) * bits / (window * bb))
        if np.all(pp <= p_max):
            best = min(best, float(np.sum(w * pp * window)))
    return best


@pytest.mark.parametrize(
    "slack, weights",
    [
        (1.002, None),  # a pool barely above the least bands: the price bracket must grow
        (3.0, np.array([np.nan, -1.0])),  # no usable weight: every device priced 1
        (3.0, np.array([1e12, 0.0])),  # a zero price is floored at 1e-9 of the largest
        (40.0, np.array([2.0, 0.5])),
    ],
)
def test_split_at_the_edges_is_minimal_and_within_the_pool(slack, weights):
    from optimizers.split import energy_min_split, min_bandwidth_or_inf

    rng = np.random.default_rng(13)
    bits, window, gain, n0, p_max = instance(rng, 2)
    need = float(min_bandwidth_or_inf(bits, window_s=window, p_max_w=p_max, gain_lin=gain, noise_psd_w_per_hz=n0).sum())
    total = need * slack
    b, p, ok = energy_min_split(bits, window, gain, n0, p_max, np.zeros(2, int), np.array([total]), weights=weights)
    assert ok[0] and b.sum() <= total * (1 + 1e-12) and np.all(p <= p_max * (1 + 1e-12))
    assert np.allclose(p, n0 * b / gain * np.expm1(np.log(2) * bits / (window * b)), rtol=1e-9)
    w = np.ones(2) if weights is None else np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    w = w if w.max() > 0 else np.ones(2)
    w = np.maximum(w, 1e-9 * w.max())
    assert float(np.sum(w * p * window)) <= _brute_split(bits, window, gain, n0, p_max, total, w) * (1 + 1e-4)
    assert b.sum() == pytest.approx(total, rel=1e-6)  # energy falls with bandwidth: the whole pool is used


def test_split_leaves_infeasible_cells_and_silent_devices_out():
    from optimizers.split import energy_min_split

    rng = np.random.default_rng(4)
    bits, window, gain, n0, p_max = instance(rng, 4)
    gain[1] = 0.0  # cell 0 holds a device that no band lets finish: the whole cell is infeasible
    bits[3] = 0.0  # cell 1: a device with nothing to send takes no band
    cell = np.array([0, 0, 1, 1])
    pools = np.array([50e6, 8e6])
    b, p, ok = energy_min_split(bits, window, gain, n0, p_max, cell, pools)
    assert ok.tolist() == [False, True]
    assert b[:2].tolist() == [0.0, 0.0] and p[:2].tolist() == [0.0, 0.0]
    assert b[3] == 0.0 and p[3] == 0.0
    assert b[2] == pytest.approx(8e6, rel=1e-6)
    assert p[2] == pytest.approx(n0[2] * 8e6 / gain[2] * np.expm1(np.log(2) * bits[2] / (window[2] * 8e6)), rel=1e-6)


def test_cells_without_devices_change_nothing():
    """Devices in cells 0 and 5 of six: the split equals the one over two cells holding the same devices."""
    from optimizers.split import energy_min_split

    rng = np.random.default_rng(8)
    bits, window, gain, n0, p_max = instance(rng, 12)
    cell = np.repeat([0, 5], 6)
    wide = energy_min_split(bits, window, gain, n0, p_max, cell, np.full(6, 5e6))
    narrow = energy_min_split(bits, window, gain, n0, p_max, np.repeat([0, 1], 6), np.full(2, 5e6))
    for w, n in zip(wide[:2], narrow[:2]):
        np.testing.assert_array_equal(w, n)
    assert wide[2].all() and narrow[2].all()


def test_a_pool_the_least_bands_fill_to_rounding_gives_each_device_its_least_band():
    """Σ b_min a hair above the pool (within the feasibility slack): no price makes the split fit, so every
    device keeps its least band at p_max (scaled by the slack), never a share that misses its window."""
    from optimizers.split import energy_min_split, min_bandwidth_or_inf

    rng = np.random.default_rng(5)
    bits, window, gain, n0, p_max = instance(rng, 20)
    b_min = min_bandwidth_or_inf(bits, window_s=window, p_max_w=p_max, gain_lin=gain, noise_psd_w_per_hz=n0)
    b, p, ok = energy_min_split(bits, window, gain, n0, p_max, np.zeros(20, int), np.array([b_min.sum() / (1 + 1e-11)]))
    assert ok[0]
    assert np.all(b >= b_min * (1 - 1e-9)) and np.all(p <= p_max * (1 + 1e-12))
