"""`export --quant auto`: the choice on made-up candidate tables (export/auto.py, no TensorFlow),
its bad input, and one export of a tiny trained run."""

from __future__ import annotations

import json

import pytest
from conftest import cli, one_line_error

from edge_forecast.contracts.bundle import BundleDocument, GraphKind, QuantMode, VariantId
from edge_forecast.errors import UserError
from edge_forecast.export.auto import Candidate, check_tolerance, choose, parse_quant

W, S = GraphKind.WINDOW, GraphKind.STEP
F32, F16, DYN, I8, I16 = (QuantMode.FLOAT32, QuantMode.FLOAT16, QuantMode.DYNAMIC, QuantMode.INT8,
                          QuantMode.INT16X8)


def row(mode, kib=0.0, rmse=0.0, us=10.0, graph=W, problem=None):
    if problem:
        return Candidate(VariantId(graph, mode), problem=problem)
    return Candidate(VariantId(graph, mode), bytes=int(kib * 1024), invoke_us=us, closed_loop_rmse=rmse)


def seed_lstm(int8_rmse=0.231):
    """The shape of the seed LSTM's table: int8 the smallest but off in a closed loop."""
    return [row(F32, 78.2, 0.100), row(F16, 40.0, 0.100), row(DYN, 25.0, 0.160), row(I8, 20.0, int8_rmse),
            row(I16, 21.3, 0.112)]


def test_the_smallest_mode_within_the_tolerance_is_kept_and_the_others_say_why():
    choice = choose(seed_lstm(), 1.5)
    assert choice.chosen is I16 and choice.kept == ["int16x8"]
    why = {k: v.reason for k, v in choice.verdicts.items()}
    assert why["int8"] == "closed loop 2.31x float32 > 1.5"
    assert why["dynamic"] == "closed loop 1.60x float32 > 1.5"
    assert why["float16"].startswith("larger (40.0 KiB vs 21.3 KiB") and "1.00x" in why["float16"]
    assert why["float32"].startswith("larger (78.2 KiB vs 21.3 KiB")
    assert why["int16x8"].startswith("the smallest mode within 1.5x") and "(1.12x)" in why["int16x8"]
    line = choice.line("lstm")
    assert line.startswith("lstm: kept int16x8 (21.3 KiB, closed loop 1.12x float32 within 1.5); ")
    assert "int8 not kept: closed loop 2.31x float32 > 1.5" in line


def test_int8_is_kept_where_it_holds_and_a_larger_tolerance_admits_more():
    assert choose(seed_lstm(int8_rmse=0.14), 1.5).chosen is I8
    assert choose(seed_lstm(), 2.5).chosen is I8
    assert choose(seed_lstm(), 1.0).chosen is F16  # no worse than float32 at all (1.00x)
    assert choose(seed_lstm()[::2], 1.0).chosen is F32  # only float32 itself is within 1x
    ratios = choose(seed_lstm(), 1.5).to_dict()["candidates"]
    assert ratios["float32"]["ratio_vs_float32"] == 1.0 and ratios["int8"]["ratio_vs_float32"] == pytest.approx(2.31)


def test_a_size_tie_goes_to_the_earlier_mode_whatever_the_measured_speed():
    """The invoke times are measured on each export and vary between two runs of the same one; the
    choice among modes of the same size must not (an `ar` model's float32 and dynamic files are both
    1,280 bytes: two fleets on the same data kept one or the other)."""
    table = [row(F32, 30, 0.1, us=20), row(F16, 16, 0.1, us=25), row(I8, 16, 0.11, us=9)]
    choice = choose(table, 1.5)
    assert choice.chosen is F16 and "as small as int8, and first in order" in choice.verdicts["float16"].reason
    assert choice.verdicts["int8"].reason.startswith("as small, after float16 in order (16.0 KiB")
    for us32, usdyn in ((3.1, 2.9), (2.9, 3.1), (3.0, 3.0), (None, 1.0)):  # every order of the timings
        ar = [row(F32, 1.25, 0.2, us=us32), row(F16, 2.0, 0.2), row(DYN, 1.25, 0.2, us=usdyn), row(I8, 2.5, 0.25),
              row(I16, 2.6, 0.21)]
        for table in (ar, ar[::-1]):  # and of the candidates
            assert choose(table, 1.5).chosen is F32


def test_a_failed_candidate_is_a_reason_and_a_failed_float32_keeps_every_verified_variant():
    table = [row(F32, 78, 0.1), row(F16, 40, 0.1), row(I8, problem="conversion failed: SIGSEGV")]
    choice = choose(table, 1.5)
    assert choice.chosen is F16 and choice.verdicts["int8"].reason == "conversion failed: SIGSEGV"
    unjudged = choose([row(F32, problem="verification failed: 2e-4 > 1e-5"), row(I8, 20, 0.2)], 1.5)
    assert unjudged.chosen is None and unjudged.kept == ["int8"]
    assert "nothing to measure against" in unjudged.verdicts["int8"].reason
    assert unjudged.to_dict()["chosen"] is None


def test_one_mode_is_kept_for_every_graph_kind_of_a_model():
    """A forecaster runs a model's graphs in one mode, so int8 is kept only if step-int8 holds too."""
    table = [row(F32, 78, 0.10), row(F16, 40, 0.10), row(I8, 20, 0.11),
             row(F32, 30, 0.10, graph=S), row(I8, 10, 0.30, graph=S)]
    choice = choose(table, 1.5)
    assert choice.chosen is F32 and choice.kept == ["float32", "step-float32"]
    assert choice.verdicts["int8"].reason == "step-int8: closed loop 3.00x float32 > 1.5"
    assert choice.verdicts["step-int8"].reason == "closed loop 3.00x float32 > 1.5"
    assert choice.verdicts["float16"].reason.startswith("no step-float16 variant")
    table[-1] = row(I8, 10, 0.12, graph=S)
    assert choose(table, 1.5).kept == ["int8", "step-int8"]
    assert choose(table, 1.5).line("gru").startswith("gru: kept int8+step-int8 (30.0 KiB, closed loop 1.10x, 1.20x")


def test_a_float32_without_error_makes_any_error_infinitely_many_times_larger():
    choice = choose([row(F32, 78, 0.0), row(I8, 20, 1e-3), row(F16, 40, 0.0)], 1.5)
    assert choice.chosen is F16 and "infinitely many times" in choice.verdicts["int8"].reason
    assert choice.to_dict()["candidates"]["int8"]["ratio_vs_float32"] is None  # JSON has no inf


def test_the_record_is_what_bundle_json_accepts():
    doc = choose(seed_lstm(), 1.5).to_dict()
    json.dumps(doc, allow_nan=False)
    from edge_forecast.contracts.bundle import _check_quant_auto

    _check_quant_auto(doc, "models.lstm.quant_auto")
    with pytest.raises(UserError, match="tolerance must be a number of at least 1"):
        _check_quant_auto({**doc, "tolerance": 0.5}, "models.lstm.quant_auto")
    with pytest.raises(UserError, match=r"candidates\.int8 is missing 'reason'"):
        _check_quant_auto({**doc, "candidates": {"int8": {"kept": False}}}, "models.lstm.quant_auto")


def test_quant_and_tolerance_parsing():
    assert parse_quant("auto") == (list(QuantMode), True)
    assert parse_quant("int8,float32") == ([I8, F32], False)
    assert parse_quant(None) == (list(QuantMode), False)
    with pytest.raises(UserError, match="'auto' cannot be combined"):
        parse_quant("auto,int8")
    assert check_tolerance(None, True) == 1.5 and check_tolerance(None, False) is None
    assert check_tolerance(2, True) == 2.0
    for bad, message in [(0.9, "at least 1"), (float("nan"), "finite number"), ("2", "finite number")]:
        with pytest.raises(UserError, match=message):
            check_tolerance(bad, True)
    with pytest.raises(UserError, match="applies to quant auto only"):
        check_tolerance(2.0, False)


@pytest.mark.parametrize(("args", "expected"), [
    (["--quant", "int8", "--tolerance", "2"], "applies to quant auto only"),
    (["--tolerance", "2"], "applies to quant auto only"),
    (["--quant", "auto", "--tolerance", "0.5"], "'--tolerance'"),
    (["--quant", "auto", "--tolerance", "nan"], "is not a finite number"),
    (["--quant", "auto", "--tolerance", "x"], "is not a valid float"),
    (["--quant", "auto,int8"], "'auto' cannot be combined"),
])
def test_bad_tolerance_and_quant_are_one_line(tmp_path, args, expected):
    run = tmp_path / "run"
    run.mkdir()  # never read: the options are refused first
    done = cli("export", str(run), "--out", str(tmp_path / "b"), *args)
    one_line_error(done, expected)
    assert not (tmp_path / "b").exists()


def test_the_python_api_refuses_a_tolerance_without_auto(tmp_path):
    import edge_forecast

    with pytest.raises(UserError, match="^tolerance 2 applies to quant auto only"):
        edge_forecast.export(tmp_path, tmp_path / "b", quant="int8", tolerance=2)
    with pytest.raises(UserError, match="^tolerance must be a finite number"):
        edge_forecast.export(tmp_path, tmp_path / "b", quant="auto", tolerance="2")


def test_export_quant_auto_keeps_one_mode_per_model_and_says_why(tiny_run, tmp_path):
    out = tmp_path / "auto"
    done = cli("export", str(tiny_run), "--out", str(out), "--models", "rnn,lstm", "--quant", "auto",
               "--tolerance", "1.5", timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = BundleDocument.from_dict(json.loads((out / "bundle.json").read_text()))
    for name in ("rnn", "lstm"):
        model = doc.models[name]
        record = model.quant_auto
        assert len(model.variants) == 1 and list(model.variants) == [record["chosen"]]
        assert record["tolerance"] == 1.5 and set(record["candidates"]) == {m.value for m in QuantMode}
        kept = record["candidates"][record["chosen"]]
        assert kept["kept"] and kept["ratio_vs_float32"] <= 1.5
        assert all(c["reason"] and c["invoke_us"] > 0 for c in record["candidates"].values())
        assert all(kept["bytes"] <= c["bytes"] for c in record["candidates"].values()
                   if c["ratio_vs_float32"] is not None and c["ratio_vs_float32"] <= 1.5)
        assert any(line.startswith(f"{name}: kept {record['chosen']} (") for line in done.stdout.splitlines())
    assert sorted(p.name for p in out.glob("*.tflite")) == sorted(
        f"{n}.{doc.models[n].quant_auto['chosen']}.tflite" for n in ("rnn", "lstm"))
    ran = cli("run", str(out), "--model", "lstm", "--horizon", "3")
    assert ran.returncode == 0, ran.stderr
