"""The one training loop: schedules, optimizer settings, persistent client state, local epochs, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedwireless.learning.config import TaskConfig
from fedwireless.learning.federated_config import FederatedConfig
from fedwireless.learning.learner import Learner
from fedwireless.learning.training import OptimizerSettings, lr_factor, make_optimizer, run_steps
from fedwireless.rng import child_seed

from .test_learner import TASK


def test_warmup_cosine_schedule():
    s = OptimizerSettings(1e-3, schedule="warmup-cosine", warmup_fraction=0.2, min_lr_ratio=0.1)
    f = [lr_factor(i, 10, s) for i in range(10)]
    assert f[:2] == [0.5, 1.0]  # linear warm-up over 2 of 10 steps
    # Cosine from 1 at the end of warm-up down towards 0.1 at the last step.
    assert f[2] == pytest.approx(1.0) and all(a > b for a, b in zip(f[2:], f[3:]))
    assert f[8] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 6 / 7)))
    assert f[9] == pytest.approx(0.1)  # the floor at the last step
    assert lr_factor(5, 10, OptimizerSettings(1e-3)) == 1.0


def test_run_steps_applies_schedule_betas_and_weight_decay():
    w = torch.nn.Parameter(torch.ones(3))
    s = OptimizerSettings(0.1, betas=(0.8, 0.9), weight_decay=0.5, schedule="warmup-cosine", warmup_fraction=0.5)
    opt = make_optimizer([w], s)
    seen = []
    history = run_steps(
        4, lambda i: [(w * 0).sum() + 0 * w.sum()], opt, s, after_step=lambda: seen.append(opt.param_groups[0]["lr"])
    )
    assert len(history) == 4 and opt.param_groups[0]["betas"] == (0.8, 0.9)
    assert seen == pytest.approx([0.1 * lr_factor(i, 4, s) for i in range(4)])
    # Zero gradient: only decoupled weight decay moves w, by (1 − lr·wd) each step.
    assert torch.allclose(w.detach(), torch.ones(3) * np.prod([1 - 0.5 * x for x in seen]))


def _learner(tmp_path, batch_clients=True, **task_extra):
    task = TaskConfig.model_validate({**TASK.model_dump(), **task_extra})
    fed = FederatedConfig(ranks=[4], batch_clients=batch_clients)
    return Learner(task, fed, 4, ["a", "a", "b", "b"], np.random.SeedSequence(7), cache_dir=tmp_path)


def test_persistent_optimizer_changes_only_later_rounds(tmp_path):
    fresh = _learner(tmp_path, batch_clients=False)  # both one by one: equal bytes where nothing is kept
    kept = _learner(tmp_path, optimizer={"persistent": True})
    asg = [(0, 4), (1, 4)]
    a1, b1 = fresh.train_clients(asg), kept.train_clients(asg)
    assert [u.payload for u in a1] == [u.payload for u in b1]  # first round: nothing to keep yet
    assert kept.info()["training_path"].startswith("sequential (task.optimizer.persistent")
    assert set(kept._optimizers) == {(0, 4), (1, 4)} and kept._optimizers[(0, 4)]["state"]
    fresh.aggregate(a1)
    kept.aggregate(b1)
    a2, b2 = fresh.train_clients(asg), kept.train_clients(asg)
    assert [u.payload for u in a2] != [u.payload for u in b2]


def test_local_epochs_set_steps_per_device(tmp_path):
    lr = _learner(tmp_path, local_epochs=2.0, partition={"kind": "dirichlet", "alpha": 0.3})
    sizes = [len(p) for p in lr.data.parts]
    assert [lr.local_steps(d) for d in range(4)] == [max(1, math.ceil(2 * n / min(8, n))) for n in sizes]
    planned = lr.expected_flops(4)
    ups = lr.train_clients([(d, 4) for d in range(4)])
    for d, u in enumerate(ups):  # counted over the batches it trained on, each at its longest text
        widths = [int(b[1].sum(dim=1).max()) for b in lr.client_batches(d, 4)]
        assert u.flops == pytest.approx(sum(lr.step_flops(4, min(8, sizes[d]), w, d) for w in widths))
        assert u.flops == pytest.approx(planned[d], rel=0.25)  # the plan expects each batch's longest text
    if len({lr.local_steps(d) for d in range(4)}) > 1:
        assert "different local step counts" in lr.info()["training_path"]


def test_seed_children_are_addressed_not_spawned():
    root = np.random.SeedSequence(11)
    a = child_seed(root, "batches", 3, 1).generate_state(2)
    assert np.array_equal(a, child_seed(root, "batches", 3, 1).generate_state(2))
    child_seed(root, "something-new")  # another consumer does not shift anyone's stream
    assert np.array_equal(a, child_seed(root, "batches", 3, 1).generate_state(2))
    assert not np.array_equal(a, child_seed(root, "batches", 3, 2).generate_state(2))
    assert 0 <= child_seed(root, "torch", as_int=True) < 2**63


def test_lora_dropout_runs_are_reproducible(tmp_path):
    # Dropout masks come from the run's seed, not from torch's global generator.
    task = TaskConfig.model_validate(TASK.model_dump())
    fed = FederatedConfig(ranks=[4], lora_dropout=0.2)
    runs = []
    for _ in range(2):
        torch.manual_seed(np.random.default_rng().integers(2**31))  # whatever the global state is
        lr = Learner(task, fed, 4, ["a", "a", "b", "b"], np.random.SeedSequence(7), cache_dir=tmp_path)
        runs.append([u.payload for u in lr.train_clients([(0, 4), (1, 4)])])
    assert runs[0] == runs[1]


def test_device_choice_and_mixed_precision(tmp_path):
    from fedwireless.learning.device import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="task.device: cuda asked for"):
            resolve_device("cuda")
    # bf16 autocast on the CPU trains and reports where it ran; fp32 on "cpu" equals "auto" here.
    mixed = _learner(tmp_path, precision="bf16")
    ups = mixed.train_clients([(0, 4), (1, 4)])
    assert all(np.isfinite(u.train_loss) for u in ups) and mixed.info()["precision"] == "bf16"
    plain = _learner(tmp_path, device="cpu")
    assert plain.info()["device"] == "cpu"
    assert [u.payload for u in plain.train_clients([(0, 4)])] != [ups[0].payload]


@pytest.mark.parametrize("batch_clients", [True, False])
def test_a_run_wide_schedule_continues_across_rounds(tmp_path, monkeypatch, batch_clients):
    """`schedule_span: run`: one warm-up + cosine over rounds × local steps. With 4 rounds of 2 steps and a
    3-step warm-up the lr at run step t (round r, step s: t = 2(r − 1) + s) is lr·(t + 1)/3 for t < 3, then
    lr·½(1 + cos(π(t − 3)/4)) down to 0 at t = 7; a client that sits round 2 out skips t = 2, 3."""
    lr, rounds, warmup, total = 1e-2, 4, 3, 8
    seen: list[tuple[int, float]] = []
    original = torch.optim.AdamW.step

    def step(self, *a, **kw):
        seen.append((len(self.param_groups[0]["params"]), self.param_groups[0]["lr"]))
        return original(self, *a, **kw)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    task = TaskConfig.model_validate({**TASK.model_dump(), "lr": lr,
                                      "optimizer": {"schedule": "warmup-cosine", "schedule_span": "run",
                                                    "warmup_steps": warmup}})  # fmt: skip
    learner = Learner(task, FederatedConfig(ranks=[4], batch_clients=batch_clients), 4, ["a", "a", "b", "b"],
                      np.random.SeedSequence(7), cache_dir=tmp_path, rounds=rounds)  # fmt: skip

    def by_hand(t: int) -> float:
        if t < warmup:
            return lr * (t + 1) / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup - 1)))

    want = []
    for r in range(1, rounds + 1):
        clients = [(0, 4), (1, 4)] if r != 2 else [(1, 4)]
        seen.clear()
        learner.aggregate(learner.train_clients(clients))
        per_client = 1 if batch_clients and len(clients) > 1 else len(clients)
        want = [by_hand(2 * (r - 1) + s) for _ in range(per_client) for s in range(2)]
        assert [x for _, x in seen] == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert want[-1] == pytest.approx(0.0, abs=1e-15) and by_hand(2) == pytest.approx(lr)
    assert learner.info()["training_path"].startswith("batched" if batch_clients else "sequential")


def test_a_run_wide_schedule_needs_the_runs_length(tmp_path):
    task = TaskConfig.model_validate({**TASK.model_dump(), "optimizer": {"schedule_span": "run"}})
    with pytest.raises(ValueError, match="schedule_span: run needs"):
        Learner(task, FederatedConfig(ranks=[4]), 4, ["a"] * 4, np.random.SeedSequence(7), cache_dir=tmp_path)
