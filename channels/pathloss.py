"""Path loss and LOS probability: 3GPP TR 38.901 §7.4.1–7.4.2, TR 36.814, free space, log-distance.

Distances in metres, carrier in Hz (the 38.901 formulas take fc in GHz; converted here), heights in
metres. Everything broadcasts over arrays. Below a model's minimum 2-D distance (10 m for UMa, UMi and
RMa) the distance is clamped to that minimum: the spec does not define the formulas there, and the
clamp keeps the loss monotone. Beyond the maximum (5 km UMa/UMi, 10 km RMa) the formulas are
extrapolated as written.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

SPEED_OF_LIGHT_MPS = 299_792_458.0
# TR 38.901 Table 7.4.1-1 note 1 fixes c = 3.0·10⁸ m/s in the breakpoint distance; Friis and Doppler use the exact c.
SPEC_C_MPS = 3.0e8

# TR 38.901 Table 7.4.1-1 / 7.2-1 defaults and validity ranges; Table 7.5-6 shadowing decorrelation and
# Rician K (LOS); Table 7.6.3.1-2 LOS-state correlation distance (others: 50 m, our choice).
MODELS: dict[str, dict[str, Any]] = {
    "uma": {
        "h_bs_m": 25.0,
        "fc_ghz": (0.5, 100.0),
        "min_d2d_m": 10.0,
        "sigma_db": (4.0, 6.0),
        "dcorr_m": (37.0, 50.0),
        "los_dcorr_m": 50.0,
        "max_d2d_m": 5000.0,
        "k_factor_db": 9.0,
    },
    "umi": {
        "h_bs_m": 10.0,
        "fc_ghz": (0.5, 100.0),
        "min_d2d_m": 10.0,
        "sigma_db": (4.0, 7.82),
        "dcorr_m": (10.0, 13.0),
        "los_dcorr_m": 50.0,
        "max_d2d_m": 5000.0,
        "k_factor_db": 9.0,
    },
    "rma": {
        "h_bs_m": 35.0,
        "fc_ghz": (0.5, 30.0),
        "min_d2d_m": 10.0,
        "sigma_db": (4.0, 8.0),  # LOS: 4 dB up to the breakpoint, 6 dB beyond (RMA_LOS_SIGMA2_DB)
        "dcorr_m": (37.0, 120.0),
        "los_dcorr_m": 60.0,
        "max_d2d_m": 10000.0,  # LOS; NLOS is specified up to 5 km (extrapolated beyond, see pathloss_db)
        "k_factor_db": 7.0,
    },
    "36.814": {
        "h_bs_m": 25.0,
        "fc_ghz": (0.45, 6.0),
        "min_d2d_m": 35.0,  # TR 36.814 Table A.2.1.1-2: minimum UE–eNB distance
        "sigma_db": (8.0, 8.0),
        "dcorr_m": (50.0, 50.0),
        "los_dcorr_m": 50.0,
        "max_d2d_m": float("inf"),
        "k_factor_db": 9.0,
    },
    "free-space": {
        "h_bs_m": 25.0,
        "fc_ghz": (1e-3, 1e3),
        "min_d2d_m": 1.0,
        "sigma_db": (0.0, 0.0),
        "dcorr_m": (50.0, 50.0),
        "los_dcorr_m": 50.0,
        "max_d2d_m": float("inf"),
        "k_factor_db": 9.0,
    },
    "log-distance": {
        "h_bs_m": 25.0,
        "fc_ghz": (1e-3, 1e3),
        "min_d2d_m": 1.0,
        "sigma_db": (8.0, 8.0),
        "dcorr_m": (50.0, 50.0),
        "los_dcorr_m": 50.0,
        "max_d2d_m": float("inf"),
        "k_factor_db": 9.0,
    },
}
RMA_LOS_SIGMA2_DB = 6.0  # TR 38.901 Table 7.4.1-1: RMa LOS shadowing beyond the breakpoint
RMA_NLOS_MAX_D2D_M = 5000.0
RMA_BUILDING_HEIGHT_M = 5.0  # TR 38.901 RMa default h
RMA_STREET_WIDTH_M = 20.0  # TR 38.901 RMa default W


def _model(model: str) -> dict[str, Any]:
    if model not in MODELS:
        raise ValueError(f"model: unknown path-loss model {model!r}; known: {', '.join(MODELS)}")
    return MODELS[model]


def _check_positive(name: str, x: np.ndarray) -> None:
    if np.any(np.isnan(x)):
        raise ValueError(f"{name}: must not be NaN, got {x[np.isnan(x)].ravel()[:3].tolist()}")
    if np.any(x <= 0):
        raise ValueError(f"{name}: must be > 0, got {x[x <= 0].ravel()[:3].tolist()}")


def _check_fc(model: str, fc_hz: np.ndarray) -> np.ndarray:
    _check_positive("fc_hz", fc_hz)
    lo, hi = _model(model)["fc_ghz"]
    fc_ghz = fc_hz / 1e9
    if np.any((fc_ghz < lo) | (fc_ghz > hi)):
        bad = fc_hz[(fc_ghz < lo) | (fc_ghz > hi)].ravel()[:3].tolist()
        raise ValueError(f"fc_hz: model {model!r} is valid for {lo:g}–{hi:g} GHz, got {bad} Hz")
    return fc_ghz


def _breakpoint_m(h_bs_m: np.ndarray, h_ut_m: np.ndarray, fc_hz: np.ndarray, h_e_m: float) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1 note 1: d'BP = 4·h'BS·h'UT·fc/c with effective heights h' = h − hE."""
    return 4.0 * (h_bs_m - h_e_m) * (h_ut_m - h_e_m) * fc_hz / SPEC_C_MPS


def _rma_breakpoint_m(h_bs_m, h_ut_m, fc_hz):
    """TR 38.901 Table 7.4.1-1 note 5: d_BP = 2π·hBS·hUT·fc/c with the actual heights."""
    return 2.0 * np.pi * h_bs_m * h_ut_m * fc_hz / SPEC_C_MPS


def _uma(d2d, d3d, fc_ghz, fc_hz, h_bs, h_ut, los):
    # hE = 1 m: the deterministic choice; the spec's random hE for UMa (prob. 1/(1+C)) is not modelled.
    dbp = _breakpoint_m(h_bs, h_ut, fc_hz, 1.0)
    pl1 = 28.0 + 22.0 * np.log10(d3d) + 20.0 * np.log10(fc_ghz)
    pl2 = 28.0 + 40.0 * np.log10(d3d) + 20.0 * np.log10(fc_ghz) - 9.0 * np.log10(dbp**2 + (h_bs - h_ut) ** 2)
    pl_los = np.where(d2d <= dbp, pl1, pl2)
    pl_nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(fc_ghz) - 0.6 * (h_ut - 1.5)
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))


def _umi(d2d, d3d, fc_ghz, fc_hz, h_bs, h_ut, los):
    dbp = _breakpoint_m(h_bs, h_ut, fc_hz, 1.0)
    pl1 = 32.4 + 21.0 * np.log10(d3d) + 20.0 * np.log10(fc_ghz)
    pl2 = 32.4 + 40.0 * np.log10(d3d) + 20.0 * np.log10(fc_ghz) - 9.5 * np.log10(dbp**2 + (h_bs - h_ut) ** 2)
    pl_los = np.where(d2d <= dbp, pl1, pl2)
    pl_nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(fc_ghz) - 0.3 * (h_ut - 1.5)
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))


def _rma(d2d, d3d, fc_ghz, fc_hz, h_bs, h_ut, los):
    h, w = RMA_BUILDING_HEIGHT_M, RMA_STREET_WIDTH_M
    dbp = _rma_breakpoint_m(h_bs, h_ut, fc_hz)

    def pl1(d):
        return (
            20.0 * np.log10(40.0 * np.pi * d * fc_ghz / 3.0)
            + np.minimum(0.03 * h**1.72, 10.0) * np.log10(d)
            - np.minimum(0.044 * h**1.72, 14.77)
            + 0.002 * np.log10(h) * d
        )

    pl_los = np.where(d2d <= dbp, pl1(d3d), pl1(dbp) + 40.0 * np.log10(d3d / dbp))
    pl_nlos = (
        161.04
        - 7.1 * np.log10(w)
        + 7.5 * np.log10(h)
        - (24.37 - 3.7 * (h / h_bs) ** 2) * np.log10(h_bs)
        + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d3d) - 3.0)
        + 20.0 * np.log10(fc_ghz)
        - (3.2 * np.log10(11.75 * h_ut) ** 2 - 4.97)
    )
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))


def pathloss_db(
    model: str,
    d2d_m: ArrayLike,
    fc_hz: ArrayLike,
    *,
    los: ArrayLike,
    h_bs_m: ArrayLike | None = None,
    h_ut_m: ArrayLike = 1.5,
    **params: float,
) -> np.ndarray:
    """Path loss in dB. Broadcasts over d2d_m, fc_hz, los, h_bs_m and h_ut_m.

    model:
      - "uma", "umi", "rma": TR 38.901 Table 7.4.1-1 (LOS with the breakpoint distance, NLOS as
        max(PL_LOS, PL'_NLOS)).
      - "36.814": TR 36.814 Table B.1.2.1-1 macro, 128.1 + 37.6·log10(d[km]) at 2 GHz (carrier-independent).
      - "free-space": Friis, 20·log10(4π·d3D·fc/c).
      - "log-distance": pl0_db + 10·exponent·log10(d3D/d0_m), keyword arguments pl0_db (default:
        free-space loss at d0_m), d0_m (1 m), exponent (3.0).
    h_bs_m=None means the model's default height (UMa 25 m, UMi 10 m, RMa 35 m).
    """
    spec = _model(model)
    allowed = {"pl0_db", "d0_m", "exponent"} if model == "log-distance" else set()
    extra = set(params) - allowed
    if extra:
        raise ValueError(
            f"params: model {model!r} takes no parameter(s) {sorted(extra)}; allowed: {sorted(allowed) or 'none'}"
        )
    d2d = np.asarray(d2d_m, dtype=float)
    _check_positive("d2d_m", d2d)
    fc = np.asarray(fc_hz, dtype=float)
    fc_ghz = _check_fc(model, fc)
    h_bs = np.asarray(spec["h_bs_m"] if h_bs_m is None else h_bs_m, dtype=float)
    h_ut = np.asarray(h_ut_m, dtype=float)
    _check_positive("h_bs_m", h_bs)
    _check_positive("h_ut_m", h_ut)
    los_b = np.asarray(los, dtype=bool)
    d2d = np.maximum(d2d, spec["min_d2d_m"])
    d3d = np.sqrt(d2d**2 + (h_bs - h_ut) ** 2)
    if model == "uma":
        return _uma(d2d, d3d, fc_ghz, fc, h_bs, h_ut, los_b)
    if model == "umi":
        return _umi(d2d, d3d, fc_ghz, fc, h_bs, h_ut, los_b)
    if model == "rma":
        return _rma(d2d, d3d, fc_ghz, fc, h_bs, h_ut, los_b)
    if model == "36.814":
        return np.broadcast_to(
            128.1 + 37.6 * np.log10(d2d / 1000.0), np.broadcast_shapes(d2d.shape, fc.shape, los_b.shape)
        ).copy()
    fspl = 20.0 * np.log10(4.0 * np.pi * d3d * fc / SPEED_OF_LIGHT_MPS)
    if model == "free-space":
        return fspl + 0.0 * los_b
    d0 = float(params.get("d0_m", 1.0))
    exponent = float(params.get("exponent", 3.0))
    if d0 <= 0:
        raise ValueError(f"d0_m: must be > 0, got {d0}")
    pl0 = params.get("pl0_db")
    pl0_db = 20.0 * np.log10(4.0 * np.pi * d0 * fc / SPEED_OF_LIGHT_MPS) if pl0 is None else float(pl0)
    return pl0_db + 10.0 * exponent * np.log10(np.maximum(d3d, d0) / d0) + 0.0 * los_b


def los_probability(model: str, d2d_m: ArrayLike, h_ut_m: ArrayLike = 1.5) -> np.ndarray:
    """LOS probability, TR 38.901 Table 7.4.2-1 (UMa with the C'(hUT) height term, UMi, RMa).

    The 36.814, free-space and log-distance models have no LOS state: they return 1.
    """
    _model(model)
    d2d = np.asarray(d2d_m, dtype=float)
    _check_positive("d2d_m", d2d)
    h_ut = np.asarray(h_ut_m, dtype=float)
    _check_positive("h_ut_m", h_ut)
    if model == "umi":
        p = 18.0 / d2d + np.exp(-d2d / 36.0) * (1.0 - 18.0 / d2d)
        return np.where(d2d <= 18.0, 1.0, p) * np.ones_like(h_ut)
    if model == "uma":
        c = np.where(h_ut <= 13.0, 0.0, (np.maximum(h_ut - 13.0, 0.0) / 10.0) ** 1.5)
        p = (18.0 / d2d + np.exp(-d2d / 63.0) * (1.0 - 18.0 / d2d)) * (
            1.0 + c * 5.0 / 4.0 * (d2d / 100.0) ** 3 * np.exp(-d2d / 150.0)
        )
        # The spec's UMa formula slightly exceeds 1 beyond 18 m for hUT > 13 m: a probability is clipped.
        return np.where(d2d <= 18.0, 1.0, np.minimum(p, 1.0))
    if model == "rma":
        return np.where(d2d <= 10.0, 1.0, np.exp(-(d2d - 10.0) / 1000.0)) * np.ones_like(h_ut)
    return np.ones(np.broadcast_shapes(d2d.shape, h_ut.shape))


def shadowing_sigma_db(
    model: str,
    los: ArrayLike,
    *,
    d2d_m: ArrayLike | None = None,
    fc_hz: ArrayLike | None = None,
    h_bs_m: ArrayLike | None = None,
    h_ut_m: ArrayLike = 1.5,
) -> np.ndarray:
    """Log-normal shadowing standard deviation, TR 38.901 Table 7.4.1-1 (36.814: 8 dB).

    RMa LOS has 4 dB up to the breakpoint distance and 6 dB beyond it: give d2d_m and fc_hz (and the
    heights) to get the second; without them RMa LOS is 4 dB.
    """
    spec = _model(model)
    s_los, s_nlos = spec["sigma_db"]
    los_b = np.asarray(los, dtype=bool)
    sigma = np.where(los_b, s_los, s_nlos).astype(float)
    if model == "rma" and d2d_m is not None and fc_hz is not None:
        h_bs = np.asarray(spec["h_bs_m"] if h_bs_m is None else h_bs_m, dtype=float)
        beyond = np.asarray(d2d_m, dtype=float) > _rma_breakpoint_m(h_bs, np.asarray(h_ut_m, dtype=float), fc_hz)
        sigma = np.where(los_b & beyond, RMA_LOS_SIGMA2_DB, sigma)
    return sigma


def los_correlation_distance_m(model: str) -> float:
    """Correlation distance of the LOS state, TR 38.901 Table 7.6.3.1-2 (UMa/UMi 50 m, RMa 60 m; others 50 m)."""
    return float(_model(model)["los_dcorr_m"])


def rician_k_factor_db(model: str) -> float:
    """LOS Rician K-factor, TR 38.901 Table 7.5-6 (UMa/UMi 9 dB, RMa 7 dB; other models 9 dB)."""
    return float(_model(model)["k_factor_db"])


def los_from_gaussian(los_probability_: ArrayLike, z: ArrayLike) -> np.ndarray:
    """LOS where Φ(z) < P_LOS: a spatially consistent uniform variable Φ(z) against the LOS probability.

    TR 38.901 §7.6.3.3 compares a spatially consistent uniform random variable with P_LOS; here z is a
    standard normal field correlated over the LOS correlation distance (the documented simplification:
    the correlation exp(−Δd/d_corr) is that of z, not of Φ(z)).
    """
    return ndtr(np.asarray(z, dtype=float)) < np.asarray(los_probability_, dtype=float)


def decorrelation_distance_m(model: str, los: ArrayLike) -> np.ndarray:
    """Shadowing decorrelation distance, TR 38.901 Table 7.5-6 (36.814 and others: 50 m)."""
    d_los, d_nlos = _model(model)["dcorr_m"]
    return np.where(np.asarray(los, dtype=bool), d_los, d_nlos).astype(float)
