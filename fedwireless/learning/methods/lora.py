"""Federated LoRA: one peft adapter per rank on a shared frozen base, combined by a registered aggregator.

Clients start from the aggregator's state for their rank, train their adapter (and the classification
head, peft `modules_to_save`), and send Δ = trained − start. All ranks share the LoRA scale α/r
(α = alpha_per_rank·r), so products B·A are comparable across ranks. The downlink payload is the encoded
global adapter; its size is real, and clients start from the exact global (downlink quantization error
is not modelled here, unlike full-parameter training).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from fedwireless.learning import aggregate as agg
from fedwireless.learning.methods.base import FederatedMethod, State
from fedwireless.learning.methods.lora_aggregators import make_aggregator
from fedwireless.learning.models import head_modules, is_projection
from fedwireless.rng import child_seed

log = logging.getLogger(__name__)


class LoraMethod(FederatedMethod):
    name = "lora"

    def __init__(
        self, model: torch.nn.Module, codec, *, task, federated, seeds: np.random.SeedSequence, **_: object
    ) -> None:
        from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

        self._get_state, self._set_state = get_peft_model_state_dict, set_peft_model_state_dict
        self.codec = codec
        self.fed = federated
        self.seeds = seeds
        self.ranks = tuple(federated.ranks)
        heads = head_modules(model, task.kind, federated.modules_to_save)
        extra = {"modules_to_save": heads} if heads else {}

        # GPT-2's Conv1D stores its weight transposed: peft needs to know (fan_in_fan_out).
        transposed = any(
            type(m).__name__ == "Conv1D" and n.rsplit(".", 1)[-1] in federated.target_modules
            for n, m in model.named_modules()
        )

        def config(r: int):
            return LoraConfig(r=r, lora_alpha=federated.alpha_per_rank * r, lora_dropout=federated.lora_dropout,
                              target_modules=list(federated.target_modules), fan_in_fan_out=transposed,
                              **extra)  # fmt: skip

        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if is_projection(m)})
        missing = [t for t in federated.target_modules if t not in linear]
        if missing:
            raise ValueError(
                f"federated.target_modules: {missing} not in the model; its linear layers are named {linear}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(child_seed(seeds, "adapters", as_int=True))
            pm = get_peft_model(model, config(self.ranks[0]), adapter_name=f"r{self.ranks[0]}")
            for r in self.ranks[1:]:
                pm.add_adapter(f"r{r}", config(r))
        self.model = pm
        self.init_state: dict[int, State] = {}
        for r in self.ranks:
            pm.set_adapter(f"r{r}")
            self.init_state[r] = self._adapter_state(r)
        self.r_max = max(self.ranks)
        wrapped = set(self.info()["head_modules"])
        if wrapped - set(heads):  # peft matches modules_to_save by name suffix: 'classifier' takes 'pre_classifier'
            log.warning("federated.modules_to_save: peft also trains %s (its names end like %s); trained in full: %s",
                        sorted(wrapped - set(heads)), heads, sorted(wrapped))  # fmt: skip
        self.scale = federated.alpha_per_rank  # alpha / r, the same for every rank
        self.global_state: State = {k: v.clone() for k, v in self.init_state[self.r_max].items()}
        self.last_broadcast: State = self.global_state
        self.aggregator = make_aggregator(federated.aggregation)
        self._rank_residual: dict[int, float] | None = None
        self._residual_inputs: tuple[Sequence[State], Sequence[float]] | None = None
        # Hierarchical rounds: each station's edge model and the samples it aggregated since the last cloud round.
        self.edge_states: dict[int, State] = {}
        self.edge_samples: dict[int, float] = {}

    # ------------------------------------------------------------------ adapters
    def _adapter_state(self, r: int) -> State:
        return {k: v.detach().cpu().clone() for k, v in self._get_state(self.model, adapter_name=f"r{r}").items()}

    def load_adapter(self, r: int, state: State) -> None:
        self.model.set_adapter(f"r{r}")
        self._set_state(self.model, state, adapter_name=f"r{r}")

    def fresh_adapter(self, r: int, round_index: int) -> State:
        """A standard LoRA init (A uniform ±1/sqrt(in), B zero) with the global head (FLoRA's restart)."""
        st = {k: v.clone() for k, v in self.init_state[r].items()}
        g = torch.Generator().manual_seed(child_seed(self.seeds, "restart", round_index, r, as_int=True))
        for k, v in st.items():
            if k.endswith(agg.A_SUFFIX):
                st[k] = (torch.rand(v.shape, generator=g) * 2 - 1) / np.sqrt(v.shape[1])
        for k in agg.other_keys(st):
            st[k] = self.global_state[k].clone()
        return st

    def merge_into_base(self, products: dict[str, torch.Tensor]) -> None:
        """W ← W + scale·ΔW for each LoRA target (FLoRA's merge of the stacked adapters)."""
        with torch.no_grad():
            for name, d in products.items():
                layer = self.model.base_model.model.get_submodule(name.removeprefix("base_model.model."))
                weight = layer.base_layer.weight
                weight += (self.scale * d).to(device=weight.device, dtype=weight.dtype)

    # ------------------------------------------------------------------ the seam
    def trainable_count(self, rank: int, device: int | None = None) -> int:
        return sum(v.numel() for v in self.init_state[rank].values())

    def adapter_matmul(self, rank: int, device: int | None = None) -> int:
        return sum(v.numel() for k, v in self.init_state[rank].items() if ".lora_" in k)

    def update_template(self, rank: int) -> State:
        return {k: torch.zeros_like(v) for k, v in self.init_state[rank].items()}

    def client_start(self, device: int, rank: int, round_index: int) -> State:
        start = self.start_state(device, rank, round_index)
        self.load_adapter(rank, start)
        return start

    def batch_start(self, device: int, rank: int, round_index: int) -> State:
        return self.start_state(device, rank, round_index)  # the batched trainer stacks it: no load into the model

    def start_state(self, device: int, rank: int, round_index: int) -> State:
        """The client's starting point: the aggregator's start from the global model (or, in hierarchical rounds,
        from its station's edge model)."""
        edge = None if self.station_of is None else self.edge_states.get(int(self.station_of[device]))
        if edge is None:
            start = self.aggregator.start_state(self, rank, round_index)
        else:  # hierarchical rounds: the client starts from its station's edge model as from the global one
            cloud, self.global_state = self.global_state, edge
            try:
                start = self.aggregator.start_state(self, rank, round_index)
            finally:
                self.global_state = cloud
        return start

    def trainable_params(self, rank: int) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def client_state(self, rank: int) -> State:
        return self._adapter_state(rank)

    def aggregate(self, states: Sequence[State], weights: Sequence[float], round_index: int) -> None:
        if not states:
            return
        self._rank_residual, self._residual_inputs = None, (states, weights)
        self.last_broadcast = self.aggregator.aggregate(self, states, weights)

    def aggregate_late(self, states: Sequence[State], weights: Sequence[float], scale: Sequence[float],
                       round_index: int) -> None:  # fmt: skip
        """Semi-synchronous rounds: the global adapters mixed with updates weighted by staleness (`agg.mix_late`)."""
        if not states:
            return
        scaled = [w * s for w, s in zip(weights, scale)]
        self._rank_residual, self._residual_inputs = None, (states, scaled)
        self.global_state = agg.mix_late(self.global_state, states, weights, scale, self.r_max)
        self.last_broadcast = self.global_state

    def aggregate_buffer(self, states: Sequence[State], starts: Sequence[State], scale: Sequence[float],
                         server_lr: float) -> None:  # fmt: skip
        """Asynchronous FedBuff: the global adapters move by the buffered updates' deltas (`agg.buffered_step`)."""
        self._rank_residual, self._residual_inputs = None, (states, list(scale))
        self.global_state = agg.buffered_step(self.global_state, states, starts, scale, server_lr, self.r_max)
        self.last_broadcast = self.global_state

    def aggregate_at_edges(self, groups: dict[int, tuple[Sequence[State], Sequence[float]]]) -> None:
        """Each station's edge model becomes the FedAvg of the updates it received (HierFAVG's edge step)."""
        for station, (states, weights) in groups.items():
            self.edge_states[station] = agg.fedavg(states, weights, self.r_max)
            self.edge_samples[station] = self.edge_samples.get(station, 0.0) + float(sum(weights))
        every = [s for states, _ in groups.values() for s in states]
        self._rank_residual = None
        self._residual_inputs = (every, [w for _, ws in groups.values() for w in ws]) if every else None

    def aggregate_at_cloud(self) -> None:
        """The global model becomes the mean of the edge models that aggregated since the last cloud round,
        weighted by the samples they aggregated (HierFAVG's cloud step); every station starts from it again."""
        stations = sorted(s for s, n in self.edge_samples.items() if n > 0)
        if stations:
            states = [self.edge_states[s] for s in stations]
            self.global_state = agg.fedavg(states, [self.edge_samples[s] for s in stations], self.r_max)
            self.last_broadcast = self.global_state
        self.edge_states, self.edge_samples = {}, {}

    def downlink_payload(self) -> bytes:
        return self.codec.encode(self.last_broadcast)

    def eval_model(self) -> torch.nn.Module:
        self.load_adapter(self.r_max, self.global_state)
        return self.model

    def rank_residuals(self) -> dict[int, float] | None:
        """Share of the aggregated adapter product's energy beyond each rank; computed on first request
        (SVDs of every adapted weight), so only policies that use it pay for it."""
        if self._rank_residual is None and self._residual_inputs is not None:
            states, w = self._residual_inputs
            self._rank_residual = agg.rank_residuals(agg.lora_product_sum(states, w), self.ranks)
            self._residual_inputs = None
        return self._rank_residual

    def batching(self, num_clients: int) -> tuple[bool, str]:
        from fedwireless.learning.batched import unbatchable_head

        if self.fed.lora_dropout > 0:
            return False, "lora_dropout > 0 (dropout masks differ)"
        if num_clients < 2:
            return False, "one client this round"
        why = unbatchable_head(self.model, self.init_state[self.r_max])
        return (False, why) if why else (True, "")

    def head_keys(self) -> list[str]:
        """State keys trained in full beside the LoRA factors (the task head, peft `modules_to_save`)."""
        return sorted(k for k in self.init_state[self.r_max] if ".lora_" not in k)

    def info(self) -> dict[str, object]:
        head = self.head_keys()
        return {
            "trainable_params_adapters": {str(r): sum(v.numel() for k, v in self.init_state[r].items()
                                                      if ".lora_" in k) for r in self.ranks},
            "trainable_params_head": int(sum(self.init_state[self.r_max][k].numel() for k in head)),
            "head_modules": sorted({k.removeprefix("base_model.model.").rsplit(".", 1)[0] for k in head}),
        }  # fmt: skip

    def train_batched(self, starts, batches, loss_from_logits, settings) -> list[tuple[State, float]]:
        from fedwireless.learning.batched import train_lora_batched

        return train_lora_batched(self.model, starts, batches, loss_from_logits, settings, self.scale)
