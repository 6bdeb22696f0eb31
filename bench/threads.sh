#!/bin/bash
# bench/threads.sh - vle on several threads against --threads 1, in one run (issue 19;
# bench/README.md "Threads").
#
#   bench/threads.sh [--reps R] [--sizes "A B"] [--batches "1 100"] [--precs "f64 f32"]
#   VLEC=build/vlec (default)
#
# 1. The machine's bound: bench/c/par_bound.c, a pure FMA loop and a streaming copy on 1 and on
#    all cores at once (the speed-up any threaded step could reach at best).
# 2. Per network, batch and precision: `vlec run` with --threads 1, 2 and auto, interleaved,
#    R repetitions each, best steps/s (run.json's steps_per_second: the stepping loop only);
#    the ratios to --threads 1, auto's choice, and whether the parameters came out the same
#    (they must: the same bits for every thread count).
# 3. The peer with two threads: PyTorch (GLE_TORCH_THREADS=1 and 2) where python3-torch is
#    installed; OpenBLAS where libopenblas-dev is.
# Prints `uptime` before and after: the machine is shared, numbers under load mean little.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
VLEC=${VLEC:-$HERE/../build/vlec}
REPS=3
SIZES="100-100-10 784-300-100-10 1000-1000-1000"
BATCHES="1 100"
PRECS="f64 f32"
PY=${PY:-/usr/bin/python3}
while [ $# -gt 0 ]; do
    case $1 in
    --reps) REPS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --batches) BATCHES=$2; shift ;;
    --precs) PRECS=$2; shift ;;
    *) echo "usage: $0 [--reps R] [--sizes LIST] [--batches LIST] [--precs LIST]" >&2; exit 2 ;;
    esac
    shift
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vlethreads.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "# $(uptime)"
echo "# cores: $(nproc)"
. "$HERE/peer_blas.sh" && peer_blas

cc -O2 -mfma -mavx2 -pthread "$HERE/c/par_bound.c" -o "$WORK/par_bound" &&
    "$WORK/par_bound" "$(nproc)" "$REPS" | sed 's/^/# bound: /'

# steps for ~1 s at one thread: the products do ~3 x weights x batch multiply-adds a step
steps_for() {
    awk -v s="$1" -v b="$2" 'BEGIN { n = split(s, d, "-"); w = 0;
        for (i = 2; i <= n; i++) w += d[i] * d[i-1];
        k = int(1.2e10 / (w * b)); if (k < 40) k = 40; if (k > 50000) k = 50000; print k }'
}

sps() { grep -oE '"steps_per_second": *[0-9.eE+-]+' "$1/run.json" | sed 's/.*: *//'; }

printf "%-16s %5s %4s %7s | %10s %10s %10s | %6s %6s | %-7s %s\n" network batch prec steps \
    "1 thr/s" "2 thr/s" "auto/s" "2/1" "auto/1" same "auto chose"
for sizes in $SIZES; do
    model=$HERE/models/gle_$sizes.vle
    [ -f "$model" ] || { echo "# $model missing (bench/models/gen_models.py $sizes)"; continue; }
    for B in $BATCHES; do
        for prec in $PRECS; do
            N=$(steps_for "$sizes" "$B")
            declare -A best=([1]=0 [2]=0 [auto]=0)
            for ((r = 0; r < REPS; r++)); do
                for t in 1 2 auto; do
                    out=$WORK/o_$t
                    rm -rf "$out"
                    "$VLEC" run "$model" --steps "$N" --batch "$B" --precision "$prec" --seed 1 \
                        --threads "$t" --out "$out" -q || { echo "vlec run failed" >&2; exit 1; }
                    v=$(sps "$out")
                    best[$t]=$(awk -v a="${best[$t]}" -v b="$v" 'BEGIN { print (b > a) ? b : a }')
                done
            done
            same=yes
            for f in "$WORK"/o_1/params/*.npy; do
                cmp -s "$f" "$WORK/o_2/params/$(basename "$f")" || same=NO
                cmp -s "$f" "$WORK/o_auto/params/$(basename "$f")" || same=NO
            done
            chose=$(grep -oE '"threads_why": *"[^"]*"' "$WORK/o_auto/run.json" | sed 's/.*: *"//; s/"$//')
            printf "%-16s %5s %4s %7s | %10.1f %10.1f %10.1f | %6.2f %6.2f | %-7s %s\n" "$sizes" "$B" \
                "$prec" "$N" "${best[1]}" "${best[2]}" "${best[auto]}" \
                "$(awk -v a="${best[2]}" -v b="${best[1]}" 'BEGIN { print a / b }')" \
                "$(awk -v a="${best[auto]}" -v b="${best[1]}" 'BEGIN { print a / b }')" "$same" "$chose"
        done
    done
done

# the peers on 1 and 2 threads
if $PY -c "import torch" 2>/dev/null; then
    for sizes in $SIZES; do
        for prec in $PRECS; do
            f32=""; [ "$prec" = f32 ] && f32="--f32"
            N=$(steps_for "$sizes" 100)
            line=""
            for t in 1 2; do
                v=$(GLE_TORCH_THREADS=$t $PY "$HERE/py/gle_torch.py" --sizes "$sizes" --batch 100 \
                    --steps "$N" --reps "$REPS" $f32 2>/dev/null | grep -oE 'steps_per_s=[0-9.]+' | sed 's/.*=//')
                line="$line $t thr ${v:-n/a}/s"
            done
            echo "# torch $sizes batch 100 $prec:$line"
        done
    done
else
    echo "# torch: n/a (python3-torch)"
fi
if [ -x "$HERE/build/gle_blas_f64" ]; then
    for sizes in $SIZES; do
        for prec in $PRECS; do
            N=$(steps_for "$sizes" 100)
            line=""
            for t in 1 2; do
                v=$(OPENBLAS_NUM_THREADS=$t "$HERE/build/gle_blas_$prec" --sizes "$sizes" --batch 100 \
                    --steps "$N" --reps "$REPS" 2>/dev/null | grep -oE 'steps_per_s=[0-9.]+' | sed 's/.*=//')
                line="$line $t thr ${v:-n/a}/s"
            done
            echo "# openblas $sizes batch 100 $prec:$line"
        done
    done
else
    echo "# openblas: n/a (make -C bench with libopenblas-dev)"
fi
echo "# $(uptime)"
