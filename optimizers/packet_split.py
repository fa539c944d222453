"""The bandwidth split that prices packet errors: at fixed powers, more bandwidth lowers the SNR and raises each
device's packet error probability (Chen et al., IEEE TWC 2021), so the energy-minimal split of
`optimizers.split` is no longer the best one; here each cell's pool is shared by a bandwidth price over a grid of
bandwidths per device.
"""

from __future__ import annotations

import numpy as np

import channels
from optimizers.solvers import in_chunks, upload_cost


def packet_error_split(
    cell,
    pools_hz,
    *,
    bandwidth_hz,
    power_w,
    bits,
    window_s,
    gain_lin,
    noise_psd_w_per_hz,
    circuit_w,
    price,
    value,
    waterfall_m: float,
    fill_s=0.0,
    max_bits=np.inf,
    grid: int = 64,
    iters: int = 60,
) -> np.ndarray:
    """Per cell, bandwidths minimising Σ_k upload_cost_k(b_k) at the given powers, Σ_k b_k ≤ the cell's pool.

    The energy-minimal split ignores that more bandwidth at the same power lowers the SNR p·g/(N0·b) and so
    raises the packet error probability q_k (Chen et al. 2021): here each device's cost is its priced
    energy minus its value times 1 − q_k(b) (`upload_cost`, inf where the upload misses its window). The pool
    is shared by a bandwidth price λ ≥ 0: each device takes argmin_b cost_k(b) + λ·b over a log grid from
    10⁻⁴ of its pool to the pool (its current bandwidth and its exact least bandwidth in time included), the
    best point refined by a parabola through it and its neighbours; λ is searched (`_PriceSearch.search`) for the
    least price whose choices fit the pool, and the cell keeps the refined or the grid's choice, whichever costs
    less.
    A cell whose devices cannot all fit even at their least feasible bandwidth keeps `bandwidth_hz`.
    """
    cell = np.asarray(cell, dtype=int)
    now = np.asarray(bandwidth_hz, dtype=float)
    order = np.argsort(cell, kind="stable")  # each cell's devices together, in device order
    inputs = (power_w, bits, window_s, gain_lin, noise_psd_w_per_hz, circuit_w, price, value, fill_s, max_bits)
    inputs = [np.broadcast_to(np.asarray(x, dtype=float), now.shape)[order] for x in inputs]
    pool = np.asarray(pools_hz, dtype=float)[cell[order]]
    cost, b_grid, f_grid = candidate_grid(pool, now[order], inputs, waterfall_m, grid)
    out = now.copy()
    found = _priced_choices(f_grid, b_grid, cell[order], pool, iters)
    if found is not None:
        smooth, on_grid, search = found
        # Interpolation can miss on a kinked cost: keep, per cell, the better of it and the grid's choice.
        keep_smooth = search.sums(cost(smooth)) <= search.sums(cost(on_grid))
        rows = search.live[search.rows_of]
        out[order[rows]] = np.where(keep_smooth[search.rows_of], smooth, on_grid)[rows]
    return out


def candidate_grid(pool: np.ndarray, now: np.ndarray, per_device_inputs, waterfall_m: float, grid: int):
    """(cost(b, rows), bandwidths [n, grid + 2], their costs): each device's log grid from 10⁻⁴ of its pool to
    the pool, with its current bandwidth and its exact least bandwidth in time."""
    per_device = [np.broadcast_to(np.asarray(x, dtype=float), now.shape) for x in per_device_inputs]
    grows = bool(np.any(per_device[8] != 0))

    def cost(b, rows=slice(None)):
        p, s, w, g, n, c, pr, v, f, top = (x[rows, None] if b.ndim == 2 else x[rows] for x in per_device)
        return upload_cost(p, bits=s, window_s=w, bandwidth_hz=b, gain_lin=g, noise_psd_w_per_hz=n, circuit_w=c,
                           price=pr, value=v, waterfall_m=waterfall_m, fill_s=f if grows else 0.0,
                           max_bits=top)  # fmt: skip

    steps = np.geomspace(1e-4, 1.0, grid)
    p, s, w, g, n = per_device[:5]
    with np.errstate(invalid="ignore", divide="ignore"):  # the exact feasibility edge: the least band in time
        edge = channels.min_bandwidth_hz(s, time_s=np.maximum(w, 0.0), power_w=p, gain_lin=g, noise_psd_w_per_hz=n)
    edge = np.where(np.isfinite(edge) & (edge > 0), edge * (1 + 1e-9), pool)
    b_grid = np.concatenate([np.multiply.outer(pool, steps), now[:, None], edge[:, None]], axis=1)
    b_grid.sort(axis=1)
    f_grid = in_chunks(cost, b_grid)
    f_grid[np.isnan(f_grid)] = np.inf  # a NaN cost must never win an argmin
    return cost, b_grid, f_grid


def _priced_choices(f, b, cell, pool, iters: int):
    """For rows grouped by cell, the bandwidths at the least price λ whose choices fit each cell's pool:
    (interpolated where that fits, else on the grid; on the grid; the search, whose `live` says which cells were
    priced), or None where no cell is: a cell is left out where even the least feasible bandwidths overflow it (or a
    device has none).

    Every cell searches its own λ (same steps as one cell alone), all cells in lockstep. The grid choice j(λ) =
    argmin_j f_j + λ·b_j only moves down as λ grows, so a device whose choices at both ends of its cell's bracket
    agree keeps that choice inside it: only the others are searched again."""
    if len(f) == 0:
        return None
    search = _PriceSearch(f, b, cell, pool)
    if not search.live.any():
        return None
    grid_choice, smooth_choice = search.search(False, iters), search.search(True, iters)
    fits = (search.sums(smooth_choice) <= search.fits)[search.rows_of]
    return np.where(fits, smooth_choice, grid_choice), grid_choice, search


class _PriceSearch:
    """The lockstep price search of `_priced_choices` over cells whose rows are grouped together."""

    def __init__(self, f, b, cell, pool) -> None:
        self.f, self.b = f, b  # [n, grid] costs (inf where not allowed) and bandwidths, sorted by bandwidth
        finite = np.isfinite(f)
        starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        self.spans = [slice(s, e) for s, e in zip(starts, np.r_[starts[1:], len(cell)])]
        self.starts = starts
        self.fits = pool[starts] * (1 + 1e-9)
        least = np.where(finite.any(axis=1), b[np.arange(len(b)), np.argmax(finite, axis=1)], np.inf)
        spans = self.spans
        self.live = np.array(
            [bool(np.all(finite[sp].any(axis=1))) and least[sp].sum() <= self.fits[i] for i, sp in enumerate(spans)]
        )
        self.rows_of = np.repeat(np.arange(len(spans)), [sp.stop - sp.start for sp in spans])
        self.all_rows = np.arange(len(f))
        ptp = np.array([np.ptp(f[sp][finite[sp]]) if self.live[i] else 0.0 for i, sp in enumerate(spans)])
        self.first_hi = (ptp + 1e-300) / (pool[starts] * 1e-4)
        self.visited: list[tuple[np.ndarray, np.ndarray]] = []  # the grid search's (prices, choices), in turn
        self._rows: dict[str, np.ndarray] = {}

    def argmin_rows(self, lam_rows: np.ndarray, which: np.ndarray) -> np.ndarray:
        if "which" not in self._rows or not np.array_equal(self._rows["which"], which):
            # The searched rows rarely change between steps: gather them once.
            every = len(which) == len(self.f)
            self._rows.update(which=which, f=self.f if every else self.f[which], b=self.b if every else self.b[which])
        return np.argmin(self._rows["f"] + lam_rows[which, None] * self._rows["b"], axis=1)

    def sums(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.starts)  # per cell, in order, as one cell alone would sum

    def search(self, smooth: bool, iters: int) -> np.ndarray:
        """The choices (interpolated where `smooth`, else on the grid) at the least price that fits each cell.

        While some device's grid choice differs at the bracket's two ends, the next price is the median of those
        devices' switching prices (`median_switch`): Σb(λ) jumps only there, so the grid's answer takes about
        log₂(jumps) steps and is final once no choice can move inside the bracket. Between jumps the interpolated
        choices move smoothly with λ: there the price comes from the Illinois variant of regula falsi on
        Σb(λ) − pool, to a relative bracket of 1e-10 or a sum within 1e-12 of the pool. The interpolated search
        first narrows its bracket with the prices the grid search visited (`_narrow`)."""
        f, b, rows_of, all_rows, fits = self.f, self.b, self.rows_of, self.all_rows, self.fits

        def choice(j, lam_rows, around=None):
            if not smooth:
                return b[all_rows, j]
            return _vertex(around if around is not None else _stencil(f, b, j), lam_rows)

        zero = np.zeros(len(f))
        j_lo = self.argmin_rows(zero, all_rows)
        at_zero = choice(j_lo, zero)
        over_lo = self.sums(at_zero) - fits
        settled = (over_lo <= 0) | ~self.live  # a left-out cell never fits: it must not hold the loops
        done = settled.copy()
        if done.all():
            return at_zero
        lo, hi = np.zeros(len(self.spans)), self.first_hi.copy()
        j_hi = self.argmin_rows(hi[rows_of], all_rows)
        for _ in range(400):  # at a high price each device takes its least band, which fits
            over_hi = self.sums(choice(j_hi, hi[rows_of])) - fits
            over = ~done & (over_hi > 0)
            if not over.any():
                break
            lo, hi, over_lo = np.where(over, hi, lo), np.where(over, 4.0 * hi, hi), np.where(over, over_hi, over_lo)
            j_lo = np.where(over[rows_of], j_hi, j_lo)
            j_hi = np.where(over[rows_of], self.argmin_rows(hi[rows_of], all_rows), j_hi)
        if smooth:  # the grid search's prices, their interpolated sums known cheaply, narrow the bracket
            lo, hi, j_lo, j_hi, over_lo, over_hi = self._narrow(lo, hi, j_lo, j_hi, over_lo, over_hi, done)
        around_hi = _stencil(f, b, j_hi) if smooth else None
        side = np.zeros(len(self.spans))  # Illinois: which end moved last (+1 low, −1 high)
        for _ in range(iters):
            # Rows of cells already settled need no search: their answer is the choice at λ = 0.
            moving = np.flatnonzero((j_lo != j_hi) & ~done[rows_of])
            mid = self.median_switch(moving, j_lo, j_hi, lo, hi)
            jumps = np.isfinite(mid)
            if not smooth:
                done |= ~jumps  # no device's grid choice moves inside the bracket: the answer is fixed
            else:
                done |= ~jumps & ((hi - lo <= 1e-10 * hi) | (over_hi > -1e-12 * fits))
                with np.errstate(invalid="ignore", divide="ignore"):
                    falsi = lo + (hi - lo) * over_lo / (over_lo - over_hi)
                falsi = np.where(np.isfinite(falsi) & (falsi > lo) & (falsi < hi), falsi, 0.5 * (lo + hi))
                mid = np.where(jumps, mid, falsi)
            if done.all():
                break
            mid_rows = mid[rows_of]
            j_mid = j_hi.copy()
            j_mid[moving] = self.argmin_rows(mid_rows, moving)
            if not smooth:
                self.visited.append((mid, j_mid))
            changed = len(moving) and np.any(j_mid[moving] != j_hi[moving])
            around_mid = _stencil(f, b, j_mid) if smooth and changed else around_hi
            over_mid = self.sums(choice(j_mid, mid_rows, around_mid)) - fits
            up, down = ~done & (over_mid > 0), ~done & ~(over_mid > 0)
            lo, hi = np.where(up, mid, lo), np.where(down, mid, hi)
            j_lo, j_hi = np.where(up[rows_of], j_mid, j_lo), np.where(down[rows_of], j_mid, j_hi)
            # Illinois: an end kept twice in a row has its excess halved, so the bracket closes from both sides.
            halve = ~jumps & (side == np.where(up, 1, -1))
            over_hi = np.where(down, over_mid, np.where(up & halve, 0.5 * over_hi, over_hi))
            over_lo = np.where(up, over_mid, np.where(down & halve, 0.5 * over_lo, over_lo))
            side = np.where(up, 1, np.where(down, -1, side))
            if smooth and changed:
                around_hi = tuple(np.where(down[rows_of], m, h) for h, m in zip(around_hi, around_mid))
        return np.where(settled[rows_of], at_zero, choice(j_hi, hi[rows_of], around_hi))

    def _narrow(self, lo, hi, j_lo, j_hi, over_lo, over_hi, done):
        """The interpolated search's bracket narrowed by the prices the grid search visited: at each, the grid
        choices are known, so the interpolated sum costs one vertex per device."""
        rows_of, fits = self.rows_of, self.fits
        for lam, j in reversed(self.visited):  # the last prices lie nearest the answer
            inside = ~done & (lam > lo) & (lam < hi)
            if not inside.any():
                continue
            over = self.sums(_vertex(_stencil(self.f, self.b, j), lam[rows_of])) - fits
            up, down = inside & (over > 0), inside & ~(over > 0)
            lo, over_lo, j_lo = np.where(up, lam, lo), np.where(up, over, over_lo), np.where(up[rows_of], j, j_lo)
            hi, over_hi, j_hi = np.where(down, lam, hi), np.where(down, over, over_hi), np.where(down[rows_of], j, j_hi)
        return lo, hi, j_lo, j_hi, over_lo, over_hi

    def median_switch(self, moving: np.ndarray, j_lo: np.ndarray, j_hi: np.ndarray, lo, hi) -> np.ndarray:
        """[cells] the median, over a cell's devices whose grid choice differs at its bracket's ends, of the price
        at which the two choices cost the same (f_hi − f_lo)/(b_lo − b_hi), a price where the cell's sum of grid
        choices jumps; NaN where none lies strictly inside the bracket. A search that takes it halves the jumps
        left in the bracket, so the grid's answer takes about log₂(jumps) steps."""
        out = np.full(len(self.spans), np.nan)
        if not len(moving):
            return out
        f, b, cells = self.f, self.b, self.rows_of[moving]
        with np.errstate(invalid="ignore", divide="ignore"):
            j1, j0 = j_hi[moving], j_lo[moving]
            lam = (f[moving, j1] - f[moving, j0]) / (b[moving, j0] - b[moving, j1])
        inside = (lam > lo[cells]) & (lam < hi[cells])
        lam, cells = lam[inside], cells[inside]
        order = np.lexsort((lam, cells))
        counts = np.bincount(cells, minlength=len(out))
        has = counts > 0
        out[has] = lam[order][(np.cumsum(counts) - counts)[has] + counts[has] // 2]
        return out


def parabola_vertex(f: np.ndarray, b: np.ndarray, j: np.ndarray, lam) -> np.ndarray:
    """Per row, the bandwidth at the vertex of the parabola (in x = log b) through f + λ·b at the grid's point j
    and its neighbours; the grid point itself at an edge or where the parabola is not defined."""
    return _vertex(_stencil(f, b, j), lam)


def _stencil(f: np.ndarray, b: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row, the grid's point j and its neighbours: (f, b, x = log b at j − 1, j, j + 1; whether j is inside)."""
    rows = np.arange(len(f))
    jl, jr = np.maximum(j - 1, 0), np.minimum(j + 1, b.shape[1] - 1)
    bands = tuple(b[rows, i] for i in (jl, j, jr))
    return (*(f[rows, i] for i in (jl, j, jr)), *bands, *(np.log(x) for x in bands), (jl < j) & (j < jr))


def _vertex(stencil: tuple[np.ndarray, ...], lam) -> np.ndarray:
    fl, f0, fr, bl, b0, br, xl, x0, xr, inside = stencil
    gl, g0, gr = fl + lam * bl, f0 + lam * b0, fr + lam * br
    with np.errstate(invalid="ignore", divide="ignore"):
        num = (x0 - xl) ** 2 * (g0 - gr) - (x0 - xr) ** 2 * (g0 - gl)
        den = (x0 - xl) * (g0 - gr) - (x0 - xr) * (g0 - gl)
        vertex = np.clip(x0 - 0.5 * num / den, xl, xr)
    ok = inside & np.isfinite(gl) & np.isfinite(gr) & np.isfinite(vertex)
    return np.exp(np.where(ok, vertex, x0))
