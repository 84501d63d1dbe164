#!/usr/bin/env bash
# The test command: installs what is missing (Debian), then builds libspdf and runs every test
# suite twice, in a plain build and under AddressSanitizer + UndefinedBehaviorSanitizer, and
# then every fuzzing harness for $SPDF_FUZZ_SECONDS (default 20) seconds (tests/fuzz/run.sh).
#
# Usage: bash tests/run.sh     (from anywhere; build dirs: $SPDF_BUILD_DIR, default build, and
#                               $SPDF_ASAN_BUILD_DIR, default build-asan)
# Exits non-zero on any failure; the last line reads "N passed, N failed" over all three.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${SPDF_BUILD_DIR:-build}
asan_build_dir=${SPDF_ASAN_BUILD_DIR:-build-asan}
started=$(date +%s)
passed=0
failed=0

bash scripts/install-deps.sh || { echo "installing the build dependencies failed" >&2; exit 1; }

# configure DIR OPTIONS...: a fresh setup, or the same options applied to an existing build dir.
configure() {
    local dir=$1
    shift
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@" || meson setup --wipe "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

# suite NAME DIR TIMEOUT_MULTIPLIER OPTIONS...: configure, build and test one build directory and
# add its meson test summary to the totals.  A failed configure or build counts as one failure.
suite() {
    local name=$1 dir=$2 multiplier=$3
    shift 3
    echo
    echo "==== $name build ($dir)"
    local setup_log
    setup_log=$(mktemp)
    if ! configure "$dir" --werror -Dtests=true "$@" >"$setup_log" 2>&1; then
        cat "$setup_log"
        rm -f "$setup_log"
        echo "$name: configure failed"
        failed=$((failed + 1))
        return
    fi
    rm -f "$setup_log"
    if ! meson compile -C "$dir"; then
        echo "$name: build failed"
        failed=$((failed + 1))
        return
    fi
    local log="$dir/meson-logs/run-summary.txt"
    # Benchmarks are registered with benchmark() and only run by `meson test --benchmark`.
    meson test -C "$dir" --print-errorlogs --timeout-multiplier "$multiplier" | tee "$log"
    local status=${PIPESTATUS[0]}
    local ok fail skipped
    ok=$(awk '/^Ok:/ {n += $2} /^Expected Fail:/ {n += $3} END {print n + 0}' "$log")
    fail=$(awk '/^Fail:/ {n += $2} /^Unexpected Pass:/ {n += $3} /^Timeout:/ {n += $2} END {print n + 0}' "$log")
    skipped=$(awk '/^Skipped:/ {n += $2} END {print n + 0}' "$log")
    if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1 # meson test itself failed before reporting
    fi
    echo "$name: $ok passed, $fail failed, $skipped skipped"
    passed=$((passed + ok))
    failed=$((failed + fail))
}

# Tests run side by side on few cores: OpenMP workers that spin long while waiting would starve
# the other tests' threads, so they spin briefly, then sleep (results do not depend on it, only
# the time does; docs/model.md).
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000}

suite plain "$build_dir" 1 -Db_sanitize=none

# Sanitizer reports abort the test (UBSan would otherwise print and carry on).
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
# float-cast-overflow is not part of GCC's "undefined": a NaN converted to an integer is UB too.
suite sanitizers "$asan_build_dir" 3 -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=float-cast-overflow

# Every libFuzzer harness for a bounded time (clang; docs/fuzzing.md).  SPDF_FUZZ_SECONDS=0 skips.
fuzz_seconds=${SPDF_FUZZ_SECONDS:-20}
echo
if [ "$fuzz_seconds" -gt 0 ]; then
    echo "==== fuzzing (${SPDF_FUZZ_BUILD_DIR:-build-fuzz}, $fuzz_seconds s a harness)"
    fuzz_log=$(mktemp)
    bash tests/fuzz/run.sh --seconds "$fuzz_seconds" 2>&1 | tee "$fuzz_log"
    fuzz_status=${PIPESTATUS[0]}
    ok=$(tail -1 "$fuzz_log" | awk '$2 == "passed," {print $1 + 0}')
    fail=$(tail -1 "$fuzz_log" | awk '$2 == "passed," {print $3 + 0}')
    rm -f "$fuzz_log"
    [ "$fuzz_status" -ne 0 ] && [ "${fail:-0}" -eq 0 ] && fail=1
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${fail:-0}))
else
    echo "==== fuzzing: skipped (SPDF_FUZZ_SECONDS=0)"
fi

echo
echo "tests/run.sh took $(($(date +%s) - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
