#!/bin/sh
# examples/lagnet/run.sh - GLE prospective errors against the exact adjoint.
#   1. the same network, learning off, once per error scheme, recording every error
#   2. per neuron: the lag and peak of the cross-correlation of each scheme's e(t) with the
#      adjoint's, and the gain
#   3. the gradient estimates of vlec grad, compared by cosine similarity
# Environment: VLEC, OUT (default runs/lagnet), STEPS (default 20000).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/lagnet}
STEPS=${STEPS:-20000}
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"

for errors in adjoint prospective instantaneous; do
  "$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed 1 --no-learn --errors $errors \
    --record h1.error,h2.error,o.error,loss --out "$OUT/run_$errors"
  "$VLEC" grad "$HERE/model.vle" --steps "$STEPS" --seed 1 --errors $errors \
    --out "$OUT/grad_$errors"
done
"$VLEC" plot "$OUT/run_prospective" h1.error h2.error o.error -o "$OUT/prospective.svg"
"$VLEC" plot "$OUT/run_adjoint" h1.error h2.error o.error -o "$OUT/adjoint.svg"

for errors in prospective instantaneous; do
  for p in h1 h2 o; do
    echo "$p.error, $errors against adjoint (neuron 0 fast, 1 slow):"
    "$DATA" xcorr "$OUT/run_adjoint/$p.error.npy" "$OUT/run_$errors/$p.error.npy" --max-lag 300
  done
  for w in W1 W2 W3 b1 b2 b3; do
    printf '%s gradient, cosine(%s, adjoint): ' "$w" "$errors"
    "$DATA" cosine "$OUT/grad_adjoint/grad/$w.npy" "$OUT/grad_$errors/grad/$w.npy"
  done
done
