#!/usr/bin/env bash
# make proofs: Frama-C WP over the scheduler core; writes proofs/report.md and
# proofs/report.json, ends with "proved X / Y", fails when a goal is unproved
# and not listed in proofs/UNPROVED.md.  See proofs/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES="src/sched.c src/pool.c src/handle.c src/runtime.c src/check.c"
PROVERS=z3,cvc4
TIMEOUT=${WP_TIMEOUT:-10}
SMOKE_TIMEOUT=${WP_SMOKE_TIMEOUT:-5}  # a smoke goal passes by failing: it waits the full timeout
PAR=${WP_PAR:-2}
OUT=proofs/out
CACHE=${WP_CACHE:-update}   # none to run every prover from scratch
mkdir -p "$OUT" proofs/wp-cache
COMMON=(-c11 -cpp-extra-args="-Isrc -Iproofs -D_POSIX_C_SOURCE=200809L"
        -kernel-warn-key annot-error=abort)

for tool in frama-c why3 z3 cvc4; do
    command -v "$tool" >/dev/null || { echo "proofs: $tool not found" >&2; exit 2; }
done

start=$(date +%s)
# Pass 1: the contracts and the absence of runtime errors.
frama-c "${COMMON[@]}" $FILES \
    -wp -wp-rte -wp-prover "$PROVERS" -wp-timeout "$TIMEOUT" -wp-par "$PAR" \
    -wp-session proofs/wp-session -wp-cache "$CACHE" -wp-cache-dir proofs/wp-cache \
    -wp-report-json "$OUT/wp.json" -wp-msg-key shell \
    > "$OUT/wp.log" 2>&1 || { tail -30 "$OUT/wp.log"; exit 2; }
mid=$(date +%s)
# Pass 2: smoke tests, which look for inconsistent preconditions (a goal that
# proves "false" from the requires): each must stay unproved.
frama-c "${COMMON[@]}" $FILES \
    -wp -wp-smoke-tests -wp-prover "$PROVERS" -wp-timeout "$SMOKE_TIMEOUT" -wp-par "$PAR" \
    -wp-session proofs/wp-session-smoke -wp-cache "$CACHE" -wp-cache-dir proofs/wp-cache \
    -wp-report-json "$OUT/smoke.json" \
    > "$OUT/smoke.log" 2>&1 || { tail -30 "$OUT/smoke.log"; exit 2; }
end=$(date +%s)

python3 proofs/report.py "$OUT/wp.json" "$OUT/smoke.log" proofs/UNPROVED.md \
    --files $FILES --wp-seconds $((mid - start)) --smoke-seconds $((end - mid)) \
    --timeout "$TIMEOUT" --provers "$PROVERS"
