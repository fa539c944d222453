"""The shape of the code, checked from its source: seams declared rather than probed, no import circle, short
files and functions, and each piece of physics and each file name defined once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("channels", "optimizers", "fedwireless")


def _sources() -> dict[str, Path]:
    """Module name -> file, for every project module."""
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Project modules `module` imports anywhere in its file (top level or inside functions)."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_pkg else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` depends on pkg.mod; `from pkg import name` on pkg itself.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def test_no_import_circle_among_project_modules():
    """A depth-first walk of the import graph (imports inside functions included) finds no cycle."""
    sources = _sources()
    graph = {m: _imports(m, p, set(sources)) for m, p in sources.items()}
    # A package's own __init__ is reached by any import of its submodules; edges into a package that only
    # re-exports lazily (no imports of its own) cannot close a circle.
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" -> ".join([*trail[trail.index(n) :], n]))
            elif n not in state:
                visit(n, [*trail, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_walk_sees_a_circle_where_there_is_one(tmp_path):
    """Negative control: the import walker resolves relative and nested imports, so a real circle shows."""
    (tmp_path / "a.py").write_text("def f():\n    from pkg import b\n")
    (tmp_path / "b.py").write_text("from . import a\n")
    known = {"pkg", "pkg.a", "pkg.b"}
    assert _imports("pkg.a", tmp_path / "a.py", known) == {"pkg.b"}
    assert _imports("pkg.b", tmp_path / "b.py", known) == {"pkg.a"}
    (tmp_path / "c.py").write_text("from pkg import VERSION\nimport pkg.a.x\n")
    assert _imports("pkg.c", tmp_path / "c.py", known) == {"pkg", "pkg.a"}


LOOP_FILES = sorted((ROOT / "fedwireless" / "sim").glob("*.py"))


@pytest.mark.parametrize("path", LOOP_FILES, ids=lambda p: p.name)
def test_the_simulation_loop_calls_declared_seams_only(path):
    """No getattr/hasattr in the loop: learners, methods and policies are used through their protocols."""
    calls = [
        n.func.id
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("getattr", "hasattr")
    ]
    if path.name == "__init__.py":  # the lazy re-export of the package's own names
        calls = calls[1:] if calls == ["getattr"] else calls
    assert calls == []


def test_learner_and_method_hooks_are_not_probed():
    """The learner reads every method hook through `FederatedMethod`, which declares each with its default."""
    from fedwireless.learning.methods.base import FederatedMethod

    learner_src = "\n".join((ROOT / "fedwireless" / "learning" / f).read_text() for f in ("learner.py", "sizes.py"))
    assert not re.search(r"(getattr|hasattr)\(self\.method", learner_src)
    for hook in ("expected_payload_bits", "payload_growth", "payload_params", "needs_row_index", "attention_window"):
        assert hasattr(FederatedMethod, hook), hook


def test_real_learner_and_surrogate_implement_the_learner_protocol():
    """Every call of `fedwireless.contracts.Learner` exists on both learners with the protocol's parameters."""
    import inspect

    from fedwireless.contracts import Learner
    from fedwireless.learning.learner import Learner as RealLearner
    from fedwireless.surrogate import SurrogateLearner

    calls = [n for n, v in vars(Learner).items() if callable(v) and not n.startswith("_")]
    assert len(calls) == 17
    for cls in (RealLearner, SurrogateLearner):
        for name in calls:
            got = list(inspect.signature(getattr(cls, name)).parameters)
            assert got == list(inspect.signature(getattr(Learner, name)).parameters), (cls.__name__, name)


def test_every_policy_declares_what_the_loop_reads():
    import numpy as np

    import optimizers

    for name in optimizers.POLICIES:
        params = {"rank": 4, "power_w": 0.1, "bandwidth_hz": 1e6} if name == "fixed" else {}
        for extra in ({}, {"energy_cap_j": 1.0}):
            policy = optimizers.make_policy(name, {**params, **extra}, np.random.default_rng(0))
            assert isinstance(policy.uses_rank_residual, bool)
            assert policy.energy_queue is None or isinstance(policy.energy_queue, optimizers.EnergyQueue)
    assert optimizers.make_policy("lyapunov", {}, np.random.default_rng(0)).energy_queue is not None


def test_files_and_functions_stay_short():
    """No module over 400 lines and no function over 80 in the three packages."""
    too_long = []
    for module, path in _sources().items():
        src = path.read_text()
        if len(src.splitlines()) > 400:
            too_long.append(f"{module}: {len(src.splitlines())} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                too_long.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_long == []


def _grep(pattern: str, where: tuple[str, ...] = PACKAGES) -> list[str]:
    hits = []
    for pkg in where:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            for i, line in enumerate(f.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(pattern, code):
                    hits.append(f"{f.relative_to(ROOT)}:{i}")
    return hits


@pytest.mark.parametrize(
    ("what", "pattern", "home"),
    [
        ("airtime", r"def airtime_s\b|\bbits\w*\s*/\s*(rate\w*|channels\.shannon_rate_bps)\b", ["channels/link.py"]),
        ("ln 2", r"^LN2 = ", ["channels/link.py"]),
        ("packet success", r"np\.exp\(-\(?\s*(state\.)?waterfall_m", ["channels/link.py"]),
        ("compute energy κ·C·f²", r"kappa[^=\n]*\*[^=\n]*\*\*\s*2\b", ["channels/compute.py"]),
        ("compute power κ·f³", r"(cpu_hz|\bf)\s*\*\*\s*3\b", ["channels/compute.py"]),
        ("energy queue", r"np\.maximum\(\s*(q|queue\w*)\s*\+", ["optimizers/queue.py"]),
        ("upload window", r"deadline_s\s*-\s*(self\.)?downlink", ["optimizers/types.py"]),
        ("file names", r"[\"']((rounds|devices|timing|index)\.csv|summary\.json|error\.txt)[\"']", []),
    ],
)
def test_defined_once(what, pattern, home):
    """Each formula and each results file name has one home; everything else calls it."""
    hits = [h.split(":")[0] for h in _grep(pattern)]
    if what == "file names":
        hits = [h for h in hits if h != "fedwireless/outputs/layout.py"]
    assert sorted(set(hits)) == home, (what, hits)
