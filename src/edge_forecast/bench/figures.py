"""The report's PNG figures, drawn from report.json's data alone (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_forecast.bench.report import MEASURED, closed_loop_name, preferred_entries
from edge_forecast.bench.stats import fmt
from edge_forecast.bundle import truth_figure

# one colour per variant name in every figure (the graph variants' used to be picked by position,
# so step-float32 could share float32's blue, or differ between two models)
VARIANT_COLORS = {"float32": "tab:blue", "float16": "tab:orange", "dynamic": "tab:green", "int8": "tab:red",
                  "int16x8": "tab:purple", "step-float32": "tab:brown", "step-int8": "tab:pink",
                  "stream-float32": "gold", "stream-int8": "tab:olive", "rollout-float32": "tab:cyan",
                  "rollout-int8": "navy"}
OTHER_COLORS = ("khaki", "teal", "maroon", "lime", "slateblue", "chocolate")
MODEL_MARKERS = ["o", "s", "^", "D", "v"]
KERAS_COLOR = "black"
DPI = 110


def _color(variant: str) -> str:
    return VARIANT_COLORS.get(variant) or OTHER_COLORS[sum(map(ord, variant)) % len(OTHER_COLORS)]


def _keras(doc: dict, model: str) -> dict | None:
    keras = doc["models"][model]["keras"]
    return keras["measured"] if keras["status"] == MEASURED else None


def draw_figures(doc: dict, out_dir: Path) -> dict[str, str]:
    """Write every figure into `out_dir`; return figure key -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "legend.fontsize": 8.5})
    files = {}
    for key, draw in (("forecast", _forecast), ("latency", _latency), ("horizon", _horizon),
                      ("size_error", _size_error)):
        fig = draw(plt, doc)
        if fig is None:
            continue
        name = f"{key}.png"
        fig.savefig(Path(out_dir) / name, dpi=DPI)
        plt.close(fig)
        files[key] = name
    return files


def _forecast(plt, doc: dict):
    models = list(doc["models"])
    context = np.asarray(doc["series"]["context_window"])
    truth = np.asarray(doc["series"]["truth"])
    w = len(context)  # of several channels each array is (steps, F): one line per channel
    series = np.concatenate([context, truth])
    banded = {name: _banded_entry(preferred_entries(doc, name)) for name in models}
    # a model with prediction intervals gets a panel of the steps they cover: on the whole forecast
    # a band of 20 steps out of 180 is a sliver under the lines
    zoom = any(banded.values())
    rows, ratios = (3, [3, 2, 1.3]) if zoom else (2, [3, 1.3])
    fig = plt.figure(figsize=(12.5, (8.6 if zoom else 6.2) * len(models)))
    grid = fig.add_gridspec(rows * len(models), 1, height_ratios=ratios * len(models), hspace=0.5)
    for m, name in enumerate(models):
        top = fig.add_subplot(grid[rows * m])
        bottom = fig.add_subplot(grid[rows * m + rows - 1], sharex=top)
        keras = np.asarray(doc["models"][name]["keras"]["closed_loop"])
        entries = preferred_entries(doc, name)
        top.plot(np.arange(len(series)), series, color="0.55", lw=4, alpha=0.6, label="truth")
        top.axvspan(0, w - 1, color="0.85", alpha=0.5, label=f"context window ({w} true values)")
        top.plot(np.arange(w, w + len(keras)), keras, color=KERAS_COLOR, lw=1.6, ls="--", label="Keras float",
                 zorder=5)
        band = banded[name]
        if band is not None:
            _band(top, band, w)
        for e in entries:
            values = np.asarray(e["forecast"])
            top.plot(np.arange(w, w + len(values)), values, color=_color(e["variant"]), lw=1.1,
                     label=f"{e['variant']} ({e['runtime']})")
            n = min(len(values), len(keras))
            bottom.plot(np.arange(w, w + n), values[:n] - keras[:n], color=_color(e["variant"]), lw=1.1,
                        label=e["variant"])
        top.set_title(f"{name}: closed-loop forecast from the context window, {doc['command']['steps']} steps")
        top.set_ylabel("signal value")
        top.grid(True, alpha=0.3)
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # not over the forecasts
        bottom.axhline(0, color=KERAS_COLOR, lw=0.8)
        bottom.set_ylabel("variant − Keras\n(signal units)")
        bottom.set_xlabel("sample index")
        bottom.grid(True, alpha=0.3)
        if not entries:
            top.text(0.5, 0.5, "no variant measured", transform=top.transAxes, ha="center")
        if zoom:
            _interval_panel(fig.add_subplot(grid[rows * m + 1]), band, series, w)
    fig.subplots_adjust(left=0.1, right=0.8, top=0.97 if zoom else 0.96, bottom=0.05 if zoom else 0.06)
    fig.align_ylabels()
    return fig


def _banded_entry(entries: list[dict]) -> dict | None:
    """The first variant whose report rows carry its prediction intervals' half-widths: one
    variant's bands, since every variant's over each other would hide the forecasts."""
    return next((e for e in entries if any(row.get("half_width") for row in e.get("intervals", []))), None)


def _band(ax, e: dict, w: int) -> int:
    """The variant's prediction intervals (bundle.json, report.json's `intervals` rows) around its
    closed loop: forecast +- half-width per step, for the steps the intervals cover (beyond them
    nothing measured the error, so nothing is drawn), the wider level lighter. Returns the steps."""
    values = np.asarray(e["forecast"], dtype=np.float64)
    rows = sorted((row for row in e["intervals"] if row.get("half_width")), key=lambda r: -r["level"])
    steps = 0
    for j, row in enumerate(rows):
        half = np.asarray(row["half_width"], dtype=np.float64)[: values.size]
        steps = half.size
        ax.fill_between(np.arange(w, w + steps), values[:steps] - half, values[:steps] + half,
                        color=_color(e["variant"]), alpha=0.18 + 0.18 * j, linewidth=0, zorder=2.5,
                        label=f"{e['variant']} {row['level']:g}% interval (steps 1-{steps})")
    return steps


def _interval_panel(ax, e: dict | None, series: np.ndarray, w: int) -> None:
    """The steps the intervals cover, close up: truth, the variant's forecast and its bands, and
    the share of the true values each band holds here (one forecast: the report's coverage table
    gives it over every origin)."""
    if e is None:
        ax.axis("off")
        ax.text(0.5, 0.5, "no prediction intervals in this model's variants", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
        return
    steps = _band(ax, e, w)
    values = np.asarray(e["forecast"], dtype=np.float64)[:steps]
    x = np.arange(w, w + steps)
    start = max(0, w - 3)
    ax.plot(np.arange(start, w + steps), series[start: w + steps], color="0.35", lw=0, marker="o", ms=3.5,
            label="truth", zorder=4)
    ax.plot(x, values, color=_color(e["variant"]), lw=1.4, label=f"{e['variant']} ({e['runtime']})", zorder=5)
    ax.axvspan(start, w - 1, color="0.85", alpha=0.5)
    truth = series[w: w + steps]
    held = []
    for row in sorted((r for r in e["intervals"] if r.get("half_width")), key=lambda r: r["level"]):
        half = np.asarray(row["half_width"], dtype=np.float64)[: truth.size]
        inside = np.abs(truth - values[: truth.size]) <= half
        held.append(f"{row['level']:g}%: {int(inside.sum())} of {inside.size} true values inside")
    ax.set_title(f"{e['variant']}'s prediction intervals over the {steps} steps they cover ({'; '.join(held)})")
    ax.set_ylabel("signal value")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _latency_rows(doc: dict, name: str) -> list[tuple[str, float, float, str]]:
    rows = []
    keras = _keras(doc, name)
    if keras:
        for call, label in (("predict", "Keras model.predict"), ("direct", "Keras direct call")):
            lat = keras[call]["latency_us"]
            rows.append((f"{label} · tensorflow", lat["p50"], lat["p99"], KERAS_COLOR))
    for e in doc["results"]:
        if e["model"] != name or e["status"] != MEASURED:
            continue
        per = e.get("latency_per", "step")  # a rollout's one invoke is its whole forecast
        rows.append((f"{e['variant']} · {e['runtime']}" + ("" if per == "step" else f"\n(per {per})"),
                     e["latency_us"]["p50"], e["latency_us"]["p99"], _color(e["variant"])))
    return rows


def _us(value: float) -> str:
    return f"{value / 1000:.4g} ms" if value >= 1000 else f"{value:.4g} µs"


def _latency(plt, doc: dict):
    from matplotlib.ticker import FuncFormatter, LogLocator

    models = [m for m in doc["models"] if _latency_rows(doc, m)]
    if not models:
        return None
    counts = [len(_latency_rows(doc, m)) for m in models]
    fig, axes = plt.subplots(len(models), 1, figsize=(11, 1.3 + 0.42 * sum(counts) + 0.9 * len(models)),
                             gridspec_kw={"height_ratios": counts}, squeeze=False)
    all_p99 = [r[2] for m in models for r in _latency_rows(doc, m)]
    all_p50 = [r[1] for m in models for r in _latency_rows(doc, m)]
    # the axis ends at the data: the figures' labels sit in a column right of it, not in a
    # hundredfold headroom (which ran a microsecond axis to 1e7 when model.predict took 0.3 s)
    lo, hi = min(all_p50) / 1.5, max(all_p99) * 1.5
    for ax, name in zip(axes[:, 0], models, strict=True):
        rows = _latency_rows(doc, name)[::-1]
        y = np.arange(len(rows))
        ax.set_axisbelow(True)
        ax.barh(y, [r[1] for r in rows], color=[r[3] for r in rows], alpha=0.85, height=0.6, label="p50")
        for yi, (_, p50, p99, _) in zip(y, rows, strict=True):
            ax.plot([p50, p99], [yi, yi], color="0.25", lw=1.2)
            ax.plot([p99], [yi], marker="|", color="0.25", ms=12, mew=2)
            ax.text(1.02, yi, f"p50 {_us(p50)} · p99 {_us(p99)}", va="center", fontsize=8.5,
                    transform=ax.get_yaxis_transform())
        ax.set_yticks(y, [r[0] for r in rows])
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0,) if hi / lo > 300 else (1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _us(v)))
        ax.set_title(f"{name}: per-step closed-loop latency (bar: p50, whisker: p99)")
        ax.grid(True, axis="x", which="major", alpha=0.4)
    axes[-1, 0].set_xlabel("latency per step, or per forecast where a row says so (log scale)")
    fig.tight_layout()
    return fig


def _horizon(plt, doc: dict):
    from matplotlib.ticker import MaxNLocator

    models = [m for m in doc["models"] if preferred_entries(doc, m) or _keras(doc, m)]
    if not models:
        return None
    fig, axes = plt.subplots(1, len(models), figsize=(5.6 * len(models) + 0.6, 4.6), squeeze=False, sharey=True)
    positive = True
    for ax, name in zip(axes[0], models, strict=True):
        keras = _keras(doc, name)
        curves = []
        if keras:
            curves.append(("Keras float", truth_figure(keras["horizon"], "rmse"), KERAS_COLOR, (0, (4, 3))))
        for e in preferred_entries(doc, name):
            curves.append((f"{e['variant']} ({e['runtime']})", truth_figure(e["horizon"], "rmse"),
                           _color(e["variant"]), "-"))
        for label, curve, color, ls in curves:
            values = np.array([np.nan if v is None else v for v in curve], dtype=float)
            positive = positive and bool(np.all(values[np.isfinite(values)] > 0))
            ax.plot(np.arange(1, values.size + 1), values, color=color, ls=ls, lw=1.6 if color == KERAS_COLOR else 1.4,
                    label=label, zorder=5 if color == KERAS_COLOR else 3)
        plan = doc["method"]["horizon"]
        ax.set_title(f"{name}: backtest RMSE by horizon (test segment, {plan['origins']} origins)"
                     if plan.get("backtest") else f"{name}: RMSE by horizon over {plan['origins']} forecast origins")
        ax.set_xlabel("forecast horizon (steps ahead)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
    axes[0, 0].set_ylabel("RMSE vs truth (signal units)")
    if positive:
        axes[0, 0].set_yscale("log")
    fig.tight_layout()
    return fig


def _size_error(plt, doc: dict):
    from matplotlib.lines import Line2D

    models = list(doc["models"])
    if not any(preferred_entries(doc, m) for m in models):
        return None
    fig, ax = plt.subplots(figsize=(9.5, 5.4))
    handles, values, variants, runtimes = [], [], {}, set()
    for mi, name in enumerate(models):
        marker = MODEL_MARKERS[mi % len(MODEL_MARKERS)]
        for e in preferred_entries(doc, name):
            err = truth_figure(e["accuracy"], "closed_loop_rmse")
            if err is None:
                continue
            values.append(err)
            variants.setdefault(e["variant"], _color(e["variant"]))
            runtimes.add(e["runtime"])
            ax.scatter(e["size_kib"], err, s=80, marker=marker, color=_color(e["variant"]), zorder=3,
                       edgecolor="black", linewidth=0.6)
        base = truth_figure(doc["models"][name]["keras"]["bundle"], "closed_loop_rmse")
        if base is not None:
            values.append(base)
            style = [":", "--", "-."][mi % 3]
            ax.axhline(base, color="0.35", ls=style, lw=1.1)
            handles.append(Line2D([], [], color="0.35", ls=style, label=f"{name} Keras float ({fmt(base)})"))
        keras = _keras(doc, name)
        if keras and truth_figure(keras["accuracy"], "closed_loop_rmse") is not None:
            ax.scatter(keras["size_kib"], truth_figure(keras["accuracy"], "closed_loop_rmse"), s=80, marker=marker,
                       facecolor="white", edgecolor="black", zorder=3)
    handles += [Line2D([], [], ls="", marker=MODEL_MARKERS[mi % len(MODEL_MARKERS)], color="0.6",
                       markeredgecolor="black", label=name) for mi, name in enumerate(models)]
    handles += [Line2D([], [], ls="", marker="o", color=color, markeredgecolor="black", label=variant)
                for variant, color in variants.items()]
    if any(_keras(doc, m) for m in models):
        handles.append(Line2D([], [], ls="", marker="o", markerfacecolor="white", markeredgecolor="black",
                              label="Keras float (.keras file)"))
    positive = [v for v in values if v and v > 0]
    if positive and max(positive) / min(positive) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("size on disk (KiB)")
    name = closed_loop_name(doc["bundle"].get("evaluation_segment", "test"), doc["method"]["accuracy_steps"])
    ax.set_ylabel(name.replace(" (", "\n(", 1) + "\nagainst the truth, signal units")
    ax.set_title(f"Size against closed-loop forecast error (runtime: {', '.join(sorted(runtimes))})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig
