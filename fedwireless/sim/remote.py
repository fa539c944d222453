"""One run's client training spread over Ray actors (`fedwireless run --backend ray`).

Each actor builds the scenario's learner once (data and base model; a base pre-trained by the driver comes
from the shared cache) and trains the clients it is sent. The driver keeps everything else — engine, policy,
codec, aggregation and the one simulated clock — and, each round, sends every actor its share of the cohort:
each client's start state and batches (and AdamW state with `task.optimizer.persistent`). The units shared out
are those the local backend trains: whole batches of clients (`federated.batch_group_size`; a batch's numbers
depend on which clients share it, so it is never split) or single clients, given by expected cost (local steps
× the rank's FLOPs per step, greedy: costliest unit to the least loaded actor). The actors run the learner's
own steps (`learning.clients`), so the tables are those of the local backend (tested on a two-worker local
cluster). Federated LoRA only: another method's client start is more than a state to load, and FLoRA
changes the base model each round.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedwireless.contracts import ClientUpdate


def shares_by_cost(costs: Sequence[float], workers: int) -> list[list[int]]:
    """Indices of `costs` split into `workers` shares of about equal total (longest first to the least loaded
    share; ties to the lower share), each share in index order."""
    loads = [0.0] * workers
    shares: list[list[int]] = [[] for _ in range(workers)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = min(range(workers), key=lambda w: (loads[w], w))
        shares[w].append(i)
        loads[w] += costs[i]
    return [sorted(s) for s in shares]


def check_remote(scenario) -> None:
    """ValueError naming the setting where the Ray backend cannot give the local backend's results."""
    if scenario.surrogate is not None:
        raise ValueError("--backend ray: the scenario uses the surrogate (no training to spread); run it locally")
    fed = scenario.federated
    if fed.training != "lora":
        raise ValueError(f"--backend ray: federated.training must be lora, got {fed.training!r}")
    if fed.aggregation == "flora":
        raise ValueError("--backend ray: federated.aggregation flora merges into the base model each round")
    from fedwireless.learning.device import resolve_device

    if resolve_device(scenario.task.device).type != "cpu":  # actors get CPUs only; a GPU run would differ
        raise ValueError(f"--backend ray: actors train on CPUs; set task.device: cpu (it resolves to "
                         f"{resolve_device(scenario.task.device)} here, from {scenario.task.device!r})")  # fmt: skip


class ClientTrainer:
    """A Ray actor's side: the scenario's learner, built once."""

    def __init__(self, scenario: dict[str, Any], cache_dir: str | None, threads: int | None) -> None:
        import torch

        from fedwireless.learning.clients import train_group, train_one
        from fedwireless.rng import Streams
        from fedwireless.scenario import validate
        from fedwireless.sim.loop import build_learner

        self._steps = train_group, train_one

        if threads:
            torch.set_num_threads(threads)
        sc = validate(scenario)
        self.learner = build_learner(sc, Streams(sc.seed), Path(cache_dir) if cache_dir else None)

    def train(self, round_index: int, units: list[tuple[int, list[tuple]]], batched: bool) -> list[list[tuple]]:
        """Per unit (its index in the cohort, its jobs [(device, rank, start, batches, AdamW state)]), the jobs'
        [(trained state, loss, AdamW state or None)]: a unit is one batch of clients trained together, or one
        client."""
        learner, (train_group, train_one) = self.learner, self._steps
        learner.round = round_index
        learner.method.start_round(round_index)
        out = []
        for group, jobs in units:
            if batched:
                trained = train_group(learner, [j[2] for j in jobs], [j[3] for j in jobs], group)
                out.append([(state, loss, None) for state, loss in trained])
                continue
            ((device, rank, start, batches, opt_state),) = jobs
            learner.method.load_adapter(rank, start)
            out.append([train_one(learner, device, rank, batches, opt_state)])
        return out


class RayTrainer:
    """The driver's side: actors on a Ray cluster (`address`; None starts a local one) and the rounds' shares."""

    def __init__(self, scenario: dict[str, Any], *, workers: int | None, address: str | None,
                 cache_dir: Path | None, threads: int | None = None) -> None:  # fmt: skip
        try:
            import ray
        except ImportError as exc:
            raise ValueError("--backend ray needs Ray: pip install 'fedwireless[ray]' (or pip install ray)") from exc
        self._ray = ray
        self._started = not ray.is_initialized()
        self.actors: list[Any] = []
        if self._started:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ValueError(f"--address {address}: no Ray cluster reached ({exc})") from exc
        try:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if workers is None:  # one actor per CPU the cluster offers (each holds the model and data once)
                workers = max(1, cpus)
            if workers > cpus:  # more would wait for CPUs forever
                raise ValueError(f"--workers {workers}: the Ray cluster has {cpus} CPUs; one actor takes one")
            actor = ray.remote(num_cpus=1)(ClientTrainer)
            cache = str(cache_dir) if cache_dir else None
            self.actors = [actor.remote(scenario, cache, threads) for _ in range(workers)]
        except BaseException:
            self.close()
            raise
        self.rounds_sent: list[list[int]] = []  # clients per actor, per round (for the summary)

    def train(self, learner, assignments: Sequence[tuple[int, int]], budgets: dict[int, float], batched: bool):
        """The round's `ClientUpdate`s in `assignments` order, trained on the actors: whole batches of clients
        (the learner's `batch_groups`, padded as the local backend pads them), or one client at a time."""
        if not assignments:
            return []
        start = learner.method.batch_start if batched else learner.method.client_start
        starts = [start(d, r, learner.round) for d, r in assignments]
        units: list[list[int]] = []
        batches: list[Any] = []
        for group in learner.batch_groups(assignments) if batched else [[a] for a in assignments]:
            units.append(list(range(len(batches), len(batches) + len(group))))
            batches += learner.joint_batches(group) if batched else [learner.client_batches(*group[0])]
        cost = [len(b) * learner.step_flops(r, b[0][0].shape[0], int(b[0][1].sum(dim=1).max()), d) if b else 0.0
                for (d, r), b in zip(assignments, batches)]  # fmt: skip
        shares = [s for s in shares_by_cost([sum(cost[i] for i in u) for u in units], len(self.actors)) if s]
        self.rounds_sent.append([sum(len(units[u]) for u in s) for s in shares])

        def job(i: int) -> tuple:
            return (*assignments[i], starts[i], batches[i], learner._optimizers.get(assignments[i]))

        refs = [actor.train.remote(learner.round, [(u, [job(i) for i in units[u]]) for u in share], batched)
                for actor, share in zip(self.actors, shares)]  # fmt: skip
        trained: list[Any] = [None] * len(assignments)
        try:
            replies = self._ray.get(refs)
        except self._ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"--backend ray: an actor failed in round {learner.round}: {first}") from exc
        for share, results in zip(shares, replies):
            for u, unit_results in zip(share, results):
                for i, result in zip(units[u], unit_results):
                    trained[i] = result
        out: list[ClientUpdate] = []
        for (d, r), start, b, (state, loss, kept) in zip(assignments, starts, batches, trained):
            if kept is not None:
                learner._optimizers[(d, r)] = kept
            out.append(learner._update(d, r, start, state, b, loss, None if batched else budgets.get(d)))
        return out

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []
        if self._started:
            self._ray.shutdown()
