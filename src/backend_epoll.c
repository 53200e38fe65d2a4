/*
 * The epoll backend: level-triggered, one registration per fd carrying both
 * directions, the caller's token in data.u64.
 */
#define _GNU_SOURCE /* epoll_create1 flags */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend.h"
#include "vrt.h"

const char *vrt_backend_name(void)
{
    return "epoll";
}

int vrt_backend_open(void)
{
    return epoll_create1(EPOLL_CLOEXEC);
}

static uint32_t epoll_mask(uint32_t mask)
{
    return ((mask & VRT_IO_READ) != 0 ? (uint32_t)EPOLLIN : 0u) |
           ((mask & VRT_IO_WRITE) != 0 ? (uint32_t)EPOLLOUT : 0u);
}

static int epoll_ctl_mask(int kq, int op, int fd, uint32_t mask, uint64_t token)
{
    struct epoll_event ev = {0};
    ev.events = epoll_mask(mask);
    ev.data.u64 = token;
    return epoll_ctl(kq, op, fd, &ev);
}

int vrt_backend_watch(int kq, int fd, uint32_t old_mask, uint32_t new_mask,
                      uint64_t token)
{
    if (new_mask == 0) {
        if (old_mask == 0)
            return 0;
        /* The user may have closed fd already: the kernel then dropped it. */
        if (epoll_ctl_mask(kq, EPOLL_CTL_DEL, fd, 0, 0) != 0 &&
            errno != ENOENT && errno != EBADF)
            return -1;
        return 0;
    }
    int op = old_mask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl_mask(kq, op, fd, new_mask, token) == 0)
        return 0;
    /* A number closed and reused behind our back: the kernel's view differs
     * from old_mask, so take the other operation once. */
    if (op == EPOLL_CTL_ADD && errno == EEXIST)
        return epoll_ctl_mask(kq, EPOLL_CTL_MOD, fd, new_mask, token);
    if (op == EPOLL_CTL_MOD && errno == ENOENT)
        return epoll_ctl_mask(kq, EPOLL_CTL_ADD, fd, new_mask, token);
    return -1;
}

int vrt_backend_wait(int kq, vrt_io_event_t *events, int max, int timeout_ms)
{
    struct epoll_event raw[VRT_MAX_EVENTS];
    if (max > (int)VRT_MAX_EVENTS)
        max = (int)VRT_MAX_EVENTS;
    int n = epoll_wait(kq, raw, max, timeout_ms);
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, events[0 .. n - 1];
        loop variant n - i;
    */
    for (int i = 0; i < n; i++) {
        uint32_t got = raw[i].events;
        uint32_t ready = 0;
        if ((got & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) != 0)
            ready |= VRT_IO_READ;
        if ((got & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0)
            ready |= VRT_IO_WRITE;
        events[i].token = raw[i].data.u64;
        events[i].ready = ready; /* the caller masks it with its interest */
    }
    return n;
}

void vrt_backend_close(int kq)
{
    close(kq);
}
