/*
 * The event loop's tables: sources and their free list, the source list,
 * the fd table, the timer heap and the timer id hash (see loop_tables.h).
 * Everything here is proved with Frama-C WP (proofs/, set "loop"), the
 * backend's system calls and the allocator assumed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>

#include "loop_tables.h"

#ifdef __FRAMAC__
#include "el_assumed.h" /* the backend's contracts, assumed (proofs/) */
#endif

#define MIN_TABLE 64

/* ---- kernel tokens ---- */

/*@ requires 0 <= fd <= INT_MAX;
    assigns \nothing;
    ensures \result == generation * 0x100000000 + fd;
*/
static uint64_t fd_token(int64_t fd, uint32_t generation)
{
    /* generation in the high half, fd (non-negative) in the low half */
    return (uint64_t)generation * UINT64_C(0x100000000) + (uint64_t)fd;
}

/* ---- memory ---- */

#ifndef __FRAMAC__
/* The loop's typed allocations, in one place so that the proofs can assume
 * their contracts (proofs/el_assumed.h): a fresh block is apart from every
 * block the loop holds. */
static vrt_event_source_t *vrt_lt_alloc_source(const struct vrt_loop_state *st)
{
    return vrt_call_alloc(&st->allocator, sizeof(vrt_event_source_t));
}

static vrt_event_source_t **vrt_lt_alloc_sources(const struct vrt_loop_state *st,
                                                 int64_t count)
{
    return vrt_call_alloc(&st->allocator,
                          (size_t)count * sizeof(vrt_event_source_t *));
}

static struct vrt_fd_slot *vrt_lt_alloc_slots(const struct vrt_loop_state *st,
                                              int64_t count)
{
    return vrt_call_alloc(&st->allocator,
                          (size_t)count * sizeof(struct vrt_fd_slot));
}
#endif

void vrt_lt_state_release(struct vrt_loop_state *st, void *block)
{
    if (block != NULL)
        vrt_call_release(&st->allocator, block);
}

/* The capacity a table grows to so that it holds index need: twice the old
 * one (at least MIN_TABLE), or need + 1 if that is more. */
/*@ requires 0 <= capacity <= need <= INT64_MAX / 4;
    assigns \nothing;
    ensures need < \result <= INT64_MAX / 2;
*/
static int64_t grown_capacity(int64_t capacity, int64_t need)
{
    int64_t cap = capacity < MIN_TABLE ? MIN_TABLE : capacity * 2;
    if (cap <= need)
        cap = need + 1;
    return cap;
}

/* Grows the heap array to hold one more timer (index heap_len), the new
 * part zeroed.  0, or -1 with ENOMEM and the heap unchanged. */
/*@ requires \valid(st) && st->allocator.release != \null;
    requires 0 <= st->heap_capacity <= INT64_MAX / 4;
    requires 0 <= st->heap_len <= INT64_MAX / 4;
    requires \valid(st->heap + (0 .. st->heap_capacity - 1)) &&
             \separated(st, st->heap + (0 .. st->heap_capacity - 1));
    assigns st->heap, st->heap_capacity, errno,
            { *el_w_c | vrt_event_source_t **el_w_c; \true }; // the new array
    behavior fits:
      assumes st->heap_len < st->heap_capacity;
      assigns \nothing;
      ensures \result == 0;
    behavior grows:
      assumes st->heap_len >= st->heap_capacity;
      ensures \result == 0 || \result == -1;
      ensures \result == 0 ==> st->heap_len < st->heap_capacity <= INT64_MAX / 4 &&
              \valid(st->heap + (0 .. st->heap_capacity - 1)) &&
              \separated(st, st->heap + (0 .. st->heap_capacity - 1)) &&
              \forall integer k; 0 <= k < \old(st->heap_capacity) ==>
                  st->heap[k] == \old(st->heap[k]);
      ensures \result == -1 ==> errno == ENOMEM && st->heap == \old(st->heap) &&
              st->heap_capacity == \old(st->heap_capacity);
    complete behaviors;
    disjoint behaviors;
*/
static int grow_heap(struct vrt_loop_state *st)
{
    if (st->heap_len < st->heap_capacity)
        return 0;
    int64_t cap = grown_capacity(st->heap_capacity, st->heap_len);
    /* GCOVR_EXCL_START: unreachable with a 64-bit size_t, where a count of
     * live timers keeps cap * sizeof far below SIZE_MAX; the check is for
     * 32-bit targets. */
    if ((uint64_t)cap > SIZE_MAX / sizeof *st->heap) {
        errno = ENOMEM;
        return -1;
    }
    /* GCOVR_EXCL_STOP */
    vrt_event_source_t **grown = vrt_lt_alloc_sources(st, cap);
    if (grown == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /*@ loop invariant 0 <= i <= st->heap_capacity;
        loop invariant \forall integer k; 0 <= k < i ==> grown[k] == st->heap[k];
        loop assigns i, grown[0 .. st->heap_capacity - 1];
        loop variant st->heap_capacity - i;
    */
    for (int64_t i = 0; i < st->heap_capacity; i++)
        grown[i] = st->heap[i];
    /*@ loop invariant st->heap_capacity <= i <= cap;
        loop invariant \forall integer k; 0 <= k < st->heap_capacity ==>
            grown[k] == st->heap[k];
        loop assigns i, grown[st->heap_capacity .. cap - 1];
        loop variant cap - i;
    */
    for (int64_t i = st->heap_capacity; i < cap; i++)
        grown[i] = NULL;
    vrt_lt_state_release(st, st->heap);
    st->heap = grown;
    st->heap_capacity = cap;
    return 0;
}

/* Grows the fd table to hold index fd, the new slots zeroed.  0, or -1
 * with ENOMEM and the table unchanged. */
/*@ requires \valid(st) && st->allocator.release != \null;
    requires 0 <= st->fd_capacity <= fd < INT_MAX;
    requires \valid(st->fds + (0 .. st->fd_capacity - 1)) &&
             \separated(st, st->fds + (0 .. st->fd_capacity - 1));
    assigns st->fds, st->fd_capacity, errno,
            { *el_w_f | struct vrt_fd_slot *el_w_f; \true }; // the new table
    ensures \result == 0 || \result == -1;
    ensures \result == 0 ==> fd < st->fd_capacity &&
            \valid(st->fds + (0 .. st->fd_capacity - 1)) &&
            \separated(st, st->fds + (0 .. st->fd_capacity - 1));
    ensures \result == -1 ==> errno == ENOMEM && st->fds == \old(st->fds) &&
            st->fd_capacity == \old(st->fd_capacity);
*/
static int grow_fds(struct vrt_loop_state *st, int64_t fd)
{
    int64_t cap = grown_capacity(st->fd_capacity, fd);
    /* GCOVR_EXCL_START: unreachable with a 64-bit size_t, where fd is below
     * INT_MAX; the check is for 32-bit targets. */
    if ((uint64_t)cap > SIZE_MAX / sizeof *st->fds) {
        errno = ENOMEM;
        return -1;
    }
    /* GCOVR_EXCL_STOP */
    struct vrt_fd_slot *grown = vrt_lt_alloc_slots(st, cap);
    if (grown == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /*@ loop invariant 0 <= i <= st->fd_capacity;
        loop assigns i, grown[0 .. st->fd_capacity - 1];
        loop variant st->fd_capacity - i;
    */
    for (int64_t i = 0; i < st->fd_capacity; i++)
        grown[i] = st->fds[i];
    /*@ loop invariant st->fd_capacity <= i <= cap;
        loop assigns i, grown[st->fd_capacity .. cap - 1];
        loop variant cap - i;
    */
    for (int64_t i = st->fd_capacity; i < cap; i++)
        grown[i] = (struct vrt_fd_slot){0};
    vrt_lt_state_release(st, st->fds);
    st->fds = grown;
    st->fd_capacity = cap;
    return 0;
}

/*@ requires \valid(st);
    requires st->free_sources != \null ==> \valid(st->free_sources) &&
             \separated(st->free_sources, st);
    assigns st->free_sources, errno,
            { *el_w_s | vrt_event_source_t *el_w_s; \true }; // a new source
    // The state is apart from the source it hands out: its other fields
    // are kept.
    ensures \result != \null ==> \separated(\result, st);
    ensures st->next_seq == \old(st->next_seq) &&
            st->heap_len == \old(st->heap_len) &&
            st->heap_capacity == \old(st->heap_capacity) &&
            st->heap == \old(st->heap) &&
            st->bucket_count == \old(st->bucket_count) &&
            st->buckets == \old(st->buckets);
    behavior recycled:
      assumes st->free_sources != \null;
      assigns st->free_sources, *\old(st->free_sources);
      ensures \result == \old(st->free_sources) && \valid(\result);
      ensures st->free_sources == \old(st->free_sources->next);
    behavior allocated:
      assumes st->free_sources == \null;
      assigns errno, { *el_w_s | vrt_event_source_t *el_w_s; \true };
      ensures \result == \null ==> errno == ENOMEM;
      ensures \result != \null ==> \valid(\result);
    complete behaviors;
    disjoint behaviors;
*/
static vrt_event_source_t *source_take(struct vrt_loop_state *st)
{
    vrt_event_source_t *src = st->free_sources;
    if (src != NULL) {
        st->free_sources = src->next;
    } else {
        src = vrt_lt_alloc_source(st);
        if (src == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    *src = (vrt_event_source_t){0};
    return src;
}

/*@ requires \valid(st) && \valid(src) && \separated(st, src);
    assigns src->task, src->next, st->free_sources;
    ensures st->free_sources == src && src->task == \null;
    ensures src->next == \old(st->free_sources);
*/
static void source_put(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    src->task = NULL;
    src->next = st->free_sources;
    st->free_sources = src;
}

/* ---- the source list (the seed's sources_head/tail/source_count) ---- */

/*@ requires \valid(loop) && \valid(src) && \separated(loop, src);
    requires el_list_ends(loop) && loop->source_count < INT64_MAX;
    requires \separated(src, loop->sources_tail) &&
             \separated(src, loop->sources_head);
    assigns src->next, src->prev, loop->sources_tail->next,
            loop->sources_head, loop->sources_tail, loop->source_count;
    ensures el_list_ends(loop) && el_linked(loop, src);
    ensures loop->sources_tail == src && src->next == \null;
    ensures src->prev == \old(loop->sources_tail);
    ensures loop->source_count == \old(loop->source_count) + 1;
    ensures \old(loop->sources_tail) == \null ==> loop->sources_head == src;
    ensures \old(loop->sources_tail) != \null ==>
            loop->sources_head == \old(loop->sources_head) &&
            \old(loop->sources_tail)->next == src;
*/
static void list_append(vrt_event_loop_t *loop, vrt_event_source_t *src)
{
    src->next = NULL;
    src->prev = loop->sources_tail;
    if (loop->sources_tail != NULL)
        loop->sources_tail->next = src;
    else
        loop->sources_head = src;
    loop->sources_tail = src;
    loop->source_count++;
}

/*@ requires \valid(loop) && el_list_ends(loop) && el_linked(loop, src);
    assigns src->prev->next, src->next->prev, loop->sources_head,
            loop->sources_tail, src->next, src->prev, loop->source_count;
    ensures el_list_ends(loop);
    ensures src->next == \null && src->prev == \null;
    ensures loop->source_count == \old(loop->source_count) - 1;
    ensures \old(src->prev) != \null ==> \old(src->prev)->next == \old(src->next);
    ensures \old(src->prev) == \null ==> loop->sources_head == \old(src->next);
    ensures \old(src->next) != \null ==> \old(src->next)->prev == \old(src->prev);
    ensures \old(src->next) == \null ==> loop->sources_tail == \old(src->prev);
*/
static void list_remove(vrt_event_loop_t *loop, vrt_event_source_t *src)
{
    if (src->prev != NULL)
        src->prev->next = src->next;
    else
        loop->sources_head = src->next;
    if (src->next != NULL)
        src->next->prev = src->prev;
    else
        loop->sources_tail = src->prev;
    src->next = NULL;
    src->prev = NULL;
    loop->source_count--;
}

/* Takes src off its task's wait list, if it is on it. */
/*@ requires \valid(src);
    requires src->task != \null ==> \valid(src->task) &&
             el_waits_closed(src->task);
    assigns src->task_next, src->task->waits,
            { el_w->task_next | vrt_event_source_t *el_w; \true };
    ensures src->task_next == \null;
*/
static void task_waits_remove(vrt_event_source_t *src)
{
    if (src->task == NULL) {
        src->task_next = NULL; /* a source without a task is on no list */
        return;
    }
    vrt_event_source_t **link = &src->task->waits;
    /*@ loop invariant \valid(link);
        loop invariant link == &src->task->waits ||
            \exists vrt_event_source_t *s; \valid(s) && s->task == src->task &&
                link == &s->task_next;
        loop invariant *link == \null ||
            (\valid(*link) && (*link)->task == src->task);
        loop assigns link;
    */
    while (*link != NULL && *link != src)
        link = &(*link)->task_next;
    if (*link == src)
        *link = src->task_next;
    src->task_next = NULL;
}
/* ---- timer heap ---- */

/*@ requires \valid(st) && 0 <= i && \valid(st->heap + i) && \valid(src);
    requires \separated(st, src, st->heap + i);
    assigns st->heap[i], src->heap_index;
    ensures st->heap[i] == src && src->heap_index == i;
*/
static void heap_place(struct vrt_loop_state *st, int64_t i, vrt_event_source_t *src)
{
    st->heap[i] = src;
    src->heap_index = i;
}

/*@ requires \valid(st) && el_heap_shape(st);
    requires 0 <= i < st->heap_len && el_heap_except(st, i);
    assigns st->heap[0 .. st->heap_len - 1],
            st->heap[0 .. st->heap_len - 1]->heap_index;
    ensures el_heap_shape(st) && el_heap_order(st) && el_heap_kept{Pre, Post}(st);
*/
static void heap_sift_up(struct vrt_loop_state *st, int64_t i)
{
    vrt_event_source_t *src = st->heap[i];
    //@ assert \forall integer c; el_child(c, i) ==> (c - 1) / 2 == i && c > 0 && c != i;
    /*@ assert \forall integer c; el_child(c, i) && c < st->heap_len ==>
            !el_before(st->heap[c], src); */
    /*@ loop invariant 0 <= i <= \at(i, Pre);
        loop invariant \forall integer k; 0 <= k < st->heap_len && k != i ==>
            \valid(st->heap[k]) && st->heap[k]->heap_index == k &&
            st->heap[k] != src && \separated(st->heap[k], st) &&
            \separated(st->heap[k], src) &&
            \separated(st->heap[k], st->heap + (0 .. st->heap_capacity - 1));
        loop invariant \forall integer j, k; 0 <= j < st->heap_len &&
            0 <= k < st->heap_len && j != i && k != i && j != k ==>
            \separated(st->heap[j], st->heap[k]);
        loop invariant el_heap_except(st, i);
        loop invariant \forall integer c; el_child(c, i) && c < st->heap_len ==>
            !el_before(st->heap[c], src);
        loop invariant \forall integer j; 0 <= j < st->heap_len &&
            \at(st->heap[j], Pre) != src ==>
            0 <= \at(st->heap[j], Pre)->heap_index < st->heap_len &&
            \at(st->heap[j], Pre)->heap_index != i &&
            st->heap[\at(st->heap[j], Pre)->heap_index] == \at(st->heap[j], Pre);
        loop invariant \valid(src) && \separated(src, st) &&
            \separated(src, st->heap + (0 .. st->heap_capacity - 1));
        loop invariant st->heap == \at(st->heap, Pre) &&
            st->heap_len == \at(st->heap_len, Pre) &&
            st->heap_capacity == \at(st->heap_capacity, Pre);
        // Where each current element was at entry: in place, or (below
        // the hole, on its path) one level up.
        loop invariant \forall integer k; 0 <= k < st->heap_len && k != i ==>
            st->heap[k] == \at(st->heap[k], Pre) ||
            (k > i && st->heap[k] == \at(st->heap[(k - 1) / 2], Pre));
        loop assigns i, \at(st->heap, Pre)[0 .. \at(st->heap_len, Pre) - 1],
            \at(st->heap[0 .. st->heap_len - 1], Pre)->heap_index;
        loop variant i;
    */
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        //@ assert 0 <= parent < i < st->heap_len;
        /*@ assert \valid(st->heap[parent]) && st->heap[parent] != src &&
                   \separated(st->heap[parent], st) &&
                   \separated(st->heap[parent],
                               st->heap + (0 .. st->heap_capacity - 1)); */
        if (!vrt_lt_timer_before(src, st->heap[parent]))
            break;
        //@ assert i < st->heap_capacity && \separated(st, st->heap + i);
        //@ assert \separated(st->heap[parent], st->heap + i);
        //@ assert \forall integer p; p == parent ==> st->heap[p] == \at(st->heap[p], Pre);
        heap_place(st, i, st->heap[parent]);
        i = parent;
    }
    heap_place(st, i, src);
}

/*@ requires \valid(st) && el_heap_shape(st) && st->heap_len <= INT64_MAX / 2;
    requires 0 <= i < st->heap_len && el_heap_hole(st, i);
    assigns st->heap[0 .. st->heap_len - 1],
            st->heap[0 .. st->heap_len - 1]->heap_index;
    ensures el_heap_shape(st) && el_heap_kept{Pre, Post}(st);
    ensures el_heap_except(st, \old(i));
*/
static void heap_sift_down(struct vrt_loop_state *st, int64_t i)
{
    vrt_event_source_t *src = st->heap[i];
    /*@ loop invariant \at(i, Pre) <= i < st->heap_len;
        loop invariant \forall integer k; 0 <= k < st->heap_len && k != i ==>
            \valid(st->heap[k]) && st->heap[k]->heap_index == k &&
            st->heap[k] != src && \separated(st->heap[k], st) &&
            \separated(st->heap[k], src) &&
            \separated(st->heap[k], st->heap + (0 .. st->heap_capacity - 1));
        loop invariant \forall integer j, k; 0 <= j < st->heap_len &&
            0 <= k < st->heap_len && j != i && k != i && j != k ==>
            \separated(st->heap[j], st->heap[k]);
        loop invariant \valid(src) && \separated(src, st) &&
            \separated(src, st->heap + (0 .. st->heap_capacity - 1));
        loop invariant el_heap_hole(st, i);
        loop invariant i != \at(i, Pre) ==> el_before(st->heap[(i - 1) / 2], src);
        loop invariant i != \at(i, Pre) && \at(i, Pre) > 0 ==>
            el_edge_ok(st, \at(i, Pre));
        loop invariant \forall integer j; 0 <= j < st->heap_len &&
            \at(st->heap[j], Pre) != src ==>
            0 <= \at(st->heap[j], Pre)->heap_index < st->heap_len &&
            \at(st->heap[j], Pre)->heap_index != i &&
            st->heap[\at(st->heap[j], Pre)->heap_index] == \at(st->heap[j], Pre);
        loop invariant st->heap == \at(st->heap, Pre) &&
            st->heap_len == \at(st->heap_len, Pre) &&
            st->heap_capacity == \at(st->heap_capacity, Pre);
        // Where each current element was at entry: in place, or (above
        // the hole, on its path) one level down.
        loop invariant \forall integer k; 0 <= k < st->heap_len && k != i ==>
            st->heap[k] == \at(st->heap[k], Pre) ||
            (k < i && 2 * k + 1 < st->heap_len &&
                st->heap[k] == \at(st->heap[2 * k + 1], Pre)) ||
            (k < i && 2 * k + 2 < st->heap_len &&
                st->heap[k] == \at(st->heap[2 * k + 2], Pre));
        loop assigns i, \at(st->heap, Pre)[0 .. \at(st->heap_len, Pre) - 1],
            \at(st->heap[0 .. st->heap_len - 1], Pre)->heap_index;
        loop variant st->heap_len - i;
    */
    for (;;) {
        int64_t child = 2 * i + 1;
        if (child >= st->heap_len)
            break;
        if (child + 1 < st->heap_len &&
            vrt_lt_timer_before(st->heap[child + 1], st->heap[child]))
            child++;
        //@ assert i < child < st->heap_len && el_child(child, i);
        /*@ assert \valid(st->heap[child]) && st->heap[child] != src &&
                   \separated(st->heap[child], st) &&
                   \separated(st->heap[child],
                               st->heap + (0 .. st->heap_capacity - 1)); */
        if (!vrt_lt_timer_before(st->heap[child], src))
            break;
        //@ assert 0 <= i < st->heap_capacity && \separated(st, st->heap + i);
        //@ assert \separated(st->heap[child], st->heap + i);
        //@ assert \forall integer c; c == child ==> st->heap[c] == \at(st->heap[c], Pre);
        heap_place(st, i, st->heap[child]);
        i = child;
    }
    heap_place(st, i, src);
}

/*@ requires \valid(st) && el_heap_shape(st) && el_heap_order(st);
    requires st->heap_len <= INT64_MAX / 2;
    requires \valid(src) && 0 <= src->heap_index < st->heap_len &&
             st->heap[src->heap_index] == src;
    assigns st->heap_len, st->heap[0 .. st->heap_len - 1],
            st->heap[0 .. st->heap_len - 1]->heap_index;
    ensures st->heap_len == \old(st->heap_len) - 1;
    ensures el_heap_shape(st) && el_heap_order(st);
    ensures \forall integer j; 0 <= j < \old(st->heap_len) &&
            \old(st->heap[j]) != src ==>
            0 <= \old(st->heap[j])->heap_index < st->heap_len &&
            st->heap[\old(st->heap[j])->heap_index] == \old(st->heap[j]);
*/
static void heap_remove(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    int64_t i = src->heap_index;
    st->heap_len--;
    if (i == st->heap_len)
        return;
    heap_place(st, i, st->heap[st->heap_len]);
    /* The moved element goes down, or (if it stays at i) up; a child
     * promoted into i is never smaller than i's parent. */
    heap_sift_down(st, i);
    heap_sift_up(st, i);
}

/* ---- timer id hash ---- */

/* The ids of one run of 2^TIMER_RUN_BITS land in one aligned block of
 * buckets, so timers armed and fired in id order (the reactor numbers them
 * sequentially) walk a few cache lines instead of missing the cache at each
 * step; the run number is mixed (MurmurHash3's finaliser) to place its
 * block, so strided or random ids spread like random ones. */
#define TIMER_RUN_BITS 6

/*@ requires \valid_read(st) && 0 < st->bucket_count <= 0x40000000;
    assigns \nothing;
    ensures 0 <= \result < st->bucket_count;
*/
static int64_t bucket_of(const struct vrt_loop_state *st, int64_t id)
{
    uint64_t h = (uint64_t)id >> TIMER_RUN_BITS;
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h ^= (uint64_t)id & ((UINT64_C(1) << TIMER_RUN_BITS) - 1);
    uint64_t mask = (uint64_t)(st->bucket_count - 1);
    //@ assert mask == st->bucket_count - 1;
    uint64_t bucket = mask & h;
    //@ assert bucket <= mask;
    return (int64_t)bucket;
}

vrt_event_source_t *vrt_lt_timer_find(const struct vrt_loop_state *st, int64_t id)
{
    if (st->bucket_count == 0)
        return NULL;
    vrt_event_source_t *src = st->buckets[bucket_of(st, id)];
    /*@ loop invariant src == \null || el_in_heap(st, src);
        loop assigns src;
    */
    while (src != NULL && src->fd != id)
        src = src->hash_next;
    return src;
}

/*@ requires \valid(st) && \valid(src) && 0 < st->bucket_count <= 0x40000000;
    requires \valid(st->buckets + (0 .. st->bucket_count - 1));
    requires \separated(st, src, st->buckets + (0 .. st->bucket_count - 1));
    assigns src->hash_next, st->buckets[0 .. st->bucket_count - 1];
    ensures \exists integer b; 0 <= b < st->bucket_count &&
            st->buckets[b] == src && src->hash_next == \old(st->buckets[b]) &&
            \forall integer c; 0 <= c < st->bucket_count && c != b ==>
                st->buckets[c] == \old(st->buckets[c]);
*/
static void hash_insert(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    int64_t b = bucket_of(st, src->fd);
    src->hash_next = st->buckets[b];
    st->buckets[b] = src;
}

/*@ requires el_state_ok(st) && el_hash_closed(st) && st->bucket_count > 0;
    requires el_in_heap(st, src);
    assigns st->buckets[0 .. st->bucket_count - 1], st->heap[0 .. st->heap_len - 1]->hash_next;
    // The link that led to src (a bucket or another timer's hash_next) now
    // skips it.
    ensures (\exists integer b; 0 <= b < st->bucket_count &&
                \old(st->buckets[b]) == src && st->buckets[b] == src->hash_next) ||
            (\exists integer k; 0 <= k < st->heap_len &&
                \old(st->heap[k]->hash_next) == src &&
                st->heap[k]->hash_next == src->hash_next);
*/
static void hash_remove(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    vrt_event_source_t **link = &st->buckets[bucket_of(st, src->fd)];
    /*@ loop invariant \valid(link);
        loop invariant *link == \null || el_in_heap(st, *link);
        loop invariant (\exists integer b; 0 <= b < st->bucket_count &&
                           link == st->buckets + b) ||
                       (\exists integer k; 0 <= k < st->heap_len &&
                           link == &st->heap[k]->hash_next);
        loop assigns link;
    */
    while (*link != src)
        link = &(*link)->hash_next;
    *link = src->hash_next;
}

/* Room for one more timer in the heap and the hash (load factor <= 1).
 * 0, or -1 with ENOMEM and nothing changed. */
/*@ requires el_state_ok(st) && el_hash_closed(st);
    requires st->heap_capacity <= INT64_MAX / 4 && st->heap_len <= INT64_MAX / 4;
    assigns st->heap, st->heap_capacity, st->buckets, st->bucket_count, errno,
            { *el_w_c | vrt_event_source_t **el_w_c; \true }; // new arrays, chains
    ensures \result == 0 || \result == -1;
    ensures \result == 0 ==> st->heap_len < st->heap_capacity &&
            st->heap_len < st->bucket_count;
    ensures \result == -1 ==> errno == ENOMEM;
*/
static int timers_reserve(struct vrt_loop_state *st)
{
    if (grow_heap(st) != 0)
        return -1;
    if (st->heap_len < st->bucket_count)
        return 0;
    int64_t count = st->bucket_count == 0 ? MIN_TABLE : st->bucket_count * 2;
    vrt_event_source_t **buckets = vrt_lt_alloc_sources(st, count);
    if (buckets == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /*@ loop invariant 0 <= b <= count;
        loop invariant \forall integer c; 0 <= c < b ==> buckets[c] == \null;
        loop assigns b, buckets[0 .. count - 1];
        loop variant count - b;
    */
    for (int64_t b = 0; b < count; b++)
        buckets[b] = NULL;
    vrt_event_source_t **old = st->buckets;
    int64_t old_count = st->bucket_count;
    st->buckets = buckets;
    st->bucket_count = count;
    for (int64_t b = 0; b < old_count; b++) {
        vrt_event_source_t *src = old[b];
        while (src != NULL) {
            vrt_event_source_t *next = src->hash_next;
            hash_insert(st, src);
            src = next;
        }
    }
    vrt_lt_state_release(st, old);
    return 0;
}

void vrt_lt_timer_remove(vrt_event_loop_t *loop, vrt_event_source_t *src)
{
    struct vrt_loop_state *st = loop->state;
    heap_remove(st, src);
    hash_remove(st, src);
    task_waits_remove(src);
    list_remove(loop, src);
    source_put(st, src);
}

int64_t vrt_lt_timer_set(vrt_event_loop_t *loop, int64_t timer_id,
                         int64_t delay_ms, vrt_task_node_t *task, int with_wait)
{
    struct vrt_loop_state *st = loop->state;
    vrt_event_source_t *src = vrt_lt_timer_find(st, timer_id);
    int fresh = src == NULL;
    if (fresh) {
        if (timers_reserve(st) != 0)
            return -1;
        src = source_take(st);
        if (src == NULL)
            return -1;
    } else {
        task_waits_remove(src);
    }
    /* Read the clock now, not at the loop's last turn, so a timer armed
     * late in a turn never fires early. */
    src->deadline_ns = vrt_lt_deadline_after(vrt_clock_ns(), delay_ms);
    src->seq = st->next_seq++;
    src->task = task;
    if (fresh) {
        src->type = VRT_SOURCE_TIMER;
        src->fd = timer_id;
        hash_insert(st, src);
        heap_place(st, st->heap_len++, src);
        heap_sift_up(st, src->heap_index);
        list_append(loop, src);
    } else {
        heap_sift_down(st, src->heap_index);
        heap_sift_up(st, src->heap_index);
    }
    if (with_wait)
        vrt_lt_task_waits_add(src, task);
    return 0;
}
/* ---- fd sources ---- */

int vrt_lt_slot_set_kernel(vrt_event_loop_t *loop, int64_t fd, uint32_t mask,
                           int renew)
{
    struct vrt_fd_slot *slot = &loop->state->fds[fd];
    uint32_t generation =
        slot->generation + (slot->kernel_mask == 0 || renew ? 1u : 0u);
    if (vrt_backend_watch((int)loop->kq, (int)fd, slot->kernel_mask, mask,
                          fd_token(fd, generation)) != 0)
        return -1;
    slot->kernel_mask = mask;
    slot->generation = generation;
    if (mask == 0) {
        slot->last_reader = NULL;
        slot->last_writer = NULL;
    }
    return 0;
}

struct vrt_fd_slot *vrt_lt_fd_slot(vrt_event_loop_t *loop, int64_t fd)
{
    struct vrt_loop_state *st = loop->state;
    if (fd < 0 || fd >= INT_MAX || fd == loop->kq ||
        fd == loop->waker_read_fd || fd == loop->waker_write_fd) {
        errno = EBADF; /* the loop's own fds are not the user's to watch */
        return NULL;
    }
    if (fd >= st->fd_capacity) {
        if (fcntl((int)fd, F_GETFD) < 0)
            return NULL; /* EBADF */
        if (grow_fds(st, fd) != 0)
            return NULL;
    }
    return &st->fds[fd];
}

int64_t vrt_lt_fd_arm(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                      vrt_task_node_t *task, int trusted)
{
    struct vrt_fd_slot *slot = vrt_lt_fd_slot(loop, fd);
    if (slot == NULL)
        return -1;
    vrt_event_source_t **where = vrt_lt_slot_source(slot, type);
    vrt_event_source_t *src = *where;
    int fresh = src == NULL;
    if (fresh && (src = source_take(loop->state)) == NULL)
        return -1;
    if (!trusted &&
        vrt_lt_slot_set_kernel(loop, fd, slot->kernel_mask | vrt_lt_io_bit(type),
                               1) != 0) {
        if (fresh)
            source_put(loop->state, src);
        return -1;
    }
    if (fresh) {
        src->type = type;
        src->fd = fd;
        list_append(loop, src);
        *where = src;
    } else {
        task_waits_remove(src);
    }
    src->task = task;
    return 0;
}

int64_t vrt_lt_fd_disarm(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                         int eager)
{
    struct vrt_fd_slot *slot = &loop->state->fds[fd];
    vrt_event_source_t **where = vrt_lt_slot_source(slot, type);
    vrt_event_source_t *src = *where;
    if (src != NULL) {
        *vrt_lt_slot_last_task(slot, type) = src->task;
        task_waits_remove(src);
        list_remove(loop, src);
        source_put(loop->state, src);
        *where = NULL;
    }
    uint32_t bit = vrt_lt_io_bit(type);
    if (eager && (slot->kernel_mask & bit) != 0)
        (void)vrt_lt_slot_set_kernel(loop, fd, slot->kernel_mask & ~bit, 0); /* on
            failure the direction is dropped lazily when it fires */
    return src != NULL;
}
