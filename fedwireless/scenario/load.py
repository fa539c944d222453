"""Loading a scenario: YAML through the guarded reader, overrides, validation, the resolved mapping, and the
JSON Schema. This package must stay light: `validate` and `schema` import it and must not pull torch or peft."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fedwireless import yamlio
from fedwireless.scenario import schema as schema_module
from fedwireless.scenario.errors import ScenarioError, format_error, shorten
from fedwireless.scenario.overrides import apply_overrides
from fedwireless.scenario.rules import cross_checks
from fedwireless.scenario.schema import Scenario


def validate(data: Any, source: str = "scenario") -> Scenario:
    """Validate a scenario mapping; raise ScenarioError listing every problem with its YAML path."""
    if not isinstance(data, Mapping):
        raise ScenarioError([f"(top level): must be a mapping of sections, got {type(data).__name__}"], source)
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError([format_error(e, data) for e in exc.errors()], source) from None
    problems = cross_checks(sc)
    if problems:
        raise ScenarioError(problems, source)
    return sc


def load_scenario_dict(path: str | Path) -> dict[str, Any]:
    """Read a scenario YAML file into a plain mapping (no validation yet), through the guarded reader."""
    p = Path(path)
    try:
        data = yamlio.load_file(p)
    except yamlio.YamlError as exc:
        raise ScenarioError([str(exc)], shorten(str(p))) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"(top level): must be a mapping of sections, got {type(data).__name__}"], str(p))
    data.setdefault("name", re.sub(r"[^A-Za-z0-9._-]", "_", p.stem)[:100] or "scenario")
    return data


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
    import fedwireless.learning.federated_config as federated_config
    from fedwireless.config_base import Section
    from fedwireless.schema_docs import document

    schema = Scenario.model_json_schema()
    schema["title"] = "fedwireless scenario"
    classes = {
        name: obj
        for module in (schema_module, learning_config, federated_config)
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, Section)
    }
    return document(schema, classes)
