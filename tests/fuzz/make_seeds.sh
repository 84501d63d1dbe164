#!/usr/bin/env bash
# Rewrites the seed corpora (tests/fuzz/corpus/<harness>/seed-*) from libspdf's own writers
# (make_seeds.c), leaving the regression inputs (regress-*) alone.  The output is deterministic:
# after a format change, commit what this changes.
#
# Usage: bash tests/fuzz/make_seeds.sh     (build dir: $SPDF_BUILD_DIR, default build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
build_dir=${SPDF_BUILD_DIR:-build}
[ -f "$build_dir/meson-private/coredata.dat" ] || meson setup "$build_dir" -Dtests=true >/dev/null
ninja -C "$build_dir" tests/fuzz/make_fuzz_seeds >/dev/null
find tests/fuzz/corpus -name 'seed-*' -delete 2>/dev/null || true
"$build_dir/tests/fuzz/make_fuzz_seeds" tests/fuzz/corpus
echo "seeds: $(find tests/fuzz/corpus -name 'seed-*' | wc -l) files, $(du -sh tests/fuzz/corpus | cut -f1)"
