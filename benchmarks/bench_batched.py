"""Round wall time with a round's clients trained together (batched) or one by one, vs a plain PEFT loop.

For 5, 20 and 50 clients per round (quickstart model, small per-client batches), side by side in one run:
- fedwireless, batched path: a whole simulated round (policy, training, SimPy, aggregation, evaluation);
- fedwireless, sequential path (`federated.batch_clients: false`), the same round;
- a plain sequential PEFT loop written here (set adapter, AdamW steps, clip, read adapter; no simulator)
  doing the same training;
and the simulator's own overhead (everything but training and evaluation) as a share of the batched round.
Target: batched >= 2x faster than the plain loop at 20 clients; overhead < 5 %.

Run: python benchmarks/bench_batched.py [--clients 5 20 50] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[5, 20, 50])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
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


if __name__ == "__main__":
    main()
