"""Synthetic LTE drive-test traces in five areas, in the spirit of the Berlin V2X cellular table.

A vehicle drives laps of a closed route in each area (Residential, Park, Avenue, Highway, Tunnel), one
area after the other, sampled every `sample_period_s`. A few base-station sites stand along each route,
alternately on either side, each carrying one cell per band of the area (reuse 1); the vehicle is served
by the strongest cell after layer-3 filtering, with an A3 handover hysteresis (TS 36.331 §5.5.3.2).
Each row is derived from standard relations, all computed here with numpy only:

1. **Path loss** (3GPP TR 38.901 §7.4.1, Table 7.4.1-1): UMi street canyon (Residential, Park), UMa
   (Avenue, and the cells above the Tunnel), RMa (Highway). LOS/NLOS state per link from the §7.4.2
   LOS probability, made spatially consistent (§7.6.3.1) by comparing P_LOS(d2D) with a uniform
   variable correlated along the route (correlation distance: UMi 15 m, UMa 50 m, RMa 60 m). Tunnel:
   always NLOS plus a penetration loss growing from `tunnel_loss_min_db` at a portal to
   `tunnel_loss_max_db` at `tunnel_loss_depth_m` inside (our modelling choice, not 3GPP).
2. **Shadowing**: log-normal, spatially correlated along the route as AR(1) in travelled distance with
   ρ = exp(−Δd/d_corr) (Gudmundson 1991; TR 38.901 Table 7.5-6 decorrelation distances and Table
   7.4.1-1 σ_SF), one process per link and LOS state. It is a function of the position on the route, so
   successive laps see the same shadowing (as a real drive test does).
3. **Fast fading**: Rayleigh (NLOS) or Ricean K = 9 dB (LOS, TR 38.901 Table 7.5-6), time-correlated as
   a complex AR(1) with ρ = J0(2π f_D Δt), f_D = v f_c / c (Clarke/Jakes). RSRP is a linear average over
   reference-signal REs and the L1 filter, modelled as the mean power of `fading_looks` independent
   looks.
4. **RSRP** per RE [dBm] = P_tx [dBm] − 10 log10(12 N_RB) − PL − SF + fading (3GPP TS 36.214 §5.1.1:
   RSRP is the power of one reference-signal RE; total power spread evenly over 12·N_RB subcarriers).
5. **SINR** = RSRP_s / (N_RE + Σ_j a_j RSRP_j) over co-band cells j of the other sites (every site
   carries one cell per band of the area, reuse 1), bounded by an impairment ceiling
   (1/SINR + 1/SINR_max, `sinr_ceiling_db` = 30 dB), with noise per RE
   N_RE = −174 dBm/Hz + 10 log10(15 kHz) + NF_UE and RE activity a_j = 1/6 + 5/6·load_j (reference
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

Path loss and LOS probability come from `channels` (the same TR 38.901 code as the co-simulator's world).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import j0, ndtr

from channels.pathloss import los_probability, pathloss_db
from fedwireless.cellular.columns import AREAS, TRACE_COLUMNS

if TYPE_CHECKING:  # pandas is imported lazily by generate_traces
    import pandas as pd

SPEED_OF_LIGHT_M_S = 299_792_458.0

# LTE bands used by the cells: name -> (DL centre frequency MHz, bandwidth in resource blocks).
BANDS: dict[str, tuple[float, int]] = {
    "B20": (806.0, 50),  # 800 MHz, 10 MHz
    "B3": (1840.0, 100),  # 1800 MHz, 20 MHz
    "B1": (2140.0, 75),  # 2100 MHz, 15 MHz
    "B7": (2655.0, 100),  # 2600 MHz, 20 MHz
}

# 3GPP TS 38.214 Table 5.1.3.1-1 (MCS index table 1 for PDSCH): (modulation order Q_m, code rate R x 1024).
MCS_TABLE_1 = (
    (2, 120), (2, 157), (2, 193), (2, 251), (2, 308), (2, 379), (2, 449), (2, 526), (2, 602), (2, 679),
    (4, 340), (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
    (6, 438), (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
    (6, 910), (6, 948),
)  # fmt: skip
MCS_SPECTRAL_EFFICIENCY = np.array([q * r / 1024.0 for q, r in MCS_TABLE_1])  # bit/s/Hz, [29]


# Shadow-fading σ [dB] and decorrelation distance [m] per (model, LOS) (TR 38.901 Tables 7.4.1-1, 7.5-6),
# and LOS-state correlation distance [m] (Table 7.6.3.1-2).
_SHADOW_SIGMA_DB = {("uma", True): 4.0, ("uma", False): 6.0, ("umi", True): 4.0, ("umi", False): 7.82,
                    ("rma", True): 4.0, ("rma", False): 8.0}  # fmt: skip
_SHADOW_DCORR_M = {("uma", True): 37.0, ("uma", False): 50.0, ("umi", True): 10.0, ("umi", False): 13.0,
                   ("rma", True): 37.0, ("rma", False): 120.0}  # fmt: skip
_LOS_DCORR_M = {"uma": 50.0, "umi": 15.0, "rma": 60.0}
_RICEAN_K_DB = 9.0


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


def _ar1_along(num: int, rho: float, rng: np.random.Generator, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Unit-variance stationary Gaussian AR(1), `num` steps along axis 0: x_k = ρ x_{k−1} + √(1−ρ²) w_k."""
    out = np.empty((num, *shape))
    out[0] = rng.standard_normal(shape)
    innov = rng.standard_normal((num, *shape)) * np.sqrt(1.0 - rho**2)
    for k in range(1, num):
        out[k] = rho * out[k - 1] + innov[k]
    return out


def _mcs_required_sinr_db(alpha: float) -> np.ndarray:
    """SINR [dB] at which α·log2(1 + SINR) reaches each MCS's spectral efficiency (TR 36.942 A.2)."""
    return 10.0 * np.log10(2.0 ** (MCS_SPECTRAL_EFFICIENCY / alpha) - 1.0)


@dataclass(frozen=True)
class RadioParams:
    """Link-level constants (defaults and sources in the module docstring)."""

    noise_figure_db: float = 9.0  # UE noise figure (TR 38.901 §7.8 calibration uses 9 dB)
    subcarrier_spacing_hz: float = 15e3  # LTE numerology
    h_ut_m: float = 1.5
    fading_looks: int = 4
    cqi_error_db: float = 1.0
    shannon_alpha: float = 0.6
    overhead: float = 0.14
    sinr_ceiling_db: float = 30.0  # impairment-limited SINR (64QAM EVM budget, TS 36.104 §6.5.2)
    handover_hysteresis_db: float = 3.0  # A3 offset on the filtered fading-free RSRP
    l3_filter_k: int = 4  # TS 36.331 filterCoefficient (fc4), applied once per sample
    load_rho_per_s: float = 0.97  # time correlation of a cell's load per second
    load_sigma: float = 0.15  # stationary std of the load around its mean
    ping_base_ms: float = 18.0
    ping_queue_ms: float = 6.0
    ping_jitter_ms: float = 3.0
    harq_rtt_ms: float = 8.0
    max_harq_retx: int = 4
    tunnel_loss_min_db: float = 20.0
    tunnel_loss_max_db: float = 30.0
    tunnel_loss_depth_m: float = 250.0
    speed_rho_per_s: float = 0.95  # time correlation of the speed process per second


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
    # Speed: AR(1) in time around the centre of the area's range, clipped to the range.
    lo, hi = spec.speed_range_kmh
    rho_v = p.speed_rho_per_s**dt
    speed_kmh = np.clip(0.5 * (lo + hi) + (hi - lo) / 4.0 * _ar1_along(num_rows, rho_v, rng), lo, hi)
    # Distance along the route at each sample (start at a random point of the lap).
    perimeter_m = 2.0 * sum(spec.route_size_m)
    s0 = rng.uniform(0.0, perimeter_m)
    s_m = s0 + np.concatenate([[0.0], np.cumsum(speed_kmh[:-1] / 3.6 * dt)])
    x_m, y_m = _route_point(spec, s_m)

    # Sites: evenly spread along the route's long (x) side with a small jitter, alternately below and
    # above the route at a random distance `cell_offset_m`.
    w, h = spec.route_size_m
    jitter = rng.uniform(-0.1, 0.1, size=n_sites) * w / n_sites
    sx = spec.origin_m[0] + w * (np.arange(n_sites) + 0.5) / n_sites + jitter
    offset = rng.uniform(*spec.cell_offset_m, size=n_sites)
    below = np.arange(n_sites) % 2 == 0
    sy = spec.origin_m[1] + np.where(below, -offset, h + offset)
    cx, cy = sx[site_of], sy[site_of]
    bands = [spec.bands[c % n_bands] for c in range(n_cells)]
    fc_hz = np.array([BANDS[b][0] * 1e6 for b in bands])
    n_rb = np.array([BANDS[b][1] for b in bands])
    d2d_m = np.hypot(x_m[:, None] - cx[None, :], y_m[:, None] - cy[None, :])  # [rows, cells]

    # Spatially consistent LOS state and shadowing: processes on a 1 m grid of the lap's arc length,
    # one per site (the carriers of a site share the propagation environment).
    grid_n = int(np.ceil(perimeter_m)) + 1
    idx = np.mod(np.round(s_m).astype(int), grid_n - 1)  # position on the grid, [rows]
    if spec.tunnel:
        los = np.zeros_like(d2d_m, dtype=bool)
    else:
        u_los = ndtr(_ar1_along(grid_n, np.exp(-1.0 / _LOS_DCORR_M[spec.model]), rng, (n_sites,)))[idx]
        u_los = u_los[:, site_of]
        los = u_los < los_probability(spec.model, d2d_m)
    shadow_db = np.zeros_like(d2d_m)
    for state in (True, False):
        sigma = _SHADOW_SIGMA_DB[(spec.model, state)]
        rho = np.exp(-1.0 / _SHADOW_DCORR_M[(spec.model, state)])
        field = sigma * _ar1_along(grid_n, rho, rng, (n_sites,))[idx][:, site_of]
        shadow_db = np.where(los == state, field, shadow_db)
    pl_db = np.stack(
        [pathloss_db(spec.model, d2d_m[:, c], fc_hz[c], los=los[:, c], h_bs_m=spec.h_bs_m, h_ut_m=p.h_ut_m)
         for c in range(n_cells)], axis=1,
    )  # fmt: skip
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

    # Fast fading: complex AR(1) per link and look, ρ = J0(2π f_D Δt); Ricean in LOS.
    f_d = (speed_kmh / 3.6)[:, None] * fc_hz[None, :] / SPEED_OF_LIGHT_M_S  # [rows, cells]
    rho_f = j0(2.0 * np.pi * f_d * dt)
    g = np.empty((num_rows, n_cells, p.fading_looks), dtype=complex)
    w_c = (rng.standard_normal(g.shape) + 1j * rng.standard_normal(g.shape)) / np.sqrt(2.0)
    g[0] = w_c[0]
    for k in range(1, num_rows):
        r = rho_f[k][:, None]
        g[k] = r * g[k - 1] + np.sqrt(np.maximum(1.0 - r**2, 0.0)) * w_c[k]
    k_lin = 10.0 ** (_RICEAN_K_DB / 10.0)
    phase = rng.uniform(0, 2 * np.pi, size=(num_rows, n_cells, 1))
    h_los = np.sqrt(k_lin / (k_lin + 1)) * np.exp(1j * phase) + np.sqrt(1 / (k_lin + 1)) * g
    power = np.where(los[:, :, None], np.abs(h_los) ** 2, np.abs(g) ** 2).mean(axis=2)
    fading_db = 10.0 * np.log10(power)

    p_re_dbm = spec.tx_power_dbm - 10.0 * np.log10(12.0 * n_rb)  # per-RE transmit power
    rsrp_nofade_dbm = p_re_dbm[None, :] - pl_db - shadow_db
    rsrp_all_dbm = rsrp_nofade_dbm + fading_db

    # Serving cell: A3-like handover on the layer-3 filtered, fading-free RSRP (TS 36.331 §5.5.3.2:
    # F_n = (1 − a) F_{n−1} + a M_n, a = 1/2^(k/4)) when a neighbour beats the server by the hysteresis.
    a_l3 = 0.5 ** (p.l3_filter_k / 4.0)
    filt = rsrp_nofade_dbm[0].copy()
    serving = np.empty(num_rows, dtype=int)
    serving[0] = int(np.argmax(filt))
    for k in range(1, num_rows):
        filt = (1.0 - a_l3) * filt + a_l3 * rsrp_nofade_dbm[k]
        best = int(np.argmax(filt))
        cur = serving[k - 1]
        serving[k] = best if filt[best] > filt[cur] + p.handover_hysteresis_db else cur

    # Cell loads: AR(1) in time around the area mean, clipped to [0.02, 0.95].
    rho_l = p.load_rho_per_s**dt
    load = np.clip(spec.mean_load + p.load_sigma * _ar1_along(num_rows, rho_l, rng, (n_cells,)), 0.02, 0.95)
    activity = 1.0 / 6.0 + 5.0 / 6.0 * load

    rows = np.arange(num_rows)
    noise_re_dbm = -174.0 + 10.0 * np.log10(p.subcarrier_spacing_hz) + p.noise_figure_db
    noise_re_mw = 10.0 ** (noise_re_dbm / 10.0)
    rsrp_mw = 10.0 ** (rsrp_all_dbm / 10.0)
    band_idx = np.array([list(BANDS).index(b) for b in bands])
    co_band = band_idx[None, :] == band_idx[serving][:, None]  # [rows, cells]
    co_band[rows, serving] = False
    interf_mw = (activity * rsrp_mw * co_band).sum(axis=1)
    rsrp_s_mw = rsrp_mw[rows, serving]
    sinr_raw = rsrp_s_mw / (noise_re_mw + interf_mw)
    # Transmitter EVM / receiver impairments bound the SINR a UE can measure (1/x-sum with the ceiling).
    sinr_db = -10.0 * np.log10(1.0 / sinr_raw + 10.0 ** (-p.sinr_ceiling_db / 10.0))
    rssi_mw = 12.0 * n_rb[serving] * (activity[rows, serving] * rsrp_s_mw + interf_mw + noise_re_mw)
    rsrq_db = 10.0 * np.log10(n_rb[serving] * rsrp_s_mw / rssi_mw)
    # UE reporting ranges (TS 36.133 Tables 9.1.4-1, 9.1.7-1): RSRP [−140, −44] dBm, RSRQ [−19.5, −3] dB.
    rsrq_db = np.clip(rsrq_db, -19.5, -3.0)
    rsrp_report_dbm = np.clip(rsrp_all_dbm[rows, serving], -140.0, -44.0)

    # Link adaptation on the reported SINR.
    req_db = _mcs_required_sinr_db(p.shannon_alpha)
    reported_db = sinr_db + p.cqi_error_db * rng.standard_normal(num_rows)
    mcs = np.clip(np.searchsorted(req_db, reported_db, side="right") - 1, 0, len(req_db) - 1)
    load_s = load[rows, serving]
    rb = np.clip(np.round(n_rb[serving] * (1.0 - load_s) * rng.uniform(0.5, 1.0, num_rows)), 1, n_rb[serving])
    datarate_mbps = rb * 12 * 14 * 1000 * MCS_SPECTRAL_EFFICIENCY[mcs] * (1.0 - p.overhead) / 1e6

    bler = 1.0 / (1.0 + 9.0 * np.exp((sinr_db - req_db[mcs]) / 1.0))
    retx = np.minimum(rng.geometric(np.clip(1.0 - bler, 1e-3, 1.0)) - 1, p.max_harq_retx)
    ping_ms = (p.ping_base_ms + p.ping_queue_ms * load_s / (1.0 - load_s) + p.harq_rtt_ms * retx
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
