#!/usr/bin/env bash
# bench/run.sh: build and run the GLE benchmark suite, check that every implementation computes
# the same thing, and print one table (bench/README.md explains the columns).
#
#   bench/run.sh [--quick] [--runs N] [--sizes 100-100-10,...] [--batches 1,100] [--precs f64,f32]
#                [--impls fused,blas,numpy,torch,brian2,vle] [--no-build] [--no-golden]
#   bench/run.sh --table-from RAW1,RAW2,...   (no measuring: the table of earlier runs'
#                results/raw.txt files, best steps/s of each cell; for a shared machine)
#
# Needs gcc; optional: libopenblas-dev (BLAS column, limits), Debian's python3-numpy and
# python3-torch, python3-brian under /usr/bin/python3 (NumPy/PyTorch/Brian2 columns; Brian2 only
# at batch 1 in f64, and not in --quick mode: it is slow to start), $VLEC (vle column: see the VLE
# HOOK section below). A missing one prints n/a. Exit status: 0, or 1 when a golden check or a
# checksum comparison failed. Timings are never a pass/fail criterion.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=$HERE/build
RESDIR=$HERE/results
PY=${PY:-/usr/bin/python3}           # Debian's python (python3-numpy, python3-torch), not pyenv's
CC=${CC:-gcc}
CFLAGS=${CFLAGS:-"-O3 -march=native -fopenmp-simd -std=c17 -Wall"}

# every implementation single-threaded: the comparison is per core, and the machine is shared
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

QUICK=0
RUNS=1
SIZES="2-3-3-2,100-100-10,784-300-100-10,1000-1000-1000"
BATCHES="1,100"
PRECS="f64,f32"
IMPLS="fused,blas,numpy,torch,brian2,vle"
IMPLS_SET=0
DO_BUILD=1
DO_GOLDEN=1
TABLE_FROM=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --batches) BATCHES=$2; shift ;;
    --precs) PRECS=$2; shift ;;
    --impls) IMPLS=$2; IMPLS_SET=1; shift ;;
    --no-build) DO_BUILD=0 ;;
    --no-golden) DO_GOLDEN=0 ;;
    --table-from) TABLE_FROM=$2; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# Brian2 takes ~10-30 s to start and runs at ~100 steps/s: not in --quick unless asked for
[ $QUICK = 1 ] && [ $IMPLS_SET = 0 ] && IMPLS="fused,blas,numpy,torch,vle"

mkdir -p "$BUILD" "$RESDIR"
LOG=$RESDIR/log.txt
RAW=$RESDIR/raw.txt
: >"$LOG"
: >"$RAW"
FAILED=0
has_impl() { case ",$IMPLS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------------------------------------
# The table (from raw result files; a cell seen several times keeps its best steps/s)
# ---------------------------------------------------------------------------------------------
print_table() {
{
    echo "# GLE training step, steps/s (x = ratio to the fused C baseline); one thread each"
    echo "# machine: $(nproc --all) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)," \
        "AVX2 $(grep -qw avx2 /proc/cpuinfo && echo yes || echo no), gcc $($CC -dumpversion)," \
        "load avg $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
    [ -n "$GOLDEN_SUMMARY" ] && echo "# golden check (tests/data/gle_p1, 1e-10):$GOLDEN_SUMMARY"
    [ $VLE_OK = 1 ] || echo "# vle: n/a (set VLEC to a vlec whose 'run' works; see the VLE HOOK in bench/run.sh)"
    [ $HAVE_NUMPY = 1 ] || echo "# numpy: n/a ($PY cannot import numpy: apt-get install python3-numpy)"
    [ $HAVE_TORCH = 1 ] || echo "# torch: n/a ($PY cannot import torch: apt-get install python3-torch)"
    . "$HERE/peer_blas.sh" && peer_blas
    if [ $HAVE_BRIAN = 1 ]; then echo "# brian2: batch 1, f64 only (numpy code generation)"
    elif has_impl brian2; then echo "# brian2: n/a ($PY cannot import brian2: apt-get install python3-brian)"; fi
    awk '
    function fmt(x) { if (x == "") return "n/a"; if (x + 0 >= 100) return sprintf("%d", x + 0.5); return sprintf("%.3g", x) }
    function key(s, b, p) { return s "|" b "|" p }
    $1 == "limit" {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        k = key(f["sizes"], f["batch"], f["prec"])
        if (!(k in bound) || f["bound_steps_per_s"] + 0 > bound[k] + 0) { bound[k] = f["bound_steps_per_s"]; by[k] = f["bound_by"] }
    }
    $1 == "row" {
        delete f
        for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        k = key(f["sizes"], f["batch"], f["prec"])
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k; steps[k] = f["steps"] }
        v = f["steps_per_s"]; vv = v; sub(/\*$/, "", vv); old = sps[k, f["impl"]]; sub(/\*$/, "", old)
        if (old == "" || vv + 0 > old + 0) sps[k, f["impl"]] = v
        if (chk[k, f["impl"]] != "BAD") chk[k, f["impl"]] = f["check"]
    }
    END {
        n = split("fused blas numpy torch brian2 vle", im, " ")
        split("fused C|BLAS C|NumPy|PyTorch|Brian2|vle", hd, "|")
        printf "%-16s %4s %4s %5s", "network", "B", "prec", "N"
        for (j = 1; j <= n; j++) printf " | %-16s", hd[j]
        printf " | %-14s | %s\n", "bound (by)", "fused/bound"
        for (q = 1; q <= nk; q++) {
            k = order[q]; split(k, p, "|")
            printf "%-16s %4s %4s %5s", p[1], p[2], p[3], steps[k]
            ref = sps[k, "fused"]
            for (j = 1; j <= n; j++) {
                v = sps[k, im[j]]; star = ""
                if (v ~ /\*$/) { star = "*"; sub(/\*$/, "", v) }
                if (v == "") cell = "n/a"
                else if (im[j] == "fused") cell = fmt(v)
                else if (v / ref >= 0.095) cell = sprintf("%s%s x%.2f", fmt(v), star, v / ref)
                else cell = sprintf("%s%s x%.1g", fmt(v), star, v / ref)
                if (chk[k, im[j]] == "BAD") cell = cell " !"
                printf " | %-16s", cell
            }
            if (k in bound) printf " | %-14s | %.0f%%\n", fmt(bound[k]) " (" by[k] ")", 100 * ref / bound[k]
            else printf " | %-14s | \n", "n/a"
        }
    }' "$@"
    echo "# checksums: every implementation's state and parameters after N steps agree with fused C" \
        "(|diff| <= tol * sum|.|, tol 1e-9 f64, 1e-4 f32) unless marked '!' (details: $LOG)"
    echo "# bound: min(one read+write sweep over all weights at the measured cache/memory bandwidth," \
        "flops per step at the best measured OpenBLAS GEMM rate); bench/c/limits.c"
    if [ $HAVE_BLAS = 1 ]; then
        echo "# limits measured: $(grep -h '^gemm' "$@" | sed 's/^gemm //' | tr '\n' ' ')"
        awk '$1=="limit" && $0 ~ /batch=1 / {
                for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
                printf "#   %s %s: weights %.3g MB, read %s GB/s, read+write %s GB/s, 3-pass (BLAS-style) bound %.4g steps/s\n",
                    f["prec"], f["sizes"], f["weight_bytes"] / 1e6, f["read_GBps"], f["rw_GBps"], f["mem3_steps_per_s"] }
             $1=="limit" && $0 !~ /batch=1 / {
                for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
                printf "#   %s %s B=%s: the step'"'"'s GEMMs alone (OpenBLAS) %.4g steps/s\n",
                    f["prec"], f["sizes"], f["batch"], f["gemm_only_steps_per_s"] }' "$@"
    fi
    echo "# '*': vle timed by wall clock including JIT compilation (no steps/s in run.json)"
} | tee "$RESDIR/table.txt"
}

if [ -n "$TABLE_FROM" ]; then
    HAVE_BLAS=1; HAVE_NUMPY=1; HAVE_TORCH=1; HAVE_BRIAN=1; VLE_OK=1; GOLDEN_SUMMARY=""; CC=${CC:-gcc}
    # shellcheck disable=SC2086
    print_table ${TABLE_FROM//,/ } | grep -v '^# machine' | grep -v "^# '\*'"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
HAVE_BLAS=0
if [ $DO_BUILD = 1 ]; then
    for prec in f64 f32; do
        def=""; [ $prec = f32 ] && def="-DGLE_F32"
        $CC $CFLAGS $def -o "$BUILD/gle_fused_$prec" "$HERE/c/gle_fused.c" -lm >>"$LOG" 2>&1 ||
            { echo "run.sh: building gle_fused ($prec) failed, see $LOG" >&2; exit 1; }
        if $CC $CFLAGS $def -o "$BUILD/gle_blas_$prec" "$HERE/c/gle_blas.c" -lopenblas -lm >>"$LOG" 2>&1 &&
            $CC $CFLAGS $def -o "$BUILD/limits_$prec" "$HERE/c/limits.c" -lopenblas -lm >>"$LOG" 2>&1; then
            HAVE_BLAS=1
        else
            rm -f "$BUILD/gle_blas_$prec" "$BUILD/limits_$prec"
        fi
    done
    [ $HAVE_BLAS = 1 ] || echo "run.sh: no OpenBLAS (apt-get install libopenblas-dev): BLAS column and limits n/a" >&2
fi
[ -x "$BUILD/gle_blas_f64" ] && HAVE_BLAS=1
[ -x "$BUILD/gle_fused_f64" ] || { echo "run.sh: $BUILD/gle_fused_f64 missing (drop --no-build)" >&2; exit 1; }

HAVE_NUMPY=0; HAVE_TORCH=0; HAVE_BRIAN=0
if [ -x "$PY" ]; then
    "$PY" -c "import numpy" 2>/dev/null && HAVE_NUMPY=1
    [ $HAVE_NUMPY = 1 ] && "$PY" -c "import torch" 2>/dev/null && HAVE_TORCH=1
    [ $HAVE_NUMPY = 1 ] && has_impl brian2 && "$PY" -c "import brian2" 2>/dev/null && HAVE_BRIAN=1
fi

# ---------------------------------------------------------------------------------------------
# Command of each implementation: impl_cmd IMPL PREC -> prints the command prefix, or nothing
# ---------------------------------------------------------------------------------------------
impl_cmd() {
    local impl=$1 prec=$2 f32=""
    [ "$prec" = f32 ] && f32="--f32"
    case $impl in
    fused) echo "$BUILD/gle_fused_$prec" ;;
    blas) [ $HAVE_BLAS = 1 ] && echo "$BUILD/gle_blas_$prec" ;;
    numpy) [ $HAVE_NUMPY = 1 ] && echo "$PY $HERE/py/gle_numpy.py $f32" ;;
    torch) [ $HAVE_TORCH = 1 ] && echo "$PY $HERE/py/gle_torch.py $f32" ;;
    brian2) [ $HAVE_BRIAN = 1 ] && [ "$prec" = f64 ] && echo "$PY $HERE/py/gle_brian.py" ;;
    esac
    return 0
}

# value of key=... in a line of key=value pairs
kv() { printf ' %s\n' "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }

# ---------------------------------------------------------------------------------------------
# Step counts: the same N for every implementation of a row (the checksums compare the state
# after N steps), chosen so that the slowest implementation spends about a second per
# repetition. Each program repeats N steps from the same initial state and reports the best.
# ---------------------------------------------------------------------------------------------
steps_for() {
    local sizes=$1 B=$2 n
    case "$sizes:$B" in
    2-3-3-2:1) n=2000 ;;
    2-3-3-2:100) n=1000 ;;
    100-100-10:1) n=1000 ;;
    100-100-10:100) n=200 ;;
    784-300-100-10:1) n=200 ;;
    784-300-100-10:100) n=20 ;;
    1000-1000-1000:1) n=50 ;;
    1000-1000-1000:100) n=5 ;;
    2-53-53-53-53-53-53-10:100) n=500 ;;    # MNIST-1D's GLE-15k (its input is 1 wide; 2 here)
    *) # other networks: by the number of multiply-adds per step
        n=$(echo "$sizes" | awk -v B="$B" -F- '{w=0; for(i=2;i<=NF;i++) w+=$i*$(i-1); n=int(5e6/(B*w+1000)); if(n<5)n=5; if(n>2000)n=2000; print n}') ;;
    esac
    if [ $QUICK = 1 ]; then n=$(( n / 4 )); [ $n -lt 5 ] && n=5; fi
    echo $n
}
if [ $QUICK = 1 ]; then
    C_OPTS="--reps 2 --min-time 0.05"; PY_OPTS="--reps 1 --min-time 0"
else
    C_OPTS="--reps 3 --min-time 0.3"; PY_OPTS="--reps 2 --min-time 0.5"
fi

# ---------------------------------------------------------------------------------------------
# VLE HOOK: the vle column.
#
# Enabled when $VLEC names a vlec binary whose `vlec run --help` exits 0; "n/a" otherwise.
# For a row (network SIZES, batch B, precision, N steps) it runs, RUNS x 3 times:
#
#   $VLEC run bench/models/gle_SIZES.vle --steps N --batch B --quiet --seed 1 \
#        --init W1=INIT/W1.npy --init b1=INIT/b1.npy ... --out OUT $VLEC_FLAGS
#
# INIT holds the baselines' exact initial parameters (gle_fused --dump-init). It expects, as
# docs/cli.md says: OUT/params/NAME.npy (every parameter after the run; their sum is
# compared with the baselines' param_sum at the f64 tolerance) and OUT/run.json with the
# steps per second under a key named steps_per_s, steps_per_second or steps_per_sec. Without
# such a key it falls back to the command's wall time, JIT compilation included (marked '*').
# f32 rows need $VLEC_F32_FLAGS (e.g. "--precision f32"), n/a without it.
# The models are generated by bench/models/gen_models.py (same network as the baselines).
# ---------------------------------------------------------------------------------------------
VLE_OK=0
if has_impl vle && [ -n "${VLEC:-}" ] && [ -x "$(command -v "$VLEC" 2>/dev/null)" ] &&
    "$VLEC" run --help >/dev/null 2>&1; then
    VLE_OK=1
fi

run_vle() { # sizes B prec N -> a result line, or nothing
    local sizes=$1 B=$2 prec=$3 N=$4
    [ $VLE_OK = 1 ] || return 0
    local extra=${VLEC_FLAGS:-}
    if [ "$prec" = f32 ]; then
        [ -n "${VLEC_F32_FLAGS:-}" ] || return 0
        extra="$extra $VLEC_F32_FLAGS"
    fi
    local model=$HERE/models/gle_$sizes.vle
    [ -f "$model" ] || python3 "$HERE/models/gen_models.py" "$sizes" >>"$LOG" 2>&1 || return 0
    local work; work=$(mktemp -d "${TMPDIR:-/tmp}/vlebench.XXXXXX")
    "$BUILD/gle_fused_$prec" --sizes "$sizes" --dump-init "$work/init" >>"$LOG" 2>&1 || { rm -rf "$work"; return 0; }
    local inits="" L p
    L=$(echo "$sizes" | awk -F- '{print NF}')
    for ((p = 1; p < L; p++)); do inits="$inits --init W$p=$work/init/W$p.npy --init b$p=$work/init/b$p.npy"; done
    local best=0 mark="" rep t0 t1 sps
    for ((rep = 0; rep < 3 * RUNS; rep++)); do
        rm -rf "$work/out"
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        if ! "$VLEC" run "$model" --steps "$N" --batch "$B" --quiet --seed 1 $inits --out "$work/out" $extra \
            >>"$LOG" 2>&1; then
            echo "vle: $VLEC run failed on $sizes B=$B $prec (see $LOG)" >>"$LOG"
            rm -rf "$work"
            return 0
        fi
        t1=$(date +%s.%N)
        sps=$(grep -oE '"steps_per_(s|sec|second)"[[:space:]]*:[[:space:]]*[0-9.eE+-]+' "$work/out/run.json" 2>/dev/null |
            head -1 | sed 's/.*:[[:space:]]*//')
        if [ -z "$sps" ]; then
            sps=$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN{printf "%.6g", n/(b-a)}'); mark="*"
        fi
        best=$(awk -v a="$best" -v b="$sps" 'BEGIN{print (b>a)?b:a}')
    done
    local psum
    # the weights and biases (W*, b*): the time constants are parameters too, but fixed here
    psum=$("$BUILD/gle_fused_$prec" --npy-sum "$work"/out/params/[Wb]*.npy 2>>"$LOG") || psum=""
    rm -rf "$work"
    echo "impl=vle prec=$prec sizes=$sizes batch=$B steps=$N steps_per_s=$best$mark" \
        "param_sum=$(kv "$psum" npy_sum) param_abssum=$(kv "$psum" npy_abssum)"
}
# ----------------------------------------------------------------------------- end of VLE HOOK

# ---------------------------------------------------------------------------------------------
# Golden check: each baseline reproduces tests/data/gle_p1/expected.json to 1e-10
# ---------------------------------------------------------------------------------------------
GOLDEN_SUMMARY=""
if [ $DO_GOLDEN = 1 ]; then
    for impl in fused blas numpy torch brian2; do
        has_impl $impl || continue
        cmd=$(impl_cmd $impl f64)
        [ -n "$cmd" ] || continue
        # shellcheck disable=SC2086
        out=$($cmd --golden 2>>"$LOG"); rc=$?
        echo "$out" >>"$LOG"
        if [ $rc = 0 ]; then GOLDEN_SUMMARY="$GOLDEN_SUMMARY $impl:PASS"; else GOLDEN_SUMMARY="$GOLDEN_SUMMARY $impl:FAIL"; FAILED=1; fi
    done
fi

# ---------------------------------------------------------------------------------------------
# Limits of this machine
# ---------------------------------------------------------------------------------------------
if [ $HAVE_BLAS = 1 ]; then
    for prec in ${PRECS//,/ }; do
        "$BUILD/limits_$prec" --sizes "$SIZES" --batches "$BATCHES" --min-time "$([ $QUICK = 1 ] && echo 0.05 || echo 0.2)" \
            >>"$RAW" 2>>"$LOG"
    done
fi

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
best_of() { # "cmd args" -> the result line with the highest steps/s over RUNS invocations
    local cmd=$1 best="" bsps=0 line sps r
    for ((r = 0; r < RUNS; r++)); do
        # shellcheck disable=SC2086
        line=$($cmd 2>>"$LOG" | grep '^impl=') || true
        [ -n "$line" ] || continue
        sps=$(kv "$line" steps_per_s)
        if awk -v a="$sps" -v b="$bsps" 'BEGIN{exit !(a>b)}'; then best=$line; bsps=$sps; fi
    done
    echo "$best"
}

for prec in ${PRECS//,/ }; do
    if [ $prec = f64 ]; then TOL=1e-9; else TOL=1e-4; fi
    for sizes in ${SIZES//,/ }; do
        for B in ${BATCHES//,/ }; do
            N=$(steps_for "$sizes" "$B")
            echo "run.sh: $sizes B=$B $prec N=$N" >&2
            ref=""
            for impl in fused blas numpy torch brian2 vle; do
                has_impl $impl || [ $impl = fused ] || continue
                if [ $impl = vle ]; then
                    line=$(run_vle "$sizes" "$B" "$prec" "$N")
                else
                    cmd=$(impl_cmd $impl $prec)
                    [ -n "$cmd" ] || continue
                    opts=$C_OPTS
                    case $impl in
                    numpy | torch) opts=$PY_OPTS ;;
                    brian2) [ "$B" = 1 ] || continue; opts="--reps 1 --min-time 0" ;;
                    esac
                    line=$(best_of "$cmd --sizes $sizes --batch $B --steps $N $opts")
                fi
                [ -n "$line" ] || continue
                # checksums: the state and parameters after N steps, relative to the sum of |.|
                check=ok
                if [ $impl = fused ]; then
                    ref=$line; check=ref
                elif [ -n "$ref" ]; then
                    for pair in checksum:abssum param_sum:param_abssum; do
                        k=${pair%%:*}; ka=${pair##*:}
                        a=$(kv "$line" "$k"); b=$(kv "$ref" "$k"); A=$(kv "$ref" "$ka")
                        [ -n "$a" ] || continue
                        if ! awk -v a="$a" -v b="$b" -v A="$A" -v t="$TOL" \
                            'BEGIN{d=a-b; if(d<0)d=-d; exit !(d<=t*A && a==a)}'; then
                            check=BAD
                            echo "checksum mismatch: $impl $sizes B=$B $prec $k=$a, fused $k=$b (sum|.| $A, tol $TOL)" >>"$LOG"
                        fi
                    done
                    [ $check = BAD ] && FAILED=1
                fi
                echo "row $line check=$check" >>"$RAW"
            done
        done
    done
done

print_table "$RAW"

# ---- vle's compile times: what a user waits for before the first step ------------------------
# parse-to-first-step: `vlec run --steps 1` (parse, check, derive, lower, JIT, one step); build:
# `vlec build` (every kernel, object file, link). Best of three, wall clock. Changing a const
# with --set costs nothing: consts are run-time buffers, so no recompilation happens.
best_wall() { # command... -> best wall time of 3 runs, in seconds
    local best="" t tf
    tf=$(mktemp)
    for _ in 1 2 3; do
        /usr/bin/time -f "%e" -o "$tf" "$@" >/dev/null 2>&1 || true
        t=$(tail -1 "$tf")
        best=$(awk -v a="$best" -v b="$t" 'BEGIN{print (a=="" || b+0<a+0)?b:a}')
    done
    rm -f "$tf"
    echo "$best"
}
if [ $VLE_OK = 1 ] && [ -x /usr/bin/time ]; then
    tmpc=$(mktemp -d)
    for sizes in ${SIZES//,/ }; do
        model=$HERE/models/gle_$sizes.vle
        [ -f "$model" ] || continue
        first=$(best_wall "$VLEC" run "$model" --steps 1 --quiet --out "$tmpc/run")
        build=$(best_wall "$VLEC" build "$model" -o "$tmpc/m.so")
        echo "# vle compile, $sizes: parse to first step ${first} s; vlec build ${build} s; --set: no recompilation"
    done
    rm -rf "$tmpc"
fi

[ $FAILED = 0 ] || echo "run.sh: a golden check or checksum comparison FAILED (see $LOG)" >&2
exit $FAILED
