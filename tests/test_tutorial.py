"""docs/tutorial.ipynb runs top to bottom (its stand-in checkpoint and data, built in the notebook) and shows
what the run's own tables say."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "text/plain" in out.get("data", {}):
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def test_tutorial_notebook_runs_and_its_numbers_are_the_tables(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    run = tmp_path / "tutorial-work" / "run"
    rounds = pd.read_csv(run / "rounds.csv")
    assert len(rounds) == 5 and (run / "energy_vs_accuracy.png").stat().st_size > 1000
    code = [c for c in nb.cells if c.cell_type == "code"]
    printed = _text(next(c for c in code if "fedwireless.run(" in c.source))
    first, last = rounds["accuracy"].iloc[0], rounds["accuracy"].iloc[-1]
    assert f"accuracy {first:.3f} -> {last:.3f} in 4 rounds" in printed
    assert "['bert.pooler.dense', 'classifier']" in printed  # the head of a masked-LM checkpoint trains
    shown = _text(next(c for c in code if "energy_vs_accuracy = " in c.source))
    drawn = ast.literal_eval(shown.replace("np.float64", ""))
    assert [y for _, y in drawn] == pytest.approx(list(rounds["accuracy"]))
    assert [x for x, _ in drawn] == pytest.approx(list(rounds["energy_j"].cumsum().round(4)))
