#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, -Dfuzzing=true, AddressSanitizer + UndefinedBehavior-
# Sanitizer) and runs each for a bounded time on a scratch copy of its corpus, with its dictionary
# (docs/fuzzing.md).  Any crash, sanitizer report, failed property, leak, timeout or out-of-memory
# fails the run, and the input that caused it is kept as tests/fuzz/corpus/<harness>/regress-<sha1>,
# which the fuzz-corpus suite replays in every build from then on.
#
# Usage: bash tests/fuzz/run.sh [--seconds N] [--jobs N] [--merge] [HARNESS...]
#   --seconds N  time per harness (default 20; the note's figures come from --seconds 300)
#   --jobs N     harnesses run side by side (default: the number of cores, at most 2)
#   --merge      add the inputs that found new coverage to tests/fuzz/corpus (libFuzzer -merge=1)
#   HARNESS      names as in tests/fuzz/meson.build (default: all)
# Build dir: $SPDF_FUZZ_BUILD_DIR (default build-fuzz).  The last line reads "N passed, N failed".
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
seconds=20
jobs=$(nproc 2>/dev/null || echo 1)
[ "$jobs" -gt 2 ] && jobs=2
merge=0
harnesses=()
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
    esac
done
if [ ${#harnesses[@]} -eq 0 ]; then
    mapfile -t harnesses < <(sed -n "s/^  '\([a-z0-9-]*\)' : \['fuzz_.*/\1/p" tests/fuzz/meson.build)
fi
build_dir=${SPDF_FUZZ_BUILD_DIR:-build-fuzz}

bash scripts/install-deps.sh || { echo "installing the build dependencies failed" >&2; exit 1; }

options=(-Dfuzzing=true -Dtests=true --werror -Db_sanitize=address,undefined -Db_lundef=false)
if [ -f "$build_dir/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$build_dir" "${options[@]}" >/dev/null || exit 1
else
    CC=clang meson setup "$build_dir" "${options[@]}" >/dev/null || exit 1
fi
targets=()
for name in "${harnesses[@]}"; do targets+=("tests/fuzz/fuzz_${name//-/_}"); done
ninja -C "$build_dir" "${targets[@]}" || { echo "fuzz: build failed"; echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export GOMP_SPINCOUNT=10000
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# fuzz_one NAME: one harness for $seconds; writes $results/NAME.{log,row}.
fuzz_one() {
    local name=$1
    local binary="$build_dir/tests/fuzz/fuzz_${name//-/_}" dict="tests/fuzz/dict/${name%-crc}.dict"
    local work="$results/$name.corpus" artifacts="$results/$name.artifacts"
    mkdir -p "$work" "$artifacts"
    cp tests/fuzz/corpus/"$name"/* "$work"/
    "$binary" "$work" -dict="$dict" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -artifact_prefix="$artifacts/" -print_final_stats=1 >"$results/$name.log" 2>&1
    local status=$? finding="none"
    for artifact in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
        [ -e "$artifact" ] || continue
        local kept="tests/fuzz/corpus/$name/regress-$(sha1sum "$artifact" | cut -c1-16)"
        cp "$artifact" "$kept"
        finding="$(basename "$artifact" | cut -d- -f1): $kept"
    done
    [ $status -ne 0 ] && [ "$finding" = none ] && finding="exit status $status"
    if [ $merge -eq 1 ] && [ "$finding" = none ]; then
        "$binary" -merge=1 "tests/fuzz/corpus/$name" "$work" >>"$results/$name.log" 2>&1
    fi
    local execs coverage
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$results/$name.log" | tail -1)
    coverage=$(grep -o 'cov: [0-9]*' "$results/$name.log" | tail -1 | cut -d' ' -f2)
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "${execs:-0}" "$((${execs:-0} / seconds))" "${coverage:-?}" \
        "$finding" >"$results/$name.row"
}

started=$(date +%s)
running=0
for name in "${harnesses[@]}"; do
    if [ ! -x "$build_dir/tests/fuzz/fuzz_${name//-/_}" ]; then
        printf '%s\t0\t0\t?\tno such harness\n' "$name" >"$results/$name.row"
        continue
    fi
    fuzz_one "$name" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

passed=0
failed=0
echo
echo "fuzzing: ${seconds} s a harness, $jobs at a time, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
printf '%-16s %12s %9s %9s  %s\n' harness execs 'exec/s' coverage findings
for name in "${harnesses[@]}"; do
    IFS=$'\t' read -r _ execs rate coverage finding <"$results/$name.row"
    printf '%-16s %12s %9s %9s  %s\n' "$name" "$execs" "$rate" "$coverage" "$finding"
    if [ "$finding" = none ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "---- $name: the end of its log"
        tail -40 "$results/$name.log" 2>/dev/null
    fi
done
echo "fuzzing took $(($(date +%s) - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
