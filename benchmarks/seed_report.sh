#!/usr/bin/env bash
# The committed reference report of the seed bundle: train the tutorial preset (about 4-5 min on
# 2 cores), export every mode, and bench every variant on every installed runtime with the Keras
# model as the baseline. Usage: bash benchmarks/seed_report.sh [--skip-train]
set -euo pipefail
cd "$(dirname "$0")/.."
EF=.venv/bin/edge-forecast
if [ "${1:-}" != "--skip-train" ]; then
  $EF train --preset seed --out runs/seed --force
fi
PROBE=()
[ -x .venv-tflite/bin/python ] && PROBE=(--probe-python .venv-tflite/bin/python)
# the emulated Pi's runtimes too (scripts/arm64.py; root): bundle.json then says what runs on aarch64
if [ "$(id -u)" = 0 ] && [ "${EDGE_FORECAST_SKIP_ARM64:-0}" != 1 ]; then
  for rt in litert tflite-runtime; do PROBE+=(--probe-python "$(python3 scripts/arm64.py python "$rt")"); done
fi
$EF export runs/seed --out bundles/seed --force --graphs window,step,stream,rollout "${PROBE[@]}"
$EF bench bundles/seed --out benchmarks/results/seed-report --reference runs/seed --force
