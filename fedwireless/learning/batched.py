"""Train the LoRA clients of a round together: one forward/backward per local step for all of them.

Tiny models on a CPU spend most of a step in per-call overhead, so C clients trained one after another
cost about C times one client. Here the frozen base runs once over the clients' concatenated batches,
and each target layer adds every row's own client's LoRA term, ``scale · (x A_cᵀ) B_cᵀ``, with the
clients' A and B stacked along a client dimension. Mixed ranks are padded to the largest with zero rows
of A and zero columns of B; those entries get exactly zero gradient (each is multiplied by the other
factor's zero padding), so AdamW never moves them and every client's result equals training it alone.

What stays per client, as in `local_train` (both run `training.run_steps`): the loss (its own mean, the
total is their sum, so each client's parameters see only their own loss's gradient), the AdamW state
(moments and decoupled weight decay are elementwise, so one AdamW over the stacks is C independent ones)
and gradient clipping (each client's norm over its own slices, the factor of
`torch.nn.utils.clip_grad_norm_`). A classification head trained
per client (peft `modules_to_save`) is stacked the same way.

Mechanism: the peft model runs inside `disable_adapter()` (its LoRA layers then call their base layer
only) with forward hooks on those base layers and on the head; the hooks are removed on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from fedwireless.learning.training import OptimizerSettings, make_optimizer, run_steps

State = dict[str, torch.Tensor]
A_SUFFIX = ".lora_A.weight"
B_SUFFIX = ".lora_B.weight"


def _modules(state: State) -> list[str]:
    return sorted(k[: -len(A_SUFFIX)] for k in state if k.endswith(A_SUFFIX))


def _head_module(model: torch.nn.Module, key: str) -> torch.nn.Module:
    """The module whose weight is the head key (`...score.weight`): the original behind peft's wrapper."""
    wrapper = model.get_submodule(key.removesuffix(".weight"))
    return getattr(wrapper, "original_module", wrapper)


def train_lora_batched(
    model: torch.nn.Module,
    starts: Sequence[State],
    batches: Sequence[Sequence[tuple[torch.Tensor, ...]]],
    loss_from_logits: Callable[[torch.Tensor, tuple[torch.Tensor, ...]], torch.Tensor],
    settings: OptimizerSettings,
    scale: float,
) -> list[tuple[State, float]]:
    """Train C clients from their start states (peft state dicts, possibly of different ranks).

    `batches[c]` are client c's local steps (equal count for all clients; rows may differ per client,
    the sequence length may not). `loss_from_logits(logits_c, batch_c)` is client c's mean loss.
    Returns each client's trained state (same keys and shapes as its start) and mean training loss.
    """
    num = len(starts)
    if num == 0 or len(batches) != num:
        raise ValueError(f"starts and batches: need one entry per client, got {len(starts)} and {len(batches)}")
    steps = {len(b) for b in batches}
    if len(steps) != 1:
        raise ValueError(f"batches: every client needs the same number of local steps, got {sorted(steps)}")
    modules = _modules(starts[0])
    heads = sorted(k for k in starts[0] if not (k.endswith(A_SUFFIX) or k.endswith(B_SUFFIX)))
    if any(
        _modules(s) != modules
        or sorted(set(s) - {m + A_SUFFIX for m in modules} - {m + B_SUFFIX for m in modules}) != heads
        for s in starts
    ):
        raise ValueError("starts: every client state must hold the same LoRA modules and head keys")
    device = next(model.parameters()).device  # starts come from the CPU; the stacks train where the model is
    ranks = [int(s[modules[0] + A_SUFFIX].shape[0]) for s in starts] if modules else [0] * num
    r_max = max(ranks) if ranks else 0

    # Stacked, padded parameters and the masks that keep padding at zero.
    params: list[torch.Tensor] = []
    a_stack: dict[str, torch.Tensor] = {}
    b_stack: dict[str, torch.Tensor] = {}
    for m in modules:
        a0, b0 = starts[0][m + A_SUFFIX], starts[0][m + B_SUFFIX]
        a = torch.zeros(num, r_max, a0.shape[1], dtype=a0.dtype, device=device)
        b = torch.zeros(num, b0.shape[0], r_max, dtype=b0.dtype, device=device)
        for c, s in enumerate(starts):
            a[c, : ranks[c]] = s[m + A_SUFFIX]
            b[c, :, : ranks[c]] = s[m + B_SUFFIX]
        a_stack[m], b_stack[m] = a.requires_grad_(), b.requires_grad_()
        params += [a_stack[m], b_stack[m]]
    head_stack = {k: torch.stack([s[k] for s in starts]).to(device).requires_grad_() for k in heads}
    params += list(head_stack.values())
    mixed = len(set(ranks)) > 1
    a_mask = torch.zeros(num, r_max, 1, device=device)
    for c, r in enumerate(ranks):
        a_mask[c, :r] = 1.0
    b_mask = a_mask.transpose(1, 2)  # [C, 1, R]

    row_client: torch.Tensor | None = None  # [N] client of each concatenated row, set per step

    def lora_hook(m: str):
        def hook(_module, inputs, output):
            x = inputs[0]
            a = a_stack[m][row_client]  # [N, R, in]
            b = b_stack[m][row_client]  # [N, out, R]
            return output + scale * torch.bmm(torch.bmm(x, a.transpose(1, 2)), b.transpose(1, 2))

        return hook

    def head_hook(k: str):
        def hook(_module, inputs, _output):
            w = head_stack[k][row_client]  # [N, labels, hidden]
            return torch.bmm(inputs[0], w.transpose(1, 2))

        return hook

    def step_losses(step: int) -> list[torch.Tensor]:
        nonlocal row_client
        step_batches = [b[step] for b in batches]
        sizes = [int(b[0].shape[0]) for b in step_batches]
        row_client = torch.repeat_interleave(torch.arange(num, device=device), torch.tensor(sizes, device=device))
        joined = tuple(torch.cat([b[i] for b in step_batches]) for i in range(len(step_batches[0])))
        logits = model(input_ids=joined[0], attention_mask=joined[1]).logits
        return [loss_from_logits(part, batch) for part, batch in zip(torch.split(logits, sizes), step_batches)]

    @torch.no_grad()
    def keep_padding_zero() -> None:
        for m in modules:
            a_stack[m].mul_(a_mask)
            b_stack[m].mul_(b_mask)

    max_norm = settings.max_grad_norm
    handles = []
    try:
        for m in modules:
            handles.append(model.get_submodule(m).base_layer.register_forward_hook(lora_hook(m)))
        for k in heads:
            handles.append(_head_module(model, k).register_forward_hook(head_hook(k)))
        model.train()
        with model.disable_adapter():
            history = run_steps(
                steps.pop(), step_losses, make_optimizer(params, settings), settings,
                clip=None if max_norm is None else lambda: _clip_per_client(params, num, max_norm),
                after_step=keep_padding_zero if mixed else None,
            )  # fmt: skip
    finally:
        for h in handles:
            h.remove()
        model.eval()
    totals = [sum(h[c] for h in history) for c in range(num)]

    n_steps = len(batches[0])
    out: list[tuple[State, float]] = []
    for c, s in enumerate(starts):
        state: State = {}
        for m in modules:
            state[m + A_SUFFIX] = a_stack[m][c, : ranks[c]].detach().cpu().clone()
            state[m + B_SUFFIX] = b_stack[m][c, :, : ranks[c]].detach().cpu().clone()
        for k in heads:
            state[k] = head_stack[k][c].detach().cpu().clone()
        out.append(({k: state[k] for k in s}, totals[c] / max(n_steps, 1)))
    return out


@torch.no_grad()
def _clip_per_client(params: Sequence[torch.Tensor], num: int, max_norm: float) -> None:
    """Scale each client's gradient slices as `clip_grad_norm_` would scale that client's parameters."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    sq = torch.stack([g.reshape(num, -1).pow(2).sum(dim=1) for g in grads]).sum(dim=0)  # [C]
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(num, *([1] * (g.dim() - 1))))
