/*
 * The executable model: a second, deliberately simple implementation of
 * the semantics of spec/runtime.md, written from the spec (sections 6, 7,
 * 9, 10, 11) and not from vrt's code.  vrt-oracle runs every scenario on
 * vrt and on this model; the traces must be byte-identical.
 *
 * Simplicity over speed:
 *  - tasks are records in one fixed array, named by their index;
 *  - a run queue is an array of task indexes in order (removal shifts);
 *  - no kernel: pipes are byte counters, time is a simulated clock that
 *    moves only when the model would block (scenarios.md, "Determinism");
 *  - tasks are polled only through oracle_poll, which prints the trace.
 *
 * Spec references are written [7 run], [10 waits], [11 cancel], ... :
 * section number of spec/runtime.md and the point of that section.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

/* ---- constants of the spec (section 2, 4, 5, 9) ---- */

enum {
    ST_PENDING = 0,   /* VRT_TASK_PENDING */
    ST_RUNNING = 1,   /* VRT_TASK_RUNNING: while its poll runs [5] */
    ST_READY = 2,     /* VRT_TASK_READY: woken by an event, not yet polled [5] */
    ST_COMPLETED = 3, /* VRT_TASK_COMPLETED */
    ST_CANCELLED = 4  /* VRT_TASK_CANCELLED (D6) */
};

#define M_DEFAULT_MAX_TASKS INT64_C(256)      /* VRT_MAX_TASKS [4] */
#define M_MAX_TASKS_LIMIT (INT64_C(1) << 32)  /* VRT_MAX_TASKS_LIMIT [4] */
#define M_MAX_EVENTS 64                       /* VRT_MAX_EVENTS [9 poll_events] */
#define M_FIRST_TIMER_ID INT64_C(1000)        /* [10 waits: sleep_ms] */
#define M_EVFILT_READ INT64_C(-1)             /* kqueue's values [9] */
#define M_EVFILT_WRITE INT64_C(-2)
#define M_EVFILT_TIMER INT64_C(-7)
#define M_WAKER_TOKEN INT64_C(-999)           /* VRT_WAKER_TOKEN [9 wake] */

int oracle_model_kernel_order;

/* Sizes of the model's tables (scenarios are small). */
#define M_TASKS ORACLE_MAX_INSTANCES
#define M_TIMERS 512
#define M_ENTRIES ORACLE_MAX_INSTANCES

enum { DIR_READ = 0, DIR_WRITE = 1 };

/* Which scheduler a task belongs to: the host runtime or reactor, or the
 * task group's own core [11 run, D19]. */
enum { RT_HOST = 0, RT_CORE = 1 };

/* What block_on's future is doing, for a reactor turn [10 block_on]. */
enum { NO_FUTURE, FUTURE_RUNNABLE, FUTURE_PARKED };

/* ---- records ---- */

struct m_task {
    struct oracle_instance *inst;
    int rt;           /* RT_HOST or RT_CORE */
    int64_t id;       /* [7 ids]; -1 for a block_on future */
    int64_t status;   /* ST_* */
    int64_t result;   /* the sign-extended Ready value [D2] */
    int live;         /* spawned and not finished [4] */
    int queued;       /* in its runtime's run queue */
    int64_t qstamp;   /* when it was last appended: queue order */
    int parked;       /* out of the queue until a wait fires [10 waits] */
    int waiting;      /* registered a wait during the current poll */
    int released;     /* its handle was released [6 release] */
    int is_future;    /* a block_on future: no id, no slot [7 block_on] */
    int entry;        /* a group task: its entry index, else -1 */
};

/* A scheduler core (section 7): the run queue and the counts. */
struct m_runtime {
    int queue[M_TASKS];
    int queue_len;
    int64_t next_id;   /* ids count from 0 [7 ids] */
    int64_t live;      /* task_count: live tasks, parked ones included */
    int64_t parked;    /* parked_count [10] */
    int64_t max_tasks; /* 0 means the default [4] */
    int running;       /* inside run or block_on [D5] */
    int current;       /* the task being polled, or -1 */
    int has_memory;    /* took memory at a spawn since new or free [7 new] */
};

/* A timer of the loop [9 register_timer, 10 sleep_ms]. */
struct m_timer {
    int used;
    int64_t id;
    int64_t deadline; /* simulated ms */
    int64_t seq;      /* arming order: ties fire in it */
    int task;         /* -1: none */
    int is_wait;      /* armed by a wait (sleep), so one of its task's waits */
};

/* One pipe end's single waiter [10 waits: one task per fd and direction]. */
struct m_fd_wait {
    int task;  /* -1: nobody; M_LOOP_TASK: `loop register-*` */
    int64_t seq;
    int stale; /* registered before its pipe was closed: the kernel no
                * longer watches the number for it [9 stale events, D13] */
};

/* The task `loop register-read` / `register-write` name: on no runtime. */
#define M_LOOP_TASK (-2)

struct m_event {
    int64_t fd;     /* the scenario pipe number, or the timer id */
    int64_t filter; /* M_EVFILT_* */
    int task;       /* the task of the source when it was reported */
};

/* A group's TaskEntry [11]. */
struct m_entry {
    struct oracle_instance *inst;
    int64_t status; /* PENDING until finished, then COMPLETED / CANCELLED */
    int started;
    int task;       /* its task on the core, once started */
    int64_t result;
    int has_error;
};

struct model {
    struct oracle_run *run;
    enum oracle_host host;
    int pipes;

    struct m_task tasks[M_TASKS];
    int task_records;

    struct m_runtime rt;   /* the host runtime, or the reactor's core */
    struct m_runtime core; /* the group's core */

    /* The event loop (reactor host: its own; group host: the global
     * reactor's).  Simulated. */
    int64_t now;
    int64_t next_seq;
    int64_t next_timer_id;
    int pipe_bytes[ORACLE_MAX_PIPES];
    struct m_fd_wait fd_waits[ORACLE_MAX_PIPES][2];
    struct m_timer timers[M_TIMERS];
    struct m_event events[M_MAX_EVENTS];
    int event_count;
    int waker_pending; /* `loop wake` since the last poll [9 wake] */
    int loop_closed;   /* the reactor was freed: no loop [10 free] */
    int own_loop;      /* `loop new` made the loop (host runtime) [9 new] */
    int pipe_closed[ORACLE_MAX_PIPES]; /* `close P` (until `reopen P`) */
    int pipe_held[ORACLE_MAX_PIPES];   /* `hold P`: the old file lives on */

    /* scenarios.md, "Allocation": every allocation fails while set */
    int alloc_failing;
    int global_reactor; /* the global reactor exists [10 global reactor] */
    int scoped_done;    /* the ScopedTask's group is gone [11 ScopedTask] */

    /* The task group (host group). */
    struct m_entry entries[M_ENTRIES];
    int64_t total;
    int64_t completed;
    int64_t started_live;
    int cancelled;
    int erred;
    int cancel_on_error;
    int64_t max_concurrency;
    int generation; /* bumped by cleanup: older instances are gone */
};

static struct oracle_result ok(int64_t value)
{
    struct oracle_result r = {value, 0};
    return r;
}

static struct oracle_result fail(int err)
{
    struct oracle_result r = {-1, err};
    return r;
}

static struct model *model_of(struct oracle_run *run)
{
    return run->engine_state;
}

static struct m_runtime *runtime_of(struct model *m, const struct m_task *k)
{
    return k->rt == RT_CORE ? &m->core : &m->rt;
}

static void runtime_reset(struct m_runtime *rt)
{
    memset(rt, 0, sizeof *rt);
    rt->current = -1;
}

/* Hosts that are a plain Runtime (sweeps, no loop) and hosts that are a
 * task group. */
static int plain_host(const struct model *m)
{
    return m->host == ORACLE_HOST_RUNTIME || m->host == ORACLE_HOST_GLOBAL;
}

static int group_host(const struct model *m)
{
    return m->host == ORACLE_HOST_GROUP || m->host == ORACLE_HOST_SCOPED;
}

/* The global reactor, made on first use; ENOMEM while allocations fail
 * [10 global reactor]. 0, or an errno. */
static int need_global_reactor(struct model *m)
{
    if (m->global_reactor)
        return 0;
    if (m->alloc_failing)
        return ENOMEM;
    m->global_reactor = 1;
    return 0;
}

/* A fresh, empty loop: no sources, no timers, no events [9 new]. */
static void loop_reset(struct model *m)
{
    memset(m->timers, 0, sizeof m->timers);
    for (int p = 0; p < ORACLE_MAX_PIPES; p++)
        for (int d = 0; d < 2; d++) {
            m->fd_waits[p][d].task = -1;
            m->fd_waits[p][d].stale = 0;
        }
    m->event_count = 0;
    m->waker_pending = 0;
    m->next_timer_id = M_FIRST_TIMER_ID;
}

/* ---- the poll ABI (section 2) ---- */

/* Only a high half of exactly 1 is Ready [2, D9]. */
static int packed_is_ready(int64_t packed)
{
    return ((uint64_t)packed >> 32) == 1;
}

/* The low half, read as a signed 32-bit integer [2, D2]. */
static int64_t packed_value(int64_t packed)
{
    uint32_t low = (uint32_t)((uint64_t)packed & 0xFFFFFFFFu);
    return low >= 0x80000000u ? (int64_t)low - INT64_C(0x100000000) : (int64_t)low;
}

/* ---- the run queue ---- */

static void queue_append(struct model *m, struct m_runtime *rt, int t)
{
    rt->queue[rt->queue_len++] = t;
    m->tasks[t].queued = 1;
    m->tasks[t].qstamp = m->next_seq++;
}

static void queue_remove(struct m_runtime *rt, struct m_task *tasks, int t)
{
    for (int i = 0; i < rt->queue_len; i++) {
        if (rt->queue[i] != t)
            continue;
        for (int j = i; j + 1 < rt->queue_len; j++)
            rt->queue[j] = rt->queue[j + 1];
        rt->queue_len--;
        break;
    }
    tasks[t].queued = 0;
}

/* ---- waits (section 10, "Waits") ---- */

/* A task that finishes, is aborted, or is woken loses all its waits
 * [10 waits, D12]. */
static void drop_waits(struct model *m, int t)
{
    for (int p = 0; p < m->pipes; p++)
        for (int d = 0; d < 2; d++)
            if (m->fd_waits[p][d].task == t)
                m->fd_waits[p][d].task = -1;
    for (int i = 0; i < M_TIMERS; i++)
        if (m->timers[i].used && m->timers[i].is_wait && m->timers[i].task == t)
            m->timers[i].used = 0;
    m->tasks[t].waiting = 0;
}

/* A live task ends COMPLETED or CANCELLED: it leaves the queue at once and
 * frees its slot [7 finished tasks leave the queue, 4, 6 abort]. */
static void finish(struct model *m, int t, int64_t status, int64_t result)
{
    struct m_task *k = &m->tasks[t];
    struct m_runtime *rt = runtime_of(m, k);
    if (k->queued)
        queue_remove(rt, m->tasks, t);
    drop_waits(m, t);
    if (k->parked) {
        k->parked = 0;
        rt->parked--;
    }
    k->status = status;
    k->result = result;
    k->live = 0;
    rt->live--;
}

/* Pending after registering a wait: parked, out of the queue [10 waits]. */
static void park(struct model *m, int t)
{
    struct m_task *k = &m->tasks[t];
    k->status = ST_PENDING;
    k->waiting = 0;
    k->parked = 1;
    if (!k->is_future) {
        struct m_runtime *rt = runtime_of(m, k);
        if (k->queued)
            queue_remove(rt, m->tasks, t);
        rt->parked++;
    }
}

/* A wait fired: READY, at the tail of the queue, polled in the next turn;
 * its other waits go (one-shot) [10 waits, D12].  t is parked: dispatch
 * skips a task an earlier event of the batch woke. */
static void wake(struct model *m, int t)
{
    struct m_task *k = &m->tasks[t];
    drop_waits(m, t);
    k->parked = 0;
    k->status = ST_READY;
    if (!k->is_future) {
        struct m_runtime *rt = runtime_of(m, k);
        rt->parked--;
        queue_append(m, rt, t);
    }
}

/* The task whose poll is running, if it may wait on the model's loop:
 * a task (or future) of the host reactor, or a task of the group while its
 * core runs [10 waits, 10 global reactor, 11 run].  -1 otherwise (EINVAL):
 * plain Runtime tasks have no loop [D19]. */
static int waiter(struct model *m, struct oracle_instance *inst)
{
    struct m_runtime *rt;
    if (m->host == ORACLE_HOST_REACTOR || m->host == ORACLE_HOST_GLOBAL_REACTOR)
        rt = &m->rt;
    else if (group_host(m))
        rt = &m->core;
    else
        return -1;
    int t = rt->current;
    if (t < 0 || m->tasks[t].inst != inst)
        return -1;
    return t;
}

static struct oracle_result wait_fd(struct oracle_run *run, struct oracle_instance *inst,
                                    int pipe, int dir)
{
    struct model *m = model_of(run);
    int t = waiter(m, inst);
    if (t < 0)
        return fail(EINVAL);
    if (pipe == -2)
        return fail(EPERM); /* a regular file [9 register_read] */
    if (pipe < 0 || pipe >= m->pipes || m->pipe_closed[pipe])
        return fail(EBADF);
    struct m_fd_wait *w = &m->fd_waits[pipe][dir];
    if (w->task != -1 && w->task != t)
        return fail(EBUSY); /* one task per fd and direction [10 waits] */
    if (w->task == t)
        return ok(0); /* the same task asking twice is harmless */
    w->task = t;
    w->seq = m->next_seq++;
    w->stale = 0; /* a new task there tells the kernel again [10 closing fds] */
    m->tasks[t].waiting = 1;
    return ok(0);
}

static struct oracle_result m_wait_read(struct oracle_run *run, struct oracle_instance *inst,
                                        int pipe)
{
    return wait_fd(run, inst, pipe, DIR_READ);
}

static struct oracle_result m_wait_write(struct oracle_run *run, struct oracle_instance *inst,
                                         int pipe)
{
    return wait_fd(run, inst, pipe, DIR_WRITE);
}

static struct m_timer *timer_find(struct model *m, int64_t id)
{
    for (int i = 0; i < M_TIMERS; i++)
        if (m->timers[i].used && m->timers[i].id == id)
            return &m->timers[i];
    return NULL;
}

/* Arms timer id (or re-arms it: new deadline, task and arming order)
 * [9 register_timer].  0, or an errno. */
static int timer_set(struct model *m, int64_t id, int64_t delay_ms, int task, int is_wait)
{
    struct m_timer *tm = timer_find(m, id);
    if (tm == NULL) {
        for (int i = 0; i < M_TIMERS && tm == NULL; i++)
            if (!m->timers[i].used)
                tm = &m->timers[i];
        if (tm == NULL)
            return ENOMEM;
    }
    tm->used = 1;
    tm->id = id;
    /* A deadline that would overflow saturates: never fires [9]. */
    tm->deadline = delay_ms > INT64_MAX - m->now ? INT64_MAX : m->now + delay_ms;
    tm->seq = m->next_seq++;
    tm->task = task;
    tm->is_wait = is_wait;
    return 0;
}

static struct oracle_result m_sleep(struct oracle_run *run, struct oracle_instance *inst,
                                    int64_t ms)
{
    struct model *m = model_of(run);
    int t = waiter(m, inst);
    if (t < 0 || ms < 0)
        return fail(EINVAL);
    /* Ids 1000, 1001, ...; a failed call uses none [10 waits: sleep_ms]. */
    int64_t id = m->next_timer_id;
    int err = timer_set(m, id, ms, t, 1);
    if (err != 0)
        return fail(err);
    m->next_timer_id++;
    m->tasks[t].waiting = 1;
    return ok(id);
}

/* Pipes are byte counters: a write adds one byte, a read takes one if
 * there is one; the read end is readable while a byte is there, the write
 * end is always writable. */
static struct oracle_result m_write_pipe(struct oracle_run *run, int pipe)
{
    struct model *m = model_of(run);
    if (pipe < 0 || pipe >= m->pipes || m->pipe_closed[pipe])
        return fail(EBADF);
    m->pipe_bytes[pipe]++;
    return ok(1);
}

static struct oracle_result m_read_pipe(struct oracle_run *run, int pipe)
{
    struct model *m = model_of(run);
    if (pipe < 0 || pipe >= m->pipes || m->pipe_closed[pipe])
        return fail(EBADF);
    if (m->pipe_bytes[pipe] == 0)
        return ok(0); /* a non-blocking read of an empty pipe: nothing read */
    m->pipe_bytes[pipe]--;
    return ok(1);
}

/* ---- the "kernel": poll_events over simulated pipes and time (9) ---- */

static int pipe_end_ready(const struct model *m, int pipe, int dir)
{
    return dir == DIR_WRITE || m->pipe_bytes[pipe] > 0;
}

static int timer_due_exists(const struct model *m)
{
    for (int i = 0; i < M_TIMERS; i++)
        if (m->timers[i].used && m->timers[i].deadline <= m->now)
            return 1;
    return 0;
}

/* The nearest deadline, or -1 when no timer is armed. */
static int64_t nearest_deadline(const struct model *m)
{
    int64_t best = -1;
    for (int i = 0; i < M_TIMERS; i++)
        if (m->timers[i].used && (best < 0 || m->timers[i].deadline < best))
            best = m->timers[i].deadline;
    return best;
}

static void push_event(struct model *m, int64_t fd, int64_t filter, int task)
{
    m->events[m->event_count].fd = fd;
    m->events[m->event_count].filter = filter;
    m->events[m->event_count].task = task;
    m->event_count++;
}

/*
 * One look at the current state, appending to the batch [9 poll_events]:
 *  1. each watched pipe end that is ready, as (pipe, READ or WRITE); the
 *     source stays registered.  Order: the order in which their waits
 *     were registered.  (The kernel's order among several ready fds is not
 *     specified; scenarios.md asks authors not to depend on it, so any
 *     fixed order will do.)  At most `fd_cap` of them;
 *  2. then expired timers by (deadline, arming order), each removed as it
 *     is reported, while the batch has room (64 in all).
 */
static void collect(struct model *m, int fd_cap)
{
    int fds = 0;
    int64_t last = -1;
    /* The waker is watched since the loop was made, before any wait: it
     * comes first.  Wakes coalesce into one event [9 wake]. */
    if (m->waker_pending) {
        push_event(m, M_WAKER_TOKEN, M_EVFILT_READ, -1);
        m->waker_pending = 0;
        fds++;
    }
    for (;;) { /* the ready pipe ends in registration order */
        int bp = -1, bd = -1;
        int64_t best = -1;
        for (int p = 0; p < m->pipes; p++)
            for (int d = 0; d < 2; d++) {
                const struct m_fd_wait *w = &m->fd_waits[p][d];
                if (w->task != -1 && !w->stale && !m->pipe_closed[p] && w->seq > last &&
                    pipe_end_ready(m, p, d) &&
                    (best < 0 || w->seq < best)) {
                    best = w->seq;
                    bp = p;
                    bd = d;
                }
            }
        if (bp < 0 || fds >= fd_cap || m->event_count >= M_MAX_EVENTS)
            break;
        push_event(m, bp, bd == DIR_READ ? M_EVFILT_READ : M_EVFILT_WRITE,
                   m->fd_waits[bp][bd].task);
        fds++;
        last = best;
    }
    if (fds > 1) /* a real kernel reports these in an order of its own */
        oracle_model_kernel_order = 1;
    while (m->event_count < M_MAX_EVENTS) { /* expired timers in order */
        struct m_timer *first = NULL;
        for (int i = 0; i < M_TIMERS; i++) {
            struct m_timer *tm = &m->timers[i];
            if (tm->used && tm->deadline <= m->now &&
                (first == NULL || tm->deadline < first->deadline ||
                 (tm->deadline == first->deadline && tm->seq < first->seq)))
                first = tm;
        }
        if (first == NULL)
            break;
        push_event(m, first->id, M_EVFILT_TIMER, first->task);
        first->used = 0;
    }
}

/*
 * poll_events(timeout_ms) [9]: -1 waits until there is an event, 0 does
 * not block, n > 0 waits at most n ms.  Nothing outside a poll can make a
 * simulated pipe ready, so "waiting" means moving the clock to the nearest
 * timer deadline (or to the end of the timeout).  When a timer is already
 * due as the kernel is asked, at most 32 fd events are taken, keeping half
 * the batch for timers.  Returns the count, or -1 with an errno: EDEADLK
 * when it would block forever (no timer, nothing ready: vrt would hang;
 * such a scenario is invalid).
 */
static int64_t poll_events(struct model *m, int64_t timeout_ms, int *err)
{
    if (timeout_ms < -1) {
        *err = EINVAL;
        return -1;
    }
    m->event_count = 0;
    collect(m, timer_due_exists(m) ? M_MAX_EVENTS / 2 : M_MAX_EVENTS);
    if (m->event_count > 0 || timeout_ms == 0)
        return m->event_count;
    int64_t next = nearest_deadline(m);
    if (timeout_ms < 0) {
        if (next < 0 || next == INT64_MAX) {
            *err = EDEADLK;
            return -1;
        }
        m->now = next;
    } else {
        int64_t until = timeout_ms > INT64_MAX - m->now ? INT64_MAX : m->now + timeout_ms;
        m->now = (next >= 0 && next < until) ? next : until;
    }
    collect(m, M_MAX_EVENTS);
    return m->event_count;
}

/* The events of the batch wake their tasks, in batch order; a task already
 * woken by an earlier event of the batch (or no longer parked) is skipped
 * [10 waits: the first wait to fire wakes the task]. */
static void dispatch(struct model *m)
{
    for (int i = 0; i < m->event_count; i++) {
        int t = m->events[i].task;
        if (t >= 0 && m->tasks[t].parked)
            wake(m, t);
    }
}

/* ---- polling and the sweep (section 7) ---- */

static void complete_entry(struct model *m, int e, int64_t value);

/* Polls task t once: RUNNING meanwhile, current names it [5, 7]. */
static int64_t poll_task(struct model *m, struct m_runtime *rt, int t)
{
    struct m_task *k = &m->tasks[t];
    rt->current = t;
    k->status = ST_RUNNING;
    int64_t packed = oracle_poll(m->run, k->inst);
    /* A group task's outcome is recorded the moment its poll returns,
     * unless it was cancelled during that poll [11 run: outcomes]. */
    if (k->entry >= 0 && m->entries[k->entry].status != ST_CANCELLED &&
        packed_is_ready(packed))
        complete_entry(m, k->entry, packed_value(packed));
    rt->current = -1;
    return packed;
}

/* What a task's poll result makes of it [5 life cycle, 6 abort, 10 waits]. */
static void settle(struct model *m, int t, int64_t packed)
{
    struct m_task *k = &m->tasks[t];
    if (k->status == ST_CANCELLED)
        finish(m, t, ST_CANCELLED, 0); /* aborted during its own poll */
    else if (packed_is_ready(packed))
        finish(m, t, ST_COMPLETED, packed_value(packed));
    else if (k->waiting)
        park(m, t);
    else
        k->status = ST_PENDING; /* a plain yield: stays queued */
}

/* One sweep: each queued task polled once, in queue order; a task appended
 * during the sweep (spawned by a poll) is reached in the same sweep; a task
 * that left the queue (finished, aborted, cancelled) is not polled
 * [7 run].  The queue is in append order, so "the next task" is the first
 * queued one appended after the one just polled. */
static void sweep(struct model *m, struct m_runtime *rt)
{
    int64_t after = -1;
    for (;;) {
        int t = -1;
        for (int i = 0; i < rt->queue_len; i++)
            if (m->tasks[rt->queue[i]].qstamp > after) {
                t = rt->queue[i];
                break;
            }
        if (t < 0)
            return;
        after = m->tasks[t].qstamp;
        int64_t packed = poll_task(m, rt, t);
        settle(m, t, packed);
    }
}

/* A reactor turn [10 run, D14]: one sweep over the runnable tasks, then
 * one look at the loop, without blocking while anything (a task, or the
 * block_on future) is runnable; the events wake their tasks for the next
 * turn.  0, or -1 with an errno. */
static int turn(struct model *m, struct m_runtime *rt, int future, int *err)
{
    if (rt->queue_len > 0)
        sweep(m, rt);
    int runnable = rt->queue_len > 0 || future == FUTURE_RUNNABLE;
    int waiting = rt->parked > 0 || future == FUTURE_PARKED;
    if (!runnable && !waiting)
        return 0; /* everything finished in this sweep */
    if (poll_events(m, runnable ? 0 : -1, err) < 0)
        return -1;
    dispatch(m);
    return 0;
}

/* A fresh task record for inst.  There is room: a record is made once per
 * instance (its spawn, its block_on or its group entry's start), and the
 * interpreter refuses instance M_TASKS + 1 before it reaches the engine. */
static int new_record(struct model *m, struct oracle_instance *inst, int rt_kind)
{
    int t = m->task_records++;
    struct m_task *k = &m->tasks[t];
    memset(k, 0, sizeof *k);
    k->inst = inst;
    k->rt = rt_kind;
    k->id = -1;
    k->status = ST_PENDING;
    k->entry = -1;
    return t;
}

/* spawn [7 spawn, 4, D1]: EAGAIN at the live-task limit, EOVERFLOW when
 * the ids are used up; nothing changes on error.  The task index, or -1. */
static int spawn_task(struct model *m, struct m_runtime *rt, int rt_kind,
                      struct oracle_instance *inst, int *err)
{
    int64_t limit = rt->max_tasks == 0 ? M_DEFAULT_MAX_TASKS : rt->max_tasks;
    if (rt->live >= limit) {
        *err = EAGAIN;
        return -1;
    }
    if (rt->next_id == INT64_MAX) {
        *err = EOVERFLOW;
        return -1;
    }
    if (!rt->has_memory && m->alloc_failing) {
        *err = ENOMEM; /* the first spawn takes the runtime's memory [7 new] */
        return -1;
    }
    int t = new_record(m, inst, rt_kind);
    struct m_task *k = &m->tasks[t];
    k->id = rt->next_id++;
    k->live = 1;
    rt->has_memory = 1;
    queue_append(m, rt, t);
    rt->live++;
    return t;
}

/* ---- Runtime and ReactorRuntime host calls (sections 6, 7, 10) ---- */

static struct oracle_result host_spawn(struct model *m, struct oracle_instance *inst)
{
    int err = 0;
    if (m->host == ORACLE_HOST_GLOBAL_REACTOR && (err = need_global_reactor(m)) != 0)
        return fail(err);
    int t = spawn_task(m, &m->rt, RT_HOST, inst, &err);
    if (inst != NULL)
        inst->engine_handle = t;
    if (t < 0)
        return fail(err);
    return ok(m->tasks[t].id);
}

/* run [7 run; 10 run]: EBUSY from inside a poll (D5). */
static struct oracle_result host_run(struct model *m)
{
    struct m_runtime *rt = &m->rt;
    int err = 0, rc = 0;
    if (m->host == ORACLE_HOST_GLOBAL_REACTOR && (err = need_global_reactor(m)) != 0)
        return fail(err);
    if (rt->running)
        return fail(EBUSY);
    rt->running = 1;
    if (plain_host(m)) {
        while (rt->queue_len > 0) /* sweeps until no live task is left */
            sweep(m, rt);
    } else {
        while (rc == 0 && rt->live > 0) /* turns until no live task is left */
            rc = turn(m, rt, NO_FUTURE, &err);
    }
    rt->running = 0;
    return rc != 0 ? fail(err) : ok(0);
}

/* block_on [7 block_on, D3; 10 block_on]: f first; while it is Pending,
 * a sweep (Runtime) or a turn (reactor) and f again when it is runnable.
 * f has no id, takes no slot; its waits are dropped at the end. */
static struct oracle_result host_block_on(struct model *m, struct oracle_instance *inst)
{
    struct m_runtime *rt = &m->rt;
    int err0 = 0;
    if (m->host == ORACLE_HOST_GLOBAL_REACTOR && (err0 = need_global_reactor(m)) != 0)
        return fail(err0);
    if (rt->running)
        return fail(EBUSY);
    int f = new_record(m, inst, RT_HOST);
    struct m_task *k = &m->tasks[f];
    k->is_future = 1;
    if (inst != NULL)
        inst->engine_handle = f;
    rt->running = 1;
    int64_t packed = poll_task(m, rt, f);
    int err = 0, rc = 0;
    while (!packed_is_ready(packed)) {
        if (plain_host(m)) {
            k->status = ST_PENDING;
            sweep(m, rt);
            packed = poll_task(m, rt, f);
            continue;
        }
        if (k->waiting)
            park(m, f);
        else if (!k->parked)
            k->status = ST_PENDING;
        rc = turn(m, rt, k->parked ? FUTURE_PARKED : FUTURE_RUNNABLE, &err);
        if (rc != 0)
            break;
        if (!k->parked)
            packed = poll_task(m, rt, f);
    }
    drop_waits(m, f);
    k->parked = 0;
    rt->running = 0;
    return rc != 0 ? fail(err) : ok(packed_value(packed));
}

/* set_max_tasks [4]: 1 <= n <= 2^32 and n >= task_count, else EINVAL. */
static struct oracle_result host_set_max_tasks(struct model *m, int64_t n)
{
    if (n < 1 || n > M_MAX_TASKS_LIMIT || n < m->rt.live)
        return fail(EINVAL);
    m->rt.max_tasks = n;
    return ok(0);
}

/* The task a handle names, or -1 when the handle is stale (released,
 * or the spawn failed) [6]. */
static int handle_task(struct model *m, const struct oracle_instance *inst)
{
    if (inst == NULL || inst->engine_handle < 0 || inst->engine_handle >= m->task_records)
        return -1;
    int t = (int)inst->engine_handle;
    if (m->tasks[t].is_future || m->tasks[t].released || m->tasks[t].inst != inst)
        return -1;
    return t;
}

/* abort [6]: a live task becomes CANCELLED at once, 1; a finished one, 0.
 * During its own poll, it is settled when the poll returns. */
static struct oracle_result abort_task(struct model *m, int t)
{
    struct m_task *k = &m->tasks[t];
    if (k->status == ST_COMPLETED || k->status == ST_CANCELLED)
        return ok(0);
    if (runtime_of(m, k)->current == t)
        k->status = ST_CANCELLED;
    else
        finish(m, t, ST_CANCELLED, 0);
    return ok(1);
}

static struct oracle_result handle_op(struct model *m, const char *op,
                                      struct oracle_instance *inst)
{
    int t = handle_task(m, inst);
    if (strcmp(op, "is-valid") == 0)
        return ok(t >= 0); /* [6 is_valid]: 0 for a stale handle or NULL */
    if (t < 0)
        return fail(EINVAL); /* stale handle [6]; no node to read [5] */
    struct m_task *k = &m->tasks[t];
    if (strcmp(op, "is-completed") == 0) /* [5]: RUNNING is neither */
        return ok(k->status == ST_COMPLETED);
    if (strcmp(op, "is-pending") == 0)
        return ok(k->status == ST_PENDING);
    if (strcmp(op, "status") == 0)
        return ok(k->status);
    if (strcmp(op, "result") == 0) {
        if (k->status == ST_CANCELLED)
            return fail(ECANCELED); /* [6 result, D4] */
        if (k->live)
            return fail(EINPROGRESS);
        return ok(k->result);
    }
    if (strcmp(op, "abort") == 0)
        return abort_task(m, t);
    /* release, the last handle op */
    k->released = 1; /* the handle becomes {-1, NULL} [6 release] */
    return ok(0);
}

/* ---- TaskGroup (section 11) ---- */

static int entry_finished(const struct m_entry *e)
{
    return e->status == ST_COMPLETED || e->status == ST_CANCELLED;
}

/* Cancels every unfinished entry, started or not: CANCELLED, never polled
 * again, waits dropped, slot freed, counted in completed [11 cancel, D15].
 * A task being polled is cancelled when its poll returns [6 abort]. */
static int64_t cancel_unfinished(struct model *m)
{
    int64_t count = 0;
    for (int i = 0; i < m->total; i++) {
        struct m_entry *e = &m->entries[i];
        if (entry_finished(e))
            continue;
        if (e->started) {
            abort_task(m, e->task);
            m->tasks[e->task].released = 1;
            m->started_live--;
        }
        e->status = ST_CANCELLED;
        m->completed++;
        count++;
    }
    return count;
}

/* Ready(v) of a started task [11 run: outcomes, D16]: COMPLETED, result v,
 * an error when v < 0; with cancel_on_error the first error cancels every
 * unfinished sibling at once, before any other task is polled (D15). */
static void complete_entry(struct model *m, int i, int64_t value)
{
    struct m_entry *e = &m->entries[i];
    e->status = ST_COMPLETED;
    e->result = value;
    m->started_live--;
    m->completed++;
    if (value < 0) {
        e->has_error = 1;
        m->erred = 1;
        if (m->cancel_on_error)
            cancel_unfinished(m);
    }
}

/* spawn [11 spawn, D7]: the 0-based index; ECANCELED after cancel, EAGAIN
 * with VRT_MAX_TASKS unfinished tasks; the task starts at a later turn. */
static struct oracle_result group_spawn(struct model *m, struct oracle_instance *inst)
{
    if (m->cancelled)
        return fail(ECANCELED);
    if (m->total - m->completed >= M_DEFAULT_MAX_TASKS)
        return fail(EAGAIN);
    if (m->total >= M_ENTRIES || m->alloc_failing)
        return fail(ENOMEM); /* every spawn takes memory for its entry [11] */
    int i = (int)m->total++;
    struct m_entry *e = &m->entries[i];
    memset(e, 0, sizeof *e);
    e->inst = inst;
    e->status = ST_PENDING;
    e->task = -1;
    if (inst != NULL)
        inst->engine_handle = ((int64_t)m->generation << 32) | i;
    return ok(i);
}

/* Starts entries in spawn order while fewer than max_concurrency are
 * started and unfinished (0: no bound) [11 run step 1]. */
static int start_entries(struct model *m, int *err)
{
    for (int i = 0; i < m->total; i++) {
        struct m_entry *e = &m->entries[i];
        if (e->started || entry_finished(e))
            continue;
        if (m->max_concurrency != 0 && m->started_live >= m->max_concurrency)
            break;
        int t = spawn_task(m, &m->core, RT_CORE, e->inst, err);
        if (t < 0)
            return -1;
        m->tasks[t].entry = i;
        e->task = t;
        e->started = 1;
        m->started_live++;
    }
    return 0;
}

/* run [11 run]: turns (start, then a reactor turn on the core) until every
 * task finished; 1 if a task erred or the group was cancelled, else 0;
 * EBUSY from inside one of its own tasks. */
static struct oracle_result group_run(struct model *m)
{
    if (m->core.running)
        return fail(EBUSY);
    /* its tasks may wait on the global reactor; a group that has none
     * (none spawned since new or cleanup) has no core and needs none.  If
     * it cannot be made, tasks still run [11 run] */
    if (m->total > 0)
        (void)need_global_reactor(m);
    m->core.running = 1;
    int err = 0, rc = 0;
    while (rc == 0 && m->completed < m->total) {
        rc = start_entries(m, &err);
        if (rc == 0)
            rc = turn(m, &m->core, NO_FUTURE, &err);
    }
    m->core.running = 0;
    if (rc != 0)
        return fail(err);
    return ok(m->erred || m->cancelled ? 1 : 0);
}

/* task_status [11 queries]: PENDING until started, then the status of its
 * task on the core, finally COMPLETED or CANCELLED. */
static int64_t entry_status(struct model *m, int i)
{
    struct m_entry *e = &m->entries[i];
    if (e->started && !entry_finished(e))
        return m->tasks[e->task].status;
    return e->status;
}

/* cleanup [11 cleanup, D18]: cancels what is unfinished and forgets every
 * entry; settings kept; EBUSY while the group runs. */
static struct oracle_result group_cleanup(struct model *m)
{
    if (m->core.running)
        return fail(EBUSY);
    cancel_unfinished(m);
    m->total = 0;
    m->completed = 0;
    m->started_live = 0;
    m->cancelled = 0;
    m->erred = 0;
    m->generation++;
    runtime_reset(&m->core);
    return ok(0);
}

/* result, has_error and task_status of entry i: ERANGE outside 0 .. total-1
 * (result and has_error return 0 then) [11 queries]. */
static struct oracle_result group_query(struct model *m, const char *op, int64_t i)
{
    int in_range = i >= 0 && i < m->total;
    if (strcmp(op, "group-result") == 0)
        return in_range ? ok(m->entries[i].result) : (struct oracle_result){0, ERANGE};
    if (strcmp(op, "group-has-error") == 0)
        return in_range ? ok(m->entries[i].has_error) : (struct oracle_result){0, ERANGE};
    /* group-status */
    return in_range ? ok(entry_status(m, (int)i)) : fail(ERANGE);
}

/* The TaskGroup methods named group-* [11]. */
static struct oracle_result group_call(struct model *m, const char *op, const int64_t *nums)
{
    if (strcmp(op, "group-set-max-concurrency") == 0) {
        if (nums[0] < 0)
            return fail(EINVAL);
        m->max_concurrency = nums[0];
        return ok(0);
    }
    if (strcmp(op, "group-set-cancel-on-error") == 0) {
        m->cancel_on_error = nums[0] != 0;
        return ok(0);
    }
    if (strcmp(op, "group-cancel") == 0) {
        m->cancelled = 1;
        return ok(cancel_unfinished(m));
    }
    if (strcmp(op, "group-cancel-remaining") == 0)
        return ok(cancel_unfinished(m));
    if (strcmp(op, "group-total") == 0)
        return ok(m->total);
    if (strcmp(op, "group-completed") == 0)
        return ok(m->completed);
    if (strcmp(op, "group-is-done") == 0)
        return ok(m->completed == m->total);
    if (strcmp(op, "group-is-cancelled") == 0)
        return ok(m->cancelled);
    if (strcmp(op, "group-result") == 0 || strcmp(op, "group-has-error") == 0 ||
        strcmp(op, "group-status") == 0)
        return group_query(m, op, nums[0]);
    return group_cleanup(m); /* group-cleanup, the last group-* call */
}

/* ---- `loop OP`: EventLoop methods with explicit arguments (section 9) ---- */

/*
 * The loop is the host reactor's, or the global reactor's for the other
 * hosts.  Pipes are named by scenario number, for fds as for events: READ
 * means pipe P's read end, WRITE its write end.  `register-timer` arms a
 * timer for a task that belongs to no runtime (vrt-oracle passes a private
 * node), so its firing wakes nobody; re-arming a sleep's id takes that wait
 * away from its task [10: the loop's own methods act on the same tables].
 */
static struct oracle_result loop_call(struct model *m, const char *op, const int64_t *nums)
{
    int accessor = strcmp(op, "event-fd") == 0 || strcmp(op, "event-filter") == 0;
    if (strcmp(op, "new") == 0) {
        /* [9 new]: a loop of the host runtime's own; on ENOMEM it behaves
         * as a cleaned-up loop */
        if (m->host != ORACLE_HOST_RUNTIME)
            return fail(EINVAL);
        loop_reset(m);
        m->own_loop = 1;
        m->loop_closed = m->alloc_failing;
        return m->alloc_failing ? fail(ENOMEM) : ok(0);
    }
    if (strcmp(op, "cleanup") == 0) {
        /* [9 cleanup]: twice is a no-op; reactors own theirs */
        if (!m->own_loop)
            return fail(EINVAL);
        loop_reset(m);
        m->loop_closed = 1;
        return ok(0);
    }
    if (m->loop_closed) {
        /* a freed reactor has no loop [10 free]; a cleaned-up loop answers
         * EINVAL, its event accessors ERANGE [9 cleanup] */
        return fail(m->own_loop && accessor ? ERANGE : EINVAL);
    }
    if (!m->own_loop && m->host != ORACLE_HOST_REACTOR) {
        int err = need_global_reactor(m); /* the global reactor's loop */
        if (err != 0)
            return fail(err);
    }
    if (strcmp(op, "register-read") == 0 || strcmp(op, "register-write") == 0) {
        /* [9 register_read]: replaces any task there, no EBUSY */
        int64_t p = nums[0];
        if (p == -2)
            return fail(EPERM);
        if (p < 0 || p >= m->pipes || m->pipe_closed[p])
            return fail(EBADF);
        struct m_fd_wait *w = &m->fd_waits[p][op[9] == 'r' ? DIR_READ : DIR_WRITE];
        w->task = M_LOOP_TASK;
        w->seq = m->next_seq++;
        w->stale = 0; /* always tells the kernel, new generation [9, D13] */
        return ok(0);
    }
    if (accessor) {
        int64_t i = nums[0];
        if (i < 0 || i >= m->event_count)
            return fail(ERANGE); /* [9 event_fd] */
        return ok(strcmp(op, "event-fd") == 0 ? m->events[i].fd : m->events[i].filter);
    }
    if (strcmp(op, "deregister") == 0) {
        /* [9 deregister]: 1 if a source was removed, 0 if there was none. */
        int64_t fd = nums[0], filter = nums[1];
        if (filter == M_EVFILT_TIMER) {
            struct m_timer *tm = timer_find(m, fd);
            if (tm == NULL)
                return ok(0);
            tm->used = 0;
            return ok(1);
        }
        if (filter != M_EVFILT_READ && filter != M_EVFILT_WRITE)
            return fail(EINVAL);
        if (fd < 0 || fd >= m->pipes)
            return ok(0);
        struct m_fd_wait *w = &m->fd_waits[fd][filter == M_EVFILT_READ ? DIR_READ : DIR_WRITE];
        if (w->task == -1)
            return ok(0);
        w->task = -1;
        w->stale = 0;
        return ok(1);
    }
    if (strcmp(op, "register-timer") == 0) {
        /* [9 register_timer]: EINVAL for a negative delay. */
        if (nums[1] < 0)
            return fail(EINVAL);
        int err = timer_set(m, nums[0], nums[1], -1, 0);
        return err != 0 ? fail(err) : ok(0);
    }
    if (strcmp(op, "poll") == 0) {
        int err = 0;
        int64_t n = poll_events(m, nums[0], &err);
        return n < 0 ? fail(err) : ok(n);
    }
    if (strcmp(op, "wake") == 0) {
        m->waker_pending = 1;
        return ok(0);
    }
    /* find-task, the last loop call [9 find_task_for_fd]: the reader,
     * else the writer; here 1 if there is one, 0 if not; EBADF for fd < 0. */
    int64_t fd = nums[0];
    if (fd == -2 || fd >= m->pipes)
        return ok(0); /* a file nobody waits on */
    if (fd < 0)
        return fail(EBADF);
    return ok(m->fd_waits[fd][DIR_READ].task != -1 || m->fd_waits[fd][DIR_WRITE].task != -1);
}

/* free [7 free, 10 free]: drops every task, parked ones included, without
 * polling them, and resets the runtime to its `new` value; the reactor also
 * loses its loop.  EBUSY from inside a poll.  Every handle of the tasks
 * spawned so far is dead (read as released); later spawns are new. */
static struct oracle_result host_free(struct model *m)
{
    if (m->rt.running)
        return fail(EBUSY);
    for (int t = 0; t < m->task_records; t++)
        if (m->tasks[t].rt == RT_HOST) {
            drop_waits(m, t);
            m->tasks[t].live = 0;
            m->tasks[t].queued = 0;
            m->tasks[t].parked = 0;
            m->tasks[t].released = 1; /* its handle is dead [6] */
        }
    runtime_reset(&m->rt);
    if (m->host == ORACLE_HOST_REACTOR) {
        loop_reset(m);
        m->loop_closed = 1;
    }
    return ok(0);
}

/* The ScopedTask's run_and_cleanup [11 ScopedTask]: the group's run, then
 * cleanup and free whatever it returned; EBUSY from inside (nothing done);
 * EINVAL once done. */
static struct oracle_result group_run(struct model *m);
static struct oracle_result group_cleanup(struct model *m);

static struct oracle_result scoped_run(struct model *m)
{
    if (m->scoped_done)
        return fail(EINVAL);
    struct oracle_result r = group_run(m);
    if (r.err == EBUSY)
        return r;
    group_cleanup(m);
    m->scoped_done = 1;
    return r;
}

/* `new` [7 new, 10 new, 11 new, 11 ScopedTask]: the host object made
 * again, the old one freed first; `new-named` for a group. */
static struct oracle_result host_new(struct model *m, int named)
{
    if (named && m->host != ORACLE_HOST_GROUP)
        return fail(EINVAL);
    struct oracle_result r;
    switch (m->host) {
    case ORACLE_HOST_RUNTIME:
        return host_free(m);
    case ORACLE_HOST_REACTOR:
        r = host_free(m);
        if (r.err != 0)
            return r;
        if (m->alloc_failing)
            return fail(ENOMEM); /* no loop: every method EINVAL */
        loop_reset(m);
        m->loop_closed = 0;
        return ok(0);
    case ORACLE_HOST_GROUP:
        r = group_cleanup(m);
        if (r.err != 0)
            return r;
        m->cancel_on_error = 1;
        m->max_concurrency = 0;
        return ok(0);
    case ORACLE_HOST_SCOPED:
        if (!m->scoped_done)
            return fail(EINVAL); /* run it first */
        m->generation++;
        if (m->alloc_failing)
            return fail(ENOMEM); /* group NULL: every call EINVAL */
        m->scoped_done = 0;
        m->cancel_on_error = 1;
        m->max_concurrency = 0;
        return ok(0);
    default:
        return fail(EINVAL);
    }
}

/* shutdown [8]: EBUSY inside any poll; frees the global runtime and the
 * global reactor: for the global hosts every handle is dead and the next
 * use starts from empty; the other hosts lose the global loop's tables. */
static struct oracle_result host_shutdown(struct model *m)
{
    if (m->rt.running || m->core.running)
        return fail(EBUSY);
    if (m->host == ORACLE_HOST_GLOBAL || m->host == ORACLE_HOST_GLOBAL_REACTOR)
        host_free(m);
    if (m->host != ORACLE_HOST_REACTOR && !m->own_loop)
        loop_reset(m);
    m->global_reactor = 0;
    return ok(0);
}

static int64_t pack_word(int64_t status, int64_t value)
{
    return (int64_t)(((uint64_t)status << 32) | (uint64_t)(uint32_t)value);
}

/* The calls of spec/scenarios.md that reach the remaining rows; *done 0
 * when op is none of them. */
static struct oracle_result misc_call(struct model *m, const char *op, const int64_t *nums,
                                      int null_self, int *done)
{
    *done = 1;
    int64_t n = nums[0];
    int err;
    if (strcmp(op, "new") == 0 || strcmp(op, "new-named") == 0)
        return null_self ? fail(EINVAL) : host_new(m, op[3] == '-');
    if (strcmp(op, "shutdown") == 0)
        return null_self ? fail(EINVAL) : host_shutdown(m);
    if (strcmp(op, "check") == 0 || strcmp(op, "set-next-id") == 0) {
        /* [7 check, 10 check]: a sound runtime is 0 */
        if (null_self || group_host(m))
            return fail(EINVAL);
        if (m->host == ORACLE_HOST_GLOBAL_REACTOR && (err = need_global_reactor(m)) != 0)
            return fail(err);
        if (op[0] == 's')
            m->rt.next_id = n; /* the seed field, written by the host */
        return ok(0);
    }
    if (strcmp(op, "get-loop") == 0) {
        /* [10 new]: the loop, NULL after free; EINVAL for NULL self */
        if (null_self || (m->host != ORACLE_HOST_REACTOR && m->host != ORACLE_HOST_GLOBAL_REACTOR))
            return fail(EINVAL);
        if (m->host == ORACLE_HOST_GLOBAL_REACTOR && (err = need_global_reactor(m)) != 0)
            return fail(err);
        return ok(!m->loop_closed);
    }
    if (null_self) {
        *done = 0;
        return fail(EINVAL);
    }
    if (strcmp(op, "fail-alloc") == 0) {
        m->alloc_failing = n != 0;
        return ok(0);
    }
    if (strcmp(op, "set-allocator") == 0) /* [8]: a NULL alloc is EINVAL */
        return n == 1 ? ok(0) : fail(EINVAL);
    if (strcmp(op, "runtime-init") == 0) /* [8]: the same pointer, never fails */
        return ok(1);
    if (strcmp(op, "reactor-init") == 0)
        return (err = need_global_reactor(m)) != 0 ? fail(err) : ok(1);
    if (strcmp(op, "backend") == 0) /* [9]: "epoll" or "kqueue" */
        return ok(1);
    if (strcmp(op, "node-new") == 0) /* [5 new]: PENDING */
        return ok(1);
    /* the poll ABI helpers [2] */
    if (strcmp(op, "poll-ready") == 0)
        return ok(pack_word(1, n));
    if (strcmp(op, "poll-pending") == 0)
        return ok(0);
    if (strcmp(op, "poll-status") == 0)
        return ok((int64_t)((uint64_t)n >> 32));
    if (strcmp(op, "poll-value") == 0)
        return ok(packed_value(n));
    if (strcmp(op, "poll-is-ready") == 0)
        return ok(packed_is_ready(n));
    /* pipes closed, reopened, held (scenarios.md) */
    if (strcmp(op, "close") == 0) {
        if (n < 0 || m->pipe_closed[n])
            return fail(EBADF);
        m->pipe_closed[n] = 1;
        m->pipe_bytes[n] = 0;
        for (int d = 0; d < 2; d++)
            if (m->fd_waits[n][d].task != -1)
                m->fd_waits[n][d].stale = 1; /* its source stays [9 stale events] */
        return ok(0);
    }
    if (strcmp(op, "reopen") == 0) {
        if (n < 0 || !m->pipe_closed[n])
            return fail(EINVAL);
        m->pipe_closed[n] = 0;
        m->pipe_bytes[n] = 0;
        return ok(0);
    }
    if (strcmp(op, "hold") == 0) {
        if (n < 0 || m->pipe_closed[n] || m->pipe_held[n])
            return fail(EINVAL);
        m->pipe_held[n] = 1;
        return ok(0);
    }
    /* write-held, the last call with no self: the old file, never
     * reported [D13] */
    return n >= 0 && m->pipe_held[n] ? ok(1) : fail(EBADF);
}

/* ---- the engine ---- */

static int m_open(struct oracle_run *run)
{
    struct model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return -1;
    oracle_model_kernel_order = 0;
    m->run = run;
    m->host = run->scn->host;
    m->pipes = run->scn->pipes;
    runtime_reset(&m->rt);
    runtime_reset(&m->core);
    m->next_timer_id = M_FIRST_TIMER_ID;
    for (int p = 0; p < ORACLE_MAX_PIPES; p++)
        for (int d = 0; d < 2; d++)
            m->fd_waits[p][d].task = -1;
    m->cancel_on_error = 1; /* [11 new] */
    run->engine_state = m;
    return 0;
}

static void m_close(struct oracle_run *run)
{
    free(run->engine_state);
    run->engine_state = NULL;
}

static int is_handle_op(const char *op)
{
    return strcmp(op, "status") == 0 || strcmp(op, "result") == 0 ||
           strcmp(op, "abort") == 0 || strcmp(op, "release") == 0 ||
           strcmp(op, "is-valid") == 0 || strcmp(op, "is-completed") == 0 ||
           strcmp(op, "is-pending") == 0;
}

/*
 * A call.  `null OP` makes OP with a NULL self, `null-fn OP` with a NULL
 * poll function (it matters to spawn and block_on only): EINVAL, nothing
 * changed [3].  The checks come in the order of the spec's error lists:
 * NULL arguments first, then the object's state.
 */
static struct oracle_result m_call(struct oracle_run *run, const struct oracle_call *c,
                                   struct oracle_instance *inst)
{
    struct model *m = model_of(run);
    enum oracle_call_target target;
    const char *op = oracle_call_op(c, &target);
    int null_self = target == ORACLE_CALL_NULL_SELF, null_fn = target == ORACLE_CALL_NULL_FN;
    if (target == ORACLE_CALL_LOOP)
        return loop_call(m, op, c->nums);
    int group = group_host(m);
    int global = m->host == ORACLE_HOST_GLOBAL || m->host == ORACLE_HOST_GLOBAL_REACTOR;
    /* a reactor without its loop; a runtime's own loop is not its concern */
    int no_loop = m->loop_closed && m->host == ORACLE_HOST_REACTOR;

    if (strcmp(op, "spawn") == 0) {
        if (null_self || null_fn)
            return fail(EINVAL);
        if (m->host == ORACLE_HOST_SCOPED && m->scoped_done)
            return fail(EINVAL); /* no group [11 ScopedTask] */
        if (group)
            return group_spawn(m, inst);
        if (no_loop)
            return fail(EINVAL); /* [10 new: no loop, every method EINVAL] */
        return host_spawn(m, inst);
    }
    if (strcmp(op, "block_on") == 0) {
        if (null_self || null_fn || group || no_loop)
            return fail(EINVAL);
        return host_block_on(m, inst);
    }
    if (strcmp(op, "run") == 0) {
        if (null_self)
            return fail(EINVAL);
        if (m->host == ORACLE_HOST_SCOPED)
            return scoped_run(m);
        if (group)
            return group_run(m);
        if (no_loop)
            return fail(EINVAL);
        return host_run(m);
    }
    if (strcmp(op, "free") == 0) {
        if (null_self || group || global)
            return fail(EINVAL);
        return host_free(m);
    }
    if (strcmp(op, "set-max-tasks") == 0 || strcmp(op, "max-tasks") == 0) {
        if (null_self || group)
            return fail(EINVAL);
        int err = m->host == ORACLE_HOST_GLOBAL_REACTOR ? need_global_reactor(m) : 0;
        if (err != 0)
            return fail(err);
        if (op[0] == 's')
            return host_set_max_tasks(m, c->nums[0]);
        return ok(m->rt.max_tasks == 0 ? M_DEFAULT_MAX_TASKS : m->rt.max_tasks);
    }
    if (is_handle_op(op)) {
        /* Group tasks have no handles; a NULL handle is not valid. */
        if (group)
            return fail(EINVAL);
        if (null_self)
            return strcmp(op, "is-valid") == 0 ? ok(0) : fail(EINVAL);
        return handle_op(m, op, inst);
    }
    if (strncmp(op, "group-", 6) == 0) {
        if (null_self || !group || m->scoped_done)
            return fail(EINVAL); /* [11 queries: EINVAL for NULL self] */
        return group_call(m, op, c->nums);
    }
    int done;
    struct oracle_result r = misc_call(m, op, c->nums, null_self, &done);
    if (done)
        return r;
    return fail(EINVAL);
}

/* The status of an instance as its handle reports it; released handles
 * read ORACLE_STATUS_RELEASED.  For a group, the entry's task_status; an
 * entry forgotten by cleanup reads released too. */
static int64_t m_status(struct oracle_run *run, struct oracle_instance *inst)
{
    struct model *m = model_of(run);
    if (group_host(m)) {
        if (inst->engine_handle < 0)
            return -1;
        int gen = (int)(inst->engine_handle >> 32);
        int i = (int)(inst->engine_handle & 0xFFFFFFFF);
        if (gen != m->generation || i >= m->total)
            return ORACLE_STATUS_RELEASED;
        return entry_status(m, i);
    }
    if (inst->engine_handle < 0 || inst->engine_handle >= m->task_records)
        return -1;
    const struct m_task *k = &m->tasks[inst->engine_handle];
    if (k->released)
        return ORACLE_STATUS_RELEASED;
    return k->status;
}

const struct oracle_engine oracle_engine_model = {
    .name = "model",
    .open = m_open,
    .close = m_close,
    .call = m_call,
    .status = m_status,
    .wait_read = m_wait_read,
    .wait_write = m_wait_write,
    .sleep = m_sleep,
    .write_pipe = m_write_pipe,
    .read_pipe = m_read_pipe,
};
