"""One seed, independent named random streams (numpy SeedSequence.spawn)."""

from __future__ import annotations

import zlib

import numpy as np

# Order matters: appending a stream keeps earlier ones unchanged; never reorder.
STREAM_NAMES = (
    "placement",
    "mobility",
    "channel",
    "availability",
    "partition",
    "policy",
    "torch",
    "data",
    "packets",
    "learning",
    "output",
)


class Streams:
    """Independent generators derived from one scenario seed.

    `Streams(seed).get("channel")` always returns a fresh generator for that stream, so each
    consumer owns its own and nobody touches global random state.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        children = np.random.SeedSequence(self.seed).spawn(len(STREAM_NAMES))
        self._seqs = dict(zip(STREAM_NAMES, children))

    def seed_sequence(self, name: str) -> np.random.SeedSequence:
        if name not in self._seqs:
            raise ValueError(f"unknown random stream {name!r}; known: {', '.join(STREAM_NAMES)}")
        return self._seqs[name]

    def get(self, name: str) -> np.random.Generator:
        return np.random.default_rng(self.seed_sequence(name))

    def int_seed(self, name: str) -> int:
        """A 63-bit integer seed for libraries that take one (torch.Generator.manual_seed)."""
        return int(self.seed_sequence(name).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


def child_seed(parent: np.random.SeedSequence, *key: str | int, as_int: bool = False):
    """The child of `parent` named by `key` (strings and integers, e.g. ("batches", round, device)).

    Children are addressed, not spawned in turn, so adding a consumer never shifts another's stream.
    `as_int`: a 63-bit integer for libraries that take one (torch).
    """
    words = tuple(zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key)
    seq = np.random.SeedSequence(parent.entropy, spawn_key=tuple(parent.spawn_key) + words)
    if as_int:
        return int(seq.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))
    return seq
