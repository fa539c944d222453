"""Radio physics as pure, vectorized functions (numpy + scipy only): usable on its own as a link-budget library."""

from channels.compute import (
    compute_energy_j_cycles,
    compute_energy_j_flops,
    compute_time_s_cycles,
    compute_time_s_flops,
    cpu_power_w,
    cycles_energy_j,
    cycles_time_s,
)
from channels.fading import FADING_KINDS, FadingProcess, ar1_coefficient, doppler_hz, sample_fading
from channels.link import (
    airtime_s,
    min_bandwidth_hz,
    packet_error_rate,
    packet_success_prob,
    rate_from_snr_bps,
    shannon_rate_bps,
    snr_db,
    snr_lin,
    thermal_noise_psd_w_per_hz,
    tx_energy_j,
)
from channels.pathloss import (
    MODELS as PATHLOSS_MODELS,
)
from channels.pathloss import (
    decorrelation_distance_m,
    los_correlation_distance_m,
    los_from_gaussian,
    los_probability,
    pathloss_db,
    rician_k_factor_db,
    shadowing_sigma_db,
)
from channels.shadowing import ShadowingProcess, ar1_sequence, correlated_shadowing_db
from channels.units import db_to_lin, dbm_to_w, lin_to_db, w_to_dbm

__all__ = [
    "FADING_KINDS",
    "PATHLOSS_MODELS",
    "FadingProcess",
    "ShadowingProcess",
    "airtime_s",
    "ar1_coefficient",
    "ar1_sequence",
    "compute_energy_j_cycles",
    "compute_energy_j_flops",
    "compute_time_s_cycles",
    "compute_time_s_flops",
    "cpu_power_w",
    "cycles_energy_j",
    "cycles_time_s",
    "correlated_shadowing_db",
    "db_to_lin",
    "dbm_to_w",
    "decorrelation_distance_m",
    "doppler_hz",
    "lin_to_db",
    "los_correlation_distance_m",
    "los_from_gaussian",
    "los_probability",
    "min_bandwidth_hz",
    "packet_error_rate",
    "packet_success_prob",
    "rate_from_snr_bps",
    "pathloss_db",
    "rician_k_factor_db",
    "sample_fading",
    "shadowing_sigma_db",
    "shannon_rate_bps",
    "snr_db",
    "snr_lin",
    "thermal_noise_psd_w_per_hz",
    "tx_energy_j",
    "w_to_dbm",
]
