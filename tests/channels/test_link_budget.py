"""The link-budget command."""

from __future__ import annotations

from fedwireless.cli import main


def test_table_and_errors(capsys):
    assert main(["link-budget", "--model", "uma", "--fc-ghz", "3.5", "--distances-m", "100", "1000"]) == 0
    out = capsys.readouterr().out
    assert "link budget — uma at 3.5 GHz" in out and "1000" in out
    assert main(["link-budget", "--model", "okumura"]) == 2
    assert "unknown path-loss model 'okumura'" in capsys.readouterr().err
    assert main(["link-budget", "--distances-m", "-5"]) == 2
    assert "d2d_m: must be > 0" in capsys.readouterr().err
