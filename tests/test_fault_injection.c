/*
 * Fault injection: every allocation and every system call a public
 * operation makes is failed in turn (tests/shim), N = 1, 2, ... until the
 * operation runs through without reaching the Nth fallible call.  After
 * each injected failure:
 *   - the operation returned its documented error (the injected errno, or
 *     ENOMEM for an allocation) or absorbed the failure as documented;
 *   - the invariants hold (vrt_runtime_check, the loop's check);
 *   - the same operation, retried without a failure, succeeds;
 *   - after teardown no block of the allocator and no fd is left over
 *     (the shim's count, /proc/self/fd), and LSan finds no leak.
 * Each test prints "fault-sites OPERATION MODE N" for the summary that
 * `make fault-tests` adds up.
 *
 * Built only into the fault binaries (coverage/coverage.mk), linked with
 * the shim's -Wl,--wrap options, for epoll and for kqueue over the
 * emulation.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "io_helpers.h"
#include "shim/shim.h"
#include "vrt_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define VRT_FAULT_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VRT_FAULT_LSAN 1
#endif
#endif
#ifdef VRT_FAULT_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* The tasks' own I/O must not count as the library's. */
ssize_t __real_read(int fd, void *buf, size_t count);
ssize_t __real_write(int fd, const void *buf, size_t count);

/* Everything an operation needs; zeroed before each attempt. */
struct fault_ctx {
    vrt_runtime_t rt;
    vrt_reactor_runtime_t reactor;
    vrt_event_loop_t loop;
    vrt_task_group_t group;
    vrt_scoped_task_t scoped;
    vrt_join_handle_t handle;
    vrt_task_node_t node;
    int pipe[2];
    int64_t results[4];
    int64_t counts[4];
};

struct fault_case {
    const char *name;
    void (*setup)(struct fault_ctx *c);
    /* The operation under test: 0 done, -1 failed with errno. */
    int64_t (*run)(struct fault_ctx *c);
    /* Asserts the state after run (rc, the injected fault or NULL), then
     * shows the object still works by retrying without a fault. */
    void (*verify)(struct fault_ctx *c, int64_t rc, const struct shim_fault *f);
    void (*teardown)(struct fault_ctx *c);
};

static void assert_errno_is(int err, const struct shim_fault *f, const char *what)
{
    cr_assert_not_null(f, "%s failed with errno %d, no fault injected", what, err);
    cr_assert_eq(err, f->err, "%s: errno %d after an injected %s failure (errno %d)",
                 what, err, shim_kind_name(f->kind), f->err);
}

static void loop_check_ok(vrt_event_loop_t *loop)
{
    int64_t rc = vrt_loop_check(loop);
    cr_assert_eq(rc, 0, "loop invariant broken: %lld", (long long)rc);
}

static void reactor_check_ok(vrt_reactor_runtime_t *r)
{
    int64_t rc = vrt_reactor_runtime_check(r);
    cr_assert_eq(rc, 0, "reactor invariant broken: %lld", (long long)rc);
}

/* ---- futures ---- */

static int64_t ready_7(int64_t future_ptr)
{
    (void)future_ptr;
    return vrt_poll_ready(7);
}

/* Pending once without waiting on anything (a cooperative yield). */
static int64_t yield_once(int64_t future_ptr)
{
    (void)future_ptr;
    static int polls;
    return ++polls % 2 == 1 ? vrt_poll_pending() : vrt_poll_ready(2);
}

/* Which reactor a task waits on; NULL: the global one. */
static vrt_reactor_runtime_t *task_reactor;

struct pipe_task {
    int fd;
    int step;
    int64_t timer_ms;
};

static int64_t wait_read(int fd)
{
    return task_reactor != NULL ? vrt_reactor_runtime_wait_readable(task_reactor, fd)
                                : vrt_wait_readable(fd);
}

static int64_t wait_write(int fd)
{
    return task_reactor != NULL ? vrt_reactor_runtime_wait_writable(task_reactor, fd)
                                : vrt_wait_writable(fd);
}

static int64_t sleep_for(int64_t ms)
{
    return task_reactor != NULL ? vrt_reactor_runtime_sleep_ms(task_reactor, ms)
                                : vrt_sleep_ms(ms);
}

/* A failed wait ends the task with Ready(-errno): the error reaches the
 * caller through the task's result. */
#define WAIT_OR_FAIL(call)                                                   \
    do {                                                                     \
        if ((call) < 0)                                                      \
            return vrt_poll_ready(-errno);                                   \
    } while (0)

/* Sleeps, then reads one byte from fd (waiting until readable). */
static int64_t reader_poll(int64_t future_ptr)
{
    struct pipe_task *t = (struct pipe_task *)(intptr_t)future_ptr;
    if (t->step == 0) {
        t->step = 1;
        WAIT_OR_FAIL(sleep_for(t->timer_ms));
        return vrt_poll_pending();
    }
    char byte;
    if (__real_read(t->fd, &byte, 1) == 1)
        return vrt_poll_ready(byte);
    WAIT_OR_FAIL(wait_read(t->fd));
    return vrt_poll_pending();
}

/* Waits until fd is writable, then writes one byte 'x'.  If the wait
 * fails it writes at once (a pipe is writable), so that the reader is not
 * left waiting, and ends with Ready(-errno). */
static int64_t writer_poll(int64_t future_ptr)
{
    struct pipe_task *t = (struct pipe_task *)(intptr_t)future_ptr;
    if (t->step == 0) {
        t->step = 1;
        if (wait_write(t->fd) == 0)
            return vrt_poll_pending();
        int err = errno;
        cr_assert_eq(__real_write(t->fd, "x", 1), 1);
        return vrt_poll_ready(-err);
    }
    cr_assert_eq(__real_write(t->fd, "x", 1), 1);
    return vrt_poll_ready(1);
}

static struct pipe_task reader_task, writer_task;

static void pipe_tasks_reset(struct fault_ctx *c)
{
    reader_task = (struct pipe_task){c->pipe[0], 0, 1};
    writer_task = (struct pipe_task){c->pipe[1], 0, 0};
}

/* ---- Runtime::spawn ---- */

static void rt_setup(struct fault_ctx *c)
{
    c->rt = vrt_runtime_new();
}

static int64_t rt_spawn_run(struct fault_ctx *c)
{
    c->handle = vrt_runtime_spawn(&c->rt, 0, ready_7);
    return c->handle.task_ptr != NULL ? 0 : -1;
}

static void rt_spawn_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    CHECK(&c->rt);
    if (rc != 0) {
        assert_errno_is(errno, f, "spawn");
        cr_assert_eq(c->handle.task_id, -1);
        cr_assert_eq(c->rt.task_count, 0);
        cr_assert_eq(c->rt.next_task_id, 0, "a failed spawn used an id");
        cr_assert_eq(rt_spawn_run(c), 0);
    }
    cr_assert_eq(vrt_runtime_run(&c->rt), 0);
    cr_assert_eq(vrt_join_handle_result(&c->handle), 7);
}

static void rt_teardown(struct fault_ctx *c)
{
    cr_assert_eq(vrt_runtime_free(&c->rt), 0);
}

/* ---- EventLoop ---- */

static void nothing(struct fault_ctx *c)
{
    (void)c;
}

static int64_t loop_new_run(struct fault_ctx *c)
{
    c->loop = vrt_event_loop_new();
    return c->loop.kq >= 0 ? 0 : -1;
}

static void loop_new_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "EventLoop::new");
        cr_assert_eq(c->loop.waker_read_fd, -1);
        cr_assert_eq(c->loop.waker_write_fd, -1);
        cr_assert_null(c->loop.state);
        /* Every method refuses the failed loop. */
        ASSERT_FAILS(vrt_event_loop_poll_events(&c->loop, 0), EINVAL);
        cr_assert_eq(loop_new_run(c), 0);
    }
    loop_check_ok(&c->loop);
    cr_assert_eq(vrt_event_loop_wake(&c->loop), 0);
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 0), 1);
    cr_assert_eq(vrt_event_loop_event_fd(&c->loop, 0), VRT_WAKER_TOKEN);
}

static void loop_teardown(struct fault_ctx *c)
{
    cr_assert_eq(vrt_event_loop_cleanup(&c->loop), 0);
    if (c->pipe[0] > 0)
        close_pair(c->pipe);
}

static void loop_pipe_setup(struct fault_ctx *c)
{
    c->loop = vrt_event_loop_new();
    cr_assert_geq(c->loop.kq, 0);
    make_pipe(c->pipe);
}

static int64_t register_read_run(struct fault_ctx *c)
{
    return vrt_event_loop_register_read(&c->loop, c->pipe[0], &c->node);
}

/* After a failed registration nothing is registered; after a successful
 * one (or the retry) the fd's readiness comes back as an event. */
static void register_read_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    loop_check_ok(&c->loop);
    if (rc != 0) {
        assert_errno_is(errno, f, "register_read");
        cr_assert_eq(c->loop.source_count, 0);
        cr_assert_null(vrt_event_loop_find_task_for_fd(&c->loop, c->pipe[0]));
        cr_assert_eq(register_read_run(c), 0);
    }
    cr_assert_eq(vrt_event_loop_find_task_for_fd(&c->loop, c->pipe[0]), &c->node);
    cr_assert_eq(__real_write(c->pipe[1], "x", 1), 1);
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 1000), 1);
    cr_assert_eq(vrt_event_loop_event_fd(&c->loop, 0), c->pipe[0]);
    cr_assert_eq(vrt_event_loop_event_filter(&c->loop, 0), VRT_EVFILT_READ);
}

static void registered_read_setup(struct fault_ctx *c)
{
    loop_pipe_setup(c);
    cr_assert_eq(vrt_event_loop_register_read(&c->loop, c->pipe[0], &c->node), 0);
    cr_assert_eq(vrt_event_loop_register_read(&c->loop, c->pipe[1], &c->node), 0);
}

/* The second direction of an fd the kernel already watches (a change of
 * its registration, not an add). */
static int64_t register_write_run(struct fault_ctx *c)
{
    return vrt_event_loop_register_write(&c->loop, c->pipe[1], &c->node);
}

static void register_write_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    loop_check_ok(&c->loop);
    if (rc != 0) {
        assert_errno_is(errno, f, "register_write");
        cr_assert_eq(c->loop.source_count, 2);
        cr_assert_eq(register_write_run(c), 0);
    }
    cr_assert_eq(c->loop.source_count, 3);
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 1000), 1);
    cr_assert_eq(vrt_event_loop_event_fd(&c->loop, 0), c->pipe[1]);
    cr_assert_eq(vrt_event_loop_event_filter(&c->loop, 0), VRT_EVFILT_WRITE);
}

static int64_t register_timer_run(struct fault_ctx *c)
{
    return vrt_event_loop_register_timer(&c->loop, 5, 0, &c->node);
}

static void register_timer_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    loop_check_ok(&c->loop);
    if (rc != 0) {
        assert_errno_is(errno, f, "register_timer");
        cr_assert_eq(c->loop.source_count, 0);
        cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 0), 0);
        cr_assert_eq(register_timer_run(c), 0);
    }
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 1000), 1);
    cr_assert_eq(vrt_event_loop_event_fd(&c->loop, 0), 5);
    cr_assert_eq(vrt_event_loop_event_filter(&c->loop, 0), VRT_EVFILT_TIMER);
}

static int64_t deregister_run(struct fault_ctx *c)
{
    return vrt_event_loop_deregister(&c->loop, c->pipe[0], VRT_EVFILT_READ) == 1 ? 0 : -1;
}

/* A kernel that refuses to forget the fd is absorbed: the source is gone
 * all the same and a later readiness of the fd reaches nobody. */
static void deregister_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    (void)f;
    cr_assert_eq(rc, 0, "deregister failed: errno %d", errno);
    loop_check_ok(&c->loop);
    cr_assert_eq(c->loop.source_count, 1);
    cr_assert_null(vrt_event_loop_find_task_for_fd(&c->loop, c->pipe[0]));
    cr_assert_eq(__real_write(c->pipe[1], "x", 1), 1);
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 0), 0);
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 0), 0);
}

static int64_t wake_run(struct fault_ctx *c)
{
    return vrt_event_loop_wake(&c->loop);
}

/* A waker that cannot be written reports the kernel's errno and records
 * no wake, so the next wake tries again. */
static void wake_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "wake");
        cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 0), 0);
        cr_assert_eq(wake_run(c), 0);
    }
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 1000), 1);
    cr_assert_eq(vrt_event_loop_event_fd(&c->loop, 0), VRT_WAKER_TOKEN);
    cr_assert_eq(vrt_event_loop_poll_events(&c->loop, 0), 0);
}

static void busy_loop_setup(struct fault_ctx *c)
{
    loop_pipe_setup(c);
    cr_assert_eq(vrt_event_loop_register_read(&c->loop, c->pipe[0], &c->node), 0);
    cr_assert_eq(vrt_event_loop_register_timer(&c->loop, 9, 0, &c->node), 0);
    cr_assert_eq(__real_write(c->pipe[1], "x", 1), 1);
    cr_assert_eq(vrt_event_loop_wake(&c->loop), 0);
}

static int64_t poll_run(struct fault_ctx *c)
{
    int64_t n = vrt_event_loop_poll_events(&c->loop, 1000);
    c->counts[0] = n;
    return n < 0 ? -1 : 0;
}

/* The waker, the readable fd and the due timer: 3 events, whatever
 * failed and was retried on the way.  A failed wait changes nothing. */
static void poll_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    loop_check_ok(&c->loop);
    if (rc != 0) {
        assert_errno_is(errno, f, "poll_events");
        cr_assert_eq(c->loop.running, 0);
        cr_assert_eq(c->loop.source_count, 2, "a failed poll took the timer");
        ASSERT_FAILS(vrt_event_loop_event_fd(&c->loop, 0), ERANGE);
        cr_assert_eq(poll_run(c), 0);
    }
    cr_assert_eq(c->counts[0], 3);
    cr_assert_eq(c->loop.source_count, 1);
    /* A drain that failed leaves the byte: at most one more waker event. */
    int64_t again = vrt_event_loop_poll_events(&c->loop, 0);
    cr_assert(again == 1 || again == 2, "%lld events", (long long)again);
}

/* ---- ReactorRuntime ---- */

static int64_t reactor_new_run(struct fault_ctx *c)
{
    c->reactor = vrt_reactor_runtime_new();
    return c->reactor.event_loop != NULL ? 0 : -1;
}

static void reactor_new_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "ReactorRuntime::new");
        vrt_join_handle_t h = vrt_reactor_runtime_spawn(&c->reactor, 0, ready_7);
        ASSERT_INVALID_HANDLE(h, EINVAL);
        cr_assert_eq(vrt_reactor_runtime_free(&c->reactor), 0);
        cr_assert_eq(reactor_new_run(c), 0);
    }
    reactor_check_ok(&c->reactor);
    cr_assert_eq(vrt_reactor_runtime_block_on(&c->reactor, 0, ready_7), 7);
}

static void reactor_teardown(struct fault_ctx *c)
{
    cr_assert_eq(vrt_reactor_runtime_free(&c->reactor), 0);
    if (c->pipe[0] > 0)
        close_pair(c->pipe);
    task_reactor = NULL;
}

static void reactor_setup(struct fault_ctx *c)
{
    c->reactor = vrt_reactor_runtime_new();
    cr_assert_not_null(c->reactor.event_loop);
    task_reactor = &c->reactor;
    make_pipe(c->pipe);
    pipe_tasks_reset(c);
}

static int64_t reactor_spawn_run(struct fault_ctx *c)
{
    c->handle = vrt_reactor_runtime_spawn(&c->reactor, 0, ready_7);
    return c->handle.task_ptr != NULL ? 0 : -1;
}

static void reactor_spawn_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    reactor_check_ok(&c->reactor);
    if (rc != 0) {
        assert_errno_is(errno, f, "ReactorRuntime::spawn");
        cr_assert_eq(c->reactor.task_count, 0);
        cr_assert_eq(reactor_spawn_run(c), 0);
    }
    cr_assert_eq(vrt_reactor_runtime_run(&c->reactor), 0);
    cr_assert_eq(vrt_join_handle_result(&c->handle), 7);
}

static void reactor_tasks_setup(struct fault_ctx *c)
{
    reactor_setup(c);
    vrt_join_handle_t r = vrt_reactor_runtime_spawn(&c->reactor, (int64_t)(intptr_t)&reader_task,
                                                    reader_poll);
    vrt_join_handle_t w = vrt_reactor_runtime_spawn(&c->reactor, (int64_t)(intptr_t)&writer_task,
                                                    writer_poll);
    cr_assert_not_null(r.task_ptr);
    cr_assert_not_null(w.task_ptr);
    c->handle = r;
}

static int64_t reactor_run_run(struct fault_ctx *c)
{
    return vrt_reactor_runtime_run(&c->reactor);
}

/* A task whose wait failed ends with Ready(-errno); a failed kernel wait
 * ends run with the kernel's errno, the tasks as they were, and a second
 * run finishes them. */
static void reactor_run_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    reactor_check_ok(&c->reactor);
    if (rc != 0) {
        assert_errno_is(errno, f, "ReactorRuntime::run");
        cr_assert_gt(c->reactor.task_count, 0);
        cr_assert_eq(c->reactor.core.running, 0);
        cr_assert_eq(reactor_run_run(c), 0);
    }
    cr_assert_eq(c->reactor.task_count, 0);
    int64_t got = vrt_join_handle_result(&c->handle);
    if (got != 'x') {
        cr_assert_not_null(f, "reader ended with %lld, no fault injected", (long long)got);
        cr_assert_eq(got, -f->err, "reader ended with %lld after an injected %s failure",
                     (long long)got, shim_kind_name(f->kind));
    }
    reactor_check_ok(&c->reactor);
}

static int64_t reactor_block_on_run(struct fault_ctx *c)
{
    errno = 0;
    c->results[0] = vrt_reactor_runtime_block_on(&c->reactor,
                                                 (int64_t)(intptr_t)&reader_task,
                                                 reader_poll);
    return c->results[0] == -1 && errno != 0 ? -1 : 0;
}

static void reactor_block_on_setup(struct fault_ctx *c)
{
    reactor_setup(c);
    cr_assert_not_null(vrt_reactor_runtime_spawn(&c->reactor, (int64_t)(intptr_t)&writer_task,
                                                 writer_poll).task_ptr);
}

static void reactor_block_on_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    reactor_check_ok(&c->reactor);
    if (rc != 0) {
        assert_errno_is(errno, f, "ReactorRuntime::block_on");
        cr_assert_eq(c->reactor.core.running, 0);
        cr_assert_eq(reactor_block_on_run(c), 0);
    }
    if (c->results[0] != 'x') {
        cr_assert_not_null(f);
        cr_assert_eq(c->results[0], -f->err);
    }
    cr_assert_eq(vrt_reactor_runtime_run(&c->reactor), 0);
}

/* ---- TaskGroup, ScopedTask and the globals ---- */

static void group_setup(struct fault_ctx *c)
{
    c->group = vrt_task_group_new();
}

static void group_teardown(struct fault_ctx *c)
{
    cr_assert_eq(vrt_task_group_cleanup(&c->group), 0);
    if (c->pipe[0] > 0)
        close_pair(c->pipe);
    cr_assert_eq(vrt_shutdown(), 0);
}

static int64_t group_spawn_run(struct fault_ctx *c)
{
    c->results[0] = vrt_task_group_spawn(&c->group, 0, ready_7);
    return c->results[0] < 0 ? -1 : 0;
}

static void group_spawn_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "TaskGroup::spawn");
        cr_assert_eq(vrt_task_group_total(&c->group), 0);
        cr_assert_eq(group_spawn_run(c), 0);
    }
    cr_assert_eq(c->results[0], 0);
    cr_assert_eq(vrt_task_group_run(&c->group), 0);
    cr_assert_eq(vrt_task_group_result(&c->group, 0), 7);
}

/* Group tasks on the global reactor: a reader that sleeps first, a
 * writer, and a plain task. */
static void group_tasks_setup(struct fault_ctx *c)
{
    group_setup(c);
    /* Every task runs to its end whatever failed in another one. */
    cr_assert_eq(vrt_task_group_set_cancel_on_error(&c->group, 0), 0);
    make_pipe(c->pipe);
    pipe_tasks_reset(c);
    cr_assert_eq(vrt_task_group_spawn(&c->group, (int64_t)(intptr_t)&reader_task, reader_poll), 0);
    cr_assert_eq(vrt_task_group_spawn(&c->group, (int64_t)(intptr_t)&writer_task, writer_poll), 1);
    cr_assert_eq(vrt_task_group_spawn(&c->group, 0, ready_7), 2);
    cr_assert_eq(vrt_task_group_spawn(&c->group, 0, yield_once), 3);
}

static int64_t group_run_run(struct fault_ctx *c)
{
    c->results[0] = vrt_task_group_run(&c->group);
    return c->results[0] < 0 ? -1 : 0;
}

/* -1 with the errno and the group as it was, ready to run again; or the
 * failure reached a task (its wait failed: Ready(-errno), an error, so
 * run returns 1 and cancels the rest); or it was absorbed. */
static void group_run_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "TaskGroup::run");
        cr_assert_eq(vrt_task_group_is_done(&c->group), 0);
        cr_assert_eq(group_run_run(c), 0);
    }
    cr_assert_eq(vrt_task_group_is_done(&c->group), 1);
    if (c->results[0] == 0) {
        cr_assert_eq(vrt_task_group_result(&c->group, 0), 'x');
        cr_assert_eq(vrt_task_group_result(&c->group, 2), 7);
        return;
    }
    cr_assert_eq(c->results[0], 1);
    cr_assert_not_null(f, "group erred with no fault injected");
    int erred = 0;
    for (int64_t i = 0; i < 4; i++)
        erred += (int)vrt_task_group_has_error(&c->group, i);
    cr_assert_geq(erred, 1);
}

static int64_t scoped_new_run(struct fault_ctx *c)
{
    c->scoped = vrt_scoped_task_new();
    return c->scoped.group != NULL ? 0 : -1;
}

static void scoped_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "ScopedTask::new");
        ASSERT_FAILS(vrt_scoped_task_spawn(&c->scoped, 0, ready_7), EINVAL);
        cr_assert_eq(scoped_new_run(c), 0);
    }
    cr_assert_eq(vrt_scoped_task_spawn(&c->scoped, 0, ready_7), 0);
    cr_assert_eq(vrt_scoped_task_run_and_cleanup(&c->scoped), 0);
}

static void scoped_teardown(struct fault_ctx *c)
{
    (void)c;
    cr_assert_eq(vrt_shutdown(), 0);
}

static void scoped_run_setup(struct fault_ctx *c)
{
    c->scoped = vrt_scoped_task_new();
    cr_assert_not_null(c->scoped.group);
    cr_assert_eq(vrt_scoped_task_spawn(&c->scoped, 0, ready_7), 0);
}

static int64_t scoped_run_run(struct fault_ctx *c)
{
    c->results[0] = vrt_scoped_task_run_and_cleanup(&c->scoped);
    return c->results[0] < 0 ? -1 : 0;
}

/* It cleans up whatever happened: a failed run frees the group too. */
static void scoped_run_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0)
        assert_errno_is(errno, f, "ScopedTask::run_and_cleanup");
    else
        cr_assert_eq(c->results[0], 0);
    cr_assert_null(c->scoped.group);
    ASSERT_FAILS(vrt_scoped_task_spawn(&c->scoped, 0, ready_7), EINVAL);
}

static int64_t reactor_init_run(struct fault_ctx *c)
{
    (void)c;
    return vrt_reactor_init() != NULL ? 0 : -1;
}

static void reactor_init_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        /* Nothing half-made is kept: the next call starts afresh. */
        assert_errno_is(errno, f, "reactor_init");
        cr_assert_eq(reactor_init_run(c), 0);
    }
    cr_assert_eq(vrt_reactor_block_on(0, ready_7), 7);
}

static int64_t global_spawn_run(struct fault_ctx *c)
{
    c->handle = vrt_spawn(0, ready_7);
    return c->handle.task_ptr != NULL ? 0 : -1;
}

static void global_spawn_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    CHECK(vrt_get_runtime());
    if (rc != 0) {
        assert_errno_is(errno, f, "spawn");
        cr_assert_eq(vrt_get_runtime()->task_count, 0);
        cr_assert_eq(global_spawn_run(c), 0);
    }
    cr_assert_eq(vrt_run_all(), 0);
    cr_assert_eq(vrt_join_handle_result(&c->handle), 7);
}

static int64_t global_reactor_spawn_run(struct fault_ctx *c)
{
    c->handle = vrt_reactor_spawn(0, ready_7);
    return c->handle.task_ptr != NULL ? 0 : -1;
}

static void global_reactor_spawn_verify(struct fault_ctx *c, int64_t rc,
                                        const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "reactor_spawn");
        cr_assert_eq(global_reactor_spawn_run(c), 0);
    }
    cr_assert_eq(vrt_reactor_run(), 0);
    cr_assert_eq(vrt_join_handle_result(&c->handle), 7);
}

static int64_t global_block_on_run(struct fault_ctx *c)
{
    errno = 0;
    c->results[0] = vrt_reactor_block_on(0, ready_7);
    return c->results[0] == 7 ? 0 : -1;
}

static void global_block_on_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "reactor_block_on");
        cr_assert_eq(global_block_on_run(c), 0);
    }
}

static int64_t global_run_run(struct fault_ctx *c)
{
    (void)c;
    return vrt_reactor_run();
}

static void global_run_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "reactor_run");
        cr_assert_eq(global_run_run(c), 0);
    }
}

/* A global wait serves the task being polled: inside a reactor task,
 * sleep_ms registers a timer with the global reactor, whose allocations (and
 * the reactor's own creation) can fail.  state: 0 before the wait, 1 while
 * asleep, -errno when the wait was refused. */
static int64_t sleep_once_poll(int64_t state_ptr)
{
    int64_t *state = (int64_t *)(intptr_t)state_ptr;
    if (*state != 0)
        return vrt_poll_ready(0);
    if (vrt_sleep_ms(1) < 0) {
        *state = -errno;
        return vrt_poll_ready(-1);
    }
    *state = 1;
    return vrt_poll_pending();
}

static int64_t global_sleep_run(struct fault_ctx *c)
{
    int64_t state = 0;
    errno = 0;
    c->results[0] = vrt_reactor_block_on((int64_t)(intptr_t)&state, sleep_once_poll);
    if (state < 0) {
        errno = (int)-state;
        return -1;
    }
    return c->results[0] == 0 ? 0 : -1;
}

static void global_sleep_verify(struct fault_ctx *c, int64_t rc, const struct shim_fault *f)
{
    if (rc != 0) {
        assert_errno_is(errno, f, "sleep_ms");
        cr_assert_eq(global_sleep_run(c), 0);
    }
}

/* ---- the loop over N ---- */

static void exercise(const struct fault_case *fc, enum shim_mode mode)
{
    cr_assert_eq(vrt_set_allocator(&shim_allocator), 0);
    int injected = 0;
    for (long n = 1;; n++) {
        int fds_before = count_open_fds();
        long blocks_before = shim_live_blocks();
        struct fault_ctx c;
        memset(&c, 0, sizeof c);
        c.pipe[0] = c.pipe[1] = -1;
        fc->setup(&c);
        shim_arm(n, mode);
        errno = 0;
        int64_t rc = fc->run(&c);
        int err = errno;
        struct shim_fault fault;
        int fired = shim_disarm(&fault);
        errno = err;
        if (mode == SHIM_EINTR)
            cr_assert_eq(rc, 0, "%s: EINTR at call %ld was reported (errno %d), not retried",
                         fc->name, n, err);
        fc->verify(&c, rc, fired ? &fault : NULL);
        fc->teardown(&c);
        cr_assert_eq(shim_live_blocks(), blocks_before,
                     "%s, failure %ld (%s): %ld blocks leaked", fc->name, n,
                     fired ? shim_kind_name(fault.kind) : "none",
                     shim_live_blocks() - blocks_before);
        cr_assert_eq(count_open_fds(), fds_before, "%s, failure %ld (%s): fds leaked",
                     fc->name, n, fired ? shim_kind_name(fault.kind) : "none");
        if (!fired)
            break;
        injected++;
        /* The code address of the failed call, relative to a library
         * function, so that the summary can count distinct call sites. */
        printf("fault-pc %s %s %s %lx\n", fc->name, mode == SHIM_HARD ? "hard" : "eintr",
               shim_kind_name(fault.kind),
               (unsigned long)((uintptr_t)fault.site - (uintptr_t)vrt_runtime_new));
        cr_assert_lt(n, 1000, "%s: no end to its fallible calls", fc->name);
    }
#ifdef VRT_FAULT_LSAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "LSan found leaks");
#endif
    printf("fault-sites %s %s %d\n", fc->name, mode == SHIM_HARD ? "hard" : "eintr",
           injected);
    fflush(stdout);
    if (mode == SHIM_HARD)
        cr_assert_gt(injected, 0, "%s: no fallible call at all", fc->name);
}

static const struct fault_case cases[] = {
    {"Runtime::spawn", rt_setup, rt_spawn_run, rt_spawn_verify, rt_teardown},
    {"EventLoop::new", nothing, loop_new_run, loop_new_verify, loop_teardown},
    {"EventLoop::register_read", loop_pipe_setup, register_read_run, register_read_verify,
     loop_teardown},
    {"EventLoop::register_write", registered_read_setup, register_write_run,
     register_write_verify, loop_teardown},
    {"EventLoop::register_timer", loop_pipe_setup, register_timer_run, register_timer_verify,
     loop_teardown},
    {"EventLoop::deregister", registered_read_setup, deregister_run, deregister_verify,
     loop_teardown},
    {"EventLoop::wake", loop_pipe_setup, wake_run, wake_verify, loop_teardown},
    {"EventLoop::poll_events", busy_loop_setup, poll_run, poll_verify, loop_teardown},
    {"ReactorRuntime::new", nothing, reactor_new_run, reactor_new_verify, reactor_teardown},
    {"ReactorRuntime::spawn", reactor_setup, reactor_spawn_run, reactor_spawn_verify,
     reactor_teardown},
    {"ReactorRuntime::run", reactor_tasks_setup, reactor_run_run, reactor_run_verify,
     reactor_teardown},
    {"ReactorRuntime::block_on", reactor_block_on_setup, reactor_block_on_run,
     reactor_block_on_verify, reactor_teardown},
    {"TaskGroup::spawn", group_setup, group_spawn_run, group_spawn_verify, group_teardown},
    {"TaskGroup::run", group_tasks_setup, group_run_run, group_run_verify, group_teardown},
    {"ScopedTask::new", nothing, scoped_new_run, scoped_verify, scoped_teardown},
    {"ScopedTask::run_and_cleanup", scoped_run_setup, scoped_run_run, scoped_run_verify,
     scoped_teardown},
    {"reactor_init", nothing, reactor_init_run, reactor_init_verify, scoped_teardown},
    {"spawn", nothing, global_spawn_run, global_spawn_verify, scoped_teardown},
    {"reactor_spawn", nothing, global_reactor_spawn_run, global_reactor_spawn_verify,
     scoped_teardown},
    {"reactor_block_on", nothing, global_block_on_run, global_block_on_verify, scoped_teardown},
    {"reactor_run", nothing, global_run_run, global_run_verify, scoped_teardown},
    {"sleep_ms", nothing, global_sleep_run, global_sleep_verify, scoped_teardown},
};

/* Every site with a hard error, then the waits, reads and writes with
 * EINTR (which must be retried, never reported). */
static void exercise_both(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].name, name) == 0) {
            exercise(&cases[i], SHIM_HARD);
            exercise(&cases[i], SHIM_EINTR);
            return;
        }
    }
    cr_assert_fail("no fault case %s", name);
}

/* rows: Runtime::spawn */
Test(fault, runtime_spawn) { exercise_both("Runtime::spawn"); }

/* rows: EventLoop::new */
Test(fault, loop_new) { exercise_both("EventLoop::new"); }

/* rows: EventLoop::register_read */
Test(fault, register_read) { exercise_both("EventLoop::register_read"); }

/* rows: EventLoop::register_write */
Test(fault, register_write) { exercise_both("EventLoop::register_write"); }

/* rows: EventLoop::register_timer */
Test(fault, register_timer) { exercise_both("EventLoop::register_timer"); }

/* rows: EventLoop::deregister */
Test(fault, deregister) { exercise_both("EventLoop::deregister"); }

/* rows: EventLoop::wake */
Test(fault, wake) { exercise_both("EventLoop::wake"); }

/* rows: EventLoop::poll_events */
Test(fault, poll_events) { exercise_both("EventLoop::poll_events"); }

/* rows: ReactorRuntime::new */
Test(fault, reactor_new) { exercise_both("ReactorRuntime::new"); }

/* rows: ReactorRuntime::spawn */
Test(fault, reactor_spawn_method) { exercise_both("ReactorRuntime::spawn"); }

/* rows: ReactorRuntime::run, ReactorRuntime::wait_readable,
 *       ReactorRuntime::wait_writable, ReactorRuntime::sleep_ms */
Test(fault, reactor_run) { exercise_both("ReactorRuntime::run"); }

/* rows: ReactorRuntime::block_on */
Test(fault, reactor_block_on) { exercise_both("ReactorRuntime::block_on"); }

/* rows: TaskGroup::spawn */
Test(fault, group_spawn) { exercise_both("TaskGroup::spawn"); }

/* rows: TaskGroup::run, wait_readable, wait_writable, sleep_ms */
Test(fault, group_run) { exercise_both("TaskGroup::run"); }

/* rows: ScopedTask::new */
Test(fault, scoped_new) { exercise_both("ScopedTask::new"); }

/* rows: ScopedTask::run_and_cleanup */
Test(fault, scoped_run) { exercise_both("ScopedTask::run_and_cleanup"); }

/* rows: reactor_init */
Test(fault, reactor_init) { exercise_both("reactor_init"); }

/* rows: spawn */
Test(fault, global_spawn) { exercise_both("spawn"); }

/* rows: reactor_spawn */
Test(fault, global_reactor_spawn) { exercise_both("reactor_spawn"); }

/* rows: reactor_block_on */
Test(fault, global_reactor_block_on) { exercise_both("reactor_block_on"); }

/* rows: reactor_run */
Test(fault, global_reactor_run) { exercise_both("reactor_run"); }

/* rows: sleep_ms */
Test(fault, global_sleep_ms) { exercise_both("sleep_ms"); }

/* kqueue: an event of a filter vrt never registered is news about nothing
 * of ours; alone in its batch it must not read as a timeout. */
/* rows: EventLoop::poll_events */
Test(fault, kqueue_foreign_filter_is_skipped)
{
    if (strcmp(vrt_event_loop_backend(), "kqueue") != 0)
        cr_skip_test("kqueue only: epoll has no other filters");
    vrt_event_loop_t loop = vrt_event_loop_new();
    cr_assert_geq(loop.kq, 0);
    cr_assert_eq(vrt_event_loop_wake(&loop), 0);
    shim_foreign_events = 1;
    cr_assert_eq(vrt_event_loop_poll_events(&loop, 1000), 1);
    cr_assert_eq(shim_foreign_events, 0, "the foreign event was never returned");
    cr_assert_eq(vrt_event_loop_event_fd(&loop, 0), VRT_WAKER_TOKEN);
    cr_assert_eq(vrt_event_loop_cleanup(&loop), 0);
}
