"""The README's commands work as written (with a smaller model and fewer rounds than the real runs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from fedwireless.cli import main
from fedwireless.studies import main as studies_main
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def block_after(marker: str) -> list[str]:
    start = README.index(marker)
    m = re.search(r"```(?:bash)?\n(.*?)```", README[start:], re.S)
    assert m, f"no code block after {marker!r}"
    return [ln for ln in m.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


def shrink(args: list[str]) -> list[str]:
    """Real training gets the tiny model and 2 rounds; surrogate runs keep what the README says."""
    if args[0] != "run" or "surrogate" in " ".join(args):
        return args
    out = [*args, "--rounds", "2"] if "--rounds" not in args else list(args)
    for key, value in TINY.items():
        out += ["--set", f"{key}={value}"]
    return out


def test_readme_examples_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the README's paths are relative to the checkout; outputs go to tmp_path
    lines = block_after("For example (`tests/test_readme.py`")
    assert len(lines) >= 5
    for line in lines:
        args = [re.sub(r"^runs/", f"{tmp_path}/runs/", a) for a in shlex.split(line)]
        if args[0] == ".venv/bin/fedwireless":
            assert main(shrink(args[1:])) == 0, line
        elif args[:3] == [".venv/bin/python", "-m", "fedwireless.studies"]:
            assert studies_main([*args[3:], "--workers", "1"]) == 0, line
        else:
            pytest.fail(f"unexpected command in the README examples: {line}")
    # What the lines wrote is there and holds numbers.
    rounds = pd.read_csv(tmp_path / "runs/try/rounds.csv")
    assert rounds["accuracy"].notna().all() and len(rounds) == 3
    assert len(pd.read_csv(tmp_path / "runs/switching-surrogate/rounds.csv")) == 301
    assert (tmp_path / "runs/try-figures/accuracy.png").is_file()
    assert len(pd.read_csv(tmp_path / "runs/dvfs/yang2021_dvfs.csv")) > 0


def test_readme_pandas_snippet_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [f"{ROOT}/scenarios/quickstart.yaml", "--out", "runs/quickstart", "--quiet", "--no-plots"]
    assert main(shrink(["run", *args])) == 0
    snippet = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    # Every row is counted, the arrived ones included (an empty drop_reason is not lost as NaN).
    assert scope["reasons"].sum() == len(scope["devices"]) and scope["reasons"]["(arrived)"] > 0


def test_readme_error_lines_are_what_validate_prints(tmp_path, capsys):
    shown = [ln for ln in block_after("code 2 without writing anything:") if ln.startswith("error:")]
    assert len(shown) == 2
    (tmp_path / "my.yaml").write_text(
        "devices:\n  - count: 2\n  - count: 3\n    compute: {flops_per_s: -3}\n", encoding="utf-8"
    )
    (tmp_path / "my2.yaml").write_text("policy: {name: lyapunov, params: {V: -1}}\n", encoding="utf-8")
    printed = []
    for name in ("my.yaml", "my2.yaml"):
        assert main(["validate", str(tmp_path / name)]) == 2
        printed.append(capsys.readouterr().err.strip().replace(str(tmp_path / name), "my.yaml"))
    assert printed == shown


def test_readme_names_every_result_column():
    from fedwireless.outputs.columns import (
        AGGREGATION_COLUMNS,
        ASYNC_DEVICE_KINDS,
        ASYNC_ROUND_COLUMNS,
        DEVICE_COLUMNS,
        DROP_REASONS,
        HIERARCHICAL_ROUND_COLUMNS,
        ROUND_COLUMNS,
        SEMI_SYNC_DEVICE_KINDS,
        SEMI_SYNC_ROUND_COLUMNS,
    )

    every = (*ROUND_COLUMNS, *DEVICE_COLUMNS, *SEMI_SYNC_DEVICE_KINDS, *SEMI_SYNC_ROUND_COLUMNS,
             *HIERARCHICAL_ROUND_COLUMNS, *ASYNC_ROUND_COLUMNS, "evaluated", *ASYNC_DEVICE_KINDS,
             *AGGREGATION_COLUMNS)  # fmt: skip
    missing = [c for c in every if f"`{c}`" not in README and c not in ("x_m", "y_m")]
    assert missing == []
    assert all(f"`{r}`" in README for r in DROP_REASONS)


def test_readme_stragglers_lines_run_and_compare_the_modes(tmp_path, monkeypatch):
    """The semi-sync section's two runs (tiny model, 2 rounds): the semi-sync one carries late updates over, the
    sync one drops them at the deadline, from the same first round."""
    monkeypatch.chdir(ROOT)
    lines = block_after("Sync against semi-sync")
    assert len(lines) == 2
    for line in lines:
        args = [re.sub(r"^runs/", f"{tmp_path}/runs/", a) for a in shlex.split(line)]
        assert args[0] == ".venv/bin/fedwireless" and main(shrink([*args[1:], "--quiet", "--no-plots"])) == 0, line
    semi = pd.read_csv(tmp_path / "runs/stragglers/rounds.csv")
    sync = pd.read_csv(tmp_path / "runs/stragglers-sync/rounds.csv")
    assert semi.late.iloc[1] > 0 and semi.dropped.iloc[1] == 0
    assert sync.dropped_deadline.iloc[1] == semi.late.iloc[1] and sync.accuracy.iloc[1] == semi.accuracy.iloc[1]
    assert "late" not in sync.columns


def test_readme_hierarchical_lines_run(tmp_path, monkeypatch):
    """The hierarchical section's run (tiny model, 2 rounds: one edge round, one cloud round with its backhaul) and
    its sweep, loaded as `fedwireless sweep` would (sync and two κ₂, three seeds)."""
    from fedwireless.sweeps import load_sweep

    monkeypatch.chdir(ROOT)
    run, sweep = block_after("label (`by-group` partition), and a slower backhaul")
    args = [re.sub(r"^runs/", f"{tmp_path}/runs/", a) for a in shlex.split(run)]
    assert main(shrink([*args[1:], "--quiet", "--no-plots"])) == 0
    rounds = pd.read_csv(tmp_path / "runs/hierarchical/rounds.csv")
    assert rounds.cloud_aggregation.tolist() == [0, 0, 1] and rounds.edge_aggregations.iloc[1] == 3
    assert rounds.backhaul_s.iloc[2] > 0.020 * 2  # the centre station's 20 ms link, up and down
    assert rounds.loss.iloc[1] == rounds.loss.iloc[0] != rounds.loss.iloc[2]  # the global moves at the cloud only
    events = pd.read_csv(tmp_path / "runs/hierarchical/aggregations.csv")
    assert events.level.tolist() == ["edge"] * 3 * 2 + ["cloud", "broadcast"]  # three stations, two rounds
    assert shlex.split(sweep)[1:3] == ["sweep", "scenarios/sweeps/hierarchy.yaml"]
    assert len(load_sweep(ROOT / shlex.split(sweep)[2]).points) == 9


def test_readme_async_line_runs(tmp_path, monkeypatch):
    """The asynchronous section's run (tiny model, 2 server steps): each step ends at an arrival applied with
    FedAsync, and every dispatch has its row."""
    monkeypatch.chdir(ROOT)
    (line,) = block_after("for 40 simulated seconds (`tests/test_readme.py` runs this line)")
    args = [re.sub(r"^runs/", f"{tmp_path}/runs/", a) for a in shlex.split(line)]
    assert main(shrink([*args[1:], "--quiet", "--no-plots"])) == 0
    rounds = pd.read_csv(tmp_path / "runs/async/rounds.csv")
    assert rounds.version.tolist() == [0, 1, 2] and rounds.applied.tolist() == [0, 1, 1]
    assert rounds.selected.iloc[1] == 8 and rounds.under_way.iloc[1] == 7  # eight at once, one arrived
    devices = pd.read_csv(tmp_path / "runs/async/devices.csv")
    assert len(devices) == rounds.selected.sum() and devices.applied.sum() == 2


def test_readme_python_api_block_runs(tmp_path, monkeypatch):
    # The API block as written, on the tiny model and one round; the policy sweep line is left to `make figures`.
    monkeypatch.chdir(ROOT)
    block = re.search(r"## Python API.*?```python\n(.*?)```", README, re.S).group(1)
    tiny = {**TINY, "rounds": 1, "seed": 1}
    code = block.replace('{"rounds": 5, "seed": 1}', repr(tiny))
    code = code.replace('{"policy.name": "energy-min"}', repr({**TINY, "rounds": 1, "policy.name": "energy-min"}))
    code = code.replace('out="runs/energy-min"', f'out="{tmp_path / "energy-min"}"')
    code = "\n".join(line for line in code.splitlines() if "fedwireless.sweep(" not in line)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["result"].summary["rounds"] == 1 and scope["written"].dir == tmp_path / "energy-min"
