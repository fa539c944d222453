"""Federated distillation through the method seam: top-k payloads follow the budget, teachers shape training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedwireless.learning.config import TaskConfig
from fedwireless.learning.federated_config import FederatedConfig
from fedwireless.learning.learner import Learner
from fedwireless.learning.methods.topk_logits import decode_topk, payload_bytes

from .test_learner import TASK


def _learner(tmp_path, kind="classification", **distill):
    task = TaskConfig.model_validate({**TASK.model_dump(), "kind": kind})
    fed = FederatedConfig(ranks=[4], training="distill", distill={"proxy_samples": 6, **distill})
    return Learner(task, fed, 4, ["a", "a", "b", "b"], np.random.SeedSequence(3), cache_dir=tmp_path)


def test_adaptive_k_follows_each_clients_budget_and_payload_is_real(tmp_path):
    lr = _learner(tmp_path, kind="causal-lm", variant="adaptive", value_bits=16, eta=1.0)
    vocab = lr.method.vocab()
    budgets = {0: 2e3, 1: 2e4, 2: 2e5}
    ups = lr.train_clients([(0, 4), (1, 4), (2, 4)], budgets)
    ks = [u.info["topk"] for u in ups]
    assert ks == sorted(ks) and ks[0] < ks[2] <= vocab
    for u in ups:
        idx, val, v = decode_topk(u.payload)
        assert v == vocab and idx.shape[1] == u.info["topk"]
        assert len(u.payload) == payload_bytes(idx.shape[0], vocab, idx.shape[1], 16)
        if u.info["topk"] > 1:
            assert 8 * len(u.payload) <= budgets[u.device]  # fits the upload window
        # The values are the client's log-probabilities: at most 0, in descending order per row.
        assert (val <= 1e-3).all() and (np.diff(val, axis=1) <= 1e-2).all()
    # Policies plan with the floor (k = 1), the ceiling (k = V) and the window share η, over the real
    # next-token positions of six proxy texts on average (not the padded length).
    real = lr.data.public_mask[:, 1:].sum(axis=1)
    assert real.mean() < lr.data.public_ids.shape[1] - 1  # padding exists, so the check has teeth
    rows = round(6 * real.mean())
    assert abs(rows - decode_topk(ups[0].payload)[0].shape[0]) <= 6 * (real.max() - real.min())
    least, most, eta = lr.payload_growth()
    assert (least, most, eta) == (8 * payload_bytes(rows, vocab, 1, 16), 8 * payload_bytes(rows, vocab, vocab, 16), 1.0)
    assert _learner(tmp_path, variant="fixed-k").payload_growth() is None


def test_fixed_and_full_variants_and_teacher_enters_the_loss(tmp_path):
    fixed = _learner(tmp_path, variant="fixed-k", k=1)
    ups = fixed.train_clients([(0, 4), (1, 4)], {0: 1e9, 1: 1e9})
    assert {u.info["topk"] for u in ups} == {1}
    full = _learner(tmp_path, variant="full")
    assert {u.info["topk"] for u in full.train_clients([(0, 4)])} == {2}  # two labels
    # Without a teacher the loss is the task's; after an aggregation it gains the distillation term.
    plain = fixed.method.local_loss(fixed.client_loss, 0)
    assert plain == fixed.client_loss
    fixed.aggregate(ups)
    assert fixed.method.teacher is not None and len(fixed.downlink_payload()) > 0
    q = fixed.method.teacher[1].numpy()
    assert q.shape == (6, 2) and np.allclose(q.sum(axis=1), 1.0)
    # Its value: CE on the private batch + α·τ²·KL(q ‖ softmax(z/τ)) over the proxy texts, by hand. The batch
    # has more rows (8) than there are proxy texts (6), so every proxy text is distilled on, in order.
    rows = fixed.method.teacher[0]
    alpha, tau = 0.7, 3.0
    fixed.method.cfg = fixed.method.cfg.model_copy(update={"alpha": alpha, "temperature": tau})
    distilled = fixed.method.local_loss(fixed.client_loss, 0)
    model = fixed.method.model.eval()
    batch = fixed.client_batches(0, 4)[0]
    assert len(batch[0]) == 8 > len(rows)
    with torch.no_grad():
        value = float(distilled(model, batch))
        logits = model(input_ids=batch[0], attention_mask=batch[1]).logits.double()
        ce = -logits.log_softmax(-1)[torch.arange(8), batch[2]].mean()
        pub = fixed.data
        z = model(input_ids=torch.from_numpy(pub.public_ids[rows]),
                  attention_mask=torch.from_numpy(pub.public_mask[rows])).logits.double()  # fmt: skip
    log_p = (z / tau).log_softmax(-1).numpy()
    qd = q.astype(np.float64)
    kl = float(np.sum(np.where(qd > 0, qd * (np.log(np.where(qd > 0, qd, 1.0)) - log_p), 0.0))) / len(rows)
    assert kl > 1e-4  # the term is not vanishing, so a wrong α, τ² or direction shows
    assert value == pytest.approx(float(ce) + alpha * tau**2 * kl, rel=1e-5)


def test_each_device_keeps_its_own_model_and_metrics_average_them(tmp_path):
    lr = _learner(tmp_path, variant="fixed-k", k=2)
    before = lr.evaluate()
    lr.aggregate(lr.train_clients([(0, 4), (1, 4)]))
    after = lr.evaluate()
    assert set(lr.method.personal) == {0, 1}  # devices 2 and 3 never trained: still the initial adapter
    assert len(lr.device_metrics()) == 4 and all("accuracy" in m for m in lr.device_metrics())
    assert after != before and 0.0 <= after["accuracy"] <= 1.0
    assert lr.info()["training_path"].startswith("sequential (federated distillation")


def test_distillation_needs_public_text():
    from fedwireless.learning.methods.distill import DistillMethod

    no_public = type("Data", (), {"public_ids": None})()
    with pytest.raises(ValueError, match="public text"):
        DistillMethod(None, None, task=None, federated=None, seeds=None, data=no_public)


def test_heterogeneous_models_in_one_run(tmp_path):
    from fedwireless.scenario import validate
    from fedwireless.sim.run import run_scenario

    from ..conftest import TINY

    small = {k.removeprefix("task.model."): v for k, v in TINY.items() if k.startswith("task.model.")}
    large = {**small, "hidden_size": 32, "intermediate_size": 64}
    sc = validate(
        {
            "name": "hetero",
            "rounds": 1,
            "deadline_s": 100,
            "devices": [{"name": "small", "count": 2}, {"name": "large", "count": 2, "model": "large"}],
            "task": {
                "kind": "causal-lm",
                "model": small,
                "models": {"large": large},
                "pretrain": {"steps": 5},
                "dataset": {"num_train": 80, "num_test": 20, "num_public": 40},
                "local_steps": 2,
                "batch_size": 8,
            },
            "federated": {"ranks": [4], "training": "distill", "distill": {"variant": "fixed-k", "k": 3}},
            "output": {"plots": False},
        }
    )
    summary = run_scenario(sc, tmp_path / "run")
    assert summary["device_model"] == [None, None, "large", "large"]
    import pandas as pd

    dev = pd.read_csv(tmp_path / "run" / "devices.csv")
    flops = dev.set_index("device")["flops"]
    # the larger model costs more per step (batches are padded to their longest text, so devices differ a little)
    assert min(flops[2], flops[3]) > 2 * max(flops[0], flops[1])
    assert (dev["topk"] == 3).all() and dev["eval_accuracy"].notna().all()
    with pytest.raises(Exception, match="devices\\[0\\].model: unknown model 'huge'"):
        validate({"devices": [{"model": "huge"}], "federated": {"training": "distill"}})
    with pytest.raises(Exception, match="need federated.training: distill"):
        validate({"devices": [{"model": "large"}], "task": {"model": small, "models": {"large": large}}})


def test_hidden_projection_shape_payload_and_loss(tmp_path):
    from fedwireless.learning.methods.topk_logits import decode_hidden, hidden_bytes, split_payload

    task = TaskConfig.model_validate({**TASK.model_dump(), "kind": "causal-lm"})
    fed = FederatedConfig(
        ranks=[2, 4], training="distill",
        distill={"proxy_samples": 5, "variant": "fixed-k", "k": 2, "hidden_weight": 0.5},
    )  # fmt: skip
    lr = Learner(task, fed, 4, ["a", "a", "b", "b"], np.random.SeedSequence(3), cache_dir=tmp_path)
    ups = lr.train_clients([(0, 2), (1, 4)])
    for u in ups:
        top, block = split_payload(u.payload)
        z = decode_hidden(block)
        assert z.shape == (5, 2)  # per proxy text, the common r = min(ranks)
        assert len(block) == hidden_bytes(5, 2, 16) and u.state["hidden"].shape == (5, 2)
    # Planning counts the public texts' mean real positions (five of them) and the hidden block; the round's
    # own proxy batch has its own lengths.
    vocab, real = lr.method.vocab(), lr.data.public_mask[:, 1:].sum(axis=1)
    planned = 8 * (payload_bytes(round(5 * real.mean()), vocab, 2, 16) + hidden_bytes(5, 2, 16))
    sent_rows = decode_topk(split_payload(ups[0].payload)[0])[0].shape[0]
    assert lr.expected_payload_bits(2) == planned
    assert 8 * len(ups[0].payload) == 8 * (payload_bytes(sent_rows, vocab, 2, 16) + hidden_bytes(5, 2, 16))
    lr.aggregate(ups)
    z_global = lr.method.teacher[2]
    assert z_global.shape == (5, 2)
    expected = sum(w * u.state["hidden"].double() for w, u in zip(np.array([len(lr.data.parts[d]) for d in (0, 1)])
                   / sum(len(lr.data.parts[d]) for d in (0, 1)), ups))  # fmt: skip
    assert torch.allclose(z_global.double(), expected, atol=1e-2)  # float16 on the wire
    # The term enters the loss: λ·mean‖z − z_global‖². Devices start from the same adapter, so z ≈ z_global;
    # moving the global projections by 1 adds about λ·1 to the loss.
    lr.method.client_start(2, 4, 2)
    batch = lr.client_batches(2, 4)[0]
    near = float(lr.method.local_loss(lr.client_loss, 2)(lr.method.model, batch).detach())
    rows, q, z_global = lr.method.teacher
    lr.method.teacher = (rows, q, z_global + 1.0)
    far = float(lr.method.local_loss(lr.client_loss, 2)(lr.method.model, batch).detach())
    assert far - near == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize(
    ("variant", "aggregation", "mode"),
    [("fixed-k", None, "zero-pad"), ("fixed-k", "adaptive", "adaptive"), ("adaptive", None, "adaptive"),
     ("adaptive", "zero-pad", "zero-pad"), ("full", "zero-pad", "zero-pad")],
)  # fmt: skip
def test_aggregation_is_its_own_setting_whatever_chose_k(tmp_path, monkeypatch, variant, aggregation, mode):
    """k comes from `variant`, the merge from `aggregation`: the teacher is the broadcast of the merge asked
    for, computed here from the uploads with the other module's aggregate_topk."""
    from fedwireless.learning.methods import distill as distill_module
    from fedwireless.learning.methods.topk_logits import aggregate_topk

    lr = _learner(tmp_path, kind="causal-lm", variant=variant, aggregation=aggregation, k=3)
    ups = lr.train_clients([(0, 4), (1, 4), (2, 4)], {0: 3e3, 1: 3e4, 2: 3e5})
    ks = {u.info["topk"] for u in ups}
    assert ks == ({3} if variant == "fixed-k" else {lr.method.vocab()} if variant == "full" else ks)
    modes = []

    def spy(*a, **kw):
        modes.append(kw.get("mode", "adaptive"))
        return aggregate_topk(*a, **kw)

    monkeypatch.setattr(distill_module, "aggregate_topk", spy)
    lr.aggregate(ups)
    assert modes[0] == mode  # the merge of the uploads (the second call reads the broadcast back)
    weights = [len(lr.data.parts[u.device]) for u in ups]
    idx = [decode_topk(u.payload)[0] for u in ups]
    val = [decode_topk(u.payload)[1] for u in ups]
    q = aggregate_topk(idx, val, weights, lr.method.vocab(), mode=mode)
    top = np.argsort(-q, axis=1, kind="stable")[:, : max(i.shape[1] for i in idx)]
    teacher = lr.method.teacher[1].numpy()
    # The broadcast keeps q's top entries (float16 on the wire): they match q where q is not tiny.
    kept = np.take_along_axis(teacher, top, axis=1)
    assert np.allclose(kept, np.take_along_axis(q, top, axis=1) / q.sum(axis=1, keepdims=True), atol=5e-3)


def test_alpha_zero_is_local_training_but_keeps_the_hidden_term(tmp_path):
    """α = 0, the no-distillation baseline: after an aggregation the loss is the task's own; with the hidden
    projection on, only λ·mean‖z − z_global‖² is added."""
    lr = _learner(tmp_path, variant="fixed-k", k=1, alpha=0.0)
    lr.aggregate(lr.train_clients([(0, 4), (1, 4)]))
    assert lr.method.teacher is not None
    assert lr.method.local_loss(lr.client_loss, 0) == lr.client_loss
    hid = _learner(tmp_path, kind="causal-lm", variant="fixed-k", k=1, alpha=0.0, hidden_weight=0.5)
    hid.aggregate(hid.train_clients([(0, 4), (1, 4)]))
    hid.method.client_start(2, 4, 2)
    batch = hid.client_batches(2, 4)[0]
    model = hid.method.model
    with torch.no_grad():
        plain = float(hid.client_loss(model, batch))
        rows, q, z_global = hid.method.teacher
        hid.method.teacher = (rows, q, torch.zeros_like(z_global))
        z = hid.method._outputs(model, rows, 4)[1].float()  # 6 proxy texts ≤ 8 rows: every one is picked
        got = float(hid.method.local_loss(hid.client_loss, 2)(model, batch))
    assert z.abs().max() > 1e-3  # the projections are not zero, so a missing term shows
    assert got == pytest.approx(plain + 0.5 * float((z**2).mean()), rel=1e-5)
