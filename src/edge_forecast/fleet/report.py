"""The fleet report: OUT/fleet.json (every sensor's result), OUT/fleet.md (the table people read)
and OUT/fleet.png (test MASE per sensor against its seasonal naive baseline, sorted), drawn from
the results alone, so a rerun that skipped finished sensors reports them all the same."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edge_forecast.fleet.progress import duration
from edge_forecast.fleet.task import SeriesResult
from edge_forecast.fsio import write_json_atomic, write_text_atomic

REPORT_FORMAT = "edge-forecast-fleet-report"
REPORT_VERSION = 1
JSON_NAME, MARKDOWN_NAME, FIGURE_NAME = "fleet.json", "fleet.md", "fleet.png"


@dataclass(frozen=True)
class RunSummary:
    """This invocation: which engine, how many sensors it ran and skipped, its wall time."""

    data: str
    engine: str
    ran: int
    skipped: int
    seconds: float

    def to_dict(self) -> dict:
        rate = self.ran / self.seconds * 60 if self.seconds > 0 and self.ran else None
        return {"data": self.data, "engine": self.engine, "ran": self.ran, "skipped": self.skipped,
                "seconds": round(self.seconds, 3), "series_per_minute": None if rate is None else round(rate, 3)}


def ordered(results: list[SeriesResult]) -> list[SeriesResult]:
    """Done sensors by test MASE relative to their naive baseline (best first), then failures by id."""
    def key(r: SeriesResult):
        ratio = _ratio(r)
        return (not r.done, math.inf if ratio is None else ratio, r.id)

    return sorted(results, key=key)


def _ratio(r: SeriesResult) -> float | None:
    naive = r.naive_mase
    if r.mase is None or naive is None or naive <= 0:
        return None
    return r.mase / naive


def write_report(out: Path, results: list[SeriesResult], summary: RunSummary) -> Path:
    out = Path(out)
    rows = ordered(results)
    done = [r for r in rows if r.done]
    better = [r for r in done if (_ratio(r) or math.inf) < 1]
    figure = _figure(out, done)
    doc = {"format": REPORT_FORMAT, "format_version": REPORT_VERSION, "run": summary.to_dict(),
           "sensors": len(rows), "done": len(done), "failed": len(rows) - len(done),
           "better_than_naive": len(better), "figure": figure,
           "results": [r.to_dict() for r in rows]}
    write_json_atomic(out / JSON_NAME, doc)
    write_text_atomic(out / MARKDOWN_NAME, _markdown(doc, rows, figure))
    return out / MARKDOWN_NAME


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _markdown(doc: dict, rows: list[SeriesResult], figure: str | None) -> str:
    run = doc["run"]
    rate = run["series_per_minute"]
    lines = [
        "# Fleet report", "",
        f"{doc['sensors']} sensors from `{run['data']}`: {doc['done']} with a bundle, {doc['failed']} failed; "
        f"{doc['better_than_naive']} of the bundles' models beat their seasonal naive baseline's test MASE.", "",
        f"This run: {run['engine']}; {run['ran']} sensors in {duration(run['seconds'])}"
        + (f" ({rate:.3g} series/min)" if rate else "")
        + (f"; {run['skipped']} finished by an earlier run, skipped" if run["skipped"] else "") + ".", "",
        "MASE: mean absolute error of the closed-loop test forecasts (every origin, every step ahead) over the "
        "in-sample one-step seasonal naive MAE of the training part; `naive` is the seasonal naive baseline's "
        "test MASE (persistence where no season was found), `vs naive` the model's over it (below 1: better). "
        "Step: one invoke of the kept variant (export's median on ai-edge-litert, this machine).", "",
    ]
    if figure:
        lines += [f"![test MASE per sensor]({figure})", ""]
    lines += ["| sensor | model | variant | test MASE | naive | vs naive | best other baseline | bundle KiB | "
              "step us | seconds |",
              "|---|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        if not r.done:
            continue
        others = {k: v for k, v in r.baselines.items() if k != r.naive and v is not None}
        best = min(others, key=others.get) if others else None
        lines.append(f"| {r.id} | {r.model} | {r.variant} | {_num(r.mase)} | {_num(r.naive_mase)} | "
                     f"{_num(_ratio(r))} | {f'{best} {others[best]:.3g}' if best else '-'} | "
                     f"{r.bundle_bytes / 1024:.1f} | {_num(r.step_us)} | {r.seconds:.1f} |")
    failed = [r for r in rows if not r.done]
    if failed:
        lines += ["", f"## Failed ({len(failed)})", ""]
        lines += [f"- `{r.id}`: {r.reason}" for r in failed]
    warned = [r for r in rows if r.done and r.warnings]
    if warned:
        lines += ["", "## Warnings", ""]
        lines += [f"- `{r.id}`: {w}" for r in warned for w in r.warnings]
    lines += ["", "Deployment: `manifest.json` maps each sensor to its bundle, kept variant and the file's sha256.", ""]
    return "\n".join(lines)


def _figure(out: Path, done: list[SeriesResult]) -> str | None:
    """Bars: each sensor's test MASE, sorted; dots: its seasonal naive baseline's. None without
    matplotlib (a device install) or without a scored sensor."""
    scored = sorted((r for r in done if r.mase is not None), key=lambda r: r.mase)
    if not scored:
        return None
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = min(max(6.0, 0.28 * len(scored) + 2), 40.0)
    fig, ax = plt.subplots(figsize=(width, 4.2))
    x = range(len(scored))
    ax.bar(x, [r.mase for r in scored], color="tab:blue", label="model, test MASE")
    naive = [(i, r.naive_mase) for i, r in enumerate(scored) if r.naive_mase is not None]
    if naive:
        ax.scatter([i for i, _ in naive], [v for _, v in naive], color="black", marker="_", s=200, zorder=3,
                   label="seasonal naive, test MASE")
    ax.set_xticks(list(x))
    ax.set_xticklabels([r.id for r in scored], rotation=60, ha="right", fontsize=7 if len(scored) > 30 else 8)
    ax.set_ylabel("test MASE (lower is better)")
    ax.set_title(f"Fleet: {len(scored)} sensors, sorted by test MASE")
    top = max([r.mase for r in scored] + [v for _, v in naive])
    ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
    ax.legend(loc="upper left", ncols=2)
    fig.tight_layout()
    fig.savefig(out / FIGURE_NAME, dpi=110)
    plt.close(fig)
    return FIGURE_NAME
