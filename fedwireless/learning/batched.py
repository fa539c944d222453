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
per client (peft `modules_to_save`: its linear layers, weight and bias) is stacked the same way.

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


def head_layer(model: torch.nn.Module, key: str) -> torch.nn.Module:
    """The layer that owns a head key (`...classifier.dense.weight`): the base model's own copy behind peft's
    `modules_to_save` wrapper, which is what runs inside `disable_adapter()`."""
    node = model
    for part in key.split(".")[:-1]:
        node = node._modules[part]  # not getattr: the wrapper would forward it to its trained copy
        node = getattr(node, "original_module", node)
    return node


def head_layers(state: State) -> dict[str, tuple[str, str | None]]:
    """Head layers of a state (keys that are not LoRA factors): layer path → (weight key, bias key or None)."""
    keys = sorted(k for k in state if not (k.endswith(A_SUFFIX) or k.endswith(B_SUFFIX)))
    layers: dict[str, tuple[str, str | None]] = {}
    for k in keys:
        path, param = k.rsplit(".", 1)
        if param == "weight":
            bias = f"{path}.bias"
            layers[path] = (k, bias if bias in state else None)
        elif param != "bias":
            raise ValueError(f"head parameter {k}: only linear layers (weight, bias) can be trained batched")
    return layers


def unbatchable_head(model: torch.nn.Module, state: State) -> str | None:
    """Why the batched path cannot stack this head (None: it can): it stacks linear layers only."""
    try:
        layers = head_layers(state)
    except ValueError as exc:
        return str(exc)
    for path, (weight, _) in layers.items():
        layer = head_layer(model, weight)
        if not isinstance(layer, torch.nn.Linear):
            return f"head layer {path} is a {type(layer).__name__}, not a linear layer"
    covered = {k for pair in layers.values() for k in pair if k}
    other = sorted(k for k in state if not (k.endswith(A_SUFFIX) or k.endswith(B_SUFFIX)) and k not in covered)
    return f"head parameters {other} belong to no linear layer's weight" if other else None


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
    modules, heads, n_steps = _check_clients(starts, batches)
    layers = head_layers(starts[0])
    device = next(model.parameters()).device  # starts come from the CPU; the stacks train where the model is
    ranks = [int(s[modules[0] + A_SUFFIX].shape[0]) for s in starts] if modules else [0] * num
    a_stack, b_stack, head_stack, a_mask = _stack(starts, modules, heads, ranks, device)
    params = [x for m in modules for x in (a_stack[m], b_stack[m])] + list(head_stack.values())
    mixed = len(set(ranks)) > 1
    b_mask = a_mask.transpose(1, 2)  # [C, 1, R]

    rows = _ClientRows(num)
    sizes = rows.sizes
    per_client = rows.apply

    def lora_term(x, a, b):  # x [C, T, in], a [C, R, in], b [C, out, R]
        return scale * torch.bmm(torch.bmm(x, a.transpose(1, 2)), b.transpose(1, 2))

    def lora_hook(m: str):
        def hook(_module, inputs, output):
            return output + per_client(inputs[0], (a_stack[m], b_stack[m]), lora_term)

        return hook

    def head_hook(weight: str, bias: str | None):
        stacks = (head_stack[weight],) + (() if bias is None else (head_stack[bias],))

        def hook(_module, inputs, _output):  # inputs [N, (L,) hidden]: a pooled or a per-token head
            return per_client(inputs[0], stacks, _linear)

        return hook

    def step_losses(step: int) -> list[torch.Tensor]:
        step_batches = [b[step] for b in batches]
        sizes[:] = [int(b[0].shape[0]) for b in step_batches]
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
        for weight, bias in layers.values():
            handles.append(head_layer(model, weight).register_forward_hook(head_hook(weight, bias)))
        model.train()
        with model.disable_adapter():
            history = run_steps(
                n_steps, step_losses, make_optimizer(params, settings), settings,
                clip=None if max_norm is None else lambda: _clip_per_client(params, num, max_norm),
                after_step=keep_padding_zero if mixed else None,
            )  # fmt: skip
    finally:
        for h in handles:
            h.remove()
        model.eval()
    totals = [sum(h[c] for h in history) for c in range(num)]
    states = _unstack(starts, ranks, a_stack, b_stack, head_stack)
    return [(state, total / max(n_steps, 1)) for state, total in zip(states, totals)]


def _unstack(starts, ranks, a_stack, b_stack, head_stack) -> list[State]:
    """Each client's trained state, cut back to its own rank, on the CPU, with its start's keys in order."""
    out = []
    for c, s in enumerate(starts):
        state: State = {}
        for m in a_stack:
            state[m + A_SUFFIX] = a_stack[m][c, : ranks[c]].detach().cpu().clone()
            state[m + B_SUFFIX] = b_stack[m][c, :, : ranks[c]].detach().cpu().clone()
        for k in head_stack:
            state[k] = head_stack[k][c].detach().cpu().clone()
        out.append({k: state[k] for k in s})
    return out


class _ClientRows:
    """Runs a function over each client's rows of a step's joined batch (`sizes`: rows per client, set per step)."""

    def __init__(self, num: int) -> None:
        self.num = num
        self.sizes: list[int] = []

    def apply(self, x: torch.Tensor, weights: tuple[torch.Tensor, ...], fn) -> torch.Tensor:
        """`fn(x_c, *weights_c)` over each client's rows [1 or C, T, in], rejoined in row order. Rows stay
        grouped by client, so no row-to-client gather is needed: its backward (an index_put with
        accumulation) adds a client's rows in an order that follows thread scheduling, and results would
        differ bitwise from run to run."""
        if len(set(self.sizes)) == 1:  # equal shares: one batched matmul over the client dimension
            out = fn(x.reshape(self.num, -1, x.shape[-1]), *weights)
            return out.reshape(*x.shape[:-1], out.shape[-1])
        outs = []
        for c, part in enumerate(torch.split(x, self.sizes)):
            out = fn(part.reshape(1, -1, x.shape[-1]), *(w[c : c + 1] for w in weights))
            outs.append(out.reshape(*part.shape[:-1], out.shape[-1]))
        return torch.cat(outs)


def _linear(x, w, b=None):  # x [C, T, in], w [C, out, in], b [C, out]
    out = torch.bmm(x, w.transpose(1, 2))
    return out if b is None else out + b[:, None, :]


def _check_clients(starts, batches) -> tuple[list[str], list[str], int]:
    """(LoRA modules, head keys, local steps) shared by every client; ValueError where they differ."""
    if len(starts) == 0 or len(batches) != len(starts):
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
    return modules, heads, steps.pop()


def _stack(starts, modules, heads, ranks, device):
    """The clients' factors stacked and zero-padded to the largest rank (A [C, R, in], B [C, out, R]), their
    heads stacked, and the [C, R, 1] mask that keeps each client's padding at zero."""
    num, r_max = len(starts), max(ranks) if ranks else 0
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
    head_stack = {k: torch.stack([s[k] for s in starts]).to(device).requires_grad_() for k in heads}
    a_mask = torch.zeros(num, r_max, 1, device=device)
    for c, r in enumerate(ranks):
        a_mask[c, :r] = 1.0
    return a_stack, b_stack, head_stack, a_mask


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
