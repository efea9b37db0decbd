"""Empirical coverage and mean width of a bundle's prediction intervals on its test segment.

    PYTHONPATH=src python benchmarks/interval_coverage.py BUNDLE

Device side only (numpy + ai-edge-litert): the bundle carries its test segment (`evaluation`:
the context window, the truth after it, and the run's test origins as offsets into the truth).
From every test origin whose window and horizon fit, each variant forecasts with its intervals
(Forecaster.forecast_interval on the variant's own graph) over the intervals' horizon; the table
gives, per variant and level, the share of (origin, step) truths inside the bounds and the mean
width (2 x half-width). The intervals were fitted on the validation segment, which training's
selection also reads: this is the check on data neither saw.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge_forecast.bundle import load_bundle
from edge_forecast.edge.forecaster import Forecaster
from edge_forecast.intervals import level_name


def coverage(bundle_dir: Path) -> list[dict]:
    bundle = load_bundle(bundle_dir)
    ev = bundle.evaluation
    series = np.concatenate([bundle.context_window, bundle.truth])  # truth[i] is series[W + i]
    w = bundle.window
    origins = ev.get("origins") or list(range(0, ev.steps, 1))
    rows = []
    for model in bundle.models:
        for key in bundle.variants(model):
            found = bundle.variant(model, key).intervals
            if found is None or not found.available:
                continue
            h = found.horizon
            starts = [o for o in origins if o + h <= ev.steps]
            graph = key.split("-")[0] if "-" in key else "window"
            forecaster = Forecaster(bundle, model=model, variant=key, graph=graph, runtime="litert")
            inside = {lv: [] for lv in found.available}
            for o in starts:
                got = forecaster.forecast_interval(series[o : o + w], h)
                truth = series[w + o : w + o + h]
                for lv in found.available:
                    lower, upper = got.bounds(lv)
                    inside[lv].append((truth >= lower) & (truth <= upper))
            for lv in found.available:
                hw = np.array(found.level(lv).half_width)
                rows.append({"model": model, "variant": key, "level": lv, "validation_origins": found.origins,
                             "test_origins": len(starts), "horizon": h,
                             "coverage": float(np.mean(inside[lv])), "mean_width": float(2 * hw.mean())})
    return rows


def main(argv: list[str]) -> int:
    rows = coverage(Path(argv[0]))
    print("| model | variant | level | validation origins | test origins | horizon | test coverage | mean width |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['variant']} | {level_name(r['level'])}% | {r['validation_origins']} | "
              f"{r['test_origins']} | {r['horizon']} | {100 * r['coverage']:.1f}% | {r['mean_width']:.4g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
