"""The wireless world: base stations, devices, mobility, association and the channel as it evolves.

State lives here; every formula comes from `channels`. Positions are metres in a 2-D plane; the
world advances in simulated seconds (`advance_to`) and never reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import channels
from fedwireless.rng import Streams
from fedwireless.scenario.schema import (
    AnnulusPlacement,
    BaseStationConfig,
    ChannelConfig,
    DeviceGroupConfig,
    DiscPlacement,
    ExplicitPlacement,
    RandomWaypointMobility,
    Scenario,
    ZoneConfig,
    ZonePlacement,
)


@dataclass(frozen=True)
class Region:
    """An annulus (inner radius 0 = disc) in which a group's devices are placed and roam."""

    center_m: tuple[float, float]
    inner_m: float
    outer_m: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        # Uniform over the area: r = sqrt(U·(R² − r0²) + r0²).
        u = rng.random(n)
        r = np.sqrt(u * (self.outer_m**2 - self.inner_m**2) + self.inner_m**2)
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        return np.stack([self.center_m[0] + r * np.cos(phi), self.center_m[1] + r * np.sin(phi)], axis=-1)


def _region(placement: object, zones: Mapping[str, ZoneConfig]) -> Region | None:
    if isinstance(placement, DiscPlacement):
        return Region(placement.center_m, placement.min_distance_m, placement.radius_m)
    if isinstance(placement, AnnulusPlacement):
        return Region(placement.center_m, placement.inner_radius_m, placement.outer_radius_m)
    if isinstance(placement, ZonePlacement):
        z = zones[placement.zone]
        return Region(z.center_m, 0.0, z.radius_m)
    return None


class RandomWaypoint:
    """Random-waypoint mobility (Johnson & Maltz 1996): go straight to a uniform point, pause, repeat."""

    def __init__(
        self,
        start_m: np.ndarray,
        region: Region,
        speed_range_mps: tuple[float, float],
        pause_s: float,
        rng: np.random.Generator,
    ) -> None:
        self.pos_m = start_m.astype(float).copy()  # [n, 2]
        self.region = region
        self.speed_range_mps = speed_range_mps
        self.pause_s = pause_s
        self.rng = rng
        n = len(start_m)
        self.target_m = region.sample(n, rng)
        self.speed_mps = rng.uniform(*speed_range_mps, n)
        self.pause_left_s = np.zeros(n)

    def advance(self, dt_s: float) -> np.ndarray:
        """Move every device for dt_s seconds; return the distance each one travelled [n]."""
        moved = np.zeros(len(self.pos_m))
        left = np.full(len(self.pos_m), float(dt_s))
        # Few iterations: a device finishes at most a handful of legs within one step.
        for _ in range(1000):
            active = left > 1e-12
            if not active.any():
                break
            pausing = active & (self.pause_left_s > 0)
            wait = np.minimum(self.pause_left_s, left)
            self.pause_left_s = np.where(pausing, self.pause_left_s - wait, self.pause_left_s)
            left = np.where(pausing, left - wait, left)
            moving = (left > 1e-12) & (self.pause_left_s <= 0)
            if not moving.any():
                break
            delta = self.target_m - self.pos_m
            dist = np.linalg.norm(delta, axis=-1)
            reach_s = dist / self.speed_mps
            arrive = moving & (reach_s <= left)
            go = np.where(moving, np.minimum(reach_s, left), 0.0)
            step = np.where(dist[:, None] > 0, delta / np.maximum(dist, 1e-12)[:, None], 0.0)
            self.pos_m = self.pos_m + step * (go * self.speed_mps)[:, None]
            moved += go * self.speed_mps
            left = left - go
            idx = np.flatnonzero(arrive)
            if len(idx):
                self.pos_m[idx] = self.target_m[idx]
                self.target_m[idx] = self.region.sample(len(idx), self.rng)
                self.speed_mps[idx] = self.rng.uniform(*self.speed_range_mps, len(idx))
                self.pause_left_s[idx] = self.pause_s
        return moved

    def current_speed_mps(self) -> np.ndarray:
        return np.where(self.pause_left_s > 0, 0.0, self.speed_mps)


class World:
    """Devices and base stations with their channel state, advanced in simulated time."""

    @classmethod
    def from_scenario(cls, sc: Scenario, streams: Streams) -> World:
        return cls(sc.base_stations, sc.channel, sc.devices, streams, zones=sc.zones)

    def __init__(
        self,
        stations: Sequence[BaseStationConfig],
        channel: ChannelConfig,
        devices: Sequence[DeviceGroupConfig],
        streams: Streams,
        zones: Mapping[str, ZoneConfig] | None = None,
    ) -> None:
        self.channel = ch = channel
        self._zones = dict(zones or {})
        placement_rng = streams.get("placement")
        self._mobility_rng = streams.get("mobility")
        self._channel_rng = streams.get("channel")

        # --- base stations [C]
        self.bs_pos_m = np.array([b.position_m for b in stations], dtype=float)
        self.bs_models = [b.pathloss.model for b in stations]
        self.bs_pl_params = [dict(b.pathloss.params) for b in stations]
        self.bs_height_m = [b.height_m for b in stations]
        self.bs_fc_hz = np.array([b.carrier_ghz * 1e9 for b in stations])
        self.bs_ul_bandwidth_hz = np.array([b.bandwidth_mhz * 1e6 for b in stations])
        self.bs_dl_bandwidth_hz = np.array([(b.downlink_bandwidth_mhz or b.bandwidth_mhz) * 1e6 for b in stations])
        self.bs_dl_power_w = channels.dbm_to_w(np.array([b.downlink_power_dbm for b in stations]))
        self.bs_noise_psd = channels.thermal_noise_psd_w_per_hz(np.array([b.noise_figure_db for b in stations]))
        self.bs_names = [b.name or f"bs{i}" for i, b in enumerate(stations)]

        # --- devices [K]
        groups = list(devices)
        self.group = np.concatenate([np.full(g.count, i) for i, g in enumerate(groups)])
        self.group_names = [g.name or f"group{i}" for i, g in enumerate(groups) for _ in range(g.count)]
        per = lambda f: np.concatenate([np.full(g.count, f(g), dtype=float) for g in groups])  # noqa: E731
        self.h_ut_m = per(lambda g: g.height_m)
        self.p_max_w = channels.dbm_to_w(per(lambda g: g.max_power_dbm))
        self.ue_noise_psd = channels.thermal_noise_psd_w_per_hz(per(lambda g: g.noise_figure_db))
        self.flops_per_s = per(lambda g: g.compute.flops_per_s)
        self.circuit_power_w = per(lambda g: g.circuit_power_w)
        self.kappa = per(lambda g: g.compute.kappa)
        self.cpu_hz_max = per(lambda g: g.compute.cpu_hz)
        self.cpu_hz_min = per(lambda g: g.compute.min_cpu_hz or g.compute.cpu_hz)
        self.flops_per_cycle = per(lambda g: g.compute.flops_per_cycle)
        self.energy_budget_j = per(lambda g: g.energy_budget_j if g.energy_budget_j else np.inf)
        self.availability = per(lambda g: g.availability)
        self.num_devices = len(self.group)

        self.pos_m = self._place(groups, placement_rng)  # [K, 2]

        # --- large-scale state per (device, base station) [K, C]
        # Two unit-variance Gaussian fields per cell, each correlated in space at start and along every
        # device's track afterwards: z decides the LOS state (TR 38.901 §7.6.3.3, `channels.los_from_gaussian`)
        # over the LOS correlation distance, u the shadowing over the shadowing decorrelation distance.
        # Shadowing in dB is σ(LOS state, distance)·u, so σ switches when the LOS state does.
        self._start_fields(ch)
        self.los = self._los_state()
        self.shadow_db = self._shadow_db()

        # --- association and small-scale fading to the serving cell
        self.serving = self._strongest_cell()
        fading_params = self._fading_params()
        self._fading = (
            channels.FadingProcess(ch.fading.kind, self.num_devices, self._channel_rng, **fading_params)
            if ch.coherence == "correlated"
            else None
        )
        self.fading_lin = np.ones(self.num_devices)
        self.now_s = 0.0
        self._gain_cache: np.ndarray | None = None

    # ----------------------------------------------------------------- helpers
    def _place(self, groups, placement_rng: np.random.Generator) -> np.ndarray:
        """[K, 2] starting positions, group by group; random-waypoint groups get their mobility here."""
        pos, self._mobility = [], []
        start = 0
        for g in groups:
            region = _region(g.placement, self._zones)
            if isinstance(g.placement, ExplicitPlacement):
                p = np.array(g.placement.positions_m, dtype=float)
            else:
                assert region is not None
                p = region.sample(g.count, placement_rng)
            pos.append(p)
            if isinstance(g.mobility, RandomWaypointMobility):
                if region is None:  # explicit positions roam within the disc that holds them
                    c = p.mean(axis=0)
                    region = Region((float(c[0]), float(c[1])), 0.0, float(np.linalg.norm(p - c, axis=-1).max()) + 50.0)
                rw = RandomWaypoint(p, region, g.mobility.speed_mps, g.mobility.pause_s, self._mobility_rng)
                self._mobility.append((slice(start, start + g.count), rw))
            start += g.count
        return np.concatenate(pos)

    def _start_fields(self, ch) -> None:
        """The LOS and shadowing Gaussian fields of every (device, cell) at the start, and their processes."""
        k, n_bs = self.num_devices, len(self.bs_models)
        self._los_z = np.zeros((k, n_bs))
        self._los_proc: list[channels.ShadowingProcess | None] = []
        self._shadow_u = np.zeros((k, n_bs))
        self._shadow_proc: list[channels.ShadowingProcess | None] = []
        for c, model in enumerate(self.bs_models):
            if ch.los == "auto":
                d_los = channels.los_correlation_distance_m(model)
                self._los_z[:, c] = channels.correlated_shadowing_db(self.pos_m, 1.0, d_los, self._channel_rng)
                self._los_proc.append(channels.ShadowingProcess(self._los_z[:, c], 1.0, d_los, self._channel_rng))
            else:
                self._los_proc.append(None)
            if ch.shadowing.enabled:
                d_corr = self._decorrelation_m(model)
                self._shadow_u[:, c] = channels.correlated_shadowing_db(self.pos_m, 1.0, d_corr, self._channel_rng)
                self._shadow_proc.append(
                    channels.ShadowingProcess(self._shadow_u[:, c], 1.0, d_corr, self._channel_rng)
                )
            else:
                self._shadow_proc.append(None)

    def _fading_params(self) -> dict[str, float]:
        f = self.channel.fading
        if f.kind == "rician":
            if f.k_factor_db is not None:
                return {"k_factor_db": f.k_factor_db}
            models = [self.bs_models[c] for c in self.serving]
            return {"k_factor_db": np.array([channels.rician_k_factor_db(m) for m in models])}
        if f.kind == "nakagami":
            return {"m": f.m}
        return {}

    def _d2d_m(self) -> np.ndarray:
        """[K, C] horizontal distances, floored at 1 m so co-located points stay finite."""
        d = np.linalg.norm(self.pos_m[:, None, :] - self.bs_pos_m[None, :, :], axis=-1)
        return np.maximum(d, 1.0)

    def _los_state(self) -> np.ndarray:
        """[K, C] LOS states from the LOS fields at current positions (fixed when `channel.los` says so)."""
        mode = self.channel.los
        shape = (self.num_devices, len(self.bs_models))
        if mode != "auto":
            return np.full(shape, mode == "los")
        d = self._d2d_m()
        p = np.stack(
            [channels.los_probability(m, d[:, c], h_ut_m=self.h_ut_m) for c, m in enumerate(self.bs_models)],
            axis=-1,
        )
        return channels.los_from_gaussian(p, self._los_z)

    def _sigma_db(self) -> np.ndarray:
        """[K, C] shadowing σ for the current LOS states (RMa LOS: 4 dB before the breakpoint, 6 dB beyond)."""
        d = self._d2d_m()
        return np.stack(
            [
                channels.shadowing_sigma_db(
                    m,
                    self.los[:, c],
                    d2d_m=d[:, c],
                    fc_hz=self.bs_fc_hz[c],
                    h_bs_m=self.bs_height_m[c],
                    h_ut_m=self.h_ut_m,
                )
                for c, m in enumerate(self.bs_models)
            ],
            axis=-1,
        ) * np.ones((self.num_devices, 1))

    def _shadow_db(self) -> np.ndarray:
        return self._sigma_db() * self._shadow_u

    def _decorrelation_m(self, model: str) -> float:
        cfg = self.channel.shadowing.decorrelation_m
        if cfg is not None:
            return cfg
        # The LOS and NLOS distances differ; the longer (NLOS) is the conservative choice for one field.
        return float(channels.decorrelation_distance_m(model, False))

    def pathloss_db(self) -> np.ndarray:
        """[K, C] path loss from every device to every base station, at current positions and LOS states."""
        d = self._d2d_m()
        cols = []
        for c, model in enumerate(self.bs_models):
            cols.append(
                channels.pathloss_db(
                    model,
                    d[:, c],
                    self.bs_fc_hz[c],
                    los=self.los[:, c],
                    h_bs_m=self.bs_height_m[c],
                    h_ut_m=self.h_ut_m,
                    **self.bs_pl_params[c],
                )
            )
        return np.stack(cols, axis=-1)

    def _strongest_cell(self) -> np.ndarray:
        # Association on large-scale gain (path loss + shadowing), as RSRP averages out fast fading.
        return np.argmin(self.pathloss_db() + (-self.shadow_db), axis=-1)

    # ----------------------------------------------------------------- time
    def start_round(self) -> None:
        """Round boundary: re-associate moved devices; redraw fading when coherence is per round."""
        self._gain_cache = None
        self.serving = self._strongest_cell()
        if self._fading is None:
            f = self.channel.fading
            self.fading_lin = channels.sample_fading(
                f.kind, self.num_devices, self._channel_rng, **self._fading_params()
            )
        else:
            self.fading_lin = self._fading.advance(0.0, self.speed_mps(), self.fc_hz_serving())

    def advance_to(self, t_s: float) -> None:
        """Move devices and evolve shadowing and (correlated) fading up to simulated time t_s."""
        dt = t_s - self.now_s
        if dt <= 0:
            return
        self._gain_cache = None
        moved = np.zeros(self.num_devices)
        speeds = self.speed_mps()
        for sl, rw in self._mobility:
            moved[sl] = rw.advance(dt)
            self.pos_m[sl] = rw.pos_m
        if moved.any():
            for c, proc in enumerate(self._shadow_proc):
                if proc is not None:
                    self._shadow_u[:, c] = proc.step(moved)
            for c, proc in enumerate(self._los_proc):
                if proc is not None:
                    self._los_z[:, c] = proc.step(moved)
            self.los = self._los_state()
            self.shadow_db = self._shadow_db()
        if self._fading is not None:
            self.fading_lin = self._fading.advance(dt, speeds, self.fc_hz_serving())
        self.now_s = t_s

    def speed_mps(self) -> np.ndarray:
        v = np.zeros(self.num_devices)
        for sl, rw in self._mobility:
            v[sl] = rw.current_speed_mps()
        return v

    def fc_hz_serving(self) -> np.ndarray:
        return self.bs_fc_hz[self.serving]

    # ----------------------------------------------------------------- what the round sees
    def gain_lin(self) -> np.ndarray:
        """[K] power gain to the serving cell: path loss, shadowing and fading (cached until the world changes)."""
        if self._gain_cache is None:
            k = np.arange(self.num_devices)
            large_db = -self.pathloss_db()[k, self.serving] + self.shadow_db[k, self.serving]
            self._gain_cache = channels.db_to_lin(large_db) * self.fading_lin
        return self._gain_cache

    def distance_m(self) -> np.ndarray:
        return self._d2d_m()[np.arange(self.num_devices), self.serving]

    def serving_los(self) -> np.ndarray:
        return self.los[np.arange(self.num_devices), self.serving]

    def uplink_noise_psd(self) -> np.ndarray:
        return self.bs_noise_psd[self.serving]

    def downlink_rate_bps(self, gain_lin: np.ndarray) -> np.ndarray:
        """[K] downlink rate when the serving cell broadcasts over its whole downlink band."""
        c = self.serving
        return channels.shannon_rate_bps(
            self.bs_dl_bandwidth_hz[c],
            power_w=self.bs_dl_power_w[c],
            gain_lin=gain_lin,
            noise_psd_w_per_hz=self.ue_noise_psd,
        )
