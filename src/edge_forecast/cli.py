"""`edge-forecast`: thin click commands over the Python API (edge_forecast.api); heavy imports
(TensorFlow, numpy) happen inside the commands, so `--help` loads neither."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import click

from edge_forecast import api
from edge_forecast.errors import FailedItems, UserError, parse_choices
from edge_forecast.export.modes import QuantMode
from edge_forecast.version import __version__

# The lists and limits below are those of modules that import numpy (edge.forecaster, edge.step,
# normalization, bundle, edge.runtime), which `--help` need not wait for (numpy is most of its
# `python -X importtime`); tests/cli/test_cli.py holds each equal to its source and checks that
# `--help` imports no numpy.
MAX_HORIZON = 10_000_000
MAX_THREADS = 256
HORIZON = click.IntRange(1, MAX_HORIZON)
AT_LEAST_ONE = click.IntRange(min=1)


class _Group(click.Group):
    """Turn a UserError or a usage error (click's, e.g. a value out of range) into one line on
    stderr and exit code 2, naming the option where the error names an API argument; a job whose
    items partly failed into their list and exit code 1; Ctrl-C into exit 130."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _negative_intervals(args))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            command = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            flag = option_name(command, exc.argument)
            click.echo(f"error: {exc.naming(flag) if flag else exc}", err=True)
            ctx.exit(2)
        except FailedItems as exc:
            click.echo(f"{len(exc.failures)} {exc.what} failed:", err=True)
            for failure in exc.failures:
                click.echo(f"  {failure}", err=True)
            ctx.exit(1)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else ctx.command_path
            click.echo(f"error: {exc.format_message()} (see {where} --help)", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was written", err=True)
            ctx.exit(130)


OPTIONAL_VALUES = ("--resample",)  # options whose value may be left out (is_flag=False, flag_value=...)


def _negative_intervals(args: list[str]) -> list[str]:
    """`--resample -1h` and `--resample=-1h` with the value kept: click takes a value that starts
    with '-' after an option whose value may be left out for the next option ('No such option -1'),
    so a leading space (which the interval's parser strips) keeps it a value, refused by name."""
    out: list[str] = []
    for arg in args:
        name, eq, value = arg.partition("=")
        if eq and name in OPTIONAL_VALUES and value.startswith("-"):
            out += [name, f" {value}"]
        elif out and out[-1] in OPTIONAL_VALUES and arg[:1] == "-" and arg[1:2].isdigit():
            out.append(f" {arg}")
        else:
            out.append(arg)
    return out


def option_name(command: click.Command | None, argument: str | None) -> str | None:
    """The command line's name of the API argument `argument` (the parameter of the same name):
    its long flag (train's `models` is `--model`), or an argument's metavar (RUN)."""
    for param in command.params if command and argument else ():
        if param.name == argument:
            if isinstance(param, click.Option):
                return max(param.opts, key=lambda o: (o.startswith("--"), len(o)))
            return param.human_readable_name
    return None


class CommaChoices(click.ParamType):
    """Comma-separated names from a fixed set (errors.parse_choices, the one parser): the value
    comes back canonical (lower case, repeats dropped, comma-joined); `alone` names (such as
    "all") cannot be combined with others."""

    name = "list"

    def __init__(self, choices, what: str, alone: tuple[str, ...] = ()) -> None:
        self.choices, self.what, self.alone = choices, what, alone
        self.valid = [c.value for c in choices] if isinstance(choices, type) else list(choices)

    def get_metavar(self, param, ctx=None) -> str:  # click 8.1 passes no ctx, 8.2 does
        return "[" + "|".join(self.valid) + "],..."

    def convert(self, value, param, ctx):
        try:
            found = parse_choices([value], self.choices, self.what, self.alone)
        except UserError as exc:
            self.fail(str(exc), param, ctx)
        return ",".join(getattr(f, "value", f) for f in found)


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


GRAPHS = ("window", "step", "rollout", "stream")  # bundle.GraphKind
RUNTIME_CHOICES = ("all", "litert", "tflite-runtime", "tensorflow")  # "all" and edge.runtime.Runtime
STATE_KEPT = ("inside", "explicit")  # edge.step.STATE_KEPT, the first the default
NORMALIZE_CHOICES = ("auto", "none", "perstep", "origin", "origin-mean")  # normalization.CHOICES


class FiniteFloat(click.FloatRange):
    """A float that is a number, in an optional range: click's float types also take 'nan' (which
    passes any range) and 'inf', which no option means (they ended runs in a traceback when the
    record was written, or in an OverflowError)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE = FiniteFloat()


class FractionOrCount(click.ParamType):
    """A fraction in [0, 1) or a whole count (>= 1): '0.2' or '500', never '1.5'."""

    name = "FRACTION|COUNT"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a fraction in [0, 1) nor a count of values", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is neither a fraction in [0, 1) nor a whole count of values", param, ctx)
        if not (0 <= number < 1 or (number >= 1 and number == int(number) and "." not in value)):
            self.fail(f"{value!r} is neither a fraction in [0, 1) nor a whole count of values", param, ctx)
        return number


def _echo(quiet: bool):
    return (lambda _line: None) if quiet else click.echo


def _reading_options(command):
    """How to read a values file or stream (edge_forecast.tabular); detected when not given."""
    options = [
        click.option("--delimiter", type=click.Choice([",", ";", "tab", "pipe", "whitespace"]),
                     help="Field delimiter.  [default: detected]"),
        click.option("--decimal", type=click.Choice([".", ","]), help="Decimal mark.  [default: detected]"),
        click.option("--time-column", help="Timestamp column: name or 0-based index (plain numbers are seconds); "
                                           "none: no time column.  [default: a column of timestamps]"),
        click.option("--time-format", help="strptime format of the time column, e.g. '%d/%m/%Y %H:%M'.  "
                                           "[default: ISO 8601 or a detected logger format]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command(short_help="Train forecasters on a signal into a run directory.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory to create.")
@click.option("--preset", type=click.Choice(["seed"]), help="seed: the tutorial experiment, exactly.")
@click.option("--signal", "signal", help="'damped', 'mackey-glass' (built-in) or a CSV / .npy file.  [default: damped]")
@click.option("--column", help="CSV column: header name or 0-based index.")
@click.option("--fill", type=click.Choice(["interpolate", "drop"]),
              help="Repair gaps (empty, NA, NaN, inf...): interpolate bridges every gap by a straight line, however "
                   "long (with --max-gap: as --max-gap alone); drop joins the values either side.")
@_reading_options
@click.option("--resample", metavar="[INTERVAL]", is_flag=False, flag_value="auto",
              help="Put timestamped readings on a grid: an interval (15s, 30min, 1h, 1d: slots [t, t + interval) "
                   "aligned on the clock) or auto (alone: the median interval's grid, slots around the first "
                   "reading); sorts, combines a slot's readings by --agg; empty slots are gaps, bridged or "
                   "split by --max-gap.")
@click.option("--agg", type=click.Choice(["mean", "last", "first", "max", "min", "sum", "median"]),
              help="With --resample: how several readings in one slot combine.  [default: mean]")
@click.option("--max-gap", metavar="N|DURATION",
              help="Gaps: a run of at most N missing values (or a duration, e.g. 2h) is bridged by a straight "
                   "line, a longer run splits the series into segments that no training window or test origin "
                   "crosses.  [default: 3 on a grid (--resample, or an irregular log put on its median interval's), "
                   "else gaps are refused unless --fill]")
@click.option("--outliers", type=click.Choice(["warn", "clip", "interpolate"]),
              help="Outliers by the median/MAD rule: warn, clip them to the robust bounds, or interpolate.  "
                   "[default: warn]")
@click.option("--tau", type=FINITE, help="Damped signal: decay constant.  [default: 5]")
@click.option("--points", type=int, help="Built-in signal: number of samples.  [default: damped 200, mackey-glass 600]")
@click.option("--span", type=FINITE, help="Damped signal: x range 0..span.  [default: 5*pi]")
@click.option("--delay", type=FINITE, help="Mackey-Glass: the delay tau.  [default: 17]")
@click.option("--signal-noise", type=FINITE, help="Mackey-Glass: seeded measurement noise std.  [default: 0]")
@click.option("--model", "models", multiple=True,
              help="rnn, lstm, gru or ar (linear on the window: ARIMA(p,d,0)(0,D,0) by least squares, p, d, D "
                   "chosen per series); repeat or comma-separate.  [default: lstm]")
@click.option("--highway", type=click.IntRange(min=0),
              help="Add a linear autoregressive path on the last P values to rnn/lstm/gru (LSTNet), started "
                   "from the least-squares fit; 0 = none.  [default: 0]")
@click.option("--ar-fit", type=click.Choice(["lstsq", "refine"]),
              help="--model ar: least squares only, or least squares then closed-loop training.  [default: lstsq]")
@click.option("--window", type=int, help="Past values per input window.  [default: 20]")
@click.option("--units", type=int, help="Recurrent units.  [default: 40]")
@click.option("--epochs", type=int,
              help="Training epochs.  [default: a budget of ~1,200 gradient steps at window 20 and batch 16, "
                   "~6,400 at window 52 with a batch grown past 16 (both fewer at longer windows), at most 150 "
                   "epochs (200 with a grown batch); seed preset: 1000; "
                   "--stream: 300]")
@click.option("--batch-size", type=int,
              help="Batch size.  [default: 16, larger (up to 128) when an epoch would exceed 32 steps; "
                   "seed preset: 10]")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"], case_sensitive=False),
              help="Gradient descent optimizer.  [default: adam]")
@click.option("--learning-rate", type=FINITE,
              help="Optimizer step size.  [default: 0.003 x batch / 16 (at most 0.01) with an automatic batch "
                   "(after a 5% warmup); 0.003 with a given batch; seed preset: 0.01]")
@click.option("--validation-split", type=FINITE, help="Trailing fraction of windows for validation.  [default: 0.1]")
@click.option("--test-split", type=FractionOrCount(),
              help="Trailing test segment that neither training nor selection sees: a fraction of the series "
                   "(< 1) or a count of values; 0 = none.  [default: 0.2; seed preset: 0]")
@click.option("--horizon", type=click.IntRange(min=1),
              help="Closed-loop steps from each test origin (rolling-origin backtest).  [default: 20]")
@click.option("--stride", type=click.IntRange(min=1),
              help="Values between test origins (raised to keep at most 1,000 origins).  [default: 1]")
@click.option("--season",
              help="Seasons in values: auto (tests the day, week and year the interval implies and the training "
                   "part's autocorrelation peaks, keeps the significant ones and says why), none, or N[,N...] "
                   "(e.g. 48,336). They give the seasonal naive baselines, MASE's scale (the first: the "
                   "strongest) and ar's seasonal difference (seasons shorter than the window).  "
                   "[default: auto; seed preset: none]")
@click.option("--scale", type=click.Choice(["none", "standard", "minmax"]),
              help="Scaling fitted on the training part: standard (mean 0, std 1), minmax (0 to 1), none.  "
                   "[default: standard]")
@click.option("--seed", type=int, help="Random seed; same seed, same result on one machine.  [default: 0]")
@click.option("--train-horizon", type=int,
              help="Closed-loop (multi-step) training: steps the model feeds its own predictions back, the loss "
                   "covering each; 0 = teacher forcing.  [default: 10, 5 with a batch grown past 16; --stream: 20; "
                   "seed preset: 0]")
@click.option("--input-noise", type=FINITE,
              help="Closed-loop training: Gaussian noise std added to input windows (scaled units).  [default: 0]")
@click.option("--weight-average", type=FiniteFloat(0, 1, max_open=True),
              help="Closed-loop training keeps an exponential moving average of the weights with this momentum "
                   "(Keras' optimizer EMA); validation, --select and the saved model use the average; 0 = off.  "
                   "[default: 0.99 with a batch grown past 16 and no --epochs, else 0]")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]),
              help="Learning rate over the epochs: constant, or cosine decay over the training steps to 5% of it.  "
                   "[default: cosine; seed preset: constant]")
@click.option("--select", type=click.Choice(["last", "best"]),
              help="Keep the last weights, or the best held-out closed-loop error.  [default: best; seed preset: last]")
@click.option("--stream", type=int,
              help="Streaming training for the stream graph: sequences of N values (N > window; 2x window "
                   "works well) with the state carried; also makes --train-horizon 20 and --epochs 300 the defaults. "
                   "0 = window training.  [default: 0]")
@click.option("--normalize", type=click.Choice(list(NORMALIZE_CHOICES), case_sensitive=False),
              help="Instance normalization outside the model: perstep (every step's window by its mean and "
                   "std; window graph only), origin (the forecast origin's window, fixed for the horizon; every "
                   "graph), origin-mean (its mean only), none, or auto: perstep where the training part's scale "
                   "drifts 2x or more across its thirds and the model trains with it, none otherwise.  "
                   "[default: auto; seed preset: none]")
@click.option("--profile", type=click.Choice(["auto", "on", "none"], case_sensitive=False),
              help="The training part's mean seasonal profile (per slot of the strongest season, the slot read "
                   "from each value's time) taken out before the models, which forecast the rest; the device adds "
                   "it back from its clock. auto: kept where it lowers AR(window)'s validation RMSE; needs a time "
                   "column and a season.  [default: auto]")
@click.option("--force", is_flag=True, help="Replace an existing run directory.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors.")
def train(**options) -> None:
    """Train forecasters on a signal and save a run directory."""
    api.train(**options)


@cli.command(short_help="A RUN or your Keras MODEL -> verified TFLite bundle.")
@click.argument("source", metavar="RUN|MODEL", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Bundle directory to create.")
@click.option("--signal", help="A model file's series: a CSV / .npy file, or damped, mackey-glass (built in).")
@click.option("--column", help="A model file's series: the file's column (name or 0-based index); a model of F "
                               "channels: F columns a,b,c in its input channel order.")
@click.option("--fill", help="A model file's series: missing values: interpolate, ffill or drop.  [default: refuse]")
@click.option("--time-column", help="A model file's series: the file's timestamp column.")
@click.option("--time-format", help="A model file's series: strptime format of the timestamps.  [default: ISO 8601]")
@click.option("--window", type=AT_LEAST_ONE,
              help="A model file's window length.  [default: the model's input length, where it fixes one]")
@click.option("--scale", help="What a model file reads: none, standard or minmax (fitted on the series' first "
                              "part; per channel), or OFFSET,SCALE: (x - OFFSET) / SCALE (one pair per channel, "
                              "separated by ;).  [default: none]")
@click.option("--models", help="Comma-separated models of the run.  [default: all]")
@click.option("--quant", type=CommaChoices([*(m.value for m in QuantMode), "auto"], "quantization mode", ("auto",)),
              help="Comma-separated modes: float32,float16,dynamic,int8,int16x8; or auto: convert all five, keep per "
                   "model the smallest (a tie in size: the first in that order) whose closed loop is within "
                   "--tolerance of float32's.  [default: all]")
@click.option("--tolerance", type=FiniteFloat(min=1),
              help="With --quant auto: the largest closed-loop RMSE against the truth, as a multiple of the "
                   "float32 export's, that a kept variant may have.  [default: 1.5]")
@click.option("--calibration-samples", type=AT_LEAST_ONE, default=100, show_default=True,
              help="Training windows used to calibrate full-integer modes.")
@click.option("--probe-python", multiple=True,
              help="Another Python with edge-forecast and a runtime (e.g. tflite-runtime) to check artifacts with.")
@click.option("--graphs", type=CommaChoices(GRAPHS, "graph"), default="window", show_default=True,
              help="Comma-separated graphs: window (always), step, rollout, stream; the others in float32 and int8.")
@click.option("--rollout-horizon", type=HORIZON,
              help="Forecast length H of the rollout graph (values per invoke).  [default: the evaluation steps]")
@click.option("--step-state", type=click.Choice(list(STATE_KEPT)), default=STATE_KEPT[0], show_default=True,
              help="Where step and stream graphs keep the recurrent state: inside the interpreter (resource "
                   "variables; a step is set x, invoke, get y) or explicit state tensors (what `micro` takes).")
@click.option("--bias-correction/--no-bias-correction", default=True, show_default=True,
              help="int8 / int16x8 window graphs and int8 rollout graphs: convert again with the output's mean "
                   "error on the calibration windows taken out of the output layer's bias (bundle.json: output_bias).")
@click.option("--levels", default="80,95", show_default=True,
              help="Prediction intervals of every variant at these levels (percent, comma-separated): "
                   "split-conformal quantiles of its own closed-loop error per step over the validation "
                   "origins; none: no intervals.")
@click.option("--force", is_flag=True, help="Replace an existing bundle directory.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors and failures.")
def export(**options) -> None:
    """Convert a training RUN, or your own Keras MODEL (.keras, .h5, or a SavedModel folder) with the
    series it forecasts (--signal), to TFLite in every quantization mode, verified, into a bundle."""
    api.export(**options)


@cli.command(short_help="Forecast with a BUNDLE (no TensorFlow needed).")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--model", help="Model in the bundle.  [default: the first]")
@click.option("--variant", help="float32, float16, dynamic, int8 or int16x8.  [default: float32]")
@click.option("--horizon", type=HORIZON,
              help="Forecast length: values forecast (after each observation with --follow).  "
                   "[default: the bundle's evaluation length; 1 with --follow]")
@click.option("--history", help="Recent values to start from: CSV / .npy file, or - for stdin (one per line).  "
                                "[default: the bundle's context window]")
@click.option("--column", help="Values column of a --history file or --follow lines: name or 0-based index.")
@click.option("--fill", type=click.Choice(["interpolate", "drop"]),
              help="Repair gaps in --history (a gap before its last window values is ignored anyway).")
@_reading_options
@click.option("--resample", metavar="[INTERVAL]", is_flag=False, flag_value="auto",
              help="Put a timestamped --history on a grid: an interval (30min, 1h, ...: slots aligned on the clock) "
                   "or auto (alone: the median interval's).")
@click.option("--agg", type=click.Choice(["mean", "last", "first", "max", "min", "sum", "median"]),
              help="With --resample: how several readings in one slot combine.  [default: mean]")
@click.option("--follow", is_flag=True, help="Read observations from stdin; print the forecast after each.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="csv: step,value lines (step,time,value with a time column); json: one document with the "
                   "model, variant, runtime, graph and forecast.")
@click.option("--runtime", type=click.Choice(["auto", "litert", "tflite-runtime", "tensorflow"]), default="auto",
              show_default=True, help="auto prefers ai-edge-litert, then tflite-runtime, then tensorflow.lite.")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), help="Interpreter threads.  [default: the runtime's]")
@click.option("--graph", type=click.Choice(["auto", "window", "step", "stream", "rollout"]), default="auto",
              show_default=True,
              help="auto: rollout when --horizon fits its H, step (stream for a stream-trained model) for --follow "
                   "and longer forecasts, else window (when the bundle has them).")
@click.option("--levels", help="Prediction intervals beside the forecast: all, or comma-separated levels the variant "
                                "has (80,95): columns lower_80,upper_80,... (json: fields of those names), up to "
                                "the intervals' horizon. With --follow: adaptive conformal bounds of each "
                                "observation at these levels (implies --score).  [default: none, the forecast "
                                "alone; with --score: the variant's levels, else 80,95]")
@click.option("--score", is_flag=True,
              help="With --follow: one line per observation instead: value, the forecast made for it, adaptive "
                   "conformal bounds, anomaly score (0 to 1) and flag; a --history warms the scorer up.")
@click.option("--threshold", type=FiniteFloat(0, 1, min_open=True),
              help="With --follow: flag a value whose score reaches this (0.5: tail probability 1e-5; implies "
                   "--score).  [default: 0.5]")
@click.option("--aci-rate", type=FiniteFloat(0, 1, min_open=True, max_open=True),
              help="With --follow: step size gamma of adaptive conformal inference, how fast each level's "
                   "quantile follows the misses (implies --score).  [default: 0.005]")
def run(bundle: Path, model: str | None, variant: str | None, horizon: int | None,
        history: str | None, column: str | None, fill: str | None, delimiter: str | None, decimal: str | None,
        time_column: str | None, time_format: str | None, resample: str | None, agg: str | None, follow: bool,
        fmt: str, runtime: str,
        threads: int | None, graph: str, levels: str | None, score: bool, threshold: float | None,
        aci_rate: float | None) -> None:
    """Forecast with a BUNDLE on this device (numpy + a TFLite interpreter, no TensorFlow)."""
    from edge_forecast.edge.cli_run import run_command
    from edge_forecast.tabular import ReadOptions

    read = ReadOptions(column=column, delimiter=delimiter, decimal=decimal, time_column=time_column,
                       time_format=time_format, resample=resample, agg=agg)
    run_command(bundle, model=model, variant=variant, horizon=horizon, history=history, read=read, fill=fill,
                follow=follow, fmt=fmt, runtime=runtime, threads=threads, graph=graph, levels=levels, score=score,
                threshold=threshold, aci_rate=aci_rate)


@cli.command(short_help="Anomaly scores and flags of a FILE: CSV + plot.")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--bundle", type=click.Path(path_type=Path), required=True, help="The bundle whose forecaster scores.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="CSV to write (time, value, forecast, bounds, score, flag); the plot goes beside it as .png.")
@click.option("--column", help="Values column: name or 0-based index.  [default: the model's, else the only one]")
@click.option("--fill", type=click.Choice(["interpolate", "drop"]), help="Repair gaps.  [default: refuse them]")
@_reading_options
@click.option("--model", help="Model in the bundle.  [default: the first]")
@click.option("--variant", help="float32, float16, dynamic, int8 or int16x8.  [default: float32]")
@click.option("--runtime", type=click.Choice(["auto", "litert", "tflite-runtime", "tensorflow"]), default="auto",
              show_default=True, help="auto prefers ai-edge-litert, then tflite-runtime, then tensorflow.lite.")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), help="Interpreter threads.  [default: the runtime's]")
@click.option("--graph", type=click.Choice(["auto", "window", "step", "stream"]), default="auto", show_default=True,
              help="The graph each update runs on (auto: step, or stream for a stream-trained model, when the "
                   "bundle has them; else window).")
@click.option("--levels", help="Adaptive conformal bounds at these levels (comma-separated) or all.  "
                                "[default: the variant's levels, else 80,95]")
@click.option("--threshold", type=FiniteFloat(0, 1, min_open=True),
              help="Flag a value whose score reaches this (0.5: tail probability 1e-5).  [default: 0.5]")
@click.option("--aci-rate", type=FiniteFloat(0, 1, min_open=True, max_open=True),
              help="Step size gamma of adaptive conformal inference.  [default: 0.005]")
@click.option("--force", is_flag=True, help="Replace an existing CSV and plot.")
@click.option("--quiet", is_flag=True, help="No summary, only errors and warnings.")
def detect(**options) -> None:
    """Score every value of FILE causally, each from the values before it alone, as `run --follow
    --score` would: forecast, adaptive conformal bounds, anomaly score and flag, into a CSV and a
    PNG plot; prints how many values were flagged and the first."""
    api.detect(**options)


@cli.command(short_help="C++ arrays, arena and op list of a BUNDLE for TFLM.")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--models", help="Comma-separated models of the bundle.  [default: all]")
@click.option("--variants", help="Comma-separated variants (int8, step-int8, stream-float32, ...).  "
                                 "[default: every window, step and stream variant tflite-micro ran at export]")
@click.option("--arena-margin", type=FINITE, default=0.25, show_default=True,
              help="Fraction (0 to 10) added to the measured arena for target kernels (CMSIS-NN) whose scratch "
                   "buffers differ.")
@click.option("--probe-python", multiple=True,
              help="Another Python whose runtimes also check the stripped model (e.g. .venv-tflite/bin/python).")
@click.option("--force", is_flag=True, help="Replace an existing BUNDLE/micro directory.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors and warnings.")
def micro(bundle: Path, models: str | None, variants: str | None, arena_margin: float, probe_python: tuple[str, ...],
          force: bool, quiet: bool) -> None:
    """Microcontroller files for a BUNDLE: C++ model arrays, measured arena, op registration, TFLM check."""
    from edge_forecast.micro.command import micro_bundle

    result = micro_bundle(bundle, models=models, variants=variants, arena_margin=arena_margin,
                          probe_python=probe_python, force=force, echo=_echo(quiet))
    _echo(quiet)(f"micro files saved to {result.directory} ({len(result.records)} variants)")
    for warning in result.warnings:  # always on stderr
        click.echo(f"warning: {warning}", err=True)
    if result.failures:
        raise FailedItems("variant(s)", result.failures, result.directory)


@cli.command(short_help="Benchmark a BUNDLE's variants: report.md + JSON.")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Report directory to create.")
@click.option("--horizon", type=HORIZON,
              help="Closed-loop forecast length.  [default: the bundle's evaluation length]")
@click.option("--repeats", type=AT_LEAST_ONE, default=3, show_default=True,
              help="Latency repeats (>= 1,000 steps each); the report gives the median of each statistic.")
@click.option("--runtimes", type=CommaChoices(RUNTIME_CHOICES, "runtime", alone=("all",)), default="all",
              show_default=True,
              help="all, or comma-separated: litert,tflite-runtime,tensorflow. A missing one becomes a row saying why.")
@click.option("--reference", type=click.Path(path_type=Path),
              help="The training run of the bundle: also measure the float Keras model (needs TensorFlow).")
@click.option("--force", is_flag=True, help="Replace an existing report directory.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors.")
def bench(**options) -> None:
    """Benchmark every variant of a BUNDLE on every runtime: report.md, report.json and figures."""
    api.bench(**options)


@cli.command(short_help="Train, export and bench the built-in signal.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory to create, with run/, bundle/ and report/ inside.")
@click.option("--epochs", type=AT_LEAST_ONE,
              help="Training epochs (fewer for a quick look).  [default: as train: a budget of gradient steps, "
                   "see train --help]")
@click.option("--probe-python", multiple=True,
              help="As for export: another Python (e.g. an emulated Pi's, scripts/arm64.py) to check artifacts with.")
@click.option("--force", is_flag=True, help="Replace an existing directory.")
@click.option("--quiet", is_flag=True, help="Only errors and the report's path.")
def demo(**options) -> None:
    """The whole job on the built-in signal: train RNN and LSTM, export every mode, benchmark."""
    out = api.demo(**options)
    click.echo(f"report: {out / 'report' / 'report.md'}")


@cli.command(short_help="One forecaster per sensor: a folder of series -> bundles.")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Fleet directory: bundles/<sensor>/, manifest.json, fleet.md / fleet.json / fleet.png. An "
                   "existing one is resumed.")
@click.option("--id-column", help="DATA is one long-format CSV or Parquet file: the sensor id's column (name or "
                                  "0-based index).")
@click.option("--column", help="Values column of each series: name or 0-based index.")
@click.option("--time-column", help="Timestamp column: name or 0-based index; none: no time column.  "
                                    "[default: a column of timestamps]")
@click.option("--time-format", help="strptime format of the time column.  [default: ISO 8601 or a detected format]")
@click.option("--delimiter", type=click.Choice([",", ";", "tab", "pipe", "whitespace"]),
              help="Field delimiter (a long-format file: not whitespace).  [default: detected]")
@click.option("--decimal", type=click.Choice([".", ","]), help="Decimal mark.  [default: detected]")
@click.option("--fill", type=click.Choice(["interpolate", "drop"]), help="Repair gaps, as train --fill.")
@click.option("--resample", is_flag=True, default=None, help="Put timestamped readings on the median interval's grid.")
@click.option("--model", "models", multiple=True,
              help="As train --model: rnn, lstm, gru, ar or auto; with several, the one with the lowest validation "
                   "backtest error is exported per sensor.  [default: lstm]")
@click.option("--window", type=AT_LEAST_ONE, help="As train --window.  [default: 20]")
@click.option("--units", type=AT_LEAST_ONE, help="As train --units.  [default: 40]")
@click.option("--epochs", type=AT_LEAST_ONE, help="As train --epochs.  [default: train's budget]")
@click.option("--horizon", type=AT_LEAST_ONE, help="As train --horizon: test steps per origin.  [default: 20]")
@click.option("--test-split", type=FractionOrCount(), help="As train --test-split.  [default: 0.2]")
@click.option("--season", help="As train --season: auto, none or N[,N...].  [default: auto]")
@click.option("--seed", type=int, help="Random seed of every sensor's training.  [default: 0]")
@click.option("--quant", type=CommaChoices([*(m.value for m in QuantMode), "auto"], "quantization mode", ("auto",)),
              default="auto", show_default=True, help="As export --quant.")
@click.option("--tolerance", type=FiniteFloat(min=1), help="As export --tolerance (with --quant auto).  [default: 1.5]")
@click.option("--jobs", type=click.IntRange(min=1),
              help="Sensors trained at once (worker processes, one TensorFlow thread each; with --ray auto, the "
                   "local instance's CPUs).  [default: the cores]")
@click.option("--ray", help="Run on Ray: auto (start a local instance) or a cluster's address (HOST:PORT, "
                            "ray://HOST:PORT; OUT on a file system every node sees). Needs the fleet extra.")
@click.option("--retry-failed", is_flag=True, help="Also try again the sensors an earlier run recorded as failed.")
@click.option("--force", is_flag=True, help="Start again: remove an existing fleet's outputs first.")
@click.option("--quiet", is_flag=True, help="No progress output, only errors and failures.")
def fleet(**options) -> None:
    """Train and export one forecaster per sensor: DATA is a folder of CSV files (one series each) or one
    long-format CSV or Parquet file (--id-column). Sensors run in parallel; a failed one is recorded and the others go
    on; run again to resume (finished sensors are skipped)."""
    try:
        api.fleet(**options)
    except KeyboardInterrupt:  # the finished sensors are recorded: say so, not "nothing was written"
        click.echo(f"interrupted; the finished sensors are kept in {options['out']}: run again to resume", err=True)
        sys.exit(130)


def main() -> None:
    cli(prog_name="edge-forecast")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
