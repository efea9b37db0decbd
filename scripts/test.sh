#!/usr/bin/env bash
# The whole test suite from a fresh clone: creates the environments it needs, then runs
#   1. the main suite (TensorFlow, ai-edge-litert, tflite-micro) in .venv, numpy 2;
#   2. the device suite with tflite-runtime 2.14 on numpy < 2 in .venv-tflite (no TensorFlow),
#      and with ai-edge-litert, on a bundle with every graph kind;
#   3. on an emulated Raspberry Pi 4 (arm64 Debian 12, Python 3.11, qemu-user, scripts/arm64.py):
#      the device suite with ai-edge-litert and with tflite-runtime on that same bundle exported
#      here, and `bench` end to end; on Debian 13 (Python 3.13) the device extra's install and a
#      forecast. Needs root (apt, a private mount namespace); EDGE_FORECAST_SKIP_ARM64=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[desktop,dev]'
# tflite-runtime has wheels only for Python <= 3.11 and needs numpy < 2: its own environment
# (made first: the main suite borrows its package to check the numpy-2 error)
[ -x .venv-tflite/bin/python ] || "$PY" -m venv .venv-tflite
.venv-tflite/bin/python -m pip install -q --disable-pip-version-check -e '.[tflite-runtime]' 'pytest>=8,<10'

run_pytest() {  # pytest exit 5 (nothing collected) is a failure here, not a pass
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests: $*" >&2; return 1; fi
  return "$rc"
}

run_pytest .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

ARM64=""
if [ "${EDGE_FORECAST_SKIP_ARM64:-0}" = "1" ]; then
  echo "warning: EDGE_FORECAST_SKIP_ARM64=1: the emulated Raspberry Pi suite is skipped" >&2
else
  ARM_LITERT="$("$PY" scripts/arm64.py python litert)"
  ARM_TFLITE="$("$PY" scripts/arm64.py python tflite-runtime)"
  ARM64="--probe-python $ARM_LITERT --probe-python $ARM_TFLITE"
fi

BUNDLE_DIR="$(mktemp -d)"
trap 'rm -rf "$BUNDLE_DIR"' EXIT
.venv/bin/python -m edge_forecast train --preset seed --epochs 3 --quiet --out "$BUNDLE_DIR/run"
# shellcheck disable=SC2086  # ARM64 is a list of options
.venv/bin/python -m edge_forecast export "$BUNDLE_DIR/run" --out "$BUNDLE_DIR/bundle" --quiet \
  --graphs window,step,stream,rollout --rollout-horizon 20 --probe-python .venv-tflite/bin/python $ARM64
EDGE_FORECAST_DEVICE_BUNDLE="$BUNDLE_DIR/bundle" \
  run_pytest .venv-tflite/bin/python -m pytest -q -p no:cacheprovider tests/device
# the same bundle (every graph kind) on ai-edge-litert: the main suite's device run has no graphs
EDGE_FORECAST_DEVICE_BUNDLE="$BUNDLE_DIR/bundle" \
  run_pytest .venv/bin/python -m pytest -q -p no:cacheprovider tests/device

[ -n "$ARM64" ] || exit 0
# Emulated Pi 4: Python is 15-130x slower under qemu, so the two runtimes run side by side (2
# cores), and the bundle.json validation and option-parsing tests (pure Python, the same on
# every CPU) are left to the native runs above.
EMULATED_SKIP="not test_bad_input_exits_2 and not test_a_damaged_bundle_json"
emulated_suite() {  # python, log file
  EDGE_FORECAST_DEVICE_BUNDLE="$BUNDLE_DIR/bundle" \
    run_pytest "$1" -m pytest -q -p no:cacheprovider tests/device -k "$EMULATED_SKIP" >"$2" 2>&1
}
emulated_suite "$ARM_LITERT" "$BUNDLE_DIR/arm64-litert.log" & LITERT_PID=$!
emulated_suite "$ARM_TFLITE" "$BUNDLE_DIR/arm64-tflite.log" & TFLITE_PID=$!
rc=0
wait "$LITERT_PID" || rc=1
echo "== emulated arm64 (Cortex-A72), ai-edge-litert:"; cat "$BUNDLE_DIR/arm64-litert.log"
wait "$TFLITE_PID" || rc=1
echo "== emulated arm64 (Cortex-A72), tflite-runtime:"; cat "$BUNDLE_DIR/arm64-tflite.log"
[ "$rc" -eq 0 ] || exit "$rc"
# bench end to end on the Pi, both runtimes side by side: one model, float32 and int8 (int8 is
# refused on tflite-runtime there: it crashes)
.venv/bin/python -m edge_forecast export "$BUNDLE_DIR/run" --out "$BUNDLE_DIR/small" --quiet --models lstm \
  --quant float32,int8 --probe-python "$ARM_TFLITE"
"$ARM_LITERT" -m edge_forecast bench "$BUNDLE_DIR/small" --out "$BUNDLE_DIR/report-litert" --repeats 1 --horizon 20 \
  --runtimes litert --quiet & LITERT_PID=$!
"$ARM_TFLITE" -m edge_forecast bench "$BUNDLE_DIR/small" --out "$BUNDLE_DIR/report-tflite" --repeats 1 --horizon 20 \
  --runtimes tflite-runtime --quiet
wait "$LITERT_PID"
"$PY" - "$BUNDLE_DIR" <<'CHECK'
import json, sys
rows = {(r["variant"], r["runtime"]): r for name in ("report-litert", "report-tflite")
        for r in json.load(open(f"{sys.argv[1]}/{name}/report.json"))["results"]}
assert rows[("float32", "litert")]["status"] == "measured" and rows[("int8", "litert")]["status"] == "measured"
assert rows[("float32", "tflite-runtime")]["status"] == "measured", rows[("float32", "tflite-runtime")]
refused = rows[("int8", "tflite-runtime")]
assert refused["status"] != "measured" and "SIGSEGV" in refused["reason"] and "aarch64" in refused["reason"], refused
print("emulated arm64 bench: litert float32, int8 and tflite-runtime float32 measured; tflite-runtime int8 refused")
CHECK
# Raspberry Pi OS trixie: Python 3.13 installs the device extra (pip, cp313 aarch64) and forecasts
ARM_313="$("$PY" scripts/arm64.py python litert --suite trixie)"
EDGE_FORECAST_DEVICE_BUNDLE="$BUNDLE_DIR/bundle" \
  run_pytest "$ARM_313" -m pytest -q -p no:cacheprovider tests/device -k "float32_forecast_equals_keras or run_prints"
