#!/usr/bin/env bash
# The whole test suite from a fresh clone: creates the environments it needs, then runs
#   1. the main suite (TensorFlow, ai-edge-litert, tflite-micro) in .venv, numpy 2;
#   2. the device suite with tflite-runtime 2.14 on numpy < 2 in .venv-tflite (no TensorFlow).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[desktop,dev]'

run_pytest() {  # pytest exit 5 (nothing collected) is a failure here, not a pass
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests: $*" >&2; return 1; fi
  return "$rc"
}

run_pytest .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

# tflite-runtime has wheels only for Python <= 3.11 and needs numpy < 2: its own environment.
[ -x .venv-tflite/bin/python ] || "$PY" -m venv .venv-tflite
.venv-tflite/bin/python -m pip install -q --disable-pip-version-check -e '.[tflite-runtime]' 'pytest>=8,<10'
BUNDLE_DIR="$(mktemp -d)"
trap 'rm -rf "$BUNDLE_DIR"' EXIT
.venv/bin/python -m edge_forecast train --preset seed --epochs 3 --quiet --out "$BUNDLE_DIR/run"
.venv/bin/python -m edge_forecast export "$BUNDLE_DIR/run" --out "$BUNDLE_DIR/bundle" --quiet \
  --graphs window,step,stream,rollout --rollout-horizon 20 --probe-python .venv-tflite/bin/python
EDGE_FORECAST_DEVICE_BUNDLE="$BUNDLE_DIR/bundle" \
  run_pytest .venv-tflite/bin/python -m pytest -q -p no:cacheprovider tests/device
# the same bundle (every graph kind) on ai-edge-litert: the main suite's device run has no graphs
EDGE_FORECAST_DEVICE_BUNDLE="$BUNDLE_DIR/bundle" \
  run_pytest .venv/bin/python -m pytest -q -p no:cacheprovider tests/device
