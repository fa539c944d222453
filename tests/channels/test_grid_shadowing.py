"""The grid shadowing field used above EXACT_MAX_POINTS: exponential correlation within a named tolerance."""

import numpy as np
import pytest

import channels
from channels.shadowing import EXACT_MAX_POINTS, grid_shadowing_db

D_CORR_M = 50.0
DRAWS = 300
# Interpolation between grid nodes raises short-range correlation slightly: measured up to +0.042 at 10 m
# (d_corr/5), +0.015 at d_corr, with ~0.01 sampling noise at these draws.
GRID_CORR_ABS_TOL = 0.05
VAR_REL_TOL = 0.05


def test_grid_field_correlation_follows_the_exponential():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 400, (200, 2))
    lags = [10.0, 25.0, 50.0, 100.0]
    pts = np.concatenate([base] + [base + np.array([lag, 0.0]) for lag in lags])
    draws = np.stack([grid_shadowing_db(pts, D_CORR_M, rng) for _ in range(DRAWS)])
    n = len(base)
    assert draws.var() == pytest.approx(1.0, rel=VAR_REL_TOL)
    for j, lag in enumerate(lags, start=1):
        corr = float(np.mean(draws[:, :n] * draws[:, j * n : (j + 1) * n]))
        assert corr == pytest.approx(np.exp(-lag / D_CORR_M), abs=GRID_CORR_ABS_TOL), lag


def test_many_points_take_the_grid_path_with_the_right_sigma():
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, 2000, (EXACT_MAX_POINTS + 500, 2))
    sigma = np.where(np.arange(len(pos)) % 2 == 0, 4.0, 8.0)
    draws = np.stack([channels.correlated_shadowing_db(pos, sigma, D_CORR_M, rng) for _ in range(40)])
    # Points are spread far apart relative to d_corr, so per-point spreads estimate sigma.
    assert draws[:, ::2].std() == pytest.approx(4.0, rel=VAR_REL_TOL)
    assert draws[:, 1::2].std() == pytest.approx(8.0, rel=VAR_REL_TOL)
