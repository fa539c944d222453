"""Reproducible policy studies behind the README's figures (learning-curve surrogate, seconds per run).

    python -m fedwireless.studies tradeoff --out docs     # Lyapunov: energy and penalty against V
    python -m fedwireless.studies dvfs --out docs         # Yang et al. 2021: energy against the deadline

Each writes a CSV of every run's figures and a PNG drawn from that CSV only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

TRADEOFF_V = (0.1, 1.0, 10.0, 100.0, 1000.0)
DVFS_DEADLINES_S = (4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0)


def run_in_memory(scenario: str | Path, overrides: Mapping[str, Any]) -> tuple[Any, Any]:
    """Play a scenario without writing a run directory; return (round rows, device rows) as DataFrames."""
    import pandas as pd

    from fedwireless.scenario import load_scenario
    from fedwireless.sim.loop import Simulation

    sc = load_scenario(scenario, dict(overrides))
    sim = Simulation(sc)
    for _ in range(sc.rounds):
        sim.step()
        if sim.finished:  # an asynchronous run's simulated duration
            break
    sim.finish()
    rounds = pd.DataFrame(sim.round_rows[1:])
    devices = pd.DataFrame(sim.device_rows)
    # Each row's own device's budget (inf where none): devices.csv may hold a sample of the devices.
    devices["budget_j"] = sim.world.energy_budget_j[devices["device"].to_numpy(dtype=int)] if len(devices) else []
    return rounds, devices


def tradeoff_point(scenario: str, V: float, seed: int, noise_std: float, rounds: int, steady_from: int) -> dict:
    """Figures of one Lyapunov run: steady-state energy and penalty, budgets, who still trains."""
    rr, dev = run_in_memory(
        scenario,
        {
            "rounds": rounds,
            "seed": seed,
            "policy": {"name": "lyapunov", "params": {"V": V}},
            "surrogate": {"noise_std": noise_std},
        },
    )
    per_dev = dev.groupby("device").agg(energy=("energy_j", "mean"), budget=("budget_j", "first"))
    ratio = (per_dev.energy / per_dev.budget).replace([np.inf, -np.inf], np.nan)
    late = dev[dev["round"] > rounds - 100]
    trained_late = late[late.module != "skip"].groupby("device").size().reindex(per_dev.index, fill_value=0)
    steady = dev[dev["round"] >= steady_from]
    return {
        "V": V,
        "seed": seed,
        "noise_std": noise_std,
        "rounds": rounds,
        "steady_energy_j": float(steady.energy_j.mean()),  # per device and round
        "steady_penalty": float(rr[rr["round"] >= steady_from].penalty.mean()),
        "final_accuracy": float(rr.accuracy.iloc[-1]),
        "max_energy_over_budget": float(ratio.max()),
        "min_trainings_last_100": int(trained_late.min()),
        "packet_errors": int((dev.drop_reason == "packet-error").sum()),
    }


def _tradeoff_star(args: tuple) -> dict:
    return tradeoff_point(*args)


def tradeoff(
    scenario: str = "scenarios/switching.yaml",
    *,
    V_values: Sequence[float] = TRADEOFF_V,
    seeds: Sequence[int] = (0, 1, 2),
    noise_stds: Sequence[float] = (0.0, 0.01),
    rounds: int = 1000,
    steady_from: int = 500,
    workers: int = 1,
) -> Any:
    """Every (V, seed, noise) point of the Lyapunov policy on `scenario`, one row each."""
    import pandas as pd

    jobs = [(scenario, v, s, n, rounds, steady_from) for v in V_values for s in seeds for n in noise_stds]
    return pd.DataFrame(_map(_tradeoff_star, jobs, workers))


def dvfs_point(scenario: str, deadline_s: float, policy: str, fixed_cpu: bool, rounds: int, seed: int) -> dict:
    overrides: dict[str, Any] = {"deadline_s": deadline_s, "rounds": rounds, "seed": seed, "policy": {"name": policy}}
    overrides["surrogate"] = {}
    if fixed_cpu:
        overrides["devices[0].compute.min_cpu_hz"] = None
    rr, dev = run_in_memory(scenario, overrides)
    sel = dev[dev.module != "skip"]
    per_device = dev.groupby("device").energy_j.sum() / rounds
    always = dev.groupby("device").module.apply(lambda m: bool((m != "skip").all()))
    return {
        "deadline_s": deadline_s,
        "_device_energy": per_device.to_dict(),  # joules per round, by device (dropped from the table)
        "_always_trained": set(always[always].index),
        "policy": policy + (" (fixed 2 GHz)" if fixed_cpu else ""),
        "seed": seed,
        "energy_per_round_j": float(rr.energy_j.mean()),
        "compute_energy_per_round_j": float(rr.compute_energy_j.mean()),
        "tx_energy_per_round_j": float(rr.tx_energy_j.mean()),
        "mean_cpu_ghz": float(sel.cpu_hz.mean() / 1e9) if len(sel) else float("nan"),
        "selected_per_round": float(rr.selected.mean()),
        "arrived_per_round": float(rr.arrived.mean()),
    }


def _dvfs_star(args: tuple) -> dict:
    return dvfs_point(*args)


def dvfs(
    scenario: str = "scenarios/yang2021.yaml",
    *,
    deadlines_s: Sequence[float] = DVFS_DEADLINES_S,
    rounds: int = 10,
    seeds: Sequence[int] = (0, 1, 2),
    workers: int = 1,
) -> Any:
    """Total energy per round against the deadline: energy-min with and without CPU-frequency choice."""
    import pandas as pd

    jobs = [
        (scenario, d, "energy-min", fixed, rounds, s) for d in deadlines_s for fixed in (False, True) for s in seeds
    ]
    rows = _map(_dvfs_star, jobs, workers)
    # A longer deadline lets a few far devices take part, which adds their energy; compare like with like:
    # per seed, the devices that trained in every round at every deadline, with and without DVFS.
    for seed in seeds:
        mine = [r for r in rows if r["seed"] == seed]
        common = set.intersection(*(r["_always_trained"] for r in mine))
        for r in mine:
            r["common_devices"] = len(common)
            r["common_energy_per_round_j"] = float(sum(r["_device_energy"][d] for d in common))
    return pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])


def _map(fn, jobs: list, workers: int) -> list:
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(fn, jobs))
    return [fn(j) for j in jobs]


def plot_tradeoff(table: Any, path: Path) -> None:
    """Steady-state energy per device-round and learning penalty against V (mean ± std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for noise, marker, style in zip(sorted(table.noise_std.unique()), "os^", ("-", "--", ":")):
        g = table[table.noise_std == noise].groupby("V")
        for ax, col, label in (
            (axes[0], "steady_energy_j", "energy per device-round (J)"),
            (axes[1], "steady_penalty", "learning penalty Φ"),
        ):
            m, s = g[col].mean(), g[col].std().fillna(0.0)
            n = int(g[col].count().min())
            ax.errorbar(
                m.index,
                m.values,
                yerr=s.values,
                marker=marker,
                ls=style,
                mfc="none",
                capsize=3,
                label=f"accuracy noise {noise} (n={n})",
            )
            ax.set_xscale("log")
            ax.set_xlabel("V")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    rounds = int(table.rounds.iloc[0])
    fig.suptitle(f"Lyapunov on switching.yaml (surrogate): rounds {rounds // 2}–{rounds}, mean ± std over seeds")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_dvfs(table: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for policy, g in table.groupby("policy"):
        agg = g.groupby("deadline_s").common_energy_per_round_j
        n = int(agg.count().min())
        ax.errorbar(
            agg.mean().index,
            agg.mean().values,
            yerr=agg.std().fillna(0).values,
            marker="o",
            capsize=3,
            label=f"{policy} (n={n})",
        )
    ax.set_xlabel("deadline T (s)")
    ax.set_yscale("log")  # DVFS and fixed frequency differ by two orders of magnitude
    ax.set_ylabel("energy per round of the devices\ntrained at every deadline (J, log scale)")
    ax.set_title("yang2021.yaml: energy against the deadline")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fedwireless.studies", description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=("tradeoff", "dvfs"))
    ap.add_argument("--out", type=Path, default=Path("docs"), help="folder for the CSV and PNG (created)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per run (tradeoff 1000, dvfs 10)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--from-csv", action="store_true", help="redraw the PNG from the CSV already in --out")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_csv:
        import pandas as pd

        name, plot = ("lyapunov_tradeoff", plot_tradeoff) if args.study == "tradeoff" else ("yang2021_dvfs", plot_dvfs)
        plot(pd.read_csv(args.out / f"{name}.csv"), args.out / f"{name}.png")
        print(f"wrote {args.out / name}.png")
        return 0
    if args.study == "tradeoff":
        rounds = args.rounds or 1000
        table = tradeoff(rounds=rounds, steady_from=rounds // 2, workers=args.workers)
        name = "lyapunov_tradeoff"
        plot = plot_tradeoff
    else:
        table = dvfs(rounds=args.rounds or 10, workers=args.workers)
        name = "yang2021_dvfs"
        plot = plot_dvfs
    csv_path, png_path = args.out / f"{name}.csv", args.out / f"{name}.png"
    table.to_csv(csv_path, index=False, float_format="%.6g")
    plot(table, png_path)
    print(table.to_string(index=False))
    print(f"wrote {csv_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
