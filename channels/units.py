"""Unit conversions. The one place where dB, dBm and linear values meet."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def db_to_lin(x_db: ArrayLike) -> np.ndarray:
    """10^(x/10)."""
    return np.power(10.0, np.asarray(x_db, dtype=float) / 10.0)


def lin_to_db(x_lin: ArrayLike) -> np.ndarray:
    """10·log10(x); 0 maps to -inf."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(x_lin, dtype=float))


def dbm_to_w(p_dbm: ArrayLike) -> np.ndarray:
    """Power in dBm to watts: 10^((p − 30)/10)."""
    return db_to_lin(np.asarray(p_dbm, dtype=float) - 30.0)


def w_to_dbm(p_w: ArrayLike) -> np.ndarray:
    """Power in watts to dBm: 10·log10(p) + 30."""
    return lin_to_db(p_w) + 30.0
