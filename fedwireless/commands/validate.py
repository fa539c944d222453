"""`fedwireless validate FILE`: check a scenario without running it (no torch, well under a second)."""

from __future__ import annotations

import argparse
import sys

from fedwireless.commands._common import add_scenario_options, load_from_args, print_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_scenario_options(p)


def run(args: argparse.Namespace) -> int:
    from fedwireless.scenario import ScenarioError

    try:
        sc = load_from_args(args)
    except ScenarioError as exc:
        return print_error(exc)
    groups = ", ".join(f"{g.count}×{g.name or f'group{i}'}" for i, g in enumerate(sc.devices))
    mode = "surrogate learning curve" if sc.surrogate else f"{sc.task.kind} / {sc.federated.training}"
    timing = f"{sc.rounds} rounds, deadline {sc.deadline_s:g} s"
    a = sc.federated.asynchronous
    if sc.federated.mode == "async":  # no rounds: server steps, each at most deadline_s long
        until = f"{a.duration_s:g} simulated s or " if a.duration_s else ""
        timing = f"asynchronous {a.algorithm}, {a.concurrency} at once, {until}{sc.rounds} server steps"
    elif sc.federated.mode != "sync":
        timing += f", {sc.federated.mode}"
    print(
        f"ok: {args.scenario}: {timing}, "
        f"{len(sc.base_stations)} base station(s), {sc.num_devices} devices ({groups}), "
        f"policy {sc.policy.name}, {mode}"
    )
    if sc.surrogate is None and sc.federated.training in ("lora", "full"):  # distill/pwff add work it does not count
        _training_estimate(sc)
    return 0


def _training_estimate(sc) -> None:
    """The head that will train and each group's local-training time against the deadline (an upper bound:
    every text at max_seq_len), with a warning when no group fits."""
    from fedwireless.learning.estimate import head_description, round_flops

    head = head_description(sc.task, sc.federated)
    if head:
        print(f"head: {head}")
    rows = max(sc.task.dataset.num_train // max(sc.num_devices, 1), 1)
    rank = min(sc.federated.ranks)
    times = []
    for i, g in enumerate(sc.devices):
        est = round_flops(sc.task, sc.federated, rows, rank)
        if est is None:
            return
        flops, steps = est
        seconds = flops / g.compute.flops_per_s
        times.append(seconds)
        print(f"compute: {g.name or f'group{i}'}: at most {seconds:.3g} s per round ({steps} steps × "
              f"{flops / steps / 1e9:.3g} GFLOP at {g.compute.flops_per_s:.2g} FLOP/s, rank {rank})")  # fmt: skip
    if times and min(times) > sc.deadline_s:
        print(f"warning: no device group's local training fits the deadline with full-length batches "
              f"({min(times):.3g} s at the fastest > deadline_s {sc.deadline_s:g} s): unless the texts are much "
              "shorter than max_seq_len, every device is infeasible in every round", file=sys.stderr)  # fmt: skip
