"""Results files stay the same through refactors: four built-in scenarios, 2 rounds each, against files kept
from the code before the change (tests/data/reference_runs/).

Regenerate only when a change is meant to alter results, and say so in the commit:
    .venv/bin/python -m tests.engine.test_reference_runs --write

Bytes are compared where this machine is the kind the references were written on (torch's CPU capability, the
CPU model, numpy and torch versions: the same capability on another CPU model already moved last bits of numpy
results); elsewhere floats may differ in their last bits, so numbers are compared to a relative 1e-6 and
everything else exactly.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "data" / "reference_runs"
TABLES = ("rounds.csv", "devices.csv")
# Keys of summary.json that describe the process, not the results.
VOLATILE = {"wall_time_s", "setup_s", "base_cache", "git_commit", "fedwireless_version", "run_dir", "plots"}
# Real-training cases pre-train briefly and evaluate 100 texts: equality, not learning, is under test.
SMALL = ["--set", "task.pretrain.steps=50", "--set", "task.eval.max_samples=100"]
CASES = {
    "quickstart": ["scenarios/quickstart.yaml", *SMALL],
    "switching-surrogate": ["scenarios/switching.yaml", "--set", "surrogate.noise_std=0.01"],
    "distill": ["scenarios/distill.yaml", *SMALL, "--set", "task.dataset.num_test=100"],
    "pwff": [
        "scenarios/pwff.yaml",
        *SMALL,
        "--set",
        "federated.pwff.reward_steps=30",
        "--set",
        "task.dataset.num_public=600",
    ],
}


def _cpu_capability() -> str:
    """The machine kind the results' last bits depend on, one line."""
    import platform

    import numpy
    import torch

    fields: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for ln in cpuinfo.read_text().splitlines():
            key, _, value = ln.partition(":")
            fields.setdefault(key.strip(), value.strip())
    # Virtual machines may show a bare vendor name ("AMD EPYC"); family and model number tell generations apart.
    model = fields.get("model name") or platform.processor()
    kind = f"family {fields['cpu family']} model {fields['model']}" if "cpu family" in fields else ""
    return (
        f"{torch.backends.cpu.get_cpu_capability()} | {model} {kind} | numpy {numpy.__version__}"
        f" | torch {torch.__version__}"
    )


def _run(name: str, out: Path, cache: Path) -> None:
    env = dict(os.environ, FEDWIRELESS_CACHE=str(cache))
    cmd = [sys.executable, "-m", "fedwireless.cli", "run", *CASES[name], "--rounds", "2", "--seed", "3",
           "--out", str(out), "--quiet", "--no-plots"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"


def _summary(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in VOLATILE}


def _close(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12)


def _same_table(got: Path, want: Path, exact: bool) -> None:
    if exact:
        assert got.read_bytes() == want.read_bytes(), f"{got.name} differs from the reference"
        return
    g, w = got.read_text().splitlines(), want.read_text().splitlines()
    assert len(g) == len(w) and g[0] == w[0], f"{got.name}: other rows or columns than the reference"
    for i, (rg, rw) in enumerate(zip(g[1:], w[1:], strict=True), start=2):
        cg, cw = rg.split(","), rw.split(",")
        assert len(cg) == len(cw) and all(map(_close, cg, cw)), f"{got.name} line {i}: {rg!r} != {rw!r}"


@pytest.mark.parametrize("name", list(CASES))
def test_results_files_equal_the_reference(name, tmp_path):
    ref = REFERENCE / name
    _run(name, tmp_path / name, tmp_path / "cache")
    exact = (REFERENCE / "cpu_capability.txt").read_text().strip() == _cpu_capability()
    for table in TABLES:
        _same_table(tmp_path / name / table, ref / table, exact)
    got, want = _summary(tmp_path / name / "summary.json"), _summary(ref / "summary.json")
    assert got.keys() == want.keys()
    for key in want:
        same = got[key] == want[key] if exact else _close(str(got[key]), str(want[key]))
        assert same, key


def write_references() -> None:
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            out = Path(tmp) / name
            _run(name, out, Path(tmp) / "cache")
            dest = REFERENCE / name
            dest.mkdir(parents=True, exist_ok=True)
            for table in TABLES:
                shutil.copyfile(out / table, dest / table)
            (dest / "summary.json").write_text(json.dumps(_summary(out / "summary.json"), indent=2) + "\n")
            print(f"wrote {dest}")
    (REFERENCE / "cpu_capability.txt").write_text(_cpu_capability() + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.engine.test_reference_runs --write")
    write_references()
