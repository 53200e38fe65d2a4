/* The kqueue side of the fault shim, for the build over tests/kqueue_emu:
 * kqueue() and kevent() fail like the kernel's; the emulation's own epoll,
 * fcntl, read and write calls beneath them are never counted. */
#include <sys/event.h>

#include <string.h>

#include "shim.h"

int __real_kqueue(void);
int __real_kevent(int kq, const struct kevent *changes, int nchanges,
                  struct kevent *events, int nevents, const struct timespec *timeout);
int __wrap_kqueue(void);
int __wrap_kevent(int kq, const struct kevent *changes, int nchanges,
                  struct kevent *events, int nevents, const struct timespec *timeout);

int __wrap_kqueue(void)
{
    if (shim_should_fail(SHIM_QUEUE_OPEN, __builtin_return_address(0)))
        return -1;
    shim_passthrough++;
    int kq = __real_kqueue();
    shim_passthrough--;
    return kq;
}

int __wrap_kevent(int kq, const struct kevent *changes, int nchanges,
                  struct kevent *events, int nevents, const struct timespec *timeout)
{
    enum shim_kind kind = nchanges > 0 ? SHIM_QUEUE_CHANGE : SHIM_QUEUE_WAIT;
    if (shim_should_fail(kind, __builtin_return_address(0)))
        return -1;
    if (kind == SHIM_QUEUE_WAIT && shim_foreign_events > 0 && nevents > 0) {
        shim_foreign_events--;
        memset(&events[0], 0, sizeof events[0]);
        events[0].filter = EVFILT_TIMER;
        return 1;
    }
    shim_passthrough++;
    int n = __real_kevent(kq, changes, nchanges, events, nevents, timeout);
    shim_passthrough--;
    return n;
}
