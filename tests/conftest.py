"""Shared test helpers: a tiny model configuration that trains in well under a second."""

from __future__ import annotations

import pytest

# Overrides that shrink any built-in scenario to a few seconds of real training.
TINY = {
    "task.model.hidden_size": 16,
    "task.model.num_layers": 1,
    "task.model.num_heads": 2,
    "task.model.num_kv_heads": 1,
    "task.model.intermediate_size": 32,
    "task.model.max_seq_len": 16,
    "task.pretrain.steps": 20,
    "task.dataset.num_train": 200,
    "task.dataset.num_test": 50,
    "task.dataset.num_public": 100,
    "task.dataset.rows_per_area": 60,
    "task.eval.max_samples": 50,
    "task.local_steps": 2,
    "task.batch_size": 8,
}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test session pre-trains into its own cache, never the user's."""
    monkeypatch.setenv("FEDWIRELESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(autouse=True)
def _process_state_is_restored():
    """A test that changes torch's thread count or its deterministic-kernel switch must put it back: every
    test after it would otherwise run a path users do not (the suite once ran on one thread from the sixth
    file on)."""
    import torch

    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    yield
    after = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    assert after == before, f"torch (threads, deterministic) changed from {before} to {after} and was not restored"


def counted_step(learner, rank: int) -> tuple[int, int, float]:
    """(rows, width, FLOPs torch's FlopCounterMode counts) of one training step of a learner's first batch at
    `rank`: forward and backward in train mode, gradients cleared afterwards."""
    from torch.utils.flop_counter import FlopCounterMode

    model = learner.method.model
    model.train()
    batch = learner.client_batches(0, rank)[0]
    with FlopCounterMode(display=False) as counter:
        learner.client_loss(model, batch).backward()
    model.zero_grad()
    rows, width = batch[0].shape
    return int(rows), int(width), sum(counter.get_flop_counts()["Global"].values())
