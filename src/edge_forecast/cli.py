"""`edge-forecast`: thin click commands; heavy imports (TensorFlow) happen inside the commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from edge_forecast import __version__
from edge_forecast.errors import UserError


class _Group(click.Group):
    """Turn a UserError into one line on stderr and exit code 2; Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was written", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-forecast")
@click.option("--verbose", is_flag=True,
              help="Show the log lines of TensorFlow, absl and the TFLite runtimes (hidden by default).")
def cli(verbose: bool) -> None:
    """Train recurrent forecasters, export them to TFLite, run and benchmark them on a device."""
    from edge_forecast.quiet import VERBOSE_ENV, filter_process_stderr

    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # children (converters, probes, bench) inherit it
    filter_process_stderr()


def _echo(quiet: bool):
    return (lambda _line: None) if quiet else click.echo


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory to create.")
@click.option("--preset", type=click.Choice(["seed"]), help="seed: the tutorial experiment, exactly.")
@click.option("--signal", "signal", help="'damped', 'mackey-glass' (built-in) or a CSV / .npy file.  [default: damped]")
@click.option("--column", help="CSV column: header name or 0-based index.")
@click.option("--fill", type=click.Choice(["interpolate", "drop"]), help="Repair NaN/inf/empty values.")
@click.option("--tau", type=float, help="Damped signal: decay constant.  [default: 5]")
@click.option("--points", type=int, help="Built-in signal: number of samples.  [default: damped 200, mackey-glass 600]")
@click.option("--span", type=float, help="Damped signal: x range 0..span.  [default: 5*pi]")
@click.option("--delay", type=float, help="Mackey-Glass: the delay tau.  [default: 17]")
@click.option("--signal-noise", type=float, help="Mackey-Glass: seeded measurement noise std.  [default: 0]")
@click.option("--model", "models", multiple=True, help="rnn, lstm or gru; repeat or comma-separate.  [default: lstm]")
@click.option("--window", type=int, help="Past values per input window.  [default: 20]")
@click.option("--units", type=int, help="Recurrent units.  [default: 40]")
@click.option("--epochs", type=int, help="Training epochs.  [default: 150]")
@click.option("--batch-size", type=int, help="Batch size.  [default: 16]")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"], case_sensitive=False), help="[default: adam]")
@click.option("--learning-rate", type=float, help="[default: 0.003; seed preset: 0.01]")
@click.option("--validation-split", type=float, help="Trailing fraction of windows for validation.  [default: 0.1]")
@click.option("--scale", type=click.Choice(["none", "standard", "minmax"]), help="[default: standard]")
@click.option("--seed", type=int, help="Random seed; same seed, same result on one machine.  [default: 0]")
@click.option("--rollout", type=int,
              help="Closed-loop training: steps the model feeds its own predictions back; 0 = teacher forcing.  [default: 10; seed preset: 0]")
@click.option("--input-noise", type=float, help="Closed-loop training: Gaussian noise std added to input windows (scaled units).  [default: 0]")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), help="[default: cosine; seed preset: constant]")
@click.option("--select", type=click.Choice(["last", "best"]),
              help="Keep the last weights, or the best held-out closed-loop error.  [default: best; seed preset: last]")
@click.option("--stream", type=int,
              help="Streaming training for the stream graph: sequences of N values (N > window; 2x window "
                   "works well) with the state carried; also makes --rollout 20 and --epochs 300 the defaults. "
                   "0 = window training.  [default: 0]")
@click.option("--force", is_flag=True, help="Replace an existing run directory.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors.")
def train(out: Path, preset: str | None, force: bool, quiet: bool, **options) -> None:
    """Train forecasters on a signal and save a run directory."""
    from edge_forecast.train.config import build_config

    config = build_config(preset, **options)
    from edge_forecast.train.loop import train_run

    train_run(config, out, force=force, quiet=quiet, echo=_echo(quiet))


@cli.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Bundle directory to create.")
@click.option("--models", help="Comma-separated models of the run.  [default: all]")
@click.option("--quant", help="Comma-separated modes: float32,float16,dynamic,int8,int16x8.  [default: all]")
@click.option("--calibration-samples", type=int, default=100, show_default=True,
              help="Training windows used to calibrate full-integer modes.")
@click.option("--probe-python", multiple=True,
              help="Another Python with edge-forecast and a runtime (e.g. tflite-runtime) to check artifacts with.")
@click.option("--graphs", default="window", show_default=True,
              help="Comma-separated graphs: window (always), step, rollout, stream; the others in float32 and int8.")
@click.option("--rollout-steps", type=int, help="Forecast length H of the rollout graph.  [default: the evaluation steps]")
@click.option("--force", is_flag=True, help="Replace an existing bundle directory.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors and failures.")
def export(run: Path, out: Path, models: str | None, quant: str | None, calibration_samples: int,
           probe_python: tuple[str, ...], graphs: str, rollout_steps: int | None, force: bool, quiet: bool) -> None:
    """Convert a training RUN to TFLite in every quantization mode, verified, into a bundle."""
    from edge_forecast.export.exporter import export_bundle

    result = export_bundle(run, out, models=models, quant=quant, calibration_samples=calibration_samples,
                           force=force, probe_python=probe_python, echo=_echo(quiet), graphs=graphs,
                           rollout_steps=rollout_steps)
    _echo(quiet)(f"bundle saved to {result.bundle} ({len(result.artifacts)} artifacts)")
    if quiet:  # already in the progress output otherwise; a warning is not progress
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    if result.failures:
        click.echo(f"{len(result.failures)} artifact(s) failed:", err=True)
        for failure in result.failures:
            click.echo(f"  {failure}", err=True)
        raise SystemExit(1)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--model", help="Model in the bundle.  [default: the first]")
@click.option("--variant", help="float32, float16, dynamic, int8 or int16x8.  [default: float32]")
@click.option("--steps", type=int, help="Forecast length.  [default: the bundle's evaluation length]")
@click.option("--history", help="Recent values to start from: CSV / .npy file, or - for stdin (one per line).")
@click.option("--column", help="Column of a --history CSV: name or 0-based index.")
@click.option("--follow", is_flag=True, help="Read observations from stdin; print the forecast after each.")
@click.option("--horizon", type=int, default=1, show_default=True, help="With --follow: steps forecast per observation.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--runtime", type=click.Choice(["auto", "litert", "tflite-runtime", "tensorflow"]), default="auto",
              show_default=True, help="auto prefers ai-edge-litert, then tflite-runtime, then tensorflow.lite.")
@click.option("--threads", type=int, help="Interpreter threads.  [default: the runtime's]")
@click.option("--graph", type=click.Choice(["auto", "window", "step", "stream", "rollout"]), default="auto", show_default=True,
              help="auto: rollout when --steps fits its H, step (stream for a stream-trained model) for --follow "
                   "and longer forecasts, else window (when the bundle has them).")
def run(bundle: Path, model: str | None, variant: str | None, steps: int | None, history: str | None,
        column: str | None, follow: bool, horizon: int, fmt: str, runtime: str, threads: int | None, graph: str) -> None:
    """Forecast with a BUNDLE on this device (numpy + a TFLite interpreter, no TensorFlow)."""
    from edge_forecast.edge.cli_run import run_command

    run_command(bundle, model=model, variant=variant, steps=steps, history=history, column=column,
                follow=follow, horizon=horizon, fmt=fmt, runtime=runtime, threads=threads, graph=graph)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Report directory to create.")
@click.option("--steps", type=int, help="Closed-loop forecast length.  [default: the bundle's evaluation length]")
@click.option("--repeats", type=int, default=3, show_default=True,
              help="Latency repeats (>= 1,000 steps each); the report gives the median of each statistic.")
@click.option("--runtimes", default="all", show_default=True,
              help="all, or comma-separated: litert,tflite-runtime,tensorflow. A missing one becomes a row saying why.")
@click.option("--reference", type=click.Path(path_type=Path),
              help="The training run of the bundle: also measure the float Keras model (needs TensorFlow).")
@click.option("--force", is_flag=True, help="Replace an existing report directory.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors.")
def bench(bundle: Path, out: Path, steps: int | None, repeats: int, runtimes: str, reference: Path | None,
          force: bool, quiet: bool) -> None:
    """Benchmark every variant of a BUNDLE on every runtime: report.md, report.json and figures."""
    from edge_forecast.bench.runner import bench_bundle

    result = bench_bundle(bundle, out, steps=steps, repeats=repeats, runtimes=runtimes, reference=reference,
                          force=force, echo=_echo(quiet))
    _echo(quiet)(f"report saved to {result.markdown}")


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory to create, with run/, bundle/ and report/ inside.")
@click.option("--epochs", type=int, help="Training epochs (fewer for a quick look).  [default: 150, as train]")
@click.option("--probe-python", multiple=True,
              help="As for export: another Python (e.g. an emulated Pi's, scripts/arm64.py) to check artifacts with.")
@click.option("--force", is_flag=True, help="Replace an existing directory.")
@click.option("--quiet", is_flag=True, help="Only errors and the report's path.")
def demo(out: Path, epochs: int | None, probe_python: tuple[str, ...], force: bool, quiet: bool) -> None:
    """The whole job on the built-in signal: train RNN and LSTM, export every mode, benchmark."""
    from edge_forecast.demo import run_demo

    result = run_demo(out, epochs=epochs, force=force, quiet=quiet, echo=_echo(quiet), probe_python=probe_python)
    click.echo(f"report: {result.report}")


def main() -> None:
    cli(prog_name="edge-forecast")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
