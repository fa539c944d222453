"""Hostile scenario files and overrides: never a traceback, never a hang, always exit 2 naming the problem.

A table of file-level attacks plus hypothesis-generated bad values at every kind of field and bad
`--set` options: more than 300 cases in all. `validate` must answer each in under 2 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedwireless.cli import main

VALIDATE_LIMIT_S = 2.0
BASE = {
    "name": "hostile",
    "rounds": 2,
    "devices": [{"count": 3, "compute": {"flops_per_s": 1e10}}],
    "federated": {"ranks": [4, 8]},
    "policy": {"name": "lyapunov", "params": {"V": 10.0}},
    "surrogate": {},
}

FILES = {
    "not utf-8": b"name: x\nrounds: \xff\xfe\n",
    "latin-1 text": "name: caf\xe9\n".encode("latin-1"),
    "deep nesting": b"a: " + b"[" * 1500 + b"]" * 1500 + b"\n",
    "deep mapping": b"".join(b"  " * i + b"k:\n" for i in range(300)) + b"  " * 300 + b"v: 1\n",
    "alias bomb": (
        b"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    ),
    "duplicate keys": b"rounds: 2\nrounds: 3\n",
    "empty": b"",
    "only comments": b"# nothing here\n# at all\n",
    "a list": b"- 1\n- 2\n",
    "a scalar": b"42\n",
    "binary": bytes(range(256)) * 4,
    "unclosed": b"devices: [{count: 3\n",
    "tab indent": b"devices:\n\t- count: 3\n",
    "python tag": b"rounds: !!python/object/apply:os.system ['true']\n",
    "huge": b"rounds: 2\n" + b"# " + b"x" * (2 << 20) + b"\n",
    "recursive alias": b"a: &a [*a]\n",
    "nan everywhere": b"rounds: .nan\ndeadline_s: .nan\n",
    "bool rounds": b"rounds: true\n",
}


def _validate(path: Path, *sets: str) -> int:
    t0 = time.perf_counter()
    code = main(["validate", str(path), *(x for s in sets for x in ("--set", s))])
    assert time.perf_counter() - t0 < VALIDATE_LIMIT_S
    return code


@pytest.mark.parametrize("name", sorted(FILES))
def test_hostile_files(tmp_path, name, capsys):
    path = tmp_path / "s.yaml"
    path.write_bytes(FILES[name])
    assert _validate(path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert len(err) < 2000  # messages are cut, never the whole value


def test_unreadable_paths(tmp_path, capsys):
    assert _validate(tmp_path / ("x" * 5000 + ".yaml")) == 2
    assert _validate(tmp_path / "missing.yaml") == 2
    assert _validate(tmp_path) == 2  # a directory
    assert "Traceback" not in capsys.readouterr().err


BAD_SETS = [
    ".foo=1",
    "foo.=1",
    "a..b=1",
    "=1",
    "noequals",
    "devices[999].count=1",
    "devices[0]=5",
    "devices=7",
    "seed=" + "9" * 5000,
    "rounds=1e999",
    "deadline_s=.nan",
    "deadline_s=-.inf",
    "devices[0].count=10000000000",
    "policy=[1, 2]",
    "policy.params=3",
    "rounds=true",
    "rounds={a: 1, a: 2}",
    "name=../../escape",
    "name=/abs/dir",
    "task.model.hidden_size=1.5",
    "federated.ranks=[]",
    "federated.ranks=[-4]",
    "policy.params.V=.nan",
    "policy.name=nope",
    "channel.fading.kind=clarke",
    "base_stations[0].carrier_ghz=0",
    "devices[0].max_power_dbm=.inf",
    "devices[0].placement.radius_m=-1",
]


@pytest.mark.parametrize("item", BAD_SETS, ids=range(len(BAD_SETS)))
def test_hostile_overrides(tmp_path, item, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    assert _validate(path, item) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and len(err) < 2000


FIELDS = [
    "rounds",
    "seed",
    "deadline_s",
    "devices[0].count",
    "devices[0].max_power_dbm",
    "devices[0].energy_budget_j",
    "devices[0].availability",
    "devices[0].height_m",
    "devices[0].circuit_power_w",
    "devices[0].compute.flops_per_s",
    "devices[0].compute.j_per_flop",
    "devices[0].compute.kappa",
    "devices[0].compute.cpu_hz",
    "devices[0].compute.min_cpu_hz",
    "devices[0].placement.radius_m",
    "base_stations[0].carrier_ghz",
    "base_stations[0].bandwidth_mhz",
    "base_stations[0].downlink_power_dbm",
    "base_stations[0].noise_figure_db",
    "base_stations[0].position_m",
    "channel.coherence_step_s",
    "channel.fading.k_factor_db",
    "channel.packet_errors.waterfall_m",
    "task.lr",
    "task.batch_size",
    "task.local_steps",
    "task.model.hidden_size",
    "task.dataset.num_train",
    "federated.ranks",
    "federated.clients_per_round",
    "policy.params.V",
    "surrogate.rate",
    "surrogate.noise_std",
]
BAD_VALUES = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        True,
        False,
        "abc",
        "",
        None,
        [],
        {},
        [1, 2, 3],
        -1,
        0,
        10**400,
        -(10**30),
    ]
)


# The verdict, from the README's rules rather than from `validate`: every number finite, `true`/`false` never a
# number, integers within ±2^53, lists and mappings only where the key takes one, and each key's own bound.
# Of the bad values above, these are the only ones a key takes (everything else must be refused):
ACCEPTED = {
    "seed": [0],  # any integer >= 0
    "devices[0].max_power_dbm": [-1, 0],  # any finite dBm
    "devices[0].energy_budget_j": [None],  # optional; > 0
    "devices[0].availability": [0],  # a probability, [0, 1]
    "devices[0].circuit_power_w": [0],  # >= 0
    "devices[0].compute.j_per_flop": [None],  # optional (kappa + cpu_hz instead); > 0
    "devices[0].compute.min_cpu_hz": [None],  # a number only with kappa + cpu_hz
    "base_stations[0].downlink_power_dbm": [-1, 0],  # any finite dBm
    "base_stations[0].noise_figure_db": [0],  # >= 0
    "channel.fading.k_factor_db": [None, -1, 0],  # optional; any finite dB
    "federated.ranks": [[1, 2, 3]],  # positive ranks
    "federated.clients_per_round": [None],  # optional; >= 1
    "surrogate.noise_std": [0],  # >= 0
}


def _takes(field: str, value) -> bool:
    return any(type(value) is type(v) and value == v for v in ACCEPTED.get(field, []))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=BAD_VALUES, second=st.sampled_from(FIELDS), other=BAD_VALUES)
def test_bad_values_anywhere(tmp_path, capsys, field, value, second, other):
    from fedwireless.scenario import ScenarioError, apply_overrides

    try:
        data = apply_overrides(BASE, {field: value, second: other})
    except ScenarioError:
        return  # refused while applying (e.g. a key inside a number): the CLI prints it
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code = _validate(path)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # The second draw wins when both name the same key.
    accepted = _takes(second, other) if field == second else _takes(field, value) and _takes(second, other)
    assert code == (0 if accepted else 2), (field, value, second, other, err)
    if code == 2:
        assert err.startswith("error:") and len(err) < 4000


def test_validate_checks_what_run_would_meet(tmp_path, capsys):
    """Problems that used to surface only at run time are validate's: `run` never exits 2 after `validate` said ok."""
    (tmp_path / "bad.csv").write_text("text,lab\nhello,1\n", encoding="utf-8")
    (tmp_path / "model").mkdir()
    cases = {
        "policy.params.rank": (
            {"policy": {"name": "uniform", "params": {"rank": 16}}},
            "must be one of the scenario's ranks [4, 8]",
        ),
        "task.dataset.path (missing)": (
            {"task": {"dataset": {"name": "csv", "path": str(tmp_path / "nope.csv")}}},
            "no readable, non-empty file",
        ),
        "task.dataset.path (columns)": (
            {"task": {"dataset": {"name": "csv", "path": str(tmp_path / "bad.csv")}}},
            "missing column(s)",
        ),
        "carrier": ({"base_stations": [{"carrier_ghz": 150.0}]}, "valid for 0.5–100 GHz, got 150"),
        "d0_m": (
            {"base_stations": [{"pathloss": {"model": "log-distance", "params": {"d0_m": 0}}}]},
            "d0_m: must be > 0",
        ),
        "num_train": (
            {"devices": [{"count": 3}], "task": {"dataset": {"num_train": 2}}, "surrogate": None},
            "needs at least one example",
        ),
        "local model": (
            {"task": {"model": {"source": "local", "path": str(tmp_path / "model")}}},
            "no save_pretrained",
        ),
        "target module": (
            {"federated": {"ranks": [4], "target_modules": ["qproj"]}},
            "unknown module(s) ['qproj']",
        ),
    }
    for name, (patch, expected) in cases.items():
        data = {**BASE, **patch}
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        assert _validate(path) == 2, name
        assert expected in capsys.readouterr().err, name


@pytest.mark.parametrize(
    "key, value",
    [("qp", float("inf")), ("qp", float("nan")), ("qp", 10**400), ("qp", True), ("qp", 3.5), ("qp", 65),
     ("unstructured_sparsity", 1.0), ("unstructured_sparsity", float("nan")), ("temporal_context", 1)],
)  # fmt: skip
def test_codec_params_follow_the_same_rules(tmp_path, capsys, key, value):
    """Codec parameters: finite, in range, the right kind; the error names the YAML path and the value."""
    data = {**BASE, "federated": {"ranks": [4, 8], "codec": {"name": "nncodec", "params": {key: value}}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert _validate(path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "federated.codec" in err and f"{key}: must be" in err and len(err) < 2000
    ok = {**BASE, "federated": {"ranks": [4, 8], "codec": {"name": "nncodec", "params": {"qp": -20}}}}
    path.write_text(yaml.safe_dump(ok), encoding="utf-8")
    assert _validate(path) == 0
