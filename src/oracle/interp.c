/*
 * vrt-oracle: the driver both engines share.  It walks the host calls,
 * prints every trace line (spec/scenarios.md, "Traces") and runs the task
 * scripts when an engine polls an instance.
 */
#include "oracle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *oracle_errno_name(int err)
{
    static char buf[32];
    switch (err) {
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case ERANGE: return "ERANGE";
    case ECANCELED: return "ECANCELED";
    case EBUSY: return "EBUSY";
    case EINPROGRESS: return "EINPROGRESS";
    case EOVERFLOW: return "EOVERFLOW";
    case EPERM: return "EPERM";
    default:
        snprintf(buf, sizeof buf, "E%d", err);
        return buf;
    }
}

const char *oracle_status_name(int64_t status)
{
    switch (status) {
    case 0: return "pending";
    case 1: return "running";
    case 2: return "ready";
    case 3: return "completed";
    case 4: return "cancelled";
    case ORACLE_STATUS_RELEASED: return "released";
    default: return "invalid";
    }
}

static void run_fail(struct oracle_run *run, int line, const char *fmt, const char *arg)
{
    if (!run->failed) {
        fprintf(stderr, "vrt-oracle: %s: line %d: ", run->scn->name, line);
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
    run->failed = 1;
}

/* A new instance of script s, named T, T.2, T.3, ... by creation order. */
static struct oracle_instance *new_instance(struct oracle_run *run, int s, int is_future, int line)
{
    if (run->instance_count >= ORACLE_MAX_INSTANCES) {
        run_fail(run, line, "more than %s instances", "512");
        return NULL;
    }
    const char *base = run->scn->scripts[s].name;
    int k = 1;
    for (int i = 0; i < run->instance_count; i++)
        if (run->instances[i].script == s)
            k++;
    struct oracle_instance *inst = &run->instances[run->instance_count++];
    memset(inst, 0, sizeof *inst);
    if (k == 1)
        snprintf(inst->name, sizeof inst->name, "%s", base);
    else /* k <= ORACLE_MAX_INSTANCES: at most 40 + 1 + 5 characters, it fits */
        snprintf(inst->name, sizeof inst->name, "%.40s.%hu", base, (unsigned short)k);
    inst->script = s;
    inst->last_outcome = -1;
    inst->is_future = is_future;
    inst->engine_handle = -1;
    inst->last_status = 0; /* PENDING, what a spawn makes */
    return inst;
}

static struct oracle_instance *find_instance(struct oracle_run *run, const char *name)
{
    for (int i = 0; i < run->instance_count; i++)
        if (strcmp(run->instances[i].name, name) == 0)
            return &run->instances[i];
    return NULL;
}

static void print_result(struct oracle_run *run, struct oracle_result r)
{
    if (r.err != 0)
        fprintf(run->out, " -> -1 %s\n", oracle_errno_name(r.err));
    else
        fprintf(run->out, " -> %lld\n", (long long)r.value);
}

/* Makes one call (a host call, or an action's call inside a poll) and
 * prints its `call` line. */
static void do_call(struct oracle_run *run, const struct oracle_call *c)
{
    const struct oracle_engine *e = run->engine;
    struct oracle_instance *inst = NULL;
    struct oracle_result r = {0, 0};
    const char *shown = NULL; /* the instance name printed for spawn/block_on */

    if (strcmp(c->op, "spawn") == 0 || strcmp(c->op, "block_on") == 0) {
        inst = new_instance(run, (int)c->nums[0], c->op[0] == 'b', c->line);
        if (inst == NULL)
            return;
        shown = inst->name;
        r = e->call(run, c, inst);
    } else if (strcmp(c->op, "status") == 0 || strcmp(c->op, "result") == 0 ||
               strcmp(c->op, "abort") == 0 || strcmp(c->op, "release") == 0 ||
               strcmp(c->op, "is-valid") == 0 || strcmp(c->op, "is-completed") == 0 ||
               strcmp(c->op, "is-pending") == 0) {
        inst = find_instance(run, c->args[0]);
        if (inst == NULL) {
            run_fail(run, c->line, "no instance '%s' (yet)", c->args[0]);
            return;
        }
        if (inst->is_future) {
            run_fail(run, c->line, "'%s' is a block_on future, not a task", c->args[0]);
            return;
        }
        r = e->call(run, c, inst);
    } else if (strcmp(c->op, "write") == 0) {
        r = e->write_pipe(run, (int)c->nums[0]);
    } else if (strcmp(c->op, "read") == 0) {
        r = e->read_pipe(run, (int)c->nums[0]);
    } else if (strcmp(c->op, "wait-read") == 0) {
        r = e->wait_read(run, run->current, (int)c->nums[0]);
    } else if (strcmp(c->op, "wait-write") == 0) {
        r = e->wait_write(run, run->current, (int)c->nums[0]);
    } else if (strcmp(c->op, "sleep") == 0) {
        r = e->sleep(run, run->current, c->nums[0]);
    } else {
        r = e->call(run, c, NULL);
    }
    fprintf(run->out, "call %s", c->op);
    for (int i = 0; i < c->argc; i++)
        fprintf(run->out, " %s", i == 0 && shown != NULL ? shown : c->args[i]);
    print_result(run, r);
}

/* After a host call: a line for each task whose status changed. */
static void status_lines(struct oracle_run *run)
{
    for (int i = 0; i < run->instance_count; i++) {
        struct oracle_instance *inst = &run->instances[i];
        if (inst->is_future)
            continue;
        int64_t s = run->engine->status(run, inst);
        if (s < 0 || s == inst->last_status)
            continue;
        fprintf(run->out, "status %s %s -> %s\n", inst->name,
                oracle_status_name(inst->last_status), oracle_status_name(s));
        inst->last_status = s;
    }
}

static int64_t pack(int64_t status, int64_t value)
{
    return (int64_t)(((uint64_t)status << 32) | (uint64_t)(uint32_t)value);
}

int64_t oracle_poll(struct oracle_run *run, struct oracle_instance *inst)
{
    const struct oracle_engine *e = run->engine;
    const struct oracle_script *sc = &run->scn->scripts[inst->script];
    fprintf(run->out, "poll %s\n", inst->name);
    if (++run->poll_count > ORACLE_MAX_POLLS) {
        /* a scenario that never ends: stop it, mark the run failed */
        run_fail(run, 0, "more than %s polls: stopped", "100000");
        fprintf(run->out, "%s: stopped\n", inst->name);
        return pack(1, 0);
    }
    struct oracle_instance *outer = run->current;
    run->current = inst;
    int outcome = -1;
    while (inst->next_step < sc->step_count) {
        const struct oracle_step *st = &sc->steps[inst->next_step++];
        if (st->kind <= STEP_SLEEP) {
            outcome = (int)(st - sc->steps);
            break;
        }
        if (st->kind == STEP_WRITE || st->kind == STEP_READ) {
            int writes = st->kind == STEP_WRITE;
            struct oracle_result r = writes ? e->write_pipe(run, (int)st->a)
                                            : e->read_pipe(run, (int)st->a);
            fprintf(run->out, "call %s %lld", writes ? "write" : "read", (long long)st->a);
            print_result(run, r);
        } else { /* STEP_SPAWN, STEP_ABORT, STEP_CALL */
            struct oracle_call c;
            if (st->kind == STEP_CALL) {
                c = *st->call;
            } else {
                memset(&c, 0, sizeof c);
                snprintf(c.op, sizeof c.op, "%s", st->kind == STEP_SPAWN ? "spawn" : "abort");
                c.argc = 1;
                snprintf(c.args[0], sizeof c.args[0], "%s", st->target);
                c.nums[0] = st->kind == STEP_SPAWN ? st->script : -1;
            }
            do_call(run, &c);
        }
    }
    if (outcome < 0)
        outcome = inst->last_outcome; /* steps exhausted: the last outcome again */
    inst->last_outcome = outcome;
    const struct oracle_step *st = &sc->steps[outcome];
    int64_t packed = 0;
    struct oracle_result r;
    switch (st->kind) {
    case STEP_PENDING:
        fprintf(run->out, "%s: pending\n", inst->name);
        break;
    case STEP_READY:
        packed = pack(1, st->a);
        fprintf(run->out, "%s: ready %lld\n", inst->name, (long long)st->a);
        break;
    case STEP_BAD_STATUS:
        packed = pack(st->a, st->b);
        fprintf(run->out, "%s: bad-status %lld %lld\n", inst->name, (long long)st->a,
                (long long)st->b);
        break;
    case STEP_WAIT_READ:
    case STEP_WAIT_WRITE:
        r = st->kind == STEP_WAIT_READ ? e->wait_read(run, inst, (int)st->a)
                                       : e->wait_write(run, inst, (int)st->a);
        fprintf(run->out, "call %s %lld", st->kind == STEP_WAIT_READ ? "wait-read" : "wait-write",
                (long long)st->a);
        print_result(run, r);
        fprintf(run->out, "%s: %s %lld\n", inst->name,
                st->kind == STEP_WAIT_READ ? "wait-read" : "wait-write", (long long)st->a);
        break;
    default: /* STEP_SLEEP, the last outcome: an outcome is never an action */
        r = e->sleep(run, inst, st->a);
        fprintf(run->out, "call sleep %lld", (long long)st->a);
        print_result(run, r);
        fprintf(run->out, "%s: sleep %lld\n", inst->name, (long long)st->a);
        break;
    }
    run->current = outer;
    return packed;
}

int oracle_run_scenario(const struct oracle_scenario *scn, const struct oracle_engine *engine,
                        FILE *out)
{
    struct oracle_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        fprintf(stderr, "vrt-oracle: out of memory\n");
        return -1;
    }
    run->scn = scn;
    run->engine = engine;
    run->out = out;
    if (engine->open(run) != 0) {
        free(run);
        return -1;
    }
    for (int i = 0; i < scn->call_count && !run->failed; i++) {
        do_call(run, &scn->calls[i]);
        status_lines(run);
    }
    engine->close(run);
    int rc = run->failed ? -1 : 0;
    free(run);
    return rc;
}

char *oracle_run_to_string(const struct oracle_scenario *scn, const struct oracle_engine *engine,
                           size_t *len, int *rc)
{
    char *buf = NULL;
    /* open_memstream and its fclose fail only when libc cannot allocate,
     * and libc's own allocations are beyond coverage/oracle_alloc_fail.c */
    FILE *f = open_memstream(&buf, len);
    if (f == NULL) { /* GCOVR_EXCL_START: see above */
        perror("vrt-oracle: open_memstream");
        return NULL;
    } /* GCOVR_EXCL_STOP */
    *rc = oracle_run_scenario(scn, engine, f);
    if (fclose(f) != 0) { /* GCOVR_EXCL_START: see above */
        free(buf);
        return NULL;
    } /* GCOVR_EXCL_STOP */
    return buf;
}

const char *oracle_call_op(const struct oracle_call *c, enum oracle_call_target *target)
{
    static const struct {
        const char *prefix;
        enum oracle_call_target target;
    } prefixes[] = {{"null-fn ", ORACLE_CALL_NULL_FN},
                    {"null ", ORACLE_CALL_NULL_SELF},
                    {"loop ", ORACLE_CALL_LOOP}};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t len = strlen(prefixes[i].prefix);
        if (strncmp(c->op, prefixes[i].prefix, len) == 0) {
            *target = prefixes[i].target;
            return c->op + len;
        }
    }
    *target = ORACLE_CALL_PLAIN;
    return c->op;
}
