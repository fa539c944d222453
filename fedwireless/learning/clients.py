"""A round's client training steps, shared by every backend: the local learner runs them in this process, a Ray
actor (`fedwireless.sim.remote`) runs the same ones on its share of the cohort, so the bytes agree."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedwireless.learning.training import local_train, make_optimizer
from fedwireless.rng import child_seed

State = dict[str, torch.Tensor]


def train_group(learner, starts: Sequence[State], batches, group: int = 0) -> list[tuple[State, float]]:
    """Clients trained together (`learner.method.train_batched`), the model's dropout from the round's stream for
    the cohort's `group`-th batch (the first keeps the key a whole-cohort batch had)."""
    key = ("batched",) if group == 0 else ("batched", group)
    with torch.random.fork_rng(devices=learner.gpus()):
        torch.manual_seed(child_seed(learner.seeds, "dropout", learner.round, *key, as_int=True))
        settings = learner.round_settings(len(batches[0]) if batches else 0)
        return learner.method.train_batched(starts, batches, learner.loss_from_logits, settings)


def train_one(learner, device: int, rank: int, batches, optimizer_state: dict | None):
    """One client from the start loaded in the model: (trained state, mean loss, AdamW state to keep or None).
    `optimizer_state`: the client's AdamW state from its last round (`task.optimizer.persistent`)."""
    method = learner.method
    params = method.trainable_params(rank)
    opt = None
    if optimizer_state is not None:
        opt = make_optimizer(params, learner.settings)  # the schedule sets lr at every step
        opt.load_state_dict(optimizer_state)
    loss_fn = method.local_loss(learner.client_loss, device)
    with torch.random.fork_rng(devices=learner.gpus()):  # dropout masks from this client's own stream
        torch.manual_seed(child_seed(learner.seeds, "dropout", learner.round, device, rank, as_int=True))
        settings = learner.round_settings(len(batches))
        loss, opt = local_train(method.model, params, batches, loss_fn, settings, opt)
    kept = opt.state_dict() if learner.task.optimizer.persistent else None
    return method.client_state(rank), loss, kept
