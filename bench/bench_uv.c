/*
 * libuv's side: ping-pong over uv_poll (readiness, like vrt's reactor) and
 * libuv's own benchmark-million-timers.
 *
 *   bench_uv pingpong [rounds]
 *   bench_uv timers [count]
 */
#define _GNU_SOURCE
#include <uv.h>

#include "bench.h"

static void check_uv(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench: %s: %s\n", what, uv_strerror(rc));
        exit(2);
    }
}

struct pingpong {
    uv_poll_t ping;
    uv_poll_t pong;
    int fds[2];
    long rounds;
    long done;
};

static void on_ping_readable(uv_poll_t *handle, int status, int events)
{
    struct pingpong *pp = handle->data;
    (void)events;
    check_uv(status, "uv_poll ping");
    if (bench_recv_byte(pp->fds[0]) < 0)
        return;
    if (++pp->done < pp->rounds) {
        bench_send_byte(pp->fds[0], BENCH_PING);
        return;
    }
    uv_poll_stop(&pp->ping);
    uv_poll_stop(&pp->pong);
}

static void on_pong_readable(uv_poll_t *handle, int status, int events)
{
    struct pingpong *pp = handle->data;
    (void)events;
    check_uv(status, "uv_poll pong");
    if (bench_recv_byte(pp->fds[1]) >= 0)
        bench_send_byte(pp->fds[1], BENCH_PING);
}

static int run_pingpong(long rounds)
{
    uv_loop_t *loop = uv_default_loop();
    struct pingpong pp = {.rounds = rounds};
    bench_socketpair(pp.fds);
    check_uv(uv_poll_init(loop, &pp.ping, pp.fds[0]), "uv_poll_init");
    check_uv(uv_poll_init(loop, &pp.pong, pp.fds[1]), "uv_poll_init");
    pp.ping.data = pp.pong.data = &pp;
    check_uv(uv_poll_start(&pp.ping, UV_READABLE, on_ping_readable), "uv_poll_start");
    check_uv(uv_poll_start(&pp.pong, UV_READABLE, on_pong_readable), "uv_poll_start");
    struct bench_span start = bench_span_start();
    bench_send_byte(pp.fds[0], BENCH_PING);
    check_uv(uv_run(loop, UV_RUN_DEFAULT), "uv_run");
    struct bench_span elapsed = bench_span_end(start);
    if (pp.done != rounds) {
        fprintf(stderr, "bench: %ld of %ld rounds\n", pp.done, rounds);
        return 2;
    }
    uv_close((uv_handle_t *)&pp.ping, NULL);
    uv_close((uv_handle_t *)&pp.pong, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    close(pp.fds[0]);
    close(pp.fds[1]);
    check_uv(uv_loop_close(loop), "uv_loop_close");
    bench_report_pingpong("libuv", rounds, elapsed);
    return 0;
}

static long timers_fired;

static void on_timer(uv_timer_t *handle)
{
    (void)handle;
    timers_fired++;
}

/* libuv's test/benchmark-million-timers.c, with the count as a parameter. */
static int run_timers(long count)
{
    int64_t start = bench_now_ns();
    uv_timer_t *timers = malloc((size_t)count * sizeof *timers);
    if (timers == NULL)
        bench_die("malloc");
    uv_loop_t *loop = uv_default_loop();
    for (long i = 0; i < count; i++) {
        check_uv(uv_timer_init(loop, &timers[i]), "uv_timer_init");
        check_uv(uv_timer_start(&timers[i], on_timer, (uint64_t)bench_timer_timeout_ms(i), 0),
                 "uv_timer_start");
    }
    check_uv(uv_run(loop, UV_RUN_DEFAULT), "uv_run");
    for (long i = 0; i < count; i++)
        uv_close((uv_handle_t *)&timers[i], NULL);
    check_uv(uv_run(loop, UV_RUN_DEFAULT), "uv_run");
    check_uv(uv_loop_close(loop), "uv_loop_close");
    free(timers);
    bench_report_timers("libuv", count, timers_fired, bench_now_ns() - start);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_peer_main(argc, argv, "bench_uv", run_pingpong, run_timers);
}
