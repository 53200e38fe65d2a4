#!/usr/bin/env bash
# One fuzzing run of one harness under one engine.
#
#   fuzz/run.sh [--planted] ENGINE HARNESS SECONDS BINARY SEEDS WORKDIR
#
# ENGINE is libfuzzer or afl.  The run starts from the files in SEEDS and
# keeps everything in WORKDIR (the grown corpus, crashes, the log).
# Without --planted it fails on any crash, hang or difference and prints
# execs/s and edges covered.  With --planted the binary has a bug planted
# on purpose: the run stops at the first crash and fails if there was none
# within SECONDS, printing how long finding it took.
set -u

planted=0
if [ "${1:-}" = --planted ]; then planted=1; shift; fi
if [ $# -ne 6 ]; then
    echo "usage: $0 [--planted] ENGINE HARNESS SECONDS BINARY SEEDS WORKDIR" >&2
    exit 2
fi
engine=$1 harness=$2 seconds=$3 binary=$4 seeds=$5 work=$6
dict=fuzz/dict/$harness.dict
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/log
start=$(date +%s.%N)

elapsed() {
    awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'
}

dict_args=()
case $engine in
libfuzzer)
    [ -f "$dict" ] && dict_args=(-dict="$dict")
    extra=(-print_final_stats=1)
    [ $planted = 1 ] && extra=()
    # -timeout: one input taking 10 s is a hang; the rss limit catches leaks
    # that grow without bound across iterations.
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -max_len=4096 -artifact_prefix="$work/artifacts/" "${dict_args[@]}" "${extra[@]}" \
        "$work/corpus" "$seeds" >"$log" 2>&1
    rc=$?
    found=$(find "$work/artifacts" -type f | head -n 1)
    if [ $planted = 1 ]; then
        if [ -n "$found" ]; then
            echo "planted bug found: libFuzzer, $harness, after $(elapsed) s ($found)"
            grep -m 1 -A 2 -E '^fuzz_(ops|diff):' "$log" | grep -E '^(fuzz_|  [-+] )' | sed 's/^/  /'
            exit 0
        fi
        echo "planted bug NOT found: libFuzzer, $harness, in $seconds s (log: $log)"
        exit 1
    fi
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        echo "FAIL libFuzzer $harness: exit $rc ${found:+, reproduce with: $binary $found}"
        tail -n 40 "$log"
        exit 1
    fi
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$done_line")
    echo "libFuzzer $harness: ${seconds} s, $runs execs, $rate execs/s, cov $cov edges, ft $ft features, corpus $corp, no crash"
    ;;
afl)
    [ -f "$dict" ] && dict_args=(-x "$dict")
    if [ $planted = 1 ]; then export AFL_BENCH_UNTIL_CRASH=1; fi
    # what AFL++ needs of ASan; leaks are the harnesses' own checks here
    export ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0
    afl-fuzz -i "$seeds" -o "$work/out" -V "$seconds" -t 5000 -m none "${dict_args[@]}" \
        -- "$binary" >"$log" 2>&1
    rc=$?
    out=$work/out/default
    crashes=$(find "$out/crashes" -type f -name 'id:*' 2>/dev/null | head -n 1)
    hangs=$(find "$out/hangs" -type f -name 'id:*' 2>/dev/null | head -n 1)
    if [ $planted = 1 ]; then
        if [ -n "$crashes" ]; then
            echo "planted bug found: AFL++, $harness, after $(elapsed) s ($crashes)"
            "$binary" <"$crashes" 2>&1 | grep -m 1 -A 2 -E '^fuzz_(ops|diff):' | grep -E '^(fuzz_|  [-+] )' | sed 's/^/  /'
            exit 0
        fi
        echo "planted bug NOT found: AFL++, $harness, in $seconds s (log: $log)"
        exit 1
    fi
    if [ $rc -ne 0 ] || [ ! -f "$out/fuzzer_stats" ] || [ -n "$crashes" ] || [ -n "$hangs" ]; then
        echo "FAIL AFL++ $harness: exit $rc${crashes:+, crash: $crashes}${hangs:+, hang: $hangs}"
        [ -n "$crashes$hangs" ] && echo "  reproduce with: $binary < ${crashes:-$hangs}"
        tail -n 40 "$log"
        exit 1
    fi
    afl_stat() { sed -n "s/^$1 *: *//p" "$out/fuzzer_stats"; }
    execs=$(afl_stat execs_done)
    run_time=$(afl_stat run_time)
    rate=$(awk -v n="$execs" -v t="$run_time" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')
    echo "AFL++ $harness: ${run_time} s, $execs execs, $rate execs/s, edges $(afl_stat edges_found)/$(afl_stat total_edges), corpus $(afl_stat corpus_count), no crash, no hang"
    ;;
*)
    echo "unknown engine $engine (libfuzzer or afl)" >&2
    exit 2
    ;;
esac
