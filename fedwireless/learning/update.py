"""What one client's local training hands the server: the record the round loop moves around."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

State = dict[str, torch.Tensor]


@dataclass
class ClientUpdate:
    device: int
    rank: int  # 0 for full-parameter training
    state: State  # what the server reconstructs from the payload (start + decoded Δ)
    payload: bytes  # the real encoded bytes that cross the uplink
    num_samples: int
    flops: float
    train_loss: float
    info: dict = field(default_factory=dict)  # method figures for devices.csv (e.g. topk)
