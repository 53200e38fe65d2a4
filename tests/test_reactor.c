/* ReactorRuntime and the reactor globals: parked tasks, real I/O, timers,
 * fairness, no busy loop. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "io_helpers.h"
#include "vrt_internal.h" /* white-box: read a timer's exact deadline */

#define CHECK_R(r)                                                           \
    do {                                                                     \
        int64_t check_r_ = vrt_reactor_runtime_check(r);                     \
        cr_assert_eq(check_r_, 0, "reactor invariant broken: %lld",          \
                     (long long)check_r_);                                   \
    } while (0)

static int64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static vrt_reactor_runtime_t new_reactor(void)
{
    vrt_reactor_runtime_t r = vrt_reactor_runtime_new();
    cr_assert_not_null(r.event_loop, "reactor_new failed: errno %d", errno);
    CHECK_R(&r);
    return r;
}

static void run_reactor(vrt_reactor_runtime_t *r)
{
    cr_assert_eq(vrt_reactor_runtime_run(r), 0, "run failed: errno %d", errno);
    CHECK_R(r);
}

/* A task as a small state machine over a shared struct. */
typedef struct machine machine_t;
struct machine {
    vrt_reactor_runtime_t *r;
    int64_t (*step)(machine_t *m);
    int state;
    int polls;
    int fd;
    int64_t value;
    int64_t mark_ns;
    void *user;
};

static int64_t machine_poll(int64_t future_ptr)
{
    machine_t *m = (machine_t *)(intptr_t)future_ptr;
    m->polls++;
    CHECK_R(m->r);
    return m->step(m);
}

static vrt_join_handle_t spawn_machine(vrt_reactor_runtime_t *r, machine_t *m)
{
    m->r = r;
    vrt_join_handle_t h = vrt_reactor_runtime_spawn(r, (int64_t)(intptr_t)m, machine_poll);
    cr_assert_not_null(h.task_ptr, "spawn failed: errno %d", errno);
    CHECK_R(r);
    return h;
}

/* ---- construction ---- */

/* rows: ReactorRuntime::new, ReactorRuntime, ReactorRuntime::get_event_loop,
 *       ReactorRuntime::free */
Test(reactor, new_fields_and_event_loop)
{
    int before = count_open_fds();
    vrt_reactor_runtime_t r = new_reactor();
    cr_assert_eq(r.task_count, 0);
    cr_assert_eq(r.next_task_id, 0);
    cr_assert_null(r.head);
    cr_assert_null(r.tail);
    cr_assert_null(r.current_task);
    cr_assert_eq(r.next_timer_id, 1000);
    cr_assert_eq(vrt_reactor_runtime_get_event_loop(&r), r.event_loop);
    cr_assert_geq(r.event_loop->kq, 0);
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0);
    cr_assert_null(r.event_loop);
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0, "twice is a no-op");
    cr_assert_eq(count_open_fds(), before, "no fd left open");
    cr_assert_null(vrt_reactor_runtime_get_event_loop(NULL));
    cr_assert_eq(errno, EINVAL);
}

/* rows: ReactorRuntime::spawn, ReactorRuntime::run, ReactorRuntime::block_on,
 *       ReactorRuntime::wait_readable, ReactorRuntime::wait_writable,
 *       ReactorRuntime::sleep_ms, ReactorRuntime::free,
 *       ReactorRuntime::check, CHECK_NULL */
Test(reactor, methods_refuse_null_or_freed_reactor)
{
    vrt_reactor_runtime_t r = new_reactor();
    vrt_reactor_runtime_free(&r);
    machine_t m = {0};
    errno = 0;
    vrt_join_handle_t h = vrt_reactor_runtime_spawn(&r, (int64_t)(intptr_t)&m, machine_poll);
    ASSERT_INVALID_HANDLE(h, EINVAL);
    h = vrt_reactor_runtime_spawn(NULL, 0, machine_poll);
    ASSERT_INVALID_HANDLE(h, EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_run(&r), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_run(NULL), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_block_on(&r, 0, machine_poll), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_block_on(NULL, 0, machine_poll), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_wait_readable(&r, 0), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_wait_writable(NULL, 0), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_sleep_ms(&r, 1), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_free(NULL), EINVAL);
    cr_assert_eq(vrt_reactor_runtime_check(NULL), VRT_CHECK_NULL);
}

/* rows: ReactorRuntime::wait_readable, ReactorRuntime::wait_writable,
 *       ReactorRuntime::sleep_ms */
Test(reactor, waits_outside_a_poll_are_einval)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    ASSERT_FAILS(vrt_reactor_runtime_wait_readable(&r, p[0]), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_wait_writable(&r, p[1]), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_sleep_ms(&r, 5), EINVAL);
    cr_assert_eq(r.next_timer_id, 1000);
    cr_assert_eq(r.event_loop->source_count, 0);
    CHECK_R(&r);
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

/* ---- sleep_ms ---- */

static int64_t step_sleep_ids(machine_t *m)
{
    if (m->state == 0) {
        int64_t *ids = m->user;
        for (int i = 0; i < 3; i++)
            ids[i] = vrt_reactor_runtime_sleep_ms(m->r, 5 + i);
        ASSERT_FAILS(vrt_reactor_runtime_sleep_ms(m->r, -1), EINVAL);
        m->state = 1;
        return vrt_poll_pending();
    }
    return vrt_poll_ready(m->polls);
}

/* rows: ReactorRuntime::sleep_ms */
Test(reactor, sleep_ms_returns_timer_ids_from_1000)
{
    vrt_reactor_runtime_t r = new_reactor();
    int64_t ids[3];
    machine_t m = {.step = step_sleep_ids, .user = ids};
    vrt_join_handle_t h = spawn_machine(&r, &m);
    run_reactor(&r);
    cr_assert_eq(ids[0], 1000);
    cr_assert_eq(ids[1], 1001);
    cr_assert_eq(ids[2], 1002);
    cr_assert_eq(r.next_timer_id, 1003);
    cr_assert_eq(vrt_join_handle_result(&h), 2, "woken once by the first timer");
    cr_assert_eq(r.event_loop->source_count, 0, "the other timers went with the wake");
    vrt_reactor_runtime_free(&r);
}

static int64_t step_sleep(machine_t *m)
{
    if (m->state == 0) {
        m->mark_ns = now_ns();
        cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, m->value), 1000);
        m->state = 1;
        return vrt_poll_pending();
    }
    int64_t *order = m->user;
    order[order[0] + 1] = m->value;
    order[0]++;
    cr_assert_geq(now_ns() - m->mark_ns, m->value * 1000000, "woken early");
    return vrt_poll_ready((int32_t)m->value);
}

/* rows: ReactorRuntime::sleep_ms, ReactorRuntime::run */
Test(reactor, sleepers_wake_in_deadline_order_never_early)
{
    vrt_reactor_runtime_t r = new_reactor();
    int64_t order[4] = {0};
    /* 30 ms apart: each task starts its sleep at its own first poll, and
     * the three first polls must not take a whole gap (under valgrind on a
     * loaded machine they took more than 10 ms). */
    machine_t m[3] = {{.step = step_sleep, .value = 90, .user = order},
                      {.step = step_sleep, .value = 30, .user = order},
                      {.step = step_sleep, .value = 60, .user = order}};
    for (int i = 0; i < 3; i++)
        spawn_machine(&r, &m[i]);
    run_reactor(&r);
    cr_assert_eq(order[0], 3);
    cr_assert_eq(order[1], 30);
    cr_assert_eq(order[2], 60);
    cr_assert_eq(order[3], 90);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(m[i].polls, 2, "parked tasks are polled only when woken");
    vrt_reactor_runtime_free(&r);
}

/* rows: ReactorRuntime::sleep_ms */
Test(reactor, zero_delay_fires_on_the_next_turn)
{
    vrt_reactor_runtime_t r = new_reactor();
    int64_t order[2] = {0};
    machine_t m = {.step = step_sleep, .value = 0, .user = order};
    spawn_machine(&r, &m);
    int64_t t0 = now_ns();
    run_reactor(&r);
    cr_assert_eq(m.polls, 2);
    cr_assert_lt(now_ns() - t0, 100 * 1000000);
    vrt_reactor_runtime_free(&r);
}

/* ---- many sleepers: wake order follows the deadlines ---- */

struct sleeper {
    machine_t m;
    int64_t deadline_ns;
};

static int64_t *wake_log;
static int wake_count;

static int64_t step_sleeper(machine_t *m)
{
    struct sleeper *s = (struct sleeper *)m;
    if (m->state == 0) {
        if (vrt_reactor_runtime_sleep_ms(m->r, m->value) < 0)
            cr_assert_fail("sleep_ms failed: errno %d", errno);
        /* the deadline vrt computed, from the timer the task now waits on */
        s->deadline_ns = m->r->current_task->waits->deadline_ns;
        m->state = 1;
        return vrt_poll_pending();
    }
    cr_assert_geq(now_ns(), s->deadline_ns, "woken before its deadline");
    wake_log[wake_count++] = s->deadline_ns;
    return vrt_poll_ready(0);
}

static void many_sleepers(int n, int max_ms)
{
    vrt_reactor_runtime_t r = vrt_reactor_runtime_new();
    cr_assert_not_null(r.event_loop);
    cr_assert_eq(vrt_runtime_set_max_tasks(&r.core, n), 0);
    struct sleeper *s = calloc((size_t)n, sizeof *s);
    wake_log = calloc((size_t)n, sizeof *wake_log);
    wake_count = 0;
    srand(12345);
    for (int i = 0; i < n; i++) {
        s[i].m.step = step_sleeper;
        s[i].m.value = (max_ms == 50 ? 0 : 1) + rand() % (max_ms + (max_ms == 50 ? 1 : 0));
        s[i].m.r = &r;
        vrt_join_handle_t h = vrt_reactor_runtime_spawn(&r, (int64_t)(intptr_t)&s[i].m,
                                                        (vrt_poll_fn)machine_poll);
        cr_assert_not_null(h.task_ptr);
        vrt_join_handle_release(&h);
    }
    /* machine_poll checks the invariants on every poll: too slow for
     * 100,000 tasks, so the big run checks them once per wake instead. */
    cr_assert_eq(vrt_reactor_runtime_run(&r), 0);
    CHECK_R(&r);
    cr_assert_eq(wake_count, n);
    for (int i = 1; i < n; i++)
        cr_assert_leq(wake_log[i - 1], wake_log[i], "wake %d out of deadline order", i);
    free(s);
    free(wake_log);
    vrt_reactor_runtime_free(&r);
}

/* rows: ReactorRuntime::sleep_ms, ReactorRuntime::run */
Test(reactor, thousand_random_sleepers_0_to_50ms_in_deadline_order)
{
    many_sleepers(1000, 50);
}

static int64_t light_poll(int64_t future_ptr)
{
    machine_t *m = (machine_t *)(intptr_t)future_ptr;
    m->polls++;
    return m->step(m);
}

/* rows: ReactorRuntime::sleep_ms, ReactorRuntime::run */
Test(reactor, hundred_thousand_sleepers_1_to_1000ms, .timeout = 60)
{
    enum { N = 100000 };
    vrt_reactor_runtime_t r = new_reactor();
    cr_assert_eq(vrt_runtime_set_max_tasks(&r.core, N), 0);
    struct sleeper *s = calloc(N, sizeof *s);
    wake_log = calloc(N, sizeof *wake_log);
    wake_count = 0;
    srand(777);
    for (int i = 0; i < N; i++) {
        s[i].m.step = step_sleeper;
        s[i].m.value = 1 + rand() % 1000;
        s[i].m.r = &r;
        vrt_join_handle_t h = vrt_reactor_runtime_spawn(&r, (int64_t)(intptr_t)&s[i].m, light_poll);
        cr_assert_not_null(h.task_ptr);
        vrt_join_handle_release(&h);
    }
    CHECK_R(&r);
    int64_t t0 = now_ns();
    cr_assert_eq(vrt_reactor_runtime_run(&r), 0);
    cr_log_info("100000 sleepers (1-1000 ms) done in %lld ms",
                (long long)((now_ns() - t0) / 1000000));
    CHECK_R(&r);
    cr_assert_eq(wake_count, N);
    for (int i = 1; i < N; i++)
        cr_assert_leq(wake_log[i - 1], wake_log[i], "wake %d out of deadline order", i);
    free(s);
    free(wake_log);
    vrt_reactor_runtime_free(&r);
}

/* ---- I/O waits ---- */

static int64_t step_read_one(machine_t *m)
{
    char c;
    ssize_t n = read(m->fd, &c, 1);
    if (n == 1)
        return vrt_poll_ready(c);
    cr_assert(n < 0 && errno == EAGAIN);
    cr_assert_eq(vrt_reactor_runtime_wait_readable(m->r, m->fd), 0);
    return vrt_poll_pending();
}

static int64_t step_sleep_then_write(machine_t *m)
{
    if (m->state == 0) {
        m->state = 1;
        cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, m->value), 1000);
        return vrt_poll_pending();
    }
    cr_assert_eq(write(m->fd, "Z", 1), 1);
    return vrt_poll_ready(0);
}

/* rows: ReactorRuntime::wait_readable, ReactorRuntime::run */
Test(reactor, parked_reader_is_polled_only_when_readable)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    machine_t reader = {.step = step_read_one, .fd = p[0]};
    machine_t writer = {.step = step_sleep_then_write, .fd = p[1], .value = 30};
    vrt_join_handle_t hr = spawn_machine(&r, &reader);
    spawn_machine(&r, &writer);
    run_reactor(&r);
    cr_assert_eq(vrt_join_handle_result(&hr), 'Z');
    cr_assert_eq(reader.polls, 2, "polled once to wait, once when readable");
    cr_assert_eq(writer.polls, 2);
    cr_assert_null(vrt_event_loop_find_task_for_fd(r.event_loop, p[0]),
                   "one-shot: nobody waits after the wake");
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

static int64_t step_wait_twice(machine_t *m)
{
    if (m->state == 0) {
        m->state = 1;
        cr_assert_eq(vrt_reactor_runtime_wait_readable(m->r, m->fd), 0);
        cr_assert_eq(vrt_reactor_runtime_wait_readable(m->r, m->fd), 0,
                     "the same task may repeat its own wait");
        return vrt_poll_pending();
    }
    return vrt_poll_ready(1);
}

static int64_t step_wait_taken(machine_t *m)
{
    ASSERT_FAILS(vrt_reactor_runtime_wait_readable(m->r, m->fd), EBUSY);
    int write_end = (int)(intptr_t)m->user;
    cr_assert_eq(vrt_reactor_runtime_wait_writable(m->r, write_end), 0);
    ASSERT_FAILS(vrt_reactor_runtime_wait_readable(m->r, -1), EBADF);
    ASSERT_FAILS(vrt_reactor_runtime_wait_readable(m->r, 99999), EBADF);
    cr_assert_eq(write(write_end, "q", 1), 1);
    return vrt_poll_ready(2);
}

/* rows: ReactorRuntime::wait_readable, ReactorRuntime::wait_writable */
Test(reactor, second_waiter_on_same_fd_and_direction_is_ebusy)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    machine_t a = {.step = step_wait_twice, .fd = p[0]};
    machine_t b = {.step = step_wait_taken, .fd = p[0], .user = (void *)(intptr_t)p[1]};
    spawn_machine(&r, &a);
    spawn_machine(&r, &b);
    run_reactor(&r);
    cr_assert_eq(a.polls, 2);
    cr_assert_eq(r.event_loop->source_count, 0);
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

/* 1 MiB through a non-blocking pipe, in chunks, writer against reader. */
#define MIB (1024 * 1024)

struct copy {
    unsigned char *src;
    unsigned char *dst;
    size_t written;
    size_t read;
};

static int64_t step_copy_writer(machine_t *m)
{
    struct copy *c = m->user;
    while (c->written < MIB) {
        size_t chunk = MIB - c->written < 7000 ? MIB - c->written : 7000;
        ssize_t n = write(m->fd, c->src + c->written, chunk);
        if (n < 0) {
            cr_assert_eq(errno, EAGAIN);
            cr_assert_eq(vrt_reactor_runtime_wait_writable(m->r, m->fd), 0);
            return vrt_poll_pending();
        }
        c->written += (size_t)n;
    }
    close(m->fd);
    return vrt_poll_ready(0);
}

static int64_t step_copy_reader(machine_t *m)
{
    struct copy *c = m->user;
    for (;;) {
        ssize_t n = read(m->fd, c->dst + c->read, MIB + 1 - c->read);
        if (n == 0)
            return vrt_poll_ready((int32_t)(c->read / 1024));
        if (n < 0) {
            cr_assert_eq(errno, EAGAIN);
            cr_assert_eq(vrt_reactor_runtime_wait_readable(m->r, m->fd), 0);
            return vrt_poll_pending();
        }
        c->read += (size_t)n;
    }
}

/* rows: ReactorRuntime::wait_readable, ReactorRuntime::wait_writable */
Test(reactor, copies_one_mib_through_a_pipe)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    struct copy c = {malloc(MIB), malloc(MIB + 1), 0, 0};
    for (size_t i = 0; i < MIB; i++)
        c.src[i] = (unsigned char)(i * 31 + 7);
    machine_t reader = {.step = step_copy_reader, .fd = p[0], .user = &c};
    machine_t writer = {.step = step_copy_writer, .fd = p[1], .user = &c};
    vrt_join_handle_t hr = spawn_machine(&r, &reader);
    spawn_machine(&r, &writer);
    run_reactor(&r);
    cr_assert_eq(vrt_join_handle_result(&hr), 1024);
    cr_assert_eq(c.read, (size_t)MIB);
    cr_assert_eq(memcmp(c.src, c.dst, MIB), 0);
    cr_assert_gt(reader.polls, 2, "the reader had to wait");
    free(c.src);
    free(c.dst);
    vrt_reactor_runtime_free(&r);
    close(p[0]);
}

/* ---- ping-pong over a socketpair ---- */

struct rally {
    int rounds;
    int target;
};

static int64_t step_server(machine_t *m)
{
    struct rally *ra = m->user;
    char c;
    for (;;) {
        ssize_t n = read(m->fd, &c, 1);
        if (n == 0)
            return vrt_poll_ready(0);
        if (n < 0) {
            cr_assert_eq(errno, EAGAIN);
            if (vrt_reactor_runtime_wait_readable(m->r, m->fd) != 0)
                cr_assert_fail("wait_readable: errno %d", errno);
            return vrt_poll_pending();
        }
        if (write(m->fd, &c, 1) != 1)
            cr_assert_fail("server write");
        (void)ra;
    }
}

static int64_t step_client(machine_t *m)
{
    struct rally *ra = m->user;
    char c = 'p';
    if (m->state == 0) {
        m->state = 1;
        if (write(m->fd, &c, 1) != 1)
            cr_assert_fail("client write");
    }
    for (;;) {
        ssize_t n = read(m->fd, &c, 1);
        if (n < 0) {
            if (vrt_reactor_runtime_wait_readable(m->r, m->fd) != 0)
                cr_assert_fail("wait_readable: errno %d", errno);
            return vrt_poll_pending();
        }
        if (++ra->rounds == ra->target) {
            shutdown(m->fd, SHUT_WR);
            return vrt_poll_ready(ra->rounds % 1000000);
        }
        if (write(m->fd, &c, 1) != 1)
            cr_assert_fail("client write");
    }
}

#ifdef VRT_WRAP_EPOLL_CTL
#include <sys/epoll.h>
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
static long epoll_ctl_calls;
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    epoll_ctl_calls++;
    return __real_epoll_ctl(epfd, op, fd, ev);
}
#endif

static void ping_pong(int target, vrt_reactor_runtime_t *r)
{
    int sv[2];
    make_socketpair(sv);
    struct rally ra = {0, target};
    machine_t client = {.step = step_client, .fd = sv[0], .user = &ra, .r = r};
    machine_t server = {.step = step_server, .fd = sv[1], .user = &ra, .r = r};
    vrt_join_handle_t hc = vrt_reactor_runtime_spawn(r, (int64_t)(intptr_t)&client, light_poll);
    vrt_join_handle_t hs = vrt_reactor_runtime_spawn(r, (int64_t)(intptr_t)&server, light_poll);
    cr_assert_not_null(hc.task_ptr);
    cr_assert_not_null(hs.task_ptr);
    cr_assert_eq(vrt_reactor_runtime_run(r), 0);
    CHECK_R(r);
    cr_assert_eq(ra.rounds, target);
    cr_assert_eq(vrt_join_handle_result(&hc), target % 1000000);
    cr_assert_eq(vrt_join_handle_result(&hs), 0);
    cr_assert_leq(client.polls, target + 1);
    close(sv[0]);
    close(sv[1]);
}

/* rows: ReactorRuntime::wait_readable, ReactorRuntime::run */
Test(reactor, ping_pong_100000_round_trips_over_a_socketpair, .timeout = 60)
{
    vrt_reactor_runtime_t r = new_reactor();
#ifdef VRT_WRAP_EPOLL_CTL
    epoll_ctl_calls = 0;
#endif
    int64_t t0 = now_ns();
    ping_pong(100000, &r);
    cr_log_info("ping-pong: 100000 round trips in %lld ms (%s)",
                (long long)((now_ns() - t0) / 1000000), vrt_event_loop_backend());
#ifdef VRT_WRAP_EPOLL_CTL
    /* Interest stays registered across waits: a handful of epoll_ctl calls
     * in all, not one per wait. */
    cr_assert_lt(epoll_ctl_calls, 10, "%ld epoll_ctl calls for 100,000 round trips",
                 epoll_ctl_calls);
#endif
    vrt_reactor_runtime_free(&r);
}

/* ---- fairness and idling ---- */

struct fair {
    int done;
    int yields;
};

static int64_t step_yield_forever(machine_t *m)
{
    struct fair *f = m->user;
    if (f->done)
        return vrt_poll_ready(f->yields);
    f->yields++;
    return vrt_poll_pending();
}

static int64_t step_read_then_done(machine_t *m)
{
    struct fair *f = m->user;
    int64_t r = step_read_one(m);
    if (vrt_poll_is_ready(r))
        f->done = 1;
    return r;
}

/* rows: ReactorRuntime::run */
Test(reactor, forever_yielding_task_does_not_starve_io_or_timers)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    struct fair f = {0, 0};
    machine_t yielder = {.step = step_yield_forever, .user = &f};
    machine_t reader = {.step = step_read_then_done, .fd = p[0], .user = &f};
    machine_t writer = {.step = step_sleep_then_write, .fd = p[1], .value = 20};
    spawn_machine(&r, &yielder);
    vrt_join_handle_t hr = spawn_machine(&r, &reader);
    spawn_machine(&r, &writer);
    int64_t t0 = now_ns();
    run_reactor(&r);
    cr_assert_eq(vrt_join_handle_result(&hr), 'Z');
    cr_assert_gt(f.yields, 1);
    cr_assert_lt(now_ns() - t0, 2000LL * 1000000, "the reader was starved");
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

/* rows: ReactorRuntime::run, ReactorRuntime::wait_readable */
Test(reactor, waiting_one_second_on_a_silent_pipe_costs_under_10ms_cpu)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    machine_t reader = {.step = step_read_one, .fd = p[0]};
    machine_t writer = {.step = step_sleep_then_write, .fd = p[1], .value = 1000};
    reader.r = writer.r = &r;
    vrt_reactor_runtime_spawn(&r, (int64_t)(intptr_t)&reader, light_poll);
    vrt_reactor_runtime_spawn(&r, (int64_t)(intptr_t)&writer, light_poll);
    int64_t cpu0 = cpu_us(), t0 = now_ns();
    cr_assert_eq(vrt_reactor_runtime_run(&r), 0);
    int64_t cpu = cpu_us() - cpu0, wall = now_ns() - t0;
    cr_assert_geq(wall, 1000LL * 1000000);
    if (!under_valgrind())
        cr_assert_lt(cpu, 10000, "%lld us of CPU while waiting 1 s", (long long)cpu);
    cr_log_info("idle reactor: %lld us of CPU over %lld ms", (long long)cpu,
                (long long)(wall / 1000000));
    cr_assert_eq(reader.polls, 2);
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

/* ---- run leaves the loop usable; block_on drives everything ---- */

/* rows: ReactorRuntime::run */
Test(reactor, run_twice_the_loop_stays_usable)
{
    vrt_reactor_runtime_t r = new_reactor();
    for (int round = 0; round < 3; round++) {
        int64_t order[2] = {0};
        machine_t m = {.step = step_sleep, .value = 5, .user = order};
        spawn_machine(&r, &m);
        run_reactor(&r);
        cr_assert_eq(order[0], 1);
        cr_assert_geq(r.event_loop->kq, 0);
    }
    cr_assert_eq(vrt_reactor_runtime_run(&r), 0, "nothing to do: returns at once");
    vrt_reactor_runtime_free(&r);
}

static int64_t step_future_reads(machine_t *m)
{
    if (m->state == 0) {
        m->state = 1;
        machine_t *child = m->user;
        spawn_machine(m->r, child);
    }
    return step_read_one(m);
}

/* rows: ReactorRuntime::block_on, ReactorRuntime::spawn */
Test(reactor, block_on_waits_on_io_fed_by_a_spawned_task)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    machine_t writer = {.step = step_sleep_then_write, .fd = p[1], .value = 15};
    machine_t f = {.step = step_future_reads, .fd = p[0], .user = &writer, .r = &r};
    int64_t t0 = now_ns();
    errno = 0;
    cr_assert_eq(vrt_reactor_runtime_block_on(&r, (int64_t)(intptr_t)&f, machine_poll), 'Z');
    cr_assert_geq(now_ns() - t0, 15LL * 1000000);
    cr_assert_eq(f.polls, 2, "the future is parked while it waits");
    cr_assert_eq(r.task_count, 0);
    CHECK_R(&r);
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

static int64_t step_future_sleeps_then_ready(machine_t *m)
{
    if (m->state == 0) {
        m->state = 1;
        cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, 10), 1000);
        cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, 5000), 1000);
        return vrt_poll_pending();
    }
    return vrt_poll_ready(-12);
}

/* rows: ReactorRuntime::block_on */
Test(reactor, block_on_returns_negative_values_and_drops_its_waits)
{
    vrt_reactor_runtime_t r = new_reactor();
    machine_t f = {.step = step_future_sleeps_then_ready, .r = &r};
    errno = 0;
    cr_assert_eq(vrt_reactor_runtime_block_on(&r, (int64_t)(intptr_t)&f, machine_poll), -12);
    cr_assert_eq(errno, 0);
    cr_assert_eq(r.event_loop->source_count, 0, "the 5 s timer went with the wake");
    CHECK_R(&r);
    vrt_reactor_runtime_free(&r);
}

static int64_t step_reenter(machine_t *m)
{
    ASSERT_FAILS(vrt_reactor_runtime_run(m->r), EBUSY);
    ASSERT_FAILS(vrt_reactor_runtime_block_on(m->r, 0, machine_poll), EBUSY);
    ASSERT_FAILS(vrt_reactor_runtime_free(m->r), EBUSY);
    return vrt_poll_ready(1);
}

/* rows: ReactorRuntime::run, ReactorRuntime::block_on, ReactorRuntime::free */
Test(reactor, reentry_is_ebusy)
{
    vrt_reactor_runtime_t r = new_reactor();
    machine_t m = {.step = step_reenter};
    spawn_machine(&r, &m);
    run_reactor(&r);
    machine_t f = {.step = step_reenter, .r = &r};
    cr_assert_eq(vrt_reactor_runtime_block_on(&r, (int64_t)(intptr_t)&f, machine_poll), 1);
    vrt_reactor_runtime_free(&r);
}

/* ---- abort and finishing with waits left ---- */

static int64_t step_sleep_long(machine_t *m)
{
    if (m->state == 0) {
        m->state = 1;
        cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, 10000), 1000);
        cr_assert_eq(vrt_reactor_runtime_wait_readable(m->r, m->fd), 0);
        return vrt_poll_pending();
    }
    cr_assert_fail("an aborted task was polled");
    return vrt_poll_ready(0);
}

static int64_t step_abort_other(machine_t *m)
{
    vrt_join_handle_t *victim = m->user;
    if (m->state == 0) {
        m->state = 1;
        return vrt_poll_pending(); /* let the victim park first */
    }
    cr_assert_eq(vrt_join_handle_status(victim), VRT_TASK_PENDING);
    cr_assert_eq(vrt_join_handle_abort(victim), 1);
    CHECK_R(m->r);
    cr_assert_eq(m->r->event_loop->source_count, 0, "its timer and fd wait are gone");
    return vrt_poll_ready(0);
}

/* rows: JoinHandle::abort, TASK_CANCELLED */
Test(reactor, aborting_a_parked_task_removes_its_waits)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    machine_t victim = {.step = step_sleep_long, .fd = p[0]};
    vrt_join_handle_t hv = spawn_machine(&r, &victim);
    machine_t killer = {.step = step_abort_other, .user = &hv};
    spawn_machine(&r, &killer);
    int64_t t0 = now_ns();
    run_reactor(&r);
    cr_assert_lt(now_ns() - t0, 1000LL * 1000000, "run waited for a cancelled timer");
    cr_assert_eq(victim.polls, 1);
    cr_assert_eq(vrt_join_handle_status(&hv), VRT_TASK_CANCELLED);
    cr_assert_eq(r.core.parked_count, 0);
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

static int64_t step_wait_then_ready(machine_t *m)
{
    cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, 10000), 1000);
    cr_assert_eq(vrt_reactor_runtime_wait_writable(m->r, m->fd), 0);
    return vrt_poll_ready(3);
}

/* rows: ReactorRuntime::wait_writable, ReactorRuntime::sleep_ms */
Test(reactor, ready_after_registering_a_wait_drops_the_wait)
{
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    machine_t m = {.step = step_wait_then_ready, .fd = p[1]};
    vrt_join_handle_t h = spawn_machine(&r, &m);
    int64_t t0 = now_ns();
    run_reactor(&r);
    cr_assert_lt(now_ns() - t0, 1000LL * 1000000);
    cr_assert_eq(vrt_join_handle_result(&h), 3);
    cr_assert_eq(r.event_loop->source_count, 0);
    vrt_reactor_runtime_free(&r);
    close(p[0]);
    close(p[1]);
}

static int64_t step_yield_once(machine_t *m)
{
    return m->polls == 1 ? vrt_poll_pending() : vrt_poll_ready(0);
}

/* rows: ReactorRuntime::free */
Test(reactor, free_with_parked_tasks_leaks_nothing)
{
    int before = count_open_fds();
    vrt_reactor_runtime_t r = new_reactor();
    int p[2];
    make_pipe(p);
    machine_t m = {.step = step_sleep_long, .fd = p[0]};
    spawn_machine(&r, &m);
    machine_t f = {.step = step_yield_once, .r = &r};
    cr_assert_eq(vrt_reactor_runtime_block_on(&r, (int64_t)(intptr_t)&f, machine_poll), 0);
    /* block_on gave the sleeper one sweep: it is parked now */
    cr_assert_eq(r.core.parked_count, 1);
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0);
    close(p[0]);
    close(p[1]);
    cr_assert_eq(count_open_fds(), before);
}

/* ---- the reactor globals ---- */

static int64_t step_global_sleep(machine_t *m)
{
    if (m->state == 0) {
        m->state = 1;
        cr_assert_geq(vrt_sleep_ms(5), 1000);
        return vrt_poll_pending();
    }
    return vrt_poll_ready(55);
}

static int64_t step_global_io(machine_t *m)
{
    if (m->state == 0) {
        m->state = 1;
        cr_assert_eq(vrt_wait_writable(m->fd), 0);
        return vrt_poll_pending();
    }
    if (m->state == 1) {
        m->state = 2;
        cr_assert_eq(write(m->fd, "g", 1), 1);
        cr_assert_eq(vrt_wait_readable((int64_t)(intptr_t)m->user), 0);
        return vrt_poll_pending();
    }
    return vrt_poll_ready(66);
}

/* rows: reactor_init, get_reactor, reactor_spawn, reactor_run,
 *       reactor_block_on, wait_readable, wait_writable, sleep_ms, shutdown */
Test(global_reactor, init_get_spawn_run_block_on_and_waits)
{
    vrt_reactor_runtime_t *r = vrt_reactor_init();
    cr_assert_not_null(r);
    cr_assert_eq(vrt_reactor_init(), r);
    cr_assert_eq(vrt_get_reactor(), r);
    CHECK_R(r);
    ASSERT_FAILS(vrt_wait_readable(0), EINVAL);
    ASSERT_FAILS(vrt_wait_writable(1), EINVAL);
    ASSERT_FAILS(vrt_sleep_ms(1), EINVAL);
    int p[2];
    make_pipe(p);
    machine_t a = {.step = step_global_sleep, .r = r};
    machine_t b = {.step = step_global_io, .r = r, .fd = p[1], .user = (void *)(intptr_t)p[0]};
    vrt_join_handle_t ha = vrt_reactor_spawn((int64_t)(intptr_t)&a, machine_poll);
    vrt_join_handle_t hb = vrt_reactor_spawn((int64_t)(intptr_t)&b, machine_poll);
    cr_assert_eq(ha.task_id, 0);
    cr_assert_eq(vrt_reactor_run(), 0);
    cr_assert_eq(vrt_join_handle_result(&ha), 55);
    cr_assert_eq(vrt_join_handle_result(&hb), 66);
    machine_t f = {.step = step_global_sleep, .r = r};
    cr_assert_eq(vrt_reactor_block_on((int64_t)(intptr_t)&f, machine_poll), 55);
    errno = 0;
    vrt_join_handle_t bad = vrt_reactor_spawn(0, NULL);
    ASSERT_INVALID_HANDLE(bad, EINVAL);
    cr_assert_eq(vrt_shutdown(), 0);
    vrt_reactor_runtime_t *again = vrt_get_reactor();
    cr_assert_not_null(again);
    cr_assert_eq(again->task_count, 0);
    cr_assert_eq(again->next_timer_id, 1000);
    cr_assert_eq(vrt_shutdown(), 0);
    close(p[0]);
    close(p[1]);
}

/* rows: shutdown, get_reactor */
Test(global_reactor, shutdown_leaves_no_fd_open)
{
    int before = count_open_fds();
    cr_assert_not_null(vrt_get_reactor());
    cr_assert_gt(count_open_fds(), before);
    cr_assert_eq(vrt_shutdown(), 0);
    cr_assert_eq(count_open_fds(), before);
}

/* rows: ReactorRuntime::run, ReactorRuntime::block_on, ReactorRuntime::spawn,
 *       ReactorRuntime::free, ReactorRuntime::get_event_loop */
Test(reactor, loop_cleaned_up_by_hand_is_refused_not_crashed)
{
    int before = count_open_fds();
    vrt_reactor_runtime_t r = new_reactor();
    machine_t m = {.step = step_sleep_long};
    spawn_machine(&r, &m);
    cr_assert_eq(vrt_event_loop_cleanup(vrt_reactor_runtime_get_event_loop(&r)), 0);
    ASSERT_FAILS(vrt_reactor_runtime_run(&r), EINVAL);
    ASSERT_FAILS(vrt_reactor_runtime_block_on(&r, 0, machine_poll), EINVAL);
    errno = 0;
    vrt_join_handle_t h = vrt_reactor_runtime_spawn(&r, 0, machine_poll);
    ASSERT_INVALID_HANDLE(h, EINVAL);
    cr_assert_eq(m.polls, 0);
    cr_assert_eq(vrt_reactor_runtime_free(&r), 0);
    cr_assert_eq(count_open_fds(), before);
}

/* ---- task states and node flags while parked and woken ---- */

static int64_t step_sleep_and_probe_flags(machine_t *m)
{
    vrt_task_node_t *self = m->r->current_task;
    if (m->state == 0) {
        cr_assert_eq(self->flags & VRT_NODE_WAITING, 0);
        /* A wait that fails registers nothing. */
        ASSERT_FAILS(vrt_reactor_runtime_sleep_ms(m->r, -1), EINVAL);
        cr_assert_eq(self->flags & VRT_NODE_WAITING, 0);
        cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, 50), 1000);
        cr_assert_neq(self->flags & VRT_NODE_WAITING, 0, "a wait registered in this poll");
        m->state = 1;
        return vrt_poll_pending();
    }
    cr_assert_eq(self->flags & (VRT_NODE_WAITING | VRT_NODE_PARKED), 0);
    cr_assert_eq(self->status, VRT_TASK_RUNNING);
    return vrt_poll_ready(7);
}

struct watch {
    vrt_join_handle_t sleeper;
    int parked_seen;
    int ready_seen;
};

/* Spawned before the sleeper, so polled before it in every sweep. */
static int64_t step_watch_sleeper(machine_t *m)
{
    struct watch *w = m->user;
    cr_assert_eq(m->r->current_task->flags & VRT_NODE_PARKED, 0,
                 "a task that yields without a wait is not parked");
    if (m->polls == 1)
        return vrt_poll_pending(); /* the sleeper has not been polled yet */
    vrt_task_node_t *n = w->sleeper.task_ptr;
    int64_t status = vrt_join_handle_status(&w->sleeper);
    if (status == VRT_TASK_COMPLETED)
        return vrt_poll_ready(0);
    if ((n->flags & VRT_NODE_PARKED) != 0) {
        cr_assert_eq(status, VRT_TASK_PENDING, "parked: PENDING");
        cr_assert_eq(n->flags & (VRT_NODE_QUEUED | VRT_NODE_WAITING), 0,
                     "parked: out of the run queue");
        cr_assert_eq(m->r->core.parked_count, 1);
        cr_assert_eq(w->ready_seen, 0);
        w->parked_seen++;
    } else {
        cr_assert_eq(status, VRT_TASK_READY, "woken, not yet polled: READY");
        cr_assert_neq(n->flags & VRT_NODE_QUEUED, 0, "woken: queued again");
        cr_assert_eq(m->r->core.parked_count, 0);
        cr_assert_eq(vrt_task_node_is_pending(n), 0);
        cr_assert_eq(vrt_task_node_is_completed(n), 0);
        w->ready_seen++;
    }
    return vrt_poll_pending();
}

/* rows: TASK_READY, NODE_PARKED, NODE_WAITING, NODE_QUEUED, TaskNode.flags,
 *       ReactorRuntime::sleep_ms, ReactorRuntime::run */
Test(reactor, a_woken_task_is_ready_until_its_next_poll)
{
    vrt_reactor_runtime_t r = new_reactor();
    struct watch w = {{-1, NULL}, 0, 0};
    machine_t watcher = {.step = step_watch_sleeper, .user = &w};
    machine_t sleeper = {.step = step_sleep_and_probe_flags};
    spawn_machine(&r, &watcher);
    w.sleeper = spawn_machine(&r, &sleeper);
    run_reactor(&r);
    cr_assert_eq(sleeper.polls, 2);
    cr_assert_geq(w.parked_seen, 1, "the sleeper was never seen parked");
    cr_assert_eq(w.ready_seen, 1, "READY from the wake to the next poll only");
    cr_assert_eq(vrt_join_handle_result(&w.sleeper), 7);
    vrt_reactor_runtime_free(&r);
}

static vrt_task_node_t *future_node;

static int64_t step_child_sees_parked_future(machine_t *m)
{
    cr_assert_eq(m->r->current_task->flags & VRT_NODE_FUTURE, 0, "a task, not a future");
    cr_assert_eq(future_node->flags, VRT_NODE_FUTURE | VRT_NODE_PARKED,
                 "the future is parked while it waits, never queued");
    return vrt_poll_ready(1);
}

static int64_t step_future_probe(machine_t *m)
{
    vrt_task_node_t *self = m->r->current_task;
    cr_assert_neq(self->flags & VRT_NODE_FUTURE, 0);
    cr_assert_eq(self->id, -1, "a future takes no task id");
    if (m->state == 0) {
        m->state = 1;
        future_node = self;
        spawn_machine(m->r, m->user);
        cr_assert_geq(vrt_reactor_runtime_sleep_ms(m->r, 20), 1000);
        return vrt_poll_pending();
    }
    return vrt_poll_ready(m->polls);
}

/* rows: NODE_FUTURE, ReactorRuntime::block_on */
Test(reactor, block_on_future_node_is_flagged_future)
{
    vrt_reactor_runtime_t r = new_reactor();
    machine_t child = {.step = step_child_sees_parked_future};
    machine_t f = {.step = step_future_probe, .user = &child, .r = &r};
    cr_assert_eq(vrt_reactor_runtime_block_on(&r, (int64_t)(intptr_t)&f, machine_poll), 2);
    cr_assert_eq(child.polls, 1);
    cr_assert_eq(r.next_task_id, 1, "only the child took an id");
    cr_assert_eq(r.core.parked_count, 0);
    ASSERT_FAILS(vrt_reactor_runtime_block_on(&r, 0, NULL), EINVAL);
    CHECK_R(&r);
    vrt_reactor_runtime_free(&r);
}

/* rows: ReactorRuntime::check, CHECK_PARKED, CHECK_NULL */
Test(reactor, check_reports_a_broken_core)
{
    vrt_reactor_runtime_t r = new_reactor();
    cr_assert_eq(vrt_reactor_runtime_check(&r), 0);
    r.core.parked_count = 1; /* parked tasks but no task at all */
    cr_assert_eq(vrt_reactor_runtime_check(&r), VRT_CHECK_PARKED);
    r.core.parked_count = 0;
    vrt_task_node_t stray = vrt_task_node_new(0, 0, NULL);
    r.current_task = &stray; /* set while nothing runs */
    cr_assert_eq(vrt_reactor_runtime_check(&r), VRT_CHECK_CURRENT);
    r.current_task = NULL;
    CHECK_R(&r);
    errno = 0;
    cr_assert_eq(vrt_reactor_runtime_check(NULL), VRT_CHECK_NULL);
    cr_assert_eq(errno, EINVAL);
    vrt_reactor_runtime_free(&r);
}
