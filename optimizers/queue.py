"""The virtual energy queue of Lyapunov optimization (Neely 2010, ch. 4), one per device.

Q_k(t+1) = max(Q_k(t) + E_k(t) − Ē_k, 0): energy spent above the per-round budget Ē_k piles up and prices the
device's next rounds. A device without a budget (Ē_k = ∞) keeps an empty queue.
"""

from __future__ import annotations

import numpy as np


class EnergyQueue:
    """[devices] virtual energy queues in joules, empty until the first round says how many devices there are."""

    def __init__(self) -> None:
        self._queue_j: np.ndarray | None = None

    def values_j(self, num_devices: int) -> np.ndarray:
        """The queues (a copy): zeros before the first round, and again if the device count changes."""
        if self._queue_j is None or len(self._queue_j) != num_devices:
            self._queue_j = np.zeros(num_devices)
        return self._queue_j.copy()

    def add(self, *, spent_j: np.ndarray, budget_j: np.ndarray) -> None:
        """One round: spent energy in, the budget out (non-finite spending counts as none)."""
        spent = np.nan_to_num(np.asarray(spent_j, dtype=float), nan=0.0, posinf=0.0)
        q = self.values_j(len(spent))
        finite = np.isfinite(budget_j)
        self._queue_j = np.where(finite, np.maximum(q + spent - np.where(finite, budget_j, 0.0), 0.0), 0.0)
