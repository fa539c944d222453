"""Full-parameter federated averaging of differential updates (Δ = local − received).

The downlink is coded closed-loop: the server sends encode(global − clients' copy) and every client adds
the decoded difference to its copy, so a lossy downlink changes what clients train from and its error is
carried into the next round's difference instead of accumulating. The first round's model comes from the
shared seed (its download is not billed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fedwireless.codecs.feedback import encode_and_reconstruct
from fedwireless.learning import aggregate as agg
from fedwireless.learning.methods.base import FederatedMethod, State


class FullParameterMethod(FederatedMethod):
    name = "full"

    def __init__(self, model: torch.nn.Module, codec, **_: object) -> None:
        self.model = model
        self.codec = codec
        self.ranks = (0,)
        self.global_state = self._state()
        self.client_view = {k: v.clone() for k, v in self.global_state.items()}
        self._downlink = self._broadcast()

    def _state(self) -> State:
        """Every parameter once: tied weights (the TLM's embedding and output layer) are sent once."""
        return {k: p.detach().cpu().clone() for k, p in self.model.named_parameters()}

    def _load(self, state: State) -> None:
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        tied = {k for k in missing if k not in state and "lm_head" in k}
        if unexpected or set(missing) - tied:
            raise RuntimeError(f"full-parameter state does not fit the model: missing {missing}, extra {unexpected}")

    def _broadcast(self) -> bytes:
        diff = {k: self.global_state[k].float() - self.client_view[k].float() for k in self.global_state}
        payload, decoded = encode_and_reconstruct(self.codec, diff)
        self.client_view = {k: self.client_view[k] + decoded[k].to(self.client_view[k].dtype) for k in diff}
        return payload

    def trainable_count(self, rank: int, device: int | None = None) -> int:
        return sum(v.numel() for v in self.global_state.values())

    def update_template(self, rank: int) -> State:
        return {k: torch.zeros_like(v) for k, v in self.global_state.items()}

    def client_start(self, device: int, rank: int, round_index: int) -> State:
        self._load(self.client_view)
        return self.client_view

    def trainable_params(self, rank: int) -> list[torch.nn.Parameter]:
        return list(self.model.parameters())

    def client_state(self, rank: int) -> State:
        return self._state()

    def aggregate(self, states: Sequence[State], weights: Sequence[float], round_index: int) -> None:
        if states:  # clients' Δ are relative to their copy of the global
            deltas = [{k: s[k] - self.client_view[k] for k in s} for s in states]
            mean = agg.fedavg_deltas(deltas, weights)
            self.global_state = {k: self.global_state[k] + mean[k] for k in self.global_state}
        self._downlink = self._broadcast()

    def downlink_payload(self) -> bytes:
        return self._downlink

    def eval_model(self) -> torch.nn.Module:
        self._load(self.global_state)
        return self.model

    def batching(self, num_clients: int) -> tuple[bool, str]:
        return False, "full-parameter training (each client needs its own copy of every weight)"
