#!/usr/bin/env bash
# The main example: installs what is missing (Debian), builds libspdf and runs examples/hello,
# which prints the library version and the compiled-in backends.
#
# Usage: bash examples/run.sh     (from anywhere; build dir $SPDF_BUILD_DIR, default build)
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
quietly meson compile -C "$build_dir" hello
"$build_dir/examples/hello"
