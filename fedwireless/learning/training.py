"""The one training loop: clients one by one, clients batched together, and base-model pre-training.

A caller supplies the losses of each step (one per client it trains at once) and, where the defaults do
not fit, how gradients are clipped and what happens after each optimizer step. The loop owns the order
zero_grad → backward → clip → step → schedule, so every path trains alike.

Optimizer: AdamW with the scenario's betas and weight decay. Learning-rate schedule over the steps of
one call (a client's local training in one round, or the whole pre-training) or, for a run-wide schedule,
over the whole run with the call's steps placed in it (`schedule_start`, `schedule_total`): `constant`, or
`warmup-cosine` (linear warm-up over `warmup_steps` or `warmup_fraction` of the steps, then cosine decay to
`min_lr_ratio`·lr).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

Batch = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class OptimizerSettings:
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | warmup-cosine
    warmup_fraction: float = 0.1
    min_lr_ratio: float = 0.0
    max_grad_norm: float | None = None
    autocast: object = None  # a context manager factory for mixed precision (None: fp32)
    warmup_steps: int | None = None  # overrides warmup_fraction
    # Where a training's steps sit in a longer schedule: its first step is schedule step `schedule_start` of
    # `schedule_total` (None: the schedule is this training's own steps).
    schedule_start: int = 0
    schedule_total: int | None = None

    @classmethod
    def from_task(cls, task, autocast=None) -> OptimizerSettings:
        """The local-training settings of a `TaskConfig`."""
        o = task.optimizer
        return cls(task.lr, tuple(o.betas), o.weight_decay, o.schedule, o.warmup_fraction, o.min_lr_ratio,
                   task.max_grad_norm, autocast, o.warmup_steps)  # fmt: skip

    def within_run(self, round_index: int, rounds: int, steps_per_round: int) -> OptimizerSettings:
        """These settings for round `round_index` (1-based) of a run-wide schedule over `rounds` rounds."""
        return replace(self, schedule_start=(round_index - 1) * steps_per_round,
                       schedule_total=rounds * steps_per_round)  # fmt: skip


def lr_factor(step: int, total: int, settings: OptimizerSettings) -> float:
    """Multiplier of the base lr at `step` (0-based) of `total` steps."""
    if settings.schedule == "constant" or total <= 1:
        return 1.0
    if settings.warmup_steps is not None:
        warmup = settings.warmup_steps
    else:
        warmup = max(1, round(settings.warmup_fraction * total)) if settings.warmup_fraction > 0 else 0
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup - 1, 1)  # 0 right after warm-up, 1 at the last step
    floor = settings.min_lr_ratio
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def make_optimizer(params: Sequence[torch.Tensor], settings: OptimizerSettings) -> torch.optim.AdamW:
    return torch.optim.AdamW(list(params), lr=settings.lr, betas=settings.betas, weight_decay=settings.weight_decay)


def clip_together(params: Sequence[torch.Tensor], max_norm: float | None) -> Callable[[], None] | None:
    if max_norm is None:
        return None
    return lambda: torch.nn.utils.clip_grad_norm_(params, max_norm)


@contextmanager
def deterministic_kernels():
    """torch's deterministic kernels for a block, then the caller's setting back. Some default CPU kernels
    (an index_put with accumulation, scatter-adds) add in the order threads happen to run, so the same seed
    would give other bits under load; `warn_only` keeps an op without a deterministic version running."""
    enabled, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn)


def run_steps(
    num_steps: int,
    step_losses: Callable[[int], Sequence[torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    settings: OptimizerSettings,
    *,
    clip: Callable[[], None] | None = None,
    after_step: Callable[[], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[list[float]]:
    """Run `num_steps` optimizer steps; return each step's losses (one per entry of `step_losses(step)`).

    The summed losses are back-propagated, so parameters that only one loss reaches see that loss alone.
    """
    with deterministic_kernels():
        return _run_steps(num_steps, step_losses, optimizer, settings, clip, after_step, progress)


def _run_steps(num_steps, step_losses, optimizer, settings, clip, after_step, progress) -> list[list[float]]:
    history: list[list[float]] = []
    total = num_steps if settings.schedule_total is None else settings.schedule_total
    for step in range(num_steps):
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * lr_factor(settings.schedule_start + step, total, settings)
        if settings.autocast is None:
            losses = list(step_losses(step))
        else:
            with settings.autocast():
                losses = [x.float() for x in step_losses(step)]
        optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        if clip is not None:
            clip()
        optimizer.step()
        if after_step is not None:
            after_step()
        history.append([float(x.detach()) for x in losses])
        if progress is not None:
            progress(step + 1)
    return history


def local_train(
    model: torch.nn.Module,
    params: list[torch.nn.Parameter],
    batches: Sequence[Batch],
    loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor],
    settings: OptimizerSettings,
    optimizer: torch.optim.Optimizer | None = None,
) -> tuple[float, torch.optim.Optimizer]:
    """One client's local training over `batches`; returns its mean loss and the optimizer it used
    (a client that keeps its optimizer state passes it back next round)."""
    opt = optimizer if optimizer is not None else make_optimizer(params, settings)
    model.train()
    try:
        history = run_steps(len(batches), lambda s: [loss_fn(model, batches[s])], opt, settings,
                            clip=clip_together(params, settings.max_grad_norm))  # fmt: skip
    finally:
        model.eval()
    return sum(h[0] for h in history) / max(len(history), 1), opt
