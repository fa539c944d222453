"""Decision time per round for 10, 100 and 1000 devices: the Lambert-W/KKT solver vs cvxpy.

Targets at 1000 devices with the default (Lambert-W) solver: energy-min under 50 ms, lyapunov under
30 ms per decision. A second table times the full decision (circuit power, packet errors in the
power subproblem and the bandwidth split, a CPU-frequency range per device) with the default solver, at
10,000 devices too (targets for lyapunov: 20 ms at 1,000 devices, 200 ms at 10,000).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import channels  # noqa: E402
from optimizers import RoundOutcome, RoundState, make_policy  # noqa: E402

REPEATS = {10: 20, 100: 10, 1000: 3, 10_000: 2}


def state(k: int, rng: np.random.Generator, full: bool = False) -> RoundState:
    ranks = (4, 8, 16)
    cells = max(1, k // 100)
    compute = np.tile(np.array(ranks, dtype=float) * 0.02, (k, 1)) * rng.uniform(0.5, 2, (k, 1))
    return RoundState(
        round_index=1,
        deadline_s=3.0,
        ranks=ranks,
        available=rng.random(k) < 0.9,
        gain_lin=channels.db_to_lin(-rng.uniform(90, 120, k)),
        noise_psd_w_per_hz=np.full(k, float(channels.thermal_noise_psd_w_per_hz(5.0))),
        cell=rng.integers(0, cells, k),
        cell_bandwidth_hz=np.full(cells, 20e6),
        p_max_w=np.full(k, 0.2),
        payload_bits=np.tile(np.array(ranks, dtype=float) * 4e4, (k, 1)),
        compute_time_s=compute,
        compute_energy_j=compute * 2.0,
        downlink_time_s=np.full(k, 0.05),
        energy_budget_j=np.full(k, 0.5),
        num_samples=np.full(k, 100.0),
        circuit_power_w=np.full(k, 0.1) if full else None,
        waterfall_m=0.023 if full else None,
        cycles=compute * 2e9 if full else None,
        kappa=np.full(k, 2.0 / (2e9) ** 3) if full else None,  # 2 W at 2 GHz: the compute energy above
        cpu_hz_min=np.full(k, 5e8) if full else None,
        cpu_hz_max=np.full(k, 2e9) if full else None,
    )


def time_policy(name: str, solver: str, k: int, full: bool = False) -> float:
    rng = np.random.default_rng(0)
    policy = make_policy(name, {"solver": solver}, np.random.default_rng(1))
    times = []
    for t in range(REPEATS[k]):
        st = state(k, rng, full)
        t0 = time.perf_counter()
        a = policy.decide(st)
        times.append(time.perf_counter() - t0)
        sel = a.module >= 0
        policy.observe(RoundOutcome(t, a.module, sel, np.where(sel, 0.6, 0.0), 0.5 + 0.01 * t, 0.5))
    return float(np.median(times))


def main() -> None:
    print("median decision time per round (ms); 3 ranks, one 20 MHz cell per 100 devices")
    print(f"{'policy':12s} {'devices':>8s} {'lambertw':>10s} {'cvxpy':>10s} {'cvxpy/lambertw':>15s}")
    for name in ("energy-min", "lyapunov"):
        for k in (10, 100, 1000):
            lw = time_policy(name, "lambertw", k) * 1e3
            cv = time_policy(name, "cvxpy", k) * 1e3
            print(f"{name:12s} {k:8d} {lw:10.2f} {cv:10.2f} {cv / lw:15.1f}")
    print("\nwith circuit power 0.1 W, packet errors (m = 0.023) and CPU frequency in [0.5, 2] GHz (lambertw)")
    print(f"{'policy':12s} {'devices':>8s} {'ms':>10s}")
    for name in ("energy-min", "lyapunov"):
        for k in (10, 100, 1000, 10_000):
            print(f"{name:12s} {k:8d} {time_policy(name, 'lambertw', k, full=True) * 1e3:10.2f}")


if __name__ == "__main__":
    main()
