/* TaskGroup, ScopedTask and their globals: structured concurrency on the
 * scheduler core, with tasks that may wait on the global reactor. */
#include <stdlib.h>
#include <sys/resource.h>

#include "io_helpers.h"
#include "vrt_internal.h" /* white-box: a wait armed by hand */

/* A group task scripted like helpers.h's scripts, but counting what the
 * group does: polls, first-poll order, and how many are in flight. */
struct flight {
    int started;      /* tasks polled at least once */
    int finished;     /* tasks that returned Ready */
    int max_in_flight;
    int start_order[64];
    int polls_after_cancel;
    int cancelled_seen;
};

typedef struct gtask gtask_t;
struct gtask {
    int label;
    int pending_left;  /* Pending this many times, then Ready(value) */
    int32_t value;
    int polls;
    struct flight *flight;
    vrt_task_group_t *group;
    void (*hook)(gtask_t *t);
    int64_t user;
};

static int64_t gtask_poll(int64_t future_ptr)
{
    gtask_t *t = (gtask_t *)(intptr_t)future_ptr;
    struct flight *f = t->flight;
    if (t->polls++ == 0 && f != NULL) {
        f->start_order[f->started++] = t->label;
        int in_flight = f->started - f->finished;
        if (in_flight > f->max_in_flight)
            f->max_in_flight = in_flight;
    }
    if (t->hook != NULL)
        t->hook(t);
    if (t->pending_left > 0) {
        t->pending_left--;
        return vrt_poll_pending();
    }
    if (f != NULL)
        f->finished++;
    return vrt_poll_ready(t->value);
}

static int64_t gfut(gtask_t *t)
{
    return (int64_t)(intptr_t)t;
}

static int64_t spawn_g(vrt_task_group_t *g, gtask_t *t)
{
    t->group = g;
    int64_t index = vrt_task_group_spawn(g, gfut(t), gtask_poll);
    cr_assert_geq(index, 0, "spawn failed: errno %d", errno);
    return index;
}

/* rows: TaskGroup::new, TaskGroup::named, task_group, task_group_named,
 *       TaskGroup, TaskGroup::is_done, TaskGroup::run */
Test(task_group, new_and_named_defaults)
{
    vrt_task_group_t g = vrt_task_group_new();
    cr_assert_null(g.name);
    cr_assert_null(g.head);
    cr_assert_null(g.tail);
    cr_assert_eq(g.task_count, 0);
    cr_assert_eq(g.completed_count, 0);
    cr_assert_eq(g.cancelled, 0);
    cr_assert_eq(g.cancel_on_error, 1);
    cr_assert_null(g.results);
    cr_assert_eq(g.max_concurrency, 0);
    static const char name[] = "workers";
    vrt_task_group_t n = vrt_task_group_named(name);
    cr_assert_eq(n.name, name, "the pointer is stored");
    cr_assert_eq(n.cancel_on_error, 1);
    vrt_task_group_t gg = vrt_task_group();
    cr_assert_eq(gg.cancel_on_error, 1);
    cr_assert_null(gg.name);
    cr_assert_eq(vrt_task_group_is_done(&g), 1, "an empty group is done");
    cr_assert_eq(vrt_task_group_run(&g), 0);
}

/* rows: TaskGroup::spawn, TaskGroup::total, TaskGroup::completed,
 *       TaskGroup::is_done, TaskGroup::task_status, TaskGroup::cleanup,
 *       TASK_PENDING */
Test(task_group, spawn_returns_zero_based_index)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t[3] = {{.label = 0}, {.label = 1}, {.label = 2}};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(spawn_g(&g, &t[i]), i);
    cr_assert_eq(vrt_task_group_total(&g), 3);
    cr_assert_eq(vrt_task_group_completed(&g), 0);
    cr_assert_eq(vrt_task_group_is_done(&g), 0);
    cr_assert_eq(g.head->index, 0);
    cr_assert_eq(g.tail->index, 2);
    cr_assert_eq(vrt_task_group_task_status(&g, 1), VRT_TASK_PENDING);
    cr_assert_eq(t[0].polls, 0, "spawn does not poll");
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
}

/* rows: TaskGroup::spawn, TaskGroup::run, TaskGroup::cancel,
 *       TaskGroup::cancel_remaining, TaskGroup::completed, TaskGroup::total,
 *       TaskGroup::is_done, TaskGroup::is_cancelled, TaskGroup::cleanup,
 *       TaskGroup::set_cancel_on_error, TaskGroup::set_max_concurrency,
 *       TaskGroup::task_status, TaskGroup::result, TaskGroup::has_error */
Test(task_group, bad_arguments)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t = {0};
    ASSERT_FAILS(vrt_task_group_spawn(NULL, gfut(&t), gtask_poll), EINVAL);
    ASSERT_FAILS(vrt_task_group_spawn(&g, gfut(&t), NULL), EINVAL);
    cr_assert_eq(g.task_count, 0);
    ASSERT_FAILS(vrt_task_group_run(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_cancel(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_cancel_remaining(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_completed(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_total(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_is_done(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_is_cancelled(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_cleanup(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_group_set_cancel_on_error(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_task_group_set_max_concurrency(NULL, 1), EINVAL);
    ASSERT_FAILS(vrt_task_group_set_max_concurrency(&g, -1), EINVAL);
    cr_assert_eq(g.max_concurrency, 0);
    ASSERT_FAILS(vrt_task_group_task_status(NULL, 0), EINVAL);
    errno = 0;
    cr_assert_eq(vrt_task_group_result(NULL, 0), 0);
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(vrt_task_group_has_error(NULL, 0), 0);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(vrt_task_group_set_cancel_on_error(&g, 7), 0);
    cr_assert_eq(g.cancel_on_error, 1);
    cr_assert_eq(vrt_task_group_set_cancel_on_error(&g, 0), 0);
    cr_assert_eq(g.cancel_on_error, 0);
}

/* rows: TaskGroup::result, TaskGroup::has_error, TaskGroup::task_status */
Test(task_group, index_out_of_range_is_erange)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t = {.value = 9};
    spawn_g(&g, &t);
    const int64_t bad[] = {-1, 1, 2, INT64_MAX, INT64_MIN};
    for (int i = 0; i < 5; i++) {
        errno = 0;
        cr_assert_eq(vrt_task_group_result(&g, bad[i]), 0);
        cr_assert_eq(errno, ERANGE);
        errno = 0;
        cr_assert_eq(vrt_task_group_has_error(&g, bad[i]), 0);
        cr_assert_eq(errno, ERANGE);
        ASSERT_FAILS(vrt_task_group_task_status(&g, bad[i]), ERANGE);
    }
    vrt_task_group_cleanup(&g);
}

/* rows: TaskGroup::run, TaskGroup::completed, TaskGroup::is_done,
 *       TaskGroup::result, TaskGroup::has_error, TaskGroup::task_status,
 *       TASK_COMPLETED */
Test(task_group, run_completes_every_task)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t[5];
    for (int i = 0; i < 5; i++) {
        t[i] = (gtask_t){.label = i, .pending_left = i, .value = 100 + i};
        spawn_g(&g, &t[i]);
    }
    cr_assert_eq(vrt_task_group_run(&g), 0);
    cr_assert_eq(vrt_task_group_completed(&g), 5);
    cr_assert_eq(vrt_task_group_is_done(&g), 1);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(vrt_task_group_result(&g, i), 100 + i);
        cr_assert_eq(vrt_task_group_has_error(&g, i), 0);
        cr_assert_eq(vrt_task_group_task_status(&g, i), VRT_TASK_COMPLETED);
        cr_assert_eq(g.results[i], 100 + i);
        cr_assert_eq(t[i].polls, i + 1);
    }
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
}

/* rows: TaskGroup::set_max_concurrency, TaskGroup::run */
Test(task_group, max_concurrency_two_of_six_in_spawn_order)
{
    vrt_task_group_t g = vrt_task_group_new();
    cr_assert_eq(vrt_task_group_set_max_concurrency(&g, 2), 0);
    struct flight f = {0};
    gtask_t t[6];
    const int lengths[6] = {3, 1, 4, 1, 5, 2};
    for (int i = 0; i < 6; i++) {
        t[i] = (gtask_t){.label = i, .pending_left = lengths[i], .value = i, .flight = &f};
        spawn_g(&g, &t[i]);
    }
    cr_assert_eq(vrt_task_group_run(&g), 0);
    cr_assert_eq(f.started, 6);
    cr_assert_eq(f.max_in_flight, 2, "never more than 2 started and unfinished");
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(f.start_order[i], i, "start %d was task %d", i, f.start_order[i]);
        cr_assert_eq(t[i].polls, lengths[i] + 1);
    }
    vrt_task_group_cleanup(&g);
}

static void fail_on_second_poll(gtask_t *t)
{
    if (t->polls == 2)
        t->pending_left = 0;
}

/* rows: TaskGroup::run, TaskGroup::has_error, TaskGroup::result,
 *       TaskGroup::task_status, TaskGroup::completed, TaskGroup::is_done,
 *       TaskGroup::is_cancelled, TASK_CANCELLED */
Test(task_group, error_with_cancel_on_error_stops_every_sibling)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (gtask_t){.label = i, .pending_left = 1000, .value = i};
        spawn_g(&g, &t[i]);
    }
    t[1].value = -5;
    t[1].hook = fail_on_second_poll;
    cr_assert_eq(vrt_task_group_run(&g), 1);
    cr_assert_eq(vrt_task_group_has_error(&g, 1), 1);
    cr_assert_eq(vrt_task_group_result(&g, 1), -5);
    cr_assert_eq(vrt_task_group_task_status(&g, 1), VRT_TASK_COMPLETED);
    /* Sweep 1 polls 0 1 2 3; sweep 2 polls 0, then 1 errs: 2 and 3 are
     * cancelled before their turn, 0 is never polled again. */
    cr_assert_eq(t[0].polls, 2);
    cr_assert_eq(t[2].polls, 1);
    cr_assert_eq(t[3].polls, 1);
    for (int i = 0; i < 4; i++) {
        if (i == 1)
            continue;
        cr_assert_eq(vrt_task_group_task_status(&g, i), VRT_TASK_CANCELLED);
        cr_assert_eq(vrt_task_group_has_error(&g, i), 0);
        cr_assert_eq(vrt_task_group_result(&g, i), 0);
    }
    cr_assert_eq(vrt_task_group_completed(&g), 4);
    cr_assert_eq(vrt_task_group_is_done(&g), 1);
    cr_assert_eq(vrt_task_group_is_cancelled(&g), 0, "an error is not a cancel");
    vrt_task_group_cleanup(&g);
}

/* rows: TaskGroup::set_cancel_on_error, TaskGroup::run,
 *       TaskGroup::has_error */
Test(task_group, error_with_cancel_on_error_off_runs_everything)
{
    vrt_task_group_t g = vrt_task_group_new();
    cr_assert_eq(vrt_task_group_set_cancel_on_error(&g, 0), 0);
    gtask_t t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (gtask_t){.label = i, .pending_left = i + 1, .value = i == 0 ? -1 : i};
        spawn_g(&g, &t[i]);
    }
    cr_assert_eq(vrt_task_group_run(&g), 1);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(t[i].polls, i + 2, "task %d ran to its end", i);
        cr_assert_eq(vrt_task_group_task_status(&g, i), VRT_TASK_COMPLETED);
        cr_assert_eq(vrt_task_group_has_error(&g, i), i == 0);
    }
    cr_assert_eq(vrt_task_group_result(&g, 0), -1);
    vrt_task_group_cleanup(&g);
}

/* rows: TaskGroup::set_max_concurrency, TaskGroup::run,
 *       TaskGroup::task_status */
Test(task_group, errors_with_max_concurrency_cancel_unstarted_too)
{
    vrt_task_group_t g = vrt_task_group_new();
    vrt_task_group_set_max_concurrency(&g, 1);
    gtask_t t[3] = {{.label = 0, .value = -2}, {.label = 1, .value = 1}, {.label = 2, .value = 2}};
    for (int i = 0; i < 3; i++)
        spawn_g(&g, &t[i]);
    cr_assert_eq(vrt_task_group_run(&g), 1);
    cr_assert_eq(t[1].polls, 0);
    cr_assert_eq(t[2].polls, 0);
    cr_assert_eq(vrt_task_group_task_status(&g, 2), VRT_TASK_CANCELLED);
    vrt_task_group_cleanup(&g);
}

/* rows: TaskGroup::cancel, TaskGroup::is_cancelled, TaskGroup::spawn,
 *       TaskGroup::cleanup */
Test(task_group, cancelled_group_refuses_spawn)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t[2] = {{.label = 0}, {.label = 1}};
    spawn_g(&g, &t[0]);
    spawn_g(&g, &t[1]);
    cr_assert_eq(vrt_task_group_cancel(&g), 2);
    cr_assert_eq(vrt_task_group_is_cancelled(&g), 1);
    cr_assert_eq(vrt_task_group_completed(&g), 2);
    ASSERT_FAILS(vrt_task_group_spawn(&g, gfut(&t[0]), gtask_poll), ECANCELED);
    cr_assert_eq(vrt_task_group_total(&g), 2);
    cr_assert_eq(vrt_task_group_run(&g), 1);
    cr_assert_eq(t[0].polls, 0, "cancelled tasks are never polled");
    cr_assert_eq(vrt_task_group_cancel(&g), 0, "nothing left to cancel");
    vrt_task_group_cleanup(&g);
    cr_assert_eq(vrt_task_group_is_cancelled(&g), 0, "cleanup starts afresh");
    cr_assert_geq(spawn_g(&g, &t[0]), 0);
    vrt_task_group_cleanup(&g);
}

/* rows: TaskGroup::cancel_remaining, TaskGroup::is_cancelled */
Test(task_group, cancel_remaining_keeps_the_group_open)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t[3] = {{.label = 0}, {.label = 1}, {.label = 2, .value = 7}};
    spawn_g(&g, &t[0]);
    spawn_g(&g, &t[1]);
    cr_assert_eq(vrt_task_group_cancel_remaining(&g), 2);
    cr_assert_eq(vrt_task_group_is_cancelled(&g), 0);
    cr_assert_eq(spawn_g(&g, &t[2]), 2);
    cr_assert_eq(vrt_task_group_run(&g), 0);
    cr_assert_eq(vrt_task_group_result(&g, 2), 7);
    cr_assert_eq(vrt_task_group_task_status(&g, 0), VRT_TASK_CANCELLED);
    vrt_task_group_cleanup(&g);
}

static void cancel_whole_group(gtask_t *t)
{
    if (t->polls == 2)
        cr_assert_eq(vrt_task_group_cancel(t->group), 3);
}

/* rows: TaskGroup::cancel */
Test(task_group, cancel_from_inside_a_task)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = (gtask_t){.label = i, .pending_left = 10, .value = 1};
        spawn_g(&g, &t[i]);
    }
    t[1].hook = cancel_whole_group;
    cr_assert_eq(vrt_task_group_run(&g), 1);
    cr_assert_eq(t[1].polls, 2);
    cr_assert_eq(t[2].polls, 1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(vrt_task_group_task_status(&g, i), VRT_TASK_CANCELLED);
    vrt_task_group_cleanup(&g);
}

static void reenter_group(gtask_t *t)
{
    ASSERT_FAILS(vrt_task_group_run(t->group), EBUSY);
    ASSERT_FAILS(vrt_task_group_cleanup(t->group), EBUSY);
    if (t->polls == 1) {
        gtask_t *child = (gtask_t *)(intptr_t)t->user;
        cr_assert_eq(vrt_task_group_spawn(t->group, gfut(child), gtask_poll), 1,
                     "spawning into the running group is allowed");
    }
}

/* rows: TaskGroup::run, TaskGroup::cleanup, TaskGroup::spawn */
Test(task_group, reentry_is_ebusy_and_spawn_inside_joins_the_run)
{
    vrt_task_group_t g = vrt_task_group_new();
    gtask_t child = {.label = 1, .value = 8};
    gtask_t parent = {.label = 0, .pending_left = 1, .value = 3, .hook = reenter_group,
                      .user = (int64_t)(intptr_t)&child};
    child.group = &g;
    spawn_g(&g, &parent);
    cr_assert_eq(vrt_task_group_run(&g), 0);
    cr_assert_eq(vrt_task_group_total(&g), 2);
    cr_assert_eq(vrt_task_group_result(&g, 1), 8);
    vrt_task_group_cleanup(&g);
}

/* rows: TaskGroup::spawn, MAX_TASKS */
Test(task_group, limit_of_unfinished_tasks_is_eagain)
{
    vrt_task_group_t g = vrt_task_group_new();
    static gtask_t t[VRT_MAX_TASKS + 1];
    for (int i = 0; i < VRT_MAX_TASKS; i++) {
        t[i] = (gtask_t){.label = i, .value = i};
        spawn_g(&g, &t[i]);
    }
    ASSERT_FAILS(vrt_task_group_spawn(&g, gfut(&t[256]), gtask_poll), EAGAIN);
    cr_assert_eq(vrt_task_group_total(&g), 256);
    cr_assert_eq(vrt_task_group_run(&g), 0);
    cr_assert_geq(spawn_g(&g, &t[256]), 256, "finished tasks free their slots");
    cr_assert_eq(vrt_task_group_run(&g), 0);
    cr_assert_eq(vrt_task_group_result(&g, 255), 255);
    vrt_task_group_cleanup(&g);
}

/* rows: TaskGroup::cleanup, TaskGroup::named */
Test(task_group, cleanup_is_idempotent_and_keeps_settings)
{
    vrt_task_group_t g = vrt_task_group_named("n");
    vrt_task_group_set_max_concurrency(&g, 3);
    vrt_task_group_set_cancel_on_error(&g, 0);
    gtask_t t[2] = {{.label = 0, .pending_left = 5}, {.label = 1}};
    spawn_g(&g, &t[0]);
    spawn_g(&g, &t[1]);
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
    cr_assert_eq(vrt_task_group_total(&g), 0);
    cr_assert_eq(vrt_task_group_completed(&g), 0);
    cr_assert_null(g.head);
    cr_assert_null(g.results);
    cr_assert_eq(g.max_concurrency, 3);
    cr_assert_eq(g.cancel_on_error, 0);
    cr_assert_str_eq(g.name, "n");
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
    cr_assert_eq(t[0].polls, 0);
}

/* ---- tasks that wait on the global reactor ---- */

struct sleeper_stats {
    int done;
};

static int64_t sleep_200(int64_t future_ptr)
{
    int64_t *state = (int64_t *)(intptr_t)future_ptr;
    if (state[0] == 0) {
        state[0] = 1;
        if (vrt_sleep_ms(200) < 1000)
            cr_assert_fail("sleep_ms from a group task: errno %d", errno);
        return vrt_poll_pending();
    }
    state[1]++; /* polls after the wake */
    return vrt_poll_ready(1);
}

static int64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* rows: TaskGroup::run, sleep_ms */
Test(task_group, two_hundred_sleeping_tasks_are_parked_not_spun)
{
    vrt_task_group_t g = vrt_task_group_new();
    static int64_t state[200][2];
    for (int i = 0; i < 200; i++)
        cr_assert_eq(vrt_task_group_spawn(&g, (int64_t)(intptr_t)state[i], sleep_200), i);
    cr_assert_not_null(vrt_get_reactor()); /* made before the measure */
    int64_t cpu0 = cpu_us(), t0 = now_ns();
    cr_assert_eq(vrt_task_group_run(&g), 0);
    int64_t cpu = cpu_us() - cpu0, wall = now_ns() - t0;
    cr_assert_geq(wall, 200LL * 1000000);
    if (!under_valgrind())
        cr_assert_lt(cpu, 50000, "%lld us of CPU for 200 tasks sleeping 200 ms", (long long)cpu);
    cr_log_info("200 group tasks sleeping 200 ms: %lld us of CPU", (long long)cpu);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(state[i][1], 1, "task %d polled once after its wake", i);
    vrt_task_group_cleanup(&g);
    cr_assert_eq(vrt_shutdown(), 0);
}

struct pipe_pair {
    int fds[2];
    int state;
};

static int64_t group_reader(int64_t future_ptr)
{
    struct pipe_pair *p = (struct pipe_pair *)(intptr_t)future_ptr;
    char c;
    if (read(p->fds[0], &c, 1) == 1)
        return vrt_poll_ready(c);
    cr_assert_eq(vrt_wait_readable(p->fds[0]), 0);
    return vrt_poll_pending();
}

static int64_t group_writer(int64_t future_ptr)
{
    struct pipe_pair *p = (struct pipe_pair *)(intptr_t)future_ptr;
    if (p->state == 0) {
        p->state = 1;
        cr_assert_geq(vrt_sleep_ms(10), 1000);
        return vrt_poll_pending();
    }
    if (p->state == 1) {
        p->state = 2;
        cr_assert_eq(vrt_wait_writable(p->fds[1]), 0);
        return vrt_poll_pending();
    }
    cr_assert_eq(write(p->fds[1], "R", 1), 1);
    return vrt_poll_ready(0);
}

/* rows: TaskGroup::run, wait_readable, wait_writable, sleep_ms */
Test(task_group, tasks_wait_on_pipes_through_the_global_reactor)
{
    vrt_task_group_t g = vrt_task_group_new();
    struct pipe_pair p = {{-1, -1}, 0};
    make_pipe(p.fds);
    cr_assert_eq(vrt_task_group_spawn(&g, (int64_t)(intptr_t)&p, group_reader), 0);
    cr_assert_eq(vrt_task_group_spawn(&g, (int64_t)(intptr_t)&p, group_writer), 1);
    cr_assert_eq(vrt_task_group_run(&g), 0);
    cr_assert_eq(vrt_task_group_result(&g, 0), 'R');
    vrt_task_group_cleanup(&g);
    close_pair(p.fds);
    cr_assert_eq(vrt_shutdown(), 0);
}

static int64_t waits_outside_a_group(int64_t future_ptr)
{
    (void)future_ptr;
    ASSERT_FAILS(vrt_sleep_ms(5), EINVAL);
    return vrt_poll_ready(0);
}

/* rows: sleep_ms */
Test(task_group, a_plain_runtime_task_cannot_wait_on_the_reactor)
{
    vrt_runtime_t rt = vrt_runtime_new();
    vrt_runtime_spawn(&rt, 0, waits_outside_a_group);
    cr_assert_eq(vrt_runtime_run(&rt), 0);
    vrt_runtime_free(&rt);
    vrt_shutdown();
}

/* rows: TaskGroup::cancel, TaskGroup::cleanup */
Test(task_group, cleanup_of_parked_tasks_drops_their_waits)
{
    vrt_task_group_t g = vrt_task_group_new();
    static int64_t state[3][2];
    for (int i = 0; i < 3; i++)
        vrt_task_group_spawn(&g, (int64_t)(intptr_t)state[i], sleep_200);
    /* run is not called: cancel the started ones by hand after one sweep */
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    cr_assert_not_null(r);
    cr_assert_eq(vrt_task_group_cancel(&g), 3);
    cr_assert_eq(r->event_loop->source_count, 0);
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
    cr_assert_eq(vrt_shutdown(), 0);
}

/* ---- ScopedTask ---- */

/* rows: scoped_task, ScopedTask, ScopedTask::spawn,
 *       ScopedTask::run_and_cleanup */
Test(scoped_task, runs_cleans_up_and_refuses_later_calls)
{
    vrt_scoped_task_t s = vrt_scoped_task();
    cr_assert_not_null(s.group);
    gtask_t t[2] = {{.label = 0, .pending_left = 2, .value = 4}, {.label = 1, .value = 5}};
    cr_assert_eq(vrt_scoped_task_spawn(&s, gfut(&t[0]), gtask_poll), 0);
    cr_assert_eq(vrt_scoped_task_spawn(&s, gfut(&t[1]), gtask_poll), 1);
    cr_assert_eq(vrt_scoped_task_run_and_cleanup(&s), 0);
    cr_assert_null(s.group);
    cr_assert_eq(t[0].polls, 3);
    ASSERT_FAILS(vrt_scoped_task_spawn(&s, gfut(&t[0]), gtask_poll), EINVAL);
    ASSERT_FAILS(vrt_scoped_task_run_and_cleanup(&s), EINVAL);
    ASSERT_FAILS(vrt_scoped_task_spawn(NULL, 0, gtask_poll), EINVAL);
    ASSERT_FAILS(vrt_scoped_task_run_and_cleanup(NULL), EINVAL);
}

/* rows: ScopedTask::new, ScopedTask::spawn, ScopedTask::run_and_cleanup */
Test(scoped_task, cleans_up_on_error_too)
{
    vrt_scoped_task_t s = vrt_scoped_task_new();
    gtask_t t[2] = {{.label = 0, .value = -1}, {.label = 1, .pending_left = 100}};
    vrt_scoped_task_spawn(&s, gfut(&t[0]), gtask_poll);
    vrt_scoped_task_spawn(&s, gfut(&t[1]), gtask_poll);
    cr_assert_eq(vrt_scoped_task_run_and_cleanup(&s), 1);
    cr_assert_null(s.group);
    cr_assert_eq(t[1].polls, 0, "cancelled by its sibling's error before its turn");
}

/* sleep_200 that reports a failed sleep_ms as its error value. */
static int64_t sleep_or_fail(int64_t future_ptr)
{
    int64_t *state = (int64_t *)(intptr_t)future_ptr;
    if (state[0] == 0) {
        state[0] = 1;
        if (vrt_sleep_ms(1) < 0) {
            cr_assert_eq(errno, ENOMEM);
            return vrt_poll_ready(-ENOMEM);
        }
        return vrt_poll_pending();
    }
    return vrt_poll_ready(1);
}

/* Fails the Nth allocation (1-based), counts the rest. */
struct faulty {
    long allocs;
    long releases;
    long fail_at;
    int failed;
};

static struct faulty faulty;

static void *faulty_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (++faulty.allocs == faulty.fail_at) {
        faulty.failed = 1;
        faulty.allocs--;
        return NULL;
    }
    return malloc(size);
}

static void faulty_release(void *ctx, void *block)
{
    (void)ctx;
    faulty.releases++;
    free(block);
}

/* rows: ScopedTask::new, ScopedTask::spawn, ScopedTask::run_and_cleanup,
 *       set_allocator */
Test(scoped_task, every_allocation_failure_is_reported_and_leaks_nothing)
{
    vrt_allocator_t a = {faulty_alloc, faulty_release, NULL};
    int sites = 0;
    for (long n = 1; n < 100; n++) {
        memset(&faulty, 0, sizeof faulty);
        faulty.fail_at = n;
        cr_assert_eq(vrt_set_allocator(&a), 0);
        static int64_t state[3][2];
        memset(state, 0, sizeof state);
        vrt_scoped_task_t s = vrt_scoped_task_new();
        int64_t rc;
        if (s.group == NULL) {
            cr_assert_eq(errno, ENOMEM);
            rc = -2;
        } else {
            int spawned = 1;
            for (int i = 0; i < 3 && spawned; i++) {
                errno = 0;
                int64_t idx = vrt_scoped_task_spawn(&s, (int64_t)(intptr_t)state[i], sleep_or_fail);
                if (idx < 0) {
                    cr_assert_eq(errno, ENOMEM, "spawn: errno %d", errno);
                    spawned = 0;
                } else {
                    cr_assert_eq(idx, i);
                }
            }
            errno = 0;
            rc = vrt_scoped_task_run_and_cleanup(&s);
            cr_assert_null(s.group, "cleaned up whatever happened");
            if (rc < 0)
                cr_assert(errno == ENOMEM || errno == EMFILE, "run: errno %d", errno);
            else
                cr_assert(rc == 0 || rc == 1, "run: %lld", (long long)rc);
        }
        cr_assert_eq(vrt_shutdown(), 0);
        vrt_set_allocator(NULL);
        cr_assert_eq(faulty.releases, faulty.allocs,
                     "fail at %ld: %ld allocations, %ld releases", n, faulty.allocs,
                     faulty.releases);
        if (!faulty.failed)
            break; /* every allocation site has been failed once */
        sites++;
    }
    cr_assert_geq(sites, 5);
    cr_log_info("scoped task: %d allocation failure sites exercised", sites);
}

/* Spawn with allocation `fail_at` failing, after `prefill` successful
 * spawns: ENOMEM, and the group exactly as before, nothing leaked. */
static void spawn_fails_cleanly(int prefill, long fail_at)
{
    vrt_allocator_t a = {faulty_alloc, faulty_release, NULL};
    memset(&faulty, 0, sizeof faulty);
    cr_assert_eq(vrt_set_allocator(&a), 0);
    vrt_task_group_t g = vrt_task_group_new();
    static gtask_t fill[16];
    for (int i = 0; i < prefill; i++)
        spawn_g(&g, &fill[i]);
    long allocs_before = faulty.allocs, releases_before = faulty.releases;
    faulty.fail_at = faulty.allocs + fail_at;
    gtask_t t = {.value = 1};
    vrt_task_group_t before = g;
    ASSERT_FAILS(vrt_task_group_spawn(&g, gfut(&t), gtask_poll), ENOMEM);
    cr_assert(faulty.failed, "allocation %ld of the spawn was not reached", fail_at);
    cr_assert_eq(memcmp(&before, &g, sizeof g), 0,
                 "spawn %d, allocation %ld failed: the group changed", prefill + 1, fail_at);
    cr_assert_eq(faulty.allocs - allocs_before, faulty.releases - releases_before,
                 "spawn %d, allocation %ld failed: leak", prefill + 1, fail_at);
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
    cr_assert_eq(faulty.releases, faulty.allocs);
    vrt_set_allocator(NULL);
}

/* rows: TaskGroup::spawn, TaskGroup::cleanup, set_allocator */
Test(task_group, failed_spawn_leaves_the_group_unchanged)
{
    /* first spawn: entry, core, entries array, results array */
    for (long n = 1; n <= 4; n++)
        spawn_fails_cleanly(0, n);
    /* 17th spawn: entry, then the two arrays growing past 16 */
    for (long n = 1; n <= 3; n++)
        spawn_fails_cleanly(16, n);
}

/* rows: shutdown, JoinHandle::abort */
Test(task_group, shutdown_refuses_while_group_tasks_wait_on_the_global_loop)
{
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    cr_assert_not_null(r);
    /* White-box: a group core's task parked on the global loop, as after a
     * run that failed in the kernel. */
    vrt_runtime_t core = vrt_runtime_new();
    core.loop = r->event_loop;
    gtask_t t = {.value = 1};
    vrt_join_handle_t h = vrt_runtime_spawn(&core, gfut(&t), gtask_poll);
    cr_assert_eq(vrt_loop_arm_timer(r->event_loop, 5000, 10000, h.task_ptr), 0);
    ASSERT_FAILS(vrt_shutdown(), EBUSY);
    cr_assert_eq(vrt_join_handle_abort(&h), 1); /* drops its wait */
    cr_assert_eq(r->event_loop->source_count, 0);
    cr_assert_eq(vrt_shutdown(), 0);
    vrt_runtime_free(&core);
}

/* ---- TaskEntry ---- */

/* Inside a task's poll: its entry is started, its handle names the task. */
static void probe_own_entry(gtask_t *t)
{
    vrt_task_entry_t *e = t->group->entries[t->label];
    cr_assert_eq(e->index, t->label);
    cr_assert_eq(e->started, 1);
    cr_assert_eq(e->status, VRT_TASK_PENDING, "PENDING until it finishes");
    cr_assert_eq(vrt_join_handle_status(&e->handle), VRT_TASK_RUNNING);
    cr_assert_eq(vrt_task_group_task_status(t->group, e->index), VRT_TASK_RUNNING);
}

/* rows: TaskEntry, TaskGroup::spawn, TaskGroup::run, TaskGroup::cancel */
Test(task_group, entries_record_each_task_in_spawn_order)
{
    vrt_task_group_t g = vrt_task_group_new();
    cr_assert_eq(vrt_task_group_set_cancel_on_error(&g, 0), 0);
    gtask_t t[3] = {{.label = 0, .pending_left = 1, .value = 4},
                    {.label = 1, .value = -1},
                    {.label = 2, .value = 6}};
    for (int i = 0; i < 3; i++) {
        t[i].hook = probe_own_entry;
        cr_assert_eq(spawn_g(&g, &t[i]), i);
    }
    vrt_task_entry_t *e = g.head;
    for (int i = 0; i < 3; i++, e = e->next) {
        cr_assert_not_null(e, "entry %d missing", i);
        cr_assert_eq(e->index, i);
        cr_assert_eq(g.entries[i], e);
        cr_assert_eq(e->group, &g);
        cr_assert_eq(e->future_ptr, gfut(&t[i]));
        cr_assert_eq(e->poll_fn, gtask_poll);
        cr_assert_eq(e->status, VRT_TASK_PENDING);
        cr_assert_eq(e->started, 0, "spawn starts nothing");
        cr_assert_eq(e->has_error, 0);
        cr_assert_eq(e->handle.task_id, -1);
        cr_assert_null(e->handle.task_ptr);
    }
    cr_assert_null(e, "the entries end at the tail");
    cr_assert_eq(g.tail, g.entries[2]);
    cr_assert_eq(vrt_task_group_run(&g), 1, "task 1 erred");
    for (int i = 0; i < 3; i++) {
        e = g.entries[i];
        cr_assert_eq(e->started, 1);
        cr_assert_eq(e->status, VRT_TASK_COMPLETED);
        cr_assert_eq(e->has_error, i == 1);
        cr_assert_eq(vrt_join_handle_is_valid(&e->handle), 0, "released once finished");
    }
    /* Cancelled before it started: never started, no handle. */
    gtask_t late = {.label = 3};
    cr_assert_eq(spawn_g(&g, &late), 3);
    cr_assert_eq(vrt_task_group_cancel(&g), 1);
    e = g.entries[3];
    cr_assert_eq(e->status, VRT_TASK_CANCELLED);
    cr_assert_eq(e->started, 0);
    cr_assert_eq(e->has_error, 0);
    cr_assert_null(e->handle.task_ptr);
    cr_assert_eq(late.polls, 0);
    cr_assert_eq(vrt_task_group_cleanup(&g), 0);
}
