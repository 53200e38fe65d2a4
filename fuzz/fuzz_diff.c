/*
 * fuzz_diff: bytes become a scenario (spec/scenarios.md), which is run on
 * the executable model and on vrt through the oracle's shared
 * interpreter; any difference between the two traces aborts, printing
 * both.
 *
 * An input that starts with "scenario " is scenario text as it is (so
 * every scenario of spec/scenarios is a seed); any other input is decoded by
 * write_scenario into a scenario that always parses: a host, scripts of
 * outcomes and actions (including host calls made from inside a poll),
 * then host calls over the whole API, bad inputs and allocation failures.
 *
 * vrt runs on a real kernel and a real clock, the model on simulated ones,
 * so before running, a scenario is brought inside the determinism rules of
 * spec/scenarios.md (see make_deterministic); what cannot be is skipped.
 * The model runs first: a scenario on which it would block forever
 * (EDEADLK: vrt would hang), that it cannot run, that fills one of its
 * fixed tables, or in which one look at the loop found several fds ready
 * (their order is the kernel's on vrt) is skipped too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int op_is(const struct oracle_call *c, const char *op)
{
    return strcmp(c->op, op) == 0;
}

/* Timers fire on the model's clock only when nothing is runnable, on
 * vrt's whenever they are due: only delays of 0 (due at the next look at
 * the loop on both) keep their order observable alike. */
static void zero_delay(struct oracle_call *c, int arg)
{
    if (c->argc > arg && c->nums[arg] > 0) {
        c->nums[arg] = 0;
        snprintf(c->args[arg], sizeof c->args[arg], "0");
    }
}

/* A loop call naming a number that is no pipe: it is passed as a raw fd,
 * and which file that is depends on the fds the kernel handed out. */
static int names_raw_fd(const struct oracle_call *c, int pipes)
{
    return (op_is(c, "loop deregister") && c->nums[1] != -7 && c->nums[0] >= pipes) ||
           (op_is(c, "loop find-task") && c->nums[0] >= pipes);
}

/* Calls whose memory use spec/scenarios.md ("Allocation") tells the model,
 * or that allocate nothing; only these may run while allocations fail. */
static int allowed_while_failing(const struct oracle_call *c, int spawned_since_new,
                                 enum oracle_host host)
{
    static const char *const no_memory[] = {
        "fail-alloc", "status", "result", "is-valid", "max-tasks", "check",
        "backend", "poll-ready", "poll-pending", "poll-status", "poll-value",
        "poll-is-ready", "group-total", "group-completed", "group-is-done",
        "group-is-cancelled", "group-result", "group-has-error", "group-status",
        "loop new", "new", "reactor-init", "get-loop",
    };
    for (size_t i = 0; i < sizeof no_memory / sizeof no_memory[0]; i++)
        if (op_is(c, no_memory[i]))
            return 1;
    if (op_is(c, "spawn"))
        return host == ORACLE_HOST_GROUP || host == ORACLE_HOST_SCOPED || !spawned_since_new;
    return 0;
}

/*
 * Rewrites *scn inside the determinism rules, or returns -1 when it
 * cannot be:
 *  - every timer delay (sleep steps, `call sleep`, `loop register-timer`,
 *    `loop poll`) becomes 0 if it was positive;
 *  - `loop register-*` only on the scenario's own loop (`loop new` of a
 *    runtime host) from a host call: a placeholder task on a reactor's loop
 *    would be woken by a run;
 *  - `close` and `reopen`: which file a closed pipe's numbers name next
 *    depends on the fds the kernel hands out meanwhile; `write-held`
 *    without them writes to the pipe itself, which the model does not
 *    count (its held file is the one that outlived `close`);
 *  - `loop deregister` and `loop find-task` of a number that is no pipe
 *    (a raw fd: which file it is depends on the kernel);
 *  - `set-next-id` once, near the end of the ids, from a host call (twice
 *    could hand out an id again, and a stale handle would look valid);
 *  - while `fail-alloc 1` is in force only the calls of "Allocation".
 */
static int make_deterministic(struct oracle_scenario *scn)
{
    for (int s = 0; s < scn->script_count; s++)
        for (int k = 0; k < scn->scripts[s].step_count; k++) {
            struct oracle_step *st = &scn->scripts[s].steps[k];
            if (st->kind == STEP_SLEEP && st->a > 0)
                st->a = 0;
        }
    for (int i = 0; i < scn->step_call_count; i++) {
        struct oracle_call *c = &scn->step_calls[i];
        if (strncmp(c->op, "loop register-", 14) == 0 || op_is(c, "reopen") || op_is(c, "close") ||
            op_is(c, "write-held") || op_is(c, "set-next-id") ||
            op_is(c, "fail-alloc") || op_is(c, "loop poll"))
            return -1;
        if (names_raw_fd(c, scn->pipes))
            return -1;
        if (op_is(c, "sleep"))
            zero_delay(c, 0);
    }
    int own_loop = 0, failing = 0, spawned_since_new = 0, next_id_set = 0;
    for (int i = 0; i < scn->call_count; i++) {
        struct oracle_call *c = &scn->calls[i];
        if (op_is(c, "reopen") || op_is(c, "close") || op_is(c, "write-held"))
            return -1;
        /* set-next-id writes a seed field: only to test EOVERFLOW near the
         * end of the ids; anything else breaks "ids count from 0" or
         * hands an id out twice */
        if (op_is(c, "set-next-id") && (c->nums[0] < INT64_MAX - 1024 || next_id_set++))
            return -1;
        if (failing && !allowed_while_failing(c, spawned_since_new, scn->host))
            return -1;
        if (op_is(c, "fail-alloc"))
            failing = c->nums[0] != 0;
        else if (op_is(c, "new") || op_is(c, "free"))
            spawned_since_new = 0;
        else if (op_is(c, "spawn") || op_is(c, "run") || op_is(c, "block_on"))
            spawned_since_new = 1;
        if (op_is(c, "loop new"))
            own_loop = scn->host == ORACLE_HOST_RUNTIME;
        else if (op_is(c, "loop cleanup"))
            own_loop = 0;
        if (strncmp(c->op, "loop register-", 14) == 0 && !own_loop)
            return -1;
        if (names_raw_fd(c, scn->pipes))
            return -1;
        if (op_is(c, "sleep") || op_is(c, "loop poll"))
            zero_delay(c, 0);
        else if (op_is(c, "loop register-timer"))
            zero_delay(c, 1);
    }
    return 0;
}

/* ---- bytes -> scenario text ------------------------------------------------ */

#define SCRIPTS 4
#define MAX_HOST_CALLS 64

struct writer {
    const uint8_t *data;
    size_t size, pos;
    FILE *f;
    int pipes;
    int host;                 /* index in hosts[] */
    int in_step;              /* writing the `call` of a script step */
    int created[SCRIPTS];     /* instances of each script the host calls made */
    uint64_t futures[SCRIPTS];/* which of them are block_on futures (bit n: nth) */
};

static const char *const hosts[] = {"runtime", "reactor", "group", "global",
                                    "global-reactor", "scoped"};

static unsigned pick(struct writer *w, unsigned n)
{
    return w->pos < w->size ? w->data[w->pos++] % n : 0;
}

#define PICK_FROM(w, table) (table)[pick((w), sizeof(table) / sizeof *(table))]

/* The name of an instance that exists once the host calls written so far
 * have run; 0 if there is none yet. */
static int instance_name(struct writer *w, char *out, size_t cap)
{
    unsigned script = pick(w, SCRIPTS);
    for (unsigned k = 0; k < SCRIPTS; k++, script = (script + 1) % SCRIPTS) {
        int n = w->created[script] < 64 ? w->created[script] : 64;
        unsigned nth = n > 0 ? pick(w, (unsigned)n) : 0;
        for (int tries = 0; tries < n && (w->futures[script] >> nth & 1); tries++)
            nth = (nth + 1) % (unsigned)n;
        if (n == 0 || (w->futures[script] >> nth & 1))
            continue; /* none yet, or only block_on futures, which have no handle */
        if (nth == 0)
            snprintf(out, cap, "S%u", script);
        else
            snprintf(out, cap, "S%u.%u", script, nth + 1);
        return 1;
    }
    return 0;
}

static void write_spawn(struct writer *w, const char *op)
{
    unsigned script = pick(w, SCRIPTS);
    fprintf(w->f, "%s S%u", op, script);
    if (w->in_step)
        return;
    if (op[0] == 'b' && w->created[script] < 64)
        w->futures[script] |= UINT64_C(1) << w->created[script];
    w->created[script]++;
}

/*
 * A host call with its arguments (also the text of a `call` step), no
 * newline.  It keeps inside make_deterministic's rules: allocations fail
 * for one call of "Allocation" only, and loop registrations go to a loop
 * of the runtime host's own.
 */
static void write_call(struct writer *w)
{
    static const char *const plain[] = {
        "run", "free", "max-tasks", "group-cancel", "group-cancel-remaining", "group-total",
        "group-completed", "group-is-done", "group-is-cancelled", "group-cleanup", "new",
        "new-named", "shutdown", "check", "runtime-init", "reactor-init", "get-loop",
        "null run", "null-fn spawn", "null-fn block_on", "null spawn", "null max-tasks",
        "null check", "null group-total", "null abort", "null status", "loop wake",
        "loop new", "loop cleanup", "null free", "null block_on", "node-new", "backend"};
    static const char *const on_instance[] = {"status", "result", "abort", "release",
                                              "is-valid", "is-completed", "is-pending"};
    static const char *const numbered[] = {"set-max-tasks", "group-set-max-concurrency",
                                           "group-set-cancel-on-error", "group-result",
                                           "group-has-error", "group-status", "set-allocator",
                                           "set-next-id", "loop event-fd", "loop event-filter",
                                           "loop poll", "poll-ready", "poll-status",
                                           "poll-value", "poll-is-ready", "loop find-task",
                                           "null set-max-tasks", "null group-result"};
    static const char *const numbers[] = {"0", "1", "2", "3", "-1", "9223372036854775806",
                                          "4294967296", "8589934593"};
    static const char *const on_pipe[] = {"write", "read", "wait-read", "wait-write",
                                          "hold"};
    static const char *const while_failing[] = {"spawn S0", "loop new", "new", "reactor-init",
                                                "get-loop", "run"};
    char name[16];
    int pipe = (int)pick(w, (unsigned)w->pipes + 2) - 2; /* -2 .. pipes-1 */
    switch (pick(w, 8)) {
    case 0:
        write_spawn(w, "spawn");
        break;
    case 1:
        write_spawn(w, "block_on");
        break;
    case 2:
        fprintf(w->f, "%s", PICK_FROM(w, plain));
        break;
    case 3:
        if (instance_name(w, name, sizeof name))
            fprintf(w->f, "%s %s", PICK_FROM(w, on_instance), name);
        else
            fprintf(w->f, "check");
        break;
    case 4: {
        const char *op = PICK_FROM(w, numbered);
        if (strcmp(op, "set-next-id") != 0)
            fprintf(w->f, "%s %s", op, PICK_FROM(w, numbers));
        else if (w->in_step)
            fprintf(w->f, "max-tasks");
        else /* the end of the ids: the next spawn but one is EOVERFLOW */
            fprintf(w->f, "set-next-id 922337203685477580%u", 6 + pick(w, 2));
        break;
    }
    case 5:
        fprintf(w->f, "%s %d", PICK_FROM(w, on_pipe), pipe);
        break;
    case 6:
        if (pick(w, 2))
            fprintf(w->f, "loop deregister %d %d", pipe, pick(w, 2) ? -1 : -7);
        else if (w->in_step || w->host != 0)
            fprintf(w->f, "loop find-task %d", pipe);
        else
            fprintf(w->f, "loop new\nloop register-%s %d\nloop register-timer %u 0",
                    pick(w, 2) ? "read" : "write", pipe < 0 ? 0 : pipe, 5 + pick(w, 3));
        break;
    default:
        if (w->in_step) {
            fprintf(w->f, "sleep %u", pick(w, 2));
        } else {
            const char *call = PICK_FROM(w, while_failing);
            if (strcmp(call, "run") == 0 || (strcmp(call, "spawn S0") == 0 && w->host != 2 &&
                                              w->host != 5))
                call = "max-tasks";
            fprintf(w->f, "fail-alloc 1\n%s\nfail-alloc 0", call);
        }
        break;
    }
}

static void write_step(struct writer *w)
{
    static const char *const values[] = {"0", "1", "2", "-1", "-3", "7", "4294967295",
                                         "-2147483648"};
    int pipe = (int)pick(w, (unsigned)w->pipes + 1) - 1; /* -1 .. pipes-1 */
    char name[16];
    switch (pick(w, 12)) {
    case 0: fprintf(w->f, "pending"); break;
    case 1: fprintf(w->f, "ready %s", PICK_FROM(w, values)); break;
    case 2: fprintf(w->f, "bad-status %u 5", 2 + pick(w, 3)); break;
    case 3: fprintf(w->f, "wait-read %d", pipe); break;
    case 4: fprintf(w->f, "wait-write %d", pipe); break;
    case 5: fprintf(w->f, "sleep %d", (int)pick(w, 2) - (int)pick(w, 2)); break;
    case 6: fprintf(w->f, "write %d", pipe); break;
    case 7: fprintf(w->f, "read %d", pipe); break;
    case 8: fprintf(w->f, "spawn S%u", pick(w, SCRIPTS)); break;
    case 9:
        if (instance_name(w, name, sizeof name)) {
            fprintf(w->f, "abort %s", name);
            break;
        } /* nothing to abort yet: a call instead */
        /* fall through */
    default:
        fprintf(w->f, "call ");
        w->in_step = 1;
        write_call(w);
        w->in_step = 0;
        break;
    }
}

/*
 * The scenario text that the bytes describe, in a malloc'd string: the
 * first bytes choose the host and the pipes, then come the host calls
 * (so that the scripts, written after them, can name the instances they
 * make), then the steps of the scripts.
 */
static char *write_scenario(const uint8_t *data, size_t size, size_t *len)
{
    struct writer w = {.data = data, .size = size};
    char *calls = NULL, *text = NULL;
    size_t calls_len = 0;
    w.pipes = 1 + (int)pick(&w, 2);
    w.host = (int)pick(&w, 6);
    size_t steps_at = 2 + (size > 2 ? (size - 2) / 3 : 0); /* a third for the scripts */
    if ((w.f = open_memstream(&calls, &calls_len)) == NULL)
        abort();
    struct writer scripts = w;
    w.pos = steps_at;
    for (int n = 0; w.pos < w.size && n < MAX_HOST_CALLS; n++) {
        write_call(&w);
        fputc('\n', w.f);
    }
    if (fclose(w.f) != 0)
        abort();
    memcpy(scripts.created, w.created, sizeof w.created);
    memcpy(scripts.futures, w.futures, sizeof w.futures);
    scripts.size = steps_at < size ? steps_at : size;
    if ((scripts.f = open_memstream(&text, len)) == NULL)
        abort();
    fprintf(scripts.f, "scenario generated\nhost %s\npipes %d\n", hosts[w.host], w.pipes);
    for (unsigned s = 0; s < SCRIPTS; s++) {
        fprintf(scripts.f, "task S%u:", s);
        unsigned steps = pick(&scripts, 5);
        for (unsigned k = 0; k < steps; k++) {
            fputs(k ? "; " : " ", scripts.f);
            write_step(&scripts);
        }
        /* every script ends with an outcome, so that it always has one */
        fprintf(scripts.f, "%sready %u\n", steps ? "; " : " ", s);
    }
    fputs(calls, scripts.f);
    free(calls);
    if (fclose(scripts.f) != 0)
        abort();
    return text;
}

/* The line of text that starts at p, as "%.*s" arguments. */
static int line_length(const char *p)
{
    const char *end = strchr(p, '\n');
    return end != NULL ? (int)(end - p) : (int)strlen(p);
}

/* Prints the first line where the traces differ, then both in full. */
static void report_difference(const char *name, const char *model, const char *vrt)
{
    int line = 1;
    const char *a = model, *b = vrt, *line_a = model, *line_b = vrt;
    while (*a != '\0' && *a == *b) {
        if (*a == '\n') {
            line++;
            line_a = a + 1;
            line_b = b + 1;
        }
        a++;
        b++;
    }
    fprintf(stderr, "fuzz_diff: %s: vrt and the model differ at line %d\n", name, line);
    fprintf(stderr, "  - model: %.*s\n  + vrt:   %.*s\n", line_length(line_a), line_a,
            line_length(line_b), line_b);
    fprintf(stderr, "---- model\n%s---- vrt\n%s----\n", model, vrt);
}

/* 1 if the model ran out of one of its fixed tables: a wait or a loop
 * registration failing with ENOMEM (allocations never fail while tasks
 * run: make_deterministic sees to it), so vrt, which has no such limit,
 * cannot agree. */
static int model_table_full(const char *trace)
{
    static const char *const waits[] = {"call sleep ", "call wait-read ", "call wait-write ",
                                        "call loop register-"};
    static const char full[] = " -> -1 ENOMEM";
    for (const char *line = trace; *line != '\0';) {
        int len = line_length(line);
        for (size_t i = 0; i < sizeof waits / sizeof *waits; i++)
            if (strncmp(line, waits[i], strlen(waits[i])) == 0 && len >= (int)sizeof full - 1 &&
                memcmp(line + len - (sizeof full - 1), full, sizeof full - 1) == 0)
                return 1;
        line += len;
        if (*line == '\n')
            line++;
    }
    return 0;
}

static struct oracle_scenario g_scenario;
static FILE *g_quiet; /* parse messages of rejected inputs go nowhere */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_quiet == NULL && (g_quiet = fopen("/dev/null", "w")) == NULL)
        abort();
    static const char text_prefix[] = "scenario ";
    int parsed;
    if (size >= sizeof text_prefix - 1 && memcmp(data, text_prefix, sizeof text_prefix - 1) == 0) {
        parsed = oracle_parse_buffer("input", (const char *)data, size, &g_scenario, g_quiet);
    } else {
        size_t len = 0;
        char *text = write_scenario(data, size, &len);
        parsed = oracle_parse_buffer("generated", text, len, &g_scenario, g_quiet);
        if (getenv("FUZZ_DIFF_SHOW") != NULL)
            fprintf(stderr, "%s:\n%s", parsed != 0 ? "does not parse" : "generated", text);
        free(text);
    }
    if (parsed != 0)
        return 0;
    int show = getenv("FUZZ_DIFF_SHOW") != NULL;
    if (make_deterministic(&g_scenario) != 0) {
        if (show)
            fprintf(stderr, "skipped: outside the determinism rules\n");
        return 0;
    }
    size_t model_len = 0, vrt_len = 0;
    int model_rc = 0, vrt_rc = 0;
    char *model = oracle_run_to_string(&g_scenario, &oracle_engine_model, &model_len, &model_rc);
    if (model == NULL)
        abort();
    char deadlock[32];
    snprintf(deadlock, sizeof deadlock, " %s\n", oracle_errno_name(EDEADLK));
    const char *invalid = model_rc != 0                    ? "the model's run failed"
                          : strstr(model, deadlock) != NULL ? "deadlock: vrt would hang"
                          : model_table_full(model)         ? "a model table is full"
                          : oracle_model_kernel_order       ? "several fds ready at once: the kernel's order"
                                                            : NULL;
    if (invalid != NULL) {
        if (show)
            fprintf(stderr, "skipped: %s\n", invalid);
        free(model);
        return 0; /* not a valid scenario: vrt would hang or it cannot run */
    }
    char *vrt = oracle_run_to_string(&g_scenario, &oracle_engine_vrt, &vrt_len, &vrt_rc);
    if (vrt == NULL)
        abort();
    if (vrt_rc != 0 || vrt_len != model_len || memcmp(model, vrt, model_len) != 0) {
        if (vrt_rc != 0)
            fprintf(stderr, "fuzz_diff: the run on vrt failed, the model's did not\n");
        report_difference(g_scenario.name, model, vrt);
        abort();
    }
    free(model);
    free(vrt);
    return 0;
}
