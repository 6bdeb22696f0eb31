#!/usr/bin/env bash
# Trains GLE-15k on MNIST-1D as in the GLE paper and evaluates it on the test set after
# every epoch. Resumable: run it again after an interruption and it goes on from the last
# epoch's checkpoint.
#
#   examples/mnist1d/run.sh [SEED] [ERRORS] [EPOCHS]      (defaults: 1 prospective 150)
#
# Environment: VLEC (default build/vlec), VLE_DATA (build/vle_data), DATA (where the
# dataset goes, default data/mnist1d_360), OUT (default runs/mnist1d-ERRORS-seedSEED),
# PRECISION (f32 or f64, default f32).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seed="${1:-1}" errors="${2:-prospective}" epochs="${3:-150}"
vlec="${VLEC:-$root/build/vlec}" vle_data="${VLE_DATA:-$root/build/vle_data}"
data="${DATA:-data/mnist1d_360}" out="${OUT:-runs/mnist1d-$errors-seed$seed}"
precision="${PRECISION:-f32}"

# The published dataset, one value per step (length 360): 4000 train, 1000 test samples.
[ -f "$data/y_test.npy" ] || "$vle_data" mnist1d "$data" --length 360

resume=()
[ -f "$out/checkpoint.state" ] && resume=(--load-state "$out/checkpoint.state")

exec "$vlec" run "$here/model.vle" --precision "$precision" --seed "$seed" \
  --errors "$errors" --dataset --epochs "$epochs" \
  --input x="$data/x_train.npy" --target y="$data/y_train.npy" \
  --eval-input x="$data/x_test.npy" --eval-target y="$data/y_test.npy" \
  --lr-schedule plateau:2:0.5 --out "$out" "${resume[@]}"
