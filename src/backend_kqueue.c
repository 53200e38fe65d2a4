/*
 * The kqueue backend (the BSDs and macOS; on Linux only in the tests, over
 * tests/kqueue_emu): one knote per (fd, direction), level-triggered, the
 * caller's token in udata.
 */

/*
 * kqueue is a BSD interface, and the build sets _POSIX_C_SOURCE, which tells
 * the BSD headers to hide what POSIX does not name: NetBSD declares kqueue()
 * and kevent() only under _NETBSD_SOURCE, and the DragonFly, OpenBSD and
 * older FreeBSD headers spell struct kevent with u_short and u_int, which
 * <sys/types.h> then hides.  So ask for the full namespace before any header
 * is read.  FreeBSD and DragonFly have no opt-in macro (<sys/cdefs.h> derives
 * __BSD_VISIBLE from _POSIX_C_SOURCE alone), so there the request is lifted.
 */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1
#elif defined(__NetBSD__)
#define _NETBSD_SOURCE 1
#elif defined(__OpenBSD__)
#define _BSD_SOURCE 1
#elif defined(__FreeBSD__) || defined(__DragonFly__)
#undef _POSIX_C_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "vrt.h"

/* The token travels in udata, a pointer.  Where a pointer is narrower than
 * 64 bits the token's high half would be lost; such a port needs a token
 * table here (or kevent64 on macOS) instead of this cast. */
_Static_assert(sizeof(void *) >= sizeof(uint64_t),
               "kqueue backend: udata cannot carry a 64-bit token");

const char *vrt_backend_name(void)
{
    return "kqueue";
}

int vrt_backend_open(void)
{
    int kq = kqueue();
    if (kq < 0)
        return -1;
    /* kqueue() takes no flags (kqueuex/kqueue1 are not everywhere). */
    if (fcntl(kq, F_SETFD, FD_CLOEXEC) == -1) {
        int err = errno;
        close(kq);
        errno = err;
        return -1;
    }
    return kq;
}

static int io_filter(uint32_t bit)
{
    return bit == VRT_IO_READ ? EVFILT_READ : EVFILT_WRITE;
}

/* One change alone, so that its error is its own. */
static int kq_change(int kq, int fd, uint32_t bit, int flags, uint64_t token)
{
    struct kevent kev;
    EV_SET(&kev, (uintptr_t)fd, io_filter(bit), flags, 0, 0,
           (void *)(uintptr_t)token);
    return kevent(kq, &kev, 1, NULL, 0, NULL);
}

static const uint32_t io_bits[2] = {VRT_IO_READ, VRT_IO_WRITE};

int vrt_backend_watch(int kq, int fd, uint32_t old_mask, uint32_t new_mask,
                      uint64_t token)
{
    uint32_t gone = old_mask & ~new_mask;
    if (new_mask == 0) {
        /* Deletes one by one: a knote already gone (ENOENT) or an fd the
         * user closed (EBADF: the close dropped its knotes) must not stop
         * the other direction's delete, and with no room for error entries
         * kevent() would stop at the first failure. */
        uint32_t removed = 0;
        for (int i = 0; i < 2; i++) {
            if ((gone & io_bits[i]) == 0)
                continue;
            if (kq_change(kq, fd, io_bits[i], EV_DELETE, 0) == 0) {
                removed |= io_bits[i];
                continue;
            }
            if (errno == ENOENT || errno == EBADF)
                continue;
            int err = errno;
            /* Put back the read knote deleted just before, so that the
             * kernel is as it was (with this token: the fd's). */
            if ((removed & VRT_IO_READ) != 0)
                (void)kq_change(kq, fd, VRT_IO_READ, EV_ADD, token);
            errno = err;
            return -1;
        }
        return 0;
    }
    /* Everything else in one call.  Every wanted direction is (re)added:
     * EV_ADD on an existing knote only replaces its udata, which is how a
     * new token reaches a direction kept from old_mask.  The adds go first
     * and at most one delete follows (two directions in all), which makes a
     * failure attributable although kevent() does not say which change it
     * stopped at: ENOENT can only be the delete's, after every add went in;
     * EBADF means a closed fd, refused at the first add with nothing done. */
    struct kevent changes[2];
    int n = 0;
    for (int i = 0; i < 2; i++)
        if ((new_mask & io_bits[i]) != 0)
            EV_SET(&changes[n++], (uintptr_t)fd, io_filter(io_bits[i]),
                   EV_ADD, 0, 0, (void *)(uintptr_t)token);
    for (int i = 0; i < 2; i++)
        if ((gone & io_bits[i]) != 0)
            EV_SET(&changes[n++], (uintptr_t)fd, io_filter(io_bits[i]),
                   EV_DELETE, 0, 0, NULL);
    if (kevent(kq, changes, n, NULL, 0, NULL) == 0 || errno == ENOENT)
        return 0;
    int err = errno;
    if (err != EBADF) {
        /* Unknown which change failed: undo every direction this call may
         * have added (ENOENT for one it did not reach is expected).  A kept
         * direction stays, possibly with the new token. */
        for (int i = 0; i < 2; i++)
            if ((new_mask & ~old_mask & io_bits[i]) != 0)
                (void)kq_change(kq, fd, io_bits[i], EV_DELETE, 0);
    }
    errno = err;
    return -1;
}

int vrt_backend_wait(int kq, vrt_io_event_t *events, int max, int timeout_ms)
{
    struct kevent raw[VRT_MAX_EVENTS];
    struct timespec ts;
    const struct timespec *tsp = NULL;
    if (max > (int)VRT_MAX_EVENTS)
        max = (int)VRT_MAX_EVENTS;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    int n = kevent(kq, NULL, 0, raw, max, tsp);
    if (n <= 0)
        return n;
    int out = 0;
    for (int i = 0; i < n; i++) {
        /* EV_EOF is readiness: the read returns 0, the write fails.  An
         * EV_ERROR entry (there is no change of ours to blame: none was
         * passed) is news about that knote's fd as well: report it ready so
         * that the caller's read or write meets the error itself. */
        uint32_t ready;
        if (raw[i].filter == EVFILT_READ)
            ready = VRT_IO_READ;
        else if (raw[i].filter == EVFILT_WRITE)
            ready = VRT_IO_WRITE;
        else
            continue; /* no filter of ours: nothing to say */
        events[out].token = (uint64_t)(uintptr_t)raw[i].udata;
        events[out].ready = ready;
        out++;
    }
    if (out == 0) {
        /* Woken for nothing of ours; 0 would read as a timeout.  Retry
         * with the time left, as after a signal. */
        errno = EINTR;
        return -1;
    }
    return out;
}

void vrt_backend_close(int kq)
{
    close(kq);
}
