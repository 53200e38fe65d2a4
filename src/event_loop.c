/*
 * EventLoop: the common part of the reactor above the platform layer.
 *
 * - fd sources live in a table indexed by fd (find_task_for_fd is O(1));
 *   the kernel is told only what changes, and a ping-pong that re-waits on
 *   the fd it was woken for pays no system call (vrt_loop_arm_fd).
 * - Each kernel registration carries a generation in its token, so an event
 *   meant for a closed and reused fd number is recognised and dropped.
 * - Timers are a binary min-heap on (deadline, arming order) plus a hash
 *   from id to source: arm, re-arm and remove are O(log n), no kernel object.
 * - The waker is a non-blocking pipe guarded by an atomic flag, so wakes from
 *   other threads or signal handlers coalesce into one byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop_tables.h"

#ifdef __FRAMAC__
#include "el_assumed.h" /* the backend's contracts, assumed (proofs/) */
#endif

#define WAKER_TOKEN_COOKIE UINT64_MAX

/* ---- clock ---- */

/* Non-negative: the monotonic clock counts from boot, and its nanoseconds
 * fit in int64 for 292 years (the contract the proofs assume is in
 * proofs/el_assumed.h). */
int64_t vrt_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * INT64_C(1000000000) + (int64_t)ts.tv_nsec;
}

/* ---- validation ---- */

/*@ requires loop == \null || \valid_read(loop);
    assigns errno;
    behavior null:
      assumes loop == \null || loop->state == \null;
      assigns errno;
      ensures \result == 0 && errno == EINVAL;
    behavior usable:
      assumes loop != \null && loop->state != \null;
      assigns \nothing;
      ensures \result == 1;
    complete behaviors;
    disjoint behaviors;
*/
int vrt_loop_usable(const vrt_event_loop_t *loop)
{
    if (loop == NULL || loop->state == NULL) {
        errno = EINVAL;
        return 0;
    }
    return 1;
}

/* ---- public API ---- */

/*@ assigns errno, __fc_fds[..];
    ensures (\result.state == \null && \result.kq == -1 &&
             \result.waker_read_fd == -1 && \result.waker_write_fd == -1) ||
            (\result.state != \null && \result.kq >= 0 &&
             \result.waker_read_fd >= 0 && \result.waker_write_fd >= 0);
    ensures \result.sources_head == \null && \result.sources_tail == \null;
    ensures \result.source_count == 0 && \result.running == 0;
*/
vrt_event_loop_t vrt_event_loop_new(void)
{
    vrt_event_loop_t loop;
    memset(&loop, 0, sizeof loop);
    loop.kq = loop.waker_read_fd = loop.waker_write_fd = -1;
    const vrt_allocator_t *a = vrt_default_allocator();
    struct vrt_loop_state *st = vrt_call_alloc(a, sizeof *st);
    if (st == NULL) {
        errno = ENOMEM;
        return loop;
    }
    memset(st, 0, sizeof *st);
    st->allocator = *a;
    atomic_init(&st->wake_pending, 0);
    int kq = vrt_backend_open();
    int pipe_fds[2] = {-1, -1};
    int saved;
    if (kq < 0)
        goto fail;
    if (pipe(pipe_fds) != 0)
        goto fail;
    for (int i = 0; i < 2; i++)
        if (fcntl(pipe_fds[i], F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(pipe_fds[i], F_SETFL, O_NONBLOCK) != 0)
            goto fail;
    if (vrt_backend_watch(kq, pipe_fds[0], 0, VRT_IO_READ, WAKER_TOKEN_COOKIE) != 0)
        goto fail;
    loop.kq = kq;
    loop.waker_read_fd = pipe_fds[0];
    loop.waker_write_fd = pipe_fds[1];
    loop.state = st;
    loop.events_buf = st->events;
    return loop;
fail:
    saved = errno;
    if (pipe_fds[0] >= 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
    }
    if (kq >= 0)
        vrt_backend_close(kq);
    vrt_call_release(a, st);
    errno = saved;
    return loop;
}

/*@ assigns \nothing; */
const char *vrt_event_loop_backend(void)
{
    return vrt_backend_name();
}

/*@ requires el_loop_arg(self);
    requires self != \null && self->state != \null ==> el_loop_inv(self);
    requires task != \null ==> \valid(task);
    assigns EL_WORLD;
    behavior unusable:
      assumes self == \null || self->state == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior no_task:
      assumes self != \null && self->state != \null && task == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior arm:
      assumes self != \null && self->state != \null && task != \null;
      ensures \result == 0 || \result == -1;
    complete behaviors;
    disjoint behaviors;
*/
static int64_t register_fd(vrt_event_loop_t *self, int64_t fd, int64_t type,
                           vrt_task_node_t *task)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (task == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* Always tell the kernel: the number may name a new file by now. */
    return vrt_lt_fd_arm(self, fd, type, task, 0);
}

/* The contract register_read and register_write share (register_fd's). */
#define EL_REGISTER_CONTRACT                                                   \
    requires el_loop_arg(self);                                                \
    requires self != \null && self->state != \null ==> el_loop_inv(self);      \
    requires task_ptr != \null ==> \valid(task_ptr);                           \
    assigns EL_WORLD;                                                          \
    behavior unusable:                                                         \
      assumes self == \null || self->state == \null;                            \
      assigns errno;                                                           \
      ensures \result == -1 && errno == EINVAL;                                 \
    behavior no_task:                                                          \
      assumes self != \null && self->state != \null && task_ptr == \null;       \
      assigns errno;                                                           \
      ensures \result == -1 && errno == EINVAL;                                 \
    behavior arm:                                                              \
      assumes self != \null && self->state != \null && task_ptr != \null;      \
      ensures \result == 0 || \result == -1;                                   \
    complete behaviors;                                                        \
    disjoint behaviors;

/*@ EL_REGISTER_CONTRACT */
int64_t vrt_event_loop_register_read(vrt_event_loop_t *self, int64_t fd,
                                     vrt_task_node_t *task_ptr)
{
    return register_fd(self, fd, VRT_SOURCE_FD_READ, task_ptr);
}

/*@ EL_REGISTER_CONTRACT */
int64_t vrt_event_loop_register_write(vrt_event_loop_t *self, int64_t fd,
                                      vrt_task_node_t *task_ptr)
{
    return register_fd(self, fd, VRT_SOURCE_FD_WRITE, task_ptr);
}

/*@ requires el_loop_arg(self);
    requires self != \null && self->state != \null ==> el_loop_inv(self);
    requires task_ptr != \null ==> \valid(task_ptr);
    assigns EL_WORLD;
    behavior unusable:
      assumes self == \null || self->state == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior invalid:
      assumes self != \null && self->state != \null;
      assumes task_ptr == \null || delay_ms < 0;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior arm:
      assumes self != \null && self->state != \null;
      assumes task_ptr != \null && delay_ms >= 0;
      ensures \result == 0 || (\result == -1 && errno == ENOMEM);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_event_loop_register_timer(vrt_event_loop_t *self, int64_t timer_id,
                                      int64_t delay_ms, vrt_task_node_t *task_ptr)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (task_ptr == NULL || delay_ms < 0) {
        errno = EINVAL;
        return -1;
    }
    return vrt_lt_timer_set(self, timer_id, delay_ms, task_ptr, 0);
}

/*@ requires el_loop_arg(self);
    requires self != \null && self->state != \null ==> el_loop_inv(self);
    assigns EL_WORLD;
    behavior unusable:
      assumes self == \null || self->state == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior bad_filter:
      assumes self != \null && self->state != \null;
      assumes filter != VRT_EVFILT_TIMER && filter != VRT_EVFILT_READ &&
              filter != VRT_EVFILT_WRITE;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior unknown_fd:
      assumes self != \null && self->state != \null;
      assumes filter == VRT_EVFILT_READ || filter == VRT_EVFILT_WRITE;
      assumes fd < 0 || fd >= self->state->fd_capacity;
      assigns \nothing;
      ensures \result == 0;
    behavior fd:
      assumes self != \null && self->state != \null;
      assumes filter == VRT_EVFILT_READ || filter == VRT_EVFILT_WRITE;
      assumes 0 <= fd < self->state->fd_capacity;
      ensures \result == 0 || \result == 1;
    behavior timer:
      assumes self != \null && self->state != \null;
      assumes filter == VRT_EVFILT_TIMER;
      ensures \result == 0 || \result == 1;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_event_loop_deregister(vrt_event_loop_t *self, int64_t fd,
                                  int64_t filter)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (filter == VRT_EVFILT_TIMER) {
        vrt_event_source_t *src = vrt_lt_timer_find(self->state, fd);
        if (src == NULL)
            return 0;
        vrt_lt_timer_remove(self, src);
        return 1;
    }
    if (filter != VRT_EVFILT_READ && filter != VRT_EVFILT_WRITE) {
        errno = EINVAL;
        return -1;
    }
    if (fd < 0 || fd >= self->state->fd_capacity)
        return 0;
    int64_t type = filter == VRT_EVFILT_READ ? VRT_SOURCE_FD_READ
                                             : VRT_SOURCE_FD_WRITE;
    return vrt_lt_fd_disarm(self, fd, type, 1);
}

/*@ requires el_loop_arg(self);
    assigns errno, self->state->wake_pending;
    behavior unusable:
      assumes self == \null || self->state == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior woken:
      assumes self != \null && self->state != \null;
      ensures \result == 0 || \result == -1;
      ensures \result == 0 ==> errno == \old(errno);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_event_loop_wake(vrt_event_loop_t *self)
{
    if (!vrt_loop_usable(self))
        return -1;
    /* Only the first wake since the loop last looked writes a byte: the
     * pipe never fills, and the call stays async-signal-safe. */
    if (atomic_exchange(&self->state->wake_pending, 1) == 0) {
        int saved = errno;
        ssize_t n;
        do
            n = write((int)self->waker_write_fd, "w", 1);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            /* No byte went in: left set, the flag would swallow every
             * later wake. */
            atomic_store(&self->state->wake_pending, 0);
            return -1;
        }
        errno = saved;
    }
    return 0;
}

/*@ requires \valid(st) && 0 <= st->event_count < VRT_MAX_EVENTS;
    assigns st->event_count, st->events[\old(st->event_count)];
    ensures st->event_count == \old(st->event_count) + 1;
    ensures st->events[\old(st->event_count)].fd == fd;
    ensures st->events[\old(st->event_count)].filter == filter;
    ensures st->events[\old(st->event_count)].task == task;
*/
static void push_event(struct vrt_loop_state *st, int64_t fd, int64_t filter,
                       vrt_task_node_t *task)
{
    struct vrt_event_record *rec = &st->events[st->event_count++];
    rec->fd = fd;
    rec->filter = filter;
    rec->task = task;
}

/*@ requires el_loop_ok(loop);
    assigns errno, loop->state->wake_pending;
*/
static void drain_waker(vrt_event_loop_t *loop)
{
    char buf[64];
    ssize_t n;
    /* The drain ends on EAGAIN, which is no error of the caller's: a
     * block_on whose value is -1 must leave errno as it was. */
    int caller_errno = errno;
    do
        n = read((int)loop->waker_read_fd, buf, sizeof buf);
    while (n > 0 || (n < 0 && errno == EINTR));
    errno = caller_errno;
    /* Clear the flag only once the pipe is empty: cleared first, a wake
     * could write its byte into this drain and leave the flag set with an
     * empty pipe, and every later wake would then be lost.  A wake between
     * the drain and this store is reported by the event this poll returns. */
    atomic_store(&loop->state->wake_pending, 0);
}

/* One kernel event: the waker, a stale token (dropped), or readiness of a
 * live fd, each watched direction with a source becoming a record. */
/*@ requires el_loop_inv(loop) && \valid_read(ev) && \separated(ev, loop);
    requires loop->state->event_count < VRT_MAX_EVENTS;
    assigns errno, loop->state->event_count, loop->state->events[0 .. VRT_MAX_EVENTS - 1],
            loop->state->wake_pending, loop->state->fds[0 .. loop->state->fd_capacity - 1];
    ensures \old(loop->state->event_count) <= loop->state->event_count <=
            VRT_MAX_EVENTS;
*/
static void take_io_event(vrt_event_loop_t *loop, const vrt_io_event_t *ev)
{
    struct vrt_loop_state *st = loop->state;
    if (ev->token == WAKER_TOKEN_COOKIE) {
        drain_waker(loop);
        push_event(st, VRT_WAKER_TOKEN, VRT_EVFILT_READ, NULL);
        return;
    }
    int64_t fd = (int64_t)(uint32_t)ev->token;
    uint32_t generation = (uint32_t)(ev->token >> 32);
    if (fd >= st->fd_capacity)
        return;
    struct vrt_fd_slot *slot = &st->fds[fd];
    if (slot->generation != generation || slot->kernel_mask == 0)
        return; /* meant for an earlier owner of this number */
    uint32_t ready = ev->ready & slot->kernel_mask;
    static const int64_t types[2] = {VRT_SOURCE_FD_READ, VRT_SOURCE_FD_WRITE};
    for (int i = 0; i < 2; i++) {
        if ((ready & vrt_lt_io_bit(types[i])) == 0)
            continue;
        vrt_event_source_t *src = *vrt_lt_slot_source(slot, types[i]);
        if (src == NULL) {
            /* Kept registered after a one-shot wait and nobody re-armed
             * it: forget it now, so a level-triggered fd cannot spin. */
            (void)vrt_lt_slot_set_kernel(
                loop, fd, slot->kernel_mask & ~vrt_lt_io_bit(types[i]), 0);
        } else if (st->event_count < VRT_MAX_EVENTS) {
            push_event(st, fd, types[i] == VRT_SOURCE_FD_READ ? VRT_EVFILT_READ
                                                               : VRT_EVFILT_WRITE,
                       src->task);
        } /* else: level-triggered, it comes back next poll */
    }
}

/*@ requires el_loop_inv(loop);
    assigns EL_WORLD;
    ensures el_loop_inv(loop) && loop->state == \old(loop->state);
    ensures \old(loop->state->event_count) <= loop->state->event_count <=
            VRT_MAX_EVENTS;
*/
static void take_expired_timers(vrt_event_loop_t *loop, int64_t now)
{
    struct vrt_loop_state *st = loop->state;
    /*@ loop invariant el_loop_inv(loop) && loop->state == st;
        loop invariant \at(loop->state->event_count, Pre) <= st->event_count <=
                       VRT_MAX_EVENTS;
        loop assigns EL_WORLD;
        loop variant st->heap_len;
    */
    while (st->heap_len > 0 && st->heap[0]->deadline_ns <= now &&
           st->event_count < VRT_MAX_EVENTS) {
        vrt_event_source_t *src = st->heap[0];
        push_event(st, src->fd, VRT_EVFILT_TIMER, src->task);
        vrt_lt_timer_remove(loop, src);
    }
}

/*@ requires el_loop_arg(self);
    requires self != \null && self->state != \null ==> el_loop_inv(self);
    assigns EL_WORLD;
    behavior unusable:
      assumes self == \null || self->state == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior bad_timeout:
      assumes self != \null && self->state != \null && timeout_ms < -1;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes self != \null && self->state != \null && timeout_ms >= -1;
      assumes self->running != 0;
      assigns errno;
      ensures \result == -1 && errno == EBUSY;
    behavior poll:
      assumes self != \null && self->state != \null && timeout_ms >= -1;
      assumes self->running == 0;
      ensures -1 <= \result <= VRT_MAX_EVENTS && self->running == 0;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_event_loop_poll_events(vrt_event_loop_t *self, int64_t timeout_ms)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (timeout_ms < -1) {
        errno = EINVAL;
        return -1;
    }
    if (self->running != 0) {
        errno = EBUSY;
        return -1;
    }
    struct vrt_loop_state *st = self->state;
    st->event_count = 0;
    self->running = 1;
    /* Only a finite timeout or an armed timer needs the time: a loop that
     * waits on fds alone (a ping-pong, a server) reads no clock. */
    int timed = timeout_ms >= 0 || st->heap_len > 0;
    int caller_errno = errno;
    int64_t start = timed ? vrt_clock_ns() : 0;
    int64_t user_deadline =
        timeout_ms < 0 ? INT64_MAX : vrt_lt_deadline_after(start, timeout_ms);
    /*@ loop invariant el_loop_inv(self) && self->state == st;
        loop invariant 0 <= st->event_count <= VRT_MAX_EVENTS;
        loop invariant self->running == 1;
        loop assigns EL_WORLD;
    */
    for (;;) {
        int64_t now = timed ? vrt_clock_ns() : 0;
        int64_t wait = timeout_ms < 0 ? -1 : vrt_lt_ms_until(user_deadline, now);
        int64_t timer_wait =
            st->heap_len > 0 ? vrt_lt_ms_until(st->heap[0]->deadline_ns, now) : -1;
        if (timer_wait >= 0 && (wait < 0 || timer_wait < wait))
            wait = timer_wait;
        /* With timers due, keep half the batch for them. */
        int max = timer_wait == 0 ? (int)VRT_MAX_EVENTS / 2 : (int)VRT_MAX_EVENTS;
        int n = vrt_backend_wait((int)self->kq, st->io, max, (int)wait);
        if (n < 0) {
            if (errno == EINTR) {
                /* Retried, so no error of the caller's: a block_on whose
                 * value is -1 must leave errno as it was. */
                errno = caller_errno;
                continue; /* the deadline is absolute: the time left is recomputed */
            }
            self->running = 0;
            return -1;
        }
        /*@ loop invariant 0 <= i <= n;
            loop invariant el_loop_inv(self) && self->state == st;
            loop invariant 0 <= st->event_count <= VRT_MAX_EVENTS;
            loop invariant self->running == 1;
            loop assigns i, errno, st->event_count, st->events[0 .. VRT_MAX_EVENTS - 1],
                         st->wake_pending, st->fds[0 .. st->fd_capacity - 1];
            loop variant n - i;
        */
        for (int i = 0; i < n && st->event_count < VRT_MAX_EVENTS; i++)
            take_io_event(self, &st->io[i]);
        now = timed ? vrt_clock_ns() : 0;
        take_expired_timers(self, now);
        if (st->event_count > 0 || now >= user_deadline)
            break;
        /* Woken with nothing to report (a dropped stale or idle event, or a
         * timer not quite due): wait again for the time left. */
    }
    self->running = 0;
    return st->event_count;
}

/*@ requires el_loop_arg(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == \null && errno == EINVAL;
    behavior out_of_range:
      assumes self != \null;
      assumes self->state == \null || index < 0 || index >= self->state->event_count;
      assigns errno;
      ensures \result == \null && errno == ERANGE;
    behavior found:
      assumes self != \null && self->state != \null;
      assumes 0 <= index < self->state->event_count;
      assigns \nothing;
      ensures \result == &self->state->events[index] && \valid_read(\result);
    complete behaviors;
    disjoint behaviors;
*/
static const struct vrt_event_record *event_at(vrt_event_loop_t *self, int64_t index)
{
    if (self == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (self->state == NULL || index < 0 || index >= self->state->event_count) {
        errno = ERANGE;
        return NULL;
    }
    return &self->state->events[index];
}

/* The contract of the two accessors of an event record's fields: -1 when
 * there is no such event. */
#define EL_EVENT_FIELD_CONTRACT(field)                                    \
    requires el_loop_arg(self);                                           \
    assigns errno;                                                        \
    behavior none:                                                        \
      assumes self == \null || self->state == \null || index < 0 ||       \
              index >= self->state->event_count;                          \
      ensures \result == -1;                                              \
    behavior found:                                                       \
      assumes self != \null && self->state != \null;                      \
      assumes 0 <= index < self->state->event_count;                      \
      ensures \result == self->state->events[index].field;                \
    complete behaviors;                                                   \
    disjoint behaviors;

/*@ EL_EVENT_FIELD_CONTRACT(fd) */
int64_t vrt_event_loop_event_fd(vrt_event_loop_t *self, int64_t index)
{
    const struct vrt_event_record *rec = event_at(self, index);
    return rec == NULL ? -1 : rec->fd;
}

/*@ EL_EVENT_FIELD_CONTRACT(filter) */
int64_t vrt_event_loop_event_filter(vrt_event_loop_t *self, int64_t index)
{
    const struct vrt_event_record *rec = event_at(self, index);
    return rec == NULL ? -1 : rec->filter;
}

/*@ requires el_loop_ok(loop) && 0 <= index < loop->state->event_count;
    assigns \nothing;
    ensures \result == loop->state->events[index].task;
*/
vrt_task_node_t *vrt_loop_event_task(vrt_event_loop_t *loop, int64_t index)
{
    return loop->state->events[index].task;
}

/*@ requires el_loop_arg(self);
    requires self != \null && self->state != \null && 0 <= fd <
             self->state->fd_capacity ==>
             (self->state->fds[fd].read != \null ==>
                 \valid_read(self->state->fds[fd].read)) &&
             (self->state->fds[fd].write != \null ==>
                 \valid_read(self->state->fds[fd].write));
    assigns errno;
    behavior unusable:
      assumes self == \null || self->state == \null;
      assigns errno;
      ensures \result == \null && errno == EINVAL;
    behavior bad_fd:
      assumes self != \null && self->state != \null && fd < 0;
      assigns errno;
      ensures \result == \null && errno == EBADF;
    behavior unknown:
      assumes self != \null && self->state != \null;
      assumes fd >= self->state->fd_capacity;
      assigns \nothing;
      ensures \result == \null;
    behavior known:
      assumes self != \null && self->state != \null;
      assumes 0 <= fd < self->state->fd_capacity;
      assigns \nothing;
      ensures self->state->fds[fd].read != \null ==>
              \result == self->state->fds[fd].read->task;
      ensures self->state->fds[fd].read == \null &&
              self->state->fds[fd].write != \null ==>
              \result == self->state->fds[fd].write->task;
      ensures self->state->fds[fd].read == \null &&
              self->state->fds[fd].write == \null ==> \result == \null;
    complete behaviors;
    disjoint behaviors;
*/
vrt_task_node_t *vrt_event_loop_find_task_for_fd(vrt_event_loop_t *self, int64_t fd)
{
    if (!vrt_loop_usable(self))
        return NULL;
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if (fd >= self->state->fd_capacity)
        return NULL;
    const struct vrt_fd_slot *slot = &self->state->fds[fd];
    if (slot->read != NULL)
        return slot->read->task;
    return slot->write != NULL ? slot->write->task : NULL;
}

/*@ requires \valid_read(st) && st->allocator.release != \null;
    assigns errno;
*/
static void release_source_chain(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    while (src != NULL) {
        vrt_event_source_t *next = src->next;
        vrt_lt_state_release(st, src);
        src = next;
    }
}

/*@ requires el_loop_arg(self);
    assigns *self, errno, __fc_fds[..];
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior done:
      assumes self != \null && self->state == \null;
      assigns \nothing;
      ensures \result == 0;
    behavior busy:
      assumes self != \null && self->state != \null && self->running != 0;
      assigns errno;
      ensures \result == -1 && errno == EBUSY;
    behavior clean:
      assumes self != \null && self->state != \null && self->running == 0;
      ensures \result == 0 && self->state == \null && self->kq == -1;
      ensures self->waker_read_fd == -1 && self->waker_write_fd == -1;
      ensures self->sources_head == \null && self->source_count == 0;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_event_loop_cleanup(vrt_event_loop_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (self->state == NULL)
        return 0;
    if (self->running != 0) {
        errno = EBUSY;
        return -1;
    }
    struct vrt_loop_state *st = self->state;
    vrt_backend_close((int)self->kq);
    close((int)self->waker_read_fd);
    close((int)self->waker_write_fd);
    release_source_chain(st, self->sources_head);
    release_source_chain(st, st->free_sources);
    vrt_lt_state_release(st, st->fds);
    vrt_lt_state_release(st, st->heap);
    vrt_lt_state_release(st, st->buckets);
    vrt_allocator_t a = st->allocator;
    vrt_call_release(&a, st);
    memset(self, 0, sizeof *self);
    self->kq = self->waker_read_fd = self->waker_write_fd = -1;
    return 0;
}

/* ---- the reactor's side ---- */

/*@ requires el_loop_inv(loop) && \valid(task);
    assigns EL_WORLD;
    ensures \result == 0 || \result == -1;
*/
int64_t vrt_loop_arm_fd(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                        vrt_task_node_t *task)
{
    struct vrt_fd_slot *slot = vrt_lt_fd_slot(loop, fd);
    if (slot == NULL)
        return -1;
    vrt_event_source_t *src = *vrt_lt_slot_source(slot, type);
    if (src != NULL && src->task != task) {
        errno = EBUSY;
        return -1;
    }
    if (src != NULL)
        return 0; /* this task already waits there in this poll */
    /* The one system call a ping-pong would pay per wait is skipped when
     * the kernel still watches this direction and the same task was the
     * last one woken for it.  The price: an fd closed and reopened under
     * the same number by that task, between two waits, must be deregistered
     * first (spec/runtime.md, "closing fds"). */
    int trusted = (slot->kernel_mask & vrt_lt_io_bit(type)) != 0 &&
                  *vrt_lt_slot_last_task(slot, type) == task;
    if (vrt_lt_fd_arm(loop, fd, type, task, trusted) != 0)
        return -1;
    vrt_lt_task_waits_add(*vrt_lt_slot_source(slot, type), task);
    return 0;
}

/*@ requires el_loop_inv(loop) && \valid(task) && delay_ms >= 0;
    assigns EL_WORLD;
    ensures \result == 0 || (\result == -1 && errno == ENOMEM);
*/
int64_t vrt_loop_arm_timer(vrt_event_loop_t *loop, int64_t timer_id,
                           int64_t delay_ms, vrt_task_node_t *task)
{
    return vrt_lt_timer_set(loop, timer_id, delay_ms, task, 1);
}

void vrt_loop_drop_waits(vrt_event_loop_t *loop, vrt_task_node_t *task)
{
    while (task->waits != NULL) {
        vrt_event_source_t *src = task->waits;
        if (src->type == VRT_SOURCE_TIMER)
            vrt_lt_timer_remove(loop, src);
        else
            vrt_lt_fd_disarm(loop, src->fd, src->type, 0);
    }
    task->flags &= ~VRT_NODE_WAITING;
}

/* ---- invariants ---- */

/*@ requires el_loop_arg(loop);
    requires loop != \null && loop->state != \null ==> el_loop_inv(loop);
    assigns errno;
    behavior unusable:
      assumes loop == \null || loop->state == \null;
      ensures \result == VRT_CHECK_NULL && errno == EINVAL;
    behavior usable:
      assumes loop != \null && loop->state != \null;
      ensures \result == 0 || \result == VRT_CHECK_LINKS ||
              \result == VRT_CHECK_NODE || \result == VRT_CHECK_COUNT_MISMATCH;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_loop_check(vrt_event_loop_t *loop)
{
    if (!vrt_loop_usable(loop))
        return VRT_CHECK_NULL;
    struct vrt_loop_state *st = loop->state;
    int64_t seen = 0, timers = 0;
    const vrt_event_source_t *prev = NULL;
    for (const vrt_event_source_t *src = loop->sources_head; src != NULL;
         src = src->next) {
        if (seen++ == loop->source_count || src->prev != prev || src->task == NULL)
            return VRT_CHECK_LINKS;
        if (src->type == VRT_SOURCE_TIMER) {
            timers++;
            if (src->heap_index < 0 || src->heap_index >= st->heap_len ||
                st->heap[src->heap_index] != src ||
                vrt_lt_timer_find(st, src->fd) != src)
                return VRT_CHECK_NODE;
        } else {
            if (src->fd < 0 || src->fd >= st->fd_capacity)
                return VRT_CHECK_NODE;
            struct vrt_fd_slot *slot = &st->fds[src->fd];
            if (*vrt_lt_slot_source(slot, src->type) != src ||
                (slot->kernel_mask & vrt_lt_io_bit(src->type)) == 0)
                return VRT_CHECK_NODE;
        }
        prev = src;
    }
    if (seen != loop->source_count || prev != loop->sources_tail ||
        timers != st->heap_len)
        return VRT_CHECK_COUNT_MISMATCH;
    for (int64_t i = 1; i < st->heap_len; i++)
        if (vrt_lt_timer_before(st->heap[i], st->heap[(i - 1) / 2]))
            return VRT_CHECK_NODE;
    return 0;
}
