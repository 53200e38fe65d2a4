/*
 * fuzz_ops: bytes are a sequence of operations on the real vrt API.
 *
 * One input drives a Runtime, a ReactorRuntime, a TaskGroup (with
 * max_concurrency and cancel_on_error), ScopedTasks, the global runtime
 * and an EventLoop of its own, with two real pipes and 0-1 ms timers.
 * Tasks follow scripts taken from the input: yield, return Ready (negative
 * values are group errors), wait on a pipe or a tiny timer, spawn, abort,
 * re-enter their runtime.  Host operations include bad inputs (NULL
 * selves, bad fds, out-of-range indexes, stale handles) and an allocator
 * that fails the Nth allocation or all of them.
 *
 * After every operation, and inside every poll, the invariants of every
 * live runtime are checked (vrt_runtime_check, vrt_reactor_runtime_check)
 * and each call's result is held to its documented contract: success
 * values, and on failure the documented errno with nothing changed.
 * Anything else aborts.  At the end of an input everything is released
 * and the harness checks that no allocation and no fd outlived it.
 *
 * Hangs are impossible by construction: a script is at most 8 steps and
 * then Ready; a task that waits for a pipe to be readable first writes a
 * byte to it, and nothing reads the pipes until the input is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- failures ------------------------------------------------------------ */

static void die(const char *what, int line)
{
    fprintf(stderr, "fuzz_ops: line %d: %s (errno %d)\n", line, what, errno);
    abort();
}

#define REQUIRE(cond) \
    do { \
        if (!(cond)) \
            die(#cond, __LINE__); \
    } while (0)

static int errno_among(int err, const int *allowed)
{
    for (; *allowed != 0; allowed++)
        if (err == *allowed)
            return 1;
    return 0;
}

/* A failed call: its documented error value and one of its errnos. */
#define REQUIRE_FAILED(rc, bad, ...) \
    REQUIRE((rc) == (bad) && errno_among(errno, (const int[]){__VA_ARGS__, 0}))

/* ---- the input ----------------------------------------------------------- */

static const uint8_t *g_data;
static size_t g_size, g_pos;

static int more(void)
{
    return g_pos < g_size;
}

static uint8_t next_byte(void)
{
    return g_pos < g_size ? g_data[g_pos++] : 0;
}

/* ---- the allocator that fails on demand ---------------------------------- */

static long g_outstanding;  /* blocks handed out and not yet released */
static long g_refused;      /* allocations refused so far */
static int g_fail_countdown; /* > 0: the countdown-th allocation fails */
static int g_fail_all;

static void *fuzz_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (g_fail_all || (g_fail_countdown > 0 && --g_fail_countdown == 0)) {
        g_refused++;
        return NULL;
    }
    void *block = malloc(size);
    if (block != NULL)
        g_outstanding++;
    return block;
}

static void fuzz_release(void *ctx, void *block)
{
    (void)ctx;
    REQUIRE(block != NULL);
    g_outstanding--;
    free(block);
}

static const vrt_allocator_t fuzz_allocator = {fuzz_alloc, fuzz_release, NULL};

/* ---- the world of one input ---------------------------------------------- */

enum host { ON_RUNTIME, ON_REACTOR, ON_GROUP, ON_GLOBAL, ON_SCOPED, HOSTS };

#define SCRIPT_STEPS 8
#define MAX_TASKS 192 /* task records per input: bounds every spawn chain */
#define SLOTS 16      /* handles kept for handle operations */

struct task {
    uint8_t steps[SCRIPT_STEPS];
    int step_count, pc;
    enum host host;
    int32_t last_ready; /* the value of its Ready */
    int finished;
};

struct slot {
    vrt_join_handle_t handle; /* {-1, NULL} when empty */
    vrt_join_handle_t stale;  /* a copy kept after release */
    enum host host;
    int has_stale;
};

static struct world {
    vrt_runtime_t rt;
    vrt_reactor_runtime_t reactor;
    int reactor_made;
    vrt_task_group_t group;
    vrt_scoped_task_t scoped;
    vrt_event_loop_t loop;
    int loop_made;
    vrt_task_node_t placeholder; /* the task of the loop's registrations */
    int pipes[2][2];
    int closed_fd; /* an fd number known to be closed */
    int task_count;
    struct task tasks[MAX_TASKS];
    struct slot slots[SLOTS];
    int next_slot;
    int in_poll; /* depth of polls in progress */
} w;

static vrt_runtime_t *global_runtime_if_made(void);

/* Every live runtime's invariants hold. */
static void check_all(void)
{
    REQUIRE(vrt_runtime_check(&w.rt) == 0);
    if (w.reactor_made && w.reactor.event_loop != NULL)
        REQUIRE(vrt_reactor_runtime_check(&w.reactor) == 0);
    if (w.group.core != NULL)
        REQUIRE(vrt_runtime_check(w.group.core) == 0);
    vrt_runtime_t *g = global_runtime_if_made();
    if (g != NULL)
        REQUIRE(vrt_runtime_check(g) == 0);
    REQUIRE(w.group.completed_count >= 0 && w.group.completed_count <= w.group.task_count);
    REQUIRE(vrt_task_group_is_done(&w.group) ==
            (w.group.completed_count == w.group.task_count));
}

static int g_global_used;

static vrt_runtime_t *global_runtime_if_made(void)
{
    return g_global_used ? vrt_get_runtime() : NULL;
}

/* A pipe end or a bad fd (negative, too large, not open). */
static int fd_of_choice(uint8_t b)
{
    switch (b % 8) {
    case 0: case 1: return w.pipes[b % 2][0];
    case 2: case 3: return w.pipes[b % 2][1];
    case 4: return -1;
    case 5: return 1 << 20;
    case 6: return w.closed_fd;
    default: return w.pipes[0][1];
    }
}

/* A write end (always writable: pipes never fill here) or a bad fd. */
static int writable_fd_of_choice(uint8_t b)
{
    int fd = fd_of_choice(b);
    return fd == w.pipes[0][0] || fd == w.pipes[1][0] ? w.pipes[b % 2][1] : fd;
}

/* ---- tasks ----------------------------------------------------------------- */

static int64_t task_poll(int64_t future_ptr);

/* A new task record with the given steps; -1 when the input used them all. */
static int new_task(enum host host, const uint8_t *steps, int count)
{
    if (w.task_count >= MAX_TASKS)
        return -1;
    int t = w.task_count++;
    struct task *k = &w.tasks[t];
    memset(k, 0, sizeof *k);
    k->host = host;
    k->step_count = count > SCRIPT_STEPS ? SCRIPT_STEPS : count;
    if (k->step_count > 0)
        memcpy(k->steps, steps, (size_t)k->step_count);
    return t;
}

/* A task whose script comes from the input: a length byte, then steps. */
static int task_from_input(enum host host)
{
    uint8_t steps[SCRIPT_STEPS];
    int count = next_byte() % (SCRIPT_STEPS + 1);
    for (int i = 0; i < count; i++)
        steps[i] = next_byte();
    return new_task(host, steps, count);
}

static void keep_handle(vrt_join_handle_t h, enum host host)
{
    struct slot *s = &w.slots[w.next_slot++ % SLOTS];
    s->handle = h;
    s->host = host;
    s->has_stale = 0;
}

static vrt_runtime_t *core_of(enum host host)
{
    switch (host) {
    case ON_RUNTIME: return &w.rt;
    case ON_REACTOR: return &w.reactor.core;
    case ON_GLOBAL: return vrt_get_runtime();
    default: return NULL;
    }
}

/* Spawns task t on its host and checks the result against the contract. */
static void spawn_checked(int t)
{
    if (t < 0)
        return;
    enum host host = w.tasks[t].host;
    if (host == ON_GROUP || host == ON_SCOPED) {
        vrt_task_group_t *g = host == ON_GROUP ? &w.group : w.scoped.group;
        int64_t total = g != NULL ? g->task_count : 0;
        long refused = g_refused;
        errno = 0;
        int64_t index = host == ON_GROUP ? vrt_task_group_spawn(g, t, task_poll)
                                         : vrt_scoped_task_spawn(&w.scoped, t, task_poll);
        if (index >= 0) {
            REQUIRE(g != NULL && index == total && g->task_count == total + 1);
        } else if (g == NULL) {
            REQUIRE_FAILED(index, -1, EINVAL);
        } else {
            REQUIRE(g->task_count == total);
            if (errno == ENOMEM)
                REQUIRE(g_refused > refused);
            else if (errno == ECANCELED)
                REQUIRE(g->cancelled);
            else
                REQUIRE_FAILED(index, -1, EAGAIN);
        }
        return;
    }
    if (host == ON_GLOBAL)
        g_global_used = 1;
    vrt_runtime_t *core = core_of(host);
    int64_t live = core->task_count, next_id = core->next_task_id;
    int64_t limit = vrt_runtime_max_tasks(core);
    long refused = g_refused;
    errno = 0;
    vrt_join_handle_t h = host == ON_RUNTIME   ? vrt_runtime_spawn(&w.rt, t, task_poll)
                          : host == ON_REACTOR ? vrt_reactor_runtime_spawn(&w.reactor, t, task_poll)
                                               : vrt_spawn(t, task_poll);
    if (h.task_id >= 0) {
        REQUIRE(h.task_id == next_id && h.task_ptr != NULL);
        REQUIRE(core->task_count == live + 1 && core->task_count <= limit);
        REQUIRE(vrt_join_handle_status(&h) == VRT_TASK_PENDING);
        keep_handle(h, host);
        return;
    }
    REQUIRE(h.task_ptr == NULL && core->task_count == live && core->next_task_id == next_id);
    if (errno == EAGAIN)
        REQUIRE(live >= limit);
    else if (errno == ENOMEM)
        REQUIRE(g_refused > refused);
    else if (errno == EINVAL)
        REQUIRE(host == ON_REACTOR && w.reactor.event_loop == NULL);
    else
        REQUIRE_FAILED(h.task_id, -1, EOVERFLOW);
}

static int64_t wait_fd(enum host host, int fd, int writable)
{
    if (host == ON_REACTOR)
        return writable ? vrt_reactor_runtime_wait_writable(&w.reactor, fd)
                        : vrt_reactor_runtime_wait_readable(&w.reactor, fd);
    return writable ? vrt_wait_writable(fd) : vrt_wait_readable(fd);
}

static int64_t sleep_on(enum host host, int64_t ms)
{
    return host == ON_REACTOR ? vrt_reactor_runtime_sleep_ms(&w.reactor, ms) : vrt_sleep_ms(ms);
}

/* Re-entering the runtime a task runs on is EBUSY. */
static void reenter(enum host host)
{
    errno = 0;
    switch (host) {
    case ON_RUNTIME:
        REQUIRE_FAILED(vrt_runtime_run(&w.rt), -1, EBUSY);
        REQUIRE_FAILED(vrt_runtime_free(&w.rt), -1, EBUSY);
        break;
    case ON_REACTOR:
        REQUIRE_FAILED(vrt_reactor_runtime_run(&w.reactor), -1, EBUSY);
        REQUIRE_FAILED(vrt_reactor_runtime_free(&w.reactor), -1, EBUSY);
        break;
    case ON_GROUP:
        REQUIRE_FAILED(vrt_task_group_run(&w.group), -1, EBUSY);
        REQUIRE_FAILED(vrt_task_group_cleanup(&w.group), -1, EBUSY);
        break;
    case ON_GLOBAL:
        REQUIRE_FAILED(vrt_run_all(), -1, EBUSY);
        break;
    default:
        break;
    }
    REQUIRE_FAILED(vrt_shutdown(), -1, EBUSY);
}

/* Steps, one byte each: the low 4 bits choose, the high 4 are an argument. */
enum { S_PENDING, S_READY, S_ERROR, S_BAD_STATUS, S_WAIT_READ, S_WAIT_WRITE,
       S_SLEEP, S_SPAWN, S_ABORT, S_REENTER, S_CANCEL, S_CHECK, S_KINDS };

static int64_t task_poll(int64_t future_ptr)
{
    REQUIRE(future_ptr >= 0 && future_ptr < w.task_count);
    struct task *k = &w.tasks[future_ptr];
    REQUIRE(!k->finished);
    int caller_errno = errno; /* what the poll does must not show in errno */
    w.in_poll++;
    check_all();
    int64_t result = 0;
    for (;;) {
        if (k->pc >= k->step_count) {
            k->last_ready = (int32_t)future_ptr;
            result = vrt_poll_ready(k->last_ready);
            break;
        }
        uint8_t step = k->steps[k->pc++];
        int arg = step >> 4;
        int outcome = 1;
        switch (step % S_KINDS) {
        case S_PENDING:
            result = vrt_poll_pending();
            break;
        case S_READY:
        case S_ERROR:
            k->last_ready = step % S_KINDS == S_READY ? arg : -1 - arg;
            result = vrt_poll_ready(k->last_ready);
            break;
        case S_BAD_STATUS:
            result = (int64_t)(((uint64_t)(arg + 2) << 32) | 7u); /* Pending (D9) */
            break;
        case S_WAIT_READ: {
            int p = arg & 1;
            ssize_t n = write(w.pipes[p][1], "x", 1);
            REQUIRE(n == 1);
            errno = 0;
            int64_t rc = wait_fd(k->host, w.pipes[p][0], 0);
            if (rc != 0)
                REQUIRE_FAILED(rc, -1, EINVAL, EBUSY, ENOMEM);
            result = vrt_poll_pending();
            break;
        }
        case S_WAIT_WRITE: {
            errno = 0;
            int64_t rc = wait_fd(k->host, writable_fd_of_choice((uint8_t)arg), 1);
            if (rc != 0)
                REQUIRE_FAILED(rc, -1, EINVAL, EBUSY, ENOMEM, EBADF);
            result = vrt_poll_pending();
            break;
        }
        case S_SLEEP: {
            errno = 0;
            int64_t rc = sleep_on(k->host, arg == 15 ? -1 : arg & 1);
            if (rc < 0)
                REQUIRE_FAILED(rc, -1, EINVAL, ENOMEM);
            else
                REQUIRE(rc >= 1000);
            result = vrt_poll_pending();
            break;
        }
        case S_SPAWN:
            /* the child runs what follows this step: shorter each time */
            spawn_checked(new_task(k->host, k->steps + k->pc, k->step_count - k->pc));
            outcome = 0;
            break;
        case S_ABORT: {
            struct slot *s = &w.slots[arg % SLOTS];
            if (s->handle.task_ptr != NULL) {
                errno = 0;
                int64_t rc = vrt_join_handle_abort(&s->handle);
                REQUIRE(rc == 0 || rc == 1);
                if (rc == 1)
                    REQUIRE(vrt_join_handle_status(&s->handle) == VRT_TASK_CANCELLED);
            }
            outcome = 0;
            break;
        }
        case S_REENTER:
            reenter(k->host);
            outcome = 0;
            break;
        case S_CANCEL:
            if (k->host == ON_GROUP) {
                int64_t n = (arg & 1) ? vrt_task_group_cancel(&w.group)
                                      : vrt_task_group_cancel_remaining(&w.group);
                REQUIRE(n >= 0);
            }
            outcome = 0;
            break;
        default:
            check_all();
            outcome = 0;
            break;
        }
        if (outcome)
            break;
    }
    if (vrt_poll_is_ready(result))
        k->finished = 1;
    check_all();
    w.in_poll--;
    errno = caller_errno;
    return result;
}

/* ---- host operations --------------------------------------------------------- */

/* After a run to completion: every task of the runtime has finished. */
static void runs_to_completion(enum host host)
{
    long refused = g_refused;
    errno = 0;
    int64_t rc;
    switch (host) {
    case ON_RUNTIME:
        REQUIRE(vrt_runtime_run(&w.rt) == 0 && w.rt.task_count == 0);
        break;
    case ON_REACTOR:
        rc = vrt_reactor_runtime_run(&w.reactor);
        if (w.reactor.event_loop == NULL)
            REQUIRE_FAILED(rc, -1, EINVAL);
        else
            REQUIRE(rc == 0 && w.reactor.task_count == 0);
        break;
    case ON_GROUP:
        rc = vrt_task_group_run(&w.group);
        if (rc == -1) {
            REQUIRE_FAILED(rc, -1, ENOMEM);
            REQUIRE(g_refused > refused);
        } else {
            REQUIRE(rc == (w.group.erred || w.group.cancelled));
            REQUIRE(vrt_task_group_is_done(&w.group) == 1);
        }
        break;
    case ON_GLOBAL:
        g_global_used = 1;
        REQUIRE(vrt_run_all() == 0 && vrt_get_runtime()->task_count == 0);
        break;
    case ON_SCOPED:
        rc = vrt_scoped_task_run_and_cleanup(&w.scoped);
        if (rc == -1)
            REQUIRE(errno == EINVAL || (errno == ENOMEM && g_refused > refused));
        else
            REQUIRE(rc == 0 || rc == 1);
        REQUIRE(w.scoped.group == NULL);
        break;
    default:
        break;
    }
}

static void block_on_checked(enum host host)
{
    int t = task_from_input(host);
    if (t < 0 || (host != ON_RUNTIME && host != ON_REACTOR))
        return;
    errno = 0;
    int64_t v = host == ON_RUNTIME ? vrt_runtime_block_on(&w.rt, t, task_poll)
                                   : vrt_reactor_runtime_block_on(&w.reactor, t, task_poll);
    if (host == ON_REACTOR && w.reactor.event_loop == NULL) {
        REQUIRE_FAILED(v, -1, EINVAL);
        return;
    }
    if (v == -1 && errno == ENOMEM) {
        REQUIRE(g_refused > 0);
        return;
    }
    REQUIRE(w.tasks[t].finished && v == w.tasks[t].last_ready);
    if (v == -1)
        REQUIRE(errno == 0);
}

static void handle_op(uint8_t b)
{
    struct slot *s = &w.slots[(b >> 3) % SLOTS];
    vrt_join_handle_t *h = &s->handle;
    if (h->task_ptr == NULL) {
        if (s->has_stale) { /* a released handle: every operation is EINVAL */
            errno = 0;
            REQUIRE(vrt_join_handle_is_valid(&s->stale) == 0);
            REQUIRE_FAILED(vrt_join_handle_status(&s->stale), -1, EINVAL);
            REQUIRE_FAILED(vrt_join_handle_result(&s->stale), -1, EINVAL);
            REQUIRE_FAILED(vrt_join_handle_abort(&s->stale), -1, EINVAL);
            REQUIRE_FAILED(vrt_join_handle_release(&s->stale), -1, EINVAL);
        }
        return;
    }
    REQUIRE(vrt_join_handle_is_valid(h) == 1);
    int64_t status = vrt_join_handle_status(h);
    REQUIRE(status >= VRT_TASK_PENDING && status <= VRT_TASK_CANCELLED);
    REQUIRE(vrt_task_node_is_completed(h->task_ptr) == (status == VRT_TASK_COMPLETED));
    REQUIRE(vrt_task_node_is_pending(h->task_ptr) == (status == VRT_TASK_PENDING));
    errno = 0;
    switch (b % 4) {
    case 0: {
        int64_t v = vrt_join_handle_result(h);
        if (status == VRT_TASK_COMPLETED)
            REQUIRE(errno == 0 && v == w.tasks[h->task_ptr->future_ptr].last_ready);
        else if (status == VRT_TASK_CANCELLED)
            REQUIRE_FAILED(v, -1, ECANCELED);
        else
            REQUIRE_FAILED(v, -1, EINPROGRESS);
        break;
    }
    case 1: {
        int64_t rc = vrt_join_handle_abort(h);
        int finished = status == VRT_TASK_COMPLETED || status == VRT_TASK_CANCELLED;
        REQUIRE(rc == !finished);
        REQUIRE(vrt_join_handle_status(h) == (finished ? status : VRT_TASK_CANCELLED));
        break;
    }
    case 2:
        s->stale = *h;
        REQUIRE(vrt_join_handle_release(h) == 0);
        REQUIRE(h->task_id == -1 && h->task_ptr == NULL);
        s->has_stale = 1;
        break;
    default:
        break;
    }
}

/* A released runtime's handles must not be used again. */
static void forget_handles(enum host host)
{
    for (int i = 0; i < SLOTS; i++)
        if (w.slots[i].host == host) {
            w.slots[i].handle = vrt_join_handle_new(-1, NULL);
            w.slots[i].has_stale = 0;
        }
}

static void limits_op(uint8_t b)
{
    static const int64_t limits[] = {1, 2, 3, 4, 0, -1, VRT_MAX_TASKS, VRT_MAX_TASKS_LIMIT + 1};
    int64_t limit = limits[(b >> 2) % 8];
    vrt_runtime_t *core = (b & 1) ? &w.rt : &w.reactor.core;
    int64_t before = vrt_runtime_max_tasks(core);
    errno = 0;
    int64_t rc = vrt_runtime_set_max_tasks(core, limit);
    if (limit >= 1 && limit <= VRT_MAX_TASKS_LIMIT && limit >= core->task_count) {
        REQUIRE(rc == 0 && vrt_runtime_max_tasks(core) == limit);
    } else {
        REQUIRE_FAILED(rc, -1, EINVAL);
        REQUIRE(vrt_runtime_max_tasks(core) == before);
    }
}

static void group_op(uint8_t b)
{
    vrt_task_group_t *g = &w.group;
    int64_t arg = (int64_t)(b >> 3) - 2;
    errno = 0;
    switch (b % 8) {
    case 0:
        if (arg < 0)
            REQUIRE_FAILED(vrt_task_group_set_max_concurrency(g, arg), -1, EINVAL);
        else
            REQUIRE(vrt_task_group_set_max_concurrency(g, arg) == 0 && g->max_concurrency == arg);
        break;
    case 1:
        REQUIRE(vrt_task_group_set_cancel_on_error(g, arg) == 0);
        REQUIRE(g->cancel_on_error == (arg != 0));
        break;
    case 2: {
        int64_t unfinished = g->task_count - g->completed_count;
        REQUIRE(vrt_task_group_cancel(g) == unfinished && vrt_task_group_is_cancelled(g) == 1);
        break;
    }
    case 3: {
        int64_t unfinished = g->task_count - g->completed_count;
        REQUIRE(vrt_task_group_cancel_remaining(g) == unfinished);
        break;
    }
    case 4:
        REQUIRE(vrt_task_group_cleanup(g) == 0);
        REQUIRE(vrt_task_group_total(g) == 0 && vrt_task_group_completed(g) == 0);
        REQUIRE(vrt_task_group_is_cancelled(g) == 0);
        break;
    default: {
        int64_t total = vrt_task_group_total(g);
        int64_t index = arg < 0 ? arg : total - 1 + arg % 3; /* around the end */
        int in_range = index >= 0 && index < total;
        int64_t value = vrt_task_group_result(g, index);
        int64_t erred = vrt_task_group_has_error(g, index);
        int64_t status = vrt_task_group_task_status(g, index);
        if (!in_range) {
            REQUIRE(value == 0 && erred == 0 && status == -1 && errno == ERANGE);
            break;
        }
        REQUIRE(errno == 0 && status >= VRT_TASK_PENDING && status <= VRT_TASK_CANCELLED);
        REQUIRE(erred == (status == VRT_TASK_COMPLETED && value < 0));
        if (status != VRT_TASK_COMPLETED)
            REQUIRE(value == 0);
        break;
    }
    }
}

/* NULL selves, NULL poll functions and out-of-range arguments: the
 * documented error value and EINVAL, ERANGE or EBADF. */
static void bad_input_op(uint8_t b)
{
    static vrt_join_handle_t invalid = {-1, NULL};
    errno = 0;
    switch (b % 16) {
    case 0:
        REQUIRE(vrt_runtime_spawn(NULL, 0, task_poll).task_id == -1 && errno == EINVAL);
        break;
    case 1:
        REQUIRE(vrt_runtime_spawn(&w.rt, 0, NULL).task_ptr == NULL && errno == EINVAL);
        break;
    case 2:
        REQUIRE_FAILED(vrt_runtime_run(NULL), -1, EINVAL);
        REQUIRE_FAILED(vrt_runtime_block_on(&w.rt, 0, NULL), -1, EINVAL);
        break;
    case 3:
        REQUIRE_FAILED(vrt_join_handle_status(&invalid), -1, EINVAL);
        REQUIRE_FAILED(vrt_join_handle_abort(NULL), -1, EINVAL);
        REQUIRE(vrt_join_handle_is_valid(NULL) == 0);
        break;
    case 4:
        REQUIRE_FAILED(vrt_task_group_spawn(&w.group, 0, NULL), -1, EINVAL);
        REQUIRE_FAILED(vrt_task_group_run(NULL), -1, EINVAL);
        break;
    case 5:
        REQUIRE_FAILED(vrt_runtime_set_max_tasks(NULL, 4), -1, EINVAL);
        REQUIRE_FAILED(vrt_runtime_check(NULL), -1, EINVAL);
        break;
    case 6: /* not in a poll */
        REQUIRE_FAILED(vrt_wait_readable(w.pipes[0][0]), -1, EINVAL);
        REQUIRE_FAILED(vrt_sleep_ms(0), -1, EINVAL);
        break;
    case 7:
        REQUIRE_FAILED(vrt_reactor_runtime_wait_writable(&w.reactor, w.pipes[0][1]), -1, EINVAL);
        REQUIRE_FAILED(vrt_reactor_runtime_sleep_ms(NULL, 1), -1, EINVAL);
        break;
    case 8:
        REQUIRE(vrt_task_group_result(NULL, 0) == 0 && errno == EINVAL);
        REQUIRE_FAILED(vrt_task_group_set_max_concurrency(&w.group, -1), -1, EINVAL);
        break;
    case 9:
        REQUIRE_FAILED(vrt_event_loop_register_read(NULL, w.pipes[0][0], &w.placeholder), -1, EINVAL);
        REQUIRE(vrt_event_loop_find_task_for_fd(NULL, 0) == NULL && errno == EINVAL);
        break;
    case 10:
        REQUIRE_FAILED(vrt_task_node_is_completed(NULL), -1, EINVAL);
        REQUIRE_FAILED(vrt_set_allocator(&(vrt_allocator_t){NULL, fuzz_release, NULL}), -1, EINVAL);
        break;
    case 11:
        REQUIRE(vrt_reactor_runtime_spawn(NULL, 0, task_poll).task_id == -1 && errno == EINVAL);
        REQUIRE(vrt_reactor_runtime_get_event_loop(NULL) == NULL);
        break;
    case 12:
        REQUIRE_FAILED(vrt_scoped_task_spawn(NULL, 0, task_poll), -1, EINVAL);
        REQUIRE_FAILED(vrt_task_group_cleanup(NULL), -1, EINVAL);
        break;
    case 13:
        REQUIRE_FAILED(vrt_event_loop_poll_events(NULL, 0), -1, EINVAL);
        REQUIRE_FAILED(vrt_event_loop_cleanup(NULL), -1, EINVAL);
        break;
    case 14:
        REQUIRE_FAILED(vrt_reactor_runtime_check(NULL), -1, EINVAL);
        REQUIRE_FAILED(vrt_task_group_task_status(NULL, 0), -1, EINVAL);
        break;
    default:
        REQUIRE(vrt_spawn(0, NULL).task_id == -1 && errno == EINVAL);
        break;
    }
}

static void alloc_op(uint8_t b)
{
    if (b & 1) {
        g_fail_all = (b >> 1) & 1;
        g_fail_countdown = 0;
    } else {
        g_fail_all = 0;
        g_fail_countdown = b >> 1; /* 0 turns it off */
    }
}

/* The loop of the input's own: registrations for a placeholder task,
 * polled without blocking, never dispatched. */
static void loop_op(uint8_t b)
{
    vrt_event_loop_t *loop = &w.loop;
    if (!w.loop_made) {
        long refused = g_refused;
        errno = 0;
        w.loop = vrt_event_loop_new();
        if (w.loop.kq == -1) {
            REQUIRE(errno == ENOMEM && g_refused > refused);
            REQUIRE(w.loop.waker_read_fd == -1 && w.loop.waker_write_fd == -1);
            return;
        }
        w.loop_made = 1;
    }
    int fd = fd_of_choice(b >> 4);
    int bad_fd = fd < 0 || fd == (1 << 20) || fd == w.closed_fd;
    long refused = g_refused;
    errno = 0;
    int64_t rc;
    switch (b % 8) {
    case 0:
    case 1:
        rc = (b & 1) ? vrt_event_loop_register_write(loop, fd, &w.placeholder)
                     : vrt_event_loop_register_read(loop, fd, &w.placeholder);
        if (bad_fd)
            REQUIRE_FAILED(rc, -1, EBADF);
        else if (rc != 0)
            REQUIRE(errno == ENOMEM && g_refused > refused);
        if (rc == 0)
            REQUIRE(vrt_event_loop_find_task_for_fd(loop, fd) == &w.placeholder);
        break;
    case 2:
        rc = vrt_event_loop_register_timer(loop, b >> 4, (b >> 6) - 1, &w.placeholder);
        if ((b >> 6) == 0)
            REQUIRE_FAILED(rc, -1, EINVAL);
        else if (rc != 0)
            REQUIRE(errno == ENOMEM && g_refused > refused);
        break;
    case 3: {
        static const int64_t filters[] = {VRT_EVFILT_READ, VRT_EVFILT_WRITE, VRT_EVFILT_TIMER, 5};
        int64_t filter = filters[(b >> 3) & 3];
        rc = vrt_event_loop_deregister(loop, filter == VRT_EVFILT_TIMER ? b >> 4 : fd, filter);
        if (filter == 5)
            REQUIRE_FAILED(rc, -1, EINVAL);
        else
            REQUIRE(rc == 0 || rc == 1);
        break;
    }
    case 4: {
        int64_t sources = loop->source_count;
        rc = vrt_event_loop_poll_events(loop, 0);
        REQUIRE(rc >= 0 && rc <= VRT_MAX_EVENTS);
        REQUIRE(loop->source_count <= sources);
        int64_t index = (int64_t)(b >> 4) - 1;
        errno = 0;
        int64_t efd = vrt_event_loop_event_fd(loop, index);
        int64_t filter = vrt_event_loop_event_filter(loop, index);
        if (index < 0 || index >= rc)
            REQUIRE(efd == -1 && filter == -1 && errno == ERANGE);
        else
            REQUIRE(filter == VRT_EVFILT_READ || filter == VRT_EVFILT_WRITE ||
                    filter == VRT_EVFILT_TIMER);
        break;
    }
    case 5:
        REQUIRE(vrt_event_loop_wake(loop) == 0);
        break;
    case 6:
        if (fd < 0)
            REQUIRE(vrt_event_loop_find_task_for_fd(loop, fd) == NULL && errno == EBADF);
        break;
    default:
        REQUIRE(vrt_event_loop_cleanup(loop) == 0);
        REQUIRE(vrt_event_loop_cleanup(loop) == 0); /* twice is a no-op */
        w.loop_made = 0;
        break;
    }
}

static void make_reactor(void)
{
    long refused = g_refused;
    errno = 0;
    w.reactor = vrt_reactor_runtime_new();
    w.reactor_made = 1;
    if (w.reactor.event_loop == NULL)
        REQUIRE(errno == ENOMEM && g_refused > refused);
}

static void lifecycle_op(uint8_t b)
{
    errno = 0;
    switch (b % 6) {
    case 0:
        REQUIRE(vrt_runtime_free(&w.rt) == 0 && w.rt.task_count == 0 && w.rt.slabs == NULL);
        REQUIRE(vrt_runtime_free(&w.rt) == 0);
        forget_handles(ON_RUNTIME);
        break;
    case 1:
        REQUIRE(vrt_reactor_runtime_free(&w.reactor) == 0);
        forget_handles(ON_REACTOR);
        make_reactor();
        break;
    case 2:
        if (w.scoped.group == NULL) {
            long refused = g_refused;
            w.scoped = vrt_scoped_task_new();
            if (w.scoped.group == NULL)
                REQUIRE(errno == ENOMEM && g_refused > refused);
        }
        break;
    case 3:
        if (w.group.task_count == 0 && w.scoped.group == NULL) {
            int64_t rc = vrt_shutdown();
            REQUIRE(rc == 0);
            forget_handles(ON_GLOBAL);
            g_global_used = 0;
        }
        break;
    case 4:
        REQUIRE(vrt_runtime_init() == vrt_get_runtime());
        g_global_used = 1;
        break;
    default: {
        /* ids at their end: the next spawn but one is EOVERFLOW */
        vrt_runtime_t *core = (b & 8) ? &w.rt : &w.reactor.core;
        if (core->next_task_id < INT64_MAX - 1)
            core->next_task_id = INT64_MAX - 1 - (b >> 4 & 1);
        break;
    }
    }
}

static enum host host_of(uint8_t b)
{
    return (enum host)(b % HOSTS);
}

static void host_op(uint8_t op)
{
    uint8_t arg = next_byte();
    switch (op % 11) {
    case 0:
    case 1:
        spawn_checked(task_from_input(host_of(arg)));
        break;
    case 2:
        runs_to_completion(host_of(arg));
        break;
    case 3:
        block_on_checked((arg & 1) ? ON_REACTOR : ON_RUNTIME);
        break;
    case 4:
        handle_op(arg);
        break;
    case 5:
        limits_op(arg);
        break;
    case 6:
        group_op(arg);
        break;
    case 7:
        bad_input_op(arg);
        break;
    case 8:
        alloc_op(arg);
        break;
    case 9:
        loop_op(arg);
        break;
    default:
        lifecycle_op(arg);
        break;
    }
}

/* ---- one input ------------------------------------------------------------- */

static void open_pipes(void)
{
    for (int p = 0; p < 2; p++) {
        REQUIRE(pipe(w.pipes[p]) == 0);
        for (int end = 0; end < 2; end++)
            REQUIRE(fcntl(w.pipes[p][end], F_SETFL, O_NONBLOCK) == 0);
    }
    for (w.closed_fd = 1000; fcntl(w.closed_fd, F_GETFD) != -1; w.closed_fd++)
        continue;
}

/* Everything released: runtimes, groups, the loop, the global instances. */
static void tear_down(void)
{
    g_fail_all = 0;
    g_fail_countdown = 0;
    if (w.scoped.group != NULL)
        runs_to_completion(ON_SCOPED);
    REQUIRE(vrt_task_group_cleanup(&w.group) == 0);
    REQUIRE(vrt_runtime_free(&w.rt) == 0);
    REQUIRE(vrt_reactor_runtime_free(&w.reactor) == 0);
    if (w.loop_made)
        REQUIRE(vrt_event_loop_cleanup(&w.loop) == 0);
    REQUIRE(vrt_shutdown() == 0);
    REQUIRE(vrt_set_allocator(NULL) == 0);
    for (int p = 0; p < 2; p++)
        for (int end = 0; end < 2; end++)
            close(w.pipes[p][end]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd_mark = open("/dev/null", O_RDONLY); /* the lowest free fd */
    REQUIRE(fd_mark >= 0);
    close(fd_mark);
    memset(&w, 0, sizeof w);
    g_data = data;
    g_size = size;
    g_pos = 0;
    g_outstanding = 0;
    g_refused = 0;
    g_fail_all = 0;
    g_fail_countdown = 0;
    g_global_used = 0;
    REQUIRE(vrt_set_allocator(&fuzz_allocator) == 0);
    open_pipes();
    w.rt = vrt_runtime_new();
    w.group = vrt_task_group_new();
    w.placeholder = vrt_task_node_new(-2, 0, task_poll);
    for (int i = 0; i < SLOTS; i++)
        w.slots[i].handle = vrt_join_handle_new(-1, NULL);
    make_reactor();
    check_all();
    for (int ops = 0; more() && ops < 256; ops++) {
        host_op(next_byte());
        check_all();
    }
    tear_down();
    REQUIRE(g_outstanding == 0); /* no allocation outlived the input */
    int fd_after = open("/dev/null", O_RDONLY);
    REQUIRE(fd_after == fd_mark); /* nor any fd */
    close(fd_after);
    return 0;
}
