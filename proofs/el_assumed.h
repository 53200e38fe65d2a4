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

/* ASSUMED: the loop's allocator (vrt_call_alloc) asked for one source, or
 * for an array of count source pointers or fd slots: NULL, or a fresh
 * block, so apart from the loop's state, its arrays and the sources in its
 * heap. */
/*@ requires \valid_read(st);
    assigns errno;
    ensures \result == \null || (\valid(\result) && \separated(\result, st) &&
            \separated(\result, st->heap + (0 .. st->heap_capacity - 1)) &&
            \separated(\result, st->buckets + (0 .. st->bucket_count - 1)) &&
            \separated(\result, st->fds + (0 .. st->fd_capacity - 1)) &&
            \forall integer k; 0 <= k < st->heap_len ==>
                \separated(\result, st->heap[k]));
*/
vrt_event_source_t *vrt_lt_alloc_source(const struct vrt_loop_state *st);

/*@ requires \valid_read(st) && 0 < count;
    assigns errno;
    ensures \result == \null || (\valid(\result + (0 .. count - 1)) &&
            \separated(\result + (0 .. count - 1), st) &&
            \separated(\result + (0 .. count - 1),
                       st->heap + (0 .. st->heap_capacity - 1)) &&
            \separated(\result + (0 .. count - 1),
                       st->buckets + (0 .. st->bucket_count - 1)) &&
            \forall integer k; 0 <= k < st->heap_len ==>
                \separated(\result + (0 .. count - 1), st->heap[k]));
*/
vrt_event_source_t **vrt_lt_alloc_sources(const struct vrt_loop_state *st,
                                          int64_t count);

/*@ requires \valid_read(st) && 0 < count;
    assigns errno;
    ensures \result == \null || (\valid(\result + (0 .. count - 1)) &&
            \separated(\result + (0 .. count - 1), st) &&
            \separated(\result + (0 .. count - 1),
                       st->fds + (0 .. st->fd_capacity - 1)));
*/
struct vrt_fd_slot *vrt_lt_alloc_slots(const struct vrt_loop_state *st,
                                       int64_t count);

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
