#!/usr/bin/env bash
# Install what vle needs to build and test, from Debian's packages.
# Idempotent: packages already present are not touched, and apt is only
# called when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake make pkg-config
  flex bison
  llvm-19-dev clang-19 libclang-rt-19-dev   # LLVM C API; clang for libFuzzer
  libcriterion-dev                          # test framework
  libjansson-dev                            # JSON (run.json, golden data)
  python3 python3-numpy                     # the vle Python package and its tests
  python3-matplotlib python3-nbconvert python3-ipykernel jupyter-nbconvert   # the notebook test
  libopenmpi-dev openmpi-bin                # MPI data parallelism (optional: the build works without)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
