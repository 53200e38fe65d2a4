/*
 * What every benchmark program shares: the clock, rusage, argument parsing
 * and the one-line report the runner (bench/run.py) parses.
 *
 * A program measures one case per process, so that ru_maxrss is that case's
 * peak, and prints a single line of `key=value` pairs on stdout; it exits
 * with status 2 and a message on stderr if anything fails, so a broken
 * benchmark can never report a figure.
 */
#ifndef VRT_BENCH_H
#define VRT_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * A measured span: wall-clock time, and the CPU time of this process
 * (user plus system).  The figures per task and per round trip come from
 * the CPU time, which leaves out the time the process waited for a CPU
 * while other jobs ran on a shared machine; the wall time is reported
 * beside it.
 */
struct bench_span {
    int64_t wall_ns;
    int64_t cpu_ns;
};

static inline struct bench_span bench_span_start(void)
{
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    struct bench_span now = {bench_now_ns(), (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec};
    return now;
}

static inline struct bench_span bench_span_end(struct bench_span start)
{
    struct bench_span now = bench_span_start();
    struct bench_span elapsed = {now.wall_ns - start.wall_ns, now.cpu_ns - start.cpu_ns};
    return elapsed;
}

/* User plus system CPU this process has used so far, in seconds. */
static inline double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * Peak resident set of this program, in KiB.  Linux carries ru_maxrss over
 * exec, so a case started from a large parent (the Python runner) would
 * report the parent's peak if it is larger; VmHWM belongs to the address
 * space exec created.  ru_maxrss is the fallback where /proc is missing.
 */
static inline long bench_peak_rss_kb(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (status != NULL && fgets(line, sizeof line, status) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (status != NULL)
        fclose(status);
    if (kb >= 0)
        return kb;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static inline void bench_die(const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, errno != 0 ? strerror(errno) : "failed");
    exit(2);
}

/* argv[index] as a positive count, or fallback when it is absent. */
static inline long bench_count_arg(int argc, char **argv, int index, long fallback)
{
    if (argc <= index)
        return fallback;
    char *end;
    errno = 0;
    long value = strtol(argv[index], &end, 10);
    if (errno != 0 || *end != '\0' || value <= 0) {
        fprintf(stderr, "bench: not a positive count: %s\n", argv[index]);
        exit(2);
    }
    return value;
}

/* The report line: the case's own figures (fmt), then the process's CPU
 * time and peak RSS. */
static inline void bench_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" cpu_s=%.6f peak_rss_kb=%ld\n", bench_cpu_s(), bench_peak_rss_kb());
    fflush(stdout);
}

/* A connected, non-blocking Unix stream socket pair: the ping-pong wire. */
static inline void bench_socketpair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        bench_die("socketpair");
}

/* One byte each way is a round trip. */
static inline void bench_send_byte(int fd, char byte)
{
    if (write(fd, &byte, 1) != 1)
        bench_die("write");
}

/* One byte, or -1 when none is there yet; EOF and errors are fatal. */
static inline int bench_recv_byte(int fd)
{
    unsigned char byte;
    ssize_t n = read(fd, &byte, 1);
    if (n == 1)
        return byte;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -1;
    if (n == 0)
        errno = 0;
    bench_die("read");
    return -1;
}

/* Ping-pong: the pinger sends PING, the ponger echoes it; STOP ends the
 * ponger once the pinger has its rounds. */
#define BENCH_PING 'p'
#define BENCH_STOP 'q'

/* The million-timers shape (libuv's benchmark-million-timers): the timeout
 * grows by 1 ms every 1000 timers, from 2 ms. */
static inline int64_t bench_timer_timeout_ms(long index)
{
    return 2 + index / 1000;
}

static inline void bench_report_pingpong(const char *impl, long rounds, struct bench_span span)
{
    bench_report("case=pingpong impl=%s rounds=%ld rt_per_s=%.0f ns_per_rt=%.1f "
                 "wall_rt_per_s=%.0f",
                 impl, rounds, (double)rounds * 1e9 / (double)span.cpu_ns,
                 (double)span.cpu_ns / (double)rounds,
                 (double)rounds * 1e9 / (double)span.wall_ns);
}

static inline void bench_report_timers(const char *impl, long timers, long fired,
                                       int64_t elapsed_ns)
{
    if (fired != timers) {
        fprintf(stderr, "bench: %ld of %ld timers fired\n", fired, timers);
        exit(2);
    }
    bench_report("case=timers impl=%s timers=%ld wall_s=%.3f", impl, timers,
                 (double)elapsed_ns / 1e9);
}

/* main() of a peer program that has the ping-pong and the timers cases. */
static inline int bench_peer_main(int argc, char **argv, const char *program,
                                  int (*pingpong)(long rounds), int (*timers)(long count))
{
    if (argc >= 2 && strcmp(argv[1], "pingpong") == 0)
        return pingpong(bench_count_arg(argc, argv, 2, 200000));
    if (argc >= 2 && strcmp(argv[1], "timers") == 0)
        return timers(bench_count_arg(argc, argv, 2, 1000000));
    fprintf(stderr, "usage: %s pingpong [rounds] | timers [count]\n", program);
    return 2;
}

#endif /* VRT_BENCH_H */
