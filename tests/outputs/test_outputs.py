"""fedwireless never deletes what it did not write: foreign folders, files and links survive every command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fedwireless.cli import main
from fedwireless.outputs.files import RESULTS_MARKER

SCENARIO = {
    "name": "tiny",
    "rounds": 2,
    "devices": [{"count": 3, "placement": {"kind": "disc", "radius_m": 100}}],
    "federated": {"ranks": [4]},
    "surrogate": {},
    "output": {"plots": False},
}


def scenario_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, **changes}), encoding="utf-8")
    return path


def foreign_dir(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    (path / "sub" / "data.bin").write_bytes(b"\x00\x01")
    return path


def intact(path: Path) -> bool:
    return (path / "notes.txt").read_text() == "mine" and (path / "sub" / "data.bin").read_bytes() == b"\x00\x01"


def test_run_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    out = foreign_dir(tmp_path / "mine")
    assert main(["run", str(scenario_file(tmp_path)), "--out", str(out), "--quiet"]) == 2
    assert str(out) in capsys.readouterr().err
    assert intact(out) and not (out / "rounds.csv").exists()
    # --overwrite does not change that: only our own results are ever replaced.
    assert main(["run", str(scenario_file(tmp_path)), "--out", str(out), "--quiet", "--overwrite"]) == 2
    assert intact(out)


def test_run_refuses_files_and_links(tmp_path):
    target = foreign_dir(tmp_path / "target")
    link = tmp_path / "link"
    link.symlink_to(target)
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for out in (link, afile):
        assert main(["run", str(scenario_file(tmp_path)), "--out", str(out), "--quiet", "--overwrite"]) == 2
    assert link.is_symlink() and intact(target) and afile.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "link", "s.yaml", "target"]


def test_a_previous_run_is_replaced_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    sc = str(scenario_file(tmp_path))
    assert main(["run", sc, "--out", str(out), "--quiet"]) == 0
    assert (out / RESULTS_MARKER).is_file()
    first = (out / "rounds.csv").read_bytes()
    assert main(["run", sc, "--out", str(out), "--quiet", "--rounds", "3"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "rounds.csv").read_bytes() == first
    assert main(["run", sc, "--out", str(out), "--quiet", "--rounds", "3", "--overwrite"]) == 0
    assert (out / "rounds.csv").read_bytes() != first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("name", ["../../x", "/abs/dir", "a/b", "..", ".hidden"])
def test_names_used_as_paths_are_plain(tmp_path, name, capsys):
    assert main(["validate", str(scenario_file(tmp_path, name=name))]) == 2
    assert "name: must be a plain folder name" in capsys.readouterr().err


def test_stale_staging_of_dead_processes_is_removed_but_foreign_folders_stay(tmp_path):
    out = tmp_path / "run"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    ours = tmp_path / f".run.partial-{dead}"
    ours.mkdir()
    (ours / RESULTS_MARKER).write_text("{}")
    theirs = tmp_path / f".run.partial-{dead + 1}"
    theirs.mkdir()
    assert main(["run", str(scenario_file(tmp_path)), "--out", str(out), "--quiet"]) == 0
    assert not ours.exists() and theirs.is_dir()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_a_stop_signal_publishes_nothing_and_leaves_no_staging(tmp_path, signum):
    sc = scenario_file(tmp_path, rounds=200000)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A shell's background job inherits SIGINT ignored, and Python then installs no Ctrl-C handler: run the
    # command as from a terminal, with SIGINT at its default.
    proc = subprocess.Popen(
        [sys.executable, "-m", "fedwireless.cli", "run", str(sc), "--out", str(out), "--quiet"],
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".run.partial") for p in tmp_path.iterdir()):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_sweep_refuses_a_foreign_folder_and_reruns_points_of_an_edited_base(tmp_path, capsys):
    scenario_file(tmp_path)
    sweep = tmp_path / "sw.yaml"
    sweep.write_text(yaml.safe_dump({"name": "sw", "base": "s.yaml", "grid": {"seed": [0, 1]}}), encoding="utf-8")
    mine = foreign_dir(tmp_path / "mine")
    assert main(["sweep", str(sweep), "--out", str(mine), "--no-plots"]) == 2
    assert intact(mine)
    out = tmp_path / "sw-out"
    assert main(["sweep", str(sweep), "--out", str(out), "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(sweep), "--out", str(out), "--no-plots"]) == 0
    assert "skipped (already finished) 2" in capsys.readouterr().out
    scenario_file(tmp_path, rounds=3)  # the base changed: its points are new points
    assert main(["sweep", str(sweep), "--out", str(out), "--no-plots"]) == 0
    assert "done 2, skipped (already finished) 0" in capsys.readouterr().out
    import pandas as pd

    index = pd.read_csv(out / "index.csv")
    assert list(index.status) == ["done", "done"]
    for run_dir in index.run_dir:
        assert len(pd.read_csv(out / run_dir / "rounds.csv")) == 4  # round 0 + 3 rounds


def test_index_keeps_every_swept_key_as_its_own_column(tmp_path):
    scenario_file(tmp_path)
    sweep = tmp_path / "sw.yaml"
    grid = {"seed": [0], "policy": [{"name": "uniform"}, {"name": "lyapunov", "params": {"V": 1000.0}}]}
    sweep.write_text(yaml.safe_dump({"name": "sw", "base": "s.yaml", "grid": grid}), encoding="utf-8")
    out = tmp_path / "o"
    assert main(["sweep", str(sweep), "--out", str(out), "--no-plots"]) == 0
    import pandas as pd

    index = pd.read_csv(out / "index.csv")
    assert list(index.columns[:4]) == ["point_id", "policy.name", "policy.params.V", "seed"]
    assert list(index["policy.name"]) == ["uniform", "lyapunov"]
    assert index["policy.params.V"].iloc[1] == 1000.0
    assert "V=1000.0" in index.point_id.iloc[1]


def test_a_killed_sweep_loses_no_finished_point_and_resumes_to_the_same_files(tmp_path, capsys):
    """SIGKILL (no handler runs) in the middle of a sweep: every point that finished keeps its files, the
    half-run one leaves nothing published, and the resumed sweep skips the finished points and ends with
    the bytes of a sweep that was never interrupted."""
    scenario_file(tmp_path, rounds=200, devices=[{"count": 20}])
    body = {"name": "sw", "base": "s.yaml", "grid": {"seed": list(range(5))}}
    (tmp_path / "sw.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    out, whole = tmp_path / "killed", tmp_path / "whole"
    cmd = [sys.executable, "-m", "fedwireless.cli", "sweep", str(tmp_path / "sw.yaml"), "--no-plots"]
    proc = subprocess.Popen([*cmd, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120

    def finished() -> list[Path]:
        return sorted(out.glob("p*/summary.json")) if out.is_dir() else []

    while time.time() < deadline and len(finished()) < 2 and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()
    proc.communicate(timeout=60)
    done = finished()
    assert 2 <= len(done) < 5, "the sweep must be killed part-way (make its points slower)"
    before = {p.parent.name: {f.name: f.read_bytes() for f in p.parent.iterdir()} for p in done}
    capsys.readouterr()
    assert main(["sweep", str(tmp_path / "sw.yaml"), "--no-plots", "--out", str(out)]) == 0
    assert f"skipped (already finished) {len(done)}" in capsys.readouterr().out
    assert main(["sweep", str(tmp_path / "sw.yaml"), "--no-plots", "--out", str(whole)]) == 0
    import pandas as pd

    index = pd.read_csv(out / "index.csv")
    assert list(index.status) == ["done"] * 5
    for name, files in before.items():
        assert {f.name: f.read_bytes() for f in (out / name).iterdir()} == files  # untouched by the resume
    for run_dir in index.run_dir:
        for table in ("rounds.csv", "devices.csv"):
            assert (out / run_dir / table).read_bytes() == (whole / run_dir / table).read_bytes()
    assert not [p for p in out.rglob(".*partial*")]
