#!/usr/bin/env bash
# Records a deliberate change of the public surface: regenerates the version script abi/libspdf.map
# from the SPDF_API declarations of include/spdf.h and dumps the ABI baseline abi/libspdf.abi.
#
# Usage: abi/update.sh            (from anywhere; builds in build-abi/, or $SPDF_ABI_BUILD_DIR)
# Run it after adding, changing or removing a public function or type, review `git diff abi/`,
# and commit the two files with the header.  Running it again without changes changes nothing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
builddir=${SPDF_ABI_BUILD_DIR:-build-abi}

for tool in meson ninja python3 abidw abidiff; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "abi/update.sh: $tool not found (install: meson ninja-build python3 abigail-tools)" >&2
        exit 1
    fi
done

echo "== version script abi/libspdf.map"
python3 abi/symbols.py update-map include/spdf.h abi/libspdf.map

echo "== building the shared library with debug info in $builddir"
# The public ABI does not depend on the optimisation level or backend, only the debug info matters.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quietly() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "abi/update.sh: failed: $*" >&2; exit 1; }; }
if [ -f "$builddir/meson-private/coredata.dat" ]; then
    quietly meson configure "$builddir" -Ddebug=true -Dtests=false -Db_sanitize=none
else
    quietly meson setup "$builddir" -Ddebug=true -Dtests=false -Db_sanitize=none
fi
quietly meson compile -C "$builddir" spdf:shared_library

library="$builddir/lib/libspdf.so"
# Same options as tests/abi/abi_compat.py: only types from include/ matter, no machine paths.
abidw_options=(--no-corpus-path --no-comp-dir-path --no-elf-needed --drop-private-types
               --type-id-style hash --headers-dir include)

echo "== ABI baseline abi/libspdf.abi"
tmp=$(mktemp abi/libspdf.abi.XXXXXX)
trap 'rm -f "$log" "$tmp"' EXIT
abidw "${abidw_options[@]}" --out-file "$tmp" "$library"
if [ -f abi/libspdf.abi ] && cmp -s "$tmp" abi/libspdf.abi; then
    echo "  unchanged"
else
    if [ -f abi/libspdf.abi ]; then
        # What changed compared with the old baseline (informational).
        changes=$(abidiff --no-show-locs abi/libspdf.abi "$tmp" || true)
        if [ -n "$changes" ]; then
            printf '%s\n' "$changes" | sed 's/^/  /'
        else
            echo "  no ABI difference from the previous baseline (private details of the dump changed)"
        fi
    fi
    chmod 644 "$tmp"
    mv "$tmp" abi/libspdf.abi
    echo "  written"
fi
