"""Convex pieces of the per-round allocation, vectorized over devices.

Energy-minimal bandwidth split (Yang et al., IEEE TWC 2021): each
selected device k sends S_k bits within its upload window τ_k. Sending over bandwidth b for the whole
window needs power p_k(b) = (N0·b/g_k)(2^{S_k/(τ_k b)} − 1), so the energy is
E_k(b) = c_k·b·(e^{a_k/b} − 1) with a_k = ln2·S_k/τ_k and c_k = N0·τ_k/g_k: convex and decreasing
in b. Minimising Σ E_k s.t. Σ b_k ≤ B gives, by KKT, b_k(λ) = a_k / (1 + W₀((λ/c_k − 1)/e)), with
λ ≥ 0 found by bisection so Σ b_k(λ) = B; p ≤ p_max is a lower bound b_k ≥ b_min,k.
"""

from __future__ import annotations

import numpy as np

import channels
from channels.link import LN2
from optimizers.solvers import tx_power_for_window_w, w0_shifted


def _bandwidth_at(lam, a: np.ndarray, c: np.ndarray, b_min: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each device's KKT bandwidth at price λ and its slope db/d(ln λ) (0 where b_min binds)."""
    y = lam / c
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = w0_shifted(y)
        b = a / (1.0 + w)
        # b = a/(1 + W) with W' = 1/(e^W (1 + W)) and dy/d ln λ = y: db/d ln λ = −b·y/((1 + W)²·e^{1 + W}).
        slope = -b * y / ((1.0 + w) ** 2 * np.exp(1.0 + w))
    # At the branch point (λ → 0) W0 → −1 and b → ∞: an unconstrained device would take everything.
    b = np.where(np.isfinite(b) & (1.0 + w > 0), b, np.inf)
    free = b > b_min
    return np.where(free, b, b_min), np.where(free, slope, 0.0)


def _min_bandwidths_if_feasible(bits, window_s, gain_lin, noise_psd_w_per_hz, p_max_w, total_bandwidth_hz):
    """Each device's minimum bandwidth at p_max, or None when the cell cannot carry them all in time."""
    if len(bits) == 0:
        return np.zeros(0)
    if not np.all(np.isfinite(window_s) & (window_s > 0)) or not np.all(np.isfinite(gain_lin) & (gain_lin > 0)):
        return None
    b_min = channels.min_bandwidth_hz(
        bits, time_s=window_s, power_w=p_max_w, gain_lin=gain_lin, noise_psd_w_per_hz=noise_psd_w_per_hz
    )
    if not np.all(np.isfinite(b_min)) or b_min.sum() > total_bandwidth_hz * (1 + 1e-9):
        return None
    return b_min


def min_bandwidth_or_inf(bits, *, window_s, p_max_w, gain_lin, noise_psd_w_per_hz) -> np.ndarray:
    """channels.min_bandwidth_hz where the inputs allow any upload at all, inf elsewhere (never raises).

    Windows ≤ 0 or non-finite, zero or non-finite gains, and zero power cannot carry a bit.
    """
    bits, window_s, p_max_w, gain_lin, noise = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (bits, window_s, p_max_w, gain_lin, noise_psd_w_per_hz))
    )
    with np.errstate(invalid="ignore"):
        ok = (
            np.isfinite(window_s)
            & (window_s > 0)
            & np.isfinite(gain_lin)
            & (gain_lin > 0)
            & np.isfinite(p_max_w)
            & (p_max_w > 0)
            & np.isfinite(noise)
            & (noise > 0)
            & np.isfinite(bits)
        )
    b, t, p, g, n0 = (np.where(ok, x, 1.0) for x in (bits, window_s, p_max_w, gain_lin, noise))
    need = channels.min_bandwidth_hz(b, time_s=t, power_w=p, gain_lin=g, noise_psd_w_per_hz=n0)
    return np.where(ok, need, np.where(bits == 0, 0.0, np.inf))


def energy_min_split(
    bits: np.ndarray,
    window_s: np.ndarray,
    gain_lin: np.ndarray,
    noise_psd_w_per_hz: np.ndarray,
    p_max_w: np.ndarray,
    cell: np.ndarray,
    cell_bandwidth_hz: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy-minimal bandwidth split in every cell at once (one log-price bisection per cell, vectorized).

    Minimises Σ_k w_k·E_k(b_k) subject to Σ_{k in cell c} b_k ≤ B_c, p_k ≤ p_max,k, each device using
    its whole window (module docstring). Weights w_k ≥ 0 (default 1) price each device's energy: the
    Lyapunov policy passes its queues. Returns (bandwidth_hz [n], power_w [n], cell_feasible [C]);
    devices in infeasible cells get 0 bandwidth and power: the caller downgrades or drops.
    """
    bits = np.asarray(bits, dtype=float)
    n, n_cells = len(bits), len(cell_bandwidth_hz)
    pools = np.asarray(cell_bandwidth_hz, dtype=float)
    b_min = min_bandwidth_or_inf(
        bits, window_s=window_s, p_max_w=p_max_w, gain_lin=gain_lin, noise_psd_w_per_hz=noise_psd_w_per_hz
    )
    cell_ok = _cells_that_fit(b_min, cell, pools)
    b, p = np.zeros(n), np.zeros(n)
    live = cell_ok[cell] & (bits > 0)
    if not np.any(live):
        return b, p, cell_ok
    w = _energy_weights(weights, live)
    idx = np.flatnonzero(live)
    cl = cell[idx]
    a = LN2 * bits[idx] / window_s[idx]
    c = w[idx] * noise_psd_w_per_hz[idx] * window_s[idx] / gain_lin[idx]
    bm = b_min[idx]

    def total(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bb, slope = _bandwidth_at(lam[cl], a, c, bm)
        return bb, np.bincount(cl, weights=bb, minlength=n_cells), np.bincount(cl, weights=slope, minlength=n_cells)

    # λ = −w·dE/db at the optimum; the split shrinks as λ grows. Solve g(x) = ln Σb(e^x) − ln B = 0 in x = ln λ
    # by Newton's method kept inside a bracket (`_newton_root`), from the mean log price at which each device
    # would take an equal share of its pool (λ/c = 1 + W·e^{1 + W} with 1 + W = a/b).
    count = np.bincount(cl, minlength=n_cells)
    r = np.minimum(a / (pools[cl] / count[cl]), 700.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_guess = np.bincount(cl, weights=np.log(c) + np.log1p((r - 1.0) * np.exp(r)), minlength=n_cells) / count
    c_min = np.full(n_cells, np.inf)
    np.minimum.at(c_min, cl, c)
    safe_pools = np.where(pools > 0, pools, 1.0)

    def g(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bb, sums, slopes = total(np.exp(x))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(sums / safe_pools), slopes / sums, bb

    # Far below, W₀ rounds to −1 (b = ∞, g = ∞): the bracket's low end needs no evaluation.
    x_lo = np.log(np.where(np.isfinite(c_min), c_min, 1.0) * 1e-30)
    bb = _newton_root(g, x_lo, np.where(count > 0, x_guess, np.nan), cl, count == 0, bm, tol=tol, max_iter=max_iter)
    sums = np.bincount(cl, weights=bb, minlength=n_cells)
    # Rounding may leave Σ b a hair above the pool: scale down (only lowers energy's slack, keeps Σ b ≤ B).
    scale = np.where(sums > pools, pools / np.where(sums > 0, sums, 1.0), 1.0)
    bb = bb * scale[cl]
    b[idx] = bb
    power = tx_power_for_window_w(
        bits[idx],
        window_s=window_s[idx],
        bandwidth_hz=bb,
        gain_lin=gain_lin[idx],
        noise_psd_w_per_hz=noise_psd_w_per_hz[idx],
    )
    p[idx] = np.minimum(power, p_max_w[idx])
    return b, p, cell_ok


def _cells_that_fit(b_min: np.ndarray, cell: np.ndarray, pools: np.ndarray) -> np.ndarray:
    """[cells] True where every device can upload at p_max and their least bands fit the pool together."""
    need = np.bincount(cell, weights=np.where(np.isfinite(b_min), b_min, 0.0), minlength=len(pools))
    bad = np.bincount(cell, weights=~np.isfinite(b_min), minlength=len(pools)) > 0
    with np.errstate(invalid="ignore"):
        return ~bad & (need <= pools * (1 + 1e-9)) & np.isfinite(pools)


def _energy_weights(weights: np.ndarray | None, live: np.ndarray) -> np.ndarray:
    """Weights ≥ 1e-9 of the largest live one (NaN, inf and negatives count as 0); all 1 without any."""
    n = len(live)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    w_top = float(w[live].max()) if np.any(w[live] > 0) else 0.0
    return np.maximum(w, 1e-9 * w_top) if w_top > 0 else np.ones(n)


def _newton_root(g, x_lo, x_first, cl, done, b_min, *, tol: float, max_iter: int) -> np.ndarray:
    """The devices' bandwidths at each cell's root of g(x) = 0 (g decreasing, > 0 below the root, where the split
    overflows the pool), from the high side: Newton steps from `x_first` aimed at g = −tol/2, where a split fits
    within tol of its pool, each replaced by a step up (while no price that fits is known) or by bisection where
    it leaves the bracket. `g` returns (g, dg/dx, bandwidths); `cl` each device's cell; `done` cells to leave.
    A cell that never reaches a price that fits (its least bands fill the pool to rounding) keeps `b_min`, the
    split at an infinite price."""
    x_hi = np.full(len(x_lo), np.inf)
    x_new, bands = x_first, b_min.copy()
    for _ in range(max_iter):
        inside = np.isfinite(x_new) & (x_new > x_lo) & (x_new < x_hi)
        x_new = np.where(inside, x_new, np.where(np.isfinite(x_hi), 0.5 * (x_lo + x_hi), np.maximum(x_lo, x_new) + 2.0))
        x_new = np.where(np.isfinite(x_new), x_new, x_lo + 2.0)
        g_new, s_new, bb = g(x_new)
        up = ~done & (g_new > 0)  # still over the pool: the new point is the low end
        down = ~done & ~(g_new > 0)
        x_lo, x_hi = np.where(up, x_new, x_lo), np.where(down, x_new, x_hi)
        bands = np.where(down[cl], bb, bands)
        done = done | (down & (g_new > -tol)) | (x_hi - x_lo < tol)
        if np.all(done):
            break
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x_new = x_new - (g_new + 0.5 * tol) / s_new
    return bands


def energy_min_bandwidth(
    bits: np.ndarray,
    *,
    window_s: np.ndarray,
    gain_lin: np.ndarray,
    noise_psd_w_per_hz: np.ndarray,
    p_max_w: np.ndarray,
    total_bandwidth_hz: float,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Split `total_bandwidth_hz` among devices of one cell to minimise transmit energy.

    Returns (bandwidth_hz [n], power_w [n], feasible). Infeasible when some window is ≤ 0 or the
    minimum bandwidths at p_max already exceed the pool; then the caller must drop or downgrade.
    """
    bits = np.asarray(bits, dtype=float)
    if len(bits) == 0:
        return np.zeros(0), np.zeros(0), True
    b, p, ok = energy_min_split(
        bits,
        np.asarray(window_s, dtype=float),
        np.asarray(gain_lin, dtype=float),
        np.asarray(noise_psd_w_per_hz, dtype=float),
        np.asarray(p_max_w, dtype=float),
        np.zeros(len(bits), dtype=int),
        np.array([float(total_bandwidth_hz)]),
        tol=tol,
        max_iter=max_iter,
    )
    return b, p, bool(ok[0])


def energy_min_bandwidth_cvxpy(
    bits: np.ndarray,
    *,
    window_s: np.ndarray,
    gain_lin: np.ndarray,
    noise_psd_w_per_hz: np.ndarray,
    p_max_w: np.ndarray,
    total_bandwidth_hz: float,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The same problem in cvxpy (exponential cone, CLARABEL), energy in mJ and bandwidth in MHz.

    Unscaled (joules and hertz) the solver's tolerances swamp the objective; the scaling fixes it.
    E_k(b) = c_k·b·(exp(a_k/b) − 1) is the perspective of exp, written with cp.exp of a/b through
    the auxiliary t_k ≥ b·exp(a_k/b) ⇔ (a_k, b, t_k) in the exponential cone.
    """
    import cvxpy as cp

    b_min = _min_bandwidths_if_feasible(bits, window_s, gain_lin, noise_psd_w_per_hz, p_max_w, total_bandwidth_hz)
    if b_min is None or len(bits) == 0:
        return np.zeros(len(bits)), np.zeros(len(bits)), b_min is not None
    n = len(bits)
    scale_hz = 1e6
    a = LN2 * bits / window_s / scale_hz
    c_mj = noise_psd_w_per_hz * window_s / gain_lin * scale_hz * 1e3
    b = cp.Variable(n)
    t = cp.Variable(n)
    cons = [cp.sum(b) <= total_bandwidth_hz / scale_hz, b >= b_min / scale_hz]
    # ExpCone(x, y, z): y·exp(x/y) <= z  with x = a, y = b, z = t.
    cons.append(cp.constraints.ExpCone(a, b, t))
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(c_mj, t - b))), cons)
    prob.solve(solver=cp.CLARABEL)
    if b.value is None:
        return np.zeros(n), np.zeros(n), False
    bw = np.maximum(np.asarray(b.value, dtype=float) * scale_hz, b_min)
    bw = bw * min(1.0, total_bandwidth_hz / bw.sum())
    p = np.minimum(
        tx_power_for_window_w(
            bits, window_s=window_s, bandwidth_hz=bw, gain_lin=gain_lin, noise_psd_w_per_hz=noise_psd_w_per_hz
        ),
        p_max_w,
    )
    return bw, p, True
