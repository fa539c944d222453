"""Path loss (UMa with a LOS draw) + Rayleigh fading + Shannon rate for 10⁶ device-samples:
vectorized `channels` vs a scalar Python loop (timed on 2·10⁴ samples and scaled, as the loop is slow)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import channels  # noqa: E402

N = 1_000_000
N_LOOP = 20_000
FC_HZ, B_HZ, P_W = 3.5e9, 20e6, 0.2
N0 = float(channels.thermal_noise_psd_w_per_hz(5.0))
C = 299_792_458.0


def vectorized(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    los = rng.random(len(d)) < channels.los_probability("uma", d)
    pl = channels.pathloss_db("uma", d, FC_HZ, los=los)
    g = channels.db_to_lin(-pl) * channels.sample_fading("rayleigh", len(d), rng)
    return channels.shannon_rate_bps(B_HZ, power_w=P_W, gain_lin=g, noise_psd_w_per_hz=N0)


def scalar(d: np.ndarray, rng: np.random.Generator) -> list[float]:
    out = []
    fc = FC_HZ / 1e9
    for x in d:
        p_los = 1.0 if x <= 18 else 18 / x + math.exp(-x / 63) * (1 - 18 / x)
        d3 = math.sqrt(x * x + 23.5**2)
        dbp = 4 * 24 * 0.5 * FC_HZ / C
        pl_los = (
            28 + 22 * math.log10(d3) + 20 * math.log10(fc)
            if x <= dbp
            else 28 + 40 * math.log10(d3) + 20 * math.log10(fc) - 9 * math.log10(dbp**2 + 23.5**2)
        )
        pl = pl_los if rng.random() < p_los else max(pl_los, 13.54 + 39.08 * math.log10(d3) + 20 * math.log10(fc))
        g = 10 ** (-pl / 10) * rng.exponential()
        out.append(B_HZ * math.log2(1 + P_W * g / (N0 * B_HZ)))
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    d = rng.uniform(10, 1000, N)
    t0 = time.perf_counter()
    vectorized(d, rng)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    scalar(d[:N_LOOP], rng)
    t_loop = (time.perf_counter() - t0) * N / N_LOOP
    print(f"path loss + LOS draw + Rayleigh fading + Shannon rate, {N:,} device-samples")
    print(f"{'implementation':28s} {'seconds':>9s} {'samples/s':>14s}")
    print(f"{'channels (vectorized)':28s} {t_vec:9.3f} {N / t_vec:14,.0f}")
    print(f"{'scalar Python loop (scaled)':28s} {t_loop:9.3f} {N / t_loop:14,.0f}")
    print(f"speed-up: {t_loop / t_vec:.0f}x (loop timed on {N_LOOP:,} samples)")
    fading()


def fading(links: int = 10_000, instants: int = 1_000) -> None:
    """Time-correlated fading: the sum-of-sinusoids generator against the AR(1) it replaced."""
    speed, fc, dt = 1.2, 3.5e9, 0.005
    timings = {}
    for name, make in (
        ("sum of sinusoids (M = 16)", lambda: channels.FadingProcess("rayleigh", links, np.random.default_rng(1))),
        ("Gauss-Markov AR(1)", lambda: channels.fading.GaussMarkovFading(links, np.random.default_rng(1))),
    ):
        proc = make()
        t0 = time.perf_counter()
        for _ in range(instants):
            proc.advance(dt, speed, fc)
        timings[name] = time.perf_counter() - t0
    total = links * instants
    print(f"\ntime-correlated fading, {links:,} links x {instants:,} instants")
    print(f"{'generator':28s} {'seconds':>9s} {'samples/s':>14s}")
    for name, t in timings.items():
        print(f"{name:28s} {t:9.3f} {total / t:14,.0f}")
    sos, ar1 = timings["sum of sinusoids (M = 16)"], timings["Gauss-Markov AR(1)"]
    print(f"sum of sinusoids / AR(1) time: {sos / ar1:.1f}x (J0 at every lag instead of at one step)")


if __name__ == "__main__":
    main()
