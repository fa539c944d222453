"""Round wall time of federated distillation against FedAvg-LoRA, at 20 clients (and the uplink each carries).

Both run a whole simulated round of the distillation scenario's set-up (one model size, the phones' Llama,
every device available, its 2 s deadline) side by side in one process:
- FedAvg-LoRA (`federated.training: lora`, batched client training);
- distillation, adaptive top-k (`federated.training: distill`): per-client training with the distillation
  term, logits on the proxy batch, top-k coding, sparse aggregation, and one evaluation per device's model.
Printed: median round seconds of each, their ratio, and the mean uplink bits per client.

Run: python benchmarks/bench_distill.py [--clients 20] [--rounds 3] [--threads 2]
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

from fedwireless.scenario import load_scenario  # noqa: E402
from fedwireless.sim.loop import Simulation  # noqa: E402


def scenario(clients: int, training: str):
    return load_scenario(
        ROOT / "scenarios" / "distill.yaml",
        {
            "output.plots": False,
            "devices": [{"name": "phones", "count": clients, "placement": {"kind": "disc", "radius_m": 250}}],
            "task.dataset.num_train": max(2000, 40 * clients),
            "task.eval.max_samples": 200,
            "federated.training": training,
        },
    )


def measure(clients: int, rounds: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for training in ("lora", "distill"):
        sim = Simulation(scenario(clients, training))
        sim.step()  # warm-up (and a first teacher for distillation)
        times, bits = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            row = sim.step()
            times.append(time.perf_counter() - t0)
            bits.append(row["uplink_bits"] / max(row["selected"], 1))
        out[f"{training}_s"] = float(np.median(times))
        out[f"{training}_bits"] = float(np.mean(bits))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    r = measure(args.clients, args.rounds)
    print(f"{'clients':>8} {'FedAvg-LoRA round':>18} {'distillation round':>19} {'distill / FedAvg':>17} "
          f"{'uplink/client FedAvg':>21} {'uplink/client distill':>22}")  # fmt: skip
    print(f"{args.clients:>8} {r['lora_s']:>17.2f}s {r['distill_s']:>18.2f}s {r['distill_s'] / r['lora_s']:>16.2f}x "
          f"{r['lora_bits'] / 8e3:>18.1f} kB {r['distill_bits'] / 8e3:>19.1f} kB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
