"""Statistical checks of fading and shadowing (fixed seeds, named tolerances) and link round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

import channels

KS_PVALUE_MIN = 1e-3  # reject a distribution only on strong evidence
N_SAMPLES = 200_000
MEAN_TOL = 0.01  # |sample mean − 1| for unit-mean gains at N_SAMPLES
CORR_TOL = 0.02  # |empirical − theoretical| correlation
COV_REL_TOL = 0.05


def test_fading_distributions_and_unit_mean():
    rng = np.random.default_rng(0)
    ray = channels.sample_fading("rayleigh", N_SAMPLES, rng)
    assert stats.kstest(ray, stats.expon().cdf).pvalue > KS_PVALUE_MIN
    m = 2.5
    nak = channels.sample_fading("nakagami", N_SAMPLES, rng, m=m)
    assert stats.kstest(nak, stats.gamma(m, scale=1 / m).cdf).pvalue > KS_PVALUE_MIN
    k = 10 ** (9 / 10)
    ric = channels.sample_fading("rician", N_SAMPLES, rng, k_factor_db=9.0)
    # |h|² with h = sqrt(K/(K+1)) + CN(0, 1/(K+1)): scaled non-central chi-square, 2 dof, nc = 2K.
    assert stats.kstest(ric, stats.ncx2(2, 2 * k, scale=1 / (2 * (k + 1))).cdf).pvalue > KS_PVALUE_MIN
    for gains in (ray, nak, ric):
        assert abs(gains.mean() - 1) < MEAN_TOL
    assert np.all(channels.sample_fading("none", 4, rng) == 1)


ACF_LINKS = 12_000  # links averaged for the empirical autocorrelation (its std is about 0.01 per lag)


@pytest.mark.parametrize("step_in_doppler_periods", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("kind", ["rayleigh", "rician"])
def test_fading_autocorrelation_is_j0_at_every_lag_whatever_the_step(kind, step_in_doppler_periods):
    """Re E[h(t)·h*(t+τ)] minus the LOS part follows J0(2π·f_D·τ) for τ in [0, 3/f_D] (Clarke)."""
    k_db = 6.0
    proc = channels.FadingProcess(
        kind, ACF_LINKS, np.random.default_rng(1), **({"k_factor_db": k_db} if kind == "rician" else {})
    )
    speed, fc = 1.2, 3.5e9  # pedestrian at 3.5 GHz: f_D = 14 Hz
    f_d = float(channels.doppler_hz(speed, fc))
    dt = step_in_doppler_periods / f_d
    steps = int(round(3.0 / step_in_doppler_periods))
    w = [proc.w.copy()]
    gains = []
    for _ in range(steps):
        gains.append(proc.advance(dt, speed, fc))
        w.append(proc.w.copy())
    w = np.array(w)
    for lag in range(0, steps + 1, max(1, steps // 30)):
        acf = np.real(np.mean(w[0] * np.conj(w[lag])))
        assert acf == pytest.approx(special.j0(2 * math.pi * f_d * lag * dt), abs=CORR_TOL), lag
    assert abs(np.mean(gains) - 1) < MEAN_TOL


def test_coarse_and_fine_sampling_of_one_process_agree():
    """Same seed, steps of 1 ms or 50 ms: identical gains at the shared instants (no step-size dependence)."""
    fine = channels.FadingProcess("rician", 500, np.random.default_rng(5), k_factor_db=3.0)
    coarse = channels.FadingProcess("rician", 500, np.random.default_rng(5), k_factor_db=3.0)
    speeds = np.random.default_rng(6).uniform(0, 30, 500)
    for _ in range(4):
        for _ in range(50):
            g_fine = fine.advance(0.001, speeds, 2e9)
        g_coarse = coarse.advance(0.05, speeds, 2e9)
        assert g_fine == pytest.approx(g_coarse, rel=1e-9, abs=1e-12)


def test_static_links_keep_their_channel_and_rician_power_is_one():
    proc = channels.FadingProcess("rician", 50_000, np.random.default_rng(7), k_factor_db=9.0)
    g0 = proc.gain_lin()
    assert proc.advance(10.0, 0.0, 3.5e9) == pytest.approx(g0)
    assert abs(proc.advance(1.0, 3.0, 3.5e9).mean() - 1) < MEAN_TOL


def test_gauss_markov_is_wrong_beyond_one_step():
    """Why the sum of sinusoids replaced AR(1): at f_D·τ = 0.4 with small steps AR(1) stays near 1, J0 is −0.05."""
    f_d_target, fc = 14.0, 3.5e9
    speed = f_d_target * channels.pathloss.SPEED_OF_LIGHT_MPS / fc
    old = channels.fading.GaussMarkovFading(20_000, np.random.default_rng(8))
    w0 = old.w.copy()
    for _ in range(40):
        old.advance(0.01 / f_d_target, speed, fc)
    assert np.real(np.mean(w0 * np.conj(old.w))) > 0.9
    assert special.j0(2 * math.pi * 0.4) < 0


def test_correlated_shadowing_covariance():
    rng = np.random.default_rng(2)
    pos = np.array([[0, 0], [10, 0], [40, 0], [0, 100]], dtype=float)
    sigma, d_corr = 6.0, 37.0
    draws = np.stack([channels.correlated_shadowing_db(pos, sigma, d_corr, rng) for _ in range(20_000)])
    cov = np.cov(draws.T)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    assert cov == pytest.approx(sigma**2 * np.exp(-dist / d_corr), rel=COV_REL_TOL, abs=COV_REL_TOL * sigma**2)


def test_shadowing_process_lag_correlation():
    rng = np.random.default_rng(3)
    n, sigma, d_corr, moved = 100_000, 8.0, 50.0, 20.0
    proc = channels.ShadowingProcess(rng.normal(0, sigma, n), sigma, d_corr, rng)
    before = proc.shadow_db.copy()
    after = proc.step(np.full(n, moved))
    assert np.corrcoef(before, after)[0, 1] == pytest.approx(math.exp(-moved / d_corr), abs=CORR_TOL)
    assert after.std() == pytest.approx(sigma, rel=COV_REL_TOL)


def test_noise_psd_is_minus_174_dbm_per_hz():
    assert float(channels.w_to_dbm(channels.thermal_noise_psd_w_per_hz(0.0))) == pytest.approx(-174.0, abs=0.03)
    assert float(channels.w_to_dbm(channels.thermal_noise_psd_w_per_hz(7.0))) == pytest.approx(-167.0, abs=0.03)


def test_min_bandwidth_round_trip():
    rng = np.random.default_rng(4)
    n = 2000
    bits = 10 ** rng.uniform(0, 7, n)
    t = rng.uniform(0.01, 5, n)
    p = rng.uniform(0.001, 0.2, n)
    g = 10 ** -rng.uniform(8, 13, n)
    n0 = float(channels.thermal_noise_psd_w_per_hz(5.0))
    b = channels.min_bandwidth_hz(bits, time_s=t, power_w=p, gain_lin=g, noise_psd_w_per_hz=n0)
    ok = np.isfinite(b)
    assert ok.mean() > 0.3
    airtime = channels.airtime_s(
        bits[ok], channels.shannon_rate_bps(b[ok], power_w=p[ok], gain_lin=g[ok], noise_psd_w_per_hz=n0)
    )
    assert airtime == pytest.approx(t[ok], rel=1e-9)
    # inf exactly where the rate limit p·g/(N0·ln 2) cannot carry the bits in time.
    limit = p * g / (n0 * math.log(2)) * t
    assert np.all(~ok == (bits >= limit))
    assert channels.min_bandwidth_hz(0.0, time_s=1.0, power_w=0.1, gain_lin=1e-10, noise_psd_w_per_hz=n0) == 0.0


def test_yang2021_worked_numbers():
    """Yang et al. 2021: κ 1e-28, C 2e4 cycles/sample, D 500, f 2 GHz; 36.814, 10 dBm, −174 dBm/Hz."""
    kappa, c, d_samples, f = 1e-28, 2e4, 500, 2e9
    assert channels.compute_time_s_cycles(c, d_samples, f) == pytest.approx(c * d_samples / f)  # 5 ms
    assert channels.compute_energy_j_cycles(kappa, c, d_samples, f) == pytest.approx(kappa * c * d_samples * f**2)
    s_bits, b_hz, p_w, d_m = 28.1e3, 1e6, 0.01, 250.0
    g = 10 ** (-(128.1 + 37.6 * math.log10(d_m / 1000)) / 10)
    n0 = 10 ** ((-174 - 30) / 10)
    rate = b_hz * math.log2(1 + p_w * g / (n0 * b_hz))
    n0_code = float(channels.thermal_noise_psd_w_per_hz(0.0))
    got = float(channels.shannon_rate_bps(b_hz, power_w=p_w, gain_lin=g, noise_psd_w_per_hz=n0_code))
    assert got == pytest.approx(rate, rel=2e-3)  # k·T vs the rounded −174 dBm/Hz
    assert float(channels.tx_energy_j(p_w, channels.airtime_s(s_bits, got))) == pytest.approx(
        p_w * s_bits / rate, rel=2e-3
    )


def test_packet_error_rate_and_flop_energy():
    q = channels.packet_error_rate(0.1, 1e-10, 1e6, 4e-21, interference_w=1e-15)
    assert float(q) == pytest.approx(1 - math.exp(-0.023 * (1e-15 + 1e6 * 4e-21) / (0.1 * 1e-10)))
    assert channels.compute_energy_j_flops(1e9, j_per_flop=1e-10) == pytest.approx(0.1)
    assert channels.compute_energy_j_flops(1e9, kappa=1e-28, cpu_hz=2e9, flops_per_cycle=4) == pytest.approx(
        1e-28 * 2.5e8 * 4e18
    )
