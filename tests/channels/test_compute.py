"""Compute time and energy: the formulas by hand, and every bad argument refused by name."""

from __future__ import annotations

import math

import numpy as np
import pytest

import channels
from channels import compute as c

GOOD = {
    "compute_time_s_cycles": {"cycles_per_sample": 2e4, "num_samples": 50, "cpu_hz": 1e9},
    "compute_energy_j_cycles": {"kappa": 1e-28, "cycles_per_sample": 2e4, "num_samples": 50, "cpu_hz": 1e9},
    "compute_time_s_flops": {"flops": 3e9, "flops_per_s": 2e10},
    "compute_energy_j_flops": {"flops": 3e9, "kappa": 1e-28, "cpu_hz": 1e9, "flops_per_cycle": 8.0},
}
EXPECTED = {  # Yang et al. 2021 eq. 4-5 and the FLOPs model, with plain arithmetic
    "compute_time_s_cycles": 2e4 * 50 / 1e9,
    "compute_energy_j_cycles": 1e-28 * 2e4 * 50 * 1e9**2,
    "compute_time_s_flops": 3e9 / 2e10,
    "compute_energy_j_flops": 1e-28 * (3e9 / 8.0) * 1e9**2,
}
# Arguments that may be 0 (counts); the rest must be > 0.
MAY_BE_ZERO = {"cycles_per_sample", "num_samples", "flops"}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_formulas_by_hand(name):
    assert float(getattr(c, name)(**GOOD[name])) == pytest.approx(EXPECTED[name], rel=1e-12)


def test_energy_per_flop_and_the_missing_model():
    assert float(c.compute_energy_j_flops(3e9, j_per_flop=5e-11)) == pytest.approx(0.15, rel=1e-12)
    with pytest.raises(ValueError, match="give j_per_flop, or all of kappa, cpu_hz and flops_per_cycle"):
        c.compute_energy_j_flops(3e9, kappa=1e-28, cpu_hz=1e9)


@pytest.mark.parametrize("name, arg", [(n, a) for n in sorted(GOOD) for a in GOOD[n]] + [
    ("compute_energy_j_flops", "j_per_flop")])  # fmt: skip
@pytest.mark.parametrize("bad", [-1.0, 0.0, math.nan])
def test_a_bad_argument_is_refused_by_name(name, arg, bad):
    kwargs = dict(GOOD[name])
    if arg == "j_per_flop":
        kwargs = {"flops": 3e9, "j_per_flop": 5e-11}
    kwargs[arg] = bad
    fn = getattr(c, name)
    if bad == 0.0 and arg in MAY_BE_ZERO:
        assert float(fn(**kwargs)) == 0.0
        return
    rule = ">= 0" if arg in MAY_BE_ZERO else "> 0"
    with pytest.raises(ValueError, match=f"^{arg}: must be {rule}, got "):
        fn(**kwargs)


def test_the_planners_cycles_model_by_hand():
    """C = 3e9 cycles at f = 1.5 GHz, κ = 2e-28: C/f = 2 s, κ·C·f² = 1.35 J, κ·f³ = 0.675 W, and power × time is
    the energy (the run bills κ·f³ over C/f, the planner κ·C·f²)."""
    cycles, kappa, f = 3e9, 2e-28, 1.5e9
    t = float(channels.cycles_time_s(cycles, cpu_hz=f))
    e = float(channels.cycles_energy_j(cycles, kappa=kappa, cpu_hz=f))
    p = float(channels.cpu_power_w(kappa=kappa, cpu_hz=f))
    assert t == pytest.approx(2.0, rel=1e-15)
    assert e == pytest.approx(1.35, rel=1e-12)
    assert p == pytest.approx(0.675, rel=1e-12)
    assert p * t == pytest.approx(e, rel=1e-12)
    # Vectorized: one frequency per device.
    np.testing.assert_allclose(channels.cpu_power_w(kappa=[1e-28, 1e-28], cpu_hz=[1e9, 2e9]), [0.1, 0.8], rtol=1e-12)
