#!/bin/bash
# bench/mpi.sh - `mpirun -np 2 vlec run` against one process, in one run (issue 19;
# bench/README.md "MPI").
#
#   bench/mpi.sh [--reps R] [--sizes "A B"] [--precs "f64 f32"] [--batch B]
#   (a size may be a .vle file instead: e.g. examples/mnist1d/model.vle, 3000 steps)
#   VLEC=build/vlec (default)
#
# Per network and precision, interleaved, R repetitions each, best steps/s (run.json's
# steps_per_second: the stepping loop only; mpirun's start-up and the compile are outside):
#   1 process, --threads 1          the baseline
#   1 process, --threads 2          the other way to use both cores (bench/threads.sh)
#   2 ranks (mpirun -np 2), --threads 1 each, gradients combined every step
#   2 ranks, local SGD every 10 updates (--combine-every 10)
# and the bytes rank 0 received per step (run.json resolved.mpi.bytes_per_step), against
# the gradient's share: (R - 1) x parameters x bytes per real. Whether the 2 ranks' weights
# equal one process's (relative difference after the run) is printed too.
# Prints `uptime` before and after: the machine is shared, numbers under load mean little.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
VLEC=${VLEC:-$HERE/../build/vlec}
REPS=3
SIZES="784-300-100-10 1000-1000-1000"
PRECS="f64 f32"
BATCH=100
while [ $# -gt 0 ]; do
    case $1 in
    --reps) REPS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --precs) PRECS=$2; shift ;;
    --batch) BATCH=$2; shift ;;
    *) echo "usage: $0 [--reps R] [--sizes LIST] [--precs LIST] [--batch B]" >&2; exit 2 ;;
    esac
    shift
done
command -v mpirun >/dev/null || { echo "mpirun not found (scripts/install-deps.sh)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI="mpirun -np 2 --oversubscribe --mca btl self,vader"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vlempi.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "# $(uptime)"
echo "# cores: $(nproc)"

steps_for() {   # ~1 s at one thread: ~3 x weights x batch multiply-adds a step
    awk -v s="$1" -v b="$2" 'BEGIN { n = split(s, d, "-"); w = 0;
        for (i = 2; i <= n; i++) w += d[i] * d[i-1];
        k = int(1.2e10 / (w * b)); if (k < 40) k = 40; if (k > 50000) k = 50000; print k }'
}
params_of() {   # weights and biases
    awk -v s="$1" 'BEGIN { n = split(s, d, "-"); w = 0;
        for (i = 2; i <= n; i++) w += d[i] * d[i-1] + d[i]; print w }'
}
field() { grep -oE "\"$2\": *[0-9.eE+-]+" "$1/run.json" | head -1 | sed 's/.*: *//'; }

printf "%-16s %4s %6s | %9s %9s %9s %9s | %5s %5s %5s | %10s %10s | %s\n" network prec steps \
    "1p 1t/s" "1p 2t/s" "2r/s" "2r K10/s" "2t/1" "2r/1" "K10/1" "bytes/step" "grad bytes" "2r vs 1p"
for sizes in $SIZES; do
    model=$HERE/models/gle_$sizes.vle
    case $sizes in *.vle) model=$sizes ;; esac      # a model file: its own sizes
    [ -f "$model" ] || { echo "# $model missing (bench/models/gen_models.py $sizes)"; continue; }
    for prec in $PRECS; do
        N=$(steps_for "$sizes" "$BATCH")
        case $sizes in *.vle) N=3000 ;; esac
        common="--steps $N --batch $BATCH --precision $prec -q --record W1"
        declare -A best=([p1]=0 [p2]=0 [r2]=0 [k10]=0)
        for rep in $(seq "$REPS"); do
            "$VLEC" run "$model" $common --threads 1 --out "$WORK/p1" --force || exit 1
            "$VLEC" run "$model" $common --threads 2 --out "$WORK/p2" --force || exit 1
            $MPI "$VLEC" run "$model" $common --threads 1 --out "$WORK/r2" --force || exit 1
            $MPI "$VLEC" run "$model" $common --threads 1 --combine-every 10 --out "$WORK/k10" --force || exit 1
            for k in p1 p2 r2 k10; do
                v=$(field "$WORK/$k" steps_per_second)
                best[$k]=$(awk -v a="${best[$k]}" -v b="$v" 'BEGIN { print (b > a ? b : a) }')
            done
        done
        bytes=$(field "$WORK/r2" bytes_per_step)
        es=$([ "$prec" = f32 ] && echo 4 || echo 8)
        grad=$(( $(params_of "$sizes") * es ))
        case $sizes in *.vle) grad=0 ;; esac           # (its parameters: not from a name)
        diff=$(/usr/bin/python3 -c "
import numpy as np
a = np.load('$WORK/r2/W1.npy').astype(float); b = np.load('$WORK/p1/W1.npy').astype(float)
print('%.1e' % (abs(a - b).max() / abs(b).max()))" 2>/dev/null || echo "?")
        printf "%-16s %4s %6d | %9.1f %9.1f %9.1f %9.1f | %5.2f %5.2f %5.2f | %10.0f %10d | %s\n" \
            "$sizes" "$prec" "$N" "${best[p1]}" "${best[p2]}" "${best[r2]}" "${best[k10]}" \
            "$(awk -v a="${best[p2]}" -v b="${best[p1]}" 'BEGIN { print a / b }')" \
            "$(awk -v a="${best[r2]}" -v b="${best[p1]}" 'BEGIN { print a / b }')" \
            "$(awk -v a="${best[k10]}" -v b="${best[p1]}" 'BEGIN { print a / b }')" \
            "$bytes" "$grad" "$diff"
    done
done
echo "# $(uptime)"
