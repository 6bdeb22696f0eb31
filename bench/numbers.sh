#!/bin/sh
# numbers.sh - the numbers of bench/README-numbers.md, best of 3 each.
#   sh bench/numbers.sh [BUILD_DIR] [LD_TIME]    (from the repository root, after cmake --build)
# LD_TIME: the bench/ld_time.c binary (optional: its lines are skipped without it).
set -eu
B=${1:-build}
LDT=${2:-}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
now() { date +%s.%N; }
best() { sort -g | head -1; }
wall() {   # wall seconds of a command, best of 3
  for i in 1 2 3; do
    s=$(now); "$@" >/dev/null 2>&1; e=$(now)
    awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f\n", b - a }' 
  done | best
}
sps() {    # steps/s reported by run.json, best of 3
  for i in 1 2 3; do
    "$B/vlec" run "$@" --quiet --out "$T/run" >/dev/null
    sed -n 's/.*"steps_per_second": *\([0-9.eE+-]*\).*/\1/p' "$T/run/run.json"
  done | sort -gr | head -1
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$LDT" ]; then "$LDT" examples/gle_small/model.vle 3 | tail -2; fi
echo "gle_small: vlec run --steps 1 wall $(wall "$B/vlec" run examples/gle_small/model.vle --steps 1 --quiet --out "$T/r1") s"
echo "gle_small: vlec build wall $(wall "$B/vlec" build examples/gle_small/model.vle -o "$T/g.so") s"
echo "gle_784: vlec run --steps 1 wall $(wall "$B/vlec" run bench/gle_784.vle --steps 1 --quiet --out "$T/r2") s"
echo "gle_784 batch 1:   $(sps bench/gle_784.vle --steps 2000 --batch 1) steps/s"
echo "gle_784 batch 100: $(sps bench/gle_784.vle --steps 200 --batch 100) steps/s"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
