"""The same FedAvg-LoRA work in fedwireless, pfl-research (Apple, `pfl` 0.6, PyTorch backend) and Flower's
simulation engine, side by side, at 20 and 100 clients per round.

Same base model (the quickstart Llama pre-trained once, read from the cache by every side), LoRA r8 on q/v with
the classification head, the same data partitions, and the same batches: every side trains each client on the
rows fedwireless draws for that round and device (5 local steps × batch 8), with AdamW at the task's settings
and gradient clipping at 1.0, then averages the client models weighted by samples (equal shares here). A
network that drops nothing (generous deadline, no packet errors), so every client arrives.

- fedwireless: one process, its default batched path (the round's clients in one pass), the simulated radio
  network and an evaluation of the global model every round included;
- pfl-research: one process, its simulated backend (`SimulatedBackend`, one model updated in place per user,
  a difference buffer), `FederatedAveraging` with central SGD at lr 1 (the weighted average), evaluation off;
  each user's dataset is that round's batches, padded to one width, split by pfl into the same batches;
- Flower: `bench_flower.run_flower`, one client app per node on Ray actors calling the fedwireless learner for
  one client (sequential path), without evaluation.

Each side runs in its own process (pfl sets a process-wide multiprocessing start method on import). Prints
wall seconds per round after a warm-up round, the ratios, and the largest difference between each peer's final
global adapters and fedwireless'.

Needs pfl and Flower: `make bench-peers` installs them (pfl with `--no-deps`: its metadata pins an attrs and a
packaging this environment has newer versions of); a side that is not installed is reported and skipped.

Run: python benchmarks/bench_peers.py [--clients 20 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_flower import RANK, run_fedwireless, run_flower, scenario  # noqa: E402


def round_batches(learner, device: int, round_index: int):
    """The rows fedwireless trains `device` on in round `round_index`, as one dataset (ids, mask, labels)
    padded to one width: split in order into batches of `task.batch_size`, they are that round's batches."""
    import torch

    learner.round = round_index
    batches = learner.client_batches(device, RANK)
    width = max(b[0].shape[1] for b in batches)
    pad = torch.nn.functional.pad
    return tuple(
        torch.cat([pad(b[i], (0, width - b[i].shape[1]), value=learner.data.pad_id if i == 0 else 0)
                   if b[i].dim() == 2 else b[i] for b in batches])
        for i in range(3)
    )  # fmt: skip


def run_pfl(clients: int, rounds: int, initial: dict) -> tuple[dict, float]:
    os.environ.setdefault("PFL_PYTORCH_DEVICE", "cpu")
    import numpy as np
    import torch
    from pfl.aggregate.simulate import SimulatedBackend
    from pfl.aggregate.weighting import WeightByDatapoints
    from pfl.algorithm import FederatedAveraging, NNAlgorithmParams
    from pfl.callback.base import TrainingProcessCallback
    from pfl.data.federated_dataset import FederatedDataset
    from pfl.data.pytorch import PyTorchTensorDataset
    from pfl.data.sampling import get_user_sampler
    from pfl.hyperparam import NNEvalHyperParams, NNTrainHyperParams
    from pfl.metrics import Metrics, Weighted
    from pfl.model.pytorch import PyTorchModel  # first: it sets pfl's framework

    from fedwireless.rng import Streams
    from fedwireless.sim.loop import build_learner

    torch.set_num_threads(os.cpu_count() or 1)
    np.random.seed(0)
    torch.manual_seed(0)
    sc = scenario(clients)
    learner = build_learner(sc, Streams(sc.seed))
    method = learner.method
    method.load_adapter(RANK, {k: v.clone() for k, v in initial.items()})

    class Client(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = method.model

        def loss(self, ids, mask, labels):
            self.inner.train()
            return learner.client_loss(self.inner, (ids, mask, labels))

        def metrics(self, ids, mask, labels):
            return {"loss": Weighted(0.0, 1)}

    net = Client()
    trainable = [p for p in net.parameters() if p.requires_grad]
    s = learner.settings
    model = PyTorchModel(
        model=net,
        local_optimizer_create=lambda params, lr: torch.optim.AdamW(params, lr=lr, betas=s.betas,
                                                                    weight_decay=s.weight_decay),
        central_optimizer=torch.optim.SGD(trainable, lr=1.0),
    )  # fmt: skip
    state = {"round": 1}  # fedwireless' round numbers: the warm-up is round 1

    def user_data(uid: str):
        return PyTorchTensorDataset(round_batches(learner, int(uid), state["round"]), user_id=uid)

    class NoEvaluation(FederatedAveraging):
        def get_next_central_contexts(self, *args, **kwargs):
            contexts, m, metrics = super().get_next_central_contexts(*args, **kwargs)
            if contexts is not None:
                contexts = tuple(dataclasses.replace(c, do_evaluation=False) for c in contexts)
            return contexts, m, metrics

    laps: list[float] = []

    class Laps(TrainingProcessCallback):
        def on_train_begin(self, *, model):
            self.t = time.perf_counter()
            return Metrics()

        def after_central_iteration(self, aggregate_metrics, model, *, central_iteration):
            now = time.perf_counter()
            laps.append(now - self.t)
            self.t = now
            state["round"] += 1
            return False, Metrics()

    users = [str(d) for d in range(clients)]
    data = FederatedDataset(user_data, get_user_sampler("minimize_reuse", users))
    backend = SimulatedBackend(training_data=data, val_data=None, postprocessors=[WeightByDatapoints()])
    NoEvaluation().run(
        algorithm_params=NNAlgorithmParams(central_num_iterations=rounds + 1, evaluation_frequency=10**9,
                                           train_cohort_size=clients, val_cohort_size=0),
        backend=backend, model=model,
        model_train_params=NNTrainHyperParams(local_batch_size=sc.task.batch_size, local_num_epochs=None,
                                              local_learning_rate=s.lr, local_max_grad_norm=s.max_grad_norm,
                                              local_num_steps=sc.task.local_steps),
        model_eval_params=NNEvalHyperParams(local_batch_size=sc.task.batch_size),
        callbacks=[Laps()], send_metrics_to_platform=False,
    )  # fmt: skip
    return method.client_state(RANK), sum(laps[1:])


def side(name: str, clients: int, rounds: int, out: Path) -> None:
    """One side in this process: its final adapters to `out`, its seconds of the timed rounds on stdout."""
    import torch

    if name == "fedwireless":
        initial, state, seconds = run_fedwireless(clients, rounds)
        torch.save(initial, out.parent / "initial.pt")
    else:
        initial = torch.load(out.parent / "initial.pt")
        state, seconds = (run_pfl if name == "pfl" else run_flower)(clients, rounds, initial)
    torch.save(state, out)
    print(json.dumps({"seconds": seconds}))


def run_side(name: str, clients: int, rounds: int, out: Path) -> tuple[float, dict] | str:
    cmd = [sys.executable, __file__, "--side", name, "--clients", str(clients), "--rounds", str(rounds),
           "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return f"{name}: {last[:160]}"
    import torch

    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"], torch.load(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[20, 100])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--side", choices=["fedwireless", "pfl", "flower"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.side:
        side(args.side, args.clients[0], args.rounds, args.out)
        return 0
    cpus = os.cpu_count()
    print(f"FedAvg-LoRA r{RANK} on the quickstart model, 5 local steps x batch 8, AdamW, clip 1.0; seconds per round "
          f"over {args.rounds} rounds after a warm-up round; {cpus} CPUs")  # fmt: skip
    print(f"{'clients':>7s} {'fedwireless':>11s} {'pfl':>8s} {'Flower':>8s} {'pfl/fw':>7s} {'Flower/fw':>9s} "
          f"{'max|Δ| pfl':>11s} {'max|Δ| Flower':>13s}")  # fmt: skip
    notes = []
    for k in args.clients:
        with tempfile.TemporaryDirectory() as tmp:
            res = {n: run_side(n, k, args.rounds, Path(tmp) / f"{n}.pt") for n in ("fedwireless", "pfl", "flower")}
        if isinstance(res["fedwireless"], str):
            raise SystemExit(res["fedwireless"])
        fw_s, fw_state = res["fedwireless"]
        cells = [f"{fw_s / args.rounds:11.3f}"]
        ratios, diffs = [], []
        for n in ("pfl", "flower"):
            if isinstance(res[n], str):
                notes.append(res[n])
                cells.append(f"{'-':>8s}")
                ratios.append("-")
                diffs.append("-")
                continue
            s, state = res[n]
            cells.append(f"{s / args.rounds:8.3f}")
            ratios.append(f"{s / fw_s:.2f}")
            diffs.append(f"{max(float((fw_state[x] - state[x]).abs().max()) for x in fw_state):.2e}")
        print(f"{k:7d} {' '.join(cells)} {ratios[0]:>7s} {ratios[1]:>9s} {diffs[0]:>11s} {diffs[1]:>13s}", flush=True)
    for note in dict.fromkeys(notes):
        print(f"skipped: {note}")
    print("ratios: a peer's seconds per round over fedwireless'; above 1, fedwireless is faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
