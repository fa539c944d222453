"""The packet-error-aware bandwidth step against a brute-force search on two devices sharing one cell.

Cost of a device at fixed power p over bandwidth b, written out here with plain numpy: price·(p + P_c)·S/r(b)
− value·exp(−m·N0·b/(p·g)), r(b) = b·log2(1 + p·g/(N0·b)), inf where S/r(b) exceeds the window.
"""

from __future__ import annotations

import numpy as np
import pytest

import channels
from optimizers.packet_split import candidate_grid, packet_error_split, parabola_vertex

N0 = 10 ** (-174 / 10) / 1000 * 10 ** (7 / 10)  # W/Hz, noise figure 7 dB
POOL_HZ = 2e6
M = 0.023


def by_hand(b, *, p, g, bits, window, circuit, price, value):
    snr = p * g / (N0 * b)
    rate = b * np.log2(1 + snr)
    air = bits / rate
    cost = price * (p + circuit) * air - value * np.exp(-M / snr)
    return np.where(air <= window, cost, np.inf)


DEVICES = [  # a near device with a small payload, a far one with a larger payload
    {"p": 0.2, "g": 10 ** (-11.5), "bits": 4e5, "window": 1.0, "circuit": 0.05},
    {"p": 0.2, "g": 10 ** (-12.6), "bits": 1.2e6, "window": 1.0, "circuit": 0.05},
]


def brute_force(price, value, points=1500):
    grid = np.geomspace(POOL_HZ * 1e-4, POOL_HZ, points)
    c0 = by_hand(grid, price=price[0], value=value[0], **DEVICES[0])
    c1 = by_hand(grid, price=price[1], value=value[1], **DEVICES[1])
    total = c0[:, None] + c1[None, :]
    total = np.where(grid[:, None] + grid[None, :] <= POOL_HZ, total, np.inf)
    i, j = np.unravel_index(np.argmin(total), total.shape)
    return float(total[i, j]), (grid[i], grid[j])


def ours(price, value, start=(1e6, 1e6)):
    col = {k: np.array([d[k] for d in DEVICES]) for k in DEVICES[0]}
    b = packet_error_split(
        [0, 0], [POOL_HZ], bandwidth_hz=np.array(start), power_w=col["p"], bits=col["bits"],
        window_s=col["window"], gain_lin=col["g"], noise_psd_w_per_hz=N0, circuit_w=col["circuit"],
        price=np.array(price), value=np.array(value), waterfall_m=M,
    )  # fmt: skip
    cost = sum(float(by_hand(b[i], price=price[i], value=value[i], **DEVICES[i])) for i in range(2))
    return cost, b


@pytest.mark.parametrize(
    ("price", "value"),
    [((50.0, 50.0), (1.0, 1.0)),  # energy dear: both want bandwidth, the pool binds
     ((0.0, 0.0), (1.0, 1.0)),  # energy free: both shrink their band to the least that meets the window
     ((5.0, 80.0), (0.2, 3.0))],  # unequal prices and values
)  # fmt: skip
def test_matches_brute_force_on_two_devices(price, value):
    best, _ = brute_force(price, value)
    got, b = ours(price, value)
    assert b.sum() <= POOL_HZ * (1 + 1e-9) and np.all(b > 0)
    assert np.isfinite(got)
    assert got <= best + 1e-4 * max(1.0, abs(best))


def test_more_bandwidth_is_not_always_better():
    """Energy free: packet errors alone decide, so each device takes the least bandwidth that meets its
    window (the highest SNR), far below the equal split the energy-minimal step would keep."""
    _, b = ours((0.0, 0.0), (1.0, 1.0))
    assert b.sum() < 0.5 * POOL_HZ
    for i, d in enumerate(DEVICES):  # at 0.999 b the upload no longer fits; the chosen b does
        assert np.isfinite(by_hand(b[i], price=0.0, value=1.0, **d))
        assert not np.isfinite(by_hand(0.98 * b[i], price=0.0, value=1.0, **d))


def test_a_cell_that_cannot_fit_keeps_its_plan():
    col = {k: np.array([d[k] for d in DEVICES]) for k in DEVICES[0]}
    start = np.array([3e4, 2e4])
    b = packet_error_split(
        [0, 0], [5e4], bandwidth_hz=start, power_w=col["p"], bits=col["bits"], window_s=col["window"],
        gain_lin=col["g"], noise_psd_w_per_hz=N0, circuit_w=col["circuit"], price=np.ones(2),
        value=np.ones(2), waterfall_m=M,
    )  # fmt: skip
    assert np.array_equal(b, start)


def _cell_state(k: int = 24, seed: int = 5):
    from optimizers import RoundState

    rng = np.random.default_rng(seed)
    compute = np.full((k, 2), 0.2) * np.array([1.0, 2.0])
    return RoundState(
        round_index=2, deadline_s=2.0, ranks=(4, 8), available=np.ones(k, bool),
        gain_lin=channels.db_to_lin(-rng.uniform(100, 128, k)),
        noise_psd_w_per_hz=np.full(k, float(channels.thermal_noise_psd_w_per_hz(7.0))),
        cell=rng.integers(0, 2, k), cell_bandwidth_hz=np.array([5e6, 3e6]), p_max_w=np.full(k, 0.2),
        payload_bits=np.tile(np.array([4e5, 8e5]), (k, 1)), compute_time_s=compute, compute_energy_j=compute * 0.5,
        downlink_time_s=np.full(k, 0.05), energy_budget_j=np.full(k, 0.2), num_samples=rng.uniform(50, 150, k),
        circuit_power_w=np.full(k, 0.05), waterfall_m=0.023,
    )  # fmt: skip


def test_lyapunov_with_the_priced_split_never_plans_a_worse_round():
    """Same queues, same round: the plan with the packet-error-priced split has an objective no higher than
    the energy-minimal split's, fewer expected packet errors, and every planned upload still fits."""
    from optimizers import RoundOutcome, make_policy

    from .test_policy_properties import check_allocation, check_planned_uploads_fit

    state = _cell_state()
    plans = {}
    for priced in (True, False):
        policy = make_policy("lyapunov", {"V": 5.0, "price_packet_errors": priced}, np.random.default_rng(0))
        policy.decide(state)
        k = state.num_devices
        spent = np.linspace(0.1, 0.6, k)  # queues of different lengths, the same for both
        policy.observe(RoundOutcome(1, np.zeros(k, int), np.ones(k, bool), spent, 0.5, 1.0))
        plans[priced] = policy.decide(state)
        check_allocation(state, plans[priced])
        check_planned_uploads_fit(state, plans[priced])
    on, off = plans[True].terms, plans[False].terms
    assert on["objective"] <= off["objective"] * (1 + 1e-12)
    assert on["mean_packet_error"] < off["mean_packet_error"]
    for c, pool in enumerate(state.cell_bandwidth_hz):
        assert plans[True].bandwidth_hz[state.cell == c].sum() <= pool * (1 + 1e-9)


def test_cells_split_together_as_each_would_alone():
    """All cells search their prices in lockstep: each cell's bandwidths are bit for bit those the per-cell
    search below (the same steps, one cell at a time with scalar prices) gives, here six cells of 10-52 devices,
    one whose devices cannot fit its pool, and at every count of cells and devices down to one."""
    rng = np.random.default_rng(3)
    n = 120
    cell = rng.integers(0, 6, n)
    cell[:40] = 2
    pools = np.array([2e6, 5e6, 20e6, 1e6, 3e6, 1e4])  # cell 5: a pool nobody's upload fits in
    cols = {
        "bandwidth_hz": pools[cell] / np.bincount(cell, minlength=6)[cell],
        "power_w": rng.uniform(0.05, 0.2, n),
        "bits": rng.uniform(1e5, 6e5, n),
        "window_s": rng.uniform(1.0, 2.0, n),
        "gain_lin": 10 ** -rng.uniform(9.5, 11.5, n),
        "noise_psd_w_per_hz": np.full(n, N0),
        "circuit_w": np.full(n, 0.05),
        "price": rng.uniform(0.0, 50.0, n),
        "value": rng.uniform(0.1, 3.0, n),
    }
    together = packet_error_split(cell, pools, waterfall_m=M, **cols)
    assert np.array_equal(together, per_cell_reference(cell, pools, waterfall_m=M, **cols))
    assert np.array_equal(together[cell == 5], cols["bandwidth_hz"][cell == 5])  # kept its plan
    for c in range(5):  # at λ = 0 the devices would take more than the pool: every price search runs
        assert pools[c] * (1 - 1e-6) <= together[cell == c].sum() <= pools[c] * (1 + 1e-9 + 1e-12)  # + rounding
    for size in (1, 2, 7):
        part = {k: v[:size] for k, v in cols.items()}
        assert np.array_equal(packet_error_split(cell[:size], pools, waterfall_m=M, **part),
                              per_cell_reference(cell[:size], pools, waterfall_m=M, **part))  # fmt: skip
    assert len(packet_error_split(cell[:0], pools, waterfall_m=M, **{k: v[:0] for k, v in cols.items()})) == 0


# The search one cell at a time with scalar prices, the reference the lockstep search over all cells must match.
def per_cell_reference(cell, pools_hz, *, bandwidth_hz, waterfall_m, iters=60, grid=64, **inputs) -> np.ndarray:
    """One cell after another, on the same candidate grid."""
    cell = np.asarray(cell, dtype=int)
    now = np.asarray(bandwidth_hz, dtype=float)
    pool = np.asarray(pools_hz, dtype=float)[cell]
    names = ("power_w", "bits", "window_s", "gain_lin", "noise_psd_w_per_hz", "circuit_w", "price", "value")
    per_device = [inputs[k] for k in names] + [0.0, np.inf]  # no payload growth (fill_s, max_bits)
    cost, b_grid, f_grid = candidate_grid(pool, now, per_device, waterfall_m, grid)
    out = now.copy()
    for k in np.unique(cell):
        idx = np.flatnonzero(cell == k)
        found = _reference_choice(f_grid[idx], b_grid[idx], float(pool[idx[0]]), iters)
        if found is None:
            continue  # the cell's devices cannot all meet their windows in the pool: keep its plan
        # Interpolation can miss on a kinked cost: keep, per cell, the better of it and the grid's choice.
        smooth, on_grid = found
        in_order = lambda v: np.add.reduceat(v, [0])[0]  # noqa: E731  (summed as the lockstep search sums a cell)
        out[idx] = smooth if in_order(cost(smooth, idx)) <= in_order(cost(on_grid, idx)) else on_grid
    return out


def _reference_choice(f: np.ndarray, b: np.ndarray, total: float, iters: int) -> tuple[np.ndarray, np.ndarray] | None:
    """One cell's bandwidths at the least price λ whose choices fit its pool: (interpolated, on the grid);
    None where even the least feasible bandwidths overflow it (or a device has none)."""
    finite = np.isfinite(f)
    fits = total * (1 + 1e-9)
    if not np.all(finite.any(axis=1)) or np.where(finite, b, np.inf).min(axis=1).sum() > fits:
        return None
    rows, cost = np.arange(len(f)), np.where(finite, f, np.inf)

    def cell_sum(values: np.ndarray) -> float:
        return float(np.add.reduceat(values, [0])[0])  # in order, as the lockstep search sums each cell

    def on_grid(lam: float) -> np.ndarray:
        return np.argmin(cost + lam * b, axis=1)

    def search(choice) -> np.ndarray:
        """The grid's jumps by their median switching price, then (interpolated only) regula falsi, Illinois."""
        j_lo = on_grid(0.0)
        over_lo = cell_sum(choice(j_lo, 0.0)) - fits
        if over_lo <= 0:
            return choice(j_lo, 0.0)
        lo, hi = 0.0, (np.ptp(f[finite]) + 1e-300) / (total * 1e-4)
        j_hi = on_grid(hi)
        for _ in range(400):  # at a high price each device takes its least band, which fits
            over_hi = cell_sum(choice(j_hi, hi)) - fits
            if over_hi <= 0:
                break
            lo, over_lo, j_lo, hi = hi, over_hi, j_hi, 4.0 * hi
            j_hi = on_grid(hi)
        for lam, j in reversed(visited) if choice is not on_grid_choice else ():  # the grid search's prices, last first
            if lo < lam < hi:
                over = cell_sum(choice(j, lam)) - fits
                lo, over_lo, j_lo = (lam, over, j) if over > 0 else (lo, over_lo, j_lo)
                hi, over_hi, j_hi = (lam, over, j) if over <= 0 else (hi, over_hi, j_hi)
        side = 0
        for _ in range(iters):
            moving = np.flatnonzero(j_lo != j_hi)
            j1, j0 = j_hi[moving], j_lo[moving]
            lam = (cost[moving, j1] - cost[moving, j0]) / (b[moving, j0] - b[moving, j1])
            lam = np.sort(lam[(lam > lo) & (lam < hi)])
            jumps = len(lam) > 0
            if jumps:
                mid = lam[len(lam) // 2]
            elif choice is on_grid_choice or hi - lo <= 1e-10 * hi or over_hi > -1e-12 * fits:
                break
            else:
                mid = lo + (hi - lo) * over_lo / (over_lo - over_hi)
                mid = mid if np.isfinite(mid) and lo < mid < hi else 0.5 * (lo + hi)
            j_mid = j_hi.copy()
            j_mid[moving] = on_grid(mid)[moving]
            if choice is on_grid_choice:
                visited.append((mid, j_mid))
            over_mid = cell_sum(choice(j_mid, mid)) - fits
            halve = not jumps and side == (1 if over_mid > 0 else -1)
            if over_mid > 0:
                lo, j_lo, over_lo, over_hi, side = mid, j_mid, over_mid, over_hi * (0.5 if halve else 1.0), 1
            else:
                hi, j_hi, over_hi, over_lo, side = mid, j_mid, over_mid, over_lo * (0.5 if halve else 1.0), -1
        return choice(j_hi, hi)

    def on_grid_choice(j, lam):
        return b[rows, j]

    visited: list[tuple[float, np.ndarray]] = []

    grid_choice = search(on_grid_choice)
    smooth_choice = search(lambda j, lam: parabola_vertex(f, b, j, lam))
    return (smooth_choice if cell_sum(smooth_choice) <= fits else grid_choice), grid_choice
