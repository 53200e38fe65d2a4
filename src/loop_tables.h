/*
 * The event loop's tables: the fd table, the source list, the timer heap
 * (a binary min-heap on (deadline, arming order)) and the timer id hash,
 * with the arithmetic of deadlines and kernel tokens.  Internal to vrt:
 * src/loop_tables.c implements them, src/event_loop.c drives them.  The
 * contracts below are what the Frama-C WP proofs of src/loop_tables.c
 * establish (proofs/, set "loop"); the el_ predicates are their model.
 */
#ifndef VRT_LOOP_TABLES_H
#define VRT_LOOP_TABLES_H

#include <limits.h>
#include <stdint.h>

#include "vrt_internal.h"

#define NS_PER_MS INT64_C(1000000)

/* What the loop's operations may write: the loop, its state and tables,
 * the sources and the tasks' wait lists. */
#define EL_WORLD VRT_LOOP_WORLD, { *el_w_n | vrt_task_node_t *el_w_n; \true }

/*@ // ---- timer heap ----
    // a fires before b: earlier deadline, ties broken by arming order.
    predicate el_before{L}(vrt_event_source_t *a, vrt_event_source_t *b) =
        a->deadline_ns < b->deadline_ns ||
        (a->deadline_ns == b->deadline_ns && a->seq < b->seq);

    // Heap slot k (k > 0) does not fire before its parent.
    predicate el_edge_ok{L}(struct vrt_loop_state *st, integer k) =
        !el_before(st->heap[k], st->heap[(k - 1) / 2]);

    predicate el_child(integer c, integer i) = c == 2 * i + 1 || c == 2 * i + 2;

    predicate el_heap_order{L}(struct vrt_loop_state *st) =
        \forall integer k; 0 < k < st->heap_len ==> el_edge_ok(st, k);

    // Ordered except for the edge from i to its parent (i may fire too
    // early); i's children still do not fire before i's parent.
    predicate el_heap_except{L}(struct vrt_loop_state *st, integer i) =
        (\forall integer k; 0 < k < st->heap_len && k != i ==> el_edge_ok(st, k)) &&
        (i > 0 ==> \forall integer c; el_child(c, i) && c < st->heap_len ==>
            !el_before(st->heap[c], st->heap[(i - 1) / 2]));

    // Ordered except for every edge at i (i's key is arbitrary); i's
    // children do not fire before i's parent.
    predicate el_heap_hole{L}(struct vrt_loop_state *st, integer i) =
        (\forall integer k; 0 < k < st->heap_len && k != i && !el_child(k, i) ==>
            el_edge_ok(st, k)) &&
        (i > 0 ==> \forall integer c; el_child(c, i) && c < st->heap_len ==>
            !el_before(st->heap[c], st->heap[(i - 1) / 2]));

    // heap[0 .. heap_len - 1] are valid sources, each knowing its position
    // (so they are pairwise distinct), none overlapping the state or the
    // array, and pairwise apart.
    predicate el_heap_shape{L}(struct vrt_loop_state *st) =
        0 <= st->heap_len <= st->heap_capacity &&
        \valid(st->heap + (0 .. st->heap_capacity - 1)) &&
        \separated(st, st->heap + (0 .. st->heap_capacity - 1)) &&
        (\forall integer k; 0 <= k < st->heap_len ==>
            \valid(st->heap[k]) && st->heap[k]->heap_index == k &&
            \separated(st->heap[k], st) &&
            \separated(st->heap[k], st->heap + (0 .. st->heap_capacity - 1))) &&
        (\forall integer j, k; 0 <= j < st->heap_len && 0 <= k < st->heap_len &&
            j != k ==> \separated(st->heap[j], st->heap[k]));

    // ---- the fd table, the events, the whole state ----
    predicate el_fds_ok{L}(struct vrt_loop_state *st) =
        0 <= st->fd_capacity <= INT_MAX &&
        \valid(st->fds + (0 .. st->fd_capacity - 1)) &&
        \separated(st, st->fds + (0 .. st->fd_capacity - 1));

    predicate el_state_ok{L}(struct vrt_loop_state *st) =
        \valid(st) && el_fds_ok(st) && el_heap_shape(st) &&
        0 <= st->event_count <= VRT_MAX_EVENTS &&
        0 <= st->bucket_count <= 0x40000000 &&
        \valid(st->buckets + (0 .. st->bucket_count - 1)) &&
        \separated(st, st->buckets + (0 .. st->bucket_count - 1)) &&
        st->allocator.release != \null;

    // A loop that vrt_loop_usable accepts, with consistent tables.
    predicate el_loop_ok{L}(vrt_event_loop_t *loop) =
        \valid(loop) && loop->state != \null && \separated(loop, loop->state) &&
        el_state_ok(loop->state);

    // What the public functions may be given: NULL, a cleaned-up (or
    // failed) loop, or a usable one.
    predicate el_loop_arg{L}(vrt_event_loop_t *loop) =
        loop == \null || (\valid(loop) && (loop->state == \null || el_loop_ok(loop)));

    // ---- the source list: its ends (the links in between are local) ----
    predicate el_list_ends{L}(vrt_event_loop_t *loop) =
        (loop->sources_head == \null <==> loop->sources_tail == \null) &&
        (loop->sources_head != \null ==> \valid(loop->sources_head) &&
            loop->sources_head->prev == \null &&
            \separated(loop->sources_head, loop)) &&
        (loop->sources_tail != \null ==> \valid(loop->sources_tail) &&
            loop->sources_tail->next == \null &&
            \separated(loop->sources_tail, loop)) &&
        0 <= loop->source_count;

    // src is linked: its neighbours point back at it, or it is an end.
    predicate el_linked{L}(vrt_event_loop_t *loop, vrt_event_source_t *src) =
        \valid(src) && \separated(src, loop) &&
        (src->prev == \null ==> loop->sources_head == src) &&
        (src->prev != \null ==> \valid(src->prev) && src->prev->next == src &&
            \separated(src->prev, loop, src)) &&
        (src->next == \null ==> loop->sources_tail == src) &&
        (src->next != \null ==> \valid(src->next) && src->next->prev == src &&
            \separated(src->next, loop, src, src->prev)) &&
        loop->source_count > 0;

    // ---- a task's wait list (task->waits, linked by task_next) ----
    // Closed: its head and the next link of each source of the task are
    // NULL or a valid source of the same task, so a walk along the list
    // never leaves valid memory.
    predicate el_waits_closed{L}(vrt_task_node_t *t) =
        (t->waits == \null || (\valid(t->waits) && t->waits->task == t)) &&
        \forall vrt_event_source_t *s; \valid(s) && s->task == t ==>
            s->task_next == \null ||
            (\valid(s->task_next) && s->task_next->task == t);

    // ---- the timer id hash: chains of heap members ----
    predicate el_in_heap{L}(struct vrt_loop_state *st, vrt_event_source_t *s) =
        \valid(s) && 0 <= s->heap_index < st->heap_len &&
        st->heap[s->heap_index] == s;

    // Closed: every bucket and every chain link is NULL or a timer in the
    // heap (so a walk never leaves valid memory).
    predicate el_hash_closed{L}(struct vrt_loop_state *st) =
        (\forall integer b; 0 <= b < st->bucket_count ==>
            st->buckets[b] == \null || el_in_heap(st, st->buckets[b])) &&
        (\forall integer k; 0 <= k < st->heap_len ==>
            st->heap[k]->hash_next == \null ||
            el_in_heap(st, st->heap[k]->hash_next));

    // The invariant the public functions keep.
    predicate el_loop_inv{L}(vrt_event_loop_t *loop) =
        el_loop_ok(loop) && el_list_ends(loop) &&
        el_heap_order(loop->state) && el_hash_closed(loop->state) &&
        \separated(loop, loop->state->fds + (0 .. loop->state->fd_capacity - 1)) &&
        (\forall integer k; 0 <= k < loop->state->heap_len ==>
            \separated(loop->state->heap[k], loop)) &&
        loop->state->heap_capacity <= INT64_MAX / 4 &&
        loop->state->fd_capacity <= INT_MAX &&
        0 <= loop->state->next_seq < INT64_MAX &&
        loop->source_count < INT64_MAX;

    // ---- arithmetic ----
    // ASSUMED (a fact of two's complement, which Frama-C's bit library
    // states as uint_land_range but does not give the SMT provers): a
    // bitwise and with a non-negative mask keeps no bit the mask lacks.
    axiomatic el_bits {
      axiom el_land_range: \forall integer x, y; 0 <= x ==> 0 <= (x & y) <= x;
      axiom el_land_range_2: \forall integer x, y; 0 <= y ==> 0 <= (x & y) <= y;
    }

    // Every source that was in the heap at L0 is in it now, at its index.
    predicate el_heap_kept{L0, L1}(struct vrt_loop_state *st) =
        \forall integer j; 0 <= j < \at(st->heap_len, L0) ==>
            0 <= \at(\at(st->heap[j], L0)->heap_index, L1) < \at(st->heap_len, L1) &&
            \at(st->heap[\at(\at(st->heap[j], L0)->heap_index, L1)], L1) ==
                \at(st->heap[j], L0);
*/

/* The small helpers of the poll loop's hot path are inline; the rest is in
 * src/loop_tables.c. */

/* now + delay_ms, saturating instead of overflowing. */
/*@ requires now >= 0 && delay_ms >= 0;
    assigns \nothing;
    ensures \result >= now;
    behavior exact:
      assumes now + delay_ms * NS_PER_MS <= INT64_MAX;
      ensures \result == now + delay_ms * NS_PER_MS;
    behavior saturated:
      assumes now + delay_ms * NS_PER_MS > INT64_MAX;
      ensures \result == INT64_MAX;
    complete behaviors;
    disjoint behaviors;
*/
static inline int64_t vrt_lt_deadline_after(int64_t now, int64_t delay_ms)
{
    if (delay_ms > (INT64_MAX - now) / NS_PER_MS)
        return INT64_MAX;
    return now + delay_ms * NS_PER_MS;
}

/* Whole milliseconds from now to deadline, rounded up so that a wait never
 * ends before the deadline; clamped to what the kernel accepts. */
/*@ requires now >= 0;
    assigns \nothing;
    ensures 0 <= \result <= INT_MAX;
    ensures \result == 0 <==> deadline <= now;
    ensures deadline > now && \result < INT_MAX ==>
            (\result - 1) * NS_PER_MS < deadline - now <= \result * NS_PER_MS;
*/
static inline int64_t vrt_lt_ms_until(int64_t deadline, int64_t now)
{
    if (deadline <= now)
        return 0;
    int64_t ms = (deadline - now) / NS_PER_MS +
                 ((deadline - now) % NS_PER_MS != 0 ? 1 : 0);
    return ms > INT_MAX ? INT_MAX : ms;
}

/*@ requires \valid_read(st) && st->allocator.release != \null;
    assigns errno;
    behavior null_block:
      assumes block == \null;
      assigns \nothing;
      ensures errno == \old(errno);
    behavior released:
      assumes block != \null;
      assigns errno;
    complete behaviors;
    disjoint behaviors;
*/
void vrt_lt_state_release(struct vrt_loop_state *st, void *block);

/*@ requires \valid(src) && \valid(task) && \separated(src, task);
    assigns src->task_next, task->waits, task->flags;
    ensures task->waits == src && src->task_next == \old(task->waits);
    ensures task->flags == (\old(task->flags) | VRT_NODE_WAITING);
*/
static inline void vrt_lt_task_waits_add(vrt_event_source_t *src, vrt_task_node_t *task)
{
    src->task_next = task->waits;
    task->waits = src;
    task->flags |= VRT_NODE_WAITING;
}

/*@ requires \valid_read(a) && \valid_read(b);
    assigns \nothing;
    ensures \result == 0 || \result == 1;
    ensures \result == 1 <==> el_before(a, b);
*/
static inline int vrt_lt_timer_before(const vrt_event_source_t *a,
                                      const vrt_event_source_t *b)
{
    return a->deadline_ns < b->deadline_ns ||
           (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

/*@ requires el_state_ok(st) && el_hash_closed(st);
    assigns \nothing;
    ensures \result == \null || (el_in_heap(st, \result) && \result->fd == id);
    ensures st->bucket_count == 0 ==> \result == \null;
*/
vrt_event_source_t *vrt_lt_timer_find(const struct vrt_loop_state *st, int64_t id);

/*@ requires el_loop_inv(loop) && el_linked(loop, src);
    requires el_in_heap(loop->state, src) && \separated(src, loop->state);
    assigns EL_WORLD;
    ensures loop->state->heap_len == \old(loop->state->heap_len) - 1;
    ensures loop->source_count == \old(loop->source_count) - 1;
    ensures loop->state->free_sources == src && src->task == \null;
    ensures el_loop_inv(loop) && loop->state == \old(loop->state);
    ensures loop->state->event_count == \old(loop->state->event_count);
*/
void vrt_lt_timer_remove(vrt_event_loop_t *loop, vrt_event_source_t *src);

/* Arms (or re-arms, same id) a timer; with_wait also puts it on the task's
 * wait list. */
/*@ requires el_loop_inv(loop) && \valid(task) && delay_ms >= 0;
    assigns EL_WORLD;
    ensures \result == 0 || (\result == -1 && errno == ENOMEM);
    ensures el_loop_inv(loop);
*/
int64_t vrt_lt_timer_set(vrt_event_loop_t *loop, int64_t timer_id,
                         int64_t delay_ms, vrt_task_node_t *task, int with_wait);

/*@ assigns \nothing;
    ensures \result == (type == VRT_SOURCE_FD_READ ? VRT_IO_READ : VRT_IO_WRITE);
*/
static inline uint32_t vrt_lt_io_bit(int64_t type)
{
    return type == VRT_SOURCE_FD_READ ? VRT_IO_READ : VRT_IO_WRITE;
}

/*@ requires \valid(slot);
    assigns \nothing;
    ensures \result == (type == VRT_SOURCE_FD_READ ? &slot->read : &slot->write);
    ensures \valid(\result);
*/
static inline vrt_event_source_t **vrt_lt_slot_source(struct vrt_fd_slot *slot,
                                                      int64_t type)
{
    return type == VRT_SOURCE_FD_READ ? &slot->read : &slot->write;
}

/*@ requires \valid(slot);
    assigns \nothing;
    ensures \result == (type == VRT_SOURCE_FD_READ ? &slot->last_reader
                                                 : &slot->last_writer);
    ensures \valid(\result);
*/
static inline vrt_task_node_t **vrt_lt_slot_last_task(struct vrt_fd_slot *slot,
                                                      int64_t type)
{
    return type == VRT_SOURCE_FD_READ ? &slot->last_reader : &slot->last_writer;
}

/* Tells the kernel the new mask for fd.  A new registration (from mask 0,
 * or `renew`: the number may name a new file by now) gets a new generation,
 * so that events still coming for an earlier file under this number are
 * recognised as stale. */
/*@ requires el_loop_ok(loop) && 0 <= fd < loop->state->fd_capacity;
    assigns loop->state->fds[fd], errno;
    ensures \result == 0 || \result == -1;
    ensures \result == 0 ==> loop->state->fds[fd].kernel_mask == mask;
    ensures \result == -1 ==> loop->state->fds[fd] == \old(loop->state->fds[fd]);
    ensures loop->state->fds[fd].read == \old(loop->state->fds[fd].read) &&
            loop->state->fds[fd].write == \old(loop->state->fds[fd].write);
*/
int vrt_lt_slot_set_kernel(vrt_event_loop_t *loop, int64_t fd, uint32_t mask,
                           int renew);

/* A slot for fd, growing the table; the fd must be open to grow it, so a
 * stray large number cannot make us allocate. */
/*@ requires el_loop_ok(loop);
    assigns loop->state->fds, loop->state->fd_capacity, errno,
            { *el_w_f | struct vrt_fd_slot *el_w_f; \true }; // a grown table
    ensures \result != \null ==> \valid(\result);
    behavior own_or_bad:
      assumes fd < 0 || fd >= INT_MAX || fd == loop->kq ||
              fd == loop->waker_read_fd || fd == loop->waker_write_fd;
      assigns errno;
      ensures \result == \null && errno == EBADF;
    behavior known:
      assumes 0 <= fd < loop->state->fd_capacity;
      assumes fd != loop->kq && fd != loop->waker_read_fd &&
              fd != loop->waker_write_fd;
      assigns \nothing;
      ensures \result == &loop->state->fds[fd];
    behavior grown:
      assumes loop->state->fd_capacity <= fd < INT_MAX;
      assumes fd != loop->kq && fd != loop->waker_read_fd &&
              fd != loop->waker_write_fd;
      ensures \result == \null || (\result == &loop->state->fds[fd] &&
              fd < loop->state->fd_capacity);
    complete behaviors;
    disjoint behaviors;
*/
struct vrt_fd_slot *vrt_lt_fd_slot(vrt_event_loop_t *loop, int64_t fd);

/* Arms a source of `type` on fd for task.  `trusted`: the kernel already
 * watches this direction for this task, so it is not told again. */
/*@ requires el_loop_inv(loop) && \valid(task);
    assigns EL_WORLD;
    ensures \result == 0 || \result == -1;
    ensures el_loop_inv(loop);
*/
int64_t vrt_lt_fd_arm(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                      vrt_task_node_t *task, int trusted);

/* Removes the source of `type` on fd; with eager, the kernel forgets that
 * direction now, else it is dropped when it next fires for nobody. */
/*@ requires el_loop_inv(loop) && 0 <= fd < loop->state->fd_capacity;
    assigns EL_WORLD;
    ensures el_loop_inv(loop);
    ensures \result == 0 || \result == 1;
    ensures \result == 1 <==> \old(*(type == VRT_SOURCE_FD_READ ?
            &loop->state->fds[fd].read : &loop->state->fds[fd].write)) != \null;
*/
int64_t vrt_lt_fd_disarm(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                         int eager);

#endif /* VRT_LOOP_TABLES_H */
