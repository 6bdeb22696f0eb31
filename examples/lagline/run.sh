#!/bin/sh
# examples/lagline/run.sh - the teacher-student experiment of the GLE paper (Fig. 5).
#   1. input: a +-1 square wave, half-period 2, randomly shifted per batch element,
#      smoothed by a Gaussian of 5 steps; [100, STEPS, 1]
#   2. the teacher (w = (1, 2), tau_m = (1, 2)) on it; its n2.rate delayed one step is the
#      target
#   3. the student from w ~ U(0, 1), tau_m ~ U(0, 1) (raised to the clamp 0.1), learning
#      w and tau_m with Adam, once with prospective errors (GLE) and once with
#      instantaneous errors (LE)
#   4. the recovered parameters against the teacher's
# Environment: VLEC, OUT (default runs/lagline), STEPS (default 50000), SEED (default 1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/lagline}
STEPS=${STEPS:-50000}
SEED=${SEED:-1}
BATCH=100
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"

"$DATA" square "$OUT/x.npy" --batch $BATCH --steps "$STEPS" --dt 0.01 --half-period 2 \
  --sigma 5 --seed "$SEED"
"$DATA" uniform "$OUT/tau_n1.npy" --n 1 --lo 0 --hi 1 --min 0.1 --seed $((SEED + 100))
"$DATA" uniform "$OUT/tau_n2.npy" --n 1 --lo 0 --hi 1 --min 0.1 --seed $((SEED + 200))

"$VLEC" run "$HERE/teacher.vle" --input x="$OUT/x.npy" --steps "$STEPS" --batch $BATCH \
  --no-learn --record n2.rate --out "$OUT/teacher"
"$DATA" delay "$OUT/teacher/n2.rate.npy" "$OUT/y.npy"

for errors in prospective instantaneous; do
  "$VLEC" run "$HERE/student.vle" --input x="$OUT/x.npy" --target y="$OUT/y.npy" \
    --steps "$STEPS" --batch $BATCH --seed "$SEED" --errors $errors \
    --init n1.tau_m="$OUT/tau_n1.npy" --init n2.tau_m="$OUT/tau_n2.npy" \
    --record loss,w0,w1,n1.tau_m,n2.tau_m --record-every 100 --out "$OUT/$errors"
  "$VLEC" plot "$OUT/$errors"
done

for errors in prospective instantaneous; do
  P="$OUT/$errors/params"
  echo "$errors errors, after $STEPS steps:"
  printf '  w0       '; "$DATA" compare "$P/w0.npy" 1
  printf '  w1       '; "$DATA" compare "$P/w1.npy" 2
  printf '  n1.tau_m '; "$DATA" compare "$P/n1.tau_m.npy" 1
  printf '  n2.tau_m '; "$DATA" compare "$P/n2.tau_m.npy" 2
done
