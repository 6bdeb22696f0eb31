#!/bin/sh
# examples/feedback_alignment/run.sh - the same LE student (examples/le_teacher) learns the same
# teacher three times: with weight transport (bp.vle), a fixed random feedback matrix (fa.vle)
# and Kolen-Pollack (kp.vle). Then plot.py draws the losses side by side and the angle
# between B2 and W2' over training.
# Environment: VLEC (the vlec binary), OUT (default runs/feedback_alignment), STEPS (default
# 300000).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/feedback_alignment}
STEPS=${STEPS:-300000}
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"

"$VLEC" run "$HERE/../le_teacher/model.vle" --steps "$STEPS" --seed 7 --no-learn --set beta=0 \
  --record o.rate --out "$OUT/teacher" -q
"$DATA" delay "$OUT/teacher/o.rate.npy" "$OUT/target.npy"

for v in bp fa kp; do
  rec=loss,W2
  [ "$v" = bp ] || rec=loss,W2,B2
  "$VLEC" run "$HERE/$v.vle" --steps 0 --seed 1 --out "$OUT/init_$v" -q
  "$VLEC" run "$HERE/$v.vle" --steps "$STEPS" --seed 1 --target y="$OUT/target.npy" \
    --record "$rec" --param-every 5000 --out "$OUT/$v" -q
done
python3 "$HERE/plot.py" "$OUT"
