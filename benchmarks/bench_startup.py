"""Start-up: `fedwireless --help` and `fedwireless validate` must not import torch or peft.

Side by side in one run (median of 5 fresh processes each): the two CLI paths, `import torch` and
`import peft`; then a check, in a fresh process per command, that after the CLI ran neither torch nor
peft (nor transformers) is in `sys.modules`. Exits 1 if the check fails.

Run: python benchmarks/bench_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5
SCENARIO = str(ROOT / "scenarios" / "quickstart.yaml")
HEAVY = ("torch", "peft", "transformers")

# Runs the CLI in-process like the console script, then reports which heavy modules it imported.
PROBE = (
    "import sys\n"
    "from fedwireless.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def timed(code: str, *args: str) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def heavy_imports(*args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT).stdout
    line = [x for x in out.splitlines() if x.startswith("HEAVY=")]
    return [m for m in line[-1].removeprefix("HEAVY=").split(",") if m] if line else ["(probe failed)"]


def main() -> int:
    cli = "import sys; from fedwireless.cli import main; sys.exit(main(sys.argv[1:]))"
    rows = [
        ("fedwireless --help", timed(cli, "--help")),
        ("fedwireless validate quickstart.yaml", timed(cli, "validate", SCENARIO)),
        ("python -c 'import torch'", timed("import torch")),
        ("python -c 'import peft'", timed("import peft")),
    ]
    torch_s = rows[2][1]
    print(f"median wall time of {REPEATS} fresh processes each")
    print(f"{'command':40s} {'s':>7s} {'/ import torch':>15s}")
    for name, s in rows:
        print(f"{name:40s} {s:7.3f} {s / torch_s:15.2f}")
    ok = True
    for args in (("--help",), ("validate", SCENARIO)):
        found = heavy_imports(*args)
        status = "PASS" if not found else "FAIL"
        ok &= not found
        print(
            f"{status}: fedwireless {' '.join(a if a != SCENARIO else 'quickstart.yaml' for a in args)} imports "
            f"{', '.join(found) or 'none of ' + ', '.join(HEAVY)}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
