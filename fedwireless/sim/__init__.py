"""The co-simulation of a run: the world (`world`), the round's plan (`state`), the SimPy round (`engine`, with
the server process in `server`), the loop (`loop`), its rows (`rows`) and a whole run into a folder (`run`).

Names are imported on first use, so that `fedwireless.sim.world` alone does not pull in the learner.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Simulation": "fedwireless.sim.loop",
    "build_learner": "fedwireless.sim.loop",
    "RunCallbacks": "fedwireless.sim.run",
    "default_out_dir": "fedwireless.sim.run",
    "run_scenario": "fedwireless.sim.run",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fedwireless.sim' has no attribute {name!r}")
