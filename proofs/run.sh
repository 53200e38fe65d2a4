#!/usr/bin/env bash
# make proofs: Frama-C WP over the scheduler core, the event loop's tables
# and the task group; writes proofs/report.md and proofs/report.json, ends
# with "proved X / Y", fails when a goal is unproved and not listed in
# proofs/UNPROVED.md, or when a smoke test finds an inconsistent
# precondition.  See proofs/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# The sets are separate Frama-C runs, each with its own assumed contracts
# for what lies outside it: the scheduler core, the task group (the core's
# functions assumed through proofs/grp_assumed.h) and the event loop's
# tables (the timer heap and hash, the source list, the fd table).
declare -A SET_FILES=(
    [core]="src/sched.c src/pool.c src/handle.c src/runtime.c src/check.c"
    [group]="src/group.c"
    [loop]="src/loop_tables.c"
)
SETS=${WP_SETS:-core group loop}
# Per-set preprocessor flags: the core's lemmas (src/vrt_internal.h) are
# seen by the core set only, since WP adds every lemma in scope to every goal
# (and would change every goal of the other sets, and their cached results).
declare -A SET_CPP=(
    [core]="-DVRT_WP_CORE"
)
# Tried in this order on each goal until one proves it.  cvc5 runs last:
# Why3 1.5 does not know cvc5 1.0, so the Why3 configuration below declares
# it (proofs/cvc5.drv.in).
PROVERS=z3,cvc4,cvc5
SMOKE_PROVERS=z3,cvc4
# Assumed, not proved: the default allocator is malloc/free, whose own
# contracts are Frama-C's libc specification (\fresh, \freeable), which WP
# does not implement.  Per set: -wp-skip-fct refuses a function that the
# set's files do not define.
declare -A SET_ASSUMED=(
    [core]="libc_alloc,libc_release"
)
# Per-set WP strategies for the goals no prover proves whole: wp:split
# splits a goal's conjunctions (and the hypotheses' disjunctions) and runs
# the provers on each part.  The group's invariant is some forty quantified
# conjuncts, and re-establishing it after a write is a frame for each; whole,
# the provers do not find every frame in the time limit, part by part they
# do.  It costs time only on the goals the provers fail on (their parts are
# cached like any goal); on the loop's tables it proved nothing more.
declare -A SET_AUTO=(
    [core]="wp:split"
    [group]="wp:split"
)
TIMEOUT=${WP_TIMEOUT:-10}
SMOKE_TIMEOUT=${WP_SMOKE_TIMEOUT:-5}  # a smoke goal passes by failing: it waits the full timeout
PAR=${WP_PAR:-2}
OUT=proofs/out
# The prover results are cached per set in proofs/wp-session/<set>, committed,
# so that a clean checkout replays them: update (the default) runs a prover
# only for a goal whose text changed; cleanup also drops unused entries (in
# the first pass: the smoke pass, which shares the cache and would drop
# cvc5's entries, then only updates, re-running the smoke tests); none runs
# every prover.
CACHE=${WP_CACHE:-update}
mkdir -p "$OUT"
CPP="-Isrc -Iproofs -D_POSIX_C_SOURCE=200809L"
COMMON=(-c11 -kernel-warn-key annot-error=abort)

for tool in frama-c why3 z3 cvc4 cvc5; do
    command -v "$tool" >/dev/null || { echo "proofs: $tool not found (make deps)" >&2; exit 2; }
done

# A Why3 configuration of our own (Frama-C reads WHY3CONFIG): the provers
# Why3 detects, and cvc5 declared by hand.
export WHY3CONFIG="$PWD/$OUT/why3.conf"
rm -f "$WHY3CONFIG"
why3 config detect > "$OUT/why3-detect.log" 2>&1 || { cat "$OUT/why3-detect.log"; exit 2; }
sed "s|@WHY3_DRIVERS@|$(why3 --print-datadir)/drivers|" proofs/cvc5.drv.in > "$OUT/cvc5.drv"
cat >> "$WHY3CONFIG" <<EOF

[prover]
command = "$(command -v cvc5) --stats --tlimit-per=%t000 --lang=smt2 %f"
command_steps = "$(command -v cvc5) --stats --rlimit=%S --lang=smt2 %f"
driver = "$PWD/$OUT/cvc5.drv"
in_place = false
interactive = false
name = "CVC5"
shortcut = "cvc5"
version = "$(cvc5 --version | sed -n 's/^This is cvc5 version \([^ ]*\).*/\1/p')"
EOF

# One WP pass over the current set's files (FILES, SETCPP): the output name,
# the session, the provers, the cache mode, then the pass's own options.
# Writes $OUT/wp-<name>.json and .log; a Frama-C error stops the run.
wp_pass() {
    local name=$1 session=$2 provers=$3 cache=$4
    shift 4
    frama-c "${COMMON[@]}" "${SETCPP[@]}" $FILES -wp "$@" \
        -wp-prover "$provers" -wp-timeout "$TIMEOUT" -wp-par "$PAR" \
        -wp-session "proofs/wp-session/$session" -wp-cache "$cache" \
        -wp-report-json "$OUT/wp-$name.json" ${WP_EXTRA:-} \
        > "$OUT/wp-$name.log" 2>&1 || { tail -30 "$OUT/wp-$name.log"; exit 2; }
}

start=$(date +%s)
jsons=() logs=() files=() smoke_jsons=()
for set in $SETS; do
    FILES=${SET_FILES[$set]:?"proofs: unknown set $set"}
    ASSUMED_FCTS=${WP_ASSUMED_FCTS:-${SET_ASSUMED[$set]:-}}
    SKIP=()
    [ -z "$ASSUMED_FCTS" ] || SKIP=(-wp-skip-fct "$ASSUMED_FCTS")
    # Two passes over the same goals.  The first proves the contracts and the
    # absence of runtime errors with every prover.  The second adds the smoke
    # tests, which look for inconsistent preconditions and dead code (a smoke
    # goal tries to prove "false" from the requires at a point of the code;
    # every smoke goal must stay unproved), with z3 and cvc4: a smoke goal
    # passes by running each prover to its time limit, and cvc5 there would
    # double the cost of a cold run.  The second pass replays its other goals
    # from the cache the first one filled; only its smoke results are used.
    SETCPP=(-cpp-extra-args="$CPP ${SET_CPP[$set]:-}")
    echo "proofs: [$set] WP with -wp-rte over $FILES (cache: $CACHE)"
    AUTO=()
    [ -z "${SET_AUTO[$set]:-}" ] || AUTO=(-wp-auto "${SET_AUTO[$set]}")
    wp_pass "$set" "$set" "$PROVERS" "$CACHE" -wp-rte "${SKIP[@]}" "${AUTO[@]}"
    jsons+=("$OUT/wp-$set.json"); logs+=("$OUT/wp-$set.log"); files+=($FILES)
    echo "proofs: [$set] smoke tests"
    wp_pass "$set-smoke" "$set" "$SMOKE_PROVERS" "${CACHE/cleanup/update}" \
        -wp-rte -wp-smoke-tests -wp-smoke-timeout "$SMOKE_TIMEOUT" "${SKIP[@]}"
    smoke_jsons+=("$OUT/wp-$set-smoke.json")
    # -wp-skip-fct leaves the lemmas out of that pass: they are proved here.
    if [ ${#SKIP[@]} -gt 0 ] && [ -z "${WP_EXTRA:-}" ]; then
        wp_pass "$set-lemmas" "$set-lemmas" "$PROVERS" "$CACHE" -wp-prop=@lemma
        jsons+=("$OUT/wp-$set-lemmas.json"); logs+=("$OUT/wp-$set-lemmas.log")
    fi
done
end=$(date +%s)

# On a loaded machine WP kills a prover call that has not answered 2 s past
# its time limit and reports it failed; failures are not cached, so the next
# run calls that prover again.  Say so: the cache is best filled on a quiet
# machine.
killed=$(cat "${logs[@]}" "${smoke_jsons[@]/%.json/.log}" | grep -c 'Failed Unknown error' || true)
[ "$killed" = 0 ] || echo "proofs: $killed prover calls killed before answering (machine under load): not cached, the next run calls them again"

python3 proofs/report.py proofs/UNPROVED.md --json "${jsons[@]}" \
    --smoke-json "${smoke_jsons[@]}" --smoke-provers "$SMOKE_PROVERS" \
    --files "${files[@]}" --seconds $((end - start)) \
    --timeout "$TIMEOUT" --provers "$PROVERS" --log "${logs[@]}"
