"""Scale without training: the learning-curve surrogate with the full channel, mobility and default policy.

Wall time of 200 rounds for 100 to 100,000 devices (the larger cases run fewer rounds and are scaled, said
in the output), results files included: every device's row every round, in the format `output.format: auto`
picks (Parquet above a million rows). Target: 100,000 devices × 200 rounds in ≤ 60 s on a 2-core machine.
Then 1,000,000 devices × 20 rounds in a fresh process, with its peak memory (target: within 8 GiB).
Above 1,500 devices the initial spatially correlated shadowing comes from a grid field (O(G log G)) instead
of the exact O(K³) draw.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fedwireless.scenario import validate  # noqa: E402
from fedwireless.sim.run import run_scenario  # noqa: E402


def scenario(k: int, rounds: int) -> dict:
    static, moving = k // 2, k - k // 2
    return {
        "name": f"scale-{k}",
        "rounds": rounds,
        "deadline_s": 5.0,
        "base_stations": [{"position_m": [0, 0], "bandwidth_mhz": 100}, {"position_m": [800, 0], "bandwidth_mhz": 100}],
        "channel": {"coherence": "per-round", "shadowing": {"enabled": True}},
        "devices": [
            {
                "count": static,
                "placement": {"kind": "disc", "center_m": [400, 0], "radius_m": 900},
                "energy_budget_j": 0.5,
            },
            {
                "count": moving,
                "placement": {"kind": "disc", "center_m": [400, 0], "radius_m": 900},
                "mobility": {"kind": "random-waypoint", "speed_mps": [1, 15]},
                "availability": 0.9,
            },
        ],
        "federated": {"ranks": [4, 8, 16], "clients_per_round": min(k, 100)},
        "policy": {"name": "uniform"},
        "surrogate": {"noise_std": 0.002},
        "output": {"plots": False},
    }


def timed_run(k: int, rounds: int) -> tuple[float, str]:
    """Wall seconds of one whole run (setup, rounds, tables) and its devices table's file."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_scenario(validate(scenario(k, rounds)), Path(tmp) / "run")
        wall = time.perf_counter() - t0
        table = next(p for p in (Path(tmp) / "run").iterdir() if p.stem == "devices")
        return wall, f"{table.name} {table.stat().st_size / 1e6:.0f} MB"


def main() -> None:
    if sys.argv[1:2] == ["--one"]:  # a single case in a fresh process: its peak memory is its own
        k, rounds = int(sys.argv[2]), int(sys.argv[3])
        wall, table = timed_run(k, rounds)
        print(f"{wall} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20} {table}")
        return
    print("surrogate learning, 2 cells, half the devices moving, uniform policy (100 clients per round)")
    print(
        f"{'devices':>9s} {'rounds':>7s} {'wall s':>9s} {'s per 200 rounds':>17s} {'ms per device-round':>20s}  table"
    )
    for k, rounds in ((100, 200), (1000, 200), (10_000, 200), (100_000, 20)):
        wall, table = timed_run(k, rounds)
        per200 = wall * 200 / rounds
        note = "" if rounds == 200 else f"  (scaled from {rounds} rounds)"
        print(f"{k:9d} {rounds:7d} {wall:9.2f} {per200:17.1f} {1e3 * wall / (k * rounds):20.4f}  {table}{note}")
    out = subprocess.run([sys.executable, __file__, "--one", "1000000", "20"], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=2)  # fmt: skip
    print(f"1,000,000 devices × 20 rounds: {float(out[0]):.1f} s, peak memory {float(out[1]):.2f} GiB "
          f"(target 8 GiB), {out[2].strip()}")  # fmt: skip


if __name__ == "__main__":
    main()
