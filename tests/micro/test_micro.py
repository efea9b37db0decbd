"""`edge-forecast micro`: C arrays, header constants, measured arena, op registration, TFLM vs litert."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import ROOT, cli, trains

from edge_forecast.bundle import load_bundle, truth_key, validate_bundle_dict
from edge_forecast.errors import UserError
from edge_forecast.fsio import sha256_file
from edge_forecast.micro.carray import c_header, c_source, symbol
from edge_forecast.micro.resolver import resolver_lines, resolver_method

VARIANTS = ["float32", "int8", "step-float32", "step-int8", "stream-float32", "stream-int8"]
TFLITE_PYTHON = ROOT / ".venv-tflite" / "bin" / "python"
# the seed LSTM's step graph: one cell step on W rows, then the Dense on every row and a slice
LSTM_STEP_OPS = ["FULLY_CONNECTED", "ADD", "SPLIT", "LOGISTIC", "MUL", "TANH", "SLICE", "CONCATENATION"]


def parse_c_array(text: str) -> tuple[bytes, int]:
    """The bytes of the generated `kModelData[] = {...}` and the declared kModelDataLen."""
    body = re.search(r"alignas\(16\) const unsigned char kModelData\[\] = \{(.*?)\};", text, re.S).group(1)
    data = bytes(int(tok, 16) for tok in re.findall(r"0x[0-9a-f]{2}", body))
    length = int(re.search(r"const unsigned int kModelDataLen = (\d+);", text).group(1))
    return data, length


def parse_header(text: str) -> dict[str, object]:
    """constexpr name -> value (int, float or string) from a generated header."""
    out: dict[str, object] = {}
    for kind, name, value in re.findall(r"constexpr (?:unsigned )?(int|float|const char) (\w+)(?:\[\])? = ([^;]+);",
                                        text):
        if kind == "const char":
            out[name] = value.strip('"')
        elif kind == "float":
            out[name] = float(value.rstrip("f"))
        else:
            out[name] = int(value)
    return out


def test_c_array_round_trips_bytes_and_compiles(tmp_path):
    data = bytes(range(256)) * 3 + b"\x00\x7f"
    name = symbol("lstm", "step-int8")
    assert name == "lstm_step_int8"
    text = c_source(name, data, "test")
    assert parse_c_array(text) == (data, len(data))
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    (tmp_path / f"{name}_model_data.h").write_text(
        f"namespace {name} {{ extern const unsigned char kModelData[]; extern const unsigned int kModelDataLen; }}\n")
    (tmp_path / "a.cc").write_text(text)
    done = subprocess.run(["g++", "-std=c++17", "-c", "a.cc", "-o", "a.o"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def parse_intervals(text: str) -> dict[float, list[float]]:
    """level -> half-widths per step, from a generated header's kIntervalLevels and kIntervalHalfWidth."""
    count = int(re.search(r"constexpr int kIntervalLevelCount = (\d+);", text).group(1))
    if count == 0:
        return {}
    horizon = int(re.search(r"constexpr int kIntervalHorizon = (\d+);", text).group(1))
    levels = re.search(r"kIntervalLevels\[kIntervalLevelCount\] = \{([^}]*)\}", text).group(1)
    body = re.search(r"kIntervalHalfWidth\[kIntervalLevelCount\]\[kIntervalHorizon\] = \{(.*?)\n\};", text, re.S)
    rows = re.findall(r"\{\s*//[^\n]*\n(.*?)\n\s*\},", body.group(1), re.S)
    widths = [[float(v.strip().rstrip("f")) for v in row.replace("\n", " ").split(",") if v.strip()] for row in rows]
    names = [float(v.strip().rstrip("f")) for v in levels.split(",")]
    assert len(names) == len(widths) == count and all(len(w) == horizon for w in widths)
    return dict(zip(names, widths, strict=True))


def _header_info(intervals) -> dict:
    """What c_header needs, for a header whose interval constants are under test."""
    return {"note": "test", "window": 3, "scaler": {"offset": 0.0, "scale": 1.0}, "graph": "window",
            "layout": {"inputs": [], "outputs": []}, "arena_bytes": 16, "arena_reserve_bytes": 32,
            "arena_margin": 0.25, "resolver": [], "intervals": None if intervals is None else intervals.to_dict()}


def test_header_interval_constants_equal_the_intervals_and_compile(tmp_path):
    """Split-conformal intervals of known errors (80% available, 99% not: 10 origins) in the header:
    the constants equal bundle.json's numbers, and C++ that makes bounds from them as the guide says
    prints what the Forecaster's lower = point - half-width gives."""
    from edge_forecast.evaluation import Plan
    from edge_forecast.intervals import conformal_intervals

    errors = np.random.default_rng(3).gamma(2.0, 0.37, size=(10, 7))
    plan = Plan(start=100, stop=130, horizon=7, stride=2)
    intervals = conformal_intervals(errors, (80, 99), plan)
    assert [lv.available for lv in intervals.levels] == [True, False]
    text = c_header("m_window_float32", _header_info(intervals))
    assert parse_intervals(text) == {80.0: intervals.levels[0].half_width}
    assert "not available: 99% (10 validation origins" in text
    none = c_header("m_window_float32", _header_info(None))
    assert parse_intervals(none) == {} and "kIntervalHalfWidth" not in none
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    (tmp_path / "m_window_float32_model_data.h").write_text(text)
    (tmp_path / "main.cc").write_text(
        '#include <cstdio>\n#include "m_window_float32_model_data.h"\n'
        "int main() { const float point = 2.5f; for (int h = 0; h < m_window_float32::kIntervalHorizon; ++h)"
        ' std::printf("%.9g\\n", point - m_window_float32::kIntervalHalfWidth[0][h]); return 0; }\n')
    done = subprocess.run(["g++", "-std=c++17", "main.cc", "-o", "main"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    printed = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout.split()
    expected = np.float32(2.5) - np.asarray(intervals.levels[0].half_width, dtype=np.float32)
    assert np.array_equal(np.array(printed, dtype=np.float32), expected)


def test_resolver_methods_follow_tflm_names():
    assert resolver_method("FULLY_CONNECTED") == "AddFullyConnected"
    assert resolver_method("CONV_2D") == "AddConv2D"
    assert resolver_method("UNIDIRECTIONAL_SEQUENCE_LSTM") == "AddUnidirectionalSequenceLSTM"
    ops = [{"name": "TANH", "version": 1}, {"name": "ADD", "version": 2}, {"name": "TANH", "version": 2}]
    assert resolver_lines(ops) == ["AddTanh()", "AddAdd()"]
    with pytest.raises(UserError, match="no TFLM kernel"):
        resolver_method("FLEX_SOMETHING")


@trains(scope="module")
def micro_bundle(explicit_bundle, tmp_path_factory):
    """A copy of the session's `explicit_bundle` (lstm and gru of the tiny run, window / step /
    stream graphs with explicit state, float32 and int8: what micro takes), with micro files for
    every LSTM variant (and tflite-runtime checking the stripped copies when its venv exists).
    A copy: micro adds files and records to the bundle, and other modules read the original."""
    pytest.importorskip("tflite_micro")
    out = tmp_path_factory.mktemp("micro") / "bundle"
    shutil.copytree(explicit_bundle, out)
    before = (out / "bundle.json").read_bytes()
    probe = ["--probe-python", str(TFLITE_PYTHON)] if TFLITE_PYTHON.exists() else []
    done = cli("micro", str(out), "--models", "lstm", *probe)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, before, done


def _lstm_records(micro_bundle) -> tuple:
    """(bundle dir, Bundle, [(variant, its micro record)]) for the LSTM variants."""
    out = micro_bundle[0]
    bundle = load_bundle(out)
    return out, bundle, [(v, bundle.variant("lstm", v).micro.fields) for v in VARIANTS]


@pytest.mark.slow
def test_micro_files_hold_the_exact_stripped_model(micro_bundle):
    out, _, _ = micro_bundle
    bundle = load_bundle(out)
    assert [v for v in VARIANTS if bundle.variant("lstm", v).micro is not None] == VARIANTS
    assert all(bundle.variant("gru", v).micro is None for v in VARIANTS)  # --models lstm
    for variant in VARIANTS:
        record = bundle.variant("lstm", variant).micro.fields
        model_file = out / record["file"]
        data, length = parse_c_array((out / record["source"]).read_text())
        assert data == model_file.read_bytes() and length == len(data) == record["flash_bytes"]
        assert sha256_file(model_file) == record["sha256"]
        assert record["flash_bytes"] < record["unstripped_bytes"] == bundle.variant("lstm", variant).bytes
        if shutil.which("g++"):
            done = subprocess.run(["g++", "-std=c++17", "-c", record["source"].split("/")[1], "-o", "/dev/null"],
                                  cwd=out / "micro", capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
    # the goal for the LSTM(40) step graph was 12 KiB (from 17 KiB): stripping strings alone reaches
    # ~15 KiB; the per-channel quantization parameters are what remains (docs/design/0007-microcontroller-decisions.md)
    assert bundle.variant("lstm", "step-int8").micro.fields["flash_bytes"] <= 15.5 * 1024


@pytest.mark.slow
def test_header_constants_match_bundle_and_model(micro_bundle):
    from ai_edge_litert.interpreter import Interpreter

    out, bundle, records = _lstm_records(micro_bundle)
    for variant, record in records:
        header = parse_header((out / record["header"]).read_text())
        assert header["kWindow"] == bundle.window
        assert np.float32(header["kScalerOffset"]) == np.float32(bundle.scaler.offset)
        assert np.float32(header["kScalerScale"]) == np.float32(bundle.scaler.scale)
        assert header["kArenaBytesMeasured"] == record["arena_bytes"]
        assert header["kArenaBytes"] == record["arena_reserve_bytes"] >= record["arena_bytes"] * 1.25
        assert header["kGraph"] == bundle.variant("lstm", variant).graph.value
        # every tensor constant equals both bundle.json and what an interpreter reads from the stripped file
        interp = Interpreter(model_path=str(out / record["file"]))
        for side, details in (("Input", interp.get_input_details()), ("Output", interp.get_output_details())):
            tensors = record["tensors"]["inputs" if side == "Input" else "outputs"]
            assert len(tensors) == len(details)
            for t in tensors:
                prefix = f"k{side}{t['role'].upper()}"
                real = details[t["position"]]
                assert header[prefix] == t["position"] and header[prefix + "Tensor"] == t["tensor"] == real["index"]
                assert header[prefix + "Type"] == t["dtype"] == np.dtype(real["dtype"]).name
                assert np.float32(header[prefix + "Scale"]) == np.float32(real["quantization"][0])
                assert header[prefix + "ZeroPoint"] == t["zero_point"] == real["quantization"][1]
        # the prediction intervals: the constants are bundle.json's numbers for this variant
        found = bundle.variant("lstm", variant).intervals
        assert parse_intervals((out / record["header"]).read_text()) == {
            float(lv.level): lv.half_width for lv in found.levels if lv.available}
        roles = sorted(t["role"] for t in record["tensors"]["inputs"])
        assert roles == (["x"] if bundle.variant("lstm", variant).graph.value == "window" else ["c", "h", "x"])


@pytest.mark.slow
def test_arena_is_minimal_within_the_granularity(micro_bundle):
    from edge_forecast.micro.arena import fits

    out, _, _ = micro_bundle
    record = load_bundle(out).variant("lstm", "step-int8").micro.fields
    path = out / record["file"]
    assert record["arena_granularity"] == 16 and record["arena_bytes"] % 16 == 0
    assert fits(path, record["arena_bytes"])[0] is True
    ok, error = fits(path, record["arena_bytes"] - 16)
    assert ok is False and error


@pytest.mark.slow
def test_resolver_lines_equal_the_model_operators(micro_bundle):
    from edge_forecast.tflite_file import operator_list

    out, bundle, records = _lstm_records(micro_bundle)
    for _, record in records:
        text = (out / record["header"]).read_text()
        calls = re.findall(r"resolver\.(Add\w+)\(\)", text)
        ops = list(dict.fromkeys(op["name"] for op in operator_list(out / record["file"])[0]))
        assert calls == [resolver_method(op) for op in ops] and len(calls) == len(set(calls))
        assert parse_header(text)["kOpCount"] == len(calls) == len(record["resolver"])
    step_ops = bundle.variant("lstm", "step-int8").micro.fields["ops"]
    assert sorted(step_ops) == sorted(LSTM_STEP_OPS)


@pytest.mark.slow
def test_tflm_runs_the_closed_loop_like_litert(micro_bundle):
    from edge_forecast.micro.check import tflm_vs_litert

    out, _, done = micro_bundle
    bundle = load_bundle(out)
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: lstm/")]
    assert not [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    for variant in VARIANTS:
        verified = bundle.variant("lstm", variant).micro.fields["verified"]
        # a variant beyond the bound is one `warning:` line on stderr, naming it
        assert sum(line.startswith(f"warning: lstm/{variant}: ") for line in warned) == (0 if verified["ok"] else 1)
        assert verified["closed_loop_steps"] == bundle.evaluation.steps == verified["stream_steps"]
        rmse = verified[truth_key(bundle.evaluation.segment, "closed_loop_rmse")]
        if variant.endswith("float32"):
            assert verified["ok"] is True
            assert verified["closed_loop_max_abs"] <= 1e-5 and verified["stream_max_abs"] <= 1e-5
        else:
            worst = max(verified["closed_loop_max_quant_steps"], verified["stream_max_quant_steps"])
            assert verified["worst"] == worst
            # TFLM's reference integer kernels round differently from litert's; the forecast must
            # stay as accurate (docs/design/0007-microcontroller-decisions.md): that is the verdict
            assert verified["ok"] is (rmse["tflite-micro"] <= 1.5 * rmse["litert"])
            assert verified["truth_ratio"] == pytest.approx(rmse["tflite-micro"] / rmse["litert"])
            assert verified["ok"]
    # the record is what a fresh run measures (the check is deterministic)
    entry = bundle.variant("lstm", "step-int8")
    truth = bundle.truth
    again = tflm_vs_litert(out / entry.file, "step", bundle.scaler.transform(bundle.context_window), truth,
                           truth.size, bundle.scaler, entry.tensors, segment=bundle.evaluation.segment)
    recorded = entry.micro.fields["verified"]
    assert again["closed_loop_max_quant_steps"] == recorded["closed_loop_max_quant_steps"]
    assert again["stream_max_abs"] == pytest.approx(recorded["stream_max_abs"], abs=1e-12)


@pytest.mark.slow
def test_stripped_model_gives_identical_outputs_on_every_runtime(micro_bundle):
    out, _, _ = micro_bundle
    bundle = load_bundle(out)
    expected = {"litert", "tensorflow", "tflite-micro"} | ({"tflite-runtime"} if TFLITE_PYTHON.exists() else set())
    for variant in VARIANTS:
        same = bundle.variant("lstm", variant).micro.fields["stripped_identical"]
        assert set(same) == expected
        assert all(s["identical"] is True and s["max_abs"] == 0.0 and s["trials"] > 0 for s in same.values())


@pytest.mark.slow
def test_micro_bad_input_exits_2_and_keeps_the_bundle(micro_bundle, tmp_path):
    out, before, done = micro_bundle
    assert before != (out / "bundle.json").read_bytes()  # the micro records were added
    current = (out / "bundle.json").read_bytes()
    listing = sorted(p.name for p in (out / "micro").iterdir())
    for args, message in (
        (["--models", "lstm", "--variants", "int4"], "unknown variant for model lstm 'int4'; valid: float32, int8"),
        (["--models", "rnn"], "unknown model 'rnn'; valid: lstm, gru"),
        (["--models", "lstm"], "already exists; pass --force"),
        (["--arena-margin", "-1", "--force"], "--arena-margin must be between 0 and 10"),
    ):
        bad = cli("micro", str(out), *args)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert message in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    assert (out / "bundle.json").read_bytes() == current
    assert sorted(p.name for p in (out / "micro").iterdir()) == listing
    assert not [p for p in out.parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


@pytest.mark.slow
def test_bundle_validation_checks_micro_records(micro_bundle):
    out, _, _ = micro_bundle
    data = json.loads((out / "bundle.json").read_text())
    validate_bundle_dict(data)
    record = data["models"]["lstm"]["variants"]["step-int8"]["micro"]
    for key, value, message in (("source", "../x.cc", "inside micro/"),
                                ("arena_reserve_bytes", 1, "arena_reserve_bytes"),
                                ("flash_bytes", "12", "wrong type")):
        broken = json.loads(json.dumps(data))
        broken["models"]["lstm"]["variants"]["step-int8"]["micro"] = {**record, key: value}
        with pytest.raises(UserError, match=message):
            validate_bundle_dict(broken)


def test_micro_help():
    done = cli("micro", "--help")
    assert done.returncode == 0 and "--arena-margin" in done.stdout and "--variants" in done.stdout


@pytest.mark.slow
def test_bench_report_shows_flash_and_arena_per_variant(micro_bundle):
    from edge_forecast.bench.report import _micro_table
    from edge_forecast.bench.runner import _micro_from_bundle

    out, _, _ = micro_bundle
    bundle = load_bundle(out)
    micro = _micro_from_bundle(bundle.model("lstm"))
    assert list(micro) == VARIANTS and _micro_from_bundle(bundle.model("gru")) == {}
    section = "\n".join(_micro_table({"models": {"lstm": {"micro": micro}, "rnn": {}}}))
    assert section.startswith("## On a microcontroller")
    for variant in VARIANTS:
        record = bundle.variant("lstm", variant).micro.fields
        row = next(line for line in section.splitlines() if line.startswith(f"| lstm | {variant} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2:6] == [str(record["unstripped_bytes"]), str(record["flash_bytes"]), str(record["arena_bytes"]),
                              str(record["arena_reserve_bytes"])]

