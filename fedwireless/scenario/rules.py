"""Rules that span sections of a scenario (the per-field rules live on the models in `schema`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fedwireless.learning.registry import METHOD_RULES
from fedwireless.scenario.errors import format_value, shorten
from fedwireless.scenario.schema import (
    AnnulusPlacement,
    DiscPlacement,
    ExplicitPlacement,
    Scenario,
    ZonePlacement,
)


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
        return shorten(str(exc))
    if not len(data.texts):
        return f"no examples in {format_value(str(path))}"
    return None


def cross_checks(sc: Scenario) -> list[str]:
    """Every rule that spans sections, in the order the YAML reads: placement, stations, training, data, method,
    local model, policy and output. One message per problem."""
    return [
        *_placement_rules(sc),
        *_station_rules(sc),
        *_training_rules(sc),
        *_data_rules(sc),
        *_method_rules(sc),
        *_model_and_policy_rules(sc),
        *_output_rules(sc),
    ]


def _output_rules(sc: Scenario) -> list[str]:
    out = sc.output
    # A rate away from its default (a resolved scenario.yaml carries the default, and must validate again).
    default = type(out).model_fields["device_rows_rate"].default
    if out.device_rows_rate != default and out.device_rows != "sampled":
        return [f"output.device_rows_rate: applies only with device_rows: sampled, got device_rows: {out.device_rows}"]
    return []


def _placement_rules(sc: Scenario) -> list[str]:
    """Zones that exist, one explicit position per device, and regions within the path-loss models' range."""
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
    return problems


def _station_rules(sc: Scenario) -> list[str]:
    """Carrier frequencies within each path-loss model's validity, and parameters only where a model takes them."""
    from channels.pathloss import MODELS as PATHLOSS_MODELS

    problems: list[str] = []
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
    return problems


def _training_rules(sc: Scenario) -> list[str]:
    problems: list[str] = []
    if sc.task.model.source == "tlm" and sc.federated.training != "full":
        problems.append(
            "federated.training: a TLM is trained from scratch (no pre-trained base for LoRA), so it needs 'full', "
            f"got {sc.federated.training!r}"
        )
    ranks = sc.federated.module_ranks
    rank = sc.policy.params.get("rank")
    if sc.policy.name in ("uniform", "fixed") and isinstance(rank, int) and rank not in ranks:
        problems.append(f"policy.params.rank: must be one of the scenario's ranks {list(ranks)}, got {rank}")
    return problems


def _data_rules(sc: Scenario) -> list[str]:
    """Data files that exist and parse, enough rows for every device, adapter targets the model has."""
    problems: list[str] = []
    ds = sc.task.dataset
    for key in ("path", "test_path", "public_path"):
        value = getattr(ds, key)
        if value is not None:
            try:
                ok = Path(value).is_file() and Path(value).stat().st_size > 0
            except OSError:
                ok = False
            if not ok:
                problems.append(f"task.dataset.{key}: no readable, non-empty file at {format_value(value)}")
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
        from fedwireless.learning.registry import LLAMA_MODULES

        bad = [m for m in fed.target_modules if m not in LLAMA_MODULES]
        if bad:
            problems.append(f"federated.target_modules: unknown module(s) {bad}; known: {sorted(LLAMA_MODULES)}")
    return problems


def _method_rules(sc: Scenario) -> list[str]:
    """What each federated method needs from the task, the devices and the optimizer."""
    problems: list[str] = []
    fed = sc.federated
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
    if fed.mode != "sync" and sc.surrogate is None and (fed.training, fed.aggregation) != ("lora", "fedavg"):
        what = {"semi-sync": "mixes late updates into", "async": "applies each arriving update to",
                "hierarchical": "keeps a model per base station beside"}[fed.mode]  # fmt: skip
        problems.append(
            f"federated.mode: {fed.mode} {what} the global adapters, which needs training: lora "
            f"with aggregation: fedavg (or the surrogate), got training {fed.training!r} with aggregation "
            f"{fed.aggregation!r}"
        )
    own = METHOD_RULES.get(fed.training)  # the method's own rules, beside its registry entry
    return problems + (own(sc.task, fed) if own else [])


def _model_and_policy_rules(sc: Scenario) -> list[str]:
    problems: list[str] = []
    m = sc.task.model
    if m.source == "local" and m.path is not None:
        try:
            ok = (Path(m.path) / "config.json").is_file()
        except OSError:
            ok = False
        if not ok:
            problems.append(f"task.model.path: no save_pretrained directory (config.json) at {format_value(m.path)}")
    from optimizers import validate_policy_params

    try:
        validate_policy_params(sc.policy.name, sc.policy.params)
    except ValueError as exc:
        where = "policy.name" if "unknown policy" in str(exc) else "policy.params"
        problems.append(f"{where}: {exc}")
    return problems
