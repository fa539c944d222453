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
from scipy.special import lambertw

import channels
from channels.link import LN2


def tx_power_for_window_w(bits, *, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz) -> np.ndarray:
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
    if not np.all(np.isfinite(window_s) & (window_s > 0)) or not np.all(np.isfinite(gain_lin) & (gain_lin > 0)):
        return None
    b_min = channels.min_bandwidth_hz(bits, window_s, p_max_w, gain_lin, noise_psd_w_per_hz)
    if not np.all(np.isfinite(b_min)) or b_min.sum() > total_bandwidth_hz * (1 + 1e-9):
        return None
    return b_min


def min_bandwidth_or_inf(bits, window_s, p_max_w, gain_lin, noise_psd_w_per_hz) -> np.ndarray:
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
    safe = [np.where(ok, x, 1.0) for x in (bits, window_s, p_max_w, gain_lin, noise)]
    need = channels.min_bandwidth_hz(*safe)
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
    b_min = min_bandwidth_or_inf(bits, window_s, p_max_w, gain_lin, noise_psd_w_per_hz)
    need = np.bincount(cell, weights=np.where(np.isfinite(b_min), b_min, 0.0), minlength=n_cells)
    bad = np.bincount(cell, weights=~np.isfinite(b_min), minlength=n_cells) > 0
    with np.errstate(invalid="ignore"):
        cell_ok = ~bad & (need <= pools * (1 + 1e-9)) & np.isfinite(pools)
    b, p = np.zeros(n), np.zeros(n)
    live = cell_ok[cell] & (bits > 0)
    if not np.any(live):
        return b, p, cell_ok
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    w_top = float(w[live].max()) if np.any(w[live] > 0) else 0.0
    w = np.maximum(w, 1e-9 * w_top) if w_top > 0 else np.ones(n)
    idx = np.flatnonzero(live)
    cl = cell[idx]
    a = LN2 * bits[idx] / window_s[idx]
    c = w[idx] * noise_psd_w_per_hz[idx] * window_s[idx] / gain_lin[idx]
    bm = b_min[idx]

    def total(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bb = _bandwidth_at(lam[cl], a, c, bm)
        return bb, np.bincount(cl, weights=bb, minlength=n_cells)

    # λ = −w·dE/db at the optimum; the split shrinks as λ grows. Bracket per cell, then solve
    # g(x) = ln Σb(e^x) − ln B = 0 in x = ln λ by the Illinois variant of regula falsi (bisection
    # while the low end still gives Σb = ∞): a handful of steps instead of ~40 bisections.
    c_max = np.full(n_cells, 1.0)
    np.maximum.at(c_max, cl, c + 1.0)
    c_min = np.full(n_cells, np.inf)
    np.minimum.at(c_min, cl, c)
    hi = c_max.copy()
    for _ in range(200):
        over = total(hi)[1] > pools
        if not np.any(over):
            break
        hi = np.where(over, hi * 4.0, hi)
    safe_pools = np.where(pools > 0, pools, 1.0)

    def g(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(total(np.exp(x))[1] / safe_pools)

    x_hi = np.log(hi)
    # λ = 1e-12·c_min still gives every device a finite (huge) band; below it W₀ rounds to −1 (b = ∞).
    floor = np.where(np.isfinite(c_min), c_min, hi)
    x_lo = np.log(floor * 1e-12)
    g_hi, g_lo = g(x_hi), g(x_lo)
    fallback = ~(g_lo > 0)
    x_lo = np.where(fallback, np.log(floor * 1e-30), x_lo)
    g_lo = np.where(fallback, np.inf, g_lo)
    last = np.zeros(n_cells)
    done = g_hi > -tol
    for _ in range(max_iter):
        if np.all(done):
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            step = x_hi - g_hi * (x_hi - x_lo) / (g_hi - g_lo)
        inside = np.isfinite(g_lo) & (step > x_lo) & (step < x_hi)
        x_new = np.where(inside, step, 0.5 * (x_lo + x_hi))
        g_new = g(x_new)
        up = ~done & (g_new > 0)  # still over the pool: the new point is the low end
        down = ~done & ~(g_new > 0)
        g_hi = np.where(up & (last == 1), 0.5 * g_hi, g_hi)
        g_lo = np.where(down & (last == -1), 0.5 * g_lo, g_lo)
        x_lo, g_lo = np.where(up, x_new, x_lo), np.where(up, g_new, g_lo)
        x_hi, g_hi = np.where(down, x_new, x_hi), np.where(down, g_new, g_hi)
        last = np.where(up, 1, np.where(down, -1, last))
        done |= down & (g_new > -tol)
        done |= x_hi - x_lo < tol
    hi = np.exp(x_hi)
    bb, sums = total(hi)
    # Rounding may leave Σ b a hair above the pool: scale down (only lowers energy's slack, keeps Σ b ≤ B).
    scale = np.where(sums > pools, pools / np.where(sums > 0, sums, 1.0), 1.0)
    bb = bb * scale[cl]
    b[idx] = bb
    p[idx] = np.minimum(
        tx_power_for_window_w(
            bits[idx],
            window_s=window_s[idx],
            bandwidth_hz=bb,
            gain_lin=gain_lin[idx],
            noise_psd_w_per_hz=noise_psd_w_per_hz[idx],
        ),
        p_max_w[idx],
    )
    return b, p, cell_ok


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


def _no_nan(x: np.ndarray) -> np.ndarray:
    x[np.isnan(x)] = np.inf
    return x


def minimize_log_scalar(cost, lo: np.ndarray, hi: np.ndarray, *, grid: int = 12, iters: int = 16) -> np.ndarray:
    """Per row, the x in [lo, hi] (both > 0) that minimises cost(x): log-spaced grid, then golden section.

    `cost` maps an [n, g] array of candidates to [n, g] costs (inf = not allowed). The grid finds the
    best bracket even where the cost is not unimodal; golden section on log x then refines inside it.
    Rows with lo ≥ hi return lo.
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    n = len(lo)
    if n == 0:
        return np.zeros(0)
    llo, lhi = np.log(lo), np.log(np.maximum(hi, lo))
    t = np.linspace(0.0, 1.0, grid)
    xs = llo[:, None] + (lhi - llo)[:, None] * t[None, :]
    costs = _no_nan(cost(np.exp(xs)))
    j = np.argmin(costs, axis=1)
    rows = np.arange(n)
    best_x, best_c = xs[rows, j], costs[rows, j]
    a = xs[rows, np.maximum(j - 1, 0)]
    b = xs[rows, np.minimum(j + 1, grid - 1)]
    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = b - inv_phi * (b - a), a + inv_phi * (b - a)
    f1, f2 = _no_nan(cost(np.exp(x1)[:, None])[:, 0]), _no_nan(cost(np.exp(x2)[:, None])[:, 0])
    for _ in range(iters):
        left = f1 <= f2
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        x2n = np.where(left, x1, a + inv_phi * (b - a))
        x1n = np.where(left, b - inv_phi * (b - a), x2)
        f2n = np.where(left, f1, np.nan)
        f1n = np.where(left, np.nan, f2)
        fresh = _no_nan(cost(np.exp(np.where(left, x1n, x2n))[:, None])[:, 0])
        f1 = np.where(left, fresh, f1n)
        f2 = np.where(left, f2n, fresh)
        x1, x2 = x1n, x2n
    for x, f in ((x1, f1), (x2, f2)):
        better = f < best_c
        best_x, best_c = np.where(better, x, best_x), np.where(better, f, best_c)
    return np.where(lhi > llo, np.exp(best_x), lo)


def upload_cost(
    power_w,
    bits,
    window_s,
    bandwidth_hz,
    gain_lin,
    noise_psd_w_per_hz,
    circuit_w,
    price,
    value,
    waterfall_m: float | None,
    fill_s=0.0,
    max_bits=np.inf,
):
    """price·(p + P_c)·airtime − value·(1 − q(p)); inf where the upload misses its window.

    The per-device objective of the power subproblem: energy priced by the virtual queue against the
    learning value of an update that arrives intact (packet error q of Chen et al. 2021). `bits` must fit
    the window; a payload that fills the window (`fill_s`, `max_bits`: see `channels.airtime_s`) stays on air longer.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        snr = channels.snr_lin(power_w, gain_lin, noise_psd_w_per_hz, bandwidth_hz)
        rate = channels.rate_from_snr_bps(bandwidth_hz, snr)
        air = bits / rate
        fits = np.isfinite(air) & (air <= window_s * (1 + 1e-9))
        air = channels.airtime_s(bits, rate, fill_s=fill_s, max_bits=max_bits)
        energy = (power_w + circuit_w) * air
        success = channels.packet_success_prob(snr, waterfall_m=waterfall_m) if waterfall_m is not None else 1.0
        cost = price * energy - value * success
    return np.where(fits, cost, np.inf)


def best_power_w(
    bits,
    window_s,
    bandwidth_hz,
    gain_lin,
    noise_psd_w_per_hz,
    p_max_w,
    circuit_w,
    price,
    value,
    waterfall_m: float | None,
    *,
    fill_s=0.0,
    max_bits=np.inf,
    grid: int = 12,
    iters: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Per device, the power in [p_fill, p_max] minimising `upload_cost` (1-D, bracketed); returns (power, cost).

    p_fill is the least power that meets the window over the given bandwidth. Raising power above it
    shortens airtime (less circuit energy) and lowers the packet error probability, at more radiated
    energy. inf cost where even p_max misses the window.
    """
    args = [np.asarray(x, dtype=float) for x in (bits, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz)]
    bits, window_s, bandwidth_hz, gain_lin, noise = np.broadcast_arrays(*args)  # scalars stand for every device
    p_max_w, circuit_w, price, value, fill_s, max_bits = (
        np.broadcast_to(np.asarray(x, dtype=float), bits.shape)
        for x in (p_max_w, circuit_w, price, value, fill_s, max_bits)
    )
    with np.errstate(invalid="ignore"):
        ok = (
            (bandwidth_hz > 0)
            & np.isfinite(window_s)
            & (window_s > 0)
            & (gain_lin > 0)
            & np.isfinite(gain_lin)
            & (p_max_w > 0)
        )
    safe_b = np.where(ok, bandwidth_hz, 1.0)
    safe_w = np.where(ok, window_s, 1.0)
    safe_g = np.where(ok, gain_lin, 1.0)
    p_fill = tx_power_for_window_w(
        bits, window_s=safe_w, bandwidth_hz=safe_b, gain_lin=safe_g, noise_psd_w_per_hz=noise
    )
    ok &= np.isfinite(p_fill) & (p_fill <= p_max_w * (1 + 1e-9))
    lo = np.clip(np.where(ok, p_fill * (1 + 1e-9), p_max_w), p_max_w * 1e-12, p_max_w)
    lo = np.where(lo > 0, lo, 1e-30)
    hi = np.where(p_max_w > 0, p_max_w, 1e-30)

    def cost(p):
        return upload_cost(
            p,
            bits[:, None],
            safe_w[:, None],
            safe_b[:, None],
            safe_g[:, None],
            noise[:, None],
            circuit_w[:, None],
            price[:, None],
            value[:, None],
            waterfall_m,
            fill_s[:, None],
            max_bits[:, None],
        )

    p = minimize_log_scalar(cost, lo, hi, grid=grid, iters=iters)
    c = cost(p[:, None])[:, 0]
    return np.where(ok, p, 0.0), np.where(ok, c, np.inf)


def best_cpu_hz(
    cycles,
    kappa,
    f_min,
    f_max,
    time_left_s,
    bits,
    bandwidth_hz,
    gain_lin,
    noise_psd_w_per_hz,
    p_max_w,
    circuit_w,
    margin: float,
    *,
    grid: int = 12,
    iters: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Per device, the CPU frequency minimising compute + upload energy within the round (Yang et al. 2021).

    E(f) = κ·C·f² + (p_fill(τ) + P_c)·τ with τ(f) = (time_left − C/f)·(1 − margin): a slower CPU saves
    compute energy (∝ f²) and leaves less time to send, which costs transmit energy. Returns
    (cpu_hz, energy); inf energy where no frequency in range lets the upload fit at p_max.
    """
    cycles, kappa, f_min, f_max, time_left_s, bits, bw, g, n0, p_max_w, circuit_w = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(x, dtype=float))
            for x in (
                cycles,
                kappa,
                f_min,
                f_max,
                time_left_s,
                bits,
                bandwidth_hz,
                gain_lin,
                noise_psd_w_per_hz,
                p_max_w,
                circuit_w,
            )
        )
    )
    ok = (bw > 0) & (g > 0) & np.isfinite(g) & np.isfinite(time_left_s) & (f_max > 0)
    safe_b, safe_g = np.where(ok, bw, 1.0), np.where(ok, g, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_air_min = bits / channels.shannon_rate_bps(safe_b, power_w=p_max_w, gain_lin=safe_g, noise_psd_w_per_hz=n0)
        f_need = cycles / (time_left_s - t_air_min / (1.0 - margin))
    ok &= np.isfinite(f_need) & (f_need > 0) & (f_need <= f_max * (1 + 1e-12))
    lo = np.where(ok, np.clip(f_need * (1 + 1e-9), f_min, f_max), f_max)
    lo = np.where(lo > 0, lo, 1.0)
    hi = np.where(f_max > 0, f_max, 1.0)

    def energy(f):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            tau = (time_left_s[:, None] - cycles[:, None] / f) * (1.0 - margin)
            p = tx_power_for_window_w(
                bits[:, None],
                window_s=tau,
                bandwidth_hz=safe_b[:, None],
                gain_lin=safe_g[:, None],
                noise_psd_w_per_hz=n0[:, None],
            )
            e = (
                channels.cycles_energy_j(cycles[:, None], kappa=kappa[:, None], cpu_hz=f)
                + (p + circuit_w[:, None]) * tau
            )
        fits = (tau > 0) & (p <= p_max_w[:, None] * (1 + 1e-9))
        return np.where(fits, e, np.inf)

    f = minimize_log_scalar(energy, lo, hi, grid=grid, iters=iters)
    e = energy(f[:, None])[:, 0]
    return np.where(ok, f, f_max), np.where(ok, e, np.inf)


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


def min_power_for_deadline_w(bits, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz, p_max_w) -> np.ndarray:
    """Per-device power control given bandwidth: the least-energy power that meets the window.

    Transmit energy p·S/r(p) with r(p) = b·log2(1 + p·g/(N0·b)) increases with p (p/log(1 + αp) is
    increasing), so the optimum is the smallest power that meets the deadline, clipped to p_max;
    inf where even p_max is too slow.
    """
    p = tx_power_for_window_w(
        bits, window_s=window_s, bandwidth_hz=bandwidth_hz, gain_lin=gain_lin, noise_psd_w_per_hz=noise_psd_w_per_hz
    )
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
