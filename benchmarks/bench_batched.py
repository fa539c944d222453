"""Round wall time with a round's clients trained together (batched) or one by one, vs a plain PEFT loop.

For 5, 20 and 50 clients per round (quickstart model, small per-client batches), side by side in one run:
- fedwireless, batched path: a whole simulated round (policy, training, SimPy, aggregation, evaluation);
- fedwireless, sequential path (`federated.batch_clients: false`), the same round;
- a plain sequential PEFT loop written here (set adapter, AdamW steps, clip, read adapter; no simulator)
  doing the same training;
and the simulator's own overhead (everything but training and evaluation) as a share of the batched round.
Target: batched >= 2x faster than the plain loop at 20 clients; overhead < 5 %.

Then the batched path alone at 100 and 500 clients per round, each in a fresh process: round time, the
simulator's overhead per round, and memory per client (peak resident memory of the warm-up and timed rounds above
the resident memory after setup, over the clients: an upper bound; batches of `federated.batch_group_size` = 64
clients, and nothing per client kept but its adapter update and payload).

Run: python benchmarks/bench_batched.py [--clients 5 20 50] [--rounds 3] [--threads 2] [--scale 100 500]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_round import plain_peft_round  # noqa: E402  (same folder: the one plain loop both compare to)

from fedwireless.scenario import load_scenario  # noqa: E402
from fedwireless.sim.loop import Simulation  # noqa: E402


def scenario(clients: int, batched: bool):
    return load_scenario(
        ROOT / "scenarios" / "quickstart.yaml",
        {
            "output.plots": False,
            "deadline_s": 600,
            "devices": [
                {
                    "name": "phones",
                    "count": clients,
                    "placement": {"kind": "disc", "radius_m": 250},
                    "compute": {"flops_per_s": 2.0e10, "j_per_flop": 5.0e-11},
                }
            ],
            "task.dataset.num_train": max(2000, 40 * clients),
            "task.eval.max_samples": 200,
            "task.local_steps": 5,
            "task.batch_size": 4,
            "federated.batch_clients": batched,
        },
    )


def measure(clients: int, rounds: int) -> dict[str, float]:
    out: dict[str, list[float]] = {"batched": [], "sequential": [], "plain": [], "overhead": [], "train_b": []}
    sims = {b: Simulation(scenario(clients, b)) for b in (True, False)}
    for sim in sims.values():
        sim.step()  # warm-up: first-call costs of torch and peft
    for _ in range(rounds):
        for batched, sim in sims.items():
            t0 = time.perf_counter()
            sim.step()
            total = time.perf_counter() - t0
            t = sim.timing_rows[-1]
            if batched:
                out["batched"].append(total)
                out["train_b"].append(t["train_s"])
                out["overhead"].append((total - t["train_s"] - t["evaluate_s"]) / total)
            else:
                out["sequential"].append(total)
        sim = sims[True]
        last = sim.device_rows[-sim.world.num_devices :]
        out["plain"].append(plain_peft_round(sim, [(r["device"], r["rank"]) for r in last if r["rank"] > 0]))
    paths = {b: s.learner.info()["training_path"] for b, s in sims.items()}
    assert paths[True] == "batched" and paths[False].startswith("sequential"), paths
    eval_s = float(np.mean([r["evaluate_s"] for r in sims[True].timing_rows[1:]]))
    res = {k: float(np.mean(v)) for k, v in out.items()}
    res["eval"] = eval_s
    return res


def measure_scale(clients: int, rounds: int) -> dict[str, float]:
    """The batched path alone (run in a fresh process, so its peak memory is its own)."""
    sim = Simulation(scenario(clients, True))
    # Resident memory now (model, data, torch), before any round: the peak below includes the warm-up's first
    # calls too, so the share per client is an upper bound.
    base = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
    sim.step()  # warm-up
    totals = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        sim.step()
        totals.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = sim.timing_rows[2:]
    trained = int(sim.round_rows[-1]["selected"])
    return {
        "round": float(np.mean(totals)),
        "train": float(np.mean([r["train_s"] for r in t])),
        "overhead": float(np.mean([(r["total_s"] - r["train_s"] - r["evaluate_s"]) for r in t])),
        "trained": trained,
        "setup_mib": base / 2**20,
        "per_client_kib": (peak - base) / max(trained, 1) / 1024,
        "path": sim.learner.info()["training_path"],
    }


def scale_table(sizes: list[int], rounds: int, threads: int) -> None:
    print(f"\nbatched path alone, a fresh process per size, mean of {rounds} rounds after a warm-up")
    print(f"{'clients':>7s} {'trained':>7s} {'round s':>8s} {'train s':>8s} {'overhead s':>10s} {'overhead':>8s} "
          f"{'setup MiB':>9s} {'KiB per client':>14s}")  # fmt: skip
    for k in sizes:
        cmd = [sys.executable, __file__, "--one-scale", str(k), "--rounds", str(rounds), "--threads", str(threads)]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        print(f"{k:7d} {r['trained']:7d} {r['round']:8.3f} {r['train']:8.3f} {r['overhead']:10.3f} "
              f"{r['overhead'] / r['round']:8.2%} {r['setup_mib']:9.0f} {r['per_client_kib']:14.0f}")  # fmt: skip
    print(
        "KiB per client: peak resident memory of the rounds (warm-up included) above that after setup, over the "
        "clients trained"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="*", default=[5, 20, 50])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", type=int, nargs="*", default=[100, 500])
    ap.add_argument("--one-scale", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.one_scale is not None:
        print(json.dumps(measure_scale(args.one_scale, args.rounds)))
        return
    print(
        f"quickstart model (hidden 128, LoRA r8 on q/v), 5 local steps x batch 4 per client, mean of "
        f"{args.rounds} rounds, torch threads {torch.get_num_threads()}"
    )
    head = (
        f"{'clients':>7s} {'batched round s':>15s} {'train s':>8s} {'sequential round s':>18s} "
        f"{'plain PEFT loop s':>17s} {'plain/batched train':>19s} {'seq/batched round':>17s} {'overhead':>8s}"
    )
    print(head)
    for k in args.clients:
        r = measure(k, args.rounds)
        print(
            f"{k:7d} {r['batched']:15.3f} {r['train_b']:8.3f} {r['sequential']:18.3f} {r['plain']:17.3f} "
            f"{r['plain'] / r['train_b']:19.2f} {r['sequential'] / r['batched']:17.2f} {r['overhead']:8.2%}",
            flush=True,
        )
    print("plain/batched train: the plain sequential PEFT loop's time over the batched path's training time")
    print("overhead: share of the batched round that is neither training nor evaluation (target < 5 %)")
    if args.scale:
        scale_table(args.scale, args.rounds, args.threads)


if __name__ == "__main__":
    main()
