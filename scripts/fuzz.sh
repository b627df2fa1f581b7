#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (FUZZ_SECONDS each, default 60),
# from the committed seeds in fuzz/corpus/<target>. New inputs go to fuzz/target/corpus/ (not
# committed); a crash is written to fuzz/artifacts/<target>/ and fails the run. Needs nightly
# and cargo-fuzz (installed from crates.io if missing). Prints executions and crashes per
# target at the end.
set -euo pipefail

seconds="${FUZZ_SECONDS:-60}"
cd "$(dirname "$0")/../fuzz"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz
fi

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
summary=()
failed=0
for target in $targets; do
    work="target/corpus/$target"
    mkdir -p "$work" "corpus/$target" target
    log="target/fuzz-$target.log"
    echo "== $target: ${seconds}s (log: fuzz/$log)"
    # Debug assertions on: an arithmetic overflow is a finding, not a silent wrap.
    if cargo +nightly fuzz run --debug-assertions "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        result="no crash"
    else
        result="CRASH: see fuzz/$log and fuzz/artifacts/$target/"
        failed=1
        tail -n 30 "$log"
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    summary+=("$(printf '%-14s %12s execs  %s' "$target" "$execs" "$result")")
done
echo
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
