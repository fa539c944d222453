"""`fedwireless link-budget`: path loss, SNR, rate, airtime and energy of one payload over a list of distances."""

from __future__ import annotations

import argparse

from fedwireless.commands._common import print_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--distances-m",
        type=float,
        nargs="+",
        default=[50, 100, 200, 500, 1000],
        metavar="M",
        help="horizontal distances to the base station (default: 50 100 200 500 1000)",
    )
    p.add_argument(
        "--model",
        default="36.814",
        help="path-loss model: uma, umi, rma, 36.814, free-space, log-distance (default 36.814)",
    )
    p.add_argument("--fc-ghz", type=float, default=2.0, help="carrier frequency in GHz (default 2)")
    p.add_argument("--bandwidth-mhz", type=float, default=20.0, help="uplink bandwidth in MHz (default 20)")
    p.add_argument("--power-dbm", type=float, default=23.0, help="transmit power in dBm (default 23, UE class 3)")
    p.add_argument("--noise-figure-db", type=float, default=7.0, help="receiver noise figure in dB (default 7)")
    p.add_argument(
        "--payload-kbit",
        type=float,
        default=800.0,
        help="payload in kbit (default 800 = a 100 kB LoRA update)",
    )
    p.add_argument(
        "--los",
        choices=["auto", "los", "nlos"],
        default="auto",
        help="auto: LOS where the model's LOS probability is at least 0.5 (default)",
    )
    p.add_argument("--h-bs-m", type=float, default=None, help="base-station height (default: the model's)")
    p.add_argument("--h-ut-m", type=float, default=1.5, help="device height (default 1.5)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    import channels

    try:
        d = np.asarray(args.distances_m, dtype=float)
        fc_hz = args.fc_ghz * 1e9
        b_hz = args.bandwidth_mhz * 1e6
        if not b_hz > 0:
            raise ValueError(f"--bandwidth-mhz: must be > 0, got {args.bandwidth_mhz}")
        if not args.payload_kbit > 0:
            raise ValueError(f"--payload-kbit: must be > 0, got {args.payload_kbit}")
        p_los = channels.los_probability(args.model, d, h_ut_m=args.h_ut_m)
        los = p_los >= 0.5 if args.los == "auto" else np.full(d.shape, args.los == "los")
        pl_db = channels.pathloss_db(args.model, d, fc_hz, los=los, h_bs_m=args.h_bs_m, h_ut_m=args.h_ut_m)
        p_w = channels.dbm_to_w(args.power_dbm)
        gain = channels.db_to_lin(-pl_db)
        n0 = channels.thermal_noise_psd_w_per_hz(args.noise_figure_db)
        snr = channels.snr_db(p_w, gain, n0, b_hz)
        rate = channels.shannon_rate_bps(b_hz, power_w=p_w, gain_lin=gain, noise_psd_w_per_hz=n0)
        bits = args.payload_kbit * 1e3
        airtime = channels.airtime_s(bits, rate)
        energy = channels.tx_energy_j(p_w, airtime)
    except ValueError as exc:
        return print_error(exc)
    t = Table(
        title=f"link budget — {args.model} at {args.fc_ghz:g} GHz, {args.bandwidth_mhz:g} MHz, "
        f"{args.power_dbm:g} dBm, NF {args.noise_figure_db:g} dB, payload {args.payload_kbit:g} kbit"
    )
    for col in (
        "distance m",
        "P_LOS",
        "LOS",
        "path loss dB",
        "SNR dB",
        "rate Mbit/s",
        "airtime s",
        "energy mJ",
    ):
        t.add_column(col, justify="right")
    for i in range(len(d)):
        t.add_row(
            f"{d[i]:g}",
            f"{p_los[i]:.2f}",
            "yes" if los[i] else "no",
            f"{pl_db[i]:.1f}",
            f"{snr[i]:.1f}",
            f"{rate[i] / 1e6:.2f}",
            f"{airtime[i]:.4g}",
            f"{energy[i] * 1e3:.4g}",
        )
    Console().print(t)
    return 0
