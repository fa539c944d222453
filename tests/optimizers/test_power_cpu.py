"""The per-device power and CPU-frequency searches: against dense grids, and at the edges the grids never reach
(inputs that allow no upload, the feasibility threshold of a tight round, payloads without packet errors). Expected
values are worked out here with plain math from the papers' formulas, not asked of the solvers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.optimizers.test_solvers_policies import instance

N0 = 10 ** (-174 / 10) * 1e-3 * 10 ** (9 / 10)  # W/Hz at a 9 dB noise figure
BITS, WINDOW, BW, GAIN, P_MAX, CIRCUIT = 2e5, 0.5, 1e6, 1e-10, 0.2, 0.1


def _rate(p_w: float, b_hz: float = BW, g: float = GAIN) -> float:
    return b_hz * math.log2(1 + p_w * g / (N0 * b_hz))


def test_upload_cost_without_packet_errors_is_priced_energy_minus_the_full_value():
    """q = 0 when packet errors are off: cost = price·(p + P_c)·S/r − value, the fixed payload's airtime S/r."""
    from optimizers.solvers import upload_cost

    p = 0.15
    got = upload_cost(
        p,
        bits=BITS,
        window_s=WINDOW,
        bandwidth_hz=BW,
        gain_lin=GAIN,
        noise_psd_w_per_hz=N0,
        circuit_w=CIRCUIT,
        price=2.0,
        value=0.3,
        waterfall_m=None,
    )
    air = BITS / _rate(p)
    assert air < WINDOW
    assert float(got) == pytest.approx(2.0 * (p + CIRCUIT) * air - 0.3, rel=1e-12)


def test_best_power_refuses_every_input_that_carries_no_bit():
    """No band, no window, an infinite window, no gain, an infinite gain, no power, or a window that even p_max
    misses: power 0 and infinite cost, whatever the price."""
    from optimizers.solvers import best_power_w

    cases = {  # name: (window, bandwidth, gain, p_max)
        "no band": (WINDOW, 0.0, GAIN, P_MAX),
        "no window": (0.0, BW, GAIN, P_MAX),
        "endless window": (math.inf, BW, GAIN, P_MAX),
        "no gain": (WINDOW, BW, 0.0, P_MAX),
        "infinite gain": (WINDOW, BW, math.inf, P_MAX),
        "no power": (WINDOW, BW, GAIN, 0.0),
        "p_max too weak": (BITS / _rate(P_MAX) * 0.99, BW, GAIN, P_MAX),
    }
    window, bw, gain, p_max = (np.array([c[i] for c in cases.values()]) for i in range(4))
    p, cost = best_power_w(
        np.full(len(cases), BITS),
        window_s=window,
        bandwidth_hz=bw,
        gain_lin=gain,
        noise_psd_w_per_hz=N0,
        p_max_w=p_max,
        circuit_w=CIRCUIT,
        price=1.0,
        value=0.2,
        waterfall_m=0.023,
    )
    for name, pi, ci in zip(cases, p, cost):
        assert pi == 0.0 and math.isinf(ci), name
    # The control: p_max just enough is feasible, at a power within [p_fill, p_max].
    window_ok = BITS / _rate(P_MAX) * 1.01
    p_ok, c_ok = best_power_w(
        [BITS],
        window_s=[window_ok],
        bandwidth_hz=[BW],
        gain_lin=[GAIN],
        noise_psd_w_per_hz=N0,
        p_max_w=P_MAX,
        circuit_w=CIRCUIT,
        price=1.0,
        value=0.2,
        waterfall_m=0.023,
    )
    assert math.isfinite(c_ok[0]) and 0.0 < p_ok[0] <= P_MAX * (1 + 1e-12)
    assert BITS / _rate(p_ok[0]) <= window_ok * (1 + 1e-9)


def _threshold_time_s(cycles: float, f_max: float, margin: float) -> float:
    """Shortest round in which training at f_max leaves an upload window that p_max just fills:
    C/f_max + (S/r(p_max))/(1 − margin) (Yang et al. 2021, time model)."""
    return cycles / f_max + BITS / _rate(P_MAX) / (1 - margin)


def test_best_cpu_frequency_flips_from_feasible_to_refused_at_the_deadline_threshold():
    """With a large planning margin the threshold moves a lot; 1 % either side of it must flip the answer:
    above, a frequency in range whose upload fits at p_max; below, infinite energy at f_max."""
    from optimizers.solvers import best_cpu_hz

    cycles, f_min, f_max, margin = 1e9, 2e8, 2e9, 0.2
    t = _threshold_time_s(cycles, f_max, margin)
    times = np.array([t * 1.01, t * 0.99, t * 1.3])
    f, e = best_cpu_hz(
        cycles,
        kappa=1e-28,
        f_min=f_min,
        f_max=f_max,
        time_left_s=times,
        bits=BITS,
        bandwidth_hz=BW,
        gain_lin=GAIN,
        noise_psd_w_per_hz=N0,
        p_max_w=P_MAX,
        circuit_w=CIRCUIT,
        margin=margin,
    )
    assert math.isinf(e[1]) and f[1] == f_max
    for i in (0, 2):
        assert math.isfinite(e[i]) and f_min <= f[i] <= f_max
        window = (times[i] - cycles / f[i]) * (1 - margin)
        assert BITS / _rate(P_MAX) <= window * (1 + 1e-9)  # the upload fits at p_max at the chosen speed
    # The least frequency that fits, (C / (T − S/r(p_max)/(1 − margin))), bounds the answer from below.
    need = cycles / (times[0] - BITS / _rate(P_MAX) / (1 - margin))
    assert f[0] >= need * (1 - 1e-9)
    assert f[2] <= f[0]  # more time: the CPU may slow down


def test_best_cpu_frequency_refuses_inputs_that_carry_no_bit():
    """No band, no gain, an infinite gain, an endless round or no CPU at all: infinite energy at f_max."""
    from optimizers.solvers import best_cpu_hz

    cases = {  # name: (time_left, bandwidth, gain, f_max)
        "no band": (3.0, 0.0, GAIN, 2e9),
        "no gain": (3.0, BW, 0.0, 2e9),
        "infinite gain": (3.0, BW, math.inf, 2e9),
        "endless round": (math.inf, BW, GAIN, 2e9),
        "no CPU": (3.0, BW, GAIN, 0.0),
    }
    t, bw, g, f_max = (np.array([c[i] for c in cases.values()]) for i in range(4))
    f, e = best_cpu_hz(
        1e9,
        kappa=1e-28,
        f_min=0.0,
        f_max=f_max,
        time_left_s=t,
        bits=BITS,
        bandwidth_hz=bw,
        gain_lin=g,
        noise_psd_w_per_hz=N0,
        p_max_w=P_MAX,
        circuit_w=CIRCUIT,
        margin=1e-3,
    )
    for name, fi, ei, fm in zip(cases, f, e, f_max):
        assert fi == fm and math.isinf(ei), name


def test_best_power_matches_a_dense_grid():
    from optimizers.solvers import best_power_w, upload_cost

    rng = np.random.default_rng(8)
    n = 30
    bits, window, gain, n0, p_max = instance(rng, n)
    bw = rng.uniform(2e5, 3e6, n)
    price, value = rng.uniform(0, 5, n), rng.uniform(0, 0.5, n)
    p, c = best_power_w(
        bits,
        window_s=window,
        bandwidth_hz=bw,
        gain_lin=gain,
        noise_psd_w_per_hz=n0,
        p_max_w=p_max,
        circuit_w=0.1,
        price=price,
        value=value,
        waterfall_m=0.023,
    )
    grid = np.geomspace(1e-9, 1.0, 20001)[None, :] * p_max[:, None]
    costs = upload_cost(
        grid,
        bits=bits[:, None],
        window_s=window[:, None],
        bandwidth_hz=bw[:, None],
        gain_lin=gain[:, None],
        noise_psd_w_per_hz=n0[:, None],
        circuit_w=0.1,
        price=price[:, None],
        value=value[:, None],
        waterfall_m=0.023,
    )
    brute = costs.min(axis=1)
    fin = np.isfinite(brute)
    assert np.array_equal(np.isfinite(c), fin)
    assert np.all(c[fin] <= brute[fin] + 1e-9 * np.abs(brute[fin]) + 1e-15)
    assert np.all(p[fin] <= p_max[fin] * (1 + 1e-12))


def test_best_cpu_frequency_matches_a_dense_grid_and_slows_down_with_time():
    from optimizers.solvers import best_cpu_hz, tx_power_for_window_w

    rng = np.random.default_rng(9)
    n = 20
    bits, _, gain, n0, p_max = instance(rng, n)
    cycles = rng.uniform(1e8, 2e9, n)
    bw = np.full(n, 1e6)
    link = dict(bits=bits, bandwidth_hz=bw, gain_lin=gain, noise_psd_w_per_hz=n0, p_max_w=p_max, circuit_w=0.1)
    args = dict(kappa=1e-28, f_min=2e8, f_max=2e9, margin=1e-3, **link)
    f, e = best_cpu_hz(cycles, time_left_s=3.0, **args)
    grid = np.geomspace(2e8, 2e9, 20001)[None, :]
    tau = (3.0 - cycles[:, None] / grid) * (1 - 1e-3)
    with np.errstate(all="ignore"):
        pw = tx_power_for_window_w(
            bits[:, None],
            window_s=tau,
            bandwidth_hz=bw[:, None],
            gain_lin=gain[:, None],
            noise_psd_w_per_hz=n0[:, None],
        )
        ee = np.where((tau > 0) & (pw <= p_max[:, None]), 1e-28 * cycles[:, None] * grid**2 + (pw + 0.1) * tau, np.inf)
    brute = ee.min(axis=1)
    fin = np.isfinite(brute)
    assert np.all(e[fin] <= brute[fin] * (1 + 1e-7))
    # And no lower than the grid's minimum: e is the true energy at the returned frequency, recomputed here.
    assert np.all(e[fin] >= brute[fin] * (1 - 1e-4))
    tau_f = (3.0 - cycles / f) * (1 - 1e-3)
    p_f = tx_power_for_window_w(bits, window_s=tau_f, bandwidth_hz=bw, gain_lin=gain, noise_psd_w_per_hz=n0)
    np.testing.assert_allclose(e[fin], (1e-28 * cycles * f**2 + (p_f + 0.1) * tau_f)[fin], rtol=1e-9)
    assert np.all((f[fin] >= 2e8) & (f[fin] <= 2e9))
    assert fin.all()
    # A device whose training cannot finish even at f_max: infinite energy, and f_max.
    f_x, e_x = best_cpu_hz(
        1e12,
        kappa=1e-28,
        f_min=2e8,
        f_max=2e9,
        time_left_s=3.0,
        bits=bits[0],
        bandwidth_hz=1e6,
        gain_lin=gain[0],
        noise_psd_w_per_hz=n0[0],
        p_max_w=p_max[0],
        circuit_w=0.1,
        margin=1e-3,
    )
    assert np.isinf(e_x[0]) and f_x[0] == 2e9
    # A longer round lets the CPU slow down (never speed up).
    f_long, _ = best_cpu_hz(cycles, time_left_s=30.0, **args)
    assert np.all(f_long[fin] <= f[fin] * (1 + 1e-6))


def test_circuit_power_in_closed_form_is_the_dense_grids_minimum():
    """(p + P_c)·airtime ∝ (p + P_c)/ln(1 + αp) with α = g/(N0·b): the closed form sits where the derivative
    vanishes, (1 + αp)(ln(1 + αp) − 1) = αP_c − 1, and no point of a dense log grid does better."""
    from optimizers.solvers import circuit_optimal_power_w

    rng = np.random.default_rng(4)
    b = rng.uniform(1e4, 2e7, 200)
    g = 10 ** -rng.uniform(8, 13, 200)
    pc = rng.uniform(0.005, 0.5, 200)
    p = circuit_optimal_power_w(bandwidth_hz=b, gain_lin=g, noise_psd_w_per_hz=N0, circuit_w=pc)
    alpha = g / (N0 * b)
    u = 1 + alpha * p
    assert np.allclose(u * (np.log(u) - 1), alpha * pc - 1, rtol=1e-9, atol=1e-9)
    grid = p[:, None] * np.geomspace(1e-3, 1e3, 6001)[None, :]
    energy = (grid + pc[:, None]) / np.log1p(alpha[:, None] * grid)
    at_p = (p + pc) / np.log1p(alpha * p)
    assert np.all(at_p <= energy.min(axis=1) * (1 + 1e-12))
    assert np.all(np.abs(grid[np.arange(200), energy.argmin(axis=1)] / p - 1) < 3e-3)  # the grid's step
    assert circuit_optimal_power_w(bandwidth_hz=1e6, gain_lin=GAIN, noise_psd_w_per_hz=N0, circuit_w=0.0) == 0.0
