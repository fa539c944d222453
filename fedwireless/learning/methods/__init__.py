"""Federated methods behind one seam (`base.FederatedMethod`), picked by `federated.training`.

Adding a method: write a `FederatedMethod` subclass in its own file here and register it in `METHODS`
(`fedwireless/learning/registry.py`, which the scenario schema reads); the learner, round loop and engine stay
as they are.
Constructors are called as `cls(model, codec, task=, federated=, seeds=, data=, cache_dir=, preferences=)` and
take `**_` for what they do not use, so a new argument for one method leaves the others working.
"""

from __future__ import annotations

from fedwireless.learning.methods.base import FederatedMethod
from fedwireless.learning.registry import METHODS


def make_method(name: str, model, codec, **kwargs) -> FederatedMethod:
    """The method registered as `name`, built on `model` (imported on demand: peft only where LoRA runs)."""
    import importlib

    if name not in METHODS:
        raise ValueError(f"federated.training: unknown method {name!r}; known: {', '.join(METHODS)}")
    module, cls = METHODS[name]
    return getattr(importlib.import_module(module), cls)(model, codec, **kwargs)


__all__ = ["METHODS", "FederatedMethod", "make_method"]
