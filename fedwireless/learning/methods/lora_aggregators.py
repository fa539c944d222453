"""How LoRA updates of (possibly) different ranks become one global adapter: a registry of aggregators.

Each says where a client of rank r starts and how the arrived states combine; the tensor arithmetic is
in `fedwireless.learning.aggregate` (pure functions, with the papers).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedwireless.learning import aggregate as agg
from fedwireless.learning.registry import LORA_AGGREGATORS

State = dict[str, torch.Tensor]


class FedAvg:
    """Sample-weighted mean of A and B separately (zero-padded to the largest rank); clients truncate."""

    def start_state(self, bank, rank: int, round_index: int) -> State:
        return agg.truncate_rank(bank.global_state, rank)

    def aggregate(self, bank, states: Sequence[State], weights: Sequence[float]) -> State:
        bank.global_state = agg.fedavg(states, weights, bank.r_max)
        return bank.global_state


class HetLoRA(FedAvg):
    """Cho et al. 2024: weights ∝ p_k·‖B_k A_k‖_F; clients receive the global truncated to their rank."""

    def aggregate(self, bank, states: Sequence[State], weights: Sequence[float]) -> State:
        bank.global_state = agg.hetlora(states, weights, bank.r_max)
        return bank.global_state


class FlexLoRA:
    """Bai et al. 2024: ΔW = Σ p_k B_k A_k per module; each client gets its rank's top SVD factors."""

    def __init__(self) -> None:
        self.products: dict[str, torch.Tensor] | None = None

    def start_state(self, bank, rank: int, round_index: int) -> State:
        if self.products is None:
            return {k: v.clone() for k, v in bank.init_state[rank].items()}
        others = {k: bank.global_state[k] for k in agg.other_keys(bank.global_state)}
        return agg.flexlora_client_state(self.products, others, rank)

    def aggregate(self, bank, states: Sequence[State], weights: Sequence[float]) -> State:
        self.products, others = agg.flexlora(states, weights)
        bank.global_state = agg.flexlora_client_state(self.products, others, bank.r_max)
        return bank.global_state


class FLoRA:
    """Wang et al. 2024: stack the adapters (B_stack·A_stack = Σ p_k B_k A_k), merge into the base, restart
    every client from a fresh adapter next round; the broadcast is the stack."""

    def start_state(self, bank, rank: int, round_index: int) -> State:
        return bank.fresh_adapter(rank, round_index)

    def aggregate(self, bank, states: Sequence[State], weights: Sequence[float]) -> State:
        stacked = agg.flora(states, weights)
        bank.merge_into_base(
            {
                m: stacked[m + agg.B_SUFFIX].double() @ stacked[m + agg.A_SUFFIX].double()
                for m in agg.lora_modules(stacked)
            }
        )
        head = {k: stacked[k] for k in agg.other_keys(stacked)}
        zeros_b = {
            k: torch.zeros_like(v) if k.endswith(agg.B_SUFFIX) else v for k, v in bank.init_state[bank.r_max].items()
        }
        bank.global_state = {**zeros_b, **head}
        return stacked


AGGREGATORS = {name: globals()[cls] for name, cls in LORA_AGGREGATORS.items()}


def make_aggregator(name: str):
    if name not in AGGREGATORS:
        raise ValueError(f"federated.aggregation: unknown aggregator {name!r}; known: {', '.join(AGGREGATORS)}")
    return AGGREGATORS[name]()
