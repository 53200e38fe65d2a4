/*
 * A kqueue(2)/kevent(2) emulation over epoll, for testing
 * src/backend_kqueue.c on Linux.  Test code only: put tests/kqueue_emu on
 * the include path and link tests/kqueue_emu/kqueue_emu.c.
 *
 * What it emulates (the part of kqueue the backend relies on, with kqueue's
 * observable behaviour): EVFILT_READ and EVFILT_WRITE knotes per (fd, filter),
 * each with its own udata; level-triggered; EV_ADD (of an existing knote:
 * updates its udata and enables it), EV_DELETE (ENOENT when missing),
 * EV_ENABLE, EV_DISABLE, EV_ONESHOT; EBADF for an fd that is not open;
 * a read and a write readiness of one fd as two kevents; EV_EOF on hang-up;
 * changes applied before the wait, changelist errors as EV_ERROR entries
 * (flags EV_ERROR, data the errno) while the eventlist has room, else -1 with
 * errno and the later changes not applied; a NULL timeout waits forever and a
 * signal ends the wait with -1/EINTR; knotes go away when their fd is closed
 * (see kqueue_emu.c for how).
 *
 * Not emulated: EV_CLEAR and filters other than read and write (EINVAL),
 * regular files (epoll refuses them: EPERM), the data and fflags of returned
 * events (always 0), kqueue's fork semantics (the queue is an epoll fd, so a
 * child inherits it).  Calls from several threads are serialised by a lock
 * (not held while waiting); of two threads waiting on one queue, one may be
 * left on a replaced epoll instance (see "rebuild" in kqueue_emu.c), deaf
 * until its timeout.
 *
 * Memory: a queue's state lives in a table indexed by its fd.  A queue is
 * closed with plain close(), as vrt_backend_close does, so the emulation
 * cannot see it go: the state is freed when kqueue() hands out that number
 * again, by kqueue_emu_forget(), and at exit (an atexit handler, which runs
 * before LeakSanitizer's check).  Until then it stays reachable from the
 * table, which leak checkers do not report.
 */
#ifndef KQUEUE_EMU_SYS_EVENT_H
#define KQUEUE_EMU_SYS_EVENT_H

#include <stdint.h>

struct timespec;

struct kevent {
    uintptr_t ident; /* the fd */
    int16_t filter;
    uint16_t flags;
    uint32_t fflags;
    intptr_t data;
    void *udata;
};

#define EV_SET(kevp, a, b, c, d, e, f)                                       \
    do {                                                                     \
        struct kevent *ev_set_kev_ = (kevp);                                 \
        ev_set_kev_->ident = (a);                                            \
        ev_set_kev_->filter = (b);                                           \
        ev_set_kev_->flags = (c);                                            \
        ev_set_kev_->fflags = (d);                                           \
        ev_set_kev_->data = (e);                                             \
        ev_set_kev_->udata = (f);                                            \
    } while (0)

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_TIMER (-7) /* defined for the constants' sake: EINVAL here */

/* actions */
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
/* flags */
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020 /* EINVAL here */
/* returned */
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

/* ---- emulation only ---- */

/* Frees the state of queue kq (after close(kq), to get the memory back
 * before exit).  Does not close kq. */
void kqueue_emu_forget(int kq);

/* Fault injection: the next change (in any queue) whose filter is filter and
 * whose flags include every bit of flags fails with err, changing nothing. */
void kqueue_emu_fail_next(int filter, int flags, int err);

#endif /* KQUEUE_EMU_SYS_EVENT_H */
