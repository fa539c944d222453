"""The batched client path gives the same updates as training clients one by one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from fedwireless.learning.batched import train_lora_batched
from fedwireless.rng import Streams
from fedwireless.scenario import load_scenario
from fedwireless.sim.loop import build_learner
from fedwireless.sim.run import run_scenario

from ..conftest import TINY

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"
# Float32 summation order differs (one bmm over all clients vs peft's per-client layers), and AdamW divides
# by the gradient scale, so rounding shows at ~lr·1e-3: measured up to 1.7e-6 after two rounds (values ~0.1).
EQUAL_ATOL = 1e-5
CLIP = 0.05  # small enough that every client's gradient is clipped


def learner(batched: bool, **extra):
    overrides = {
        **TINY,
        "task.max_grad_norm": CLIP,
        # Uneven shares: some devices hold fewer rows than the batch, so clients' batches differ in size.
        "task.partition": {"kind": "dirichlet", "alpha": 0.3},
        "task.batch_size": 16,
        "federated.batch_clients": batched,
        **extra,
    }
    return build_learner(load_scenario(QUICKSTART, overrides), Streams(0))


def assignments(ranks):
    return [(d, ranks[d % len(ranks)]) for d in range(8)]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"federated.ranks": [2, 4, 8]},
        {"task.kind": "causal-lm", "federated.ranks": [2, 8]},
        {"federated.ranks": [4], "federated.aggregation": "flora", "policy.params.rank": 4},
    ],
    ids=["equal-ranks", "mixed-ranks", "causal-lm-mixed", "flora"],
)
def test_batched_updates_equal_sequential(extra):
    ranks = extra.get("federated.ranks", [8])
    runs = {}
    for batched in (True, False):
        lrn = learner(batched, **extra)
        rounds = []
        for _ in range(2):  # the second round starts from an aggregate of the first
            ups = lrn.train_clients(assignments(ranks))
            lrn.aggregate(ups)
            rounds.append(ups)
        runs[batched] = (rounds, lrn.info()["training_path"])
    assert runs[True][1] == "batched"
    assert runs[False][1].startswith("sequential")
    sizes = {len(lrn.data.parts[d]) for d, _ in assignments(ranks)}
    assert min(sizes) < 16 < max(sizes)  # batches of different sizes were concatenated
    for got, want in zip(*(runs[b][0] for b in (True, False))):
        for a, b in zip(got, want):
            assert a.device == b.device and a.rank == b.rank and len(a.payload) == len(b.payload)
            assert a.train_loss == pytest.approx(b.train_loss, abs=EQUAL_ATOL)
            for k in b.state:
                assert a.state[k].shape == b.state[k].shape
                torch.testing.assert_close(a.state[k], b.state[k], atol=EQUAL_ATOL, rtol=0)


def test_base_is_untouched_and_the_comparison_can_fail():
    lrn = learner(True, **{"federated.ranks": [2, 8]})
    model, scale = lrn.method.model, lrn.method.scale
    asg = assignments([2, 8])
    starts = [lrn.method.client_start(d, r, 1) for d, r in asg]
    base = {k: v.clone() for k, v in model.named_parameters() if not v.requires_grad}
    batches = lrn.joint_batches(asg)
    args = (lrn.loss_from_logits, lrn.settings)
    right = train_lora_batched(model, starts, batches, *args, scale)
    for k, v in model.named_parameters():
        if k in base:
            assert torch.equal(v, base[k]), k
    # A wrong LoRA scale changes the results: the equality above is not vacuous.
    wrong = train_lora_batched(model, starts, batches, *args, 2 * scale)
    worst = max(float((a[0][k] - b[0][k]).abs().max()) for a, b in zip(right, wrong) for k in a[0])
    assert worst > 10 * EQUAL_ATOL
    # Clipping is per client: without it the updates differ too.
    unclipped = train_lora_batched(
        model, starts, batches, lrn.loss_from_logits, replace(lrn.settings, max_grad_norm=None), scale
    )
    worst = max(float((a[0][k] - b[0][k]).abs().max()) for a, b in zip(right, unclipped) for k in a[0])
    assert worst > 10 * EQUAL_ATOL


def test_summary_says_which_path_ran(tmp_path):
    base = {**TINY, "rounds": 1, "output.plots": False}
    sc = load_scenario(QUICKSTART, base)
    assert run_scenario(sc, tmp_path / "a")["training_path"] == "batched"
    sc = load_scenario(QUICKSTART, {**base, "federated.lora_dropout": 0.1})
    assert run_scenario(sc, tmp_path / "b")["training_path"] == "sequential (lora_dropout > 0 (dropout masks differ))"
