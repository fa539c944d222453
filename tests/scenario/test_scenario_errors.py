"""A table of bad scenarios, each with the error a user sees; plus overrides and the CLI's exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fedwireless.cli import main
from fedwireless.scenario import ScenarioError, apply_overrides, load_scenario, validate

REPO = Path(__file__).resolve().parents[2]

CELL = {"kind": "causal-lm", "dataset": {"name": "cellular"}, "model": {"source": "tlm"}}
BAD = [
    ({"rounds": 0}, "rounds: must be >= 1, got 0"),
    (
        {"task": {"optimizer": {"persistent": True}}, "federated": {"aggregation": "flora"}},
        "task.optimizer.persistent: true does not fit federated.aggregation 'flora'",
    ),
    ({"task": {"optimizer": {"betas": [0.9, 1.2]}}}, "task.optimizer.betas: each beta must be in [0, 1)"),
    ({"task": {"local_epochs": 0}}, "task.local_epochs: must be > 0, got 0"),
    ({"task": CELL, "federated": {"training": "distill"}}, "federated.training: distill needs a public text split"),
    ({"federated": {"distill": {"value_bits": 12}}}, "federated.distill.value_bits: must be one of"),
    ({"task": {"tokenizer": {"kind": "bpe"}}}, "task.tokenizer.kind: must be one of"),
    ({"deadline_s": -1}, "deadline_s: must be > 0, got -1"),
    ({"devices": [{"compute": {"flops_per_s": -3}}]}, "devices[0].compute.flops_per_s: must be > 0, got -3"),
    ({"devices": [{}, {"availability": 1.5}]}, "devices[1].availability: must be <= 1, got 1.5"),
    ({"devices": [{"placement": {"kind": "hexagon"}}]}, "devices[0].placement.kind: must be one of"),
    (
        {"devices": [{"placement": {"kind": "zone", "zone": "mall"}}]},
        "devices[0].placement.zone: unknown zone",
    ),
    (
        {"devices": [{"count": 2, "placement": {"kind": "explicit", "positions_m": [[1, 2]]}}]},
        "devices[0].placement.positions_m: must list one position per device (count=2), got 1",
    ),
    (
        {"devices": [{"placement": {"kind": "annulus", "inner_radius_m": 50, "outer_radius_m": 10}}]},
        "devices[0].placement: inner_radius_m must be < outer_radius_m",
    ),
    (
        {"devices": [{"mobility": {"kind": "random-waypoint", "speed_mps": [3, 1]}}]},
        "devices[0].mobility.speed_mps: must satisfy 0 < min <= max",
    ),
    (
        {"base_stations": [{"pathloss": {"model": "okumura"}}]},
        "base_stations[0].pathloss.model: must be one of",
    ),
    ({"base_stations": []}, "base_stations: must have at least 1 item(s)"),
    ({"channel": {"fading": {"kind": "rician", "typo": 1}}}, "channel.fading.typo: unknown key"),
    ({"chanel": {}}, "chanel: unknown key"),
    ({"policy": {"name": "best"}}, "policy.name: "),
    ({"seed": "abc"}, "seed: "),
    ({"task": CELL}, "federated.training: a TLM is trained from scratch"),
    ({"task": {**CELL, "kind": "classification"}}, "task.kind: cellular rows are a next-token (causal-lm) task"),
    ({"task": {**CELL, "model": {"source": "tiny-llama"}}}, "model.source 'tlm' and the cellular data sets"),
    ({"task": {"partition": {"kind": "by-area"}}}, "partition.kind 'by-area' needs a cellular data set"),
    (
        {"task": {**CELL, "dataset": {"name": "cellular", "features": ["rssi"]}}},
        "task.dataset: features/target: unknown column(s) ['rssi']",
    ),
    ({"task": {**CELL, "dataset": {"name": "cellular", "areas": ["Moon"]}}}, "areas: must name some of"),
    ({"task": {**CELL, "dataset": {"name": "berlin-v2x"}}}, "path is required for the 'berlin-v2x' data set"),
    ({"task": {**CELL, "model": {"source": "tlm", "size": 3}}}, "task.model.size: must be one of 0, 1 or 2, got 3"),
]


@pytest.mark.parametrize(("patch", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_scenario_names_path_rule_and_value(patch, expected):
    with pytest.raises(ScenarioError) as info:
        validate(patch, "bad.yaml")
    text = "\n".join(info.value.messages)
    assert expected in text, text


def test_every_problem_is_reported_at_once():
    with pytest.raises(ScenarioError) as info:
        validate({"rounds": 0, "deadline_s": 0})
    assert len(info.value.messages) == 2


def test_overrides_reach_nested_fields():
    data = {"devices": [{"count": 3}], "policy": {"name": "uniform"}}
    out = apply_overrides(data, {"devices[0].count": 7, "policy.params.rank": 8, "devices.0.height_m": 2.0})
    assert out["devices"][0] == {"count": 7, "height_m": 2.0}
    assert out["policy"]["params"] == {"rank": 8}
    assert data["devices"][0] == {"count": 3}  # the input is not changed


def test_override_of_missing_list_item_is_an_error():
    with pytest.raises(ScenarioError, match="devices.3"):
        apply_overrides({"devices": [{}]}, {"devices[3].count": 2})


def test_validate_command_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"rounds": 2}))
    assert main(["validate", str(good)]) == 0
    assert "ok:" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("rounds: 2\ndevices:\n  - count: 0\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "devices[0].count: must be >= 1, got 0" in err and "Traceback" not in err
    assert main(["validate", str(good), "--set", "deadline_s=-2"]) == 2
    assert "deadline_s: must be > 0, got -2" in capsys.readouterr().err


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    f = tmp_path / "broken.yaml"
    f.write_text("rounds: 2\ndevices: [\n")
    assert main(["validate", str(f)]) == 2
    assert "invalid YAML: line" in capsys.readouterr().err


def test_bad_run_writes_no_results(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    out = tmp_path / "out"
    f.write_text(yaml.safe_dump({"rounds": -1}))
    assert main(["run", str(f), "--out", str(out)]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == [f]


def test_validate_and_help_do_not_import_torch_or_peft():
    code = (
        "import sys; from fedwireless.cli import main; "
        "rc = main(['validate', 'scenarios/quickstart.yaml']); "
        "assert rc == 0, rc; "
        "bad = [m for m in ('torch', 'peft', 'transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    help_code = (
        "import sys; from fedwireless.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", help_code], cwd=REPO, check=True, capture_output=True)


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_builtin_scenarios_validate(path):
    load_scenario(path)


def test_schema_command_prints_json(capsys):
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "devices" in schema["properties"] and "policy" in schema["properties"]


def test_another_policy_starts_from_its_own_parameters():
    from fedwireless.scenario import apply_overrides

    base = {"policy": {"name": "uniform", "params": {"rank": 8}}}
    assert apply_overrides(base, {"policy.name": "lyapunov", "policy.params.V": 20})["policy"] == {
        "name": "lyapunov",
        "params": {"V": 20},
    }
    assert apply_overrides(base, {"policy.name": "greedy"})["policy"] == {"name": "greedy"}
    assert apply_overrides(base, {"policy.name": "uniform"})["policy"] == base["policy"]  # same policy: kept
    assert validate(apply_overrides(base, {"policy.name": "lyapunov", "policy.params.V": 20})).policy.params == {
        "V": 20
    }
