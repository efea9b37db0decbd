"""The device side: numpy + one interpreter. Runs in the main venv (ai-edge-litert, numpy 2) and in
.venv-tflite (tflite-runtime 2.14, numpy < 2, no TensorFlow) against a bundle made by the exporter.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import cli

from edge_forecast.bundle import load_bundle, runtime_status
from edge_forecast.edge import Forecaster, Runtime, available_runtimes
from edge_forecast.errors import UserError

RUNTIME = available_runtimes()[0]


def runs_here(bundle, model: str, variant: str) -> bool:
    """Not recorded as failing with RUNTIME on this machine (tflite-runtime's int8 LSTM crashes on ARM)."""
    return runtime_status(bundle.variant(model, variant), RUNTIME.value).get("ok") is not False


def test_a_forecast_imports_no_tensorflow(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    variant = next(v for v in ("int8", "int16x8", "float32") if runs_here(bundle, "lstm", v))
    code = (
        "import sys\n"
        "from edge_forecast.cli import main\n"
        f"sys.argv = ['edge-forecast', 'run', {str(tiny_bundle)!r}, '--model', 'lstm', '--variant', {variant!r}, "
        "'--graph', 'window', '--horizon', '10']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "assert not bad, bad\n"
        "print('modules ok', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "modules ok" in done.stderr and done.stdout.count("\n") == 11


@pytest.mark.parametrize("model", ["rnn", "lstm"])
def test_float32_forecast_equals_keras_closed_loop(tiny_bundle, model):
    bundle = load_bundle(tiny_bundle)
    keras_loop = np.asarray(bundle.model(model).keras["closed_loop"])
    got = Forecaster(bundle, model, "float32").forecast(None, keras_loop.size)
    assert np.max(np.abs(got - keras_loop)) <= 1e-4


@pytest.mark.parametrize("variant", ["int8", "int16x8"])
def test_integer_forecast_within_recorded_bound(tiny_bundle, variant):
    bundle = load_bundle(tiny_bundle)
    entry = bundle.variant("lstm", variant)
    if not runs_here(bundle, "lstm", variant):
        pytest.skip(f"{RUNTIME.value} cannot run {variant} here (recorded in the bundle)")
    keras_loop = np.asarray(bundle.model("lstm").keras["closed_loop"])
    # the window graph: the bound is that artifact's (auto would pick a step graph when present)
    got = Forecaster(bundle, "lstm", variant, graph="window").forecast(None, keras_loop.size)
    bound = entry.errors["closed_loop_max_abs_vs_keras"]
    # the bound was measured with ai-edge-litert; another runtime's integer kernels may round differently
    slack = 1e-9 if RUNTIME is Runtime.LITERT else 0.5 * bound + 1e-3
    assert np.max(np.abs(got - keras_loop)) <= bound + slack


def test_history_starts_the_forecast(tiny_bundle):
    f = Forecaster(tiny_bundle, "lstm", "float32")
    truth = f.bundle.truth
    series = np.concatenate([f.bundle.context_window, truth])
    from_seed = f.forecast(None, 5)
    assert np.array_equal(f.forecast(series[:20], 5), from_seed)
    assert not np.array_equal(f.forecast(series[:40], 5), from_seed)


def test_forecast_horizon_defaults_to_one_and_is_checked(tiny_bundle):
    f = Forecaster(tiny_bundle, "rnn", "float32", graph="window")
    assert f.forecast(None, horizon=4).shape == (4,) and f.forecast(None).shape == (1,)
    with pytest.raises(TypeError):  # steps=, its name before 0.1.0 (CHANGELOG.md)
        f.forecast(None, steps=4)
    with pytest.raises(UserError, match="horizon must be between 1 and"):
        f.forecast(None, horizon=0)


def test_update_costs_one_invoke_per_observation(tiny_bundle, invokes):
    f = Forecaster(tiny_bundle, "lstm", "float32")
    before = len(invokes)
    for value in np.linspace(-0.5, 0.5, 50):
        f.update(value)
    assert len(invokes) - before == 50
    f.update(0.1, horizon=7)
    assert len(invokes) - before == 57
    # a horizon forecast does not disturb the stream: the next one-step forecast is unchanged
    g = Forecaster(tiny_bundle, "lstm", "float32")
    for value in np.linspace(-0.5, 0.5, 50):
        g.update(value)
    g.update(0.1)
    assert g.update(0.2)[0] == f.update(0.2)[0]


def test_run_prints_csv_and_json(tiny_bundle):
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--horizon", "4")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "step,value" and [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--variant", "int8", "--graph", "window", "--horizon", "3",
               "--format", "json")
    doc = json.loads(done.stdout)
    assert doc["model"] == "rnn" and doc["variant"] == "int8" and len(doc["forecast"]) == 3
    assert doc["graph"] == "window" and doc["horizon"] == 3


def test_history_from_stdin(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    values = "\n".join(str(v) for v in bundle.context_window)
    done = cli("run", str(tiny_bundle), "--history", "-", "--horizon", "3", "--format", "json", input=values)
    assert done.returncode == 0, done.stderr
    expected = Forecaster(bundle, "rnn", "float32").forecast(None, 3)
    assert np.allclose(json.loads(done.stdout)["forecast"], expected, atol=1e-7)


def test_follow_through_a_pipe(tiny_bundle):
    feed = "0.1\n0.2\nnot-a-number\n\n0.3\n0.4\n"
    done = cli("run", str(tiny_bundle), "--model", "lstm", "--follow", "--horizon", "3", input=feed)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.strip().splitlines()
    assert rows[0] == "observation,t+1,t+2,t+3" and len(rows) == 5
    assert all(len(r.split(",")) == 4 for r in rows[1:])
    assert "line 3: 'not-a-number' is not a finite number; skipped" in done.stderr
    f = Forecaster(tiny_bundle, "lstm", "float32")
    for v in (0.1, 0.2, 0.3):
        f.update(v)
    assert float(rows[4].split(",")[1]) == pytest.approx(f.update(0.4, 3)[0], abs=1e-7)


def _corrupt(tiny_bundle, tmp_path, how):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    target = copy / "lstm.float32.tflite"
    data = bytearray(target.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif how == "truncate":
        target.write_bytes(bytes(data[:100]))
    elif how == "json":
        (copy / "bundle.json").write_text("{not json")
    elif how == "missing":
        target.unlink()
    return copy


@pytest.mark.parametrize(
    "how, message",
    [("flip", "checksum mismatch for lstm.float32.tflite"), ("truncate", "is 100 bytes"),
     ("json", "is not valid JSON"), ("missing", "file lstm.float32.tflite for lstm/float32 is missing")],
)
def test_corrupt_bundle_exits_2(tiny_bundle, tmp_path, how, message):
    copy = _corrupt(tiny_bundle, tmp_path, how)
    done = cli("run", str(copy), "--model", "lstm", "--horizon", "2")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["--model", "tcn"], None, "unknown model 'tcn'; valid: rnn, lstm"),
        (["--variant", "int4"], None, "unknown variant for model rnn 'int4'; valid: float32, float16"),
        (["--history", "-"], "1\n2\n3\n", "the history has 3 values; the model needs at least 20"),
        (["--history", "-"], "1\nabc\n", "non-numeric value 'abc' at line 2 of stdin"),
        (["--history", "nope.csv"], None, "signal file nope.csv does not exist"),
        (["--horizon", "0"], None, "'--horizon': 0 is not in the range 1<=x<=10000000"),
        (["--horizon", "100000000000000"], None, "'--horizon': 100000000000000 is not in the range"),
        (["--follow", "--horizon", "1000000000"], "", "'--horizon': 1000000000 is not in the range"),
        (["--steps", "3"], None, "No such option '--steps'"),
        (["--history", "-"], "1e308\n-1e308\n" * 10, "out of range for the model's float32 input"),
        (["--follow", "--history", "-"], "", "--history cannot be - as well"),
        (["--threads", "0"], None, "'--threads': 0 is not in the range 1<=x<=256"),
        (["--threads", "3000000000"], None, "'--threads': 3000000000 is not in the range 1<=x<=256"),
        (["--runtime", "mystery"], None, "'mystery' is not one of"),
        (["--window", "3"], None, "No such option '--window'"),
    ],
)
def test_bad_input_exits_2(tiny_bundle, args, stdin, message):
    done = cli("run", str(tiny_bundle), *args, input=stdin)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


def test_missing_bundle_exits_2(tmp_path):
    done = cli("run", str(tmp_path / "nope"))
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_missing_runtime_names_the_package(tiny_bundle):
    missing = [r for r in Runtime if r not in available_runtimes()]
    if not missing:
        pytest.skip("every runtime is installed here")
    done = cli("run", str(tiny_bundle), "--runtime", missing[0].value)
    assert done.returncode == 2 and f"runtime {missing[0].value} is not installed; pip install" in done.stderr


def test_no_runtime_at_all_says_what_to_install(tiny_bundle, monkeypatch):
    from edge_forecast.edge import runtime

    monkeypatch.setattr(runtime, "is_installed", lambda _r: False)
    with pytest.raises(UserError, match="no TFLite interpreter is installed; install one: pip install ai-edge-litert"):
        Forecaster(tiny_bundle)


def test_a_variant_the_runtime_cannot_run_is_refused_with_alternatives(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    failing = [(m, v, r) for m in bundle.models for v in bundle.variants(m)
               for r in bundle.variant(m, v).runtimes
               if runtime_status(bundle.variant(m, v), r).get("ok") is False
               and r in {x.value for x in available_runtimes()}]
    if not failing:
        pytest.skip("no installed runtime is recorded as failing a variant of this bundle")
    model, variant, runtime = failing[0]
    done = cli("run", str(tiny_bundle), "--model", model, "--variant", variant, "--runtime", runtime)
    assert done.returncode == 2
    assert f"runtime {runtime} cannot run {model}/{variant}" in done.stderr and "variants it can run:" in done.stderr


def test_an_installed_but_broken_runtime_is_a_clear_error(tiny_bundle, tmp_path):
    fake = tmp_path / "site"
    for package in ("ai_edge_litert", "tflite_runtime"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text('raise ImportError("numpy.core.multiarray failed to import")\n')
    import os

    env = {"PYTHONPATH": str(fake) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = cli("run", str(tiny_bundle), "--horizon", "1", "--runtime", "litert", env=env)
    assert done.returncode == 2
    assert "runtime litert is installed but cannot be imported: numpy.core.multiarray failed to import" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("scaler", "kind"), "log", "scaler needs kind"),
        (("scaler", "scale"), 0, "scale non-zero"),
        (("context_window", 0), None, "context_window must hold finite numbers"),
        (("models",), {}, "models is empty"),
        (("models", "lstm", "variants", "float32", "runtimes"), {"litert": "ok"}, "runtimes must map"),
        (("evaluation",), None, "evaluation has the wrong type"),
        (("models", "lstm", "variants", "float32", "input", "dtype"), "complex64", "input.dtype must be one of"),
        (("signal", "interval_seconds"), -60, "signal.interval_seconds must be a positive number"),
    ],
)
def test_a_damaged_bundle_json_is_a_one_line_error(tiny_bundle, tmp_path, path, value, message):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    doc = json.loads((copy / "bundle.json").read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (copy / "bundle.json").write_text(json.dumps(doc))
    done = cli("run", str(copy), "--model", "lstm", "--horizon", "2")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_bundle_that_names_the_context_window_seed_window_still_runs(tiny_bundle, tmp_path):
    """Bundles written before the rename call the context window `seed_window`."""
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    doc = json.loads((copy / "bundle.json").read_text())
    doc["seed_window"] = doc.pop("context_window")
    (copy / "bundle.json").write_text(json.dumps(doc))
    old, new = load_bundle(copy), load_bundle(tiny_bundle)
    assert np.array_equal(old.context_window, new.context_window)
    assert not hasattr(old, "seed_window")  # the property's old name is gone (CHANGELOG.md)
    expected = Forecaster(new, "rnn", "float32", graph="window").forecast(None, 5)
    assert np.array_equal(Forecaster(old, "rnn", "float32", graph="window").forecast(None, 5), expected)
    doc["context_window"] = [v + 1.0 for v in doc["seed_window"]]  # both names, two different windows
    (copy / "bundle.json").write_text(json.dumps(doc))
    done = cli("run", str(copy), "--model", "rnn", "--horizon", "2")
    assert done.returncode == 2 and done.stderr.strip() == (
        "error: bundle.json: context_window and seed_window (its old name) differ")


def test_step_and_rollout_graphs_match_the_window_graph(graph_bundle, invokes):
    bundle = load_bundle(graph_bundle)
    model = "lstm"
    window = Forecaster(bundle, model, "float32", graph="window").forecast(None, 60)
    step = Forecaster(bundle, model, "step-float32", graph="step").forecast(None, 60)
    assert np.max(np.abs(step - window)) <= 1e-5
    if "rollout-float32" in bundle.variants(model):
        rollout = Forecaster(bundle, model, "rollout-float32", graph="rollout")
        horizon = rollout.bundle.variant(model, "rollout-float32").horizon
        assert np.max(np.abs(rollout.forecast(None, horizon) - window[:horizon])) <= 1e-5
    f = Forecaster(bundle, model, "step-int8" if runs_here(bundle, model, "step-int8") else "step-float32",
                   graph="step")
    before = len(invokes)
    for value in np.linspace(-0.3, 0.3, 25):
        f.update(value)
    assert len(invokes) - before == 25


# tflite-runtime 2.14's int8 LSTM segfaults at the first invoke on ARM (gemmlowp), not on x86
CRASHES_HERE = platform.machine() != "x86_64" and RUNTIME is Runtime.TFLITE_RUNTIME


def test_the_bundle_records_the_arm_crash_and_run_refuses_it_in_one_line(tiny_bundle):
    if not CRASHES_HERE:
        pytest.skip("the known crash is tflite-runtime's int8 LSTM on ARM")
    status = runtime_status(load_bundle(tiny_bundle).variant("lstm", "int8"), RUNTIME.value)
    assert status.ok is False and status.crash == "SIGSEGV", status
    done = cli("run", str(tiny_bundle), "--model", "lstm", "--variant", "int8", "--graph", "window")
    assert done.returncode == 2 and done.stdout == ""
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"runtime tflite-runtime cannot run lstm/int8 on {platform.machine()}" in line and "SIGSEGV" in line
    assert "variants it can run: float32, float16" in line and "recorded at export" in line


def test_an_unchecked_variant_is_first_invoked_in_a_child(tiny_bundle, tmp_path):
    """With no record for this machine, a crash in the interpreter still ends as one line."""
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    doc = json.loads((copy / "bundle.json").read_text())
    for variant in doc["models"]["lstm"]["variants"].values():
        variant["runtimes"][RUNTIME.value] = {"ok": None, "error": "not checked", "platforms": {}}
    (copy / "bundle.json").write_text(json.dumps(doc))
    cache = tmp_path / "cache"
    args = ("run", str(copy), "--model", "lstm", "--variant", "int8", "--graph", "window", "--horizon", "3")
    done = cli(*args, env={"EDGE_FORECAST_CACHE": str(cache)})
    verdicts = list((cache / "first-invoke").glob(f"*-{RUNTIME.value}-*-{platform.machine()}.json"))
    assert len(verdicts) == 1
    if CRASHES_HERE:
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "SIGSEGV" in done.stderr and "checked in a child process" in done.stderr
        assert json.loads(verdicts[0].read_text())["crash"] == "SIGSEGV"
    else:
        assert done.returncode == 0 and done.stdout.count("\n") == 4, done.stderr
        assert json.loads(verdicts[0].read_text()) == {"ok": True}
    again = cli(*args, env={"EDGE_FORECAST_CACHE": str(cache)})  # the cached verdict, same answer
    assert (again.returncode, again.stdout) == (done.returncode, done.stdout)


def test_run_prints_no_runtime_log_lines_unless_verbose(tiny_bundle):
    done = cli("run", str(tiny_bundle), "--model", "rnn", "--horizon", "2")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    loud = cli("--verbose", "run", str(tiny_bundle), "--model", "rnn", "--horizon", "2")
    assert loud.returncode == 0 and "INFO: Created TensorFlow Lite XNNPACK delegate" in loud.stderr
    assert loud.stdout == done.stdout


def test_a_forecaster_shared_by_threads_gives_each_its_own_forecast(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    series = np.concatenate([bundle.context_window, bundle.truth])
    histories = [series[i : i + bundle.window] for i in range(0, 40, 10)]
    alone = Forecaster(bundle, "lstm", "float32", graph="window")
    expected = [alone.forecast(h, 8) for h in histories]
    shared = Forecaster(bundle, "lstm", "float32", graph="window")
    errors, wrong = [], []

    def worker(i: int) -> None:
        try:
            for _ in range(30):
                if not np.array_equal(shared.forecast(histories[i], 8), expected[i]):
                    wrong.append(i)
        except Exception as exc:  # a crash in a thread is what this test is about
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and wrong == []


def _state_inside_variants(bundle, model: str) -> list[str]:
    return [v for v in bundle.variants(model) if bundle.variant(model, v).get("state_store") == "variables"
            and runs_here(bundle, model, v)]


def test_state_inside_graphs_snapshot_restore_and_reset(graph_bundle):
    """The state lives in the interpreter: a restore brings back exactly the saved state, a reset
    the zero state, and the per-step path reads and writes no state tensor."""
    from edge_forecast.edge.step import StepModel

    bundle = load_bundle(graph_bundle)
    context = bundle.scaler.transform(bundle.context_window)
    values = bundle.scaler.transform(bundle.truth[:12])
    variants = _state_inside_variants(bundle, "lstm")
    assert {"step-float32", "stream-float32"} <= set(variants)
    for variant in variants:
        entry = bundle.variant("lstm", variant)
        model = StepModel.from_file(bundle.artifact_path("lstm", variant), RUNTIME, tensors=entry.tensors)
        assert model.inside and model._copies == [] and model._requantize == []
        first = model.prime(context)
        saved = model.snapshot()
        assert {n: list(v.shape) for n, v in saved[0].items()} == {n: s["shape"] for n, s in entry.state.items()}
        ahead = [model.push(float(v)) for v in values]
        assert ahead[-1] != first  # the state moved
        model.restore(saved)
        assert model.last == first
        assert [model.push(float(v)) for v in values] == ahead  # exactly the same state again
        model.reset()
        zero = model.snapshot()[0]
        assert all(np.array_equal(zero[n], model._zero_state[n]) for n in zero)
        assert model.prime(context) == first


def test_update_then_forecast_equals_a_fresh_forecast_on_state_inside_graphs(graph_bundle):
    bundle = load_bundle(graph_bundle)
    truth = bundle.truth
    history = np.concatenate([bundle.context_window, truth[:8]])
    variants = [v for v in _state_inside_variants(bundle, "lstm") if v.startswith("step-")]
    assert variants
    for variant in variants:
        f = Forecaster(bundle, "lstm", variant, RUNTIME, graph="step")
        f.reset(bundle.context_window)
        for v in truth[:8]:
            got = f.update(v, horizon=6)  # every update runs its horizon on a snapshot and restores it
        fresh = Forecaster(bundle, "lstm", variant, RUNTIME, graph="step").forecast(history, 6)
        assert np.array_equal(got, fresh), variant
    # the stream graph carries its state: horizons of 1 and of 6 leave it the same
    stream = [v for v in _state_inside_variants(bundle, "lstm") if v.startswith("stream-")]
    for variant in stream:
        one, six = (Forecaster(bundle, "lstm", variant, RUNTIME, graph="stream") for _ in range(2))
        for v in truth[:8]:
            assert one.update(v, horizon=1)[0] == six.update(v, horizon=6)[0]
