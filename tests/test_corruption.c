/*
 * White-box tests of the defences that only a corrupted structure or a
 * misbehaving kernel can reach: every clause of the invariant checkers
 * (each broken on purpose, one at a time, then restored), the platform
 * layer called directly, and events no registration of vrt can produce.
 */
#include <limits.h>

#include "io_helpers.h"
#include "vrt_internal.h"

static int64_t ready_0(int64_t future_ptr)
{
    (void)future_ptr;
    return vrt_poll_ready(0);
}

/* Breaks one field, expects `code` from the check, restores it. */
#define EXPECT_BROKEN(check, field, bad, code)                               \
    do {                                                                     \
        __typeof__(field) saved_ = (field);                                  \
        (field) = (bad);                                                     \
        int64_t got_ = (check);                                              \
        (field) = saved_;                                                    \
        cr_assert_eq(got_, (code), "%s = %s: check gave %lld, expected %s",  \
                     #field, #bad, (long long)got_, #code);                  \
        cr_assert_eq((check), 0, "restoring %s did not heal", #field);       \
    } while (0)

/* rows: Runtime::check, CHECK_COUNT_RANGE, CHECK_CURRENT, CHECK_NODE,
 *       CHECK_HEAD_TAIL, CHECK_COUNT_MISMATCH, CHECK_FREE_LIST, CHECK_LINKS */
Test(corruption, every_clause_of_the_runtime_check)
{
    vrt_runtime_t rt = vrt_runtime_new();
    vrt_task_node_t *n[3];
    for (int i = 0; i < 3; i++)
        n[i] = vrt_runtime_spawn(&rt, 0, ready_0).task_ptr;
    vrt_runtime_t other = vrt_runtime_new();
    CHECK(&rt);

    EXPECT_BROKEN(vrt_runtime_check(&rt), rt.task_count, -1, VRT_CHECK_COUNT_RANGE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), rt.max_tasks, -1, VRT_CHECK_COUNT_RANGE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), rt.max_tasks, VRT_MAX_TASKS_LIMIT + 1,
                  VRT_CHECK_COUNT_RANGE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), rt.next_task_id, 2, VRT_CHECK_COUNT_RANGE);

    /* The task being polled must be this runtime's. */
    rt.running = 1;
    n[0]->owner = &other;
    rt.current_task = n[0];
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_CURRENT);
    rt.current_task = NULL;
    n[0]->owner = &rt;
    /* RUNNING or CANCELLED is live only for the task being polled. */
    rt.current_task = n[1];
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->status, VRT_TASK_RUNNING, 0);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->status, VRT_TASK_CANCELLED, 0);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->status, VRT_TASK_COMPLETED, VRT_CHECK_NODE);
    rt.current_task = NULL;
    rt.running = 0;
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->status, VRT_TASK_RUNNING, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->status, VRT_TASK_CANCELLED, VRT_CHECK_NODE);

    /* A queued node: owned, QUEUED and neither FREE nor PARKED, id in
     * range, with a poll function. */
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->owner, &other, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->flags, 0, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->flags, VRT_NODE_QUEUED | VRT_NODE_FREE,
                  VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->flags, VRT_NODE_QUEUED | VRT_NODE_PARKED,
                  VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->id, -1, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->id, 3, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[1]->poll_fn, NULL, VRT_CHECK_NODE);

    /* head and tail: both or neither, tail the last node. */
    EXPECT_BROKEN(vrt_runtime_check(&rt), rt.tail, NULL, VRT_CHECK_HEAD_TAIL);
    EXPECT_BROKEN(vrt_runtime_check(&rt), rt.head, NULL, VRT_CHECK_HEAD_TAIL);
    EXPECT_BROKEN(vrt_runtime_check(&rt), n[2]->prev, n[0], VRT_CHECK_LINKS);
    /* Fewer nodes than counted. */
    rt.next_task_id = 10;
    EXPECT_BROKEN(vrt_runtime_check(&rt), rt.task_count, 4, VRT_CHECK_COUNT_MISMATCH);
    rt.next_task_id = 3;

    /* The free list: only free nodes of this runtime, no longer than the
     * slabs, so a cycle ends the walk. */
    vrt_task_node_t *free0 = rt.free_list;
    cr_assert_not_null(free0);
    EXPECT_BROKEN(vrt_runtime_check(&rt), free0->owner, &other, VRT_CHECK_FREE_LIST);
    EXPECT_BROKEN(vrt_runtime_check(&rt), free0->flags, VRT_NODE_FREE | VRT_NODE_QUEUED,
                  VRT_CHECK_FREE_LIST);
    EXPECT_BROKEN(vrt_runtime_check(&rt), free0->next, free0, VRT_CHECK_FREE_LIST);

    cr_assert_eq(vrt_runtime_run(&rt), 0);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
}

/* A loop with two fd sources (read and write of one socket) and two
 * timers, for the loop check. */
struct loop_fixture {
    vrt_event_loop_t loop;
    vrt_task_node_t task;
    int sv[2];
    vrt_event_source_t *fd_src, *timer_src, *timer2_src;
};

static void fixture_open(struct loop_fixture *f)
{
    memset(f, 0, sizeof *f);
    f->loop = vrt_event_loop_new();
    cr_assert_geq(f->loop.kq, 0);
    make_socketpair(f->sv);
    cr_assert_eq(vrt_event_loop_register_read(&f->loop, f->sv[0], &f->task), 0);
    cr_assert_eq(vrt_event_loop_register_timer(&f->loop, 7, 100000, &f->task), 0);
    cr_assert_eq(vrt_event_loop_register_timer(&f->loop, 8, 200000, &f->task), 0);
    f->fd_src = f->loop.sources_head;
    f->timer_src = f->fd_src->next;
    f->timer2_src = f->timer_src->next;
    cr_assert_eq(vrt_loop_check(&f->loop), 0);
}

static void fixture_close(struct loop_fixture *f)
{
    cr_assert_eq(vrt_event_loop_cleanup(&f->loop), 0);
    close_pair(f->sv);
}

/* rows: ReactorRuntime::check, CHECK_NULL, CHECK_LINKS, CHECK_NODE,
 *       CHECK_COUNT_MISMATCH, EventLoop::cleanup */
Test(corruption, every_clause_of_the_loop_check)
{
    struct loop_fixture f;
    fixture_open(&f);
    vrt_event_loop_t *loop = &f.loop;
    struct vrt_loop_state *st = loop->state;

    cr_assert_eq(vrt_loop_check(NULL), VRT_CHECK_NULL);
    EXPECT_BROKEN(vrt_loop_check(loop), loop->source_count, 2, VRT_CHECK_LINKS);
    EXPECT_BROKEN(vrt_loop_check(loop), f.timer_src->prev, NULL, VRT_CHECK_LINKS);
    EXPECT_BROKEN(vrt_loop_check(loop), f.fd_src->task, NULL, VRT_CHECK_LINKS);

    EXPECT_BROKEN(vrt_loop_check(loop), f.timer_src->heap_index, -1, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_loop_check(loop), f.timer_src->heap_index, 5, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_loop_check(loop), st->heap[0], f.timer2_src, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_loop_check(loop), f.timer_src->fd, 99, VRT_CHECK_NODE);

    EXPECT_BROKEN(vrt_loop_check(loop), f.fd_src->fd, -1, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_loop_check(loop), f.fd_src->fd, st->fd_capacity, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_loop_check(loop), st->fds[f.sv[0]].read, NULL, VRT_CHECK_NODE);
    EXPECT_BROKEN(vrt_loop_check(loop), st->fds[f.sv[0]].kernel_mask, 0u, VRT_CHECK_NODE);

    EXPECT_BROKEN(vrt_loop_check(loop), loop->source_count, 4, VRT_CHECK_COUNT_MISMATCH);
    EXPECT_BROKEN(vrt_loop_check(loop), loop->sources_tail, f.timer_src,
                  VRT_CHECK_COUNT_MISMATCH);
    EXPECT_BROKEN(vrt_loop_check(loop), st->heap_len, 3, VRT_CHECK_COUNT_MISMATCH);
    /* The heap order: the later deadline on top. */
    int64_t later = f.timer2_src->deadline_ns + 1;
    EXPECT_BROKEN(vrt_loop_check(loop), st->heap[0]->deadline_ns, later, VRT_CHECK_NODE);

    /* The reactor's check adds the loop's. */
    vrt_reactor_runtime_t r = vrt_reactor_runtime_new();
    cr_assert_not_null(r.event_loop);
    cr_assert_eq(vrt_reactor_runtime_check(NULL), VRT_CHECK_NULL);
    cr_assert_eq(vrt_reactor_runtime_check(&r), 0);
    r.event_loop->source_count = 1;
    cr_assert_eq(vrt_reactor_runtime_check(&r), VRT_CHECK_COUNT_MISMATCH);
    r.event_loop->source_count = 0;
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0);
    fixture_close(&f);
}

/* A source whose task was wiped is still removed cleanly. */
/* rows: EventLoop::deregister */
Test(corruption, deregister_a_source_without_task)
{
    struct loop_fixture f;
    fixture_open(&f);
    f.fd_src->task = NULL;
    cr_assert_eq(vrt_event_loop_deregister(&f.loop, f.sv[0], VRT_EVFILT_READ), 1);
    cr_assert_eq(vrt_loop_check(&f.loop), 0);
    fixture_close(&f);
}

/* A kernel event under a token no registration gave (an fd number beyond
 * the table) is dropped, not read out of bounds. */
/* rows: EventLoop::poll_events */
Test(corruption, event_for_an_fd_beyond_the_table_is_dropped)
{
    struct loop_fixture f;
    fixture_open(&f);
    uint64_t token = UINT64_C(5000) | (UINT64_C(1) << 32);
    cr_assert_eq(vrt_backend_watch((int)f.loop.kq, f.sv[1], 0, VRT_IO_WRITE, token), 0);
    cr_assert_eq(vrt_event_loop_poll_events(&f.loop, 0), 0);
    cr_assert_eq(vrt_loop_check(&f.loop), 0);
    cr_assert_eq(vrt_backend_watch((int)f.loop.kq, f.sv[1], VRT_IO_WRITE, 0, 0), 0);
    fixture_close(&f);
}

/* The platform layer's contract (backend.h), called directly: the cases
 * the event loop above it never produces. */
Test(corruption, backend_called_directly)
{
    int kq = vrt_backend_open();
    cr_assert_geq(kq, 0);
    int sv[2];
    make_socketpair(sv);
    /* Nothing to nothing: no system call, no error. */
    cr_assert_eq(vrt_backend_watch(kq, sv[0], 0, 0, 1), 0);
    /* An add for an fd the kernel has already (a closed-and-reused number
     * the caller could not know about) replaces the registration. */
    cr_assert_eq(vrt_backend_watch(kq, sv[0], 0, VRT_IO_WRITE, 1), 0);
    cr_assert_eq(vrt_backend_watch(kq, sv[0], 0, VRT_IO_WRITE, 2), 0);
    /* A change for an fd the kernel forgot is an add. */
    cr_assert_eq(vrt_backend_watch(kq, sv[1], VRT_IO_READ, VRT_IO_WRITE, 3), 0);
    /* More room than the backend's batch is clamped to the batch. */
    vrt_io_event_t events[2 * VRT_MAX_EVENTS];
    int n = vrt_backend_wait(kq, events, (int)(2 * VRT_MAX_EVENTS), 1000);
    cr_assert_eq(n, 2, "%d events", n);
    for (int i = 0; i < n; i++) {
        cr_assert(events[i].token == 2 || events[i].token == 3);
        cr_assert_neq(events[i].ready & VRT_IO_WRITE, 0u);
    }
    vrt_backend_close(kq);
    close_pair(sv);
}

/* Waking a task that is not parked changes nothing. */
Test(corruption, wake_of_a_task_not_parked)
{
    vrt_runtime_t rt = vrt_runtime_new();
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, 0, ready_0);
    cr_assert_eq(vrt_sched_wake(&rt, h.task_ptr), 0);
    cr_assert_eq(h.task_ptr->status, VRT_TASK_PENDING);
    CHECK(&rt);
    cr_assert_eq(vrt_runtime_run(&rt), 0);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
}

/* An fd number far above the table grows it in one step. */
/* rows: EventLoop::register_read, EventLoop::find_task_for_fd */
Test(corruption, register_a_high_fd)
{
    vrt_event_loop_t loop = vrt_event_loop_new();
    vrt_task_node_t task;
    memset(&task, 0, sizeof task);
    int p[2];
    make_pipe(p);
    int high = fcntl(p[0], F_DUPFD_CLOEXEC, 500);
    cr_assert_geq(high, 500);
    cr_assert_eq(vrt_event_loop_register_read(&loop, high, &task), 0);
    cr_assert_gt(loop.state->fd_capacity, high);
    cr_assert_eq(vrt_event_loop_find_task_for_fd(&loop, high), &task);
    cr_assert_eq(vrt_loop_check(&loop), 0);
    cr_assert_eq(vrt_event_loop_cleanup(&loop), 0);
    close(high);
    close_pair(p);
}

/* A wake of a reactor's loop while it runs is an event with no task: the
 * dispatch passes over it. */
static int64_t wake_then_sleep(int64_t future_ptr)
{
    vrt_reactor_runtime_t *r = (vrt_reactor_runtime_t *)(intptr_t)future_ptr;
    static int step;
    if (step++ == 0) {
        cr_assert_eq(vrt_event_loop_wake(r->event_loop), 0);
        cr_assert_eq(vrt_reactor_runtime_sleep_ms(r, 1), 1000);
        return vrt_poll_pending();
    }
    return vrt_poll_ready(1);
}

/* rows: ReactorRuntime::run, EventLoop::wake */
Test(corruption, waker_event_during_a_reactor_run)
{
    vrt_reactor_runtime_t r = vrt_reactor_runtime_new();
    vrt_join_handle_t h = vrt_reactor_runtime_spawn(&r, (int64_t)(intptr_t)&r, wake_then_sleep);
    cr_assert_eq(vrt_reactor_runtime_run(&r), 0);
    cr_assert_eq(vrt_join_handle_result(&h), 1);
    cr_assert_eq(vrt_reactor_runtime_check(&r), 0);
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0);
}
