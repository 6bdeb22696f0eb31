#!/bin/sh
# examples/le_teacher/run.sh - an LE student learns a fixed teacher network.
#   1. the teacher: model.vle with --seed 7, learning off and beta = 0; record o.rate
#   2. its output, delayed one step, becomes the student's target
#   3. the student: model.vle with --seed 1, learning on
# Environment: VLEC (the vlec binary), OUT (default runs/le_teacher), STEPS (default 200000).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/le_teacher}
STEPS=${STEPS:-200000}
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"

"$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed 7 --no-learn --set beta=0 \
  --record o.rate --out "$OUT/teacher"
"$DATA" delay "$OUT/teacher/o.rate.npy" "$OUT/target.npy"

"$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed 1 --target y="$OUT/target.npy" \
  --record loss,o.rate,W2 --param-every 1000 --out "$OUT/student"
cp "$OUT/target.npy" "$OUT/student/target.npy"      # so that vlec plot can show it too
# The whole run (the loss as a running mean, W2), and its last 20 time units: the output
# on its target (dashed), where a lag would show.
"$VLEC" plot "$OUT/student" loss W2
"$VLEC" plot "$OUT/student" o.rate+target --last 20 -o "$OUT/student/plot_end.svg"

echo "plots: $OUT/student/plot.svg $OUT/student/plot_end.svg"
echo "student W2:"; "$DATA" print "$OUT/student/params/W2.npy"
echo "teacher W2:"; "$DATA" print "$OUT/teacher/params/W2.npy"
