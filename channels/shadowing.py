"""Log-normal shadowing, spatially correlated (Gudmundson 1991; TR 38.901 §7.4.4 and Table 7.5-6).

Correlation between two points Δd apart is ρ(Δd) = exp(−Δd/d_corr).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def correlated_shadowing_db(
    positions_m: ArrayLike, sigma_db: ArrayLike, decorrelation_m: float, rng: np.random.Generator
) -> np.ndarray:
    """Jointly Gaussian shadowing [n] at positions [n, 2] with covariance σ_i·σ_j·exp(−‖p_i − p_j‖/d_corr).

    Drawn through an eigen-decomposition (robust where points nearly coincide and the matrix is
    only semi-definite).
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
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    corr = np.exp(-dist / decorrelation_m)
    vals, vecs = np.linalg.eigh(corr)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return sigma * (root @ rng.standard_normal(n))


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
