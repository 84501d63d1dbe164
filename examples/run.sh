#!/usr/bin/env bash
# The main example: installs what is missing (Debian), builds libspdf and the spdf tool, prints the
# library version and backends (examples/hello), then runs the SPDF demo at its default size:
# dense and sparse pre-training on Tiny Shakespeare, dense (SPDF) and sparse fine-tuning on E2E,
# BLEU/NIST against a copy-the-MR baseline (docs/cli.md).  Results go to out/demo/.
#
# Usage: bash examples/run.sh [DEMO OPTIONS]   (from anywhere; build dir $SPDF_BUILD_DIR, default
#        build; e.g. `bash examples/run.sh --size tiny` for a one-minute run)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${SPDF_BUILD_DIR:-build}

bash scripts/install-deps.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
quietly() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "examples/run.sh: failed: $*" >&2; exit 1; }; }
if [ -f "$build_dir/meson-private/coredata.dat" ]; then
    quietly meson setup --reconfigure "$build_dir" --werror -Db_sanitize=none
else
    quietly meson setup "$build_dir" --werror -Db_sanitize=none
fi
quietly meson compile -C "$build_dir" hello src/spdf:executable
"$build_dir/examples/hello"
echo
# OpenMP workers spin briefly, then sleep: fast on an idle machine, polite on a shared one
# (docs/model.md, "Threads and waiting").
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000}
"$build_dir/src/spdf" demo "$@"   # writes out/demo/ unless --out says otherwise
