#!/bin/sh
# examples/predictive_coding/run.sh - a population of hidden causes learns to predict its
# input through a decoder Wd (model.vle), from the same initial weights (seed 1):
#   with the weight decay lam = 0.05, without it (--set lam=0), and without learning;
#   then one plot of the objective (prediction error + prior) and of Wd in both runs.
# Environment: VLEC, OUT (default runs/predictive_coding), STEPS (default 100000 = 2000
# time units), SEED (default 1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/predictive_coding}
STEPS=${STEPS:-100000}
SEED=${SEED:-1}
EVERY=$((STEPS / 100))
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"

"$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed "$SEED" --no-learn \
  --record objective --out "$OUT/no_learning" -q
"$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed "$SEED" \
  --record objective,Wd --param-every "$EVERY" --out "$OUT/decay" -q
"$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed "$SEED" --set lam=0 \
  --record objective,Wd --param-every "$EVERY" --out "$OUT/no_decay" -q
"$VLEC" plot "$OUT/decay" "$OUT/no_decay" "$OUT/no_learning" objective --to 100 \
  -o "$OUT/objective.svg"
"$VLEC" plot "$OUT/decay" "$OUT/no_decay" Wd -o "$OUT/decoder.svg"

# The objective (the prediction error 0.5 |x - Wd r_h|^2 plus the prior) over the first and
# the last tenth, and the decoder's norm at the end.
echo "predictive_coding: $STEPS steps, seed $SEED (objective: first tenth -> last tenth)"
for run in no_learning decay no_decay; do
  first=$("$DATA" mean "$OUT/$run/objective.npy" --first 0.1)
  last=$("$DATA" mean "$OUT/$run/objective.npy" --last 0.1)
  printf "  %-12s %.3g -> %.3g\n" "$run" "$first" "$last"
done
norm() {   # the Frobenius norm of the last snapshot of a [snapshots, 3, 2] Wd.npy
  for i in 6 5 4 3 2 1; do "$DATA" get "$1" --at -$i; done | awk '{ s += $1 * $1 } END { printf "%.3f", sqrt(s) }'
}
echo "  |Wd| at the end: $(norm "$OUT/decay/Wd.npy") with the decay, $(norm "$OUT/no_decay/Wd.npy") without"
echo "plots: $OUT/objective.svg $OUT/decoder.svg"
