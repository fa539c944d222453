"""Per-device searches of the round's allocation, vectorized over devices: the power that fills an upload
window, the power that trades energy against packet errors (`best_power_w`), the CPU frequency that trades
compute against transmit energy (`best_cpu_hz`, Yang et al., IEEE TWC 2021), and the least completion time.
The bandwidth split across a cell is `optimizers.split`.
"""

from __future__ import annotations

import numpy as np

import channels
from channels.link import LN2


def tx_power_for_window_w(bits, *, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz) -> np.ndarray:
    """Power that sends `bits` over `bandwidth_hz` in exactly `window_s`: (N0·b/g)(2^{S/(τ b)} − 1)."""
    b = np.asarray(bandwidth_hz, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = noise_psd_w_per_hz * b / gain_lin * np.expm1(LN2 * bits / (window_s * b))
    return np.where(b > 0, p, np.inf)


def w0_shifted(y: np.ndarray) -> np.ndarray:
    """W₀((y − 1)/e) for real y ≥ 0 (−1 at y ≤ 0): the principal branch by three Halley steps from the
    branch-point series (y < 0.3) or Winitzki's approximation. It agrees with scipy's complex `lambertw` to 1e-13
    in 1 + W where 1 + W > 0.1 (nearer the branch point both lose digits to the rounding of (y − 1)/e) and takes
    a third of its time; the bandwidth split calls it dozens of times per decision."""
    z = (y - 1.0) / np.e
    with np.errstate(all="ignore"):
        p = np.sqrt(2.0 * np.maximum(y, 0.0))
        l1 = np.log1p(np.maximum(z, 0.0))
        near_zero = z * (1.0 - z * (1.0 - z * (1.5 - z * 8.0 / 3.0)))  # W₀'s Taylor series at 0, for −0.26 < z < 0
        w = np.where(y < 0.3, p * (1.0 - p / 3.0 + (11.0 / 72.0) * p * p) - 1.0,
                     np.where(y < 1.0, near_zero, l1 * (1.0 - np.log1p(l1) / (2.0 + l1))))  # fmt: skip
        for _ in range(2):
            ew = np.exp(w)
            f = w * ew - z
            w = w - f / (ew * (w + 1.0) - (w + 2.0) * f / (2.0 * w + 2.0))
    return np.where(y > 0, w, -1.0)


# Elements per temporary array in the searches' wide evaluations. Larger temporaries come from fresh pages on
# every call (the allocator returns them to the system when freed), which cost more than the extra calls.
CHUNK_ELEMENTS = 8192


def in_chunks(cost, x: np.ndarray) -> np.ndarray:
    """cost(x) for an [n, g] array of candidates, a few columns at a time (elementwise, so bit for bit the same)."""
    width = max(1, CHUNK_ELEMENTS // max(len(x), 1))
    if width >= x.shape[1]:
        return cost(x)
    return np.concatenate([cost(x[:, j : j + width]) for j in range(0, x.shape[1], width)], axis=1)


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
    costs = _no_nan(in_chunks(cost, np.exp(xs)))
    j = np.argmin(costs, axis=1)
    rows = np.arange(n)
    best_x, best_c = xs[rows, j], costs[rows, j]
    a = xs[rows, np.maximum(j - 1, 0)]
    b = xs[rows, np.minimum(j + 1, grid - 1)]
    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = b - inv_phi * (b - a), a + inv_phi * (b - a)
    f1, f2 = _no_nan(cost(np.exp(x1)[:, None])[:, 0]), _no_nan(cost(np.exp(x2)[:, None])[:, 0])
    for _ in range(iters):
        left = f1 <= f2  # the minimum lies in [a, x2]: x1 becomes the upper inner point, else x2 the lower one
        a, b = np.where(left, a, x1), np.where(left, x2, b)
        kept_x, kept_f = np.where(left, x1, x2), np.where(left, f1, f2)
        step = inv_phi * (b - a)
        fresh_x = np.where(left, b - step, a + step)
        fresh_f = _no_nan(cost(np.exp(fresh_x)[:, None])[:, 0])
        x1, f1 = np.where(left, fresh_x, kept_x), np.where(left, fresh_f, kept_f)
        x2, f2 = np.where(left, kept_x, fresh_x), np.where(left, kept_f, fresh_f)
    for x, f in ((x1, f1), (x2, f2)):
        better = f < best_c
        best_x, best_c = np.where(better, x, best_x), np.where(better, f, best_c)
    return np.where(lhi > llo, np.exp(best_x), lo)


def upload_cost(
    power_w,
    *,
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
        air = channels.airtime_s(bits, rate)
        fits = np.isfinite(air) & (air <= window_s * (1 + 1e-9))
        if not (np.isscalar(fill_s) and fill_s == 0):  # a payload that grows with its airtime
            air = channels.airtime_s(bits, rate, fill_s=fill_s, max_bits=max_bits)
        energy = (power_w + circuit_w) * air
        success = channels.packet_success_prob(snr, waterfall_m=waterfall_m) if waterfall_m is not None else 1.0
        cost = price * energy - value * success
    return np.where(fits, cost, np.inf)


def best_power_w(
    bits,
    *,
    window_s,
    bandwidth_hz,
    gain_lin,
    noise_psd_w_per_hz,
    p_max_w,
    circuit_w,
    price,
    value,
    waterfall_m: float | None,
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
    grows = bool(np.any(fill_s != 0))
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
            bits=bits[:, None],
            window_s=safe_w[:, None],
            bandwidth_hz=safe_b[:, None],
            gain_lin=safe_g[:, None],
            noise_psd_w_per_hz=noise[:, None],
            circuit_w=circuit_w[:, None],
            price=price[:, None],
            value=value[:, None],
            waterfall_m=waterfall_m,
            fill_s=fill_s[:, None] if grows else 0.0,
            max_bits=max_bits[:, None],
        )

    p = minimize_log_scalar(cost, lo, hi, grid=grid, iters=iters)
    c = cost(p[:, None])[:, 0]
    return np.where(ok, p, 0.0), np.where(ok, c, np.inf)


def circuit_optimal_power_w(*, bandwidth_hz, gain_lin, noise_psd_w_per_hz, circuit_w) -> np.ndarray:
    """The power minimising (p + P_c)·airtime of a fixed payload: p* = (e^{1 + W₀((α·P_c − 1)/e)} − 1)/α.

    With α = g/(N0·b) the energy is ∝ (p + P_c)/ln(1 + αp), whose derivative changes sign once, where
    (1 + αp)·(ln(1 + αp) − 1) = α·P_c − 1: u = 1 + αp solves u·(ln u − 1) = α·P_c − 1, so ln u − 1 = W₀((α·P_c − 1)/e).
    The energy is quasi-convex in p, so clipping p* to an interval gives the interval's minimiser. 0 at P_c = 0.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alpha = np.asarray(gain_lin, dtype=float) / (np.asarray(noise_psd_w_per_hz, dtype=float) * bandwidth_hz)
        return np.expm1(1.0 + w0_shifted(alpha * circuit_w)) / alpha


def best_cpu_hz(
    cycles,
    *,
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
        rate_max = channels.shannon_rate_bps(safe_b, power_w=p_max_w, gain_lin=safe_g, noise_psd_w_per_hz=n0)
        t_air_min = channels.airtime_s(bits, rate_max)
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


def min_power_for_deadline_w(bits, *, window_s, bandwidth_hz, gain_lin, noise_psd_w_per_hz, p_max_w) -> np.ndarray:
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
    *,
    gain_lin: np.ndarray,
    noise_psd_w_per_hz: np.ndarray,
    power_w: np.ndarray,
    total_bandwidth_hz: float,
    tol_s: float = 1e-9,
) -> tuple[float, np.ndarray]:
    """Smallest common upload time T with Σ b_min,k(T) ≤ B (bisection on T); returns (T, bandwidths)."""
    if len(bits) == 0:
        return 0.0, np.zeros(0)

    def need(t: float) -> float:
        return float(
            np.sum(
                channels.min_bandwidth_hz(
                    bits, time_s=t, power_w=power_w, gain_lin=gain_lin, noise_psd_w_per_hz=noise_psd_w_per_hz
                )
            )
        )

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
    return hi, channels.min_bandwidth_hz(
        bits, time_s=hi, power_w=power_w, gain_lin=gain_lin, noise_psd_w_per_hz=noise_psd_w_per_hz
    )
