#!/bin/sh
# examples/lagnet/run.sh - GLE prospective errors against the exact adjoint.
#   1. the same network, learning off, once per error scheme (adjoint, prospective,
#      instantaneous), recording every error e(t) and the back-propagated errors g(t)
#   2. a cross-check of vlec's adjoint: for the top hidden layer h2 the exact adjoint also
#      follows from the recorded g alone (README.md says why), integrated backward by
#      vle_data, an independent implementation
#   3. per neuron: the lag and peak of the cross-correlation of each local scheme's e(t)
#      with the adjoint's, and the gain
#   4. the gradient estimates of vlec grad, compared with the adjoint's by cosine similarity
# Environment: VLEC, OUT (default runs/lagnet), STEPS (default 20000).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-runs/lagnet}
STEPS=${STEPS:-20000}
# shellcheck source=SCRIPTDIR/../tools/common.sh
. "$HERE/../tools/common.sh"
MAXLAG=$((STEPS / 8 < 300 ? STEPS / 8 : 300))

for errors in adjoint prospective instantaneous; do
  "$VLEC" run "$HERE/model.vle" --steps "$STEPS" --seed 1 --no-learn --errors $errors \
    --record h1.error,h2.error,o.error,h1.g,h2.g,loss --out "$OUT/run_$errors"
  "$VLEC" grad "$HERE/model.vle" --steps "$STEPS" --seed 1 --errors $errors \
    --out "$OUT/grad_$errors"
done

# With gamma = 0 and tau_r = tau_m at the output, e_o and hence g_h2 are the same in every
# scheme, so the exact adjoint of h2 follows from the recorded g of any run.
mkdir -p "$OUT/run_adjoint_h2"
"$DATA" adjoint "$OUT/run_prospective/h2.g.npy" "$OUT/run_adjoint_h2/h2.error.npy" \
  --tau-m 1,1 --tau-r 1,0.1 --dt 0.01
echo "h2.error, vlec's adjoint against vle_data's (the independent check):"
"$DATA" xcorr "$OUT/run_adjoint_h2/h2.error.npy" "$OUT/run_adjoint/h2.error.npy" \
  --max-lag $MAXLAG | sed 's/^/    /'

# 30 time units from the middle of the run (dt = 0.01): away from the start, where the
# network settles, and from the end, where the adjoint starts from zero; long enough for a
# few periods, short enough that a lag shows.
FROM=$((STEPS / 200))
"$VLEC" plot "$OUT/run_adjoint" "$OUT/run_prospective" "$OUT/run_instantaneous" h2.error \
  --from $FROM --to $((FROM + 30)) -o "$OUT/h2.svg"
"$VLEC" plot "$OUT/run_adjoint" "$OUT/run_prospective" "$OUT/run_instantaneous" \
  h1.error h2.error o.error --from $FROM --to $((FROM + 30)) -o "$OUT/errors.svg"

for errors in prospective instantaneous; do
  for p in h1 h2 o; do
    echo "$p.error, $errors against adjoint (neuron 0 fast, 1 slow):"
    "$DATA" xcorr "$OUT/run_adjoint/$p.error.npy" "$OUT/run_$errors/$p.error.npy" \
      --max-lag $MAXLAG | sed 's/^/    /'
  done
  for w in W1 W2 W3 b1 b2 b3; do
    printf '%s gradient, cosine(%s, adjoint): ' "$w" "$errors"
    "$DATA" cosine "$OUT/grad_adjoint/grad/$w.npy" "$OUT/grad_$errors/grad/$w.npy"
  done
done
