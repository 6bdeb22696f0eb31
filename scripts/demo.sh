#!/bin/sh
# scripts/demo.sh BUILD_DIR - what `make demo` runs: the lag-line experiment of the GLE
# paper (examples/lagline), shortened to finish in well under a minute on two cores
# (batch 20 instead of 100), with a progress bar per run, a summary and one plot.
# Everything goes to runs/demo/ (git-ignored), which is replaced on every run.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
for tool in vlec vle_data; do
  [ -x "$BUILD/$tool" ] || { echo "demo: $BUILD/$tool not found; build first ('make')" >&2; exit 1; }
done

cat <<'TEXT'
vle demo: learning weights *and* time constants (GLE paper, Fig. 5)

A teacher chain  input -> n1 -> n2  of slow softplus neurons (w = (1, 2), membrane time
constants τ = (1, 2)) produces the target; a student of the same shape starts from random
w and τ and learns all four from the teacher's output. Because the neurons lag, the student
needs errors with the right phase: GLE's prospective errors have it, LE's instantaneous
errors do not. vlec derives both from the model's energy (examples/lagline/student.vle).

TEXT
rm -rf runs/demo
VLEC="$BUILD/vlec" VLE_DATA="$BUILD/vle_data" OUT=runs/demo STEPS=100000 WARMUP=5000 \
  BATCH=20 SEED=1 sh examples/lagline/run.sh
