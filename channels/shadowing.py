"""Log-normal shadowing, spatially correlated (Gudmundson 1991; TR 38.901 §7.4.4 and Table 7.5-6).

Correlation between two points Δd apart is ρ(Δd) = exp(−Δd/d_corr).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

EXACT_MAX_POINTS = 1500  # above this, the O(n³) exact draw gives way to the O(G log G) grid field
GRID_STEPS_PER_DCORR = 10  # grid spacing d_corr / 10: neighbouring nodes correlate at exp(−0.1) ≈ 0.90
GRID_MAX_SIDE = 2048  # nodes per side before padding; coarser spacing beyond that (very wide areas)


def correlated_shadowing_db(
    positions_m: ArrayLike, sigma_db: ArrayLike, decorrelation_m: float, rng: np.random.Generator
) -> np.ndarray:
    """Jointly Gaussian shadowing [n] at positions [n, 2] with covariance σ_i·σ_j·exp(−‖p_i − p_j‖/d_corr).

    Up to `EXACT_MAX_POINTS` points: exact, through an eigen-decomposition (robust where points nearly
    coincide and the matrix is only semi-definite). Beyond: `grid_shadowing_db`, a Gaussian field on a
    grid by circulant embedding, interpolated to the points (approximate correlation, exact variance).
    """
    pos = np.asarray(positions_m, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions_m: must have shape [n, 2], got {pos.shape}")
    if not decorrelation_m > 0:
        raise ValueError(f"decorrelation_m: must be > 0, got {decorrelation_m}")
    n = len(pos)
    sigma = np.broadcast_to(np.asarray(sigma_db, dtype=float), (n,))
    if np.any(sigma < 0):
        raise ValueError(f"sigma_db: must be >= 0, got {sigma[sigma < 0][:3].tolist()}")
    if n == 0:
        return np.zeros(0)
    if n > EXACT_MAX_POINTS:
        return sigma * grid_shadowing_db(pos, decorrelation_m, rng)
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    corr = np.exp(-dist / decorrelation_m)
    vals, vecs = np.linalg.eigh(corr)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return sigma * (root @ rng.standard_normal(n))


def grid_shadowing_db(positions_m: np.ndarray, decorrelation_m: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance field with correlation ≈ exp(−Δd/d_corr) at `positions_m` [n, 2], in O(G log G).

    The field lives on a square grid (spacing d_corr/10) and is drawn by circulant embedding (Dietrich &
    Newsam 1997): the exponential kernel on a torus twice the grid's size, its FFT as the spectrum
    (negative eigenvalues, from the embedding, clipped to 0), white noise shaped by its square root.
    Points take the bilinear interpolation of their four nodes, divided by that combination's standard
    deviation so that each point's variance is exactly 1; correlations between points closer than a
    grid step are slightly above the exact ones.
    """
    lo = positions_m.min(axis=0)
    extent = float(np.max(positions_m.max(axis=0) - lo))
    h = max(decorrelation_m / GRID_STEPS_PER_DCORR, extent / (GRID_MAX_SIDE - 2), 1e-9)
    side = int(np.ceil(extent / h)) + 2
    m = 2 * side  # torus twice the grid: the kernel does not wrap onto the grid itself
    k = np.minimum(np.arange(m), m - np.arange(m)) * h
    kernel = np.exp(-np.hypot(k[:, None], k[None, :]) / decorrelation_m)
    spectrum = np.clip(np.fft.fft2(kernel).real, 0.0, None)
    noise = rng.standard_normal((m, m)) + 1j * rng.standard_normal((m, m))
    field = np.fft.fft2(np.sqrt(spectrum / (m * m)) * noise).real[:side, :side]
    field /= np.sqrt(np.clip(spectrum.sum() / (m * m), 1e-300, None))  # unit variance at the nodes
    u = (positions_m - lo) / h
    i = np.clip(np.floor(u).astype(int), 0, side - 2)
    f = u - i
    w = np.stack([(1 - f[:, 0]) * (1 - f[:, 1]), f[:, 0] * (1 - f[:, 1]), (1 - f[:, 0]) * f[:, 1], f[:, 0] * f[:, 1]])
    nodes = np.stack([field[i[:, 0], i[:, 1]], field[i[:, 0] + 1, i[:, 1]], field[i[:, 0], i[:, 1] + 1],
                      field[i[:, 0] + 1, i[:, 1] + 1]])  # fmt: skip
    a, b = np.exp(-h / decorrelation_m), np.exp(-np.sqrt(2) * h / decorrelation_m)
    # Variance of Σ w_j x_j with node correlations a (edge neighbours) and b (diagonal ones).
    var = (
        (w**2).sum(axis=0)
        + 2 * a * (w[0] * w[1] + w[0] * w[2] + w[1] * w[3] + w[2] * w[3])
        + 2 * b * (w[0] * w[3] + w[1] * w[2])
    )
    return (w * nodes).sum(axis=0) / np.sqrt(var)


def ar1_sequence(num: int, rho: float, rng: np.random.Generator, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Unit-variance stationary Gaussian AR(1), `num` steps along axis 0: x_k = ρ·x_{k−1} + sqrt(1 − ρ²)·w_k.

    On a grid of spacing Δd with ρ = exp(−Δd/d_corr) it is Gudmundson's shadowing along a track.
    """
    if not -1.0 <= rho <= 1.0:
        raise ValueError(f"rho: must be in [-1, 1], got {rho}")
    out = np.empty((num, *shape))
    out[0] = rng.standard_normal(shape)
    innov = rng.standard_normal((num, *shape)) * np.sqrt(1.0 - rho**2)
    for k in range(1, num):
        out[k] = rho * out[k - 1] + innov[k]
    return out


class ShadowingProcess:
    """Shadowing along each device's track: AR(1) in distance travelled, coefficient exp(−Δd/d_corr).

    s' = a·s + sqrt(1 − a²)·σ·n keeps the marginal N(0, σ²) and gives Gudmundson's correlation
    exp(−Δd/d_corr) between any two points of a straight track.
    """

    def __init__(
        self, initial_db: ArrayLike, sigma_db: ArrayLike, decorrelation_m: ArrayLike, rng: np.random.Generator
    ) -> None:
        self.shadow_db = np.array(initial_db, dtype=float)
        self.sigma_db = np.broadcast_to(np.asarray(sigma_db, dtype=float), self.shadow_db.shape).copy()
        self.decorrelation_m = np.broadcast_to(np.asarray(decorrelation_m, dtype=float), self.shadow_db.shape)
        if np.any(self.decorrelation_m <= 0):
            raise ValueError(f"decorrelation_m: must be > 0, got {np.ravel(self.decorrelation_m)[:3].tolist()}")
        self.rng = rng

    def step(self, moved_m: ArrayLike) -> np.ndarray:
        """Advance each device by the distance it moved [n]; return the new shadowing in dB."""
        moved = np.broadcast_to(np.asarray(moved_m, dtype=float), self.shadow_db.shape)
        if np.any(moved < 0):
            raise ValueError(f"moved_m: must be >= 0, got {moved[moved < 0][:3].tolist()}")
        a = np.exp(-moved / self.decorrelation_m)
        n = self.rng.standard_normal(self.shadow_db.shape)
        self.shadow_db = a * self.shadow_db + np.sqrt(1.0 - a**2) * self.sigma_db * n
        return self.shadow_db.copy()
