"""Spatially consistent LOS and shadowing: σ follows the LOS state, LOS states correlate along the track."""

from __future__ import annotations

import math

import numpy as np
import pytest

import channels
from fedwireless.rng import Streams
from fedwireless.scenario import validate
from fedwireless.sim.world import World

PROB_TOL = 0.01


def test_rma_los_sigma_is_4_db_before_the_breakpoint_and_6_beyond():
    dbp = 2 * math.pi * 35.0 * 1.5 * 3.5e9 / 3.0e8  # 3,848 m
    d = np.array([100.0, dbp - 1, dbp + 1, 8000.0])
    sigma = channels.shadowing_sigma_db("rma", True, d2d_m=d, fc_hz=3.5e9)
    assert sigma.tolist() == [4.0, 4.0, 6.0, 6.0]
    assert channels.shadowing_sigma_db("rma", False, d2d_m=d, fc_hz=3.5e9).tolist() == [8.0] * 4
    assert [channels.los_correlation_distance_m(m) for m in ("uma", "umi", "rma")] == [50.0, 50.0, 60.0]
    assert [channels.rician_k_factor_db(m) for m in ("uma", "umi", "rma")] == [9.0, 9.0, 7.0]


@pytest.mark.parametrize("moved_m", [5.0, 25.0, 100.0])
def test_los_state_keeps_its_value_as_the_gaussian_field_correlates(moved_m):
    """At P_LOS = 1/2, P(same state after moving Δd) = 1/2 + arcsin(ρ)/π with ρ = exp(−Δd/d_corr)."""
    n, d_corr = 200_000, channels.los_correlation_distance_m("uma")
    rng = np.random.default_rng(3)
    proc = channels.ShadowingProcess(rng.standard_normal(n), 1.0, d_corr, rng)
    before = channels.los_from_gaussian(0.5, proc.shadow_db)
    after = channels.los_from_gaussian(0.5, proc.step(np.full(n, moved_m)))
    rho = math.exp(-moved_m / d_corr)
    assert np.mean(before == after) == pytest.approx(0.5 + math.asin(rho) / math.pi, abs=PROB_TOL)
    assert np.mean(after) == pytest.approx(0.5, abs=PROB_TOL)


def world(model: str) -> World:
    sc = validate(
        {
            "seed": 4,
            "base_stations": [{"carrier_ghz": 3.5, "pathloss": {"model": model}}],
            "channel": {"fading": {"kind": "rician"}, "shadowing": {"enabled": True}},
            "devices": [
                {
                    "count": 300,
                    "placement": {"kind": "disc", "radius_m": 1500 if model == "rma" else 400},
                    "mobility": {"kind": "random-waypoint", "speed_mps": [20, 30]},
                }
            ],
            "surrogate": {},
        }
    )
    return World.from_scenario(sc, Streams(sc.seed))


@pytest.mark.parametrize("model", ["uma", "rma"])
def test_world_sigma_follows_the_los_state_as_devices_move(model):
    w = world(model)
    flips = 0
    los0 = w.los.copy()
    for t in range(1, 21):
        w.advance_to(t * 2.0)
        d = np.linalg.norm(w.pos_m - w.bs_pos_m[0], axis=-1)
        sigma = channels.shadowing_sigma_db(model, w.los[:, 0], d2d_m=np.maximum(d, 1.0), fc_hz=3.5e9)
        assert w.shadow_db[:, 0] == pytest.approx(sigma * w._shadow_u[:, 0])
        flips += int(np.sum(w.los[:, 0] != los0[:, 0]))
        los0 = w.los.copy()
    assert flips > 0  # devices did change LOS state, and σ followed
    # Rician K defaults to the model's value (RMa 7 dB, UMa 9 dB).
    k = w._fading_params()["k_factor_db"]
    assert np.all(k == channels.rician_k_factor_db(model))


def test_placement_beyond_the_models_range_is_refused():
    from fedwireless.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="beyond the uma path-loss model's 5,000 m range"):
        validate({"devices": [{"placement": {"kind": "disc", "radius_m": 50_000}}], "surrogate": {}})
