#!/bin/sh
# examples/lagnet/run.sh - GLE prospective errors against the exact adjoint.
#   1. the same network, learning off, once per error scheme, recording every error e(t)
#      and the back-propagated errors g(t)
#   2. per neuron: the lag and peak of the cross-correlation of each scheme's e(t) with the
#      adjoint's, and the gain
#   3. the gradient estimates of vlec grad, compared by cosine similarity
# Until this vlec supports --errors adjoint (the exact backward pass), steps 2 and 3
# compare prospective with instantaneous errors, and the exact adjoint of the top hidden
# layer h2 is computed from its recorded g by vle_data (README.md explains why that one is
# exact).
# Environment: VLEC, OUT (default runs/lagnet), STEPS (default 20000).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/lagnet}
STEPS=${STEPS:-20000}
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"
MAXLAG=$((STEPS / 8 < 300 ? STEPS / 8 : 300))

schemes="prospective instantaneous"
if "$VLEC" grad "$HERE/model.vle" --steps 2 --errors adjoint --out "$OUT/probe" -q 2>/dev/null; then
  schemes="adjoint $schemes"
  ref=adjoint
else
  echo "note: this vlec has no exact adjoint yet (vlec grad --errors adjoint); comparing"
  echo "      prospective with instantaneous errors, and h2 with vle_data's adjoint of h2.g"
  ref=""
fi
rm -rf "$OUT/probe"

for errors in $schemes; do
  "$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed 1 --no-learn --errors $errors \
    --record h1.error,h2.error,o.error,h1.g,h2.g,loss --out "$OUT/run_$errors"
  "$VLEC" grad "$HERE/model.vle" --steps "$STEPS" --seed 1 --errors $errors \
    --out "$OUT/grad_$errors"
done

if [ -z "$ref" ]; then
  # With gamma = 0 and tau_r = tau_m at the output, e_o and hence g_h2 are the same in
  # every scheme, so the exact adjoint of h2 follows from the recorded g of any run.
  mkdir -p "$OUT/run_adjoint_h2"
  "$DATA" adjoint "$OUT/run_prospective/h2.g.npy" "$OUT/run_adjoint_h2/h2.error.npy" \
    --tau-m 1,1 --tau-r 1,0.1 --dt 0.01
  cp "$OUT/run_prospective/run.json" "$OUT/run_adjoint_h2/run.json"
  "$VLEC" plot "$OUT/run_adjoint_h2" "$OUT/run_prospective" "$OUT/run_instantaneous" h2.error \
    -o "$OUT/h2.svg"
  echo "h2.error against the exact adjoint (neuron 0 fast, 1 slow):"
  for errors in prospective instantaneous; do
    echo "  $errors:"
    "$DATA" xcorr "$OUT/run_adjoint_h2/h2.error.npy" "$OUT/run_$errors/h2.error.npy" \
      --max-lag $MAXLAG | sed 's/^/    /'
  done
  ref=prospective
  schemes=instantaneous
else
  "$VLEC" plot "$OUT/run_adjoint" "$OUT/run_prospective" "$OUT/run_instantaneous" \
    h1.error h2.error o.error -o "$OUT/errors.svg"
  schemes="prospective instantaneous"
fi

for errors in $schemes; do
  for p in h1 h2 o; do
    echo "$p.error, $errors against $ref (neuron 0 fast, 1 slow):"
    "$DATA" xcorr "$OUT/run_$ref/$p.error.npy" "$OUT/run_$errors/$p.error.npy" \
      --max-lag $MAXLAG | sed 's/^/    /'
  done
  for w in W1 W2 W3 b1 b2 b3; do
    printf '%s gradient, cosine(%s, %s): ' "$w" "$errors" "$ref"
    "$DATA" cosine "$OUT/grad_$ref/grad/$w.npy" "$OUT/grad_$errors/grad/$w.npy"
  done
done
