"""The scenario's schema: one pydantic section per part of the YAML, each rule about a single field on its model
(rules that span sections are in `fedwireless.scenario.rules`)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from channels.pathloss import MODELS as PATHLOSS_MODELS
from fedwireless.config_base import Section
from fedwireless.learning.config import TaskConfig
from fedwireless.learning.federated_config import BackhaulConfig, FederatedConfig

# ----------------------------------------------------------------------------- radio side


class PathLossConfig(Section):
    model: Literal[tuple(PATHLOSS_MODELS)] = "uma"
    # Keyword arguments of channels.pathloss_db beyond the standard ones (e.g. pl0_db, exponent).
    params: dict[str, float] = Field(default_factory=dict)


class BaseStationConfig(Section):
    name: str | None = None
    position_m: tuple[float, float] = (0.0, 0.0)
    height_m: float | None = Field(None, gt=0)  # None: the path-loss model's default height
    carrier_ghz: float = Field(2.0, gt=0)
    bandwidth_mhz: float = Field(20.0, gt=0)  # uplink pool shared by the devices it serves
    downlink_bandwidth_mhz: float | None = Field(None, gt=0)  # None: same as uplink
    downlink_power_dbm: float = 46.0  # macro-cell transmit power (TR 36.814 Table A.2.1.1-2)
    noise_figure_db: float = Field(5.0, ge=0)  # base-station receiver
    pathloss: PathLossConfig = Field(default_factory=PathLossConfig)
    # Hierarchical rounds: this station's link to the cloud; None: federated.hierarchical.backhaul.
    backhaul: BackhaulConfig | None = None


class FadingConfig(Section):
    kind: Literal["rayleigh", "rician", "nakagami", "none"] = "rayleigh"
    # Rician only; None: the serving cell model's LOS K-factor (TR 38.901 Table 7.5-6: UMa/UMi 9 dB, RMa 7 dB).
    k_factor_db: float | None = None
    m: float = Field(1.0, ge=0.5)  # nakagami only


class ShadowingConfig(Section):
    enabled: bool = True
    # None: the model's TR 38.901 Table 7.5-6 decorrelation distance for the device's LOS state.
    decorrelation_m: float | None = Field(None, gt=0)


class PacketErrorConfig(Section):
    enabled: bool = False
    waterfall_m: float = Field(0.023, gt=0)  # Chen et al. 2021's waterfall threshold


class ChannelConfig(Section):
    fading: FadingConfig = Field(default_factory=FadingConfig)
    # per-round: one fading draw per round; correlated: Gauss-Markov in time from each device's speed,
    # and an upload that outlasts `coherence_step_s` advances step by step at each step's rate.
    coherence: Literal["per-round", "correlated"] = "per-round"
    coherence_step_s: float = Field(0.05, gt=0)
    shadowing: ShadowingConfig = Field(default_factory=ShadowingConfig)
    los: Literal["auto", "los", "nlos"] = "auto"  # auto: drawn from the model's LOS probability
    packet_errors: PacketErrorConfig = Field(default_factory=PacketErrorConfig)


class DiscPlacement(Section):
    kind: Literal["disc"] = "disc"
    center_m: tuple[float, float] = (0.0, 0.0)
    radius_m: float = Field(250.0, gt=0)
    min_distance_m: float = Field(10.0, ge=0)  # TR 38.901's minimum 2-D distance

    @model_validator(mode="after")
    def _inner_below_outer(self) -> DiscPlacement:
        if self.min_distance_m >= self.radius_m:
            raise ValueError(f"min_distance_m must be < radius_m ({self.radius_m}), got {self.min_distance_m}")
        return self


class AnnulusPlacement(Section):
    kind: Literal["annulus"]
    center_m: tuple[float, float] = (0.0, 0.0)
    inner_radius_m: float = Field(gt=0)
    outer_radius_m: float = Field(gt=0)

    @model_validator(mode="after")
    def _inner_below_outer(self) -> AnnulusPlacement:
        if self.inner_radius_m >= self.outer_radius_m:
            raise ValueError(
                f"inner_radius_m must be < outer_radius_m ({self.outer_radius_m}), got {self.inner_radius_m}"
            )
        return self


class ExplicitPlacement(Section):
    kind: Literal["explicit"]
    positions_m: list[tuple[float, float]] = Field(min_length=1)


class ZonePlacement(Section):
    kind: Literal["zone"]
    zone: str


Placement = Annotated[DiscPlacement | AnnulusPlacement | ExplicitPlacement | ZonePlacement, Field(discriminator="kind")]


class ZoneConfig(Section):
    center_m: tuple[float, float]
    radius_m: float = Field(gt=0)


class StaticMobility(Section):
    kind: Literal["static"] = "static"


class RandomWaypointMobility(Section):
    kind: Literal["random-waypoint"]
    speed_mps: tuple[float, float] = (0.5, 1.5)  # uniform speed range per leg (pedestrian default)
    pause_s: float = Field(0.0, ge=0)

    @field_validator("speed_mps")
    @classmethod
    def _speed_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] <= v[1]):
            raise ValueError(f"must satisfy 0 < min <= max, got {list(v)}")
        return v


Mobility = Annotated[StaticMobility | RandomWaypointMobility, Field(discriminator="kind")]


class ComputeConfig(Section):
    """Local-training speed and energy. Time = FLOPs / flops_per_s.

    Energy: `j_per_flop` if given, else the CMOS model κ·cycles·f² with cycles = FLOPs / flops_per_cycle
    (Yang et al. 2021), where flops_per_s = flops_per_cycle · cpu_hz is the speed at full frequency.
    `min_cpu_hz` (cycles model only) makes the frequency a per-round decision in [min_cpu_hz, cpu_hz]
    (DVFS): policies that choose it (`energy-min`, `lyapunov`) trade compute energy κ·C·f² against time
    C/f; the others run at `cpu_hz`.
    """

    flops_per_s: float = Field(2.0e10, gt=0)  # a phone-class sustained training throughput
    j_per_flop: float | None = Field(None, gt=0)
    kappa: float = Field(1e-28, gt=0)  # effective switched capacitance (Yang et al. 2021)
    cpu_hz: float = Field(2.0e9, gt=0)
    min_cpu_hz: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _dvfs_range(self) -> ComputeConfig:
        if self.min_cpu_hz is not None:
            if self.j_per_flop is not None:
                raise ValueError("min_cpu_hz: frequency scaling needs the cycles model; remove j_per_flop")
            if self.min_cpu_hz > self.cpu_hz:
                raise ValueError(f"min_cpu_hz: must be <= cpu_hz ({self.cpu_hz:g}), got {self.min_cpu_hz:g}")
        return self

    @property
    def flops_per_cycle(self) -> float:
        return self.flops_per_s / self.cpu_hz


class DeviceGroupConfig(Section):
    name: str | None = None
    count: int = Field(10, ge=1, le=1_000_000)
    placement: Placement = Field(default_factory=DiscPlacement)
    mobility: Mobility = Field(default_factory=StaticMobility)
    height_m: float = Field(1.5, gt=0)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    max_power_dbm: float = 23.0  # 3GPP UE power class 3
    # Transmit-chain circuit power during airtime, on top of the radiated power: 0.1 W, the UE circuit
    # power of Björnson et al., "Optimal design of energy-efficient multi-user MIMO systems: is massive
    # MIMO the answer?", IEEE TWC 2015, Table 2.
    circuit_power_w: float = Field(0.1, ge=0)
    noise_figure_db: float = Field(9.0, ge=0)  # UE receiver (downlink)
    energy_budget_j: float | None = Field(None, gt=0)  # long-term average per round; None: no budget
    availability: float = Field(1.0, ge=0, le=1)  # probability the device can take part in a round
    # Name of a model in `task.models` this group's devices run (federated distillation: models may differ);
    # None: `task.model`.
    model: str | None = None
    # Personalized fine-tuning (federated.training: pwff): weight a of the helpfulness reward in the device's
    # quality reward a·R_help + (1 − a)·R_safe (its own preference).
    preference: float = Field(0.5, ge=0, le=1)


class PolicyConfig(Section):
    name: str = "uniform"
    params: dict[str, Any] = Field(default_factory=dict)


class SurrogateConfig(Section):
    """Learning-curve surrogate that replaces real training (for large policy studies). Never the default.

    After a round, accuracy moves toward `max_accuracy` by
    ``rate · Σ_k p_k · r_k / (r_k + rank_half)`` of the remaining gap, where p_k is the arrived device's
    share of the selected devices' samples and r_k its rank; payload sizes are those of real LoRA adapters of the
    task's model at each rank, in float32. Results are labelled `learning: surrogate`.
    """

    initial_accuracy: float = Field(0.5, ge=0, lt=1)
    max_accuracy: float = Field(0.9, gt=0, le=1)
    rate: float = Field(0.15, gt=0, le=1)
    rank_half: float = Field(8.0, gt=0)
    noise_std: float = Field(0.0, ge=0)  # accuracy noise per round, from the scenario's seed

    @model_validator(mode="after")
    def _ordered(self) -> SurrogateConfig:
        if self.max_accuracy <= self.initial_accuracy:
            raise ValueError(
                f"max_accuracy must be > initial_accuracy ({self.initial_accuracy}), got {self.max_accuracy}"
            )
        return self


class OutputConfig(Section):
    dir: str | None = None  # None: runs/<scenario name>
    plots: bool = True
    # Tables as CSV or Parquet; auto: Parquet for a table of over a million rows (devices.csv at scale), else CSV.
    format: Literal["auto", "csv", "parquet"] = "auto"
    # devices.csv: every device's row each round, a fixed random sample of devices (device_rows_rate of them),
    # or none (studies that need only the round table).
    device_rows: Literal["all", "sampled", "none"] = "all"
    device_rows_rate: float = Field(0.01, gt=0, le=1)


class Scenario(Section):
    """A whole scenario file."""

    name: str = "scenario"
    seed: int = Field(0, ge=0, le=2**63 - 1)
    rounds: int = Field(10, ge=1, le=10_000_000)
    deadline_s: float = Field(10.0, gt=0)  # per round: an update not arrived by then is dropped
    zones: dict[str, ZoneConfig] = Field(default_factory=dict)
    base_stations: list[BaseStationConfig] = Field(default_factory=lambda: [BaseStationConfig()], min_length=1)
    channel: ChannelConfig = Field(default_factory=ChannelConfig)
    devices: list[DeviceGroupConfig] = Field(default_factory=lambda: [DeviceGroupConfig()], min_length=1)
    task: TaskConfig = Field(default_factory=TaskConfig)
    federated: FederatedConfig = Field(default_factory=FederatedConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    surrogate: SurrogateConfig | None = None
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # The name becomes a folder under runs/: no separators, no '..', nothing absolute.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) or ".." in v or len(v) > 100:
            raise ValueError("must be a plain folder name (letters, digits, . _ -; no / or ..; at most 100 characters)")
        return v

    @property
    def num_devices(self) -> int:
        return sum(g.count for g in self.devices)

    def device_models(self) -> list[str | None]:
        """Model name of each device (None: `task.model`), in device order."""
        out: list[str | None] = []
        for g in self.devices:
            out += [g.model] * g.count
        return out

    def device_preferences(self) -> list[float]:
        """Helpfulness weight a of each device's quality reward (pwff), in device order."""
        return [g.preference for g in self.devices for _ in range(g.count)]

    def device_group_names(self) -> list[str]:
        """Group name of each device, in device order."""
        names: list[str] = []
        for i, g in enumerate(self.devices):
            names += [g.name or f"group{i}"] * g.count
        return names
