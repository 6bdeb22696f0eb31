#!/usr/bin/env bash
# bench/bptt.sh - what a truncated-BPTT window costs (issue 14): `vlec run --errors bptt
# --window W` (forward pass storing the trajectory, backward sweep, one update per window)
# against the same number of prospective training steps (forward, back-projection, update),
# both measured here, in the same script, on the benchmark networks (bench/models); and
# PyTorch autograd BPTT of the same step as the peer column (Debian's python3-torch; n/a
# without it). One thread everywhere (--threads 1, torch.set_num_threads(1)). Best of --runs
# R. Results: bench/results/bptt.txt. See bench/README.md "BPTT".
#
#   VLEC=build/vlec bench/bptt.sh [--runs R] [--window W] [--quick]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VLEC=${VLEC:-$here/../build/vlec}
PY=${PY:-/usr/bin/python3}
runs=3 window=100 quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --quick) quick=1; runs=1; shift ;;
    *) echo "usage: bench/bptt.sh [--runs R] [--window W] [--quick]" >&2; exit 2 ;;
  esac
done
[ -x "$VLEC" ] || { echo "bench/bptt.sh: no vlec at $VLEC (build first, or set VLEC)" >&2; exit 2; }
out=$here/results
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# steps/s of one vlec run (the best of $runs)
vle_rate() {
  local model=$1 errors=$2 batch=$3 prec=$4 steps=$5 best=0 r
  for _ in $(seq "$runs"); do
    "$VLEC" run "$model" --errors "$errors" --window "$window" --steps "$steps" --batch "$batch" \
      --precision "$prec" --threads 1 --no-cache --out "$tmp/r" -q >/dev/null
    r=$(sed -n 's/.*"steps_per_second": \([0-9.e+]*\).*/\1/p' "$tmp/r/run.json")
    best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
  done
  echo "$best"
}

torch_rate() {
  local sizes=$1 batch=$2 prec=$3 windows=$4 best=0 r flag=
  [ "$prec" = f32 ] && flag=--f32
  "$PY" -c "import torch" 2>/dev/null || { echo n/a; return; }
  for _ in $(seq "$runs"); do
    r=$("$PY" "$here/py/gle_torch_bptt.py" --sizes "$sizes" --batch "$batch" --window "$window" \
        --windows "$windows" $flag)
    best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
  done
  echo "$best"
}

{
  printf "# bench/bptt.sh, %s, window %d, best of %d, load %s\n" "$(date -u +%FT%TZ)" "$window" \
    "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
  . "$here/peer_blas.sh" && peer_blas
  printf "%-16s %5s %4s %14s %12s %8s %12s %9s\n" network batch prec "prospective/s" "bptt/s" \
    "ratio" "torch bptt/s" "vle/torch"
  for sizes in 100-100-10 784-300-100-10; do
    model=$here/models/gle_$sizes.vle
    for batch in 1 100; do
      for prec in f64 f32; do
        if [ "$batch" = 1 ]; then steps=20000 tw=5; else steps=$([ "$sizes" = 100-100-10 ] && echo 4000 || echo 600) tw=2; fi
        [ "$quick" = 1 ] && steps=$((steps / 4))
        p=$(vle_rate "$model" prospective "$batch" "$prec" "$steps")
        b=$(vle_rate "$model" bptt "$batch" "$prec" "$steps")
        t=$(torch_rate "$sizes" "$batch" "$prec" "$tw")
        printf "%-16s %5d %4s %14.0f %12.0f %8.2f %12s %9s\n" "$sizes" "$batch" "$prec" "$p" "$b" \
          "$(awk -v p="$p" -v b="$b" 'BEGIN { print p / b }')" "$t" \
          "$(awk -v b="$b" -v t="$t" 'BEGIN { if (t == "n/a") print "n/a"; else printf "%.0fx", b / t }')"
      done
    done
  done
  echo "# ratio: the time of a bptt window over the same number of prospective steps (the issue's bound: 2)"
} | tee "$out/bptt.txt"
