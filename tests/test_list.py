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
