# examples/tools/common.sh - sourced by the examples' run.sh scripts.
# Finds vlec (VLEC, else build/vlec of this checkout, else vlec on PATH) and the vle_data
# helper (VLE_DATA, else vle_data beside vlec, as `make` builds it, else compiled from
# examples/tools/vle_data.c, mnist1d.c and mt19937.c into the output directory), and creates OUT.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${VLEC:-}" ]; then
  if [ -x "$ROOT/build/vlec" ]; then VLEC="$ROOT/build/vlec"; else VLEC=vlec; fi
fi
command -v "$VLEC" >/dev/null 2>&1 || { echo "run.sh: vlec not found (build it with 'make', or set VLEC)" >&2; exit 1; }
mkdir -p "$OUT"
if [ -n "${VLE_DATA:-}" ]; then
  DATA=$VLE_DATA
elif [ -x "$(dirname "$(command -v "$VLEC")")/vle_data" ]; then
  DATA="$(dirname "$(command -v "$VLEC")")/vle_data"
else
  DATA="$OUT/vle_data"
  T="$ROOT/examples/tools"
  ${CC:-cc} -std=c17 -O2 -o "$DATA" "$T/vle_data.c" "$T/mnist1d.c" "$T/mt19937.c" -lm
fi
