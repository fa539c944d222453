"""Property-based checks: every policy, on any round state, returns a feasible allocation or explicit drops.

Round states are drawn by hypothesis over the hostile corners users reach: path gains beyond 200 dB
(and exactly zero), windows ≤ 0 (deadline shorter than downlink + compute), zero-bandwidth cells,
every device unavailable, one device, circuit power, packet errors and CPU-frequency ranges.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import channels
from optimizers import POLICIES, RoundOutcome, RoundState, make_policy
from optimizers.planning import predicted_energy_j

REASONS = {"unavailable", "no-link", "infeasible", "not-selected", "budget", "energy-cap"}
POLICY_PARAMS = {"fixed": {"rank": None, "power_w": 0.05, "bandwidth_hz": 1e3}}


@st.composite
def round_states(draw, max_devices: int = 24):
    k = draw(st.integers(1, max_devices))
    m = draw(st.integers(1, 3))
    ranks = tuple(sorted(draw(st.lists(st.integers(1, 64), min_size=m, max_size=m, unique=True))))
    cells = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    # Half the states are ordinary rounds with hostile devices mixed in; half push every knob to a corner.
    hostile = draw(st.booleans())
    pick = lambda options, ordinary: draw(st.sampled_from(options)) if hostile else ordinary  # noqa: E731
    low = pick([60.0, 100.0, 180.0], 70.0)
    loss_db = rng.uniform(low, low + pick([20.0, 80.0, 120.0], 50.0), k)
    gain = channels.db_to_lin(-loss_db)
    gain[rng.random(k) < pick([0.0, 0.3, 1.0], 0.1)] = 0.0
    pools = np.where(rng.random(cells) < pick([0.0, 0.5, 1.0], 0.0), 0.0, rng.uniform(1e5, 2e7, cells))
    bits = np.tile(np.array(ranks, float) * pick([1e3, 4e4, 1e7], 4e4), (k, 1))
    compute = np.tile(np.array(ranks, float) * 0.01, (k, 1)) * rng.uniform(0.1, 3, (k, 1))
    deadline = pick([0.01, 0.5, 3.0, 100.0], 5.0)
    downlink = rng.uniform(0, pick([0.01, 1.0, 5.0], 0.1), k)
    downlink[rng.random(k) < pick([0.0, 0.2, 1.0], 0.05)] = np.inf
    dvfs = draw(st.booleans())
    f_max = np.full(k, 2e9)
    cycles = compute * f_max[:, None]
    return RoundState(
        round_index=1,
        deadline_s=deadline,
        ranks=ranks,
        available=rng.random(k) < pick([0.0, 0.7, 1.0], 0.9),
        gain_lin=gain,
        noise_psd_w_per_hz=np.full(k, float(channels.thermal_noise_psd_w_per_hz(7.0))),
        cell=rng.integers(0, cells, k),
        cell_bandwidth_hz=pools,
        p_max_w=rng.uniform(1e-3, 0.2, k),
        payload_bits=bits,
        compute_time_s=compute,
        compute_energy_j=1e-28 * cycles * f_max[:, None] ** 2,
        downlink_time_s=downlink,
        energy_budget_j=np.where(rng.random(k) < 0.5, rng.uniform(0.01, 1, k), np.inf),
        num_samples=rng.integers(0, 200, k).astype(float),
        max_clients=draw(st.sampled_from([None, 1, 5])),
        circuit_power_w=np.full(k, draw(st.sampled_from([0.0, 0.1]))),
        waterfall_m=draw(st.sampled_from([None, 0.023])),
        cycles=cycles if dvfs else None,
        kappa=np.full(k, 1e-28) if dvfs else None,
        cpu_hz_min=f_max * rng.uniform(0.1, 1.0, k) if dvfs else None,
        cpu_hz_max=f_max if dvfs else None,
    )


def check_allocation(state: RoundState, a) -> None:
    sel = a.module >= 0
    for arr in (a.power_w, a.bandwidth_hz) + ((a.cpu_hz,) if a.cpu_hz is not None else ()):
        assert np.all(np.isfinite(arr)), arr
        assert np.all(arr >= 0)
    assert not np.any(sel & ~state.available)
    assert not np.any(sel & ~state.link_ok())
    assert np.all(a.module < len(state.ranks))
    for c, pool in enumerate(state.cell_bandwidth_hz):
        assert a.bandwidth_hz[sel & (state.cell == c)].sum() <= pool * (1 + 1e-9)
    assert np.all(a.power_w[sel] <= state.p_max_w[sel] * (1 + 1e-9))
    assert np.all(a.bandwidth_hz[sel] > 0) and np.all(a.power_w[sel] > 0)
    assert all((r == "") == s for r, s in zip(a.skip_reason, sel))
    assert set(a.skip_reason) - {""} <= REASONS
    if state.max_clients is not None:
        assert sel.sum() <= state.max_clients
    if a.cpu_hz is not None and state.cpu_hz_max is not None:
        assert np.all(a.cpu_hz[sel] <= state.cpu_hz_max[sel] * (1 + 1e-9))
        assert np.all(a.cpu_hz[sel] >= state.cpu_hz_min[sel] * (1 - 1e-9))


def check_planned_uploads_fit(state: RoundState, a) -> None:
    """Policies that plan power and bandwidth (all but uniform/fixed) must plan uploads that fit."""
    sel = np.flatnonzero(a.module >= 0)
    if len(sel) == 0:
        return
    m = a.module[sel]
    window = state.upload_window_s(a.cpu_hz)[sel, m]
    rate = channels.shannon_rate_bps(
        a.bandwidth_hz[sel],
        power_w=a.power_w[sel],
        gain_lin=state.gain_lin[sel],
        noise_psd_w_per_hz=state.noise_psd_w_per_hz[sel],
    )
    assert np.all(window > 0)
    assert np.all(state.payload_bits[sel, m] / rate <= window * (1 + 1e-6))
    assert np.all(np.isfinite(predicted_energy_j(state, a)))


PLANNING = {"random", "fixed-rank", "greedy", "energy-min", "lyapunov"}


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=round_states(), follow=round_states())
def test_policy_never_raises_and_stays_feasible(name, state, follow):
    policy = make_policy(name, POLICY_PARAMS.get(name, {}), np.random.default_rng(0))
    a = policy.decide(state)
    check_allocation(state, a)
    if name in PLANNING:
        check_planned_uploads_fit(state, a)
    sel = a.module >= 0
    policy.observe(
        RoundOutcome(1, a.module, sel, np.where(sel, 0.3, 0.0), 0.6, 0.5, rank_residual={r: 0.5 for r in state.ranks})
    )
    # A second round on a different population (other K and ranks) must not trip on the first's state.
    b = policy.decide(follow)
    check_allocation(follow, b)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policy_on_a_thousand_devices(name):
    rng = np.random.default_rng(3)
    k, ranks = 1000, (4, 8, 16)
    compute = np.tile(np.array(ranks, float) * 0.02, (k, 1)) * rng.uniform(0.5, 2, (k, 1))
    state = RoundState(
        round_index=1,
        deadline_s=3.0,
        ranks=ranks,
        available=rng.random(k) < 0.9,
        gain_lin=channels.db_to_lin(-rng.uniform(90, 210, k)),
        noise_psd_w_per_hz=np.full(k, float(channels.thermal_noise_psd_w_per_hz(5.0))),
        cell=rng.integers(0, 10, k),
        cell_bandwidth_hz=np.full(10, 20e6),
        p_max_w=np.full(k, 0.2),
        payload_bits=np.tile(np.array(ranks, float) * 4e4, (k, 1)),
        compute_time_s=compute,
        compute_energy_j=compute * 2.0,
        downlink_time_s=np.full(k, 0.05),
        energy_budget_j=np.full(k, 0.5),
        num_samples=np.full(k, 100.0),
        circuit_power_w=np.full(k, 0.1),
        waterfall_m=0.023,
    )
    a = make_policy(name, POLICY_PARAMS.get(name, {}), np.random.default_rng(0)).decide(state)
    check_allocation(state, a)
    if name in PLANNING:
        check_planned_uploads_fit(state, a)
        assert np.sum(a.module >= 0) > 100  # most devices with a usable channel get planned


def test_hopeless_devices_get_reasons_not_crashes():
    """A device 250 dB away ('no-link' when gain is 0), a deadline before the downlink ends ('infeasible')."""
    k, ranks = 3, (4,)
    state = RoundState(
        round_index=1,
        deadline_s=1.0,
        ranks=ranks,
        available=np.ones(k, bool),
        gain_lin=np.array([0.0, 1e-10, 1e-10]),
        noise_psd_w_per_hz=np.full(k, 1e-20),
        cell=np.zeros(k, int),
        cell_bandwidth_hz=np.array([1e6]),
        p_max_w=np.full(k, 0.2),
        payload_bits=np.full((k, 1), 1e5),
        compute_time_s=np.array([[0.1], [0.1], [0.1]]),
        compute_energy_j=np.full((k, 1), 0.01),
        downlink_time_s=np.array([0.1, 2.0, 0.1]),
        energy_budget_j=np.full(k, np.inf),
        num_samples=np.full(k, 10.0),
    )
    for name in sorted(POLICIES):
        a = make_policy(name, POLICY_PARAMS.get(name, {}), np.random.default_rng(0)).decide(state)
        assert a.skip_reason[0] == "no-link", name
        assert a.skip_reason[1] == "infeasible", name
        assert a.module[2] == 0, name
