#!/bin/sh
# examples/recurrent/run.sh - delayed recall with lateral recurrence (model.vle), learned
# with three error schemes from the same initial weights (seed 1):
#   prospective (GLE), instantaneous (LE), adjoint (continuous-time, over windows of WINDOW
#   steps, one optimizer step per window), bptt (the exact gradient of the discrete step,
#   truncated to the same windows); the same network without learning, and with
#   prospective errors but R pinned to 0;
#   then one plot of the four losses and the output on its target at the end.
# Environment: VLEC, OUT (default runs/recurrent), STEPS (default 200000 = 4000 time
# units), WINDOW (adjoint and bptt, default 50 steps = 1 time unit), SEED (default 1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/recurrent}
STEPS=${STEPS:-200000}
WINDOW=${WINDOW:-50}
SEED=${SEED:-1}
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"

"$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed "$SEED" --no-learn \
  --record loss,o.rate,y --out "$OUT/no_learning" -q
# The same network without recurrence: a decay of 1e4 pins R to 0 (|R| < 1e-4 after a few
# hundred steps), so only the neurons' own lags can remember.
"$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed "$SEED" --set lam=1e4 \
  --record loss --out "$OUT/no_recurrence" -q
for errors in prospective instantaneous adjoint bptt; do
  extra=""
  case $errors in adjoint|bptt) extra="--window $WINDOW" ;; esac
  # shellcheck disable=SC2086
  "$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed "$SEED" --errors $errors $extra \
    --record loss,o.rate,y --out "$OUT/$errors" -q
done
"$VLEC" plot "$OUT/prospective" "$OUT/instantaneous" "$OUT/adjoint" "$OUT/bptt" \
  "$OUT/no_recurrence" "$OUT/no_learning" loss \
  --smooth 5000 -o "$OUT/loss.svg"
"$VLEC" plot "$OUT/prospective" o.rate+y --last 20 -o "$OUT/recall.svg"

# The loss (batch mean of C) over the first and the last tenth of each run.
echo "recurrent: delayed recall, $STEPS steps, seed $SEED (loss: first tenth -> last tenth)"
for run in no_learning no_recurrence prospective instantaneous adjoint bptt; do
  first=$("$DATA" mean "$OUT/$run/loss.npy" --first 0.1)
  last=$("$DATA" mean "$OUT/$run/loss.npy" --last 0.1)
  printf "  %-14s %.3g -> %.3g\n" "$run" "$first" "$last"
done
echo "plots: $OUT/loss.svg $OUT/recall.svg"
