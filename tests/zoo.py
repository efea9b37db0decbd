"""The model zoo: small Keras 3 forecasters as users write them, for "bring your own model" (issue 26).

Each `build_NAME(window=20, steps=STEPS)` returns a compiled `keras.Model` trained for `steps`
batches on the tutorial's damped wave y = exp(-x/5) cos(x) (`steps=0`: compiled, untrained);
`ZOO` describes each one (layers, input and output shapes, channels, the graph kinds it should
export to). One copy serves the tests (tests/export/test_zoo.py) and the benchmark (benchmarks/zoo.py
puts tests/ on sys.path).

Output kinds (what the exporter must detect): "seq2seq" (B, W, F) -> (B, W, F), the last position
is the next value (the tutorial); "next" (B, W, F) -> (B, F) or (B, 1, F); "direct"
(B, W, F) -> (B, H) for F = 1 or (B, H, F), H values per call.

Graph kinds: window and rollout for every model; step and stream only for stacks of recurrent
layers with Dense heads (a Conv1D front reads several steps, Bidirectional reads the window
backwards; Normalization in front is a per-step affine map, which the step graph holds).

TensorFlow is imported inside the builders, never at import time: the fast suite collects the
test module without paying for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WINDOW = 20
STEPS = 8        # training batches per model: seconds, enough to move the weights off their start
BATCH = 16
SEED = 0
ALL_GRAPHS = ("window", "rollout", "step", "stream")
WINDOW_ONLY = ("window", "rollout")
TAUS = (5.0, 3.0, 8.0, 4.0, 6.0, 10.0, 2.5)  # damping of each channel of the 7-channel model


@dataclass(frozen=True)
class ZooModel:
    name: str
    layers: str                 # as a user would describe the stack
    kind: str                   # "seq2seq" | "next" | "direct"
    channels: int               # F, read and forecast
    output: Callable[[int], tuple]  # the output shape for a window, batch as None (or the fixed batch)
    graphs: tuple[str, ...]     # graph kinds it should export to
    build: Callable[..., object]
    batch: int | None = None    # a fixed batch size (stateful models)
    horizon: int = 1            # values ahead per call (direct models: H)

    def input_shape(self, window: int = WINDOW) -> tuple:
        return (self.batch, window, self.channels)


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def seeded_keras(seed: int = 0):
    """keras, quiet, with every random generator seeded: a test's models built the same every run."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    return keras


def series(channels: int = 1, points: int = 200) -> np.ndarray:
    """(points, channels) float32: the damped wave, one damping per channel (channel 0: the tutorial's)."""
    x = np.linspace(0.0, 5 * np.pi, points)
    return np.stack([np.exp(-x / tau) * np.cos(x + i * 0.4) for i, tau in enumerate(TAUS[:channels])],
                    axis=1).astype(np.float32)


def windows(spec: ZooModel, window: int = WINDOW, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (N, W, F), targets shaped as the model's output) from `series`."""
    values = series(spec.channels, points)
    count = len(values) - window - spec.horizon + 1
    x = np.stack([values[i:i + window] for i in range(count)])
    if spec.kind == "seq2seq":
        y = np.stack([values[i + 1:i + window + 1] for i in range(count)])
    elif spec.kind == "direct":
        y = np.stack([values[i + window:i + window + spec.horizon] for i in range(count)])
    else:
        y = values[window:window + count]
    return x, y.reshape((count, *spec.output(window)[1:]))


def _fit(spec: ZooModel, model, window: int, steps: int, optimizer: str = "adam"):
    model.compile(optimizer=optimizer, loss="mse")
    x, y = windows(spec, window)
    batch = spec.batch or BATCH
    # a stateful model carries state across batches: keep them in order, as its user would
    order = np.arange(len(x)) if spec.batch else np.random.default_rng(SEED).permutation(len(x))
    for step in range(steps):
        start = step * batch % (len(x) - batch + 1)
        model.train_on_batch(x[order[start:start + batch]], y[order[start:start + batch]])
    return model


def _sequential(name: str, window: int, steps: int, *layers, optimizer: str = "adam", channels: int = 1,
                batch: int | None = None):
    """A Sequential model on a (window, channels) input of `layers` (callables of the seeded keras
    module, so every model starts from the same seed), compiled and trained for `steps` batches."""
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([keras.Input((window, channels), batch_size=batch), *(make(keras) for make in layers)])
    return _fit(ZOO_BY_NAME[name], model, window, steps, optimizer)


# --- the builders (compiled; trained for `steps` batches) ---------------------------------------


def build_tutorial_rnn(window: int = WINDOW, steps: int = STEPS):
    return _sequential("tutorial_rnn", window, steps, lambda k: k.layers.SimpleRNN(40, return_sequences=True),
                       lambda k: k.layers.Dense(1), optimizer="sgd")


def build_tutorial_lstm(window: int = WINDOW, steps: int = STEPS):
    return _sequential("tutorial_lstm", window, steps, lambda k: k.layers.LSTM(40, return_sequences=True),
                       lambda k: k.layers.Dense(1), optimizer="sgd")


def build_lstm_stack(window: int = WINDOW, steps: int = STEPS):
    return _sequential("lstm_stack", window, steps, lambda k: k.layers.LSTM(32, return_sequences=True),
                       lambda k: k.layers.LSTM(16), lambda k: k.layers.Dense(1))


def build_gru_dropout(window: int = WINDOW, steps: int = STEPS):
    return _sequential("gru_dropout", window, steps, lambda k: k.layers.GRU(24), lambda k: k.layers.Dropout(0.2),
                       lambda k: k.layers.Dense(1))


def build_conv_lstm(window: int = WINDOW, steps: int = STEPS):
    return _sequential("conv_lstm", window, steps,
                       lambda k: k.layers.Conv1D(16, 3, padding="causal", activation="relu"),
                       lambda k: k.layers.LSTM(24), lambda k: k.layers.Dense(1))


def build_lstm_direct24(window: int = WINDOW, steps: int = STEPS):
    return _sequential("lstm_direct24", window, steps, lambda k: k.layers.LSTM(32), lambda k: k.layers.Dense(24))


def build_lstm_7ch(window: int = WINDOW, steps: int = STEPS):
    return _sequential("lstm_7ch", window, steps, lambda k: k.layers.LSTM(32), lambda k: k.layers.Dense(7),
                       channels=7)


def build_bilstm(window: int = WINDOW, steps: int = STEPS):
    return _sequential("bilstm", window, steps, lambda k: k.layers.Bidirectional(k.layers.LSTM(16)),
                       lambda k: k.layers.Dense(1))


def build_normalized_lstm(window: int = WINDOW, steps: int = STEPS):
    def adapted(keras):
        norm = keras.layers.Normalization(axis=-1)
        norm.adapt(series(1))  # on the raw series, as a user does before fit
        return norm

    return _sequential("normalized_lstm", window, steps, adapted, lambda k: k.layers.LSTM(24),
                       lambda k: k.layers.Dense(1))


def build_stateful_lstm(window: int = WINDOW, steps: int = STEPS):
    return _sequential("stateful_lstm", window, steps, lambda k: k.layers.LSTM(24, stateful=True),
                       lambda k: k.layers.Dense(1), batch=1)


def build_unrolled_lstm(window: int = WINDOW, steps: int = STEPS):
    return _sequential("unrolled_lstm", window, steps, lambda k: k.layers.LSTM(24, unroll=True),
                       lambda k: k.layers.Dense(1))


def build_gru_timedistributed(window: int = WINDOW, steps: int = STEPS):
    return _sequential("gru_timedistributed", window, steps, lambda k: k.layers.GRU(24, return_sequences=True),
                       lambda k: k.layers.TimeDistributed(k.layers.Dense(1)))


def build_functional_gru(window: int = WINDOW, steps: int = STEPS):
    keras = _keras()
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((window, 1), name="history")
    hidden = keras.layers.GRU(24, name="gru")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="next")(hidden), name="functional_gru")
    return _fit(ZOO_BY_NAME["functional_gru"], model, window, steps)


def build_lstm_next_reshape(window: int = WINDOW, steps: int = STEPS):
    return _sequential("lstm_next_reshape", window, steps, lambda k: k.layers.LSTM(24), lambda k: k.layers.Dense(1),
                       lambda k: k.layers.Reshape((1, 1)))


def _seq(f: int) -> Callable[[int], tuple]:
    return lambda window: (None, window, f)


ZOO: tuple[ZooModel, ...] = (
    ZooModel("tutorial_rnn", "Sequential: SimpleRNN(40, return_sequences=True) -> Dense(1); SGD", "seq2seq",
             1, _seq(1), ALL_GRAPHS, build_tutorial_rnn),
    ZooModel("tutorial_lstm", "Sequential: LSTM(40, return_sequences=True) -> Dense(1); SGD", "seq2seq",
             1, _seq(1), ALL_GRAPHS, build_tutorial_lstm),
    ZooModel("lstm_stack", "LSTM(32, return_sequences=True) -> LSTM(16) -> Dense(1)", "next",
             1, lambda w: (None, 1), ALL_GRAPHS, build_lstm_stack),
    ZooModel("gru_dropout", "GRU(24) -> Dropout(0.2) -> Dense(1)", "next",
             1, lambda w: (None, 1), ALL_GRAPHS, build_gru_dropout),
    ZooModel("conv_lstm", "Conv1D(16, 3, causal, relu) -> LSTM(24) -> Dense(1)", "next",
             1, lambda w: (None, 1), WINDOW_ONLY, build_conv_lstm),
    ZooModel("lstm_direct24", "LSTM(32) -> Dense(24): 24 values per call", "direct",
             1, lambda w: (None, 24), ALL_GRAPHS, build_lstm_direct24, horizon=24),
    ZooModel("lstm_7ch", "LSTM(32) -> Dense(7): 7 channels in, 7 out", "next",
             7, lambda w: (None, 7), ALL_GRAPHS, build_lstm_7ch),
    ZooModel("bilstm", "Bidirectional(LSTM(16)) -> Dense(1)", "next",
             1, lambda w: (None, 1), WINDOW_ONLY, build_bilstm),
    ZooModel("normalized_lstm", "Normalization (adapted) -> LSTM(24) -> Dense(1)", "next",
             1, lambda w: (None, 1), ALL_GRAPHS, build_normalized_lstm),
    ZooModel("stateful_lstm", "LSTM(24, stateful=True), batch 1 -> Dense(1)", "next",
             1, lambda w: (1, 1), ALL_GRAPHS, build_stateful_lstm, batch=1),
    ZooModel("unrolled_lstm", "LSTM(24, unroll=True) -> Dense(1)", "next",
             1, lambda w: (None, 1), ALL_GRAPHS, build_unrolled_lstm),
    ZooModel("gru_timedistributed", "GRU(24, return_sequences=True) -> TimeDistributed(Dense(1))", "seq2seq",
             1, _seq(1), ALL_GRAPHS, build_gru_timedistributed),
    ZooModel("functional_gru", "functional API: Input -> GRU(24) -> Dense(1)", "next",
             1, lambda w: (None, 1), ALL_GRAPHS, build_functional_gru),
    ZooModel("lstm_next_reshape", "LSTM(24) -> Dense(1) -> Reshape((1, 1)): output (B, 1, 1)", "next",
             1, lambda w: (None, 1, 1), ALL_GRAPHS, build_lstm_next_reshape),
)
ZOO_BY_NAME = {spec.name: spec for spec in ZOO}
NAMES = tuple(ZOO_BY_NAME)


def build(name: str, window: int = WINDOW, steps: int = STEPS):
    return ZOO_BY_NAME[name].build(window, steps)


def table() -> str:
    """The zoo as a Markdown table (for the benchmark report and docs)."""
    rows = ["| model | layers | input | output | kind | F | graphs |", "|---|---|---|---|---|---|---|"]
    for spec in ZOO:
        rows.append(f"| {spec.name} | {spec.layers} | {_shape(spec.input_shape())} | {_shape(spec.output(WINDOW))} "
                    f"| {spec.kind} | {spec.channels} | {', '.join(spec.graphs)} |")
    return "\n".join(rows)


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("B" if d is None else str(d) for d in shape) + ")"


# --- save formats --------------------------------------------------------------------------------

SAVE_FORMATS = ("keras", "h5", "savedmodel")


def save_and_load(spec: ZooModel, model, fmt: str, where: Path, atol: float = 1e-5) -> str:
    """Save `model` (zoo entry `spec`) in `fmt` under `where` and load it back; "ok", or what failed
    and the first line of its error.

    keras / h5: `model.save(x)` then `keras.models.load_model(x)`; savedmodel: `model.export(dir)`
    then `tf.saved_model.load(dir).serve(...)`. Either way the loaded model's output on a batch of
    windows must match the model's within `atol`."""
    keras = _keras()
    x = windows(spec)[0][: spec.batch or 4]
    expected = np.asarray(fresh_call(model, x))
    path = Path(where) / (f"{spec.name}.{fmt}" if fmt != "savedmodel" else f"{spec.name}_savedmodel")
    try:
        if fmt == "savedmodel":
            model.export(str(path), verbose=False)
        else:
            model.save(path)
    except Exception as err:  # noqa: BLE001 - the outcome is the record
        return f"save fails: {first_line(err)}"
    try:
        if fmt == "savedmodel":
            import tensorflow as tf

            loaded = tf.saved_model.load(str(path))  # held: its functions need its variables alive
            got = np.asarray(loaded.serve(x))
        else:
            got = np.asarray(fresh_call(keras.models.load_model(path, compile=False), x))
    except Exception as err:  # noqa: BLE001
        return f"load fails: {first_line(err)}"
    if got.shape != expected.shape or not np.allclose(got, expected, atol=atol):
        return f"loaded model differs (shape {got.shape} vs {expected.shape})"
    return "ok"


def fresh_call(model, x):
    """`model(x)` from zero state: a stateful layer would otherwise start from the last call's state."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()
    return model(x, training=False)


def first_line(err: BaseException) -> str:
    """The exception's type and its first informative line (Keras wraps layer errors in a header
    line "Exception encountered when calling ..." and colours the message)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:240]
