#!/bin/sh
# examples/lagline/run.sh - the teacher-student experiment of the GLE paper (Fig. 5).
#   1. input: a +-1 square wave, half-period 2, randomly shifted per batch element,
#      smoothed by a Gaussian of 5 steps; [BATCH, WARMUP + STEPS, 1]
#   2. the teacher (w = (1, 2), tau_m = (1, 2)) on it; its n2.rate delayed one step is the
#      target
#   3. the student from w ~ U(0, 1), tau_m ~ U(0, 1) (raised to the clamp 0.1), learning
#      w and tau_m with Adam after WARMUP steps without learning, once with prospective
#      errors (GLE) and once with instantaneous errors (LE)
#   4. one plot of both students ($OUT/lagline.svg) and the recovered parameters
# Environment: VLEC, OUT (default runs/lagline), STEPS (training steps, default 100000),
# WARMUP (steps without learning first, default 5000 = 50 time units), BATCH (default 100),
# SEED (default 1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/lagline}
STEPS=${STEPS:-100000}
WARMUP=${WARMUP:-5000}
BATCH=${BATCH:-100}
SEED=${SEED:-1}
N=$((WARMUP + STEPS))
START=$(date +%s)
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"

echo "[1/4] input: $BATCH smoothed square waves of $N steps; student's initial tau_m"
"$DATA" square "$OUT/x.npy" --batch "$BATCH" --steps "$N" --dt 0.01 --half-period 2 \
  --sigma 5 --seed "$SEED"
"$DATA" uniform "$OUT/tau_n1.npy" --n 1 --lo 0 --hi 1 --min 0.1 --seed $((SEED + 100))
"$DATA" uniform "$OUT/tau_n2.npy" --n 1 --lo 0 --hi 1 --min 0.1 --seed $((SEED + 200))

echo "[2/4] teacher: w = (1, 2), tau_m = (1, 2)"
"$VLEC" run "$HERE/teacher.vle" --input x="$OUT/x.npy" --steps "$N" --batch "$BATCH" \
  --no-learn --record n2.rate --out "$OUT/teacher"
"$DATA" delay "$OUT/teacher/n2.rate.npy" "$OUT/y.npy"

i=3
for errors in prospective instantaneous; do
  echo "[$i/4] student, $errors errors: $WARMUP steps without learning, then $STEPS training steps"
  "$VLEC" run "$HERE/student.vle" --input x="$OUT/x.npy" --target y="$OUT/y.npy" \
    --steps "$N" --warmup "$WARMUP" --batch "$BATCH" --seed "$SEED" --errors $errors \
    --init n1.tau_m="$OUT/tau_n1.npy" --init n2.tau_m="$OUT/tau_n2.npy" \
    --record loss,w0,w1,n1.tau_m,n2.tau_m --param-every 100 --out "$OUT/$errors"
  i=$((i + 1))
done
"$VLEC" plot "$OUT/prospective" "$OUT/instantaneous" loss w0 w1 n1.tau_m n2.tau_m \
  --ref w0=1 --ref w1=2 --ref n1.tau_m=1 --ref n2.tau_m=2 -o "$OUT/lagline.svg"

# The summary: the parameters at the start and the end, the loss over the last tenth of
# the run, and what the numbers say.
params() {   # DIR INDEX: "w0 w1 tau1 tau2" of the recorded trajectories at INDEX
  for p in w0 w1 n1.tau_m n2.tau_m; do "$DATA" get "$1/$p.npy" --at "$2"; done | tr '\n' ' '
}
echo
echo "lagline: the student has to find the teacher's w = (1, 2) and τ = (1, 2)"
echo "($STEPS training steps after $WARMUP without learning, batch $BATCH, seed $SEED;" \
  "$(($(date +%s) - START)) s)"
params "$OUT/prospective" 0 | awk '{ printf "  %-27s w = (%.3f, %.3f), τ = (%.3f, %.3f)\n", "start:", $1, $2, $3, $4 }'
for errors in prospective instantaneous; do
  label="prospective errors (GLE):"
  [ $errors = instantaneous ] && label="instantaneous errors (LE):"
  loss=$("$DATA" mean "$OUT/$errors/loss.npy" --last 0.1)
  params "$OUT/$errors" -1 | awk -v label="$label" -v loss="$loss" -v clamp=0.1 '{
    want[1] = 1; want[2] = 2; want[3] = 1; want[4] = 2
    worst = 0
    for (i = 1; i <= 4; i++) { e = ($i - want[i]) / want[i]; if (e < 0) e = -e; if (e > worst) worst = e }
    if (worst < 0.01) {
      verdict = sprintf("recovered: every parameter within %.2g %% of the teacher'"'"'s", 100 * worst)
    } else {
      verdict = sprintf("wrong (largest error %.0f %%)", 100 * worst)
      if ($1 < 0) verdict = verdict ": w0 < 0"
      pinned = ($3 <= clamp * (1 + 1e-9)) + 2 * ($4 <= clamp * (1 + 1e-9))
      if (pinned) verdict = verdict sprintf("%s%s at the clamp (%g)", $1 < 0 ? ", " : ": ",
                                            pinned == 3 ? "both τ" : pinned == 1 ? "τ1" : "τ2", clamp)
    }
    printf "  %-27s w = (%.3f, %.3f), τ = (%.3f, %.3f), loss %.1e\n", label, $1, $2, $3, $4, loss
    printf "  %-27s -> %s\n", "", verdict
  }'
done
echo "plot: $OUT/lagline.svg"
