"""Where training and evaluation run: `task.device` (auto, cpu, cuda) and `task.precision` (autocast).

Models and batches live on the compute device; everything federated (client states, aggregation, codecs,
payloads) stays on the CPU, so results differ between devices only by the device's arithmetic: on one
device and one torch build the same scenario and seed give the same files (CPU runs are deterministic;
CUDA kernels may not be bit-reproducible, see torch's reproducibility notes).
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import torch

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """auto: CUDA when torch sees a GPU, else CPU. cuda without a GPU is a clear error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "task.device: cuda asked for, but torch sees no GPU (a CPU build of torch, or no driver); "
            "use auto or cpu, or install a CUDA build of torch (README, Installing for a GPU)"
        )
    if name == "cuda":  # cuBLAS is deterministic only with a fixed workspace, read when its first handle opens
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    """Mixed-precision context for forward passes (fp32: none)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision])


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
