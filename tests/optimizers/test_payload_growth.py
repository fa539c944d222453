"""Payloads that grow with the rate (channel-adaptive top-k): policies plan their energy and split for them."""

from __future__ import annotations

import numpy as np
import pytest

import channels
from channels import airtime_s
from optimizers import POLICIES, make_policy
from optimizers.planning import predicted_energy_j
from optimizers.types import Allocation, RoundState

N0 = channels.db_to_lin(-174 - 30 + 9)  # W/Hz with a 9 dB noise figure


def _state(k=2, fill=0.5, circuit=0.0, floor=2e4, top=2e6, gains_db=(-100.0, -112.0), pool_hz=1e6):
    return RoundState(
        round_index=1,
        deadline_s=1.0,
        ranks=(4,),
        available=np.ones(k, dtype=bool),
        gain_lin=channels.db_to_lin(np.array(gains_db[:k])),
        noise_psd_w_per_hz=np.full(k, N0),
        cell=np.zeros(k, dtype=int),
        cell_bandwidth_hz=np.array([pool_hz]),
        p_max_w=np.full(k, 0.2),
        payload_bits=np.full((k, 1), floor),
        compute_time_s=np.full((k, 1), 0.2),
        compute_energy_j=np.full((k, 1), 0.1),
        downlink_time_s=np.full(k, 0.05),
        energy_budget_j=np.full(k, np.inf),
        num_samples=np.full(k, 10.0),
        circuit_power_w=np.full(k, circuit),
        payload_fill=None if fill is None else fill,
        payload_max_bits=None if fill is None else np.full((k, 1), top),
    )


def _rate(st, p, b):
    return channels.shannon_rate_bps(b, power_w=p, gain_lin=st.gain_lin, noise_psd_w_per_hz=st.noise_psd_w_per_hz)


def test_airtime_is_the_floor_the_window_share_or_the_ceiling():
    rate = np.array([1e4, 1e5, 1e7])
    air = airtime_s(2e4, rate, fill_s=0.4, max_bits=2e6)
    assert np.allclose(air, [2.0, 0.4, 0.2])  # floor longer than the share; the share; the ceiling sent sooner
    assert np.allclose(airtime_s(2e4, rate), 2e4 / rate)  # fixed payloads


def test_predicted_energy_counts_the_grown_payload():
    st = _state(circuit=0.1)
    p, b = np.array([0.1, 0.2]), np.array([5e5, 5e5])
    alloc = Allocation(module=np.zeros(2, dtype=int), power_w=p, bandwidth_hz=b, skip_reason=("", ""))
    window = (1.0 - 0.05 - 0.2) * (1 - 1e-3)
    r = _rate(st, p, b)
    air = np.maximum(2e4 / r, np.minimum(0.5 * window, 2e6 / r))
    assert np.allclose(predicted_energy_j(st, alloc), 0.1 + (p + 0.1) * air)
    fixed = predicted_energy_j(_state(fill=None, circuit=0.1), alloc)
    assert np.all(predicted_energy_j(st, alloc) > fixed)  # a growing payload stays on air longer


@pytest.mark.parametrize("circuit", [0.0, 0.1])
def test_energy_min_split_is_minimal_for_growing_payloads(circuit):
    """Brute force over the bandwidth split and both powers: no plan spends less than energy-min's."""
    st = _state(circuit=circuit)
    a = make_policy("energy-min", {}, np.random.default_rng(0)).decide(st)
    assert (a.module == 0).all()
    planned = predicted_energy_j(st, a).sum()
    window = st.upload_window_s()[:, 0]
    share = np.linspace(0.01, 0.99, 197)[:, None, None, None]
    powers = np.geomspace(1e-6, 0.2, 120)
    p = np.stack(np.broadcast_arrays(powers[None, :, None], powers[None, None, :]), axis=-1)  # [1, P, P, 2]
    b = np.concatenate([share, 1 - share], axis=-1) * 1e6  # [S, 1, 1, 2]
    r = channels.shannon_rate_bps(b, power_w=p, gain_lin=st.gain_lin, noise_psd_w_per_hz=N0)
    fits = np.all(2e4 / r <= window, axis=-1)
    energy = np.sum(0.1 + (p + circuit) * airtime_s(2e4, r, fill_s=0.5 * window, max_bits=2e6), axis=-1)
    best = float(np.min(np.where(fits, energy, np.inf)))
    assert planned <= best * (1 + 1e-3)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_plans_growing_payloads_within_the_floor(name):
    """A selected device can send at least the floor in its window: the planned airtime of the floor fits."""
    params = {"fixed": {"rank": 4, "power_w": 0.1, "bandwidth_hz": 4e5}}.get(name, {})
    st = _state(k=2, gains_db=(-100.0, -105.0))
    a = make_policy(name, params, np.random.default_rng(1)).decide(st)
    sel = a.module >= 0
    assert sel.any()
    r = _rate(st, a.power_w, a.bandwidth_hz)
    assert np.all(2e4 / r[sel] <= st.upload_window_s()[sel, 0] * (1 + 1e-6))
    assert np.all(np.isfinite(predicted_energy_j(st, a)))


def test_payload_fill_is_checked():
    with pytest.raises(ValueError, match="give both or neither"):
        RoundState(**{**_state().__dict__, "payload_max_bits": None})
    with pytest.raises(ValueError, match=r"payload_fill: must be in \(0, 1\]"):
        RoundState(**{**_state().__dict__, "payload_fill": 1.5})
