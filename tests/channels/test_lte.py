"""LTE link-level relations, re-derived from the specs' definitions."""

import math

import numpy as np
import pytest

from channels import lte
from channels.fading import FadingProcess
from channels.shadowing import ar1_sequence

AR1_LAG1_ABS_TOL = 0.01  # lag-1 autocorrelation of a 200k-step AR(1) (std ≈ 0.002)


def test_mcs_table_spectral_efficiencies():
    assert len(lte.MCS_TABLE_1) == 29
    assert lte.MCS_SPECTRAL_EFFICIENCY[0] == pytest.approx(2 * 120 / 1024)
    assert lte.MCS_SPECTRAL_EFFICIENCY[-1] == pytest.approx(6 * 948 / 1024)
    # Increasing, except at the 16QAM -> 64QAM switch where the spec's MCS 17 (2.5664) sits just below 16 (2.5703).
    steps = np.diff(lte.MCS_SPECTRAL_EFFICIENCY)
    assert np.all(np.delete(steps, 16) > 0) and steps[16] == pytest.approx(-0.0039, abs=1e-4)


def test_link_adaptation_threshold_and_bler():
    req = lte.mcs_required_sinr_db(0.6)
    # α·log2(1 + SINR_m) = SE_m at the threshold.
    assert 0.6 * np.log2(1 + 10 ** (req / 10)) == pytest.approx(lte.MCS_SPECTRAL_EFFICIENCY)
    assert lte.select_mcs(req[10], 0.6) == 10
    assert lte.select_mcs(req[10] - 1e-9, 0.6) == 9
    assert lte.select_mcs(-50.0, 0.6) == 0 and lte.select_mcs(80.0, 0.6) == 28
    assert lte.block_error_rate(req[5], req[5]) == pytest.approx(0.1)
    assert lte.block_error_rate(req[5] - 20, req[5]) > 0.99
    with pytest.raises(ValueError, match="shannon_alpha"):
        lte.mcs_required_sinr_db(0.0)


def test_rsrq_empty_and_full_cell():
    # Interference- and noise-free: RSRQ = N_RB·RSRP / (12·N_RB·a·RSRP) = 1/(12a).
    for load, expected_db in ((0.0, 10 * math.log10(1 / 2)), (1.0, 10 * math.log10(1 / 12))):
        a = lte.resource_element_activity(load)
        assert lte.rsrq_db(100, 1e-12, a * 1e-12) == pytest.approx(expected_db)
    assert lte.reported_rsrq_db(-30.0) == -19.5 and lte.reported_rsrp_dbm(-20.0) == -44.0


def test_rsrp_noise_and_rate():
    # 46 dBm over 100 RBs: 46 − 10·log10(1200) per RE, minus the loss.
    assert lte.rsrp_per_re_dbm(46.0, 100, 120.0) == pytest.approx(46 - 10 * math.log10(1200) - 120)
    assert lte.noise_per_re_dbm(15e3, 9.0) == pytest.approx(-173.975 + 10 * math.log10(15e3) + 9, abs=1e-3)
    assert lte.peak_rate_mbps(100, 28, overhead=0.14, subcarrier_spacing_hz=30e3) == pytest.approx(
        2 * lte.peak_rate_mbps(100, 28, overhead=0.14)
    )
    assert lte.queueing_delay_ms(0.5, 6.0) == pytest.approx(6.0) and lte.LTE_BANDS["B3"][0] == 1842.5
    retx = lte.harq_retransmissions(np.full(20000, 0.1), np.random.default_rng(0), max_retx=4)
    assert retx.max() <= 4 and retx.mean() == pytest.approx(0.1 / 0.9, abs=0.01)  # geometric mean BLER/(1-BLER)
    assert lte.peak_rate_mbps(100, 28, overhead=0.14) == pytest.approx(
        100 * 12 * 14 * 1000 * 6 * 948 / 1024 * 0.86 / 1e6
    )
    assert lte.impairment_limited_sinr_db(1e9, 30.0) == pytest.approx(30.0, abs=1e-5)


def test_a3_handover_hysteresis_and_filter():
    assert lte.l3_filter_weight(4) == 0.5 and lte.l3_filter_weight(0) == 1.0
    t = np.arange(40)
    # Cell 1 overtakes cell 0 at t = 10 and stays 2 dB ahead: below a 3 dB hysteresis, no handover.
    rsrp = np.stack([np.full(40, -90.0), np.where(t < 10, -100.0, -88.0)], axis=1)
    assert (lte.a3_serving_cells(rsrp, hysteresis_db=3.0, filter_coefficient=4) == 0).all()
    # 6 dB ahead: handover once the filtered difference exceeds 3 dB, after a filter lag (not at once).
    rsrp[:, 1] = np.where(t < 10, -100.0, -84.0)
    serving = lte.a3_serving_cells(rsrp, hysteresis_db=3.0, filter_coefficient=4)
    first = int(np.argmax(serving == 1))
    assert 10 < first < 15 and (serving[first:] == 1).all() and (serving[:first] == 0).all()
    # Samples 1 s apart: five 200 ms filter steps per sample, so the handover comes at the next sample.
    slow = lte.a3_serving_cells(rsrp, hysteresis_db=3.0, filter_coefficient=4, sample_period_s=1.0)
    assert int(np.argmax(slow == 1)) == 10


def test_ar1_sequence_lag1_correlation():
    rho = math.exp(-1 / 37)
    x = ar1_sequence(200_000, rho, np.random.default_rng(1))
    assert np.corrcoef(x[:-1], x[1:])[0, 1] == pytest.approx(rho, abs=AR1_LAG1_ABS_TOL)
    assert x.std() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="rho"):
        ar1_sequence(10, 1.5, np.random.default_rng(1))


def test_fading_envelope_over_a_time_axis_matches_instants():
    # Evaluating [T, num] at once equals T single-instant evaluations; a blocked LOS gives the diffuse part.
    proc = FadingProcess("rician", 6, np.random.default_rng(2), k_factor_db=9.0)
    d = np.linspace(0.0, 30.0, 7)[:, None] * np.ones(6)
    fc = np.full(6, 2e9)
    series = proc.envelope_at(d, fc)
    for i in range(len(d)):
        assert np.allclose(series[i], proc.envelope_at(d[i], fc))
    blocked = proc.envelope_at(d, fc, los=np.zeros_like(d, dtype=bool))
    k_wave = 2 * np.pi * fc / 299_792_458.0
    assert np.allclose(blocked, proc.diffuse_at(d, k_wave))
