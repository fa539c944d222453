"""Link-level formulas: noise, Shannon rate, airtime, transmit energy, packet errors, minimum bandwidth.

Sources: Shannon capacity; thermal noise k·T·B (Johnson–Nyquist), −174 dBm/Hz at 290 K;
packet error rate of Chen et al., "A joint learning and communications framework for federated
learning over wireless networks", IEEE TWC 2021 (arXiv 1909.07972), eq. (3); minimum bandwidth in
closed form through the Lambert W function (Yang et al., IEEE TWC 2021, arXiv 1911.02417, §III).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

BOLTZMANN_J_PER_K = 1.380649e-23
REFERENCE_TEMPERATURE_K = 290.0
LN2 = float(np.log(2.0))


def thermal_noise_psd_w_per_hz(noise_figure_db: ArrayLike = 0.0) -> np.ndarray:
    """Noise power spectral density k·T·10^(NF/10) in W/Hz (T = 290 K: −173.98 dBm/Hz at NF = 0)."""
    nf = np.asarray(noise_figure_db, dtype=float)
    return BOLTZMANN_J_PER_K * REFERENCE_TEMPERATURE_K * np.power(10.0, nf / 10.0)


def snr_lin(
    power_w: ArrayLike,
    gain_lin: ArrayLike,
    noise_psd_w_per_hz: ArrayLike,
    bandwidth_hz: ArrayLike,
    interference_w: ArrayLike = 0.0,
) -> np.ndarray:
    """p·g / (N0·b + I)."""
    noise = np.asarray(noise_psd_w_per_hz, float) * np.asarray(bandwidth_hz, float)
    if not (np.isscalar(interference_w) and interference_w == 0):
        noise = noise + np.asarray(interference_w, float)
    return np.asarray(power_w, float) * np.asarray(gain_lin, float) / noise


def snr_db(
    power_w: ArrayLike, gain_lin: ArrayLike, noise_psd_w_per_hz: ArrayLike, bandwidth_hz: ArrayLike
) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(snr_lin(power_w, gain_lin, noise_psd_w_per_hz, bandwidth_hz))


def shannon_rate_bps(
    bandwidth_hz: ArrayLike,
    *,
    power_w: ArrayLike,
    gain_lin: ArrayLike,
    noise_psd_w_per_hz: ArrayLike,
    interference_w: ArrayLike = 0.0,
) -> np.ndarray:
    """r = b·log2(1 + p·g/(N0·b + I)) in bit/s; 0 where b = 0."""
    b = np.asarray(bandwidth_hz, dtype=float)
    if np.any(b < 0):
        raise ValueError(f"bandwidth_hz: must be >= 0, got {b[b < 0].ravel()[:3].tolist()}")
    with np.errstate(divide="ignore", invalid="ignore"):
        r = rate_from_snr_bps(b, snr_lin(power_w, gain_lin, noise_psd_w_per_hz, b, interference_w))
    return np.where(b > 0, r, 0.0)


def rate_from_snr_bps(bandwidth_hz: ArrayLike, snr: ArrayLike) -> np.ndarray:
    """b·log2(1 + SNR) bit/s at a linear SNR already known (no checks: solvers mask their inputs)."""
    return np.asarray(bandwidth_hz, dtype=float) * np.log2(1.0 + np.asarray(snr, dtype=float))


def airtime_s(
    bits: ArrayLike, rate_bps: ArrayLike, *, fill_s: ArrayLike = 0.0, max_bits: ArrayLike = np.inf
) -> np.ndarray:
    """Seconds on air (inf at zero rate). A fixed payload: bits / rate. A payload that fills `fill_s` seconds
    of its window (channel-adaptive top-k) sends min(fill_s·rate, max_bits) bits, never fewer than `bits`."""
    rate = np.asarray(rate_bps, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        fixed = np.asarray(bits, dtype=float) / rate
        if (isinstance(fill_s, float | int) and fill_s == 0) or np.all(np.asarray(fill_s) == 0.0):
            return fixed  # a fixed payload (the engine's per-chunk call takes this path without an array test)
        return np.maximum(fixed, np.minimum(fill_s, np.asarray(max_bits, dtype=float) / rate))


def tx_energy_j(power_w: ArrayLike, airtime_s: ArrayLike, circuit_power_w: ArrayLike = 0.0) -> np.ndarray:
    """Transmit energy (p + P_c)·t: radiated power plus the transmit chain's circuit power over the airtime."""
    return (np.asarray(power_w, dtype=float) + np.asarray(circuit_power_w, dtype=float)) * np.asarray(
        airtime_s, dtype=float
    )


def packet_error_rate(
    power_w: ArrayLike,
    gain_lin: ArrayLike,
    bandwidth_hz: ArrayLike,
    noise_psd_w_per_hz: ArrayLike,
    interference_w: ArrayLike = 0.0,
    waterfall_m: float = 0.023,
) -> np.ndarray:
    """q = 1 − exp(−m·(I + b·N0)/(p·g)) (Chen et al. 2021, eq. 3; m is the waterfall threshold)."""
    if not waterfall_m > 0:
        raise ValueError(f"waterfall_m: must be > 0, got {waterfall_m}")
    return 1.0 - packet_success_prob(
        snr_lin(power_w, gain_lin, noise_psd_w_per_hz, bandwidth_hz, interference_w), waterfall_m=waterfall_m
    )


def packet_success_prob(snr: ArrayLike, *, waterfall_m: float) -> np.ndarray:
    """1 − q = exp(−m/SNR): the chance an upload at linear SNR `snr` arrives intact (Chen et al. 2021, eq. 3)."""
    with np.errstate(divide="ignore"):
        return np.exp(-(waterfall_m / np.asarray(snr, dtype=float)))


def min_bandwidth_hz(
    bits: ArrayLike, *, time_s: ArrayLike, power_w: ArrayLike, gain_lin: ArrayLike, noise_psd_w_per_hz: ArrayLike
) -> np.ndarray:
    """Smallest b with b·log2(1 + p·g/(N0·b))·t ≥ s, in closed form (Yang et al., IEEE TWC 2021, arXiv 1911.02417).

    With a = p·g/N0 and c = s·N0·ln2/(t·g·p): x = −W₋₁(−c·e^(−c))/c − 1 and b = a/x. The rate
    grows with b towards a/ln2, so where s/t ≥ a/ln2 no bandwidth suffices and the result is inf.
    u = −W₋₁(−c·e^(−c)) > 1 solves ln u − u = ln c − c: from its expansions at c → 1 and c → 0, three
    Newton steps on that equation, then every result is polished by a few Newton steps on the exact
    equation b·log2(1 + a/b) = s/t (W₋₁ loses precision at tiny c, where bits are far below what the link carries).
    """
    s = np.asarray(bits, dtype=float)
    t = np.asarray(time_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    g = np.asarray(gain_lin, dtype=float)
    n0 = np.asarray(noise_psd_w_per_hz, dtype=float)
    for name, v in (("bits", s), ("time_s", t), ("power_w", p), ("gain_lin", g), ("noise_psd_w_per_hz", n0)):
        if np.any(np.isnan(v)):
            raise ValueError(f"{name}: must not be NaN")
    if np.any(s < 0):
        raise ValueError(f"bits: must be >= 0, got {s[s < 0].ravel()[:3].tolist()}")
    s, t, p, g, n0 = np.broadcast_arrays(s, t, p, g, n0)
    a = p * g / n0  # received SNR·bandwidth, Hz
    with np.errstate(divide="ignore", invalid="ignore"):
        c = s * LN2 / (t * a)
        feasible = (t > 0) & (a > 0) & (c < 1.0)
        cc = np.where(feasible, c, 0.5)
        d = np.log(cc) - cc
        u = np.where(cc > 0.25, 2.0 - cc + (2.0 / 3.0) * (1.0 - cc) ** 2, np.log(-d) - d)
        for _ in range(3):
            u = u - (np.log(u) - u - d) / (1.0 / u - 1.0)
        x = u / c - 1.0
        b = a / x
    # Newton refinement on f(b) = b·log2(1 + a/b) − s/t (increasing and concave in b).
    target = np.where(feasible, s / np.where(t > 0, t, 1.0), 0.0)
    b = np.where(feasible & np.isfinite(b) & (b > 0), b, np.maximum(target, 1.0))
    for _ in range(6):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = a / b
            f = b * np.log2(1.0 + ratio) - target
            df = np.log2(1.0 + ratio) - ratio / ((1.0 + ratio) * LN2)
            step = np.where(feasible & (df > 0), f / df, 0.0)
        b = np.maximum(b - step, b * 0.5)
    out = np.where(feasible, b, np.inf)
    return np.where(s == 0, 0.0, out)
