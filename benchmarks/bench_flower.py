"""The same federated fine-tuning in fedwireless and in Flower's simulation engine, side by side.

Same base model, data, partitions, LoRA rank, local steps, client batches and FedAvg weighted by samples;
a network that drops nothing (generous deadline, every device available, no packet errors). Flower's
clients build the same fedwireless `Learner` (the pre-trained base is read from the shared cache) and call
its per-client training, so both sides run identical local training; what differs is the orchestration:
fedwireless trains a round's clients in one batched pass inside one process and simulates the radio
network; Flower runs one client app per simulated node on Ray actors (one CPU each).

Prints wall time per round for both, the ratio, and the largest difference between the two final global
adapters (float rounding only, ~1e-6, when both do the same training).

Needs the `bench` extra (`pip install -e .[bench]`, Flower with its Ray simulation engine); without it the
benchmark says so and exits 0.

Run: python benchmarks/bench_flower.py [--clients 5 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RANK = 8


def overrides(clients: int) -> dict:
    return {
        "output.plots": False,
        "deadline_s": 10_000,
        "channel.packet_errors.enabled": False,
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
        "task.batch_size": 8,
        "federated.ranks": [RANK],
        "policy": {"name": "uniform", "params": {"rank": RANK}},
    }


def scenario(clients: int):
    from fedwireless.scenario import load_scenario

    return load_scenario(ROOT / "scenarios" / "quickstart.yaml", overrides(clients))


def _learner(clients: int):
    """One Learner per Flower actor process, built once and reused across rounds and nodes.

    Kept on an importable module: this file runs as __main__, whose globals travel to Ray actors by value.
    """
    import fedwireless

    cache = fedwireless.__dict__.setdefault("_bench_flower_learners", {})
    if clients not in cache:
        import torch

        from fedwireless.rng import Streams
        from fedwireless.sim.loop import build_learner

        torch.set_num_threads(1)
        sc = scenario(clients)
        cache[clients] = build_learner(sc, Streams(sc.seed))
    return cache[clients]


def run_flower(clients: int, rounds: int, initial: dict) -> tuple[dict, float]:
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        lrn = _learner(clients)
        device = int(context.node_config["partition-id"])
        lrn.method.global_state = msg.content["arrays"].to_torch_state_dict()
        lrn.round = int(msg.content["config"]["server-round"]) - 1
        update = lrn.train_clients([(device, RANK)])[0]
        content = RecordDict(
            {
                "arrays": ArrayRecord(update.state),
                "metrics": MetricRecord({"num-examples": int(update.num_samples)}),
            }
        )
        return Message(content=content, reply_to=msg)

    server_app = ServerApp()
    result: dict = {}

    stamps: list[float] = []

    def stamp(server_round: int, arrays: ArrayRecord) -> None:
        stamps.append(time.perf_counter())  # called before round 1 and after every round

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        # min_train_nodes too: FedAvg sizes its sample from the nodes connected *before* it waits for
        # min_available_nodes, so a first round could train only the 2 or 4 nodes up by then (the 5-client
        # adapter gaps of 1e-2 to 4e-2 seen at earlier stops: "aggregate_train: Received 2 results" in round 1).
        strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=clients,
                          min_available_nodes=clients)  # fmt: skip
        out = strategy.start(grid=grid, initial_arrays=ArrayRecord(initial), num_rounds=rounds + 1, evaluate_fn=stamp)
        result["rounds_s"] = stamps[-1] - stamps[1]  # round 1 warms the actors up (each builds its Learner)
        result["state"] = out.arrays.to_torch_state_dict()

    cpus = os.cpu_count() or 1
    run_simulation(
        server_app=server_app,
        client_app=client_app,
        num_supernodes=clients,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": {"num_cpus": cpus}},
    )
    return result["state"], result["rounds_s"]


def run_fedwireless(clients: int, rounds: int) -> tuple[dict, dict, float]:
    import torch

    from fedwireless.sim.loop import Simulation

    torch.set_num_threads(os.cpu_count() or 1)
    sim = Simulation(scenario(clients))
    initial = {k: v.clone() for k, v in sim.learner.method.global_state.items()}
    sim.step()  # warm-up round, like Flower's first
    t0 = time.perf_counter()
    for _ in range(rounds):
        row = sim.step()
        if row["arrived"] != clients:
            raise RuntimeError(f"the network dropped updates ({row['arrived']}/{clients}); the comparison needs none")
    return initial, sim.learner.method.global_state, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("flwr").setLevel(logging.WARNING)
    try:
        import flwr
        import flwr.simulation  # noqa: F401
    except ImportError as exc:
        print(f"bench_flower: skipped, Flower's simulation engine is not installed ({exc}); pip install -e .[bench]")
        return 0
    cpus = os.cpu_count()
    print(
        f"quickstart model, LoRA r{RANK} on q/v, 5 local steps x batch 8, mean of {args.rounds} rounds after a warm-up "
        "round, no drops; "
        f"{cpus} CPUs: fedwireless 1 process with {cpus} torch threads, Flower {flwr.__version__} one Ray actor "
        "per CPU (1 torch thread each)"
    )
    print(
        f"{'clients':>7s} {'fedwireless s/round':>19s} {'Flower s/round':>14s} {'Flower/fedwireless':>18s} "
        f"{'max |Δ adapter|':>15s}"
    )
    for k in args.clients:
        initial, fw_state, fw_s = run_fedwireless(k, args.rounds)
        fl_state, fl_s = run_flower(k, args.rounds, initial)
        diff = max(float((fw_state[n] - fl_state[n]).abs().max()) for n in fw_state)
        print(
            f"{k:7d} {fw_s / args.rounds:19.3f} {fl_s / args.rounds:14.3f} {fl_s / fw_s:18.2f} {diff:15.2e}", flush=True
        )
    print("max |Δ adapter|: the two final global adapters after the same warm-up + timed rounds")
    print("fedwireless s/round includes the simulated network and evaluation of the global model each round;")
    print("Flower s/round is its strategy loop (training on the actors and aggregation), without evaluation.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
