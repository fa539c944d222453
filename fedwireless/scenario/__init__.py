"""Scenario files: the schema (`schema`), the rules that span its sections (`rules`), readable errors (`errors`),
command-line overrides (`overrides`) and loading with the JSON Schema (`load`).

Every error names the YAML path, the rule and the value, e.g.
``devices[1].compute.flops_per_s: must be > 0, got -3``.
"""

from fedwireless.scenario.errors import ScenarioError, format_error
from fedwireless.scenario.load import json_schema, load_scenario, load_scenario_dict, scenario_to_dict, validate
from fedwireless.scenario.overrides import apply_overrides, parse_set_options
from fedwireless.scenario.schema import Scenario, SurrogateConfig

__all__ = [
    "Scenario",
    "ScenarioError",
    "SurrogateConfig",
    "apply_overrides",
    "format_error",
    "json_schema",
    "load_scenario",
    "load_scenario_dict",
    "parse_set_options",
    "scenario_to_dict",
    "validate",
]
