"""Scenario files: pydantic v2 schema, YAML loading, command-line overrides, readable errors.

Every error names the YAML path, the rule and the value, e.g.
``devices[1].compute.flops_per_s: must be > 0, got -3``. This module must stay light: the
`validate` and `schema` commands import it and must not pull torch or peft.
"""

from __future__ import annotations

import copy
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from fedwireless import yamlio
from fedwireless.config_base import Section
from fedwireless.learning.config import FederatedConfig, TaskConfig

PATHLOSS_MODELS = ("uma", "umi", "rma", "36.814", "free-space", "log-distance")


class ScenarioError(ValueError):
    """A scenario that cannot be run. `messages` holds one line per problem, each naming its YAML path."""

    def __init__(self, messages: Sequence[str], source: str = "scenario") -> None:
        self.messages = list(messages)
        self.source = source
        super().__init__("\n".join(f"{source}: {m}" for m in self.messages))


# ----------------------------------------------------------------------------- radio side


class PathLossConfig(Section):
    model: Literal["uma", "umi", "rma", "36.814", "free-space", "log-distance"] = "uma"
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


def _parse_problem(ds: Any, path: Path, rows: int = 200) -> str | None:
    """Read the first rows of a data file as the run will; the reader's complaint, or None."""
    import csv

    from fedwireless.learning.data import read_glue, read_table

    try:
        if ds.name.startswith("glue-"):
            data = read_glue(path, ds.name, rows)
        else:
            data = read_table(path, ds.name, ds.text_columns, ds.label_column, rows)
    except (ValueError, KeyError, UnicodeDecodeError, csv.Error, OSError) as exc:
        return _short(str(exc))
    if not len(data.texts):
        return f"no examples in {_format_value(str(path))}"
    return None


def _cross_checks(sc: Scenario) -> list[str]:
    """Rules that span sections (the per-field rules live on the models)."""
    problems: list[str] = []
    for i, g in enumerate(sc.devices):
        p = g.placement
        if isinstance(p, ZonePlacement) and p.zone not in sc.zones:
            known = ", ".join(sorted(sc.zones)) or "none defined under `zones`"
            problems.append(f"devices[{i}].placement.zone: unknown zone, got {p.zone!r} (known: {known})")
        if isinstance(p, ExplicitPlacement) and len(p.positions_m) != g.count:
            problems.append(
                f"devices[{i}].placement.positions_m: must list one position per device (count={g.count}), "
                f"got {len(p.positions_m)}"
            )
    from channels.pathloss import MODELS as PATHLOSS_MODELS

    for i, g in enumerate(sc.devices):
        # The farthest point of the group's region from each base station; refused only when every base
        # station's path-loss model would be used beyond its specified range there.
        p = g.placement
        if isinstance(p, (DiscPlacement, AnnulusPlacement, ZonePlacement)):
            if isinstance(p, ZonePlacement):
                if p.zone not in sc.zones:
                    continue
                center, radius = sc.zones[p.zone].center_m, sc.zones[p.zone].radius_m
            else:
                center = p.center_m
                radius = p.radius_m if isinstance(p, DiscPlacement) else p.outer_radius_m
            points = [(center, radius)]
        else:
            points = [(pos, 0.0) for pos in p.positions_m]
        for (cx, cy), r in points:
            excess = []
            for bs in sc.base_stations:
                far = math.hypot(cx - bs.position_m[0], cy - bs.position_m[1]) + r
                excess.append((far - PATHLOSS_MODELS[bs.pathloss.model]["max_d2d_m"], far, bs.pathloss.model))
            worst = min(excess)
            if worst[0] > 0:
                limit = PATHLOSS_MODELS[worst[2]]["max_d2d_m"]
                problems.append(
                    f"devices[{i}].placement: devices can be {worst[1]:,.0f} m from the nearest base station, beyond "
                    f"the {worst[2]} path-loss model's {limit:,.0f} m range (TR 38.901 Table 7.4.1-1)"
                )
                break

    for i, bs in enumerate(sc.base_stations):
        lo, hi = PATHLOSS_MODELS[bs.pathloss.model]["fc_ghz"]
        if not lo <= bs.carrier_ghz <= hi:
            problems.append(
                f"base_stations[{i}].carrier_ghz: the {bs.pathloss.model} path-loss model is valid for "
                f"{lo:g}–{hi:g} GHz, got {bs.carrier_ghz:g}"
            )
        if bs.pathloss.model == "log-distance":
            params = dict(bs.pathloss.params)
            unknown = sorted(set(params) - {"pl0_db", "d0_m", "exponent"})
            if unknown:
                problems.append(
                    f"base_stations[{i}].pathloss.params: unknown key(s) {unknown}; known: pl0_db, d0_m, exponent"
                )
            for key in ("d0_m", "exponent"):
                if key in params and not params[key] > 0:
                    problems.append(f"base_stations[{i}].pathloss.params.{key}: must be > 0, got {params[key]:g}")
            continue
        if bs.pathloss.params:
            problems.append(
                f"base_stations[{i}].pathloss.params: only the log-distance model takes parameters, "
                f"got {dict(bs.pathloss.params)}"
            )
    if sc.task.model.source == "tlm" and sc.federated.training != "full":
        problems.append(
            "federated.training: a TLM is trained from scratch (no pre-trained base for LoRA), so it needs 'full', "
            f"got {sc.federated.training!r}"
        )
    ranks = (0,) if sc.federated.training == "full" else tuple(sc.federated.ranks)
    rank = sc.policy.params.get("rank")
    if sc.policy.name in ("uniform", "fixed") and isinstance(rank, int) and rank not in ranks:
        problems.append(f"policy.params.rank: must be one of the scenario's ranks {list(ranks)}, got {rank}")
    ds = sc.task.dataset
    for key in ("path", "test_path", "public_path"):
        value = getattr(ds, key)
        if value is not None:
            try:
                ok = Path(value).is_file() and Path(value).stat().st_size > 0
            except OSError:
                ok = False
            if not ok:
                problems.append(f"task.dataset.{key}: no readable, non-empty file at {_format_value(value)}")
            elif key != "public_path" and ds.name in ("glue-sst2", "glue-qnli", "csv", "jsonl"):
                problem = _parse_problem(ds, Path(value))
                if problem:
                    problems.append(f"task.dataset.{key}: {problem}")
    if sc.surrogate is None and ds.name == "sentiment" and ds.num_train < sc.num_devices:  # real data only
        problems.append(
            f"task.dataset.num_train: each of the {sc.num_devices} devices needs at least one example, "
            f"got {ds.num_train}"
        )
    fed = sc.federated
    if sc.task.model.source != "local":
        from fedwireless.learning.config import LLAMA_MODULES

        bad = [m for m in fed.target_modules if m not in LLAMA_MODULES]
        if bad:
            problems.append(f"federated.target_modules: unknown module(s) {bad}; known: {sorted(LLAMA_MODULES)}")
    for i, g in enumerate(sc.devices):
        if g.model is not None and g.model not in sc.task.models:
            known = ", ".join(sc.task.models) or "none defined"
            problems.append(f"devices[{i}].model: unknown model {g.model!r}; task.models has {known}")
    if any(g.model is not None for g in sc.devices) and fed.training != "distill":
        problems.append(
            "devices[].model: devices with their own model need federated.training: distill (parameters of "
            f"different models cannot be averaged), got {fed.training!r}"
        )
    if (fed.training == "pwff") != (sc.task.dataset.name == "instructions"):
        problems.append(
            "federated.training: pwff and task.dataset.name: instructions go together (the method needs prompts, "
            f"responses and reward labels), got training {fed.training!r} with data set {sc.task.dataset.name!r}"
        )
    if fed.training == "pwff" and (sc.task.kind != "causal-lm" or len(fed.ranks) != 1):
        problems.append(
            "federated.training: pwff fine-tunes a causal LM with one LoRA rank (task.kind: causal-lm, one entry in "
            f"federated.ranks), got kind {sc.task.kind!r} and ranks {list(fed.ranks)}"
        )
    if fed.training == "distill" and sc.task.dataset.name in ("cellular", "berlin-v2x"):
        problems.append(
            "federated.training: distill needs a public text split for its proxy batch; the cellular data "
            f"sets have none (task.dataset.name is {sc.task.dataset.name!r})"
        )
    if sc.task.optimizer.persistent and fed.training == "lora" and fed.aggregation in ("flexlora", "flora"):
        problems.append(
            f"task.optimizer.persistent: true does not fit federated.aggregation {fed.aggregation!r}, whose clients "
            "restart from new adapter factors every round (the kept AdamW moments would describe other "
            "parameters); use fedavg or hetlora, or persistent: false"
        )
    m = sc.task.model
    if m.source == "local" and m.path is not None:
        try:
            ok = (Path(m.path) / "config.json").is_file()
        except OSError:
            ok = False
        if not ok:
            problems.append(f"task.model.path: no save_pretrained directory (config.json) at {_format_value(m.path)}")
    from optimizers import validate_policy_params

    try:
        validate_policy_params(sc.policy.name, sc.policy.params)
    except ValueError as exc:
        where = "policy.name" if "unknown policy" in str(exc) else "policy.params"
        problems.append(f"{where}: {exc}")
    return problems


# ----------------------------------------------------------------------------- loading and errors


def _format_value(value: Any) -> str:
    """A short, safe rendering of a user's value: huge integers and nested structures are summarised."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, (Mapping, list, tuple)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    text = repr(value[:200]) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _yaml_path(data: Any, loc: Sequence[Any]) -> str:
    """Turn a pydantic error location into a YAML path, skipping discriminator tags it inserts."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list):
            parts.append(f"[{item}]")
            node = node[item] if item < len(node) else None
        elif isinstance(node, Mapping) and item in node:
            parts.append(("." if parts else "") + str(item))
            node = node[item]
        elif isinstance(node, Mapping) or node is None:
            # A key that is absent (missing field) or a union tag: keep real field names only.
            if isinstance(item, str) and not (isinstance(node, Mapping) and node.get("kind") == item):
                parts.append(("." if parts else "") + item)
            node = None
    return "".join(parts) or "(top level)"


_RULES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
}


def _message(err: Mapping[str, Any], data: Any) -> str:
    path = _yaml_path(data, err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "missing":
        return f"{path}: required, but missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check the spelling; `fedwireless schema` lists the keys)"
    if kind in _RULES:
        bounds = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in ctx.items()}
        return f"{path}: {_RULES[kind].format(**bounds)}, got {_format_value(value)}"
    if kind == "literal_error":
        return f"{path}: must be one of {ctx.get('expected')}, got {_format_value(value)}"
    if kind == "union_tag_invalid":
        return f"{path}.kind: must be one of {ctx.get('expected_tags')}, got {_format_value(ctx.get('tag'))}"
    if kind == "union_tag_not_found":
        return f"{path}: needs a `kind` key"
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "value_error":
        field = re.match(r"^([A-Za-z_][A-Za-z0-9_]*): ", msg)
        if field and isinstance(value, Mapping) and field[1] in value:  # a section rule naming one of its keys
            path = field[1] if path == "(top level)" else f"{path}.{field[1]}"
            msg = msg[field.end() :]
        # Field rules add the value; rules over a whole section name their own fields and values.
        tail = "" if "got" in msg or isinstance(value, (Mapping, list)) else f", got {_format_value(value)}"
        return f"{path}: {msg}{tail}"
    return f"{path}: {msg[:1].lower() + msg[1:]}, got {_format_value(value)}"


def validate(data: Any, source: str = "scenario") -> Scenario:
    """Validate a scenario mapping; raise ScenarioError listing every problem with its YAML path."""
    if not isinstance(data, Mapping):
        raise ScenarioError([f"(top level): must be a mapping of sections, got {type(data).__name__}"], source)
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError([_message(e, data) for e in exc.errors()], source) from None
    problems = _cross_checks(sc)
    if problems:
        raise ScenarioError(problems, source)
    return sc


def load_scenario_dict(path: str | Path) -> dict[str, Any]:
    """Read a scenario YAML file into a plain mapping (no validation yet), through the guarded reader."""
    p = Path(path)
    try:
        data = yamlio.load_file(p)
    except yamlio.YamlError as exc:
        raise ScenarioError([str(exc)], _short(str(p))) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"(top level): must be a mapping of sections, got {type(data).__name__}"], str(p))
    data.setdefault("name", re.sub(r"[^A-Za-z0-9._-]", "_", p.stem)[:100] or "scenario")
    return data


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _split_key(key: str) -> list[str | int]:
    if not key or key.startswith(".") or key.endswith(".") or ".." in key or not _KEY_PART.search(key):
        raise ScenarioError(
            [f"{_short(key, 80)!r}: not a key path (write e.g. policy.params.V or devices[0].count)"], "--set"
        )
    parts: list[str | int] = []
    for m in _KEY_PART.finditer(key):
        name, index = m.groups()
        if index is not None:
            parts.append(int(index))
        elif name.isdigit():
            parts.append(int(name))
        else:
            parts.append(name)
    return parts


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `data` with dotted keys set (`policy.params.V`, `devices[0].count`, `devices.0.count`).

    Missing mappings on the way are created; list indices must exist. Setting `policy.name` to another
    policy drops the old `policy.params`; `policy.params.*` overrides then apply to the new policy.
    """
    out = copy.deepcopy(dict(data))
    # Another policy starts from its own defaults: the old policy's params rarely mean anything to it.
    policy = out.get("policy")
    if "policy.name" in overrides and isinstance(policy, dict) and policy.get("name") != overrides["policy.name"]:
        policy.pop("params", None)
    for key, value in overrides.items():
        parts = _split_key(key)
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            where = key if depth == 0 else ".".join(str(p) for p in parts[: depth + 1])
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    size = len(node) if isinstance(node, list) else 0
                    raise ScenarioError([f"{where}: no list item {part} to override (list has {size})"], "--set")
                node = node[part]
            else:
                if not isinstance(node, dict):
                    raise ScenarioError([f"{where}: cannot set a key inside a {type(node).__name__}"], "--set")
                if node.get(part) is None:
                    # Lists of sections (devices, base stations) default to one entry: expand before indexing.
                    nxt = parts[depth + 1]
                    node[part] = [{}] if isinstance(nxt, int) and nxt == 0 else {}
                node = node[part]
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise ScenarioError([f"{key}: no list item {last} to override"], "--set")
            node[last] = value
        else:
            if not isinstance(node, dict):
                raise ScenarioError([f"{key}: cannot set a key inside a {type(node).__name__}"], "--set")
            node[last] = value
    return out


def parse_set_options(items: Sequence[str]) -> dict[str, Any]:
    """Parse `key.path=value` strings; values are read as YAML (so 10 is an int, [4, 8] a list)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError([f"expected key.path=value, got {item!r}"], "--set")
        try:
            out[key.strip()] = yamlio.loads(raw) if raw.strip() else None
        except yamlio.YamlError as exc:
            if "invalid YAML" not in str(exc):
                raise ScenarioError([f"{_short(key.strip(), 80)}: {exc}"], "--set") from None
            out[key.strip()] = raw  # not YAML at all: take the text as a string
    return out


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load, override and validate a scenario file. Raises ScenarioError."""
    data = load_scenario_dict(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return validate(data, str(path))


def scenario_to_dict(sc: Scenario) -> dict[str, Any]:
    """The resolved scenario (defaults filled in), as plain YAML-friendly data."""
    return _plain(sc.model_dump(mode="json"))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and math.isinf(x):
        return None
    return x


def json_schema() -> dict[str, Any]:
    """The scenario's JSON Schema with field descriptions and per-name policy and codec parameters."""
    import fedwireless.learning.config as learning_config
    from fedwireless.config_base import Section
    from fedwireless.schema_docs import document

    schema = Scenario.model_json_schema()
    schema["title"] = "fedwireless scenario"
    classes = {
        name: obj
        for module in (sys.modules[__name__], learning_config)
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, Section)
    }
    return document(schema, classes)
