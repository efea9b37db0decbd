"""`edge-forecast demo`: the whole job on the built-in damped signal, into one directory.

train (RNN and LSTM, default settings) -> export (every quantization mode) -> bench (every
installed runtime, with the Keras model as the baseline) -> OUT/report/report.md.
Everything is built in a staging directory that replaces OUT only when all of it succeeded.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_forecast.errors import UserError
from edge_forecast.fsio import check_output_dir, staged_dir

DEMO_MODELS = ("rnn", "lstm")


@dataclass
class DemoResult:
    out: Path
    seconds: float
    failures: list[str] = field(default_factory=list)

    @property
    def run(self) -> Path:
        return self.out / "run"

    @property
    def bundle(self) -> Path:
        return self.out / "bundle"

    @property
    def report(self) -> Path:
        return self.out / "report" / "report.md"


def run_demo(out: str | Path, epochs: int | None = None, force: bool = False, quiet: bool = False,
             echo: Callable[[str], None] = print, probe_python: tuple[str, ...] = ()) -> DemoResult:
    """Train, export and benchmark; return where everything is (OUT/run, OUT/bundle, OUT/report).
    `probe_python`: other Pythons whose runtimes check the artifacts too (export --probe-python)."""
    from edge_forecast.train.config import build_config

    config = build_config(None, models=DEMO_MODELS, epochs=epochs)
    missing = [name for name in ("tensorflow", "keras") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"the demo trains and converts models and needs {' and '.join(missing)}: "
                        "pip install 'edge-forecast[desktop]'")
    out = Path(out)
    check_output_dir(out, force, "demo")
    started = time.perf_counter()
    with staged_dir(out, force, "demo") as stage:
        echo(f"[1/3] training {' and '.join(DEMO_MODELS)} on the built-in damped signal "
             f"({config.epochs or 'a budget of'} epochs, {config.optimizer.value}, window {config.window})")
        from edge_forecast.train.loop import train_run

        train_run(config, stage / "run", quiet=quiet, echo=echo, label=f"{out / 'run'} when the demo finishes")
        echo(f"[2/3] exporting every quantization mode ({time.perf_counter() - started:.0f} s so far)")
        from edge_forecast.export.exporter import export_bundle

        exported = export_bundle(stage / "run", stage / "bundle", echo=echo, probe_python=probe_python)
        for failure in exported.failures:
            echo(f"warning: {failure}")
        echo("[3/3] benchmarking every variant on every installed runtime "
             f"({time.perf_counter() - started:.0f} s so far)")
        from edge_forecast.bench.runner import bench_bundle

        bench = bench_bundle(stage / "bundle", stage / "report", reference=stage / "run", echo=echo,
                             bundle_label=str(out / "bundle"), reference_label=str(out / "run"))
        for line in summary_lines(bench.report):
            echo(line)
    result = DemoResult(out=out, seconds=time.perf_counter() - started, failures=list(exported.failures))
    echo(f"demo finished in {result.seconds:.0f} s: run {result.run}, bundle {result.bundle}")
    return result


def summary_lines(report: dict) -> list[str]:
    """One line per measured variant on the runtime `auto` picks: size, latency, error, speed-up;
    then one line per runtime that measured nothing (not installed), instead of a row per variant."""
    from edge_forecast.bench.report import closed_loop_name, preferred_entries, unavailable_lines
    from edge_forecast.bench.stats import fmt
    from edge_forecast.bundle import truth_figure

    name = closed_loop_name(report["bundle"].get("evaluation_segment", "test"), report["method"]["accuracy_steps"])
    lines = [f"summary ({name}; speed-up of the p50 step over Keras model.predict):"]
    for model in report["models"]:
        for e in preferred_entries(report, model):
            speed = e["speedup"].get("vs_keras_predict")
            lines.append(
                f"  {model:<5} {e['variant']:<8} {e['runtime']:<8} {fmt(e['size_kib']):>7} KiB  "
                f"p50 {fmt(e['latency_us']['p50']):>7} µs  p99 {fmt(e['latency_us']['p99']):>7} µs  "
                f"RMSE {fmt(truth_figure(e['accuracy'], 'closed_loop_rmse')):>8}"
                + (f"  {fmt(speed)}x" if speed is not None else "")
            )
    return lines + unavailable_lines(report)
