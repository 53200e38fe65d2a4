/*
 * The platform layer: the only code that knows epoll from kqueue.  One
 * implementation is linked in (backend_epoll.c on Linux, backend_kqueue.c on
 * the BSDs and macOS, and on Linux in the tests against tests/kqueue_emu).
 * Everything above it (sources, timers, the waker, EINTR, stale events) is
 * common code in event_loop.c.
 */
#ifndef VRT_BACKEND_H
#define VRT_BACKEND_H

#include <stdint.h>

/* Interest and readiness bits. */
#define VRT_IO_READ 1u
#define VRT_IO_WRITE 2u

typedef struct vrt_io_event {
    uint64_t token; /* the token given to vrt_backend_watch for this fd */
    uint32_t ready; /* VRT_IO_READ and/or VRT_IO_WRITE; an error or hang-up
                       sets both, so the caller masks it with its interest */
} vrt_io_event_t;

/* The backend's name, for messages ("epoll", "kqueue"). */
const char *vrt_backend_name(void);

/* Opens a kernel queue, close-on-exec.  Returns its fd, or -1 with errno. */
int vrt_backend_open(void);

/*
 * Changes the kernel's interest in fd from old_mask to new_mask (each a set
 * of VRT_IO_* bits; either may be 0) and tags its future events with token.
 * Interest is level-triggered and persistent.  old_mask must be what the
 * caller last set for fd (0 if never, or after the fd was closed, when the
 * caller cannot know: see below).  Returns 0, or -1 with errno, the kernel
 * unchanged.
 * - A removal (bits going away) of an fd that the user already closed is
 *   not an error: the kernel dropped that interest with the fd.
 * - An add for an fd the kernel still has (old_mask 0 but a registration
 *   left over from a closed-and-reused number) replaces that registration.
 */
int vrt_backend_watch(int kq, int fd, uint32_t old_mask, uint32_t new_mask,
                      uint64_t token);

/*
 * Waits until at least one watched fd is ready or timeout_ms passes
 * (-1: no limit, 0: do not block), and stores up to max events.  Returns
 * their number (0 on timeout), or -1 with errno (EINTR included: the caller
 * retries with the time left).  A read and a write readiness of one fd may
 * come as one event or as two.
 */
int vrt_backend_wait(int kq, vrt_io_event_t *events, int max, int timeout_ms);

/* Closes the kernel queue. */
void vrt_backend_close(int kq);

#endif /* VRT_BACKEND_H */
