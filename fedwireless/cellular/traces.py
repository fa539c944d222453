"""Synthetic LTE drive-test traces in five areas, in the spirit of the Berlin V2X cellular table.

A vehicle drives laps of a closed route in each area (Residential, Park, Avenue, Highway, Tunnel), one
area after the other, sampled every `sample_period_s`. A few base-station sites stand along each route,
alternately on either side, each carrying one cell per band of the area (reuse 1); the vehicle is served
by the strongest cell after layer-3 filtering, with an A3 handover hysteresis (TS 36.331 §5.5.3.2).
Each row is derived from standard relations; every formula comes from `channels` (path loss, shadowing,
fading and the LTE measurement, link-adaptation and latency relations of `channels.lte`), this module adds
the geometry, the tunnel's penetration ramp (a modelling choice) and the traffic processes:

1. **Path loss** (3GPP TR 38.901 §7.4.1, Table 7.4.1-1): UMi street canyon (Residential, Park), UMa
   (Avenue, and the cells above the Tunnel), RMa (Highway). LOS/NLOS state per link from the §7.4.2
   LOS probability, made spatially consistent (§7.6.3.1) by comparing P_LOS(d2D) with a uniform
   variable correlated along the route (Table 7.6.3.1-2: 50 m UMa/UMi, 60 m RMa). Tunnel:
   always NLOS plus a penetration loss growing from `tunnel_loss_min_db` at a portal to
   `tunnel_loss_max_db` at `tunnel_loss_depth_m` inside (our modelling choice, not 3GPP).
2. **Shadowing**: log-normal, spatially correlated along the route as AR(1) in travelled distance with
   ρ = exp(−Δd/d_corr) (Gudmundson 1991; TR 38.901 Table 7.5-6 decorrelation distances), one unit field
   per site and LOS state, scaled by the σ_SF of Table 7.4.1-1 for the link's current LOS state (RMa LOS:
   4 dB before the breakpoint, 6 dB beyond). It is a function of the position on the route, so
   successive laps see the same shadowing (as a real drive test does; the grid is not periodic, so the
   fields jump once per lap where the lap closes).
3. **Fast fading**: Rayleigh (NLOS) or Rician with the model's K (LOS, TR 38.901 Table 7.5-6: 9 dB UMa/UMi,
   7 dB RMa), from `channels.FadingProcess` (sum of sinusoids evaluated at the travelled distance, so the
   time correlation is Clarke's J0(2π f_D τ) at every lag and speed changes are followed exactly). RSRP is a
   linear average over reference-signal REs and the L1 filter, modelled as the mean power of
   `fading_looks` independent looks.
4. **RSRP** per RE [dBm] = P_tx [dBm] − 10 log10(12 N_RB) − PL − SF + fading (3GPP TS 36.214 §5.1.1:
   RSRP is the power of one reference-signal RE; total power spread evenly over 12·N_RB subcarriers).
5. **SINR** = RSRP_s / (N_RE + Σ_j a_j RSRP_j) over co-band cells j of the other sites (every site
   carries one cell per band of the area, reuse 1), bounded by an impairment ceiling
   (1/SINR + 1/SINR_max, `sinr_ceiling_db` = 30 dB), with noise per RE
   N_RE = k·T·Δf·NF_UE (T = 290 K, Δf = 15 kHz) and RE activity a_j = 1/6 + 5/6·load_j (reference
   signals always on, data REs in proportion to the cell load).
6. **RSRQ** = N_RB · RSRP / RSSI (TS 36.214 §5.1.3), RSSI = 12 N_RB (a_s RSRP_s + Σ_j a_j RSRP_j + N_RE):
   −3 dB in an empty interference-free cell, −10.8 dB in a fully loaded one. RSRP and RSRQ are clipped
   to the UE reporting ranges (TS 36.133): [−140, −44] dBm and [−19.5, −3] dB.
7. **MCS**: link adaptation on the reported SINR (true SINR + `cqi_error_db` Gaussian error) through
   3GPP TS 38.214 Table 5.1.3.1-1 (MCS index table 1, up to 64QAM) spectral efficiencies SE_m =
   Q_m·R_m/1024; MCS m needs SINR_m with α·log2(1 + SINR_m) = SE_m (attenuated Shannon bound, 3GPP TR
   36.942 Annex A.2, α = `shannon_alpha` = 0.6 for the downlink).
8. **Resource blocks** to the vehicle: the free share of the serving cell, RB = round(N_RB·(1 − load)·u),
   u ~ U(0.5, 1), at least 1.
9. **Data rate** [Mbit/s] = RB × 12 × 14 × 1000 × SE_mcs × (1 − overhead) / 1e6 (TS 38.306 §4.1.2
   approximate peak-rate form for 15 kHz SCS: 12 subcarriers, 14 symbols per 1 ms slot; DL overhead 0.14).
10. **Ping** [ms] = base + queueing + retransmissions + jitter: base `ping_base_ms`; queueing
    `ping_queue_ms`·ρ/(1 − ρ) with ρ the serving-cell load (M/M/1 mean wait); HARQ retransmissions
    ~ Geometric(1 − BLER) − 1 (at most 4), each `harq_rtt_ms` = 8 ms (LTE FDD HARQ RTT); BLER =
    1 / (1 + 9·exp((SINR − SINR_mcs)/1 dB)) (10 % at the operating point of the chosen MCS, → 1 as SINR
    falls below it); jitter ~ Exponential(`ping_jitter_ms`).

Returned as a `pandas.DataFrame` with the columns of `TRACE_COLUMNS`. Randomness only from the
`numpy.random.Generator` passed in.

The radio relations are those of the co-simulator's world (`channels`), so both see one physics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtr

from channels import lte
from channels.fading import FadingProcess
from channels.pathloss import (
    decorrelation_distance_m,
    los_correlation_distance_m,
    los_probability,
    pathloss_db,
    rician_k_factor_db,
    shadowing_sigma_db,
)
from channels.shadowing import ar1_sequence
from channels.units import dbm_to_w, lin_to_db
from fedwireless.cellular.columns import AREAS, TRACE_COLUMNS

if TYPE_CHECKING:  # pandas is imported lazily by generate_traces
    import pandas as pd

BANDS = lte.LTE_BANDS


# ---------------------------------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AreaSpec:
    """One drive-test area: route, speeds, cells and traffic. Routes are rectangles driven in laps."""

    name: str
    model: str  # path-loss scenario of its cells
    speed_range_kmh: tuple[float, float]
    route_size_m: tuple[float, float]  # rectangle width x height of the route
    origin_m: tuple[float, float]  # lower-left corner of the route (areas are placed apart)
    num_sites: int  # base-station sites; each carries one cell per band of `bands`
    cell_offset_m: tuple[float, float]  # distance of a site from the route, uniform range
    h_bs_m: float
    tx_power_dbm: float  # total cell transmit power over the band
    bands: tuple[str, ...]  # carriers of every site (reuse 1: each band interferes with itself)
    mean_load: float  # mean resource-block occupancy of the cells
    tunnel: bool = False  # always NLOS + penetration loss


DEFAULT_AREAS: dict[str, AreaSpec] = {
    # TR 38.901 defaults: UMi h_BS 10 m, UMa 25 m, RMa 35 m; powers 44 dBm (UMi), 46 dBm (UMa/RMa) per
    # 20 MHz carrier (TR 38.901 §7.8 calibration), here per band.
    "Residential": AreaSpec("Residential", "umi", (20.0, 40.0), (700.0, 400.0), (0.0, 0.0), 4, (20.0, 60.0),
                            10.0, 44.0, ("B3", "B7"), 0.45),
    "Park": AreaSpec("Park", "umi", (15.0, 35.0), (600.0, 500.0), (3000.0, 0.0), 3, (40.0, 120.0),
                     10.0, 44.0, ("B3", "B1"), 0.25),
    "Avenue": AreaSpec("Avenue", "uma", (30.0, 60.0), (1500.0, 200.0), (6000.0, 0.0), 4, (30.0, 150.0),
                       25.0, 46.0, ("B3", "B1"), 0.6),
    "Highway": AreaSpec("Highway", "rma", (80.0, 130.0), (6000.0, 60.0), (10000.0, 0.0), 4, (30.0, 100.0),
                        35.0, 46.0, ("B20", "B3"), 0.3),
    "Tunnel": AreaSpec("Tunnel", "uma", (60.0, 90.0), (1500.0, 30.0), (18000.0, 0.0), 3, (150.0, 300.0),
                       25.0, 46.0, ("B20", "B3"), 0.2, tunnel=True),
}  # fmt: skip


def _route_point(spec: AreaSpec, s_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of arc length `s_m` on the rectangular route (counter-clockwise from the origin)."""
    w, h = spec.route_size_m
    s = np.mod(s_m, 2.0 * (w + h))
    x = np.select([s < w, s < w + h, s < 2 * w + h], [s, w, 2 * w + h - s], 0.0)
    y = np.select([s < w, s < w + h, s < 2 * w + h], [0.0, s - w, h], 2 * (w + h) - s)
    return spec.origin_m[0] + x, spec.origin_m[1] + y


@dataclass(frozen=True)
class RadioParams:
    """Link-level constants (defaults and sources in the module docstring)."""

    noise_figure_db: float = 9.0  # UE noise figure (TR 38.901 §7.8 calibration uses 9 dB)
    subcarrier_spacing_hz: float = lte.LTE_SUBCARRIER_SPACING_HZ
    h_ut_m: float = 1.5
    fading_looks: int = 4
    cqi_error_db: float = 1.0
    shannon_alpha: float = lte.DL_SHANNON_ALPHA
    overhead: float = lte.DL_OVERHEAD_FR1
    sinr_ceiling_db: float = 30.0  # impairment-limited SINR (64QAM EVM budget, TS 36.104 §6.5.2)
    handover_hysteresis_db: float = 3.0  # A3 offset on the filtered fading-free RSRP
    l3_filter_k: int = 4  # TS 36.331 filterCoefficient (fc4), its 200 ms time constant kept at any sample period
    load_rho_per_s: float = 0.97  # time correlation of a cell's load per second
    load_sigma: float = 0.15  # stationary std of the load around its mean
    ping_base_ms: float = 18.0
    ping_queue_ms: float = 6.0
    ping_jitter_ms: float = 3.0
    harq_rtt_ms: float = lte.HARQ_RTT_MS
    max_harq_retx: int = 4
    tunnel_loss_min_db: float = 20.0
    tunnel_loss_max_db: float = 30.0
    tunnel_loss_depth_m: float = 250.0
    speed_rho_per_s: float = 0.95  # time correlation of the speed process per second


def _track(spec: AreaSpec, num_rows: int, rng: np.random.Generator, dt: float, p: RadioParams):
    """(speed km/h, distance along the route, x, y) at each sample: speed an AR(1) in time around the centre of
    the area's range, clipped to it; the lap starts at a random point."""
    lo, hi = spec.speed_range_kmh
    rho_v = p.speed_rho_per_s**dt
    speed_kmh = np.clip(0.5 * (lo + hi) + (hi - lo) / 4.0 * ar1_sequence(num_rows, rho_v, rng), lo, hi)
    perimeter_m = 2.0 * sum(spec.route_size_m)
    s0 = rng.uniform(0.0, perimeter_m)
    s_m = s0 + np.concatenate([[0.0], np.cumsum(speed_kmh[:-1] / 3.6 * dt)])
    x_m, y_m = _route_point(spec, s_m)
    return speed_kmh, s_m, x_m, y_m


def _sites(spec: AreaSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Site positions: evenly spread along the route's long (x) side with a small jitter, alternately below and
    above the route at a random distance `cell_offset_m`."""
    n_sites = spec.num_sites
    w, h = spec.route_size_m
    jitter = rng.uniform(-0.1, 0.1, size=n_sites) * w / n_sites
    sx = spec.origin_m[0] + w * (np.arange(n_sites) + 0.5) / n_sites + jitter
    offset = rng.uniform(*spec.cell_offset_m, size=n_sites)
    below = np.arange(n_sites) % 2 == 0
    sy = spec.origin_m[1] + np.where(below, -offset, h + offset)
    return sx, sy


def _large_scale(spec: AreaSpec, s_m, d2d_m, fc_hz, site_of, rng: np.random.Generator, p: RadioParams):
    """[rows, cells] LOS state, shadowing (dB) and path loss (dB, with the tunnel's extra loss)."""
    perimeter_m = 2.0 * sum(spec.route_size_m)
    n_sites = spec.num_sites
    # Spatially consistent LOS state and shadowing: processes on a 1 m grid of the lap's arc length,
    # one per site (the carriers of a site share the propagation environment).
    grid_n = int(np.ceil(perimeter_m)) + 1
    idx = np.mod(np.round(s_m).astype(int), grid_n - 1)  # position on the grid, [rows]
    if spec.tunnel:
        los = np.zeros_like(d2d_m, dtype=bool)
    else:
        rho_los = np.exp(-1.0 / los_correlation_distance_m(spec.model))
        u_los = ndtr(ar1_sequence(grid_n, rho_los, rng, (n_sites,)))[idx][:, site_of]
        los = u_los < los_probability(spec.model, d2d_m, p.h_ut_m)
    # One unit field per site and LOS state; σ follows the LOS state (and RMa's breakpoint) row by row.
    shadow_db = np.zeros_like(d2d_m)
    for state in (True, False):
        rho = np.exp(-1.0 / float(decorrelation_distance_m(spec.model, state)))
        field = ar1_sequence(grid_n, rho, rng, (n_sites,))[idx][:, site_of]
        sigma = shadowing_sigma_db(spec.model, los, d2d_m=d2d_m, fc_hz=fc_hz[None, :], h_bs_m=spec.h_bs_m,
                                   h_ut_m=p.h_ut_m)  # fmt: skip
        shadow_db = np.where(los == state, sigma * field, shadow_db)
    pl_db = pathloss_db(spec.model, d2d_m, fc_hz[None, :], los=los, h_bs_m=spec.h_bs_m, h_ut_m=p.h_ut_m)
    if spec.tunnel:
        # Depth below ground = distance to the nearer portal (the two ends of the tunnel's long side).
        s_lap = np.mod(s_m, perimeter_m)
        w = spec.route_size_m[0]
        along = np.where(
            s_lap < w,
            s_lap,
            np.where(s_lap < w + spec.route_size_m[1], w, 2 * w + spec.route_size_m[1] - s_lap),
        )
        depth_m = np.clip(np.minimum(along, w - along), 0.0, None)
        frac = np.minimum(1.0, depth_m / p.tunnel_loss_depth_m)
        pl_db = pl_db + (p.tunnel_loss_min_db + (p.tunnel_loss_max_db - p.tunnel_loss_min_db) * frac)[:, None]
    return los, shadow_db, pl_db


def _area_traces(
    spec: AreaSpec,
    num_rows: int,
    rng: np.random.Generator,
    sample_period_s: float,
    p: RadioParams,
    cell_id_base: int,
) -> dict[str, np.ndarray]:
    dt = sample_period_s
    n_sites, n_bands = spec.num_sites, len(spec.bands)
    n_cells = n_sites * n_bands
    site_of = np.repeat(np.arange(n_sites), n_bands)  # cell c = site c // n_bands, band c % n_bands
    speed_kmh, s_m, x_m, y_m = _track(spec, num_rows, rng, dt, p)
    sx, sy = _sites(spec, rng)
    cx, cy = sx[site_of], sy[site_of]
    bands = [spec.bands[c % n_bands] for c in range(n_cells)]
    fc_hz = np.array([BANDS[b][0] * 1e6 for b in bands])
    n_rb = np.array([BANDS[b][1] for b in bands])
    d2d_m = np.hypot(x_m[:, None] - cx[None, :], y_m[:, None] - cy[None, :])  # [rows, cells]

    los, shadow_db, pl_db = _large_scale(spec, s_m, d2d_m, fc_hz, site_of, rng, p)

    # Fast fading: sum-of-sinusoids per link and look, evaluated at the travelled distance (Clarke's J0 at
    # every lag); Rician (K of the area's model) while the link is in LOS. RSRP averages `fading_looks` looks.
    looks = p.fading_looks
    fading = FadingProcess("rician", n_cells * looks, rng, k_factor_db=rician_k_factor_db(spec.model))
    travelled = (s_m - s_m[0])[:, None]
    h = fading.envelope_at(travelled, np.repeat(fc_hz, looks), los=np.repeat(los, looks, axis=1))
    fading_db = lin_to_db((np.abs(h) ** 2).reshape(num_rows, n_cells, looks).mean(axis=2))

    rsrp_nofade_dbm = lte.rsrp_per_re_dbm(spec.tx_power_dbm, n_rb, pl_db + shadow_db)
    rsrp_all_dbm = rsrp_nofade_dbm + fading_db
    serving = lte.a3_serving_cells(rsrp_nofade_dbm, hysteresis_db=p.handover_hysteresis_db,
                                   filter_coefficient=p.l3_filter_k, sample_period_s=dt)  # fmt: skip

    # Cell loads: AR(1) in time around the area mean, clipped to [0.02, 0.95].
    rho_l = p.load_rho_per_s**dt
    load = np.clip(spec.mean_load + p.load_sigma * ar1_sequence(num_rows, rho_l, rng, (n_cells,)), 0.02, 0.95)
    activity = lte.resource_element_activity(load)

    rows = np.arange(num_rows)
    noise_re_w = lte.noise_per_re_w(p.subcarrier_spacing_hz, p.noise_figure_db)
    rsrp_w = dbm_to_w(rsrp_all_dbm)
    band_idx = np.array([list(BANDS).index(b) for b in bands])
    co_band = band_idx[None, :] == band_idx[serving][:, None]  # [rows, cells]
    co_band[rows, serving] = False
    interf_w = (activity * rsrp_w * co_band).sum(axis=1)
    rsrp_s_w = rsrp_w[rows, serving]
    sinr_db = lte.impairment_limited_sinr_db(rsrp_s_w / (noise_re_w + interf_w), p.sinr_ceiling_db)
    rssi_w = activity[rows, serving] * rsrp_s_w + interf_w + noise_re_w
    rsrq_db = lte.reported_rsrq_db(lte.rsrq_db(n_rb[serving], rsrp_s_w, rssi_w))
    rsrp_report_dbm = lte.reported_rsrp_dbm(rsrp_all_dbm[rows, serving])

    # Link adaptation on the reported SINR.
    reported_db = sinr_db + p.cqi_error_db * rng.standard_normal(num_rows)
    mcs = lte.select_mcs(reported_db, p.shannon_alpha)
    load_s = load[rows, serving]
    rb = np.clip(np.round(n_rb[serving] * (1.0 - load_s) * rng.uniform(0.5, 1.0, num_rows)), 1, n_rb[serving])
    datarate_mbps = lte.peak_rate_mbps(rb, mcs, overhead=p.overhead, subcarrier_spacing_hz=p.subcarrier_spacing_hz)

    bler = lte.block_error_rate(sinr_db, lte.mcs_required_sinr_db(p.shannon_alpha)[mcs])
    retx = lte.harq_retransmissions(bler, rng, max_retx=p.max_harq_retx)
    ping_ms = (p.ping_base_ms + lte.queueing_delay_ms(load_s, p.ping_queue_ms) + p.harq_rtt_ms * retx
               + rng.exponential(p.ping_jitter_ms, num_rows))  # fmt: skip

    serving_bands = np.array(bands, dtype=object)[serving]
    return {
        "x_m": x_m, "y_m": y_m, "speed_kmh": speed_kmh, "cell_id": cell_id_base + serving,
        "band": serving_bands, "frequency_mhz": fc_hz[serving] / 1e6, "rsrp_dbm": rsrp_report_dbm,
        "rsrq_db": rsrq_db, "sinr_db": sinr_db, "mcs": mcs, "resource_blocks": rb.astype(int),
        "datarate_mbps": datarate_mbps, "ping_ms": ping_ms,
        # Diagnostics (not in TRACE_COLUMNS): distance to the serving cell and its LOS state.
        "serving_distance_m": d2d_m[rows, serving], "serving_los": los[rows, serving],
    }  # fmt: skip


def generate_traces(
    num_rows_per_area: int | Mapping[str, int],
    rng: np.random.Generator,
    *,
    sample_period_s: float = 1.0,
    areas: tuple[str, ...] = AREAS,
    radio: RadioParams | None = None,
    area_specs: Mapping[str, AreaSpec] | None = None,
    include_diagnostics: bool = False,
) -> pd.DataFrame:
    """Drive-test table, one row per sample, areas driven one after another (see module docstring).

    Args:
        num_rows_per_area: rows per area, or a mapping area -> rows (e.g. a short Tunnel, as in the paper).
        rng: the only source of randomness.
        sample_period_s: time between rows [s].
        areas: which areas, in driving order (names of `area_specs`).
        radio: link constants; `RadioParams()` by default.
        area_specs: area definitions; `DEFAULT_AREAS` by default.
        include_diagnostics: add `serving_distance_m` and `serving_los` columns.

    Returns:
        `pandas.DataFrame` with the columns `TRACE_COLUMNS` (plus diagnostics if asked); cell ids are
        unique across areas; `time_s` runs on across areas.
    """
    import pandas as pd

    specs = dict(DEFAULT_AREAS if area_specs is None else area_specs)
    p = RadioParams() if radio is None else radio
    if not sample_period_s > 0:
        raise ValueError(f"sample_period_s must be > 0, got {sample_period_s}")
    for a in areas:
        if a not in specs:
            raise ValueError(f"areas: unknown area {a!r}; known: {', '.join(specs)}")
    if isinstance(num_rows_per_area, Mapping):
        unknown = set(num_rows_per_area) - set(areas)
        if unknown:
            raise ValueError(f"num_rows_per_area: unknown areas {sorted(unknown)}; known: {', '.join(areas)}")
        counts = {a: int(num_rows_per_area.get(a, 0)) for a in areas}
    else:
        counts = {a: int(num_rows_per_area) for a in areas}
    for a, n in counts.items():
        if n < 2:
            raise ValueError(f"num_rows_per_area[{a!r}] must be >= 2, got {n}")
    frames = []
    t0, cell_base = 0.0, 0
    for a in areas:
        spec = specs[a]
        cols = _area_traces(spec, counts[a], rng, sample_period_s, p, cell_base)
        n = counts[a]
        cols["time_s"] = t0 + sample_period_s * np.arange(n)
        cols["area"] = np.full(n, a, dtype=object)
        frames.append(pd.DataFrame(cols))
        t0 += sample_period_s * n
        cell_base += spec.num_sites * len(spec.bands)
    df = pd.concat(frames, ignore_index=True)
    order = list(TRACE_COLUMNS) + (["serving_distance_m", "serving_los"] if include_diagnostics else [])
    return df[order]
