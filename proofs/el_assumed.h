/*
 * What the proofs of the event loop assume and do not prove: the platform
 * layer (backend.h, one system call each) and the monotonic clock.  Only
 * Frama-C reads this file: src/loop_tables.c and src/event_loop.c include it
 * when __FRAMAC__ is defined, which adds these contracts to the prototypes
 * of backend.h and vrt_internal.h.
 */
#ifndef EL_ASSUMED_H
#define EL_ASSUMED_H

#include <errno.h>

#include "backend.h"

/* ASSUMED: a name with static storage. */
/*@ assigns \nothing; */
const char *vrt_backend_name(void);

/* ASSUMED: epoll_create1 / kqueue: an fd, or -1 with errno. */
/*@ assigns errno;
    ensures \result >= -1;
*/
int vrt_backend_open(void);

/* ASSUMED: epoll_ctl / kevent: 0, or -1 with errno; touches no memory of
 * the caller. */
/*@ assigns errno;
    ensures \result == 0 || \result == -1;
*/
int vrt_backend_watch(int kq, int fd, uint32_t old_mask, uint32_t new_mask,
                      uint64_t token);

/* ASSUMED: epoll_wait / kevent: up to max events written, their number or
 * -1 with errno. */
/*@ requires 0 < max && \valid(events + (0 .. max - 1));
    assigns events[0 .. max - 1], errno;
    ensures -1 <= \result <= max;
*/
int vrt_backend_wait(int kq, vrt_io_event_t *events, int max, int timeout_ms);

/* ASSUMED: close. */
/*@ assigns errno; */
void vrt_backend_close(int kq);

/* ASSUMED: clock_gettime(CLOCK_MONOTONIC) counts from boot, so the clock is
 * non-negative, and its nanoseconds fit in int64 for 292 years. */
/*@ assigns \nothing;
    ensures \result >= 0;
*/
int64_t vrt_clock_ns(void);

/* Frama-C's <stdatomic.h> gives these stubs no contract; vrt uses them on
 * one atomic_int (wake_pending).  ASSUMED: they touch only that object. */
#include <stdatomic.h>

/*@ requires \valid((atomic_int *)object);
    assigns *(atomic_int *)object;
*/
unsigned long long __fc_atomic_exchange(void *object,
                                        unsigned long long desired,
                                        size_t obj_size);

/*@ assigns \nothing; */
void __fc_atomic_store_marker(void *object, unsigned long long desired);

/*@ assigns \nothing; */
void __fc_atomic_init_marker(void *object, unsigned long long desired);

#endif /* EL_ASSUMED_H */
