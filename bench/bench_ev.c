/*
 * libev's side: ping-pong over ev_io and the million-timers shape with
 * ev_timer.
 *
 *   bench_ev pingpong [rounds]
 *   bench_ev timers [count]
 */
#define _GNU_SOURCE
#include <ev.h>

#include "bench.h"

struct pingpong {
    ev_io ping;
    ev_io pong;
    int fds[2];
    long rounds;
    long done;
};

static void on_ping_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pingpong *pp = w->data;
    (void)revents;
    if (bench_recv_byte(pp->fds[0]) < 0)
        return;
    if (++pp->done < pp->rounds) {
        bench_send_byte(pp->fds[0], BENCH_PING);
        return;
    }
    ev_io_stop(loop, &pp->ping);
    ev_io_stop(loop, &pp->pong);
}

static void on_pong_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pingpong *pp = w->data;
    (void)loop;
    (void)revents;
    if (bench_recv_byte(pp->fds[1]) >= 0)
        bench_send_byte(pp->fds[1], BENCH_PING);
}

static struct ev_loop *new_loop(void)
{
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    if (loop == NULL)
        bench_die("ev_loop_new");
    return loop;
}

static int run_pingpong(long rounds)
{
    struct ev_loop *loop = new_loop();
    struct pingpong pp = {.rounds = rounds};
    bench_socketpair(pp.fds);
    ev_io_init(&pp.ping, on_ping_readable, pp.fds[0], EV_READ);
    ev_io_init(&pp.pong, on_pong_readable, pp.fds[1], EV_READ);
    pp.ping.data = pp.pong.data = &pp;
    ev_io_start(loop, &pp.ping);
    ev_io_start(loop, &pp.pong);
    struct bench_span start = bench_span_start();
    bench_send_byte(pp.fds[0], BENCH_PING);
    ev_run(loop, 0);
    struct bench_span elapsed = bench_span_end(start);
    if (pp.done != rounds) {
        fprintf(stderr, "bench: %ld of %ld rounds\n", pp.done, rounds);
        return 2;
    }
    ev_loop_destroy(loop);
    close(pp.fds[0]);
    close(pp.fds[1]);
    bench_report_pingpong("libev", rounds, elapsed);
    return 0;
}

static long timers_fired;

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    timers_fired++;
}

static int run_timers(long count)
{
    int64_t start = bench_now_ns();
    ev_timer *timers = malloc((size_t)count * sizeof *timers);
    if (timers == NULL)
        bench_die("malloc");
    struct ev_loop *loop = new_loop();
    for (long i = 0; i < count; i++) {
        ev_timer_init(&timers[i], on_timer, (double)bench_timer_timeout_ms(i) / 1000.0, 0.0);
        ev_timer_start(loop, &timers[i]);
    }
    ev_run(loop, 0);
    ev_loop_destroy(loop);
    free(timers);
    bench_report_timers("libev", count, timers_fired, bench_now_ns() - start);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_peer_main(argc, argv, "bench_ev", run_pingpong, run_timers);
}
