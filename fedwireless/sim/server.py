"""The server side of a round, as a SimPy process: it opens the round, collects arrivals, closes it.

A server strategy decides when the round ends; the engine (`fedwireless.sim.engine`) plays the devices
against it. Synchronous rounds (FedAvg's protocol: wait for everyone or the deadline) are one strategy; a
server that keeps rounds open for stragglers, or never closes them, is another, without touching the engine.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol

import simpy


class Server(Protocol):
    deadline_s: float  # the longest a round may last (an empty round lasts exactly this)

    def serve(self, env: simpy.Environment, clients: Sequence[simpy.Process]) -> Generator:
        """The server's process: returns when the round closes, having interrupted the clients it drops."""


class SyncServer:
    """Synchronous rounds: the round closes when every client has arrived or failed, or at the deadline,
    whichever is first; clients still running at the deadline are interrupted (dropped as `deadline`)."""

    late_cause = "deadline"  # what a client still running at the deadline hears

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = float(deadline_s)

    def serve(self, env: simpy.Environment, clients: Sequence[simpy.Process]) -> Generator:
        everyone = env.all_of(list(clients))
        result = yield env.any_of([everyone, env.timeout(self.deadline_s)])
        if everyone not in result:
            for p in clients:
                if p.is_alive:
                    p.interrupt(self.late_cause)


class SemiSyncServer(SyncServer):
    """Semi-synchronous rounds: the round closes as a synchronous one does, but a client still running at the
    deadline is not dropped: it stops for the close (`late`) and goes on in the next round, and its update joins
    the first aggregation after it arrives (`fedwireless.sim.late`)."""

    late_cause = "late"


class AsyncServer(SyncServer):
    """Asynchronous learning: a server step ends when the first client arrives or fails, or after `deadline_s`
    without one (the server then dispatches again); clients still running stop for the step (`late`) and go on in
    the next (`fedwireless.sim.asynchronous`)."""

    late_cause = "late"

    def serve(self, env: simpy.Environment, clients: Sequence[simpy.Process]) -> Generator:
        yield env.any_of([*clients, env.timeout(self.deadline_s)])
        for p in clients:
            if p.is_alive:
                p.interrupt(self.late_cause)
