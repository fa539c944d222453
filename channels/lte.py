"""LTE/NR link-level relations used by drive-test traces: measurements, handover, link adaptation.

Sources: RSRP and RSRQ, 3GPP TS 36.214 §5.1.1 and §5.1.3; UE reporting ranges, TS 36.133 Tables 9.1.4-1 and
9.1.7-1; layer-3 filtering and the A3 event, TS 36.331 §5.5.3.2 and §5.5.4.4; MCS index table 1 for PDSCH,
TS 38.214 Table 5.1.3.1-1; attenuated Shannon bound for link adaptation, TR 36.942 Annex A.2; approximate
peak data rate, TS 38.306 §4.1.2; E-UTRA bands, TS 36.101 Table 5.5-1; HARQ round trip of LTE FDD, TS 36.213
§8 (8 subframes). Noise comes from `channels.link.thermal_noise_psd_w_per_hz`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from channels.link import thermal_noise_psd_w_per_hz
from channels.units import lin_to_db, w_to_dbm

# TS 38.214 Table 5.1.3.1-1 (MCS index table 1 for PDSCH): (modulation order Q_m, code rate R x 1024).
MCS_TABLE_1 = (
    (2, 120), (2, 157), (2, 193), (2, 251), (2, 308), (2, 379), (2, 449), (2, 526), (2, 602), (2, 679),
    (4, 340), (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
    (6, 438), (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
    (6, 910), (6, 948),
)  # fmt: skip
MCS_SPECTRAL_EFFICIENCY = np.array([q * r / 1024.0 for q, r in MCS_TABLE_1])  # Q_m·R, bit/s/Hz

SUBCARRIERS_PER_RB = 12
SYMBOLS_PER_SLOT = 14
LTE_SUBCARRIER_SPACING_HZ = 15e3  # one 1 ms slot (subframe) of 14 symbols per 15 kHz numerology
DL_OVERHEAD_FR1 = 0.14  # TS 38.306 §4.1.2, downlink overhead in FR1
DL_SHANNON_ALPHA = 0.6  # TR 36.942 Annex A.2, downlink attenuation of the Shannon bound
HARQ_RTT_MS = 8.0  # LTE FDD: retransmission 8 subframes after the first transmission
# E-UTRA bands used by the drive-test cells: name -> (downlink centre frequency MHz, bandwidth in RBs).
LTE_BANDS: dict[str, tuple[float, int]] = {
    "B20": (806.0, 50),  # DL 791-821 MHz, 10 MHz carrier
    "B3": (1842.5, 100),  # DL 1805-1880 MHz, 20 MHz carrier
    "B1": (2140.0, 75),  # DL 2110-2170 MHz, 15 MHz carrier
    "B7": (2655.0, 100),  # DL 2620-2690 MHz, 20 MHz carrier
}
RSRP_REPORT_RANGE_DBM = (-140.0, -44.0)  # TS 36.133 Table 9.1.4-1
RSRQ_REPORT_RANGE_DB = (-19.5, -3.0)  # TS 36.133 Table 9.1.7-1
REFERENCE_SIGNAL_SHARE = 1.0 / 6.0  # REs of an RB symbol always on (reference signals), the rest follow load


def rsrp_per_re_dbm(tx_power_dbm: ArrayLike, num_rb: ArrayLike, loss_db: ArrayLike) -> np.ndarray:
    """RSRP: received power of one reference-signal RE, the total power spread over 12·N_RB subcarriers."""
    p_re = np.asarray(tx_power_dbm, dtype=float) - 10.0 * np.log10(SUBCARRIERS_PER_RB * np.asarray(num_rb, float))
    return p_re - np.asarray(loss_db, dtype=float)


def noise_per_re_w(subcarrier_spacing_hz: ArrayLike, noise_figure_db: ArrayLike) -> np.ndarray:
    """Thermal noise in one resource element: k·T·NF·Δf."""
    return thermal_noise_psd_w_per_hz(noise_figure_db) * np.asarray(subcarrier_spacing_hz, dtype=float)


def resource_element_activity(load: ArrayLike) -> np.ndarray:
    """Share of a cell's REs that carry power: reference signals always, data REs in proportion to load."""
    return REFERENCE_SIGNAL_SHARE + (1.0 - REFERENCE_SIGNAL_SHARE) * np.asarray(load, dtype=float)


def impairment_limited_sinr_db(sinr_lin: ArrayLike, ceiling_db: float) -> np.ndarray:
    """SINR bounded by transmitter EVM and receiver impairments: 1/(1/SINR + 1/SINR_max), in dB."""
    return -lin_to_db(1.0 / np.asarray(sinr_lin, dtype=float) + 10.0 ** (-ceiling_db / 10.0))


def rsrq_db(num_rb: ArrayLike, rsrp: ArrayLike, rssi_per_subcarrier: ArrayLike) -> np.ndarray:
    """RSRQ = N_RB·RSRP / RSSI, with RSSI measured over 12·N_RB subcarriers (given here per subcarrier, in the
    same linear unit as RSRP)."""
    n_rb = np.asarray(num_rb, dtype=float)
    return lin_to_db(
        n_rb * np.asarray(rsrp, float) / (SUBCARRIERS_PER_RB * n_rb * np.asarray(rssi_per_subcarrier, float))
    )


def reported_rsrp_dbm(rsrp_dbm: ArrayLike) -> np.ndarray:
    """RSRP clipped to the UE reporting range."""
    return np.clip(np.asarray(rsrp_dbm, dtype=float), *RSRP_REPORT_RANGE_DBM)


def reported_rsrq_db(rsrq: ArrayLike) -> np.ndarray:
    """RSRQ clipped to the UE reporting range."""
    return np.clip(np.asarray(rsrq, dtype=float), *RSRQ_REPORT_RANGE_DB)


def l3_filter_weight(filter_coefficient: int) -> float:
    """Weight a of a new measurement in F_n = (1 − a)·F_{n−1} + a·M_n: a = 1/2^(k/4)."""
    return 0.5 ** (filter_coefficient / 4.0)


L3_INPUT_PERIOD_S = 0.2  # TS 36.331 §5.5.3.2: the filter coefficient assumes one measurement per 200 ms


def a3_serving_cells(
    rsrp_dbm: ArrayLike, *, hysteresis_db: float, filter_coefficient: int, sample_period_s: float = L3_INPUT_PERIOD_S
) -> np.ndarray:
    """Serving cell per sample [T] from RSRP [T, cells]: layer-3 filtered; hand over when a neighbour's
    filtered RSRP exceeds the server's by the hysteresis (A3 event, time-to-trigger of one sample).

    Samples `sample_period_s` apart get the weight that keeps the filter's time constant: the 200 ms filter
    applied dt/0.2 times, a' = 1 − (1 − a)^(dt/0.2)."""
    m = np.asarray(rsrp_dbm, dtype=float)
    a = 1.0 - (1.0 - l3_filter_weight(filter_coefficient)) ** (sample_period_s / L3_INPUT_PERIOD_S)
    filt = m[0].copy()
    serving = np.empty(len(m), dtype=int)
    serving[0] = int(np.argmax(filt))
    for k in range(1, len(m)):
        filt = (1.0 - a) * filt + a * m[k]
        best = int(np.argmax(filt))
        cur = serving[k - 1]
        serving[k] = best if filt[best] > filt[cur] + hysteresis_db else cur
    return serving


def mcs_required_sinr_db(shannon_alpha: float) -> np.ndarray:
    """SINR [dB] at which α·log2(1 + SINR) reaches each MCS's spectral efficiency (attenuated Shannon)."""
    if not 0.0 < shannon_alpha <= 1.0:
        raise ValueError(f"shannon_alpha: must be in (0, 1], got {shannon_alpha}")
    return lin_to_db(2.0 ** (MCS_SPECTRAL_EFFICIENCY / shannon_alpha) - 1.0)


def select_mcs(reported_sinr_db: ArrayLike, shannon_alpha: float) -> np.ndarray:
    """Highest MCS whose required SINR the reported SINR reaches (MCS 0 below them all)."""
    req = mcs_required_sinr_db(shannon_alpha)
    idx = np.searchsorted(req, np.asarray(reported_sinr_db, dtype=float), side="right") - 1
    return np.clip(idx, 0, len(req) - 1)


def block_error_rate(sinr_db: ArrayLike, required_sinr_db: ArrayLike, *, slope_db: float = 1.0) -> np.ndarray:
    """BLER 1/(1 + 9·exp((SINR − SINR_mcs)/slope)): 10 % at the MCS's operating point, → 1 below it."""
    x = (np.asarray(sinr_db, dtype=float) - np.asarray(required_sinr_db, dtype=float)) / slope_db
    return 1.0 / (1.0 + 9.0 * np.exp(np.minimum(x, 700.0)))


def peak_rate_mbps(
    resource_blocks: ArrayLike,
    mcs: ArrayLike,
    *,
    overhead: float,
    subcarrier_spacing_hz: float = LTE_SUBCARRIER_SPACING_HZ,
) -> np.ndarray:
    """RB × 12 × 14 symbols × slots/s × SE(MCS) × (1 − overhead), in Mbit/s; 1000 slots/s at 15 kHz, twice as
    many per doubling of the subcarrier spacing (TS 38.306 §4.1.2, one layer)."""
    se = MCS_SPECTRAL_EFFICIENCY[np.asarray(mcs, dtype=int)]
    rb = np.asarray(resource_blocks, dtype=float)
    slots_per_s = 1000.0 * subcarrier_spacing_hz / LTE_SUBCARRIER_SPACING_HZ
    return rb * SUBCARRIERS_PER_RB * SYMBOLS_PER_SLOT * slots_per_s * se * (1.0 - overhead) / 1e6


def harq_retransmissions(bler: ArrayLike, rng: np.random.Generator, *, max_retx: int) -> np.ndarray:
    """Retransmissions until a block gets through, each attempt failing with probability BLER (geometric),
    at most `max_retx`."""
    p_ok = np.clip(1.0 - np.asarray(bler, dtype=float), 1e-3, 1.0)
    return np.minimum(rng.geometric(p_ok) - 1, max_retx)


def queueing_delay_ms(load: ArrayLike, service_ms: float) -> np.ndarray:
    """Mean wait of an M/M/1 queue at utilisation ρ: service·ρ/(1 − ρ)."""
    rho = np.asarray(load, dtype=float)
    return service_ms * rho / (1.0 - rho)


def noise_per_re_dbm(subcarrier_spacing_hz: ArrayLike, noise_figure_db: ArrayLike) -> np.ndarray:
    """`noise_per_re_w` in dBm."""
    return w_to_dbm(noise_per_re_w(subcarrier_spacing_hz, noise_figure_db))
