"""One federated round in SimPy: downlink, local compute, uplink over the channel, deadline.

The processes only yield timeouts and events; rates, energies and error probabilities come from
`channels`. Simulated seconds only: wall time is measured elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

import channels
from fedwireless.world import World

# Bandwidth pools are SimPy containers in Hz; float sums need a little slack.
_POOL_SLACK = 1e-6
# A correlated channel advances at most this many steps per round: a tiny coherence step is coarsened
# to deadline / MAX_CHANNEL_STEPS instead of taking hours.
MAX_CHANNEL_STEPS = 1_000


@dataclass
class DeviceRound:
    """What one selected device does in a round (all times relative to the round start)."""

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
    # filled by the simulation
    downlink_s: float = 0.0
    compute_s: float = 0.0  # the training's FLOPs ÷ the device's speed
    upload_start_s: float = float("nan")
    arrival_s: float = float("nan")
    upload_s: float = 0.0  # seconds actually spent transmitting
    bits_sent: float = 0.0
    compute_energy_j: float = 0.0
    tx_energy_j: float = 0.0
    arrived: bool = False
    drop_reason: str = ""
    packet_error_prob: float = 0.0


def run_round(
    world: World,
    devices: list[DeviceRound],
    deadline_s: float,
    *,
    correlated: bool,
    step_s: float,
    packet_errors: bool,
    waterfall_m: float,
    packet_rng: np.random.Generator,
) -> float:
    """Simulate one round starting at world.now_s; fill each DeviceRound; return the round's duration.

    The round ends when every selected update has arrived or failed, or at the deadline, whichever is first.
    """
    env = simpy.Environment(initial_time=0.0)
    step_s = max(step_s, deadline_s / MAX_CHANNEL_STEPS)
    t0 = world.now_s
    pools = [
        simpy.Container(env, capacity=float(b) * (1 + _POOL_SLACK), init=float(b) * (1 + _POOL_SLACK))
        for b in world.bs_ul_bandwidth_hz
    ]
    # One uniform per device, drawn up front in device order so results do not depend on event order.
    packet_draws = packet_rng.random(len(devices))
    for dev in devices:
        dev.compute_s = float(channels.compute_time_s_flops(dev.flops, dev.flops_per_s))

    def upload(dev: DeviceRound, draw: float):
        if not (
            np.isfinite(dev.bandwidth_hz) and dev.bandwidth_hz > 0 and np.isfinite(dev.power_w) and dev.power_w > 0
        ):
            dev.drop_reason = "no-link"  # nothing to send with: no band or no power
            return
        got = pools[dev.cell].get(dev.bandwidth_hz)
        yield got
        dev.upload_start_s = env.now
        noise = float(world.uplink_noise_psd()[dev.device])
        first_gain = None
        remaining = float(dev.uplink_bits)
        try:
            while remaining > 0:
                if correlated:  # a per-round channel holds still until the round ends
                    world.advance_to(t0 + env.now)
                gain = float(world.gain_lin()[dev.device])
                first_gain = gain if first_gain is None else first_gain
                rate = float(
                    channels.shannon_rate_bps(
                        dev.bandwidth_hz, power_w=dev.power_w, gain_lin=gain, noise_psd_w_per_hz=noise
                    )
                )
                if not (rate > 0 and np.isfinite(rate)):
                    dev.drop_reason = "no-link"  # this link cannot carry a bit: give the band back at once
                    break
                needed = float(channels.airtime_s(remaining, rate))
                # A per-round channel holds for the whole transfer; a correlated one for one step.
                chunk = min(needed, step_s) if correlated else needed
                yield env.timeout(chunk)
                dev.bits_sent += rate * chunk
                remaining = 0.0 if chunk >= needed else remaining - rate * chunk
        finally:
            # Runs on arrival and on a deadline interrupt alike: bill the airtime, free the band.
            dev.upload_s = env.now - dev.upload_start_s
            dev.bits_sent = min(dev.bits_sent, float(dev.uplink_bits))
            dev.tx_energy_j = float(channels.tx_energy_j(dev.power_w, dev.upload_s, dev.circuit_power_w))
            pools[dev.cell].put(dev.bandwidth_hz)
        if dev.drop_reason:
            return
        dev.arrival_s = env.now
        if packet_errors:
            # Chen et al. 2021 packet error rate at the SNR the upload started with.
            dev.packet_error_prob = float(
                channels.packet_error_rate(dev.power_w, first_gain, dev.bandwidth_hz, noise, waterfall_m=waterfall_m)
            )
            if draw < dev.packet_error_prob:
                dev.drop_reason = "packet-error"
                return
        dev.arrived = True

    def device_process(dev: DeviceRound, draw: float):
        try:
            yield env.timeout(dev.downlink_s)
            yield env.timeout(dev.compute_s)
            yield from upload(dev, draw)
        except simpy.Interrupt:
            dev.drop_reason = "deadline"

    procs = [env.process(device_process(dev, draw)) for dev, draw in zip(devices, packet_draws)]

    def supervisor():
        everyone = env.all_of(procs)
        result = yield env.any_of([everyone, env.timeout(deadline_s)])
        if everyone not in result:
            for p in procs:
                if p.is_alive:
                    p.interrupt("deadline")

    env.run(until=env.process(supervisor()))
    duration = float(env.now) if procs else float(deadline_s)
    env.run()  # let interrupted uploads unwind at the same instant (they release bandwidth)
    for dev in devices:
        # Local training runs until it finishes or the round ends, whichever is first.
        done_compute_s = min(dev.compute_s, max(duration - dev.downlink_s, 0.0))
        dev.compute_energy_j = dev.compute_power_w * done_compute_s
    world.advance_to(t0 + duration)
    return duration
