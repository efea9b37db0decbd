#!/usr/bin/env bash
# The whole test suite from a fresh clone. First every environment is prepared, so that a set-up
# failure is one line, before any test runs:
#   .venv         TensorFlow, ai-edge-litert, tflite-micro, numpy 2 (the main suite);
#   .venv-tflite  tflite-runtime 2.14 on numpy < 2, no TensorFlow (the device suite);
#   an emulated Raspberry Pi (arm64 Debian 12 and 13 user spaces under qemu-user, scripts/arm64.py)
#   with ai-edge-litert and with tflite-runtime. Needs root (apt, a private mount namespace);
#   EDGE_FORECAST_SKIP_ARM64=1 skips it.
# Then the suites run: the main suite; the device suite on tflite-runtime and on ai-edge-litert,
# on a bundle with every graph kind; the device suite and `bench` end to end on the emulated Pi 4;
# on Debian 13 (Python 3.13) the device extra's install and a forecast.
# `bash scripts/test.sh --setup-only` prepares the environments and stops. Set-up output goes to
# stderr: stdout carries only the test runs' own reports.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
SETUP_ONLY=0
if [ "${1:-}" = "--setup-only" ]; then SETUP_ONLY=1; shift; fi

setup_failed() { echo "error: set-up failed: $*" >&2; exit 2; }
step() {  # what, what to do if it fails, command...: the command's output goes to stderr
  local what="$1" hint="$2"; shift 2
  echo "set-up: $what" >&2
  local start=$SECONDS
  "$@" >&2 || setup_failed "$what; $hint"
  echo "set-up: $what: $((SECONDS - start)) s" >&2
}
arm64_python() {  # arguments of `scripts/arm64.py python`: prints the emulated Python's path, checked
  local out
  out="$("$PY" scripts/arm64.py python "$@")" \
    || setup_failed "the emulated Raspberry Pi (scripts/arm64.py python $*): see its error line above"
  if [ -z "$out" ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ] || [ ! -x "$out" ]; then
    setup_failed "scripts/arm64.py python $* printed '$out' on stdout, not the path of one executable"
  fi
  printf '%s\n' "$out"
}

command -v "$PY" >/dev/null \
  || setup_failed "$PY not found: install Python 3.11 (apt-get install python3.11 python3.11-venv) or set PYTHON"
PIP_QUIET=(-q --disable-pip-version-check)
[ -x .venv/bin/python ] || step "create .venv" "install the venv module: apt-get install python3.11-venv" \
  "$PY" -m venv .venv
step "pip install -e '.[desktop,dev,fleet]' into .venv" "pip's error is above (PyPI must be reachable)" \
  .venv/bin/python -m pip install "${PIP_QUIET[@]}" -e '.[desktop,dev,fleet]'
# tflite-runtime has wheels only for Python <= 3.11 and needs numpy < 2: its own environment
# (the main suite borrows its package to check the numpy-2 error)
[ -x .venv-tflite/bin/python ] || step "create .venv-tflite" "install the venv module: apt-get install python3.11-venv" \
  "$PY" -m venv .venv-tflite
step "pip install -e '.[tflite-runtime]' into .venv-tflite" "pip's error is above (tflite-runtime needs Python <= 3.11)" \
  .venv-tflite/bin/python -m pip install "${PIP_QUIET[@]}" -e '.[tflite-runtime]' 'pytest>=8,<10'

ARM64=""
if [ "${EDGE_FORECAST_SKIP_ARM64:-0}" = "1" ]; then
  echo "warning: EDGE_FORECAST_SKIP_ARM64=1: the emulated Raspberry Pi suite is skipped" >&2
else
  [ "$(id -u)" = 0 ] || setup_failed "the emulated Raspberry Pi needs root (apt-get, a private mount namespace); run as root or set EDGE_FORECAST_SKIP_ARM64=1"
  echo "set-up: the emulated Raspberry Pi (first time: apt-get, mmdebstrap and pip, a few minutes)" >&2
  ARM_LITERT="$(arm64_python litert)" || exit 2
  ARM_TFLITE="$(arm64_python tflite-runtime)" || exit 2
  ARM_313="$(arm64_python litert --suite trixie)" || exit 2
  ARM64="--probe-python $ARM_LITERT --probe-python $ARM_TFLITE"
fi
echo "set-up: done" >&2
[ "$SETUP_ONLY" = 0 ] || exit 0

run_pytest() {  # pytest exit 5 (nothing collected) is a failure here, not a pass
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests: $*" >&2; return 1; fi
  return "$rc"
}

# the main suite on every core (pytest-xdist): one test file per worker at a time, so a module's
# trained fixtures are built once; tests/conftest.py builds the shared ones once for all workers
run_pytest .venv/bin/python -m pytest -q -p no:cacheprovider -n logical --dist loadfile --durations=25 "$@"

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
EDGE_FORECAST_DEVICE_BUNDLE="$BUNDLE_DIR/bundle" \
  run_pytest "$ARM_313" -m pytest -q -p no:cacheprovider tests/device -k "float32_forecast_equals_keras or run_prints"
