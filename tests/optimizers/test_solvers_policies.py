"""Solvers against cvxpy and brute force; constraints; infeasible rounds; Lyapunov queues and budgets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import channels
from optimizers import (
    POLICIES,
    RoundOutcome,
    RoundState,
    energy_min_bandwidth,
    energy_min_bandwidth_cvxpy,
    make_policy,
    min_completion_time_s,
    min_power_for_deadline_w,
    validate_policy_params,
)
from optimizers.planning import predicted_energy_j

ENERGY_REL_TOL = 1e-4  # Lambert-W/KKT vs cvxpy (CLARABEL, mJ scaling)
GRID_REL_TOL = 1e-3  # KKT vs a 2-D brute-force grid (grid resolution)
BUDGET_SLACK = 0.05  # time-average energy may exceed the budget by this fraction over a finite horizon
N0 = float(channels.thermal_noise_psd_w_per_hz(7.0))


def instance(rng, n):
    bits = rng.uniform(1e5, 8e5, n)
    window = rng.uniform(0.3, 2.0, n)
    gain = channels.db_to_lin(-rng.uniform(95, 125, n))
    p_max = np.full(n, 0.2)
    return bits, window, gain, np.full(n, N0), p_max


def energy(bits, window, b, gain, n0):
    p = n0 * b / gain * np.expm1(np.log(2) * bits / (window * b))
    return float(np.sum(p * window))


@pytest.mark.parametrize("seed", range(6))
def test_lambertw_matches_cvxpy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    bits, window, gain, n0, p_max = instance(rng, n)
    total = 20e6
    b1, p1, ok1 = energy_min_bandwidth(
        bits, window_s=window, gain_lin=gain, noise_psd_w_per_hz=n0, p_max_w=p_max, total_bandwidth_hz=total
    )
    b2, p2, ok2 = energy_min_bandwidth_cvxpy(
        bits, window_s=window, gain_lin=gain, noise_psd_w_per_hz=n0, p_max_w=p_max, total_bandwidth_hz=total
    )
    assert ok1 and ok2
    e1, e2 = float(np.sum(p1 * window)), float(np.sum(p2 * window))
    assert e1 == pytest.approx(e2, rel=ENERGY_REL_TOL)
    assert e1 <= e2 * (1 + ENERGY_REL_TOL)
    # Constraints: pool, power limits, and every upload fits its window.
    assert b1.sum() <= total * (1 + 1e-9)
    assert np.all((p1 >= 0) & (p1 <= p_max * (1 + 1e-9)))
    rate = channels.shannon_rate_bps(b1, power_w=p1, gain_lin=gain, noise_psd_w_per_hz=n0)
    assert np.all(bits / rate <= window * (1 + 1e-7))


def test_real_w0_matches_scipy_lambertw():
    """The split's real W₀((y − 1)/e) against scipy's complex `lambertw` from the branch point to 1e300:
    relative error of 1 + W (what sets the bandwidth a/(1 + W)) within 1e-13 where 1 + W > 0.1 and 1e-9 where
    1 + W > 1e-3 (nearer the branch point both lose digits to the rounding of (y − 1)/e), −1 at y ≤ 0, no NaN."""
    from scipy.special import lambertw

    from optimizers.solvers import w0_shifted

    y = np.concatenate([np.geomspace(1e-12, 0.5, 2000), np.linspace(0.01, 10.0, 2000), np.geomspace(1.0, 1e300, 2000)])
    ref = np.real(lambertw((y - 1.0) / np.e))
    w = w0_shifted(y)
    assert not np.isnan(w).any()
    for above, tol in ((0.1, 1e-13), (1e-3, 1e-9)):
        far = 1.0 + ref > above
        assert np.max(np.abs(w - ref)[far] / (1.0 + ref[far])) < tol
    assert np.max(np.abs(w - ref) / np.maximum(np.abs(ref), 1.0)) < 1e-6  # near the branch point too
    assert np.array_equal(w0_shifted(np.array([0.0, -1.0])), [-1.0, -1.0])


def test_lambertw_matches_brute_force_grid():
    rng = np.random.default_rng(11)
    bits, window, gain, n0, p_max = instance(rng, 3)
    total = 10e6
    b, p, ok = energy_min_bandwidth(
        bits, window_s=window, gain_lin=gain, noise_psd_w_per_hz=n0, p_max_w=p_max, total_bandwidth_hz=total
    )
    assert ok
    best = np.inf
    grid = np.linspace(0.001, 0.999, 400)
    for f1, f2 in itertools.product(grid, grid):
        if f1 + f2 >= 1:
            continue
        bb = np.array([f1, f2, 1 - f1 - f2]) * total
        with np.errstate(over="ignore"):
            pp = n0 * bb / gain * np.expm1(np.log(2) * bits / (window * bb))
        if np.all(pp <= p_max):
            best = min(best, float(np.sum(pp * window)))
    assert float(np.sum(p * window)) <= best * (1 + GRID_REL_TOL)
    assert float(np.sum(p * window)) == pytest.approx(best, rel=GRID_REL_TOL * 10)


def test_power_control_is_smallest_power_meeting_deadline():
    rng = np.random.default_rng(3)
    bits, window, gain, n0, p_max = instance(rng, 5)
    b = np.full(5, 4e6)
    p = min_power_for_deadline_w(
        bits, window_s=window, bandwidth_hz=b, gain_lin=gain, noise_psd_w_per_hz=n0, p_max_w=p_max
    )
    sent = lambda pw, k: b[k] * np.log2(1 + pw * gain[k] / (n0[k] * b[k])) * window[k]  # noqa: E731
    for k in range(5):
        if np.isinf(p[k]):
            assert sent(p_max[k], k) < bits[k]
            continue
        # Meets the window exactly, and any lower power would miss it (energy grows with power).
        assert sent(p[k], k) == pytest.approx(bits[k], rel=1e-9)
        assert sent(p[k] * (1 - 1e-6), k) < bits[k]


def test_min_completion_time_matches_brute_force():
    rng = np.random.default_rng(5)
    bits, _, gain, n0, p_max = instance(rng, 4)
    total = 5e6
    t, b = min_completion_time_s(bits, gain_lin=gain, noise_psd_w_per_hz=n0, power_w=p_max, total_bandwidth_hz=total)
    assert b.sum() == pytest.approx(total, rel=1e-6)

    def need(tt):
        return float(
            np.sum(channels.min_bandwidth_hz(bits, time_s=tt, power_w=p_max, gain_lin=gain, noise_psd_w_per_hz=n0))
        )

    assert need(t * (1 - 1e-4)) > total >= need(t) * (1 - 1e-9)


def make_state(rng, k=8, ranks=(4, 8, 16), pool_hz=10e6, deadline_s=3.0, budget=np.inf, cells=1):

    payload = np.tile(np.array(ranks, dtype=float) * 4e4, (k, 1))
    compute = np.tile(np.array(ranks, dtype=float) * 0.02, (k, 1)) * rng.uniform(0.5, 2, (k, 1))
    return RoundState(
        round_index=1,
        deadline_s=deadline_s,
        ranks=ranks,
        available=rng.random(k) < 0.9,
        gain_lin=channels.db_to_lin(-rng.uniform(95, 125, k)),
        noise_psd_w_per_hz=np.full(k, N0),
        cell=rng.integers(0, cells, k),
        cell_bandwidth_hz=np.full(cells, pool_hz),
        p_max_w=np.full(k, 0.2),
        payload_bits=payload,
        compute_time_s=compute,
        compute_energy_j=compute * 2.0,
        downlink_time_s=np.full(k, 0.05),
        energy_budget_j=np.full(k, budget),
        num_samples=np.full(k, 100.0),
        max_clients=None,
    )


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_respects_constraints(name):
    rng = np.random.default_rng(7)
    params = {"fixed": {"rank": 8, "power_w": 0.1, "bandwidth_hz": 1e6}}.get(name, {})
    policy = make_policy(name, params, np.random.default_rng(1))
    for _ in range(5):
        st = make_state(rng, cells=2)
        a = policy.decide(st)
        sel = a.module >= 0
        assert not np.any(sel & ~st.available)
        for c in range(2):
            assert a.bandwidth_hz[sel & (st.cell == c)].sum() <= st.cell_bandwidth_hz[c] * (1 + 1e-9)
        assert np.all(a.power_w[sel] <= st.p_max_w[sel] * (1 + 1e-9)) and np.all(a.power_w >= 0)
        assert all((r == "") == s for r, s in zip(a.skip_reason, sel))
        policy.observe(RoundOutcome(1, a.module, sel, np.where(sel, 1.0, 0.0), 0.5, 0.7))


def test_infeasible_round_drops_or_downgrades_with_reasons():
    rng = np.random.default_rng(2)
    st = make_state(rng, k=30, pool_hz=2e4, deadline_s=2.5)  # far too little bandwidth for 30 devices
    a = make_policy("energy-min", {}, rng).decide(st)
    assert "infeasible" in a.skip_reason
    assert a.terms["infeasible_repairs"] > 0
    sel = a.module >= 0
    assert a.bandwidth_hz[sel].sum() <= 2e4 * (1 + 1e-9)
    window = st.upload_window_s()[np.arange(30), np.where(sel, a.module, 0)]
    rate = channels.shannon_rate_bps(
        a.bandwidth_hz[sel], power_w=a.power_w[sel], gain_lin=st.gain_lin[sel], noise_psd_w_per_hz=N0
    )
    assert np.all(st.payload_bits[np.flatnonzero(sel), a.module[sel]] / rate <= window[sel] * (1 + 1e-7))


def test_lyapunov_queue_follows_the_formula():
    rng = np.random.default_rng(4)
    policy = make_policy("lyapunov", {"V": 5.0}, rng)
    q = np.zeros(8)
    for t in range(6):
        st = make_state(rng, budget=0.3)
        a = policy.decide(st)
        spent = np.where(a.module >= 0, rng.uniform(0.1, 1.0, 8), 0.0)
        policy.observe(RoundOutcome(t, a.module, a.module >= 0, spent, 0.5 + 0.01 * t, 0.6))
        q = np.maximum(q + spent - 0.3, 0.0)
        assert policy.queue_j == pytest.approx(q, abs=1e-12)


def test_lyapunov_keeps_budget_where_uniform_exceeds_it():
    """300 rounds, random channels; accuracy improves more with bigger ranks but saturates."""
    budget = 0.15
    averages = {}
    for name in ("uniform", "lyapunov"):
        rng = np.random.default_rng(9)
        policy = make_policy(name, {"V": 2.0} if name == "lyapunov" else {}, np.random.default_rng(0))
        acc, spent_total = 0.5, np.zeros(8)
        rounds = 300
        for t in range(rounds):
            st = make_state(rng, budget=budget)
            a = policy.decide(st)
            sel = a.module >= 0
            k = np.arange(8)
            m = np.where(sel, a.module, 0)
            window = np.maximum(st.upload_window_s()[k, m], 0)
            spent = np.where(sel, st.compute_energy_j[k, m] + a.power_w * window, 0.0)
            gain = np.sum(np.where(sel, np.array(st.ranks)[m] / (np.array(st.ranks)[m] + 8.0), 0.0)) / 8
            acc += 0.05 * gain * (0.9 - acc)
            policy.observe(RoundOutcome(t, a.module, sel, spent, acc, 1 - acc))
            spent_total += spent
        averages[name] = spent_total / rounds
    assert np.all(averages["lyapunov"] <= budget * (1 + BUDGET_SLACK))
    assert np.mean(averages["uniform"]) > budget * (1 + BUDGET_SLACK)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("best", {}, "unknown policy 'best'; known: uniform"),
        ("lyapunov", {"V": -1}, "V: must be a finite number > 0, got -1"),
        ("lyapunov", {"V": float("inf")}, "V: must be a finite number > 0, got inf"),
        ("lyapunov", {"foo": 1}, "unknown parameter 'foo' for policy 'lyapunov'"),
        ("fixed-rank", {"which": "middle"}, "which: must be one of smallest, largest"),
        ("energy-min", {"solver": "gurobi"}, "solver: must be one of lambertw, cvxpy"),
    ],
)
def test_registry_errors(name, params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        validate_policy_params(name, params)


def test_energy_cap_wrapper_skips_expensive_devices():
    rng = np.random.default_rng(12)
    st = make_state(rng)
    plain = make_policy("uniform", {}, rng).decide(st)
    capped = make_policy("uniform", {"energy_cap_j": 0.05}, rng).decide(st)
    assert (capped.module >= 0).sum() < (plain.module >= 0).sum()
    assert "energy-cap" in capped.skip_reason


def test_parameter_table_matches_the_policy_constructors():
    import inspect

    from optimizers import POLICY_PARAMS
    from optimizers.params import PARAM_DOCS, POLICY_DOCS, RULES, WRAPPER_PARAMS

    assert set(POLICY_PARAMS) == set(POLICIES) == set(POLICY_DOCS)
    for name, cls in POLICIES.items():
        params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "rng")]
        assert tuple(params) == POLICY_PARAMS[name], name
        for key in (*params, *WRAPPER_PARAMS):  # every parameter has a rule and a line of documentation
            assert key in RULES and key in PARAM_DOCS, (name, key)


def test_multi_cell_split_equals_one_cell_at_a_time():
    from optimizers.split import energy_min_split

    rng = np.random.default_rng(21)
    bits, window, gain, n0, p_max = instance(rng, 12)
    cell = rng.integers(0, 3, 12)
    pools = np.array([6e6, 9e6, 12e6])
    b, p, ok = energy_min_split(bits, window, gain, n0, p_max, cell, pools)
    assert ok.all()
    for c in range(3):
        here = cell == c
        b1, p1, ok1 = energy_min_bandwidth(
            bits[here],
            window_s=window[here],
            gain_lin=gain[here],
            noise_psd_w_per_hz=n0[here],
            p_max_w=p_max[here],
            total_bandwidth_hz=pools[c],
        )
        assert ok1
        assert b[here] == pytest.approx(b1, rel=1e-6)
        assert energy(bits[here], window[here], b[here], gain[here], n0[here]) == pytest.approx(
            energy(bits[here], window[here], b1, gain[here], n0[here]), rel=1e-9
        )


def test_weighted_split_matches_cvxpy_free_brute_force():
    """Σ w_k E_k minimised: the device with the higher price gets more bandwidth (needs less power)."""
    from optimizers.split import energy_min_split

    rng = np.random.default_rng(5)
    bits, window, gain, n0, p_max = instance(rng, 2)
    total = 4e6
    w = np.array([10.0, 1.0])
    b, p, ok = energy_min_split(bits, window, gain, n0, p_max, np.zeros(2, int), np.array([total]), weights=w)
    assert ok[0]
    best = np.inf
    for f in np.linspace(0.001, 0.999, 20001):
        bb = np.array([f, 1 - f]) * total
        pp = n0 * bb / gain * np.expm1(np.log(2) * bits / (window * bb))
        if np.all(pp <= p_max):
            best = min(best, float(np.sum(w * pp * window)))
    assert float(np.sum(w * p * window)) == pytest.approx(best, rel=1e-4)


def test_lyapunov_residuals_follow_the_learner_and_noise_cannot_freeze_training():
    rng = np.random.default_rng(13)
    policy = make_policy("lyapunov", {"V": 1.0}, rng)
    truth = {4: 0.67, 8: 0.5, 16: 0.33}
    trained_late = np.zeros(8)
    acc = 0.9
    for t in range(200):
        st = make_state(rng, budget=0.2)
        a = policy.decide(st)
        sel = a.module >= 0
        if t >= 150:
            trained_late += sel
        acc -= 0.01  # accuracy that only falls (noise, saturation) must not switch training off
        spent = predicted_energy_j(st, a)
        policy.observe(RoundOutcome(t, a.module, sel, spent, acc, 1 - acc, rank_residual=truth))
    assert [policy.residual[r] for r in (4, 8, 16)] == pytest.approx([0.67, 0.5, 0.33], abs=1e-6)
    assert np.all(trained_late[st.available | True] > 0)


def test_lyapunov_packet_errors_raise_power_above_the_window_minimum():
    rng = np.random.default_rng(2)
    base = make_state(rng, k=6)
    st_ = {f: getattr(base, f) for f in base.__dataclass_fields__}
    st_["available"] = np.ones(6, bool)
    with_errors = RoundState(**{**st_, "waterfall_m": 0.023})
    without = RoundState(**st_)
    a = make_policy("lyapunov", {"V": 10.0}, rng).decide(with_errors)
    b = make_policy("lyapunov", {"V": 10.0}, rng).decide(without)
    sel = (a.module >= 0) & (b.module >= 0)
    assert sel.any()
    # Empty queues: energy is free, so with packet errors every selected device transmits at p_max.
    assert a.power_w[sel] == pytest.approx(with_errors.p_max_w[sel])
    assert np.all(a.packet_error_prob[sel] < 1.0)
