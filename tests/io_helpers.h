/* Kernel-object helpers shared by the event-loop and reactor suites. */
#ifndef VRT_TEST_IO_HELPERS_H
#define VRT_TEST_IO_HELPERS_H

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * INT64_C(1000000000) + (int64_t)ts.tv_nsec;
}

static inline void set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    cr_assert_geq(fl, 0);
    cr_assert_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
    cr_assert_eq(fcntl(fd, F_SETFD, FD_CLOEXEC), 0);
}

/* A pipe, both ends non-blocking and close-on-exec. */
static inline void make_pipe(int p[2])
{
    cr_assert_eq(pipe(p), 0, "pipe: errno %d", errno);
    set_nonblock_cloexec(p[0]);
    set_nonblock_cloexec(p[1]);
}

static inline void make_socketpair(int s[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0,
                 "socketpair: errno %d", errno);
    set_nonblock_cloexec(s[0]);
    set_nonblock_cloexec(s[1]);
}

static inline void close_pair(int p[2])
{
    close(p[0]);
    close(p[1]);
}

/* Entries of /proc/self/fd (the directory's own fd included, the same each
 * time); -1 where there is no /proc. */
static inline int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

#endif
