"""Exporter: the model x mode matrix, verification that can fail, the crash path, bad input."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from child_crash import crash_env
from conftest import cli

from edge_forecast.bundle import ABSENT, load_bundle
from edge_forecast.children import run_resilient
from edge_forecast.fsio import sha256_file

MODES = ["float32", "float16", "dynamic", "int8", "int16x8"]
IO_DTYPES = {"float32": "float32", "float16": "float32", "dynamic": "float32", "int8": "int8", "int16x8": "int16"}


def test_every_model_and_mode_is_exported_and_verified(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    bundle.verify_all()
    assert bundle.models == ["rnn", "lstm", "gru"]
    written = bundle.document.to_dict()
    assert bundle.window == 20 and len(written["context_window"]) == 20 and "seed_window" not in written
    for model in bundle.models:
        assert bundle.variants(model) == MODES
        for mode in MODES:
            v = bundle.variant(model, mode).to_dict()
            path = tiny_bundle / v["file"]
            assert v["sha256"] == sha256_file(path) and v["bytes"] == path.stat().st_size
            assert v["input"]["dtype"] == IO_DTYPES[mode] and v["output"]["dtype"] == IO_DTYPES[mode]
            assert v["input"]["shape"] == [1, 20, 1]
            if mode in ("int8", "int16x8"):
                assert v["input"]["scale"] > 0 and v["output"]["scale"] > 0
            names = {op["name"] for op in v["ops"]}
            assert "WHILE" not in names and all(isinstance(op["version"], int) for op in v["ops"])
            assert v["runtimes"]["litert"]["ok"] is True
            assert set(v["runtimes"]) >= {"litert", "tflite-runtime", "tensorflow", "tflite-micro"}
            errors = v["errors"]
            assert np.isfinite(errors["closed_loop_rmse_vs_keras"])
        assert bundle.variant(model, "float32").errors["one_step_max_abs"] <= 1e-5
        assert bundle.variant(model, "float16").errors["one_step_max_abs"] <= 1e-3


def test_microcontroller_interpreter_result_is_recorded(tiny_bundle):
    pytest.importorskip("tflite_micro")
    bundle = load_bundle(tiny_bundle)
    micro = {m: bundle.variant("lstm", m).runtimes["tflite-micro"].to_dict() for m in MODES}
    assert micro["float32"]["ok"] is True and micro["int8"]["ok"] is True
    # tflite-micro has no hybrid (dynamic-range) kernels: the bundle must say so with the error
    assert micro["dynamic"]["ok"] is False and micro["dynamic"]["error"]


def test_verification_refuses_a_wrong_artifact(tiny_run, tiny_bundle):
    import keras

    from edge_forecast.export.modes import QuantMode
    from edge_forecast.export.verify import KerasReference, verify_artifact
    from edge_forecast.signals import make_windows

    series = np.load(tiny_run / "signal.npy")
    x, _ = make_windows(series, 20)
    windows = x[162:]
    lstm = keras.models.load_model(tiny_run / "lstm.keras")
    ref = KerasReference(windows, lstm.predict(windows, verbose=0)[:, -1, 0], series[:20],
                         np.asarray(load_bundle(tiny_bundle).model("lstm").keras["closed_loop"]))
    good = verify_artifact(tiny_bundle / "lstm.float32.tflite", QuantMode.FLOAT32, ref, 1.0)
    assert good.ok, good.problems
    wrong = verify_artifact(tiny_bundle / "rnn.float32.tflite", QuantMode.FLOAT32, ref, 1.0)
    assert not wrong.ok
    assert "exceeds the float32 limit" in wrong.problems[0]


@pytest.mark.slow
@pytest.mark.parametrize(("crash", "message"), [
    (("edge_forecast.export.worker", "int8", "rnn"),
     "rnn int8: conversion failed: the child process crashed (SIGSEGV)"),
    (("edge_forecast.export.verify_child", "rnn/int8"),
     "rnn int8: verification failed: ai-edge-litert cannot run it: the child process crashed (SIGSEGV)"),
])
def test_a_crash_in_conversion_or_verification_fails_one_artifact_only(tiny_run, tmp_path, crash, message):
    out = tmp_path / "bundle"
    done = cli("export", str(tiny_run), "--out", str(out), "--models", "rnn", "--quant", "float32,int8,dynamic",
               env=crash_env(tmp_path, *crash))
    assert done.returncode == 1, done.stderr
    assert message in done.stderr
    bundle = load_bundle(out)
    assert bundle.variants("rnn") == ["float32", "dynamic"]  # the child after the crash did dynamic


def test_children_survive_crashes_and_hangs(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from edge_forecast.children import emit\n"
        "for item in sys.argv[1:]:\n"
        "    if item == 'crash': os.kill(os.getpid(), signal.SIGSEGV)\n"
        "    if item == 'hang': time.sleep(60)\n"
        "    emit(item, ok=True)\n"
    )
    found = run_resilient(lambda pending: [sys.executable, str(script), *pending],
                          ["a", "crash", "b", "hang", "c"], timeout=3)
    assert found["a"]["ok"] and found["b"]["ok"] and found["c"]["ok"]
    assert "SIGSEGV" in found["crash"]["error"]
    assert "timed out" in found["hang"]["error"]


def _copy_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return run


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "run directory {tmp}/nope does not exist"),
        ("incomplete", "is not a complete training run: training.json is missing"),
        ("version", "has format version 99"),
        ("model_file", "model file rnn.keras for rnn is missing"),
        ("unknown_model", "unknown model 'tcn'; valid: rnn, lstm, gru"),
        ("unknown_mode", "unknown quantization mode 'int4'; valid: float32, float16, dynamic, int8, int16x8"),
        ("calibration", "'--calibration-samples': 0 is not in the range x>=1"),
        ("out_is_file", "is a file, not a directory"),
        ("exists", "already exists; pass --force"),
        ("damaged", "is damaged: models must be a non-empty object"),
        ("signal", "signal.npy is corrupt"),
        ("out_is_run", "overlaps the input"),
    ],
)
def test_bad_input_exits_2(tiny_run, tmp_path, case, message):
    run, out, extra = str(tiny_run), tmp_path / "bundle", []
    if case == "missing":
        run = str(tmp_path / "nope")
    elif case in ("incomplete", "version", "model_file", "damaged", "signal"):
        copy = _copy_run(tiny_run, tmp_path)
        record = copy / "training.json"
        if case == "incomplete":
            record.unlink()
        elif case == "version":
            record.write_text(json.dumps({**json.loads(record.read_text()), "format_version": 99}))
        elif case == "damaged":
            record.write_text(json.dumps({**json.loads(record.read_text()), "models": ["rnn"]}))
        elif case == "signal":
            (copy / "signal.npy").write_bytes(b"not numpy")
        else:
            (copy / "rnn.keras").unlink()
        run = str(copy)
    elif case == "unknown_model":
        extra = ["--models", "rnn,tcn"]
    elif case == "unknown_mode":
        extra = ["--quant", "int8,int4"]
    elif case == "calibration":
        extra = ["--calibration-samples", "0"]
    elif case == "out_is_file":
        out.write_text("x")
    elif case == "exists":
        out.mkdir()
    elif case == "out_is_run":
        out = tmp_path / "run"
        shutil.copytree(tiny_run, out)
        run, extra = str(out), ["--force"]
    done = cli("export", run, "--out", str(out), *extra)
    assert done.returncode == 2, done.stderr
    assert message.format(tmp=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_child_that_cannot_start_fails_every_item_once(tmp_path):
    script = tmp_path / "child.py"
    script.write_text("import sys\nprint('ImportError: numpy is broken', file=sys.stderr)\nsys.exit(3)\n")
    calls = []

    def cmd(pending):
        calls.append(list(pending))
        return [sys.executable, str(script), *pending]

    found = run_resilient(cmd, ["a", "b", "c"], timeout=10)
    assert len(calls) == 1
    assert all("exited with code 3: ImportError: numpy is broken" in r["error"] for r in found.values())


def test_integer_variants_record_float_ratio_and_integer_throughout(tiny_bundle):
    bundle = load_bundle(tiny_bundle)
    for model in bundle.models:
        for name in bundle.variants(model):
            v = bundle.variant(model, name).to_dict()
            if v["mode"] not in ("int8", "int16x8"):
                assert "full_integer" not in v
                continue
            assert v["full_integer"] is ("DEQUANTIZE" not in {op["name"] for op in v["ops"]})
            base = bundle.variant(model, "float32" if v["graph"] == "window" else f"{v['graph']}-float32")
            ratio = v["errors"]["in_sample_closed_loop_rmse"] / base.errors["in_sample_closed_loop_rmse"]
            assert v["errors"]["closed_loop_rmse_ratio_vs_float32"] == pytest.approx(ratio)


def test_full_integer_window_graphs_are_bias_corrected(tiny_bundle, graph_bundle):
    """export/bias_correction.py: every int8 / int16x8 window graph and int8 rollout graph records
    its output's mean error before and after; step and stream graphs and float modes are not
    corrected."""
    seen = 0
    for path in (tiny_bundle, graph_bundle):
        bundle = load_bundle(path)
        for model in bundle.models:
            for name in bundle.variants(model):
                v = bundle.variant(model, name).to_dict()
                if v["graph"] not in ("window", "rollout") or v["mode"] not in ("int8", "int16x8"):
                    assert "output_bias" not in v, (model, name)
                    continue
                record, seen = v["output_bias"], seen + 1
                assert np.isfinite([record["measured"], record["residual"]]).all() and record["windows"] > 0
                if record["applied"]:
                    assert abs(record["residual"]) < abs(record["measured"]), (model, name, record)
                else:
                    assert record["residual"] == record["measured"]
    assert seen >= 10  # tiny_bundle: rnn, lstm, gru x int8, int16x8; graph_bundle: lstm, gru x int8, rollout-int8


def test_the_export_line_says_what_the_bias_correction_did():
    from edge_forecast.export.exporter import _bias_note

    assert _bias_note(None) == ""
    assert (_bias_note({"measured": 0.0032, "residual": -5e-05, "applied": True})
            == "  output bias 0.0032 -> -5e-05 (model units)")
    assert "not corrected" in _bias_note({"measured": -0.0004, "residual": -0.0004, "applied": False})


def test_no_bias_correction_exports_the_first_conversion(tiny_run, tmp_path):
    out = tmp_path / "plain"
    done = cli("export", str(tiny_run), "--out", str(out), "--models", "lstm", "--quant", "int8",
               "--no-bias-correction", "--quiet")
    assert done.returncode == 0, done.stderr
    assert load_bundle(out).variant("lstm", "int8").output_bias is ABSENT


def test_integer_checks_warn_on_drift_and_float_islands():
    from edge_forecast.contracts.bundle import GraphKind, QuantMode, VariantEntry, VariantId
    from edge_forecast.export.exporter import _integer_checks

    def variant(mode, graph, rmse, ops=("FULLY_CONNECTED",)):
        return VariantEntry(file="x.tflite", sha256="0" * 64, bytes=1, id=VariantId(GraphKind(graph), QuantMode(mode)),
                            input=None, output=None, ops=[{"name": o, "version": 1} for o in ops],
                            errors={"test_closed_loop_rmse": rmse}, runtimes={})

    variants = {"float32": variant("float32", "window", 0.01), "int8": variant("int8", "window", 0.05),
                "int16x8": variant("int16x8", "window", 0.012),
                "step-float32": variant("float32", "step", 0.01),
                "step-int8": variant("int8", "step", 0.011, ("FULLY_CONNECTED", "DEQUANTIZE"))}
    warnings = _integer_checks(variants)
    assert len(warnings) == 2
    assert warnings[0].startswith("int8: closed-loop RMSE vs truth 0.05 is 5.0x the float32 export's (0.01)")
    assert warnings[0].endswith("; try train --normalize perstep, or int16x8 "
                                "(docs/guide/export-and-quantization.md: int8 and the closed loop)")
    assert warnings[1].startswith("step-int8: not integer throughout (DEQUANTIZE inside")
    # ar and a highway cannot be trained with --normalize: the line does not suggest it
    linear = _integer_checks({k: variants[k] for k in ("float32", "int8")}, normalizable=False)
    assert linear[0].endswith("; try int16x8 (docs/guide/export-and-quantization.md: int8 and the closed loop)")
    assert variants["int16x8"].errors["closed_loop_rmse_ratio_vs_float32"] == pytest.approx(1.2)
    # a float32 export exact to float32 rounding (ar on an exact recurrence; signal magnitude 25):
    # a ratio of ~100,000x says nothing, the line says the float32 is exact instead
    exact = {"float32": variant("float32", "window", 1.83e-7), "int8": variant("int8", "window", 0.0249)}
    line = _integer_checks(exact, normalizable=False, magnitude=25.0)[0]
    assert line.startswith("int8: closed-loop RMSE vs truth 0.0249, while the float32 export's (1.83e-07) is exact")
    assert "x the float32" not in line and not exact["int8"].closed_loop_within_bound
    # the same errors on a signal of magnitude 0.1 are not float32 rounding: the ratio stays
    assert " is 136065.6x the float32 export's" in _integer_checks(exact, magnitude=0.1)[0]
    assert variants["int8"].full_integer and not variants["step-int8"].full_integer
    assert variants["float32"].get("full_integer") is None  # not written
    # the label that marks which integer variant holds the closed loop (1.5x the float32 export's)
    assert variants["int16x8"].closed_loop_within_bound and variants["step-int8"].closed_loop_within_bound
    assert not variants["int8"].closed_loop_within_bound


def test_integer_modes_are_converted_again_while_a_float_island_remains(tiny_bundle):
    """The converter sometimes leaves a DEQUANTIZE in an LSTM int8 model: convert again, at most
    three times. Real flatbuffers: the float16 export has DEQUANTIZE ops, the int8 one none."""
    from edge_forecast.export.modes import QuantMode
    from edge_forecast.export.ops import float_islands
    from edge_forecast.export.worker import INTEGER_ATTEMPTS, integer_throughout
    from edge_forecast.tflite_file import operators_of

    bundle = load_bundle(tiny_bundle)
    island = bundle.artifact_path("lstm", "float16").read_bytes()
    assert float_islands(operators_of(island)[0])
    # Which int8 model comes out clean is the converter's draw (the LSTM's kept an island three
    # times in a row once); the SimpleRNN's has no SPLIT for it to leave one on.
    integer = [bundle.artifact_path(model, "int8").read_bytes() for model in ("lstm", "rnn", "gru")]
    clean = next(blob for blob in integer if not float_islands(operators_of(blob)[0]))

    def converter(results):
        it = iter(results)
        return lambda: next(it)

    assert integer_throughout(converter([island, clean]), QuantMode.INT8) == (clean, 2)
    assert integer_throughout(converter([clean, island]), QuantMode.INT8) == (clean, 1)
    assert integer_throughout(converter([island] * INTEGER_ATTEMPTS), QuantMode.INT8) == (island, INTEGER_ATTEMPTS)
    assert integer_throughout(converter([island]), QuantMode.FLOAT16) == (island, 1)
