/*
 * The floor for ping-pong: a hand-written level-triggered epoll loop that
 * does only what the round trip needs.
 *
 *   bench_epoll pingpong [rounds]
 */
#define _GNU_SOURCE
#include <sys/epoll.h>

#include "bench.h"

static void watch(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        bench_die("epoll_ctl");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "pingpong") != 0) {
        fprintf(stderr, "usage: bench_epoll pingpong [rounds]\n");
        return 2;
    }
    long rounds = bench_count_arg(argc, argv, 2, 200000);
    int sv[2];
    bench_socketpair(sv);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        bench_die("epoll_create1");
    watch(epfd, sv[0]);
    watch(epfd, sv[1]);
    long done = 0;
    struct bench_span start = bench_span_start();
    bench_send_byte(sv[0], BENCH_PING);
    while (done < rounds) {
        struct epoll_event events[64];
        int n = epoll_wait(epfd, events, 64, -1);
        if (n < 0 && errno != EINTR)
            bench_die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (bench_recv_byte(fd) < 0)
                continue;
            if (fd == sv[1])
                bench_send_byte(sv[1], BENCH_PING);
            else if (++done < rounds)
                bench_send_byte(sv[0], BENCH_PING);
        }
    }
    struct bench_span elapsed = bench_span_end(start);
    close(epfd);
    close(sv[0]);
    close(sv[1]);
    bench_report_pingpong("epoll", rounds, elapsed);
    return 0;
}
