"""One federated round in SimPy: downlink, local compute, uplink over the channel, and a server process.

The processes only yield timeouts and events; rates, energies and error probabilities come from
`channels`. The server process decides when the round closes (`fedwireless.sim.server`); the engine plays
the devices against it and returns what happened, leaving its inputs untouched. Simulated seconds only:
wall time is measured elsewhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import simpy

import channels
from fedwireless.sim.server import Server
from fedwireless.sim.world import World

# Bandwidth pools are SimPy containers in Hz; float sums need a little slack.
_POOL_SLACK = 1e-6
# A correlated channel advances at most this many steps per round: a tiny coherence step is coarsened
# to deadline / MAX_CHANNEL_STEPS instead of taking hours.
MAX_CHANNEL_STEPS = 1_000


@dataclass(frozen=True)
class DevicePlan:
    """What one selected device is to do in a round (times relative to the round start)."""

    device: int
    cell: int
    power_w: float
    bandwidth_hz: float
    downlink_bits: int
    uplink_bits: int
    flops: float
    flops_per_s: float
    compute_power_w: float  # compute energy per second of local training
    circuit_power_w: float = 0.0  # transmit-chain power drawn during airtime, besides the radiated power
    downlink_s: float = 0.0


@dataclass(frozen=True)
class Carry:
    """An update still on its way when its round closed (semi-synchronous rounds): what is left to do of it.

    It goes on at the start of the next round, in the same order (downlink, compute, upload over its plan's
    band and power, at that round's channel)."""

    plan: DevicePlan
    downlink_s: float
    compute_s: float
    bits: float


@dataclass(frozen=True)
class DeviceOutcome:
    """What one selected device did in the round."""

    plan: DevicePlan
    compute_s: float = 0.0  # the training's FLOPs ÷ the device's speed
    upload_start_s: float = float("nan")
    arrival_s: float = float("nan")
    upload_s: float = 0.0  # seconds actually spent transmitting
    bits_sent: float = 0.0  # bits on air: the whole payload on arrival, rate × airtime of a cut-off upload
    compute_energy_j: float = 0.0
    tx_energy_j: float = 0.0
    arrived: bool = False
    drop_reason: str = ""
    packet_error_prob: float = 0.0
    left: Carry | None = None  # semi-synchronous rounds: what is left of an update still on its way at the close
    carried: bool = False  # semi-synchronous rounds: this update came in from an earlier round (`left` of one)

    @property
    def late(self) -> bool:
        return self.left is not None

    @property
    def device(self) -> int:
        return self.plan.device

    @property
    def energy_j(self) -> float:
        return self.compute_energy_j + self.tx_energy_j

    @property
    def delivered_bits(self) -> int:
        """The payload the server received and aggregated: all of it when the update arrived, else none."""
        return self.plan.uplink_bits if self.arrived else 0


@dataclass(frozen=True)
class LinkSettings:
    """How the uplink behaves during a round (`channel` section of the scenario)."""

    correlated: bool  # the channel moves during the round (coherence `correlated`) or holds still
    step_s: float  # coherence step of a correlated channel
    packet_errors: bool
    waterfall_m: float


@dataclass
class _Progress:
    """Mutable record of one device while its process runs."""

    compute_s: float
    upload_start_s: float = float("nan")
    arrival_s: float = float("nan")
    upload_s: float = 0.0
    bits_sent: float = 0.0
    tx_energy_j: float = 0.0
    arrived: bool = False
    drop_reason: str = ""
    packet_error_prob: float = 0.0
    left: Carry | None = None
    carried: bool = False  # an update carried in from an earlier round (semi-sync)


class _Round:
    """The SimPy processes of one round: each device's downlink, compute and upload over its cell's band."""

    def __init__(self, world: World, link: LinkSettings, step_s: float) -> None:
        self.env = simpy.Environment(initial_time=0.0)
        self.world, self.link, self.step_s = world, link, step_s
        self.t0 = world.now_s
        self.pools = [
            simpy.Container(self.env, capacity=float(b) * (1 + _POOL_SLACK), init=float(b) * (1 + _POOL_SLACK))
            for b in world.bs_ul_bandwidth_hz
        ]

    def device(self, dev: DevicePlan, out: _Progress, draw: float, downlink_s: float, bits: float):
        env = self.env
        stage, since = "downlink", env.now
        try:
            yield env.timeout(downlink_s)
            stage, since = "compute", env.now
            yield env.timeout(out.compute_s)
            stage = "upload"
            yield from self.upload(dev, out, draw, bits)
        except simpy.Interrupt as stop:
            if stop.cause != "late":
                out.drop_reason = str(stop.cause)
                return
            # Still on its way at the close: keep what is left of each stage for the next round.
            left_dl = downlink_s - (env.now - since) if stage == "downlink" else 0.0
            left_compute = out.compute_s - (env.now - since) if stage == "compute" else 0.0
            left_compute = out.compute_s if stage == "downlink" else left_compute
            out.left = Carry(dev, max(left_dl, 0.0), max(left_compute, 0.0), max(bits - out.bits_sent, 0.0))

    def upload(self, dev: DevicePlan, out: _Progress, draw: float, bits: float):
        env, world, link = self.env, self.world, self.link
        if not (
            np.isfinite(dev.bandwidth_hz) and dev.bandwidth_hz > 0 and np.isfinite(dev.power_w) and dev.power_w > 0
        ):
            out.drop_reason = "no-link"  # nothing to send with: no band or no power
            return
        yield self.pools[dev.cell].get(dev.bandwidth_hz)
        out.upload_start_s = env.now
        noise = float(world.uplink_noise_psd()[dev.device])
        remaining = float(bits)
        # A carry with nothing left to send (the close fell on its last bit) arrives now, at this round's gain.
        first_gain = None if remaining > 0 else float(world.gain_lin()[dev.device])
        # The chunk on air now: its rate and start, so a deadline cut still counts the bits it carried.
        chunk_rate, chunk_start = 0.0, env.now
        try:
            while remaining > 0:
                if link.correlated:  # a per-round channel holds still until the round ends
                    world.advance_to(self.t0 + env.now)
                gain = float(world.gain_lin()[dev.device])
                first_gain = gain if first_gain is None else first_gain
                rate = float(
                    channels.shannon_rate_bps(
                        dev.bandwidth_hz, power_w=dev.power_w, gain_lin=gain, noise_psd_w_per_hz=noise
                    )
                )
                if not (rate > 0 and np.isfinite(rate)):
                    out.drop_reason = "no-link"  # this link cannot carry a bit: give the band back at once
                    break
                needed = float(channels.airtime_s(remaining, rate))
                # A per-round channel holds for the whole transfer; a correlated one for one step.
                chunk = min(needed, self.step_s) if link.correlated else needed
                chunk_rate, chunk_start = rate, env.now
                yield env.timeout(chunk)
                chunk_rate = 0.0
                out.bits_sent += rate * chunk
                remaining = 0.0 if chunk >= needed else remaining - rate * chunk
        finally:
            # Runs on arrival and on a deadline interrupt alike: count the bits on air, bill the airtime, free
            # the band.
            out.bits_sent += chunk_rate * (env.now - chunk_start)
            out.upload_s = env.now - out.upload_start_s
            out.bits_sent = min(out.bits_sent, float(bits))
            out.tx_energy_j = float(channels.tx_energy_j(dev.power_w, out.upload_s, dev.circuit_power_w))
            self.pools[dev.cell].put(dev.bandwidth_hz)
        if out.drop_reason:
            return
        out.bits_sent = float(bits)  # the whole payload crossed (the chunks' sum up to rounding)
        out.arrival_s = env.now
        if link.packet_errors:
            # Chen et al. 2021 packet error rate at the SNR the upload started with.
            out.packet_error_prob = float(
                channels.packet_error_rate(
                    dev.power_w, first_gain, dev.bandwidth_hz, noise, waterfall_m=link.waterfall_m
                )
            )
            if draw < out.packet_error_prob:
                out.drop_reason = "packet-error"
                return
        out.arrived = True


def run_round(
    world: World,
    plans: list[DevicePlan],
    server: Server,
    link: LinkSettings,
    packet_rng: np.random.Generator,
    carried: Sequence[Carry] = (),
) -> tuple[float, list[DeviceOutcome]]:
    """Simulate one round starting at world.now_s: (the round's duration, each outcome: `carried` then `plans`).

    The server closes the round (the synchronous server: when every upload has arrived or failed, or at
    the deadline, whichever is first); uploads still running are interrupted then — dropped, or carried into
    the next round by a semi-synchronous server (the outcome's `left`). `carried` updates go on first, each
    from the stage it had reached; their processes start first, so one already uploading takes its band back before
    new ones (the policy planned the others over the cell's pool less the carried bands).
    """
    rnd = _Round(world, link, max(link.step_s, server.deadline_s / MAX_CHANNEL_STEPS))
    env = rnd.env
    # One uniform per device, drawn up front in device order so results do not depend on event order.
    packet_draws = packet_rng.random(len(carried) + len(plans))
    # A carried update's row shows what is left of it this round: its downlink and its FLOPs still to run.
    starts = [(dataclasses.replace(c.plan, downlink_s=c.downlink_s, flops=c.compute_s * c.plan.flops_per_s),
               c.downlink_s, c.compute_s, c.bits) for c in carried]  # fmt: skip
    starts += [(p, p.downlink_s, float(channels.compute_time_s_flops(p.flops, p.flops_per_s)), p.uplink_bits)
               for p in plans]  # fmt: skip
    progress = [
        _Progress(compute_s=compute_s, carried=i < len(carried)) for i, (_, _, compute_s, _) in enumerate(starts)
    ]
    procs = [env.process(rnd.device(p, o, d, dl, bits))
             for (p, dl, _, bits), o, d in zip(starts, progress, packet_draws)]  # fmt: skip
    env.run(until=env.process(server.serve(env, procs)))
    duration = float(env.now) if procs else float(server.deadline_s)
    env.run()  # let interrupted uploads unwind at the same instant (they release bandwidth)
    world.advance_to(rnd.t0 + duration)
    outcomes = []
    for (plan, downlink_s, _, _), out in zip(starts, progress):
        # Local training runs until it finishes or the round ends, whichever is first.
        done_compute_s = min(out.compute_s, max(duration - downlink_s, 0.0))
        outcomes.append(DeviceOutcome(plan=plan, compute_energy_j=plan.compute_power_w * done_compute_s, **vars(out)))
    return duration, outcomes


__all__ = ["Carry", "DeviceOutcome", "DevicePlan", "LinkSettings", "MAX_CHANNEL_STEPS", "run_round"]
