#!/usr/bin/env bash
# Removes what `make install` wrote, as listed in the build's install_manifest.txt, then the
# directories that were vle's alone (share/vle, the Python package with the __pycache__
# python3 made in it) once empty. Other directories (PREFIX/bin, ...) are left alone.
set -euo pipefail
manifest=${1:?usage: uninstall.sh BUILD/install_manifest.txt}
if [ ! -f "$manifest" ]; then
  echo "uninstall: $manifest: nothing was installed from this build" >&2
  exit 1
fi
dirs=()
while IFS= read -r f || [ -n "$f" ]; do   # the last line has no newline
  [ -n "$f" ] || continue
  rm -f -- "$f"
  case "$f" in
    */vle/__init__.py) rm -rf -- "$(dirname "$f")/__pycache__"; dirs+=("$(dirname "$f")") ;;
    */share/vle/stdlib/*) dirs+=("${f%/stdlib/*}/stdlib" "${f%/stdlib/*}") ;;
  esac
done < "$manifest"
for d in "${dirs[@]}"; do
  [ -d "$d" ] && rmdir --ignore-fail-on-non-empty -- "$d"
done
rm -f -- "$manifest"
echo "uninstall: removed the files listed in $manifest"
