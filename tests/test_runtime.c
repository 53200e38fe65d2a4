/* Runtime: new, spawn, run, block_on, limits, re-entry, free. */
#include "helpers.h"

/* rows: Runtime::new, Runtime */
Test(runtime, new_is_all_zero)
{
    vrt_runtime_t rt = vrt_runtime_new();
    vrt_runtime_t zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(memcmp(&rt, &zero, sizeof rt), 0);
    cr_assert_eq(rt.task_count, 0);
    cr_assert_eq(rt.next_task_id, 0);
    cr_assert_null(rt.head);
    cr_assert_null(rt.tail);
    cr_assert_null(rt.current_task);
    CHECK(&rt);
}

/* rows: Runtime::spawn */
Test(runtime, spawn_ids_count_from_zero)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s[3];
    for (int i = 0; i < 3; i++) {
        s[i] = script(&rt, i, 0, i);
        vrt_join_handle_t h = spawn_ok(&rt, &s[i]);
        cr_assert_eq(h.task_id, i);
        cr_assert_eq(h.task_ptr->id, i);
    }
    cr_assert_eq(rt.next_task_id, 3);
    cr_assert_eq(rt.task_count, 3);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::spawn, TASK_PENDING, TaskNode */
Test(runtime, spawn_appends_at_tail_pending)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 1), b = script(&rt, 2, 0, 2);
    vrt_join_handle_t ha = spawn_ok(&rt, &a);
    vrt_join_handle_t hb = spawn_ok(&rt, &b);
    cr_assert_eq(rt.head, ha.task_ptr);
    cr_assert_eq(rt.tail, hb.task_ptr);
    cr_assert_eq(ha.task_ptr->next, hb.task_ptr);
    cr_assert_null(hb.task_ptr->next);
    cr_assert_eq(hb.task_ptr->status, VRT_TASK_PENDING);
    cr_assert_eq(hb.task_ptr->future_ptr, fut(&b));
    cr_assert_eq(hb.task_ptr->poll_fn, script_poll);
    cr_assert_eq(hb.task_ptr->result, 0);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::spawn */
Test(runtime, spawn_null_self_einval)
{
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(NULL, 0, script_poll);
    ASSERT_INVALID_HANDLE(h, EINVAL);
}

/* rows: Runtime::spawn */
Test(runtime, spawn_null_poll_fn_einval_unchanged)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 1);
    spawn_ok(&rt, &a);
    vrt_runtime_t before = rt;
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, 0, NULL);
    ASSERT_INVALID_HANDLE(h, EINVAL);
    cr_assert_eq(memcmp(&before, &rt, sizeof rt), 0);
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::spawn, Runtime::run, MAX_TASKS */
Test(runtime, spawn_257th_eagain_unchanged)
{
    vrt_runtime_t rt = vrt_runtime_new();
    static script_t s[VRT_MAX_TASKS + 1];
    for (int i = 0; i < VRT_MAX_TASKS; i++) {
        s[i] = script(NULL, i, 0, i);
        spawn_ok(&rt, &s[i]);
    }
    cr_assert_eq(rt.task_count, 256);
    vrt_runtime_t before = rt;
    s[256] = script(NULL, 256, 0, 256);
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, fut(&s[256]), script_poll);
    ASSERT_INVALID_HANDLE(h, EAGAIN);
    cr_assert_eq(rt.task_count, 256);
    cr_assert_eq(memcmp(&before, &rt, sizeof rt), 0, "a refused spawn changed the runtime");
    CHECK(&rt);
    run_ok(&rt);
    cr_assert_eq(s[255].polls, 1);
    cr_assert_eq(s[256].polls, 0);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::spawn, Runtime::run, MAX_TASKS */
Test(runtime, slot_reusable_after_finish)
{
    vrt_runtime_t rt = vrt_runtime_new();
    static script_t s[VRT_MAX_TASKS];
    for (int i = 0; i < VRT_MAX_TASKS; i++) {
        s[i] = script(NULL, i, 0, i);
        spawn_ok(&rt, &s[i]);
    }
    run_ok(&rt);
    cr_assert_eq(rt.task_count, 0);
    script_t more = script(&rt, 999, 0, 1);
    vrt_join_handle_t h = spawn_ok(&rt, &more);
    cr_assert_eq(h.task_id, 256);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::run */
Test(runtime, run_empty_returns_zero)
{
    vrt_runtime_t rt = vrt_runtime_new();
    cr_assert_eq(vrt_runtime_run(&rt), 0);
    CHECK(&rt);
}

/* rows: Runtime::run */
Test(runtime, run_null_einval)
{
    ASSERT_FAILS(vrt_runtime_run(NULL), EINVAL);
}

/* rows: Runtime::run, TASK_COMPLETED, JoinHandle::status, JoinHandle::result,
 *       TaskNode::is_completed */
Test(runtime, run_completes_every_task_with_its_value)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s[5];
    vrt_join_handle_t h[5];
    for (int i = 0; i < 5; i++) {
        s[i] = script(&rt, i, i, 10 * i);
        h[i] = spawn_ok(&rt, &s[i]);
    }
    run_ok(&rt);
    cr_assert_eq(rt.task_count, 0);
    cr_assert_null(rt.head);
    cr_assert_null(rt.tail);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(s[i].polls, i + 1);
        cr_assert_eq(vrt_join_handle_status(&h[i]), VRT_TASK_COMPLETED);
        cr_assert_eq(vrt_join_handle_result(&h[i]), 10 * i);
        cr_assert_eq(vrt_task_node_is_completed(h[i].task_ptr), 1);
    }
    vrt_runtime_free(&rt);
}

/* rows: Runtime::run */
Test(runtime, run_sweeps_in_spawn_order)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 2, 0), b = script(&rt, 2, 0, 0),
             c = script(&rt, 3, 1, 0);
    spawn_ok(&rt, &a);
    spawn_ok(&rt, &b);
    spawn_ok(&rt, &c);
    run_ok(&rt);
    /* sweep 1: a b c; sweep 2: a c (b finished); sweep 3: a */
    const int expected[] = {1, 2, 3, 1, 3, 1};
    assert_trace(expected, 6);
    vrt_runtime_free(&rt);
}

static void spawn_child_once(script_t *s)
{
    script_t *child = s->user;
    if (s->polls == 1)
        spawn_ok(s->rt, child);
}

/* rows: Runtime::run, Runtime::spawn */
Test(runtime, task_spawned_during_poll_joins_same_sweep)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t parent = script(&rt, 1, 1, 0), other = script(&rt, 2, 1, 0),
             child = script(&rt, 3, 0, 33);
    parent.hook = spawn_child_once;
    parent.user = &child;
    spawn_ok(&rt, &parent);
    spawn_ok(&rt, &other);
    run_ok(&rt);
    /* sweep 1: parent (spawns child), other, child (appended, reached now);
     * sweep 2: parent, other */
    const int expected[] = {1, 2, 3, 1, 2};
    assert_trace(expected, 5);
    vrt_runtime_free(&rt);
}

static void spawn_when_tail(script_t *s)
{
    if (s->polls == 1) {
        script_t *child = s->user;
        spawn_ok(s->rt, child);
    }
}

/* rows: Runtime::run, Runtime::spawn */
Test(runtime, spawn_from_the_tail_task_is_reached)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t only = script(&rt, 1, 0, 0), child = script(&rt, 2, 0, 0);
    only.hook = spawn_when_tail;
    only.user = &child;
    spawn_ok(&rt, &only);
    run_ok(&rt);
    const int expected[] = {1, 2};
    assert_trace(expected, 2);
    vrt_runtime_free(&rt);
}

static void reenter(script_t *s)
{
    ASSERT_FAILS(vrt_runtime_run(s->rt), EBUSY);
    ASSERT_FAILS(vrt_runtime_block_on(s->rt, fut(s), script_poll), EBUSY);
    ASSERT_FAILS(vrt_runtime_free(s->rt), EBUSY);
    CHECK(s->rt);
}

/* rows: Runtime::run, Runtime::block_on, Runtime::free */
Test(runtime, reentry_from_poll_is_ebusy)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 1, 5);
    a.hook = reenter;
    vrt_join_handle_t h = spawn_ok(&rt, &a);
    run_ok(&rt);
    cr_assert_eq(a.polls, 2);
    cr_assert_eq(vrt_join_handle_result(&h), 5);
    vrt_runtime_free(&rt);
}

static void run_other_runtime(script_t *s)
{
    vrt_runtime_t *inner = s->user;
    script_t t = script(inner, 50, 2, 7);
    vrt_join_handle_t h = spawn_ok(inner, &t);
    run_ok(inner);
    cr_assert_eq(vrt_join_handle_result(&h), 7);
}

/* rows: Runtime::run */
Test(runtime, nested_run_of_another_runtime_allowed)
{
    vrt_runtime_t outer = vrt_runtime_new(), inner = vrt_runtime_new();
    script_t a = script(&outer, 1, 0, 1);
    a.hook = run_other_runtime;
    a.user = &inner;
    spawn_ok(&outer, &a);
    run_ok(&outer);
    const int expected[] = {1, 50, 50, 50};
    assert_trace(expected, 4);
    vrt_runtime_free(&outer);
    vrt_runtime_free(&inner);
}

static vrt_task_node_t *seen_current;

static void record_current(script_t *s)
{
    seen_current = s->rt->current_task;
    cr_assert_eq(seen_current->future_ptr, fut(s));
    cr_assert_eq(seen_current->status, VRT_TASK_RUNNING);
}

/* rows: Runtime::run, TASK_RUNNING, Runtime.current_task */
Test(runtime, current_task_names_the_polled_task)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 1);
    a.hook = record_current;
    vrt_join_handle_t h = spawn_ok(&rt, &a);
    cr_assert_null(rt.current_task);
    run_ok(&rt);
    cr_assert_eq(seen_current, h.task_ptr);
    cr_assert_null(rt.current_task);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::block_on */
Test(runtime, finished_tasks_leave_the_queue)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 1), b = script(&rt, 2, 3, 2),
             c = script(&rt, 3, 0, 3);
    spawn_ok(&rt, &a);
    vrt_join_handle_t hb = spawn_ok(&rt, &b);
    spawn_ok(&rt, &c);
    /* One sweep through block_on: a and c finish, only b stays queued. */
    script_t f = script(&rt, 9, 1, 0);
    cr_assert_eq(vrt_runtime_block_on(&rt, fut(&f), script_poll), 0);
    CHECK(&rt);
    cr_assert_eq(rt.task_count, 1);
    cr_assert_eq(rt.head, hb.task_ptr);
    cr_assert_eq(rt.tail, hb.task_ptr);
    cr_assert_null(hb.task_ptr->next);
    cr_assert_null(hb.task_ptr->prev);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::run, POLL_STATUS_READY */
Test(runtime, poll_status_other_than_one_is_pending)
{
    vrt_runtime_t rt = vrt_runtime_new();
    const int64_t odd[] = {
        (int64_t)((uint64_t)2 << 32) | 5,      /* status 2 */
        (int64_t)((uint64_t)0xffffffff << 32), /* status -1 as 32 bits */
        (int64_t)((uint64_t)0x80000001 << 32), /* bit 63 set, low bit 1 */
        (int64_t)((uint64_t)3 << 32) | 1,      /* status 3, value 1 */
        7,                                      /* status 0, value 7 */
    };
    for (int i = 0; i < 5; i++) {
        script_t s = script(&rt, i, 1, 42);
        s.pending = odd[i];
        vrt_join_handle_t h = spawn_ok(&rt, &s);
        run_ok(&rt);
        cr_assert_eq(s.polls, 2, "status word %llx was read as Ready",
                     (unsigned long long)odd[i]);
        cr_assert_eq(vrt_join_handle_result(&h), 42);
    }
    vrt_runtime_free(&rt);
}

/* rows: Runtime::run, JoinHandle::result */
Test(runtime, ready_value_is_sign_extended)
{
    vrt_runtime_t rt = vrt_runtime_new();
    const int32_t values[] = {-1, -5, INT32_MIN, INT32_MAX, 0};
    for (int i = 0; i < 5; i++) {
        script_t s = script(&rt, i, 0, values[i]);
        vrt_join_handle_t h = spawn_ok(&rt, &s);
        run_ok(&rt);
        errno = 0;
        cr_assert_eq(vrt_join_handle_result(&h), (int64_t)values[i]);
        cr_assert_eq(h.task_ptr->result, (int64_t)values[i]);
        cr_assert_eq(errno, 0);
    }
    vrt_runtime_free(&rt);
}

/* ---- cooperative ping-pong through shared state ---- */

#define ROUNDS 10000

struct court {
    int turn; /* 0: ping's move, 1: pong's move */
    int rounds[2];
    int polls[2];
    char log[2 * ROUNDS + 1];
    int log_len;
};

struct player {
    struct court *court;
    int side;
};

static int64_t play(int64_t future_ptr)
{
    struct player *p = (struct player *)(intptr_t)future_ptr;
    struct court *c = p->court;
    c->polls[p->side]++;
    if (c->rounds[p->side] == ROUNDS)
        return vrt_poll_ready(c->rounds[p->side]);
    if (c->turn != p->side)
        return vrt_poll_pending();
    c->log[c->log_len++] = p->side == 0 ? 'i' : 'o';
    c->rounds[p->side]++;
    c->turn = 1 - p->side;
    return vrt_poll_pending();
}

/* rows: Runtime::spawn, Runtime::run, poll_ready, poll_pending */
Test(runtime, ping_pong_10000_rounds)
{
    vrt_runtime_t rt = vrt_runtime_new();
    static struct court court;
    struct player ping = {&court, 0}, pong = {&court, 1};
    vrt_join_handle_t hi = vrt_runtime_spawn(&rt, (int64_t)(intptr_t)&ping, play);
    vrt_join_handle_t ho = vrt_runtime_spawn(&rt, (int64_t)(intptr_t)&pong, play);
    CHECK(&rt);
    run_ok(&rt);
    cr_assert_eq(court.log_len, 2 * ROUNDS);
    for (int i = 0; i < 2 * ROUNDS; i++)
        cr_assert_eq(court.log[i], i % 2 == 0 ? 'i' : 'o', "trace[%d]", i);
    /* Ping moves then pong answers in the same sweep: one sweep per round,
     * plus the sweep where each sees its count reached. */
    cr_assert_eq(court.polls[0], ROUNDS + 1);
    cr_assert_eq(court.polls[1], ROUNDS + 1);
    cr_assert_eq(vrt_join_handle_result(&hi), ROUNDS);
    cr_assert_eq(vrt_join_handle_result(&ho), ROUNDS);
    vrt_runtime_free(&rt);
}

/* ---- block_on ---- */

/* rows: Runtime::block_on */
Test(runtime, block_on_returns_the_value)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t f = script(&rt, 1, 3, -77);
    errno = 0;
    cr_assert_eq(vrt_runtime_block_on(&rt, fut(&f), script_poll), -77);
    cr_assert_eq(errno, 0);
    cr_assert_eq(f.polls, 4);
    CHECK(&rt);
}

/* rows: Runtime::block_on */
Test(runtime, block_on_bad_input_einval)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t f = script(&rt, 1, 0, 1);
    ASSERT_FAILS(vrt_runtime_block_on(NULL, fut(&f), script_poll), EINVAL);
    ASSERT_FAILS(vrt_runtime_block_on(&rt, fut(&f), NULL), EINVAL);
    cr_assert_eq(f.polls, 0);
    CHECK(&rt);
}

/* rows: Runtime::block_on */
Test(runtime, block_on_sweeps_spawned_tasks_between_polls)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t t1 = script(&rt, 1, -1, 0), t2 = script(&rt, 2, 1, 0),
             f = script(&rt, 9, 2, 5);
    spawn_ok(&rt, &t1);
    spawn_ok(&rt, &t2);
    cr_assert_eq(vrt_runtime_block_on(&rt, fut(&f), script_poll), 5);
    CHECK(&rt);
    /* f first, then a sweep after each Pending poll of f. */
    const int expected[] = {9, 1, 2, 9, 1, 2, 9};
    assert_trace(expected, 7);
    cr_assert_eq(rt.task_count, 1, "the forever-pending task stays queued");
    vrt_runtime_free(&rt);
}

/* rows: Runtime::block_on */
Test(runtime, block_on_ready_at_once_polls_no_other_task)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t t = script(&rt, 1, 0, 0), f = script(&rt, 9, 0, 3);
    spawn_ok(&rt, &t);
    cr_assert_eq(vrt_runtime_block_on(&rt, fut(&f), script_poll), 3);
    cr_assert_eq(t.polls, 0);
    cr_assert_eq(rt.task_count, 1);
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

static void waits_for_child(script_t *s)
{
    script_t *child = s->user;
    if (s->polls == 1)
        spawn_ok(s->rt, child);
    if (child->polls > 0 && child->pending_left == 0)
        s->pending_left = 0;
}

/* rows: Runtime::block_on */
Test(runtime, block_on_future_may_wait_on_a_task_it_spawned)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t child = script(&rt, 2, 3, 0), f = script(&rt, 1, -1, 11);
    f.hook = waits_for_child;
    f.user = &child;
    cr_assert_eq(vrt_runtime_block_on(&rt, fut(&f), script_poll), 11);
    cr_assert_eq(child.polls, 3);
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

static void current_is_future(script_t *s)
{
    vrt_task_node_t *cur = s->rt->current_task;
    cr_assert_not_null(cur);
    cr_assert_eq(cur->id, -1);
    cr_assert_eq(cur->future_ptr, fut(s));
    ASSERT_FAILS(vrt_runtime_run(s->rt), EBUSY);
    ASSERT_FAILS(vrt_runtime_block_on(s->rt, fut(s), script_poll), EBUSY);
}

/* rows: Runtime::block_on */
Test(runtime, block_on_future_is_current_takes_no_id_or_slot)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t f = script(&rt, 1, 1, 0);
    f.hook = current_is_future;
    cr_assert_eq(vrt_runtime_block_on(&rt, fut(&f), script_poll), 0);
    cr_assert_eq(rt.next_task_id, 0);
    cr_assert_eq(rt.task_count, 0);
    cr_assert_eq(rt.running, 0);
    script_t t = script(&rt, 2, 0, 0);
    cr_assert_eq(spawn_ok(&rt, &t).task_id, 0);
    vrt_runtime_free(&rt);
}

/* ---- limits ---- */

/* rows: Runtime::max_tasks, Runtime::set_max_tasks, MAX_TASKS */
Test(runtime, max_tasks_default_and_raise)
{
    vrt_runtime_t rt = vrt_runtime_new();
    cr_assert_eq(vrt_runtime_max_tasks(&rt), VRT_MAX_TASKS);
    cr_assert_eq(vrt_runtime_set_max_tasks(&rt, 1000), 0);
    cr_assert_eq(vrt_runtime_max_tasks(&rt), 1000);
    static script_t s[1001];
    for (int i = 0; i < 1000; i++) {
        s[i] = script(NULL, i, i % 3, i);
        spawn_ok(&rt, &s[i]);
    }
    s[1000] = script(NULL, 1000, 0, 0);
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, fut(&s[1000]), script_poll);
    ASSERT_INVALID_HANDLE(h, EAGAIN);
    run_ok(&rt);
    cr_assert_eq(s[999].polls, 1);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::set_max_tasks, Runtime::max_tasks, MAX_TASKS,
 *       MAX_TASKS_LIMIT */
Test(runtime, set_max_tasks_rejects_bad_limits)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s[3];
    for (int i = 0; i < 3; i++) {
        s[i] = script(&rt, i, 0, 0);
        spawn_ok(&rt, &s[i]);
    }
    ASSERT_FAILS(vrt_runtime_set_max_tasks(NULL, 10), EINVAL);
    ASSERT_FAILS(vrt_runtime_set_max_tasks(&rt, 0), EINVAL);
    ASSERT_FAILS(vrt_runtime_set_max_tasks(&rt, -4), EINVAL);
    ASSERT_FAILS(vrt_runtime_set_max_tasks(&rt, 2), EINVAL);
    ASSERT_FAILS(vrt_runtime_set_max_tasks(&rt, VRT_MAX_TASKS_LIMIT + 1), EINVAL);
    ASSERT_FAILS(vrt_runtime_max_tasks(NULL), EINVAL);
    cr_assert_eq(vrt_runtime_max_tasks(&rt), VRT_MAX_TASKS);
    cr_assert_eq(vrt_runtime_set_max_tasks(&rt, 3), 0);
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

static void spawn_until_full(script_t *s)
{
    static script_t kids[4];
    if (s->polls != 1)
        return;
    for (int i = 0; i < 3; i++) {
        kids[i] = script(s->rt, 10 + i, 0, 0);
        spawn_ok(s->rt, &kids[i]);
    }
    kids[3] = script(s->rt, 13, 0, 0);
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(s->rt, fut(&kids[3]), script_poll);
    ASSERT_INVALID_HANDLE(h, EAGAIN);
    CHECK(s->rt);
}

/* rows: Runtime::set_max_tasks, Runtime::spawn */
Test(runtime, limit_applies_to_spawns_inside_a_poll)
{
    vrt_runtime_t rt = vrt_runtime_new();
    cr_assert_eq(vrt_runtime_set_max_tasks(&rt, 4), 0);
    script_t a = script(&rt, 1, 0, 0);
    a.hook = spawn_until_full;
    spawn_ok(&rt, &a);
    run_ok(&rt);
    const int expected[] = {1, 10, 11, 12};
    assert_trace(expected, 4);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::spawn */
Test(runtime, task_ids_exhausted_is_eoverflow)
{
    vrt_runtime_t rt = vrt_runtime_new();
    rt.next_task_id = INT64_MAX;
    script_t s = script(&rt, 1, 0, 0);
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, fut(&s), script_poll);
    ASSERT_INVALID_HANDLE(h, EOVERFLOW);
    cr_assert_eq(rt.task_count, 0);
    CHECK(&rt);
}

/* ---- free ---- */

/* rows: Runtime::free */
Test(runtime, free_returns_to_new_state_and_twice_is_noop)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t live = script(&rt, 1, -1, 0), done = script(&rt, 2, 0, 0);
    spawn_ok(&rt, &live);
    spawn_ok(&rt, &done);
    script_t f = script(&rt, 3, 1, 0);
    vrt_runtime_block_on(&rt, fut(&f), script_poll);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    vrt_runtime_t zero = vrt_runtime_new();
    cr_assert_eq(memcmp(&rt, &zero, sizeof rt), 0);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    cr_assert_eq(memcmp(&rt, &zero, sizeof rt), 0);
    ASSERT_FAILS(vrt_runtime_free(NULL), EINVAL);
    /* usable again */
    script_t again = script(&rt, 4, 0, 9);
    vrt_join_handle_t h = spawn_ok(&rt, &again);
    cr_assert_eq(h.task_id, 0);
    run_ok(&rt);
    cr_assert_eq(vrt_join_handle_result(&h), 9);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::free */
Test(runtime, free_drops_live_tasks_without_polling_them)
{
    vrt_runtime_t rt = vrt_runtime_new();
    static script_t s[200];
    for (int i = 0; i < 200; i++) {
        s[i] = script(&rt, i, -1, 0);
        spawn_ok(&rt, &s[i]);
    }
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    cr_assert_eq(trace_len, 0);
    CHECK(&rt);
}

/* ---- the invariant checker itself must catch corruption ---- */

/* rows: Runtime::check, CHECK_NULL, CHECK_COUNT_MISMATCH, CHECK_LINKS,
 *       CHECK_HEAD_TAIL, CHECK_NODE, CHECK_COUNT_RANGE, CHECK_CURRENT,
 *       CHECK_FREE_LIST */
Test(runtime, check_detects_corruption_without_hanging)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s[3];
    vrt_join_handle_t h[3];
    for (int i = 0; i < 3; i++) {
        s[i] = script(&rt, i, 0, 0);
        h[i] = spawn_ok(&rt, &s[i]);
    }
    cr_assert_eq(vrt_runtime_check(NULL), VRT_CHECK_NULL);

    rt.task_count = 2;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_COUNT_MISMATCH);
    rt.task_count = 3;

    h[2].task_ptr->next = h[0].task_ptr; /* a cycle */
    cr_assert_neq(vrt_runtime_check(&rt), 0);
    h[2].task_ptr->next = NULL;

    h[1].task_ptr->prev = NULL;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_LINKS);
    h[1].task_ptr->prev = h[0].task_ptr;

    rt.tail = h[1].task_ptr;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_HEAD_TAIL);
    rt.tail = h[2].task_ptr;

    h[1].task_ptr->status = VRT_TASK_COMPLETED;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_NODE);
    h[1].task_ptr->status = VRT_TASK_PENDING;

    rt.task_count = 300;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_COUNT_RANGE);
    rt.task_count = 3;

    rt.current_task = h[0].task_ptr;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_CURRENT);
    rt.current_task = NULL;

    rt.free_list->id = 5;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_FREE_LIST);
    rt.free_list->id = -1;

    CHECK(&rt);
    vrt_runtime_free(&rt);
}

/* rows: Runtime::check, CHECK_PARKED */
Test(runtime, check_detects_a_parked_count_out_of_range)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s[2];
    for (int i = 0; i < 2; i++) {
        s[i] = script(&rt, i, 0, 0);
        spawn_ok(&rt, &s[i]);
    }
    /* A plain runtime parks nothing: parked_count stays 0. */
    cr_assert_eq(rt.parked_count, 0);
    rt.parked_count = -1;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_PARKED);
    rt.parked_count = rt.task_count + 1;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_PARKED);
    rt.parked_count = 0;
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

/* rows: NODE_QUEUED, NODE_DETACHED, NODE_FREE, TaskNode.flags,
 *       JoinHandle::release */
Test(runtime, node_flags_follow_queue_release_and_recycling)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 1, 0), b = script(&rt, 2, 0, 0);
    vrt_join_handle_t ha = spawn_ok(&rt, &a);
    vrt_join_handle_t hb = spawn_ok(&rt, &b);
    vrt_task_node_t *na = ha.task_ptr, *nb = hb.task_ptr;
    cr_assert_eq(na->flags, VRT_NODE_QUEUED, "a live task is queued");
    cr_assert_eq(nb->flags, VRT_NODE_QUEUED);
    /* Released while live: detached, still queued, still run. */
    cr_assert_eq(vrt_join_handle_release(&ha), 0);
    cr_assert_eq(na->flags, VRT_NODE_QUEUED | VRT_NODE_DETACHED);
    CHECK(&rt);
    run_ok(&rt);
    cr_assert_eq(a.polls, 2);
    /* A detached node is recycled when its task finishes. */
    cr_assert_eq(na->flags, VRT_NODE_FREE);
    cr_assert_eq(na->id, -1);
    /* A finished task whose handle is held: neither queued nor free. */
    cr_assert_eq(nb->flags, 0);
    cr_assert_eq(vrt_join_handle_status(&hb), VRT_TASK_COMPLETED);
    vrt_join_handle_t copy = hb;
    cr_assert_eq(vrt_join_handle_release(&hb), 0);
    cr_assert_eq(nb->flags, VRT_NODE_FREE);
    cr_assert_eq(rt.free_list, nb);
    /* Error path: a FREE node's old handle is stale ... */
    ASSERT_FAILS(vrt_join_handle_status(&copy), EINVAL);
    ASSERT_FAILS(vrt_join_handle_release(&copy), EINVAL);
    /* ... and a node on the free list without the FREE flag is corruption. */
    nb->flags = VRT_NODE_QUEUED;
    cr_assert_eq(vrt_runtime_check(&rt), VRT_CHECK_FREE_LIST);
    nb->flags = VRT_NODE_FREE;
    CHECK(&rt);
    vrt_runtime_free(&rt);
}
