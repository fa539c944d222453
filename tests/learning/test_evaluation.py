"""Per-device held-out evaluation and the classification figures."""

from __future__ import annotations

import numpy as np
import pytest

from fedwireless.learning.evaluation import classification_metrics
from fedwireless.learning.setup import hold_out

from .test_training import _learner


def test_macro_f1_and_balanced_accuracy_by_hand():
    # true 0: 8 right, 2 wrong; true 1: 1 right, 1 wrong (rows: true class, columns: predicted).
    m = classification_metrics(np.array([[8, 2], [1, 1]]))
    f1_0 = 2 * (8 / 9) * (8 / 10) / (8 / 9 + 8 / 10)
    f1_1 = 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)
    assert m["macro_f1"] == pytest.approx((f1_0 + f1_1) / 2)
    assert m["balanced_accuracy"] == pytest.approx((0.8 + 0.5) / 2)
    # A class absent from the truth does not count; always answering the majority gives F1 of one class.
    assert classification_metrics(np.array([[5, 0], [0, 0]]))["macro_f1"] == 1.0
    assert classification_metrics(np.array([[9, 0], [1, 0]]))["balanced_accuracy"] == 0.5


def test_hold_out_is_disjoint_and_keeps_every_device_training():
    parts = [np.arange(0, 10), np.arange(10, 11), np.arange(11, 31)]
    train, held = hold_out(parts, 0.1, np.random.default_rng(0))
    assert [len(h) for h in held] == [1, 0, 2] and [len(t) for t in train] == [9, 1, 18]
    for p, t, h in zip(parts, train, held):
        assert sorted(np.concatenate([t, h]).tolist()) == p.tolist()


def test_per_device_metrics_follow_the_global_model(tmp_path):
    lr = _learner(tmp_path)
    metrics = lr.evaluate()
    assert len(lr.device_metrics()) == 4
    assert 0.0 <= metrics["majority_baseline"] <= 1.0 and metrics["majority_baseline"] >= 0.5
    for d, m in enumerate(lr.device_metrics()):
        rows = lr.data.device_eval[d]
        assert len(rows) > 0 and not set(rows) & set(lr.data.parts[d])  # never trained on
        # Recompute the device's accuracy from the model directly.
        import torch

        model = lr.method.eval_model()
        with torch.no_grad():
            logits = model(input_ids=torch.from_numpy(lr.data.train_ids[rows]),
                           attention_mask=torch.from_numpy(lr.data.train_mask[rows])).logits  # fmt: skip
        acc = float((logits.argmax(-1).numpy() == lr.data.train_labels[rows]).mean())
        assert m["accuracy"] == pytest.approx(acc)
