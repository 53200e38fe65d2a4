/*
 * The fault shim (shim.h): wrappers selected with -Wl,--wrap=NAME, so that
 * the library's calls to NAME land in __wrap_NAME and __real_NAME is libc.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int __real_epoll_create1(int flags);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __real_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout);
int __real_pipe(int fds[2]);
int __real_pipe2(int fds[2], int flags);
int __real_eventfd(unsigned int initval, int flags);
int __real_fcntl(int fd, int cmd, ...);
ssize_t __real_read(int fd, void *buf, size_t count);
ssize_t __real_write(int fd, const void *buf, size_t count);

int __wrap_epoll_create1(int flags);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout);
int __wrap_pipe(int fds[2]);
int __wrap_pipe2(int fds[2], int flags);
int __wrap_eventfd(unsigned int initval, int flags);
int __wrap_fcntl(int fd, int cmd, ...);
ssize_t __wrap_read(int fd, void *buf, size_t count);
ssize_t __wrap_write(int fd, const void *buf, size_t count);

static int armed;
static long countdown;
static enum shim_mode mode;
static int fired;
static struct shim_fault last;
static long live_blocks;
/* Inside the kqueue emulation: its own system calls are not the library's. */
int shim_passthrough;
int shim_foreign_events;

void shim_arm(long nth, enum shim_mode how)
{
    armed = 1;
    countdown = nth;
    mode = how;
    fired = 0;
}

int shim_disarm(struct shim_fault *fault)
{
    armed = 0;
    if (fired && fault != NULL)
        *fault = last;
    return fired;
}

int shim_errno(enum shim_kind kind, enum shim_mode how)
{
    static const int hard[SHIM_KINDS] = {
        [SHIM_ALLOC] = ENOMEM,        [SHIM_QUEUE_OPEN] = EMFILE,
        [SHIM_QUEUE_CHANGE] = ENOMEM, [SHIM_QUEUE_WAIT] = EBADF,
        [SHIM_PIPE] = ENFILE,         [SHIM_FCNTL] = EBADF,
        [SHIM_READ] = EIO,            [SHIM_WRITE] = EIO,
    };
    if (how == SHIM_EINTR)
        return EINTR;
    return hard[kind];
}

const char *shim_kind_name(enum shim_kind kind)
{
    static const char *const names[SHIM_KINDS] = {
        "alloc", "queue-open", "queue-change", "queue-wait",
        "pipe", "fcntl", "read", "write",
    };
    return names[kind];
}

int shim_should_fail(enum shim_kind kind, const void *site)
{
    if (!armed || shim_passthrough > 0 || fired)
        return 0;
    if (mode == SHIM_EINTR &&
        kind != SHIM_QUEUE_WAIT && kind != SHIM_READ && kind != SHIM_WRITE)
        return 0; /* only the calls that can be interrupted count */
    if (--countdown > 0)
        return 0;
    fired = 1;
    last.kind = kind;
    last.err = shim_errno(kind, mode);
    last.site = site;
    errno = last.err;
    return 1;
}

#define SITE __builtin_return_address(0)

int __wrap_epoll_create1(int flags)
{
    return shim_should_fail(SHIM_QUEUE_OPEN, SITE) ? -1 : __real_epoll_create1(flags);
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    return shim_should_fail(SHIM_QUEUE_CHANGE, SITE) ? -1 : __real_epoll_ctl(epfd, op, fd, ev);
}

int __wrap_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
    return shim_should_fail(SHIM_QUEUE_WAIT, SITE) ? -1
                                                   : __real_epoll_wait(epfd, events, max, timeout);
}

int __wrap_pipe(int fds[2])
{
    return shim_should_fail(SHIM_PIPE, SITE) ? -1 : __real_pipe(fds);
}

int __wrap_pipe2(int fds[2], int flags)
{
    return shim_should_fail(SHIM_PIPE, SITE) ? -1 : __real_pipe2(fds, flags);
}

int __wrap_eventfd(unsigned int initval, int flags)
{
    return shim_should_fail(SHIM_PIPE, SITE) ? -1 : __real_eventfd(initval, flags);
}

int __wrap_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    /* Every command vrt uses takes an int or nothing. */
    int arg = va_arg(ap, int);
    va_end(ap);
    return shim_should_fail(SHIM_FCNTL, SITE) ? -1 : __real_fcntl(fd, cmd, arg);
}

ssize_t __wrap_read(int fd, void *buf, size_t count)
{
    return shim_should_fail(SHIM_READ, SITE) ? -1 : __real_read(fd, buf, count);
}

ssize_t __wrap_write(int fd, const void *buf, size_t count)
{
    return shim_should_fail(SHIM_WRITE, SITE) ? -1 : __real_write(fd, buf, count);
}

/* ---- the allocator ---- */

static void *shim_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (shim_should_fail(SHIM_ALLOC, SITE))
        return NULL;
    void *block = malloc(size);
    if (block != NULL)
        live_blocks++;
    return block;
}

static void shim_release(void *ctx, void *block)
{
    (void)ctx;
    live_blocks--;
    free(block);
}

const vrt_allocator_t shim_allocator = {shim_alloc, shim_release, NULL};

long shim_live_blocks(void)
{
    return live_blocks;
}
