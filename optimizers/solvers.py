"""Convex pieces of the per-round allocation, vectorized over devices.

Energy-minimal bandwidth split (REFERENCE.md, Link and energy; Yang et al., IEEE TWC 2021): each
selected device k sends S_k bits within its upload window τ_k. Sending over bandwidth b for the whole
window needs power p_k(b) = (N0·b/g_k)(2^{S_k/(τ_k b)} − 1), so the energy is
E_k(b) = c_k·b·(e^{a_k/b} − 1) with a_k = ln2·S_k/τ_k and c_k = N0·τ_k/g_k: convex and decreasing
in b. Minimising Σ E_k s.t. Σ b_k ≤ B gives, by KKT, b_k(λ) = a_k / (1 + W₀((λ/c_k − 1)/e)), with
λ ≥ 0 found by bisection so Σ b_k(λ) = B; p ≤ p_max is a lower bound b_k ≥ b_min,k.
"""

from __future__ import annotations

import numpy as np
from scipy.special import lambertw

import channels

LN2 = float(np.log(2.0))


def tx_power_for_window_w(bits, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz) -> np.ndarray:
    """Power that sends `bits` over `bandwidth_hz` in exactly `window_s`: (N0·b/g)(2^{S/(τ b)} − 1)."""
    b = np.asarray(bandwidth_hz, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = noise_psd_w_per_hz * b / gain_lin * np.expm1(LN2 * bits / (window_s * b))
    return np.where(b > 0, p, np.inf)


def _bandwidth_at(lam: float, a: np.ndarray, c: np.ndarray, b_min: np.ndarray) -> np.ndarray:
    z = (lam / c - 1.0) / np.e
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.real(lambertw(np.maximum(z, -1.0 / np.e)))
        b = a / (1.0 + w)
    # At the branch point (λ → 0) W0 → −1 and b → ∞: an unconstrained device would take everything.
    b = np.where(np.isfinite(b) & (1.0 + w > 0), b, np.inf)
    return np.maximum(b, b_min)


def _min_bandwidths_if_feasible(bits, window_s, gain_lin, noise_psd_w_per_hz, p_max_w, total_bandwidth_hz):
    """Each device's minimum bandwidth at p_max, or None when the cell cannot carry them all in time."""
    if len(bits) == 0:
        return np.zeros(0)
    if np.any(window_s <= 0):
        return None
    b_min = channels.min_bandwidth_hz(bits, window_s, p_max_w, gain_lin, noise_psd_w_per_hz)
    if not np.all(np.isfinite(b_min)) or b_min.sum() > total_bandwidth_hz * (1 + 1e-9):
        return None
    return b_min


def energy_min_bandwidth(
    bits: np.ndarray,
    window_s: np.ndarray,
    gain_lin: np.ndarray,
    noise_psd_w_per_hz: np.ndarray,
    p_max_w: np.ndarray,
    total_bandwidth_hz: float,
    *,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Split `total_bandwidth_hz` among devices of one cell to minimise transmit energy.

    Returns (bandwidth_hz [n], power_w [n], feasible). Infeasible when some window is ≤ 0 or the
    minimum bandwidths at p_max already exceed the pool; then the caller must drop or downgrade.
    """
    b_min = _min_bandwidths_if_feasible(bits, window_s, gain_lin, noise_psd_w_per_hz, p_max_w, total_bandwidth_hz)
    if b_min is None or len(bits) == 0:
        return np.zeros(len(bits)), np.zeros(len(bits)), b_min is not None
    a = LN2 * bits / window_s
    c = noise_psd_w_per_hz * window_s / gain_lin
    # λ = −dE/db at the optimum; b(λ) decreases in λ. λ = c gives b = a (W0(0) = 0); bracket from there.
    lo, hi = 0.0, float(np.max(c)) + 1.0
    while _bandwidth_at(hi, a, c, b_min).sum() > total_bandwidth_hz:
        hi *= 4.0
        if hi > 1e300:
            break
    if _bandwidth_at(lo, a, c, b_min).sum() <= total_bandwidth_hz:
        b = _bandwidth_at(lo, a, c, b_min)  # only if λ=0 fits (b→∞ at λ=0, so practically never)
    else:
        # Bisection in log space: λ spans many orders of magnitude across channels.
        lo = float(np.min(c)) * 1e-30
        for _ in range(max_iter):
            mid = np.sqrt(lo * hi)
            if _bandwidth_at(mid, a, c, b_min).sum() > total_bandwidth_hz:
                lo = mid
            else:
                hi = mid
            if hi / lo - 1.0 < tol:
                break
        b = _bandwidth_at(hi, a, c, b_min)
    # Hand out what rounding left over in proportion (only lowers energy; keeps Σ b ≤ B).
    b = b * min(1.0, total_bandwidth_hz / b.sum()) if b.sum() > total_bandwidth_hz else b
    p = np.minimum(tx_power_for_window_w(bits, window_s, b, gain_lin, noise_psd_w_per_hz), p_max_w)
    return b, p, True


def energy_min_bandwidth_cvxpy(
    bits: np.ndarray,
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
    p = np.minimum(tx_power_for_window_w(bits, window_s, bw, gain_lin, noise_psd_w_per_hz), p_max_w)
    return bw, p, True


def min_power_for_deadline_w(bits, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz, p_max_w) -> np.ndarray:
    """Per-device power control given bandwidth: the least-energy power that meets the window.

    Transmit energy p·S/r(p) with r(p) = b·log2(1 + p·g/(N0·b)) increases with p (p/log(1 + αp) is
    increasing), so the optimum is the smallest power that meets the deadline, clipped to p_max;
    inf where even p_max is too slow.
    """
    p = tx_power_for_window_w(bits, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz)
    return np.where((window_s > 0) & (p <= p_max_w * (1 + 1e-12)), np.minimum(p, p_max_w), np.inf)


def min_completion_time_s(
    bits: np.ndarray,
    gain_lin: np.ndarray,
    noise_psd_w_per_hz: np.ndarray,
    power_w: np.ndarray,
    total_bandwidth_hz: float,
    *,
    tol_s: float = 1e-9,
) -> tuple[float, np.ndarray]:
    """Smallest common upload time T with Σ b_min,k(T) ≤ B (bisection on T); returns (T, bandwidths)."""
    if len(bits) == 0:
        return 0.0, np.zeros(0)

    def need(t: float) -> float:
        return float(np.sum(channels.min_bandwidth_hz(bits, t, power_w, gain_lin, noise_psd_w_per_hz)))

    lo, hi = 0.0, 1e-3
    while need(hi) > total_bandwidth_hz:
        lo, hi = hi, hi * 2.0
        if hi > 1e9:
            return np.inf, np.full(len(bits), np.inf)
    while hi - lo > tol_s * max(hi, 1.0):
        mid = 0.5 * (lo + hi)
        if need(mid) > total_bandwidth_hz:
            lo = mid
        else:
            hi = mid
    return hi, channels.min_bandwidth_hz(bits, hi, power_w, gain_lin, noise_psd_w_per_hz)
