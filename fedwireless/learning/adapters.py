"""Bottleneck adapters (Houlsby et al., "Parameter-efficient transfer learning for NLP", ICML 2019).

After a block's attention output projection and/or its MLP output projection: y + up(act(down(y))), with
`up` initialised to zero so a new adapter leaves the model unchanged. A small module of our own: the
maintained adapter library (`adapters` 1.3) pins transformers ~= 4.57, and this project runs transformers 5;
peft has no bottleneck adapter. Adapters sit beside peft's LoRA in the same model.
"""

from __future__ import annotations

import torch

PLACES = {"attention": "o_proj", "mlp": "down_proj"}  # Llama names of the projections an adapter follows
MARK = ".adapter_"  # in the name of every adapter parameter


class Adapted(torch.nn.Module):
    """A projection followed by a residual bottleneck adapter."""

    def __init__(self, base: torch.nn.Module, width: int, size: int) -> None:
        super().__init__()
        self.base = base
        self.adapter_down = torch.nn.Linear(width, size)
        self.adapter_up = torch.nn.Linear(size, width)
        torch.nn.init.zeros_(self.adapter_up.weight)
        torch.nn.init.zeros_(self.adapter_up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        return y + self.adapter_up(torch.nn.functional.gelu(self.adapter_down(y)))


def add_adapters(model: torch.nn.Module, places: list[str], size: int) -> int:
    """Wrap every `places` projection of `model` with an adapter of bottleneck `size` (draws from torch's RNG:
    seed it); returns the number of adapters added."""
    targets = {PLACES[p] for p in places}
    found = [(n, m) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in targets and not isinstance(m, Adapted)]
    if not found:
        raise ValueError(f"pwff.adapter_places: the model has no {sorted(targets)} projections to put adapters after")
    for name, module in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        width = module.out_features if hasattr(module, "out_features") else module.base_layer.out_features
        ref = next(module.parameters())
        setattr(parent, child, Adapted(module, width, size).to(device=ref.device, dtype=ref.dtype))
    return len(found)


def adapter_params(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if MARK in n}
