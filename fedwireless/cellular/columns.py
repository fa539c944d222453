"""Column and area names of the drive-test tables (plain Python: the scenario checks import this)."""

from __future__ import annotations

AREAS = ("Residential", "Park", "Avenue", "Highway", "Tunnel")
TRACE_COLUMNS = (
    "time_s", "x_m", "y_m", "speed_kmh", "area", "cell_id", "band", "frequency_mhz", "rsrp_dbm",
    "rsrq_db", "sinr_db", "mcs", "resource_blocks", "datarate_mbps", "ping_ms",
)  # fmt: skip
DEFAULT_FEATURES = ("speed_kmh", "cell_id", "rsrp_dbm", "rsrq_db", "sinr_db")
DEFAULT_TARGET = "datarate_mbps"
