"""Small-scale fading (power gains |h|² with unit mean) and its evolution in time.

Time correlation follows Clarke/Jakes: the complex envelope is a Gauss–Markov (AR(1)) process with
ρ = J0(2π·f_D·Δt), f_D = v·fc/c (REFERENCE.md, "Radio"; Baddour & Beaulieu, IEEE TWC 2005).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import j0

from channels.pathloss import SPEED_OF_LIGHT_MPS

FADING_KINDS = ("rayleigh", "rician", "nakagami", "none")
_PARAMS = {"rayleigh": set(), "rician": {"k_factor_db"}, "nakagami": {"m"}, "none": set()}


def _check_kind(kind: str, params: dict) -> None:
    if kind not in _PARAMS:
        raise ValueError(f"kind: unknown fading kind {kind!r}; known: {', '.join(FADING_KINDS)}")
    extra = set(params) - _PARAMS[kind]
    if extra:
        raise ValueError(
            f"params: fading {kind!r} takes no parameter(s) {sorted(extra)}; allowed: {sorted(_PARAMS[kind]) or 'none'}"
        )


def sample_fading(kind: str, size: int | tuple[int, ...], rng: np.random.Generator, **params: float) -> np.ndarray:
    """Independent power gains |h|² with unit mean.

    - "rayleigh": exponential(1) (|h| Rayleigh).
    - "rician": non-central chi-square with K = 10^(k_factor_db/10) (default 9 dB, TR 38.901 LOS K-factor):
      h = sqrt(K/(K+1)) + sqrt(1/(K+1))·CN(0, 1).
    - "nakagami": Gamma(m, 1/m), m ≥ 0.5 (default 1 = Rayleigh).
    - "none": ones.
    """
    _check_kind(kind, params)
    if kind == "none":
        return np.ones(size)
    if kind == "rayleigh":
        return rng.exponential(1.0, size)
    if kind == "nakagami":
        m = float(params.get("m", 1.0))
        if not m >= 0.5:
            raise ValueError(f"m: must be >= 0.5, got {m}")
        return rng.gamma(m, 1.0 / m, size)
    k = 10.0 ** (float(params.get("k_factor_db", 9.0)) / 10.0)
    w = (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / np.sqrt(2.0)
    h = np.sqrt(k / (k + 1.0)) + np.sqrt(1.0 / (k + 1.0)) * w
    return np.abs(h) ** 2


def doppler_hz(speed_mps: ArrayLike, fc_hz: ArrayLike) -> np.ndarray:
    """Maximum Doppler shift f_D = v·fc/c."""
    return np.asarray(speed_mps, dtype=float) * np.asarray(fc_hz, dtype=float) / SPEED_OF_LIGHT_MPS


def ar1_coefficient(doppler_hz: ArrayLike, dt_s: ArrayLike) -> np.ndarray:
    """Clarke's autocorrelation of the complex envelope at lag Δt: J0(2π·f_D·Δt)."""
    return j0(2.0 * np.pi * np.asarray(doppler_hz, dtype=float) * np.asarray(dt_s, dtype=float))


class FadingProcess:
    """Time-correlated fading for `num` links, advanced step by step (Gauss–Markov, vectorized).

    The diffuse part w evolves as w' = ρ·w + sqrt(1 − ρ²)·n with n ~ CN(0, 1); the gain is
    |sqrt(K/(K+1)) + sqrt(1/(K+1))·w|² for Rician (K = 0: Rayleigh), so every step has unit mean
    and the stationary distribution of `sample_fading`. Nakagami-m is approximated by its Rician
    equivalent K = sqrt(m² − m)/(m − sqrt(m² − m)) (m > 1) or Rayleigh (m = 1); "none" gives ones.
    """

    def __init__(self, kind: str, num: int, rng: np.random.Generator, **params: float) -> None:
        _check_kind(kind, params)
        self.kind = kind
        self.rng = rng
        if kind == "rician":
            self.k_lin = 10.0 ** (float(params.get("k_factor_db", 9.0)) / 10.0)
        elif kind == "nakagami":
            m = float(params.get("m", 1.0))
            if not m >= 0.5:
                raise ValueError(f"m: must be >= 0.5, got {m}")
            root = np.sqrt(max(m * m - m, 0.0))
            self.k_lin = root / (m - root) if m > 1.0 else 0.0
        else:
            self.k_lin = 0.0
        self.w = (rng.standard_normal(num) + 1j * rng.standard_normal(num)) / np.sqrt(2.0)

    def gain_lin(self) -> np.ndarray:
        if self.kind == "none":
            return np.ones(self.w.shape)
        k = self.k_lin
        h = np.sqrt(k / (k + 1.0)) + np.sqrt(1.0 / (k + 1.0)) * self.w
        return np.abs(h) ** 2

    def advance(self, dt_s: float, speed_mps: ArrayLike, fc_hz: ArrayLike) -> np.ndarray:
        """Evolve by dt_s at each link's speed and carrier; return the new power gains [num]."""
        if dt_s < 0:
            raise ValueError(f"dt_s: must be >= 0, got {dt_s}")
        if dt_s > 0:
            rho = ar1_coefficient(doppler_hz(speed_mps, fc_hz), dt_s) * np.ones(self.w.shape)
            n = (self.rng.standard_normal(self.w.shape) + 1j * self.rng.standard_normal(self.w.shape)) / np.sqrt(2.0)
            self.w = rho * self.w + np.sqrt(np.maximum(1.0 - rho**2, 0.0)) * n
        return self.gain_lin()
