/*
 * The bad-input catalogue (REQUIREMENTS section 3): every public function
 * with a NULL self, NULL function pointers, fds that are -1, closed, above
 * the open-file limit or one of the loop's own, negative and huge delays and
 * timeouts, out-of-range indexes, and use after cleanup or release.  Each
 * call gives its documented error value and errno, and the object it was
 * given is byte for byte what it was before the call.
 */
#include <limits.h>
#include <sys/resource.h>

#include "io_helpers.h"

static int64_t ready_3(int64_t future_ptr)
{
    (void)future_ptr;
    return vrt_poll_ready(3);
}

/* expr fails with err and leaves *obj exactly as it was. */
#define FAILS_UNCHANGED(obj, expr, err)                                      \
    do {                                                                     \
        __typeof__(*(obj)) before_;                                          \
        memcpy(&before_, (obj), sizeof before_);                             \
        ASSERT_FAILS(expr, err);                                             \
        cr_assert(memcmp(&before_, (obj), sizeof before_) == 0,              \
                  "%s changed its object", #expr);                           \
    } while (0)

/* As FAILS_UNCHANGED for a call returning a JoinHandle. */
#define SPAWN_FAILS_UNCHANGED(obj, expr, err)                                \
    do {                                                                     \
        __typeof__(*(obj)) before_;                                          \
        memcpy(&before_, (obj), sizeof before_);                             \
        errno = 0;                                                           \
        vrt_join_handle_t h_ = (expr);                                       \
        ASSERT_INVALID_HANDLE(h_, err);                                      \
        cr_assert(memcmp(&before_, (obj), sizeof before_) == 0,              \
                  "%s changed its object", #expr);                           \
    } while (0)

/* A closed fd number, an fd above the open-file limit, and an absurd one. */
static void bad_fds(int64_t out[4])
{
    int p[2];
    make_pipe(p);
    close_pair(p);
    struct rlimit lim;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    out[0] = -1;
    out[1] = p[0]; /* closed just now */
    out[2] = lim.rlim_cur < (rlim_t)INT_MAX ? (int64_t)lim.rlim_cur + 10 : INT_MAX;
    out[3] = INT64_C(1) << 40;
}

/* rows: TaskNode::is_completed, TaskNode::is_pending, JoinHandle::new */
Test(bad_input, task_node_and_join_handle)
{
    ASSERT_FAILS(vrt_task_node_is_completed(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_node_is_pending(NULL), EINVAL);

    vrt_join_handle_t invalid = vrt_join_handle_new(-1, NULL);
    cr_assert_eq(vrt_join_handle_is_valid(NULL), 0);
    cr_assert_eq(vrt_join_handle_is_valid(&invalid), 0);
    ASSERT_FAILS(vrt_join_handle_status(NULL), EINVAL);
    ASSERT_FAILS(vrt_join_handle_result(NULL), EINVAL);
    ASSERT_FAILS(vrt_join_handle_abort(NULL), EINVAL);
    ASSERT_FAILS(vrt_join_handle_release(NULL), EINVAL);
    FAILS_UNCHANGED(&invalid, vrt_join_handle_status(&invalid), EINVAL);
    FAILS_UNCHANGED(&invalid, vrt_join_handle_result(&invalid), EINVAL);
    FAILS_UNCHANGED(&invalid, vrt_join_handle_abort(&invalid), EINVAL);
    FAILS_UNCHANGED(&invalid, vrt_join_handle_release(&invalid), EINVAL);

    /* A negative id with a real node, and use after release. */
    vrt_runtime_t rt = vrt_runtime_new();
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, 0, ready_3);
    vrt_join_handle_t forged = vrt_join_handle_new(-5, h.task_ptr);
    FAILS_UNCHANGED(&rt, vrt_join_handle_status(&forged), EINVAL);
    vrt_join_handle_t copy = h;
    cr_assert_eq(vrt_join_handle_release(&h), 0);
    /* A copy of a released handle is stale at once, the task still live. */
    FAILS_UNCHANGED(&rt, vrt_join_handle_release(&copy), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_join_handle_status(&copy), EINVAL);
    cr_assert_eq(vrt_runtime_run(&rt), 0);
    FAILS_UNCHANGED(&rt, vrt_join_handle_status(&copy), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_join_handle_result(&copy), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_join_handle_abort(&copy), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_join_handle_release(&copy), EINVAL);
    CHECK(&rt);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
}

/* rows: Runtime::spawn, Runtime::run, Runtime::block_on,
 *       Runtime::set_max_tasks, Runtime::max_tasks, Runtime::free,
 *       Runtime::check */
Test(bad_input, runtime)
{
    errno = 0;
    ASSERT_INVALID_HANDLE(vrt_runtime_spawn(NULL, 0, ready_3), EINVAL);
    ASSERT_FAILS(vrt_runtime_run(NULL), EINVAL);
    ASSERT_FAILS(vrt_runtime_block_on(NULL, 0, ready_3), EINVAL);
    ASSERT_FAILS(vrt_runtime_set_max_tasks(NULL, 10), EINVAL);
    ASSERT_FAILS(vrt_runtime_max_tasks(NULL), EINVAL);
    ASSERT_FAILS(vrt_runtime_free(NULL), EINVAL);
    errno = 0;
    cr_assert_eq(vrt_runtime_check(NULL), VRT_CHECK_NULL);
    cr_assert_eq(errno, EINVAL);

    vrt_runtime_t rt = vrt_runtime_new();
    SPAWN_FAILS_UNCHANGED(&rt, vrt_runtime_spawn(&rt, 0, NULL), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_runtime_block_on(&rt, 0, NULL), EINVAL);
    vrt_runtime_spawn(&rt, 0, ready_3);
    vrt_runtime_spawn(&rt, 0, ready_3);
    FAILS_UNCHANGED(&rt, vrt_runtime_set_max_tasks(&rt, 0), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_runtime_set_max_tasks(&rt, -1), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_runtime_set_max_tasks(&rt, INT64_MIN), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_runtime_set_max_tasks(&rt, VRT_MAX_TASKS_LIMIT + 1), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_runtime_set_max_tasks(&rt, INT64_MAX), EINVAL);
    FAILS_UNCHANGED(&rt, vrt_runtime_set_max_tasks(&rt, 1), EINVAL); /* below task_count */
    CHECK(&rt);

    /* Use after free: the runtime is new again, and works. */
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    cr_assert_eq(rt.task_count, 0);
    cr_assert_eq(vrt_runtime_run(&rt), 0);
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, 0, ready_3);
    cr_assert_eq(h.task_id, 0);
    cr_assert_eq(vrt_runtime_block_on(&rt, 0, ready_3), 3);
    CHECK(&rt);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
}

/* rows: EventLoop::register_read, EventLoop::register_write,
 *       EventLoop::register_timer, EventLoop::deregister, EventLoop::wake,
 *       EventLoop::poll_events, EventLoop::event_fd,
 *       EventLoop::event_filter, EventLoop::find_task_for_fd,
 *       EventLoop::cleanup */
Test(bad_input, event_loop_null_self)
{
    vrt_task_node_t task;
    memset(&task, 0, sizeof task);
    ASSERT_FAILS(vrt_event_loop_register_read(NULL, 0, &task), EINVAL);
    ASSERT_FAILS(vrt_event_loop_register_write(NULL, 0, &task), EINVAL);
    ASSERT_FAILS(vrt_event_loop_register_timer(NULL, 1, 1, &task), EINVAL);
    ASSERT_FAILS(vrt_event_loop_deregister(NULL, 0, VRT_EVFILT_READ), EINVAL);
    ASSERT_FAILS(vrt_event_loop_wake(NULL), EINVAL);
    ASSERT_FAILS(vrt_event_loop_poll_events(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_event_loop_event_fd(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_event_loop_event_filter(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_event_loop_cleanup(NULL), EINVAL);
    errno = 0;
    cr_assert_null(vrt_event_loop_find_task_for_fd(NULL, 0));
    cr_assert_eq(errno, EINVAL);
}

/* rows: EventLoop::register_read, EventLoop::register_write,
 *       EventLoop::register_timer, EventLoop::deregister,
 *       EventLoop::poll_events, EventLoop::event_fd,
 *       EventLoop::event_filter, EventLoop::find_task_for_fd */
Test(bad_input, event_loop_bad_arguments)
{
    vrt_event_loop_t loop = vrt_event_loop_new();
    cr_assert_geq(loop.kq, 0);
    vrt_task_node_t task;
    memset(&task, 0, sizeof task);
    int p[2];
    make_pipe(p);
    int64_t fds[4];
    bad_fds(fds);
    int fds_open = count_open_fds();

    FAILS_UNCHANGED(&loop, vrt_event_loop_register_read(&loop, p[0], NULL), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_register_write(&loop, p[1], NULL), EINVAL);
    for (int i = 0; i < 4; i++) {
        FAILS_UNCHANGED(&loop, vrt_event_loop_register_read(&loop, fds[i], &task), EBADF);
        FAILS_UNCHANGED(&loop, vrt_event_loop_register_write(&loop, fds[i], &task), EBADF);
        cr_assert_eq(vrt_event_loop_deregister(&loop, fds[i], VRT_EVFILT_READ), 0);
    }
    /* The loop's own fds are not the user's to watch. */
    int64_t own[3] = {loop.kq, loop.waker_read_fd, loop.waker_write_fd};
    for (int i = 0; i < 3; i++)
        FAILS_UNCHANGED(&loop, vrt_event_loop_register_read(&loop, own[i], &task), EBADF);

    FAILS_UNCHANGED(&loop, vrt_event_loop_register_timer(&loop, 1, 1, NULL), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_register_timer(&loop, 1, -1, &task), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_register_timer(&loop, 1, INT64_MIN, &task), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_deregister(&loop, 0, 0), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_deregister(&loop, 0, VRT_EVFILT_READ + 100), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_poll_events(&loop, -2), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_poll_events(&loop, INT64_MIN), EINVAL);
    int64_t indexes[4] = {-1, 0, VRT_MAX_EVENTS, INT64_MAX};
    for (int i = 0; i < 4; i++) {
        FAILS_UNCHANGED(&loop, vrt_event_loop_event_fd(&loop, indexes[i]), ERANGE);
        FAILS_UNCHANGED(&loop, vrt_event_loop_event_filter(&loop, indexes[i]), ERANGE);
    }
    errno = 0;
    cr_assert_null(vrt_event_loop_find_task_for_fd(&loop, -1));
    cr_assert_eq(errno, EBADF);
    cr_assert_null(vrt_event_loop_find_task_for_fd(&loop, fds[3]));
    cr_assert_eq(vrt_event_loop_deregister(&loop, 12345, VRT_EVFILT_TIMER), 0);

    /* Huge delays and timeouts saturate: the timer is armed and does not
     * fire, a huge timeout returns as soon as there is an event. */
    cr_assert_eq(vrt_event_loop_register_timer(&loop, 1, INT64_MAX, &task), 0);
    cr_assert_eq(vrt_event_loop_register_timer(&loop, 2, INT64_MAX / 1000, &task), 0);
    cr_assert_eq(vrt_event_loop_poll_events(&loop, 0), 0);
    cr_assert_eq(vrt_event_loop_wake(&loop), 0);
    cr_assert_eq(vrt_event_loop_poll_events(&loop, INT64_MAX), 1);
    cr_assert_eq(vrt_event_loop_event_fd(&loop, 0), VRT_WAKER_TOKEN);
    /* Past the last event, still ERANGE. */
    ASSERT_FAILS(vrt_event_loop_event_fd(&loop, 1), ERANGE);
    cr_assert_eq(vrt_event_loop_deregister(&loop, 1, VRT_EVFILT_TIMER), 1);
    cr_assert_eq(vrt_event_loop_deregister(&loop, 2, VRT_EVFILT_TIMER), 1);
    cr_assert_eq(loop.source_count, 0);
    cr_assert_eq(count_open_fds(), fds_open, "a refused fd was kept open");

    cr_assert_eq(vrt_event_loop_cleanup(&loop), 0);
    close_pair(p);
}

/* rows: EventLoop::cleanup, EventLoop::register_read,
 *       EventLoop::register_write, EventLoop::register_timer,
 *       EventLoop::deregister, EventLoop::wake, EventLoop::poll_events,
 *       EventLoop::event_fd, EventLoop::event_filter,
 *       EventLoop::find_task_for_fd */
Test(bad_input, event_loop_after_cleanup)
{
    vrt_event_loop_t loop = vrt_event_loop_new();
    vrt_task_node_t task;
    memset(&task, 0, sizeof task);
    int p[2];
    make_pipe(p);
    cr_assert_eq(vrt_event_loop_register_read(&loop, p[0], &task), 0);
    cr_assert_eq(vrt_event_loop_cleanup(&loop), 0);
    cr_assert_eq(vrt_event_loop_cleanup(&loop), 0);
    cr_assert_eq(loop.kq, -1);
    FAILS_UNCHANGED(&loop, vrt_event_loop_register_read(&loop, p[0], &task), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_register_write(&loop, p[1], &task), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_register_timer(&loop, 1, 1, &task), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_deregister(&loop, p[0], VRT_EVFILT_READ), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_wake(&loop), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_poll_events(&loop, 0), EINVAL);
    FAILS_UNCHANGED(&loop, vrt_event_loop_event_fd(&loop, 0), ERANGE);
    FAILS_UNCHANGED(&loop, vrt_event_loop_event_filter(&loop, 0), ERANGE);
    errno = 0;
    cr_assert_null(vrt_event_loop_find_task_for_fd(&loop, p[0]));
    cr_assert_eq(errno, EINVAL);
    close_pair(p);
}

/* What a task of the reactor under test does with its bad arguments. */
static vrt_reactor_runtime_t *bad_reactor;
static int64_t bad_fd_list[4];

static int64_t bad_waits_poll(int64_t future_ptr)
{
    (void)future_ptr;
    vrt_reactor_runtime_t *r = bad_reactor;
    for (int i = 0; i < 4; i++) {
        FAILS_UNCHANGED(r->event_loop, vrt_reactor_runtime_wait_readable(r, bad_fd_list[i]), EBADF);
        FAILS_UNCHANGED(r->event_loop, vrt_reactor_runtime_wait_writable(r, bad_fd_list[i]), EBADF);
    }
    FAILS_UNCHANGED(r, vrt_reactor_runtime_wait_readable(r, r->event_loop->kq), EBADF);
    FAILS_UNCHANGED(r, vrt_reactor_runtime_sleep_ms(r, -1), EINVAL);
    FAILS_UNCHANGED(r, vrt_reactor_runtime_sleep_ms(r, INT64_MIN), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_wait_readable(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_sleep_ms(NULL, 1), EINVAL);
    /* Re-entry from inside a poll. */
    ASSERT_FAILS(vrt_reactor_runtime_run(r), EBUSY);
    ASSERT_FAILS(vrt_reactor_runtime_block_on(r, 0, ready_3), EBUSY);
    ASSERT_FAILS(vrt_reactor_runtime_free(r), EBUSY);
    /* A huge sleep is armed (saturated), then dropped with the task. */
    cr_assert_eq(vrt_reactor_runtime_sleep_ms(r, INT64_MAX), 1000);
    return vrt_poll_ready(9);
}

/* rows: ReactorRuntime::spawn, ReactorRuntime::get_event_loop,
 *       ReactorRuntime::wait_readable, ReactorRuntime::wait_writable,
 *       ReactorRuntime::sleep_ms, ReactorRuntime::run,
 *       ReactorRuntime::block_on, ReactorRuntime::free */
Test(bad_input, reactor)
{
    errno = 0;
    ASSERT_INVALID_HANDLE(vrt_reactor_runtime_spawn(NULL, 0, ready_3), EINVAL);
    errno = 0;
    cr_assert_null(vrt_reactor_runtime_get_event_loop(NULL));
    cr_assert_eq(errno, EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_wait_readable(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_wait_writable(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_sleep_ms(NULL, 1), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_run(NULL), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_block_on(NULL, 0, ready_3), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_free(NULL), EINVAL);

    vrt_reactor_runtime_t r = vrt_reactor_runtime_new();
    cr_assert_not_null(r.event_loop);
    SPAWN_FAILS_UNCHANGED(&r, vrt_reactor_runtime_spawn(&r, 0, NULL), EINVAL);
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_block_on(&r, 0, NULL), EINVAL);
    /* Outside a poll. */
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_wait_readable(&r, 0), EINVAL);
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_wait_writable(&r, 1), EINVAL);
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_sleep_ms(&r, 1), EINVAL);

    bad_reactor = &r;
    bad_fds(bad_fd_list);
    cr_assert_eq(vrt_reactor_runtime_block_on(&r, 0, bad_waits_poll), 9);
    cr_assert_eq(vrt_reactor_runtime_check(&r), 0);
    cr_assert_eq(r.event_loop->source_count, 0, "a wait outlived its block_on");

    /* Use after free: every method refuses. */
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0);
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0);
    cr_assert_null(vrt_reactor_runtime_get_event_loop(&r));
    SPAWN_FAILS_UNCHANGED(&r, vrt_reactor_runtime_spawn(&r, 0, ready_3), EINVAL);
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_run(&r), EINVAL);
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_block_on(&r, 0, ready_3), EINVAL);
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_wait_readable(&r, 0), EINVAL);
    FAILS_UNCHANGED(&r, vrt_reactor_runtime_sleep_ms(&r, 1), EINVAL);
}

/* A task that cleans up its own reactor's loop by hand, then waits. */
static int64_t cleans_the_loop_poll(int64_t future_ptr)
{
    (void)future_ptr;
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    cr_assert_eq(vrt_event_loop_cleanup(r->event_loop), 0);
    ASSERT_FAILS(vrt_wait_readable(0), EINVAL);
    ASSERT_FAILS(vrt_wait_writable(1), EINVAL);
    ASSERT_FAILS(vrt_sleep_ms(1), EINVAL);
    return vrt_poll_ready(4);
}

/* rows: reactor_block_on, wait_readable, wait_writable, sleep_ms,
 *       shutdown, EventLoop::cleanup */
Test(bad_input, global_reactor_loop_cleaned_up_by_hand)
{
    cr_assert_eq(vrt_reactor_block_on(0, cleans_the_loop_poll), 4);
    /* The reactor refuses its dead loop from now on ... */
    ASSERT_FAILS(vrt_reactor_run(), EINVAL);
    errno = 0;
    ASSERT_INVALID_HANDLE(vrt_reactor_spawn(0, ready_3), EINVAL);
    /* ... and shutdown frees what is left, so the next use starts clean. */
    cr_assert_eq(vrt_shutdown(), 0);
    cr_assert_eq(vrt_reactor_block_on(0, ready_3), 3);
    cr_assert_eq(vrt_shutdown(), 0);
}

/* rows: spawn, block_on, reactor_spawn, reactor_block_on, wait_readable,
 *       wait_writable, sleep_ms, set_allocator */
Test(bad_input, globals)
{
    errno = 0;
    ASSERT_INVALID_HANDLE(vrt_spawn(0, NULL), EINVAL);
    ASSERT_FAILS(vrt_block_on(0, NULL), EINVAL);
    errno = 0;
    ASSERT_INVALID_HANDLE(vrt_reactor_spawn(0, NULL), EINVAL);
    ASSERT_FAILS(vrt_reactor_block_on(0, NULL), EINVAL);
    ASSERT_FAILS(vrt_wait_readable(-1), EINVAL); /* outside a poll first */
    ASSERT_FAILS(vrt_wait_writable(-1), EINVAL);
    ASSERT_FAILS(vrt_sleep_ms(-1), EINVAL);
    cr_assert_eq(vrt_get_runtime()->task_count, 0);
    cr_assert_eq(vrt_get_reactor()->task_count, 0);

    vrt_allocator_t half = {NULL, NULL, NULL};
    ASSERT_FAILS(vrt_set_allocator(&half), EINVAL);
    cr_assert_eq(vrt_set_allocator(NULL), 0);
    cr_assert_eq(vrt_shutdown(), 0);
}

/* rows: TaskGroup::set_max_concurrency, TaskGroup::spawn, TaskGroup::run,
 *       TaskGroup::cancel, TaskGroup::total, TaskGroup::result,
 *       TaskGroup::task_status, TaskGroup::cleanup */
Test(bad_input, task_group)
{
    /* Every method's NULL self: tests/test_group.c, task_group/bad_arguments. */
    vrt_task_group_t g = vrt_task_group_new();
    FAILS_UNCHANGED(&g, vrt_task_group_spawn(&g, 0, NULL), EINVAL);
    FAILS_UNCHANGED(&g, vrt_task_group_set_max_concurrency(&g, -1), EINVAL);
    FAILS_UNCHANGED(&g, vrt_task_group_set_max_concurrency(&g, INT64_MIN), EINVAL);
    cr_assert_eq(vrt_task_group_spawn(&g, 0, ready_3), 0);
    cr_assert_eq(vrt_task_group_run(&g), 0);
    /* Out-of-range indexes: tests/test_group.c, task_group/index_out_of_range_is_erange. */
    cr_assert_eq(vrt_task_group_result(&g, 0), 3);

    /* After cleanup every index is out of range; cleanup twice is a no-op. */
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
    cr_assert_eq(vrt_task_group_total(&g), 0);
    errno = 0;
    cr_assert_eq(vrt_task_group_result(&g, 0), 0);
    cr_assert_eq(errno, ERANGE);
    FAILS_UNCHANGED(&g, vrt_task_group_task_status(&g, 0), ERANGE);
    /* A cancelled group refuses spawns and stays as it was. */
    cr_assert_eq(vrt_task_group_cancel(&g), 0);
    FAILS_UNCHANGED(&g, vrt_task_group_spawn(&g, 0, ready_3), ECANCELED);
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
    cr_assert_eq(vrt_shutdown(), 0);
}

/* rows: ScopedTask::spawn, ScopedTask::run_and_cleanup */
Test(bad_input, scoped_task)
{
    ASSERT_FAILS(vrt_scoped_task_spawn(NULL, 0, ready_3), EINVAL);
    ASSERT_FAILS(vrt_scoped_task_run_and_cleanup(NULL), EINVAL);
    vrt_scoped_task_t s = vrt_scoped_task_new();
    cr_assert_not_null(s.group);
    ASSERT_FAILS(vrt_scoped_task_spawn(&s, 0, NULL), EINVAL);
    cr_assert_eq(vrt_scoped_task_spawn(&s, 0, ready_3), 0);
    cr_assert_eq(vrt_scoped_task_run_and_cleanup(&s), 0);
    /* Use after run_and_cleanup. */
    FAILS_UNCHANGED(&s, vrt_scoped_task_spawn(&s, 0, ready_3), EINVAL);
    FAILS_UNCHANGED(&s, vrt_scoped_task_run_and_cleanup(&s), EINVAL);
    cr_assert_eq(vrt_shutdown(), 0);
}
