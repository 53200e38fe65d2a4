/*
 * vrt's side of the benchmarks, one case per process:
 *
 *   bench_vrt spawn [tasks] [batch]    spawn-complete, ns per task
 *   bench_vrt spawn-floor [tasks] [batch]  the same work calling the poll
 *                                      functions directly: the floor
 *   bench_vrt pingpong [rounds]        two reactor tasks over a socketpair
 *   bench_vrt scale PARKED [rounds]    the same with PARKED idle tasks
 *   bench_vrt timers [count]           million-timers shape on the reactor
 *   bench_vrt idle [ms]                CPU of a reactor waiting on a timer
 */
#define _GNU_SOURCE
#include <sys/eventfd.h>

#include "bench.h"
#include "vrt.h"

/* ---- spawn-complete ------------------------------------------------------ */

/* noinline: the floor must pay the same call through a pointer as vrt. */
__attribute__((noinline)) static int64_t poll_trivial(int64_t future_ptr)
{
    return vrt_poll_ready((int32_t)future_ptr);
}

static int64_t expected_sum(long tasks, long batch)
{
    int64_t per_batch = (int64_t)batch * (batch - 1) / 2;
    return per_batch * (tasks / batch);
}

/* Spawn a batch, run it, read and release every handle. */
static int64_t spawn_batch(vrt_runtime_t *rt, vrt_join_handle_t *handles, long batch)
{
    int64_t sum = 0;
    for (long i = 0; i < batch; i++) {
        handles[i] = vrt_runtime_spawn(rt, i, poll_trivial);
        if (handles[i].task_ptr == NULL)
            bench_die("vrt_runtime_spawn");
    }
    if (vrt_runtime_run(rt) != 0)
        bench_die("vrt_runtime_run");
    for (long i = 0; i < batch; i++) {
        sum += vrt_join_handle_result(&handles[i]);
        vrt_join_handle_release(&handles[i]);
    }
    return sum;
}

struct floor_task {
    int64_t future_ptr;
    vrt_poll_fn poll_fn;
    int64_t result;
};

/* What any executor has to do at least: store the task, call its poll
 * function, keep the result for whoever joins it. */
static int64_t floor_batch(struct floor_task *tasks, long batch)
{
    int64_t sum = 0;
    for (long i = 0; i < batch; i++) {
        tasks[i].future_ptr = i;
        tasks[i].poll_fn = poll_trivial;
    }
    for (long i = 0; i < batch; i++)
        tasks[i].result = vrt_poll_value(tasks[i].poll_fn(tasks[i].future_ptr));
    for (long i = 0; i < batch; i++)
        sum += tasks[i].result;
    return sum;
}

static int run_spawn(int floor, long tasks, long batch)
{
    if (tasks % batch != 0) {
        fprintf(stderr, "bench: tasks must be a multiple of batch\n");
        return 2;
    }
    vrt_runtime_t rt = vrt_runtime_new();
    if (vrt_runtime_set_max_tasks(&rt, batch) != 0)
        bench_die("vrt_runtime_set_max_tasks");
    vrt_join_handle_t *handles = malloc((size_t)batch * sizeof *handles);
    struct floor_task *floor_tasks = malloc((size_t)batch * sizeof *floor_tasks);
    if (handles == NULL || floor_tasks == NULL)
        bench_die("malloc");
    /* Warm-up: the runtime's slabs are allocated here, never while timed. */
    if (floor)
        floor_batch(floor_tasks, batch);
    else
        spawn_batch(&rt, handles, batch);
    int64_t sum = 0;
    struct bench_span start = bench_span_start();
    for (long done = 0; done < tasks; done += batch)
        sum += floor ? floor_batch(floor_tasks, batch) : spawn_batch(&rt, handles, batch);
    struct bench_span elapsed = bench_span_end(start);
    if (sum != expected_sum(tasks, batch)) {
        fprintf(stderr, "bench: wrong sum of results %lld\n", (long long)sum);
        return 2;
    }
    vrt_runtime_free(&rt);
    free(handles);
    free(floor_tasks);
    bench_report("case=spawn impl=%s tasks=%ld batch=%ld ns_per_task=%.2f wall_ns_per_task=%.2f",
                 floor ? "floor" : "vrt", tasks, batch, (double)elapsed.cpu_ns / (double)tasks,
                 (double)elapsed.wall_ns / (double)tasks);
    return 0;
}

/* ---- ping-pong and scale ----------------------------------------------- */

/* A task that waits on one fd of its own: the ponger, a parked task. */
struct fd_task {
    vrt_reactor_runtime_t *reactor;
    int fd;
};

struct pinger {
    vrt_reactor_runtime_t *reactor;
    int fd;
    long rounds;
    long done;
    int started;
    struct bench_span start;
    struct bench_span elapsed;
    int *parked_fds; /* woken when the rounds are done, so that run ends */
    long parked;
};

static void wait_readable(vrt_reactor_runtime_t *reactor, int fd)
{
    if (vrt_reactor_runtime_wait_readable(reactor, fd) != 0)
        bench_die("vrt_reactor_runtime_wait_readable");
}

static void wake_parked(const struct pinger *p)
{
    uint64_t one = 1;
    for (long i = 0; i < p->parked; i++)
        if (write(p->parked_fds[i], &one, sizeof one) != (ssize_t)sizeof one)
            bench_die("write eventfd");
}

static int64_t poll_ping(int64_t future_ptr)
{
    struct pinger *p = (struct pinger *)(intptr_t)future_ptr;
    if (!p->started) {
        /* The clock starts here, after every parked task has parked. */
        p->started = 1;
        p->start = bench_span_start();
        bench_send_byte(p->fd, BENCH_PING);
    } else if (bench_recv_byte(p->fd) >= 0) {
        if (++p->done == p->rounds) {
            p->elapsed = bench_span_end(p->start);
            bench_send_byte(p->fd, BENCH_STOP);
            wake_parked(p);
            return vrt_poll_ready(0);
        }
        bench_send_byte(p->fd, BENCH_PING);
    }
    wait_readable(p->reactor, p->fd);
    return vrt_poll_pending();
}

static int64_t poll_pong(int64_t future_ptr)
{
    struct fd_task *p = (struct fd_task *)(intptr_t)future_ptr;
    int byte = bench_recv_byte(p->fd);
    if (byte == BENCH_STOP)
        return vrt_poll_ready(0);
    if (byte >= 0)
        bench_send_byte(p->fd, (char)byte);
    wait_readable(p->reactor, p->fd);
    return vrt_poll_pending();
}

/* Waits on an eventfd that nobody writes until the ping-pong is over. */
static int64_t poll_parked(int64_t future_ptr)
{
    struct fd_task *p = (struct fd_task *)(intptr_t)future_ptr;
    uint64_t value;
    if (read(p->fd, &value, sizeof value) == (ssize_t)sizeof value)
        return vrt_poll_ready(0);
    if (errno != EAGAIN)
        bench_die("read eventfd");
    wait_readable(p->reactor, p->fd);
    return vrt_poll_pending();
}

static void raise_fd_limit(long needed)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        bench_die("getrlimit");
    if (lim.rlim_cur >= (rlim_t)needed)
        return;
    lim.rlim_cur = lim.rlim_max;
    if (lim.rlim_max < (rlim_t)needed) {
        lim.rlim_cur = lim.rlim_max = (rlim_t)needed;
    }
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        bench_die("setrlimit RLIMIT_NOFILE (scale needs one fd per parked task)");
}

static void spawn_task(vrt_reactor_runtime_t *reactor, void *future, vrt_poll_fn poll_fn)
{
    vrt_join_handle_t h = vrt_reactor_runtime_spawn(reactor, (int64_t)(intptr_t)future, poll_fn);
    if (h.task_ptr == NULL)
        bench_die("vrt_reactor_runtime_spawn");
    vrt_join_handle_release(&h);
}

/* Ping-pong between two reactor tasks, with `parked` idle tasks spawned
 * before them.  Returns the time the rounds took. */
static struct bench_span pingpong(long rounds, long parked)
{
    vrt_reactor_runtime_t reactor = vrt_reactor_runtime_new();
    if (reactor.event_loop == NULL)
        bench_die("vrt_reactor_runtime_new");
    if (vrt_runtime_set_max_tasks(&reactor.core, parked + 2) != 0)
        bench_die("vrt_runtime_set_max_tasks");
    raise_fd_limit(parked + 64);
    int *parked_fds = malloc((size_t)(parked + 1) * sizeof *parked_fds);
    struct fd_task *idle = malloc((size_t)(parked + 1) * sizeof *idle);
    if (parked_fds == NULL || idle == NULL)
        bench_die("malloc");
    for (long i = 0; i < parked; i++) {
        parked_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (parked_fds[i] < 0)
            bench_die("eventfd");
        idle[i] = (struct fd_task){&reactor, parked_fds[i]};
        spawn_task(&reactor, &idle[i], poll_parked);
    }
    int sv[2];
    bench_socketpair(sv);
    struct pinger ping = {.reactor = &reactor, .fd = sv[0], .rounds = rounds,
                          .parked_fds = parked_fds, .parked = parked};
    struct fd_task pong = {&reactor, sv[1]};
    spawn_task(&reactor, &ping, poll_ping);
    spawn_task(&reactor, &pong, poll_pong);
    if (vrt_reactor_runtime_run(&reactor) != 0)
        bench_die("vrt_reactor_runtime_run");
    if (ping.done != rounds) {
        fprintf(stderr, "bench: %ld of %ld rounds\n", ping.done, rounds);
        exit(2);
    }
    vrt_reactor_runtime_free(&reactor);
    for (long i = 0; i < parked; i++)
        close(parked_fds[i]);
    close(sv[0]);
    close(sv[1]);
    free(parked_fds);
    free(idle);
    return ping.elapsed;
}

/* ---- million timers ---------------------------------------------------- */

struct timer_state {
    vrt_reactor_runtime_t *reactor;
    unsigned char *armed; /* one byte of future state per timer task */
    long fired;
};

static struct timer_state timers;

static int64_t poll_timer(int64_t index)
{
    if (!timers.armed[index]) {
        timers.armed[index] = 1;
        if (vrt_reactor_runtime_sleep_ms(timers.reactor, bench_timer_timeout_ms((long)index)) < 0)
            bench_die("vrt_reactor_runtime_sleep_ms");
        return vrt_poll_pending();
    }
    timers.fired++;
    return vrt_poll_ready(0);
}

static int run_timers(long count)
{
    int64_t start = bench_now_ns();
    vrt_reactor_runtime_t reactor = vrt_reactor_runtime_new();
    if (reactor.event_loop == NULL)
        bench_die("vrt_reactor_runtime_new");
    if (vrt_runtime_set_max_tasks(&reactor.core, count) != 0)
        bench_die("vrt_runtime_set_max_tasks");
    timers.reactor = &reactor;
    timers.armed = calloc((size_t)count, 1);
    if (timers.armed == NULL)
        bench_die("calloc");
    for (long i = 0; i < count; i++) {
        vrt_join_handle_t h = vrt_reactor_runtime_spawn(&reactor, i, poll_timer);
        if (h.task_ptr == NULL)
            bench_die("vrt_reactor_runtime_spawn");
        vrt_join_handle_release(&h);
    }
    if (vrt_reactor_runtime_run(&reactor) != 0)
        bench_die("vrt_reactor_runtime_run");
    vrt_reactor_runtime_free(&reactor);
    free(timers.armed);
    bench_report_timers("vrt", count, timers.fired, bench_now_ns() - start);
    return 0;
}

/* ---- idle ---------------------------------------------------------------- */

struct sleeper {
    vrt_reactor_runtime_t *reactor;
    long ms;
    int slept;
};

static int64_t poll_sleeper(int64_t future_ptr)
{
    struct sleeper *s = (struct sleeper *)(intptr_t)future_ptr;
    if (s->slept)
        return vrt_poll_ready(0);
    s->slept = 1;
    if (vrt_reactor_runtime_sleep_ms(s->reactor, s->ms) < 0)
        bench_die("vrt_reactor_runtime_sleep_ms");
    return vrt_poll_pending();
}

static int run_idle(long ms)
{
    vrt_reactor_runtime_t reactor = vrt_reactor_runtime_new();
    if (reactor.event_loop == NULL)
        bench_die("vrt_reactor_runtime_new");
    struct sleeper sleeper = {&reactor, ms, 0};
    spawn_task(&reactor, &sleeper, poll_sleeper);
    double cpu_before = bench_cpu_s();
    int64_t start = bench_now_ns();
    if (vrt_reactor_runtime_run(&reactor) != 0)
        bench_die("vrt_reactor_runtime_run");
    int64_t elapsed = bench_now_ns() - start;
    double cpu = bench_cpu_s() - cpu_before;
    vrt_reactor_runtime_free(&reactor);
    if (elapsed < ms * INT64_C(1000000)) {
        fprintf(stderr, "bench: the timer fired early\n");
        return 2;
    }
    bench_report("case=idle impl=vrt wait_ms=%ld wall_s=%.4f idle_cpu_us=%.0f", ms,
                 (double)elapsed / 1e9, cpu * 1e6);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_vrt spawn|spawn-floor [tasks] [batch]\n"
                    "       bench_vrt pingpong [rounds]\n"
                    "       bench_vrt scale PARKED [rounds]\n"
                    "       bench_vrt timers [count]\n"
                    "       bench_vrt idle [ms]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *name = argv[1];
    if (strcmp(name, "spawn") == 0 || strcmp(name, "spawn-floor") == 0)
        return run_spawn(strcmp(name, "spawn-floor") == 0,
                         bench_count_arg(argc, argv, 2, 1000000),
                         bench_count_arg(argc, argv, 3, 1000));
    if (strcmp(name, "pingpong") == 0) {
        long rounds = bench_count_arg(argc, argv, 2, 200000);
        bench_report_pingpong("vrt", rounds, pingpong(rounds, 0));
        return 0;
    }
    if (strcmp(name, "scale") == 0 && argc >= 3) {
        long parked = bench_count_arg(argc, argv, 2, 10);
        long rounds = bench_count_arg(argc, argv, 3, 200000);
        struct bench_span elapsed = pingpong(rounds, parked);
        bench_report("case=scale impl=vrt parked=%ld rounds=%ld ns_per_rt=%.1f "
                     "wall_ns_per_rt=%.1f", parked, rounds,
                     (double)elapsed.cpu_ns / (double)rounds,
                     (double)elapsed.wall_ns / (double)rounds);
        return 0;
    }
    if (strcmp(name, "timers") == 0)
        return run_timers(bench_count_arg(argc, argv, 2, 1000000));
    if (strcmp(name, "idle") == 0)
        return run_idle(bench_count_arg(argc, argv, 2, 1000));
    return usage();
}
