#!/usr/bin/env bash
# The set-up as a fresh machine meets it, taken on purpose on a machine where everything is
# installed. In a private mount namespace:
# - the emulated Pi's tools (qemu-aarch64-static, mmdebstrap, arch-test) look absent: an overlay
#   over /usr/bin hides them, so scripts/arm64.py installs them again (apt-get, into the overlay);
# - the emulated Pi's cache is a new, empty folder (EDGE_FORECAST_ARM64_CACHE);
# - the environments the README's commands create (.venv, .venv-tflite) are made anew: here if this
#   checkout has none yet (a fresh clone, as in CI), else in a new clone of HEAD (pip's own download
#   cache is kept: what is tested is the set-up, not the network).
# `scripts/test.sh --setup-only` runs there; its stdout must stay empty (set-up output goes to
# stderr), and every `scripts/arm64.py python ...` must print exactly one existing path. Then
# COMMAND, if given, runs in the same namespace and folder, on what the set-up built: CI runs
# `bash scripts/first_time.sh bash scripts/test.sh`, so every run takes the first-time path and
# nothing is built twice.
# Needs root. Usage: bash scripts/first_time.sh [COMMAND...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
[ "$(id -u)" = 0 ] || { echo "error: scripts/first_time.sh needs root (a private mount namespace, apt-get)" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ -e .venv ] || [ -e .venv-tflite ]; then
  git clone -q "$PWD" "$WORK/clone"
  HERE="$WORK/clone"
else
  HERE="$PWD"
fi
export WORK PY HERE
unshare -m bash -euo pipefail -c '
  mount --make-rprivate /
  mkdir -p "$WORK/ovl"
  mount -t tmpfs first-time "$WORK/ovl"  # overlay upper and work dirs: gone with the namespace
  mkdir -p "$WORK/ovl/upper" "$WORK/ovl/work"
  for tool in qemu-aarch64-static mmdebstrap arch-test; do mknod "$WORK/ovl/upper/$tool" c 0 0; done  # whiteouts
  mount -t overlay first-time -o "lowerdir=/usr/bin,upperdir=$WORK/ovl/upper,workdir=$WORK/ovl/work" /usr/bin
  for tool in qemu-aarch64-static mmdebstrap arch-test; do
    if command -v "$tool" >/dev/null; then echo "error: could not hide $tool ($(command -v "$tool"))" >&2; exit 1; fi
  done
  export EDGE_FORECAST_ARM64_CACHE="$WORK/arm64-cache"
  cd "$HERE"
  echo "first-time: tools hidden, empty emulated-Pi cache, new environments in $HERE: scripts/test.sh --setup-only" >&2
  start=$(date +%s)
  bash scripts/test.sh --setup-only >"$WORK/stdout"
  if [ -s "$WORK/stdout" ]; then
    echo "error: the set-up printed on stdout (a script that reads it would take these lines as its result):" >&2
    head -5 "$WORK/stdout" >&2
    exit 1
  fi
  for args in "litert" "tflite-runtime" "litert --suite trixie"; do
    # shellcheck disable=SC2086
    out="$("$PY" scripts/arm64.py python $args)"
    if [ "$(printf "%s\n" "$out" | wc -l)" -ne 1 ] || [ ! -x "$out" ]; then
      echo "error: scripts/arm64.py python $args printed \"$out\", not one existing path" >&2; exit 1
    fi
  done
  "$out" -c "import edge_forecast, numpy, ai_edge_litert" \
    || { echo "error: the emulated Python $out does not run" >&2; exit 1; }
  echo "first-time set-up: passed in $(( $(date +%s) - start )) s (tools installed again, emulated Pi built, environments created)"
  if [ "$#" -gt 0 ]; then exec "$@"; fi
' first-time "$@"
