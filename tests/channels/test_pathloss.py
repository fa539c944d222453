"""Path loss and LOS probability: vectorized code vs plain scalar re-derivations of the spec text.

TR 38.901 Table 7.4.1-1 (fc in GHz, distances in m, d'BP = 4 h'BS h'UT fc/c with h' = h − 1 m),
Table 7.4.2-1 (LOS probability); TR 36.814 macro; Friis free space.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import channels

C = 3.0e8  # TR 38.901 Table 7.4.1-1 note 1: the breakpoint distance uses c = 3.0·10⁸ m/s
C_EXACT = 299_792_458.0  # Friis
DB_TOL = 1e-9


def uma_scalar(d2d, fc_ghz, h_bs, h_ut, los):
    d3d = math.sqrt(d2d**2 + (h_bs - h_ut) ** 2)
    dbp = 4 * (h_bs - 1) * (h_ut - 1) * fc_ghz * 1e9 / C
    if d2d <= dbp:
        pl_los = 28.0 + 22 * math.log10(d3d) + 20 * math.log10(fc_ghz)
    else:
        pl_los = 28.0 + 40 * math.log10(d3d) + 20 * math.log10(fc_ghz) - 9 * math.log10(dbp**2 + (h_bs - h_ut) ** 2)
    if los:
        return pl_los
    pl_nlos = 13.54 + 39.08 * math.log10(d3d) + 20 * math.log10(fc_ghz) - 0.6 * (h_ut - 1.5)
    return max(pl_los, pl_nlos)


def umi_scalar(d2d, fc_ghz, h_bs, h_ut, los):
    d3d = math.sqrt(d2d**2 + (h_bs - h_ut) ** 2)
    dbp = 4 * (h_bs - 1) * (h_ut - 1) * fc_ghz * 1e9 / C
    if d2d <= dbp:
        pl_los = 32.4 + 21 * math.log10(d3d) + 20 * math.log10(fc_ghz)
    else:
        pl_los = 32.4 + 40 * math.log10(d3d) + 20 * math.log10(fc_ghz) - 9.5 * math.log10(dbp**2 + (h_bs - h_ut) ** 2)
    if los:
        return pl_los
    return max(pl_los, 35.3 * math.log10(d3d) + 22.4 + 21.3 * math.log10(fc_ghz) - 0.3 * (h_ut - 1.5))


def rma_scalar(d2d, fc_ghz, h_bs, h_ut, los, h=5.0, w=20.0):
    d3d = math.sqrt(d2d**2 + (h_bs - h_ut) ** 2)
    dbp = 2 * math.pi * h_bs * h_ut * fc_ghz * 1e9 / C

    def pl1(d):
        return (
            20 * math.log10(40 * math.pi * d * fc_ghz / 3)
            + min(0.03 * h**1.72, 10) * math.log10(d)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * math.log10(h) * d
        )

    pl_los = pl1(d3d) if d2d <= dbp else pl1(dbp) + 40 * math.log10(d3d / dbp)
    if los:
        return pl_los
    pl_nlos = (
        161.04
        - 7.1 * math.log10(w)
        + 7.5 * math.log10(h)
        - (24.37 - 3.7 * (h / h_bs) ** 2) * math.log10(h_bs)
        + (43.42 - 3.1 * math.log10(h_bs)) * (math.log10(d3d) - 3)
        + 20 * math.log10(fc_ghz)
        - (3.2 * math.log10(11.75 * h_ut) ** 2 - 4.97)
    )
    return max(pl_los, pl_nlos)


DISTANCES = [10, 35, 80, 150, 300, 600, 1200, 2500, 5000]


@pytest.mark.parametrize(
    ("model", "scalar", "h_bs", "carriers"),
    [
        ("uma", uma_scalar, 25.0, [0.7, 3.5, 28.0]),
        ("umi", umi_scalar, 10.0, [0.7, 3.5, 28.0]),
        ("rma", rma_scalar, 35.0, [0.7, 3.5, 6.0]),
    ],
)
@pytest.mark.parametrize("h_ut", [1.5, 5.0])
@pytest.mark.parametrize("los", [True, False])
def test_3gpp_models_match_scalar_spec(model, scalar, h_bs, carriers, h_ut, los):
    for fc in carriers:
        got = channels.pathloss_db(model, np.array(DISTANCES, float), fc * 1e9, los=los, h_bs_m=h_bs, h_ut_m=h_ut)
        want = [scalar(d, fc, h_bs, h_ut, los) for d in DISTANCES]
        assert got == pytest.approx(want, abs=DB_TOL)


def test_breakpoint_branches_are_both_exercised():
    dbp = 4 * 24 * 0.5 * 3.5e9 / C  # UMa, hBS 25, hUT 1.5
    assert DISTANCES[0] < dbp < DISTANCES[-1]


def test_legacy_free_space_and_log_distance():
    d = np.array([10.0, 100.0, 1000.0])
    assert channels.pathloss_db("36.814", d, 2e9, los=False) == pytest.approx(
        [128.1 + 37.6 * math.log10(max(x, 35.0) / 1000) for x in d],
        abs=DB_TOL,  # TR 36.814: at least 35 m
    )
    d3d = np.sqrt(d**2 + 23.5**2)
    assert channels.pathloss_db("free-space", d, 2e9, los=True) == pytest.approx(
        [20 * math.log10(4 * math.pi * x * 2e9 / C_EXACT) for x in d3d], abs=DB_TOL
    )
    got = channels.pathloss_db("log-distance", d, 2e9, los=True, pl0_db=40.0, d0_m=1.0, exponent=3.5)
    assert got == pytest.approx([40 + 35 * math.log10(x) for x in d3d], abs=DB_TOL)


def los_scalar(model, d2d, h_ut):
    if model == "umi":
        return 1.0 if d2d <= 18 else 18 / d2d + math.exp(-d2d / 36) * (1 - 18 / d2d)
    if model == "rma":
        return 1.0 if d2d <= 10 else math.exp(-(d2d - 10) / 1000)
    if d2d <= 18:
        return 1.0
    c = 0.0 if h_ut <= 13 else ((h_ut - 13) / 10) ** 1.5
    return (18 / d2d + math.exp(-d2d / 63) * (1 - 18 / d2d)) * (1 + c * 5 / 4 * (d2d / 100) ** 3 * math.exp(-d2d / 150))


@pytest.mark.parametrize("model", ["uma", "umi", "rma"])
@pytest.mark.parametrize("h_ut", [1.5, 10.0, 22.5])
def test_los_probability_matches_scalar_spec(model, h_ut):
    d = np.array([5, 18, 19, 50, 120, 400, 2000], dtype=float)
    assert channels.los_probability(model, d, h_ut_m=h_ut) == pytest.approx(
        [los_scalar(model, x, h_ut) for x in d], abs=1e-12
    )


def test_below_minimum_distance_is_clamped():
    assert channels.pathloss_db("uma", 5.0, 3.5e9, los=True) == pytest.approx(
        channels.pathloss_db("uma", 10.0, 3.5e9, los=True)
    )


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda: channels.pathloss_db("okumura", 100.0, 2e9, los=True), "model"),
        (lambda: channels.pathloss_db("uma", 0.0, 2e9, los=True), "d2d_m"),
        (lambda: channels.pathloss_db("uma", -5.0, 2e9, los=True), "d2d_m"),
        (lambda: channels.pathloss_db("uma", float("nan"), 2e9, los=True), "d2d_m"),
        (lambda: channels.pathloss_db("uma", 100.0, 200e9, los=True), "fc_hz"),
        (lambda: channels.pathloss_db("rma", 100.0, 50e9, los=True), "fc_hz"),
        (lambda: channels.pathloss_db("uma", 100.0, 2e9, los=True, exponent=3), "params"),
        (lambda: channels.pathloss_db("uma", 100.0, 2e9, los=True, h_ut_m=-1.0), "h_ut_m"),
        (lambda: channels.los_probability("nope", 100.0), "model"),
        (lambda: channels.sample_fading("weibull", 3, np.random.default_rng(0)), "kind"),
        (lambda: channels.sample_fading("rician", 3, np.random.default_rng(0), m=2), "params"),
        (lambda: channels.sample_fading("nakagami", 3, np.random.default_rng(0), m=0.2), "m"),
        (
            lambda: channels.shannon_rate_bps(-1.0, power_w=0.1, gain_lin=1e-10, noise_psd_w_per_hz=4e-21),
            "bandwidth_hz",
        ),
        (lambda: channels.compute_time_s_flops(1e9, 0.0), "flops_per_s"),
        (
            lambda: channels.min_bandwidth_hz(
                float("nan"), time_s=1.0, power_w=0.1, gain_lin=1e-10, noise_psd_w_per_hz=4e-21
            ),
            "bits",
        ),
    ],
)
def test_bad_input_names_the_argument(call, names):
    with pytest.raises(ValueError, match=names):
        call()
