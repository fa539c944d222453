"""Small-scale fading (power gains |h|² with unit mean) and its evolution in time.

Time correlation follows Clarke's model: the complex envelope's autocorrelation at lag τ is
J0(2π·f_D·τ), f_D = v·fc/c. `FadingProcess` produces it with the sum-of-sinusoids generator of Zheng &
Xiao ("Simulation models with correct statistical properties for Rayleigh fading channels", IEEE Trans.
Commun. 51(6), 2003), evaluated at each link's travelled distance, so the correlation is J0 at every lag
and does not depend on how often the process is sampled.
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
    k = 10.0 ** (np.asarray(params.get("k_factor_db", 9.0), dtype=float) / 10.0)  # scalar, or one per sample
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
    """Time-correlated fading for `num` links: sum of sinusoids, vectorized over links.

    Per link, with M sinusoids (`sinusoids`, default 16), angles α_n = (2πn − π + θ)/(4M) and phases
    φ_n, ϕ_n, θ drawn once, uniform on [−π, π) (Zheng & Xiao 2003):

        X_c(s) = sqrt(2/M) Σ_n cos(k·s·cos α_n + φ_n),   X_s(s) = sqrt(2/M) Σ_n cos(k·s·sin α_n + ϕ_n)
        w(s) = (X_c + j·X_s)/√2,   k = 2π·fc/c,   s = distance the device has travelled.

    Averaged over links, Re E[w(s)·w*(s + Δs)] = J0(k·Δs) exactly (the α_n tile [0, π/2] so the mean over
    θ is Clarke's integral); at constant speed v that is J0(2π·f_D·τ). Because w depends only on the
    travelled distance, sampling the same process on a coarse or a fine time grid gives the same values at
    shared instants, and a static device's channel does not change. Limits: one link's empirical
    autocorrelation over a finite time fluctuates around J0 (it is the average over links, or over long
    times for M → ∞, that equals J0); with M = 16 the envelope is close to, not exactly, Gaussian; the
    process follows the serving carrier, so a handover to another carrier changes k (a new link).

    Rician links (K = 10^(k_factor_db/10)) add a Doppler-shifted line-of-sight term
    sqrt(K/(K+1))·exp(j(k·s·cos θ₀ + φ₀)) with the arrival angle θ₀ relative to the motion drawn uniformly
    per link (the geometry is not tracked), so the gain |sqrt(K/(K+1))·e^{jψ} + sqrt(1/(K+1))·w|² has unit
    mean. Nakagami-m is approximated by its Rician equivalent K = sqrt(m² − m)/(m − sqrt(m² − m)) (m > 1)
    or Rayleigh (m ≤ 1); "none" gives ones.
    """

    def __init__(self, kind: str, num: int, rng: np.random.Generator, *, sinusoids: int = 16, **params: float) -> None:
        _check_kind(kind, params)
        if int(sinusoids) < 1:
            raise ValueError(f"sinusoids: must be >= 1, got {sinusoids}")
        self.kind = kind
        if kind == "rician":
            self.k_lin = 10.0 ** (np.asarray(params.get("k_factor_db", 9.0), dtype=float) / 10.0)  # scalar or [num]
        elif kind == "nakagami":
            m = float(params.get("m", 1.0))
            if not m >= 0.5:
                raise ValueError(f"m: must be >= 0.5, got {m}")
            root = np.sqrt(max(m * m - m, 0.0))
            self.k_lin = root / (m - root) if m > 1.0 else 0.0
        else:
            self.k_lin = 0.0
        m_sin = int(sinusoids)
        n = np.arange(1, m_sin + 1)
        theta = rng.uniform(-np.pi, np.pi, (num, 1))
        alpha = (2.0 * np.pi * n[None, :] - np.pi + theta) / (4.0 * m_sin)  # [num, M]
        self._cos_a, self._sin_a = np.cos(alpha), np.sin(alpha)
        self._phi_c = rng.uniform(-np.pi, np.pi, (num, m_sin))
        self._phi_s = rng.uniform(-np.pi, np.pi, (num, m_sin))
        self._los_cos = np.cos(rng.uniform(-np.pi, np.pi, num))
        self._los_phase = rng.uniform(-np.pi, np.pi, num)
        self._scale = np.sqrt(2.0 / m_sin)
        self.distance_m = np.zeros(num)  # travelled distance of each link's device
        self._k = np.zeros(num)  # wavenumber 2π·fc/c of the last evaluation
        self.w = self.diffuse_at(self.distance_m, np.zeros(num))

    def diffuse_at(self, distance_m: ArrayLike, wavenumber: ArrayLike) -> np.ndarray:
        """The diffuse envelope w [..., num] (unit power) after `distance_m` of travel at wavenumber 2π·fc/c.

        Leading axes (e.g. time) broadcast: distance [T, num] gives the envelope at T instants.
        """
        x = (np.asarray(distance_m, dtype=float) * np.asarray(wavenumber, dtype=float))[..., None]
        xc = self._scale * np.cos(x * self._cos_a + self._phi_c).sum(axis=-1)
        xs = self._scale * np.cos(x * self._sin_a + self._phi_s).sum(axis=-1)
        return (xc + 1j * xs) / np.sqrt(2.0)

    def envelope_at(self, distance_m: ArrayLike, fc_hz: ArrayLike, *, los: ArrayLike | None = None) -> np.ndarray:
        """Complex envelope h [..., num] with unit mean power.

        Rician links carry their LOS term; `los` (broadcast like the distance) keeps it only where True,
        so a link whose line of sight is blocked is Rayleigh with the same diffuse part.
        """
        k_wave = 2.0 * np.pi * np.asarray(fc_hz, dtype=float) / SPEED_OF_LIGHT_MPS * np.ones(len(self._los_cos))
        d = np.asarray(distance_m, dtype=float) * np.ones(len(self._los_cos))
        w = self.diffuse_at(d, k_wave)
        k = self.k_lin if los is None else np.where(np.asarray(los, dtype=bool), self.k_lin, 0.0)
        los_term = np.exp(1j * (k_wave * d * self._los_cos + self._los_phase))
        return np.sqrt(k / (k + 1.0)) * los_term + np.sqrt(1.0 / (k + 1.0)) * w

    def gain_lin(self) -> np.ndarray:
        if self.kind == "none":
            return np.ones(self.distance_m.shape)
        k = self.k_lin
        los = np.exp(1j * (self._k * self.distance_m * self._los_cos + self._los_phase))
        return np.abs(np.sqrt(k / (k + 1.0)) * los + np.sqrt(1.0 / (k + 1.0)) * self.w) ** 2

    def advance(self, dt_s: float, speed_mps: ArrayLike, fc_hz: ArrayLike) -> np.ndarray:
        """Move each link's device dt_s at its speed on its carrier; return the new power gains [num]."""
        if not dt_s >= 0:
            raise ValueError(f"dt_s: must be >= 0, got {dt_s}")
        speed = np.asarray(speed_mps, dtype=float) * np.ones(self.distance_m.shape)
        self.distance_m = self.distance_m + speed * dt_s
        self._k = 2.0 * np.pi * np.asarray(fc_hz, dtype=float) / SPEED_OF_LIGHT_MPS * np.ones(self.distance_m.shape)
        if self.kind != "none":
            self.w = self.diffuse_at(self.distance_m, self._k)
        return self.gain_lin()


class GaussMarkovFading:
    """The first-order (AR(1)) approximation the sum-of-sinusoids generator replaced, kept for comparison.

    w' = ρ·w + sqrt(1 − ρ²)·n, ρ = J0(2π·f_D·Δt): right at the step itself, wrong beyond it (an AR(1)
    decays exponentially, J0 oscillates) and dependent on the step size. benchmarks/bench_channels.py
    times both.
    """

    def __init__(self, num: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.w = (rng.standard_normal(num) + 1j * rng.standard_normal(num)) / np.sqrt(2.0)

    def advance(self, dt_s: float, speed_mps: ArrayLike, fc_hz: ArrayLike) -> np.ndarray:
        rho = ar1_coefficient(doppler_hz(speed_mps, fc_hz), dt_s) * np.ones(self.w.shape)
        n = (self.rng.standard_normal(self.w.shape) + 1j * self.rng.standard_normal(self.w.shape)) / np.sqrt(2.0)
        self.w = rho * self.w + np.sqrt(np.maximum(1.0 - rho**2, 0.0)) * n
        return np.abs(self.w) ** 2
