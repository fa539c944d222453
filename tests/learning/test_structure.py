"""The learning layer's shape: one training loop, no cellular <-> learning cycle, small files, a method seam."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "fedwireless"
MAX_LINES = 300  # per file in learning/


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_cellular_does_not_import_learning():
    for f in (PKG / "cellular").glob("*.py"):
        assert not any(m.startswith("fedwireless.learning") for m in _imports(f)), f.name


def test_one_training_loop():
    # Every backward pass of the package runs inside learning/training.py's run_steps.
    callers = [f.relative_to(PKG) for f in PKG.rglob("*.py") if ".backward(" in f.read_text(encoding="utf-8")]
    assert callers == [Path("learning/training.py")]


def test_learning_files_stay_small():
    for f in (PKG / "learning").rglob("*.py"):
        assert len(f.read_text(encoding="utf-8").splitlines()) <= MAX_LINES, f.name


def test_methods_registry_names_every_method_and_refuses_unknown():
    from fedwireless.learning.federated_config import FederatedConfig
    from fedwireless.learning.methods import METHODS, make_method
    from fedwireless.learning.methods.lora_aggregators import AGGREGATORS, make_aggregator

    assert set(METHODS) == set(FederatedConfig.model_fields["training"].annotation.__args__)
    assert set(AGGREGATORS) == set(FederatedConfig.model_fields["aggregation"].annotation.__args__)
    with pytest.raises(ValueError, match="known: lora, full, distill, pwff"):
        make_method("fedsomething", None, None)
    with pytest.raises(ValueError, match="known: fedavg"):
        make_aggregator("fedprox")
