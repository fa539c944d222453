"""What a round is planned with: the policy's `RoundState`, and the figures that follow from its decision.

Compute time, energy and power come from `channels` (FLOPs model, or the cycles model where the CPU frequency
is a decision); the upload window of the plan is the `RoundState`'s (`optimizers.types.RoundState.upload_window_s`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import channels
import optimizers
from fedwireless.contracts import Learner, PayloadModel
from fedwireless.learning.flops import local_step_count
from fedwireless.scenario import Scenario
from fedwireless.sim.world import World


def compute_power_w(compute: Any) -> float:
    """Watts while training: energy of one second of FLOPs at the device's speed (a `compute` section)."""
    one_second = compute.flops_per_s
    if compute.j_per_flop is not None:
        return float(channels.compute_energy_j_flops(one_second, j_per_flop=compute.j_per_flop))
    return float(
        channels.compute_energy_j_flops(
            one_second, kappa=compute.kappa, cpu_hz=compute.cpu_hz, flops_per_cycle=compute.flops_per_cycle
        )
    )


class Planner:
    """Builds each round's `RoundState` from the world and the learner, and reads the policy's decision."""

    def __init__(self, sc: Scenario, world: World, learner: Learner, num_samples: np.ndarray) -> None:
        self.sc, self.world, self.learner = sc, world, learner
        self.ranks = sc.federated.module_ranks
        self.num_samples = num_samples
        self.payload: PayloadModel = learner.payload_model(self.ranks)
        self.compute_power_w = np.concatenate([np.full(g.count, compute_power_w(g.compute)) for g in sc.devices])
        t = sc.task
        self.steps = np.array([local_step_count(int(n), local_steps=t.local_steps, local_epochs=t.local_epochs,
                                                batch_size=t.batch_size) for n in num_samples])  # fmt: skip
        # [devices, modules] FLOPs of local training: expected at setup, then those of each round's own
        # batches (`next_round`), so policies plan with what the engine charges.
        self.flops = self.module_flops(learner.expected_flops)

    def module_flops(self, per_rank) -> np.ndarray:
        k = self.world.num_devices
        return np.stack([np.broadcast_to(per_rank(r), (k,)) for r in self.ranks], axis=1).astype(float)

    def compute_time_s(self) -> np.ndarray:
        """[devices, modules] seconds of local training at each device's nominal speed."""
        return channels.compute_time_s_flops(self.flops, self.world.flops_per_s[:, None])

    def next_round(self) -> None:
        self.flops = self.module_flops(self.learner.next_round_flops)

    def state(
        self, round_index: int, available: np.ndarray, gain: np.ndarray, downlink_s: np.ndarray
    ) -> optimizers.RoundState:
        w = self.world
        compute_time = self.compute_time_s()
        pe = self.sc.channel.packet_errors
        shape = compute_time.shape
        p = self.payload
        most = None if p.max_bits is None else np.broadcast_to(np.array(p.max_bits, dtype=float), shape).copy()
        return optimizers.RoundState(
            round_index=round_index,
            deadline_s=self.sc.deadline_s,
            ranks=self.ranks,
            available=available,
            gain_lin=gain,
            noise_psd_w_per_hz=w.uplink_noise_psd(),
            cell=w.serving.copy(),
            cell_bandwidth_hz=w.bs_ul_bandwidth_hz.copy(),
            p_max_w=w.p_max_w.copy(),
            payload_bits=np.broadcast_to(np.array(p.bits, dtype=float), shape).copy(),
            payload_fill=p.fill,
            payload_max_bits=most,
            compute_time_s=compute_time,
            compute_energy_j=compute_time * self.compute_power_w[:, None],
            downlink_time_s=downlink_s,
            energy_budget_j=w.energy_budget_j.copy(),
            num_samples=self.num_samples.copy(),
            max_clients=self.sc.federated.clients_per_round,
            circuit_power_w=w.circuit_power_w.copy(),
            waterfall_m=pe.waterfall_m if pe.enabled else None,
            cycles=self.flops / w.flops_per_cycle[:, None],
            kappa=w.kappa.copy(),
            cpu_hz_min=w.cpu_hz_min.copy(),
            cpu_hz_max=w.cpu_hz_max.copy(),
        )  # fmt: skip

    def compute_speed(
        self, state: optimizers.RoundState, alloc: optimizers.Allocation
    ) -> tuple[np.ndarray, np.ndarray]:
        """[K] FLOP/s and compute power at each device's frequency: the chosen one where DVFS applies
        (cycles model: speed = flops_per_cycle·f, power κ·f³)."""
        w = self.world
        if alloc.cpu_hz is None:
            return w.flops_per_s, self.compute_power_w
        use = state.dvfs & (alloc.cpu_hz > 0)
        f = np.where(use, alloc.cpu_hz, w.cpu_hz_max)
        return (
            np.where(use, w.flops_per_cycle * f, w.flops_per_s),
            np.where(use, channels.cpu_power_w(kappa=w.kappa, cpu_hz=f), self.compute_power_w),
        )

    def uplink_budget_bits(self, state, alloc, gain, selected) -> dict[int, float]:
        """Bits each selected device can upload before the deadline at its allocation, on the channel as the
        round starts: rate × the whole upload window, for payloads that follow the channel."""
        rate = channels.shannon_rate_bps(
            alloc.bandwidth_hz, power_w=alloc.power_w, gain_lin=gain, noise_psd_w_per_hz=self.world.uplink_noise_psd()
        )
        window = state.upload_window_s(alloc.cpu_hz, margin=0.0)
        out = {}
        for d in selected:
            w = window[d, alloc.module[d]]
            out[int(d)] = float(rate[d] * max(w, 0.0)) if np.isfinite(w) else 0.0
        return out
