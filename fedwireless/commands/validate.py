"""`fedwireless validate FILE`: check a scenario without running it (no torch, well under a second)."""

from __future__ import annotations

import argparse

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
    print(
        f"ok: {args.scenario}: {sc.rounds} rounds, deadline {sc.deadline_s:g} s, "
        f"{len(sc.base_stations)} base station(s), {sc.num_devices} devices ({groups}), "
        f"policy {sc.policy.name}, {mode}"
    )
    return 0
