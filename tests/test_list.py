"""`fedwireless list` shows every registered policy, codec, method and model with its parameters."""

from __future__ import annotations

import subprocess
import sys

from fedwireless.cli import main


def test_list_policies_shows_every_policy_with_its_parameters(capsys):
    from optimizers.params import POLICY_PARAMS

    assert main(["list", "policies"]) == 0
    out = capsys.readouterr().out
    for name, params in POLICY_PARAMS.items():
        assert f"  {name}: " in out
        for key in params:
            assert f"      {key} (default " in out
    assert "V (default 10.0)" in out or "V (default 1.0)" in out  # defaults come from the constructors


def test_list_everything_and_codec_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for heading in ("policies:", "codecs:", "methods:", "aggregations:", "pathloss:", "datasets:", "fading:"):
        assert heading in out
    assert "temporal_context (default False" in out and "  distill" in out and "  flexlora" in out


def test_list_into_a_closed_pipe_is_quiet():
    proc = subprocess.run(
        f"{sys.executable} -m fedwireless.cli list | head -1", shell=True, capture_output=True, text=True
    )
    assert proc.stdout.strip() == "policies:" and "Traceback" not in proc.stderr


def test_verbose_logs_setup_steps_and_log_quiet_hides_warnings(tmp_path, capsys):
    from pathlib import Path

    from .conftest import TINY

    scenario = str(Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml")
    sets = [a for k, v in {**TINY, "rounds": 1, "task.model.max_seq_len": 6}.items() for a in ("--set", f"{k}={v}")]
    args = ["run", scenario, "--quiet", "--no-plots", *sets]
    assert main(["-v", *args, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "INFO: reading the sentiment data" in err and "WARNING: " in err  # most texts are cut at 6 tokens
    assert main(["--log-quiet", *args, "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "INFO:" not in err and "WARNING:" not in err
