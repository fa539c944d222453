"""Plots of a sweep directory, from index.csv and each point's tables only."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fedwireless.outputs.layout import INDEX_FILE, SCENARIO_FILE, SUMMARY_FILE, point_dirs, read_run
from fedwireless.plotting.common import ci95, integer_ticks, pareto_front, pyplot, save

# The devices.csv columns the sweep figures use: a large run's whole table need not be read.
DEVICE_COLUMNS_DRAWN = ["round", "device", "queue", "energy_j", "energy_budget_j", "eval_reward", "eval_reward_global"]


def _value(v) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _label(row: dict, keys: list[str], policy: dict, show_policy: bool) -> str:
    """Group label: the policy with its parameters (left out when every point has the same and another key
    tells the points apart), plus every other swept key with a value at this point, except the seed; wrapped."""
    params = " ".join(f"{k}={v}" for k, v in sorted((policy.get("params") or {}).items()))
    parts = []
    for k in keys:
        v = row.get(k)
        if k != "seed" and not k.startswith("policy") and v is not None and not (isinstance(v, float) and np.isnan(v)):
            parts.append(f"{k.split('.')[-1]}={_value(v)}")
    if show_policy or not parts:
        parts.insert(0, f"{policy.get('name')} {params}".strip())
    return textwrap.fill(", ".join(parts), 70)


def _tables(sweep_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    index = pd.read_csv(sweep_dir / INDEX_FILE)
    # index.csv lists point_id, then the swept keys, then status and the results (sweep.write_index).
    cols = list(index.columns)
    keys = cols[1 : cols.index("status")]
    runs, rounds, devices = [], [], []
    points = [(row, run_dir, yaml.safe_load((run_dir / SCENARIO_FILE).read_text())["policy"])
              for row, run_dir in point_dirs(sweep_dir)]  # fmt: skip
    one_policy = len({json.dumps(policy, sort_keys=True) for _, _, policy in points}) == 1
    for row, run_dir, policy in points:
        label = _label(row, keys, policy, show_policy=not one_policy)
        r, d = read_run(run_dir, DEVICE_COLUMNS_DRAWN)
        r, d = r.assign(group=label, point=row["point_id"]), d.assign(group=label, point=row["point_id"])
        # From the summary: devices.csv may hold a sample of the devices, or none (output.device_rows).
        k = json.loads((run_dir / SUMMARY_FILE).read_text())["num_devices"]
        n_rounds = int(r["round"].max())
        runs.append(
            {
                **row,
                "group": label,
                "energy_per_device_round_j": r["energy_j"].sum() / (k * max(n_rounds, 1)),
                "uplink_per_device_round_kb": r["uplink_bits"].sum() / (8e3 * k * max(n_rounds, 1)),
                "mean_queue_j": d["queue"].mean() if "queue" in d else np.nan,  # asynchronous: rows per dispatch
                "V": (policy.get("params") or {}).get("V"),
            }
        )
        rounds.append(r)
        devices.append(d)
    if not runs:
        raise FileNotFoundError(f"{sweep_dir}: no finished points to plot")
    return pd.DataFrame(runs), pd.concat(rounds), pd.concat(devices), keys


def _device_rewards(plt, devices: pd.DataFrame, out: Path) -> Path:
    """Per setting, each device's last-round reward with its own model and with the global model (mean over seeds)."""
    last = devices[devices["round"] == devices.groupby("point")["round"].transform("max")]
    table = (
        last.groupby(["group", "device"])
        .agg(reward=("eval_reward", "mean"), reward_global=("eval_reward_global", "mean"), seeds=("point", "nunique"))
        .reset_index()
    )
    names = sorted(table["group"].unique())
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 2.6 * len(names)), sharex=True, sharey=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        part = table[table["group"] == name]
        ax.bar(part["device"] - 0.2, part["reward"], width=0.4, label="own (personalized) model")
        ax.bar(part["device"] + 0.2, part["reward_global"], width=0.4, label="global model")
        ax.set_title(name, fontsize=8)
        ax.set_ylabel("reward")
        ax.grid(alpha=0.3, axis="y")
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("device")
    integer_ticks(axes[-1, 0])
    fig.suptitle("Last-round reward of each device's greedy answers at its preference (mean over seeds)")
    table.to_csv(out / "device_reward.csv", index=False, float_format="%.9g")
    return save(fig, out / "device_reward.png")


def plot_sweep(sweep_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    plt = pyplot()
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir else sweep_dir
    runs, rounds, devices, keys = _tables(sweep_dir)
    out.mkdir(parents=True, exist_ok=True)
    uplink = ("uplink_per_device_round_kb", "uplink_kb", "average uplink on air per device per round (kB)")
    # Asynchronous points' rows are server steps, not rounds: they have their own figures below.
    by_round = rounds[rounds.groupby("point")["evaluated"].transform("count") == 0] if "evaluated" in rounds else rounds
    written = [
        _energy_vs_accuracy(plt, runs, out),
        _cost_vs_metric(plt, runs, out, uplink, ("final_accuracy", "a", "final accuracy"), "uplink_vs_accuracy"),
        _accuracy_per_setting(plt, by_round, out),
        _accuracy_vs_cumulative(plt, by_round, out, "uplink_bits", "uplink_cum_bits", 8e6,
                                "cumulative uplink on air (MB, all devices, cut-off uploads included)"),
        _accuracy_vs_cumulative(plt, by_round, out, "energy_j", "energy_cum_j", 1.0,
                                "cumulative energy (J, all devices)"),
    ]  # fmt: skip
    if "evaluated" in rounds:  # asynchronous points: their rows are server steps, not rounds that line up
        energy = ("energy_cum_j", "cumulative energy (J, all devices)")
        written += [_accuracy_on_grid(plt, rounds, out, "sim_time_s", "simulated time (s)"),
                    _accuracy_on_grid(plt, rounds, out, *energy)]  # fmt: skip
    if "compression_ratio" in rounds and rounds["compression_ratio"].min() < 0.99:  # some update was compressed
        written.append(_compression_per_round(plt, rounds, out))
    if "eval_reward" in devices and devices["eval_reward"].notna().any():  # personalized fine-tuning
        if "final_reward" in runs and runs["final_reward"].notna().any():  # an index.csv of older sweeps has none
            reward = ("final_reward", "reward", "final reward, own model")
            written.append(_cost_vs_metric(plt, runs, out, uplink, reward, "uplink_vs_reward"))
        written.append(_device_rewards(plt, devices, out))
    if len(devices):  # none where every point ran with output.device_rows: none
        written.append(_device_energy(plt, devices, out))
    lyapunov = _lyapunov_vs_v(plt, runs, out)
    return written + ([lyapunov] if lyapunov is not None else [])


MARKERS = "osD^vP X*<>ph".replace(" ", "")


def _energy_vs_accuracy(plt, runs: pd.DataFrame, out: Path) -> Path:
    """Energy against final accuracy per setting (`_cost_vs_metric`); CSV columns e (energy) and a (accuracy)."""
    energy = ("energy_per_device_round_j", "e", "average energy per device per round (J)")
    return _cost_vs_metric(plt, runs, out, energy, ("final_accuracy", "a", "final accuracy"), "energy_vs_accuracy")


def _cost_vs_metric(plt, runs: pd.DataFrame, out: Path, cost: tuple, metric: tuple, stem: str) -> Path:
    """A cost (energy, uplink) against a metric in [0, 1] per setting: every seed's point, the mean with a 95 %
    t-interval clipped to the metric's range (and the cost to ≥ 0), settings whose means coincide named in the
    legend, and the Pareto-optimal settings (less cost, more metric) ringed. `cost` and `metric` are (column of
    `runs`, short name in the CSV, axis label); `stem` names the PNG and its two CSVs."""
    (xcol, x, xlabel), (ycol, y, ylabel) = cost, metric
    g = runs.groupby("group").agg(e=(xcol, "mean"), e_sd=(xcol, "std"), a=(ycol, "mean"), a_sd=(ycol, "std"),
                                  n=(ycol, "count"))  # fmt: skip
    g["e_ci95"] = [ci95(sd, int(n)) for sd, n in zip(g.e_sd, g.n)]
    g["a_ci95"] = [ci95(sd, int(n)) for sd, n in zip(g.a_sd, g.n)]
    g["e_lo"], g["e_hi"] = np.maximum(g.e - g.e_ci95, 0.0), g.e + g.e_ci95
    g["a_lo"], g["a_hi"] = np.clip(g.a - g.a_ci95, 0.0, 1.0), np.clip(g.a + g.a_ci95, 0.0, 1.0)
    g["clipped"] = (g.a - g.a_ci95 < 0) | (g.a + g.a_ci95 > 1) | (g.e - g.e_ci95 < 0)
    front = pareto_front(list(zip(g.e, g.a)))
    g["pareto"] = [i in front for i in range(len(g))]
    names = list(g.index)

    def same(o: str, n: str) -> bool:
        return bool(np.isclose(g.e[o], g.e[n], rtol=1e-9) and np.isclose(g.a[o], g.a[n], rtol=1e-9))

    # A setting whose mean lands on an earlier one's is drawn hollow and larger, and named after it.
    g["same_as"] = [next((o for o in names[:i] if same(o, n)), "") for i, n in enumerate(names)]
    fig, ax = plt.subplots(figsize=(10, 5))
    for i, (name, r) in enumerate(g.iterrows()):
        marker = MARKERS[i % len(MARKERS)]
        seeds = runs[runs["group"] == name]
        line = ax.errorbar(r.e, r.a, xerr=[[r.e - r.e_lo], [r.e_hi - r.e]], yerr=[[r.a - r.a_lo], [r.a_hi - r.a]],
                           fmt=marker, ms=9 if r.same_as else 6, mfc="none" if r.same_as else None, capsize=3,
                           label=f"{name} (n={int(r.n)})" + (f" = {r.same_as}" if r.same_as else ""))  # fmt: skip
        ax.scatter(seeds[xcol], seeds[ycol], marker=marker, s=14, alpha=0.35, color=line[0].get_color())
        if r.pareto:
            ax.scatter([r.e], [r.a], s=260, facecolors="none", edgecolors="k", lw=1)
    ax.plot(g.e.iloc[front], g.a.iloc[front], "k--", lw=1)
    ax.scatter([], [], s=120, facecolors="none", edgecolors="k", label="Pareto-optimal (less cost, more metric)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    clip_note = "; intervals clipped to the metric's range" if g.clipped.any() else ""
    ax.set_title(f"Each seed (small), the mean and its 95 % t-interval{clip_note}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    g = g.drop(columns=["e_sd", "a_sd"]).reset_index()
    g.columns = [c.replace("e", x, 1) if c.startswith("e") else c.replace("a", y, 1) if c.startswith("a") else c
                 for c in g.columns]  # fmt: skip
    g.to_csv(out / f"{stem}.csv", index=False, float_format="%.9g")
    seed_cols = ["group", "point_id"] + (["seed"] if "seed" in runs else [])
    runs[[*seed_cols, xcol, ycol]].to_csv(out / f"{stem}_seeds.csv", index=False, float_format="%.9g")
    return save(fig, out / f"{stem}.png")


def _accuracy_per_setting(plt, rounds: pd.DataFrame, out: Path) -> Path:
    """Accuracy against round and simulated time per setting (mean over seeds, shaded spread)."""
    curve = (
        rounds.groupby(["group", "round"])
        .agg(accuracy=("accuracy", "mean"), accuracy_sd=("accuracy", "std"), sim_time_s=("sim_time_s", "mean"),
             n=("accuracy", "count"))
        .reset_index()
    )  # fmt: skip
    curve["accuracy_sd"] = curve["accuracy_sd"].fillna(0.0)
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.2), sharey=True)
    for name, part in curve.groupby("group"):
        mean, sd = part["accuracy"], part["accuracy_sd"]
        axes[0].plot(part["round"], mean, label=name)
        axes[0].fill_between(part["round"], mean - sd, mean + sd, alpha=0.15)
        axes[1].plot(part["sim_time_s"], mean, label=name)
    axes[0].set_xlabel("round")
    integer_ticks(axes[0])
    axes[1].set_xlabel("simulated time (s)")
    axes[0].set_ylabel("accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Accuracy per setting (mean over seeds, shaded ± std)")
    curve.to_csv(out / "accuracy_per_policy.csv", index=False, float_format="%.9g")
    return save(fig, out / "accuracy_per_policy.png")


def _accuracy_vs_cumulative(plt, rounds: pd.DataFrame, out: Path, column: str, cum: str, scale: float,
                            xlabel: str) -> Path:  # fmt: skip
    """Accuracy against a cumulative per-round column (uplink bits on air, energy) per setting: at each round the
    seeds' mean of each run's running sum (CSV column `cum`), and of its accuracy. Saved as
    accuracy_vs_<what>.png and .csv, <what> the first word of `cum`."""
    what = cum.split("_")[0]
    rounds = rounds.sort_values(["point", "round"])
    rounds[cum] = rounds.groupby("point")[column].cumsum()
    curve = (
        rounds.groupby(["group", "round"])
        .agg(**{cum: (cum, "mean")}, accuracy=("accuracy", "mean"),
             accuracy_sd=("accuracy", "std"), n=("accuracy", "count"))
        .reset_index()
    )  # fmt: skip
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, part in curve.groupby("group"):
        ax.plot(part[cum] / scale, part.accuracy, "o-", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy against cumulative {what} (mean over seeds per round)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    curve.to_csv(out / f"accuracy_vs_{what}.csv", index=False, float_format="%.9g")
    return save(fig, out / f"accuracy_vs_{what}.png")


def _accuracy_on_grid(plt, rounds: pd.DataFrame, out: Path, column: str, xlabel: str, points: int = 201) -> Path:
    """Accuracy at equal simulated time or equal energy, for points whose rows do not line up (asynchronous server
    steps beside rounds): each run's last evaluated accuracy at or before each of `points` grid values (none past
    its end), then the mean and count over seeds per setting. accuracy_at_time / accuracy_at_energy .png and .csv."""
    rounds = rounds.sort_values(["point", "round"])
    rounds = rounds.assign(energy_cum_j=rounds.groupby("point")["energy_j"].cumsum())
    grid = np.linspace(0.0, float(rounds[column].max()), points)
    parts = []
    for (group, _), run in rounds[rounds["accuracy"].notna()].groupby(["group", "point"]):
        x, acc = run[column].to_numpy(), run["accuracy"].to_numpy()
        at = np.searchsorted(x, grid, side="right") - 1
        parts.append(pd.DataFrame({"group": group, column: grid,
                                   "accuracy": np.where(grid <= x[-1], acc[np.maximum(at, 0)], np.nan)}))  # fmt: skip
    curve = (
        pd.concat(parts).groupby(["group", column])
        .agg(accuracy=("accuracy", "mean"), accuracy_sd=("accuracy", "std"), n=("accuracy", "count"))
        .reset_index()
    )  # fmt: skip
    what = "time" if column == "sim_time_s" else "energy"
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, part in curve.groupby("group"):
        every = part[part.n == part.n.max()]  # drawn while every seed's run lasts (the CSV keeps the rest, with n)
        ax.plot(every[column], every.accuracy, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy at equal {'simulated time' if what == 'time' else 'energy'}: mean over seeds of each "
                 "run's last evaluation", fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    curve.to_csv(out / f"accuracy_at_{what}.csv", index=False, float_format="%.9g")
    return save(fig, out / f"accuracy_at_{what}.png")


def _compression_per_round(plt, rounds: pd.DataFrame, out: Path) -> Path:
    """Coded updates: the compression ratio of each round (NNCodec's FL count) and the accuracy it leaves, per
    setting (mean over seeds); with all-token accuracy beside the headline metric where the task reports it."""
    cols = ["compression_ratio", "accuracy"] + [c for c in ("all_tokens_accuracy",) if c in rounds]
    curve = rounds.groupby(["group", "round"])[cols].mean().reset_index()
    fig, axes = plt.subplots(1, len(cols), figsize=(5.2 * len(cols), 4.2))
    for name, part in curve.groupby("group"):
        for ax, col in zip(axes, cols):
            scale = 100.0 if col == "compression_ratio" else 1.0
            ax.plot(part["round"], part[col] * scale, "o-", ms=3, label=name)
    for ax, col in zip(axes, cols):
        ax.set_xlabel("round")
        ax.set_ylabel("compression ratio (%)" if col == "compression_ratio" else col.replace("_", " "))
        ax.grid(alpha=0.3)
        integer_ticks(ax)
    axes[0].set_yscale("log")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Compression ratio per round and the accuracy it leaves (mean over seeds)")
    curve.to_csv(out / "compression_per_round.csv", index=False, float_format="%.9g")
    return save(fig, out / "compression_per_round.png")


def _device_energy(plt, devices: pd.DataFrame, out: Path) -> Path:
    """Per-device average energy against its budget (each device of each point one sample of its setting's box)."""
    per_dev = devices.groupby(["group", "point", "device"]).agg(e=("energy_j", "mean"), b=("energy_budget_j", "first"))
    per_dev = per_dev.replace([np.inf, -np.inf], np.nan).reset_index()
    per_dev.assign(ratio=per_dev.e / per_dev.b).rename(columns={"e": "energy_j", "b": "budget_j"}).to_csv(
        out / "device_energy_vs_budget.csv", index=False, float_format="%.9g"
    )
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = sorted(per_dev["group"].unique())
    ratios = [(per_dev[per_dev.group == n].e / per_dev[per_dev.group == n].b).dropna() for n in names]
    if any(len(r) for r in ratios):
        ax.boxplot([r if len(r) else [np.nan] for r in ratios], tick_labels=names)
        ax.axhline(1.0, color="red", ls="--", label="budget")
        ax.set_ylabel("average energy per round / budget")
        ax.legend()
    else:
        data = [per_dev[per_dev.group == n].e for n in names]
        ax.boxplot(data, tick_labels=names)
        ax.set_ylabel("average energy per round (J) — no budgets set")
    ax.set_title("Per-device average energy against its budget")
    ax.tick_params(axis="x", rotation=30, labelsize=7)
    return save(fig, out / "device_energy_vs_budget.png")


def _lyapunov_vs_v(plt, runs: pd.DataFrame, out: Path) -> Path | None:
    """Lyapunov: energy, accuracy and queue backlog against V (None without several V values)."""
    # 5. Lyapunov: energy, accuracy and queue backlog against V.
    lyap = runs[(runs["policy"] == "lyapunov") & runs["V"].notna()]
    if len(lyap) and lyap["V"].nunique() > 1:
        by_v = (
            lyap.groupby("V")
            .agg(e=("energy_per_device_round_j", "mean"), a=("final_accuracy", "mean"), q=("mean_queue_j", "mean"))
            .sort_index()
        )
        by_v.rename(columns={"e": "energy_per_device_round_j", "a": "final_accuracy", "q": "mean_queue_j"}).to_csv(
            out / "lyapunov_vs_V.csv", float_format="%.9g"
        )
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        axes[0].plot(by_v.index, by_v.e, "o-", color="tab:red", label="energy per device per round (J)")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("V")
        axes[0].set_ylabel("energy per device per round (J)", color="tab:red")
        twin = axes[0].twinx()
        twin.plot(by_v.index, by_v.a, "s-", color="tab:blue", label="final accuracy")
        twin.set_ylabel("final accuracy", color="tab:blue")
        lines = axes[0].get_lines() + twin.get_lines()
        axes[0].legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="best")
        axes[0].set_title("Lyapunov: energy and accuracy vs V")
        axes[1].plot(by_v.index, by_v.q, "o-", label="mean virtual energy queue")
        axes[1].legend(fontsize=8)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("V")
        axes[1].set_ylabel("time-average virtual queue (J)")
        axes[1].set_title("Lyapunov: queue backlog vs V (grows ~ O(V))")
        for ax in axes:
            ax.grid(alpha=0.3)
        return save(fig, out / "lyapunov_vs_V.png")
    print("note: no lyapunov points with several V values; skipping the V plot")
    return None
