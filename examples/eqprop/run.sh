#!/bin/sh
# examples/eqprop/run.sh - a layered Hopfield network (model.vle) learns XOR by equilibrium
# propagation:
#   1. its EP gradient at the initial weights (`vlec grad`, one step over the four corners)
#      with one-sided and symmetric nudging for three beta, against a reference (symmetric,
#      beta = 0.001), all with long phases (400 free, 200 nudged steps);
#   2. a training on the four corners as a dataset (full batch, EPOCHS epochs), with the
#      settings of model.vle (60 free, 20 + 20 nudged steps); the plot of epochs.csv.
# Environment: VLEC, OUT (default runs/eqprop), EPOCHS (default 1000), SEED (default 1).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/eqprop}
EPOCHS=${EPOCHS:-1000}
SEED=${SEED:-1}
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"
X="$HERE/xor_x.npy"
Y="$HERE/xor_labels.npy"

# 1. the gradient check: long phases, one-sided and symmetric copies of the model
sed 's/free_steps = 60; nudged_steps = 20/free_steps = 400; nudged_steps = 200/' \
  "$HERE/model.vle" > "$OUT/symmetric.vle"
sed 's/eqprop = symmetric/eqprop = one_sided/' "$OUT/symmetric.vle" > "$OUT/one_sided.vle"
grad() {   # MODEL BETA NAME
  "$VLEC" grad "$1" --steps 1 --seed "$SEED" --set beta="$2" --input x="$X" --target y="$Y" \
    --out "$OUT/grad_$3" -q
}
grad "$OUT/symmetric.vle" 0.001 reference
for b in 0.5 0.2 0.05; do
  grad "$OUT/one_sided.vle" "$b" "one_sided_$b"
  grad "$OUT/symmetric.vle" "$b" "symmetric_$b"
done

# 2. the training
"$VLEC" run "$HERE/model.vle" --dataset --input x="$X" --target y="$Y" --epochs "$EPOCHS" \
  --no-shuffle --seed "$SEED" --out "$OUT/train" -q
"$VLEC" plot "$OUT/train" -o "$OUT/eqprop.svg"
python3 "$HERE/report.py" "$OUT"
