/*
 * TaskGroup and ScopedTask: structured concurrency on the scheduler core.
 *
 * A group's tasks run on a core of the group's own (allocated at the first
 * spawn), driven by the same turn as the reactor's: they may wait on the
 * global reactor's loop and are parked while they do.  Each task is spawned
 * into the core wrapped in a small poll function that records its result
 * in its entry the moment it is Ready, so an error cancels the siblings at
 * once, inside the same sweep.
 *
 * ACSL: the group's model is its entries array: entries[0 .. task_count-1]
 * is the entry list in spawn order (head is entries[0], tail the last, each
 * next the following one, so the list is acyclic and as long as the count),
 * and the counts are recursive sums over it; proofs/ discharges the
 * contracts with Frama-C WP.
 */
#include <errno.h>

#include "vrt_internal.h"

/* Beyond this many entries, doubling the arrays could overflow a size_t. */
#define GROUP_CAPACITY_LIMIT ((int64_t)(SIZE_MAX / sizeof(int64_t) / 4))

/*@ predicate grp_fin(integer s) =
        s == VRT_TASK_COMPLETED || s == VRT_TASK_CANCELLED;

    predicate grp_arrays{L}(vrt_task_group_t *g) =
        0 <= g->task_count <= g->capacity <= GROUP_CAPACITY_LIMIT &&
        (g->capacity > 0 ==>
            \valid(g->entries + (0 .. g->capacity - 1)) &&
            \valid(g->results + (0 .. g->capacity - 1)) &&
            \separated(g->entries + (0 .. g->capacity - 1),
                       g->results + (0 .. g->capacity - 1), g));

    // Blocks that do not overlap anything the group holds.
    predicate grp_apart_entry{L}(vrt_task_group_t *g, vrt_task_entry_t *p) =
        \separated(p, g) &&
        (g->capacity > 0 ==>
            \separated(p, g->entries + (0 .. g->capacity - 1),
                       g->results + (0 .. g->capacity - 1))) &&
        (g->core != \null ==> \separated(p, g->core)) &&
        (\forall integer i; 0 <= i < g->task_count ==>
            \separated(p, g->entries[i]));
    predicate grp_apart_core{L}(vrt_task_group_t *g, vrt_runtime_t *p) =
        \separated(p, g) &&
        (g->capacity > 0 ==>
            \separated(p, g->entries + (0 .. g->capacity - 1),
                       g->results + (0 .. g->capacity - 1))) &&
        (\forall integer i; 0 <= i < g->task_count ==>
            \separated(p, g->entries[i]));

    predicate grp_core_ok{L}(vrt_task_group_t *g) =
        (g->core != \null ==> \valid(g->core) && \separated(g->core, g) &&
            (g->capacity > 0 ==>
                \separated(g->core, g->entries + (0 .. g->capacity - 1),
                           g->results + (0 .. g->capacity - 1)))) &&
        (g->task_count > 0 ==> g->core != \null);

    // Entry i of g: indexed, linked to the next one, apart from the rest.
    predicate grp_entry{L}(vrt_task_group_t *g, integer i) =
        \valid(g->entries[i]) && g->entries[i]->index == i &&
        g->entries[i]->group == g && g->entries[i]->poll_fn != \null &&
        (g->entries[i]->status == VRT_TASK_PENDING ||
         grp_fin(g->entries[i]->status)) &&
        (g->entries[i]->started == 0 || g->entries[i]->started == 1) &&
        \separated(g->entries[i], g) &&
        (g->core != \null ==> \separated(g->entries[i], g->core)) &&
        \separated(g->entries[i], g->entries + (0 .. g->capacity - 1),
                   g->results + (0 .. g->capacity - 1)) &&
        (i + 1 < g->task_count ==> g->entries[i]->next == g->entries[i + 1]) &&
        (i + 1 == g->task_count ==> g->entries[i]->next == \null);

    predicate grp_list{L}(vrt_task_group_t *g) =
        (g->task_count == 0 ==> g->head == \null && g->tail == \null) &&
        (g->task_count > 0 ==> g->head == g->entries[0] &&
                               g->tail == g->entries[g->task_count - 1]) &&
        (\forall integer i; 0 <= i < g->task_count ==> grp_entry(g, i)) &&
        (\forall integer i, j; 0 <= i < j < g->task_count ==>
            \separated(g->entries[i], g->entries[j])) &&
        (g->next_start != \null ==>
            0 <= g->next_start->index < g->task_count &&
            g->entries[g->next_start->index] == g->next_start);

    // The counts within bounds.  (That they equal the number of finished
    // and of started unfinished entries is not stated: a counting function
    // makes the provers unfold it without end.)
    predicate grp_counts{L}(vrt_task_group_t *g) =
        0 <= g->completed_count <= g->task_count &&
        0 <= g->started_live <= g->task_count - g->completed_count &&
        g->task_count - g->completed_count <= VRT_MAX_TASKS;

    // Entries start in spawn order: from next_start on (all of them when
    // it is NULL: none) every entry is pending and unstarted.
    logic integer grp_first_unstarted{L}(vrt_task_group_t *g) =
        g->next_start == \null ? g->task_count : g->next_start->index;
    predicate grp_order{L}(vrt_task_group_t *g) =
        \forall integer i; grp_first_unstarted(g) <= i < g->task_count ==>
            g->entries[i]->started == 0 &&
            g->entries[i]->status == VRT_TASK_PENDING;

    // Everything but the start order (which cancel_unfinished restores).
    predicate grp_shape{L}(vrt_task_group_t *g) =
        \valid(g) && grp_arrays(g) && grp_core_ok(g) && grp_list(g) &&
        grp_counts(g) && 0 <= g->max_concurrency;

    predicate grp_inv{L}(vrt_task_group_t *g) = grp_shape(g) && grp_order(g);

    predicate grp_is_entry{L}(vrt_task_group_t *g, vrt_task_entry_t *e) =
        \valid(e) && 0 <= e->index < g->task_count && g->entries[e->index] == e;

    // What the core may poll: a started, pending entry of a group.
    predicate grp_polled{L}(vrt_task_entry_t *e) =
        \valid(e) && grp_inv(e->group) && grp_is_entry(e->group, e) &&
        e->started == 1 && e->status == VRT_TASK_PENDING;

    // The fields that keep a group's state (all but its settings).
    predicate grp_unchanged{L1, L2}(vrt_task_group_t *g) =
        \at(g->head, L1) == \at(g->head, L2) &&
        \at(g->tail, L1) == \at(g->tail, L2) &&
        \at(g->task_count, L1) == \at(g->task_count, L2) &&
        \at(g->completed_count, L1) == \at(g->completed_count, L2) &&
        \at(g->entries, L1) == \at(g->entries, L2) &&
        \at(g->results, L1) == \at(g->results, L2) &&
        \at(g->capacity, L1) == \at(g->capacity, L2) &&
        \at(g->next_start, L1) == \at(g->next_start, L2) &&
        \at(g->started_live, L1) == \at(g->started_live, L2) &&
        \at(g->core, L1) == \at(g->core, L2);

    predicate grp_entries_apart{L}(vrt_task_group_t *g) =
        \forall integer i; 0 <= i < g->task_count ==>
            \separated(g->entries[i], g);

    // Between L1 and L2 each entry kept its place, links and state.
    predicate grp_entries_same{L1, L2}(vrt_task_group_t *g) =
        \forall integer i; 0 <= i < \at(g->task_count, L1) ==>
            \at(g->entries[i], L1) == \at(g->entries[i], L2) &&
            \at(g->entries[i]->index, L1) == \at(g->entries[i]->index, L2) &&
            \at(g->entries[i]->group, L1) == \at(g->entries[i]->group, L2) &&
            \at(g->entries[i]->poll_fn, L1) == \at(g->entries[i]->poll_fn, L2) &&
            \at(g->entries[i]->status, L1) == \at(g->entries[i]->status, L2) &&
            \at(g->entries[i]->started, L1) == \at(g->entries[i]->started, L2) &&
            \at(g->entries[i]->next, L1) == \at(g->entries[i]->next, L2);

    // A group as vrt_task_group_new leaves it, but for its settings.
    predicate grp_empty(vrt_task_group_t g) =
        g.head == \null && g.tail == \null && g.task_count == 0 &&
        g.completed_count == 0 && g.cancelled == 0 && g.results == \null &&
        g.entries == \null && g.capacity == 0 && g.next_start == \null &&
        g.started_live == 0 && g.erred == 0 && g.core == \null;
*/

/* ---- memory ---- */

/*@ requires \valid_read(g);
    assigns \nothing;
    ensures \valid_read(\result);
    ensures g->allocator.alloc != \null ==> \result == &g->allocator;
*/
static const vrt_allocator_t *group_allocator(const vrt_task_group_t *g)
{
    return g->allocator.alloc != NULL ? &g->allocator : vrt_default_allocator();
}

/* The allocator is captured by the first spawn that succeeds, so that a
 * failed one leaves the group exactly as it was. */
/*@ requires \valid_read(g);
    assigns errno;
    ensures \result == \null ==> errno == ENOMEM;
    ensures \result != \null ==> \valid((char *)\result + (0 .. size - 1));
*/
static void *group_alloc(vrt_task_group_t *g, size_t size)
{
    void *block = vrt_call_alloc(group_allocator(g), size);
    if (block == NULL)
        errno = ENOMEM;
    return block;
}

/* Keeps errno: a release on a failure path must not hide its cause. */
/*@ requires \valid_read(g);
    assigns errno;
    ensures errno == \old(errno);
*/
static void group_release(vrt_task_group_t *g, void *block)
{
    if (block != NULL) {
        int saved = errno;
        vrt_call_release(group_allocator(g), block);
        errno = saved;
    }
}

#ifdef __FRAMAC__
#include "grp_assumed.h"
#else
/* The calls out of the group (the allocator, its core, the reactor and a
 * task's own poll function), in one place so that the proofs can assume
 * their contracts (proofs/grp_assumed.h): typed allocations, and calls
 * stated against the group's view of the core. */
static inline vrt_task_entry_t *grp_alloc_entry(vrt_task_group_t *g)
{
    return group_alloc(g, sizeof(vrt_task_entry_t));
}

static inline vrt_runtime_t *grp_alloc_core(vrt_task_group_t *g)
{
    return group_alloc(g, sizeof(vrt_runtime_t));
}

static inline vrt_task_entry_t **grp_alloc_entries(vrt_task_group_t *g,
                                                   int64_t cap)
{
    return group_alloc(g, (size_t)cap * sizeof(vrt_task_entry_t *));
}

static inline int64_t *grp_alloc_results(vrt_task_group_t *g, int64_t cap)
{
    return group_alloc(g, (size_t)cap * sizeof(int64_t));
}

static inline vrt_task_group_t *grp_alloc_group(const vrt_allocator_t *a)
{
    return vrt_call_alloc(a, sizeof(vrt_task_group_t));
}

static inline int64_t grp_call_task_poll(vrt_task_entry_t *e)
{
    return e->poll_fn(e->future_ptr);
}

static inline int64_t grp_handle_abort(vrt_runtime_t *core, vrt_join_handle_t *h)
{
    (void)core;
    return vrt_join_handle_abort(h);
}

static inline int64_t grp_handle_release(vrt_runtime_t *core,
                                         vrt_join_handle_t *h)
{
    (void)core;
    return vrt_join_handle_release(h);
}

static inline int64_t grp_handle_status(vrt_join_handle_t *h)
{
    return vrt_join_handle_status(h);
}

static inline vrt_join_handle_t grp_core_spawn(vrt_runtime_t *core,
                                               vrt_task_entry_t *e,
                                               vrt_poll_fn poll_fn)
{
    return vrt_runtime_spawn(core, (int64_t)(intptr_t)e, poll_fn);
}

static inline int64_t grp_core_free(vrt_runtime_t *core)
{
    return vrt_runtime_free(core);
}

static inline vrt_event_loop_t *grp_reactor_loop(void)
{
    vrt_reactor_runtime_t *reactor = vrt_get_reactor();
    return reactor != NULL ? reactor->event_loop : NULL;
}

static inline int64_t grp_loop_turn(vrt_task_group_t *g)
{
    return vrt_loop_turn(g->core, g->core->loop, VRT_NO_FUTURE);
}
#endif

/* Room for entry number g->task_count in entries and results.  0, or -1
 * with ENOMEM and nothing changed.  (e and core: blocks the caller holds,
 * which the new arrays do not overlap.) */
/*@ requires grp_inv(g);
    requires \valid(e) && grp_apart_entry(g, e);
    requires core != \null ==> \valid(core) && grp_apart_core(g, core) &&
                               \separated(core, e);
    assigns errno, g->entries, g->results, g->capacity;
    ensures \result == 0 || \result == -1;
    ensures grp_inv(g) && grp_apart_entry(g, e);
    ensures core != \null ==> grp_apart_core(g, core);
    ensures \result == 0 ==> g->task_count < g->capacity;
    ensures \result == -1 ==> errno == ENOMEM &&
            g->entries == \old(g->entries) && g->results == \old(g->results) &&
            g->capacity == \old(g->capacity);
*/
static int reserve_entry(vrt_task_group_t *g)
    /*@ ghost (vrt_task_entry_t *e, vrt_runtime_t *core) */
{
    if (g->task_count < g->capacity)
        return 0;
    /* GCOVR_EXCL_START: unreachable, 2^58 entries cannot be allocated. */
    if (g->capacity > GROUP_CAPACITY_LIMIT / 2) {
        errno = ENOMEM;
        return -1;
    }
    /* GCOVR_EXCL_STOP */
    int64_t cap = g->capacity == 0 ? 16 : g->capacity * 2;
    vrt_task_entry_t **entries = grp_alloc_entries(g, cap) /*@ ghost (e, core) */;
    if (entries == NULL)
        return -1;
    int64_t *results = grp_alloc_results(g, cap) /*@ ghost (e, core, entries) */;
    if (results == NULL) {
        group_release(g, entries);
        return -1;
    }
    int64_t used = g->task_count;
    /*@ loop invariant 0 <= i <= used;
        loop invariant \forall integer j; 0 <= j < i ==>
            entries[j] == g->entries[j] && results[j] == g->results[j];
        loop assigns i, entries[0 .. used - 1], results[0 .. used - 1];
        loop variant used - i;
    */
    for (int64_t i = 0; i < used; i++) {
        entries[i] = g->entries[i];
        results[i] = g->results[i];
    }
    /*@ loop invariant used <= i <= cap;
        loop assigns i, results[used .. cap - 1];
        loop variant cap - i;
    */
    for (int64_t i = used; i < cap; i++)
        results[i] = 0;
    group_release(g, g->entries);
    group_release(g, g->results);
    g->entries = entries;
    g->results = results;
    g->capacity = cap;
    return 0;
}


/* ---- new and settings ---- */

/*@ assigns \nothing;
    ensures grp_empty(\result) && \result.name == \null;
    ensures \result.cancel_on_error == 1 && \result.max_concurrency == 0;
    ensures \result.allocator.alloc == \null;
*/
vrt_task_group_t vrt_task_group_new(void)
{
    vrt_task_group_t g = {0};
    g.cancel_on_error = 1;
    return g;
}

/*@ assigns \nothing;
    ensures grp_empty(\result) && \result.name == name_ptr;
    ensures \result.cancel_on_error == 1 && \result.max_concurrency == 0;
    ensures \result.allocator.alloc == \null;
*/
vrt_task_group_t vrt_task_group_named(const char *name_ptr)
{
    vrt_task_group_t g = vrt_task_group_new();
    g.name = name_ptr;
    return g;
}

/*@ assigns errno;
    behavior null:
      assumes g == \null;
      ensures \result == 0 && errno == EINVAL;
    behavior valid:
      assumes g != \null;
      assigns \nothing;
      ensures \result == 1 && errno == \old(errno);
    complete behaviors;
    disjoint behaviors;
*/
static int group_valid(const vrt_task_group_t *g)
{
    if (g == NULL) {
        errno = EINVAL;
        return 0;
    }
    return 1;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno, self->cancel_on_error;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior set:
      assumes self != \null;
      ensures \result == 0 && grp_inv(self) && errno == \old(errno);
      ensures self->cancel_on_error == (enabled != 0 ? 1 : 0);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_set_cancel_on_error(vrt_task_group_t *self, int64_t enabled)
{
    if (!group_valid(self))
        return -1;
    /* Each entry lies apart from the group, by the invariant's grp_entry
     * instance: named here (and before the other writes to the group), so
     * that the provers instantiate it, which they do not find on their own
     * within the time limit. */
    /*@ assert \forall integer i; 0 <= i < self->task_count ==>
            grp_entry(self, i) && \separated(self->entries[i], self); */
    //@ assert grp_entries_apart(self);
    self->cancel_on_error = enabled != 0;
    return 0;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno, self->max_concurrency;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior negative:
      assumes self != \null && max < 0;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior set:
      assumes self != \null && max >= 0;
      ensures \result == 0 && self->max_concurrency == max && grp_inv(self);
      ensures errno == \old(errno);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_set_max_concurrency(vrt_task_group_t *self, int64_t max)
{
    if (!group_valid(self))
        return -1;
    if (max < 0) {
        errno = EINVAL;
        return -1;
    }
    /*@ assert \forall integer i; 0 <= i < self->task_count ==>
            grp_entry(self, i) && \separated(self->entries[i], self); */
    self->max_concurrency = max;

    return 0;
}

/* ---- task outcomes ---- */

/*@ requires \valid_read(e);
    assigns \nothing;
    ensures \result == 0 || \result == 1;
    ensures \result == 1 <==> grp_fin(e->status);
*/
static int entry_finished(const vrt_task_entry_t *e)
{
    return e->status == VRT_TASK_COMPLETED || e->status == VRT_TASK_CANCELLED;
}

/* Ends an unfinished entry as CANCELLED; its task, if started, is aborted
 * (its waits go with it) and its node given back. */
/*@ requires grp_shape(g) && grp_is_entry(g, e) && !grp_fin(e->status);
    assigns e->status, e->handle, g->started_live, g->completed_count,
            *g->core, grp_world, errno;
    ensures grp_shape(g);
    ensures e->status == VRT_TASK_CANCELLED;
    ensures g->completed_count == \old(g->completed_count) + 1;
    ensures \forall integer i; 0 <= i < g->task_count && i != e->index ==>
            g->entries[i]->status == \old(g->entries[i]->status);
    ensures e->started == \old(e->started);
    ensures g->task_count == \old(g->task_count) &&
            g->entries == \old(g->entries) &&
            g->next_start == \old(g->next_start);
    ensures \forall integer i; 0 <= i < g->task_count ==>
            g->entries[i] == \old(g->entries[i]) &&
            g->entries[i]->started == \old(g->entries[i]->started);
*/
static void cancel_entry(vrt_task_group_t *g, vrt_task_entry_t *e)
{
    //@ assert grp_entry(g, e->index);
    //@ assert g->core != \null && \separated(e, g) && \separated(e, g->core);
    /*@ assert \forall integer i; 0 <= i < g->task_count && i != e->index ==>
            \separated(g->entries[i], e); */
    if (e->started) {
        grp_handle_abort(g->core, &e->handle);
        grp_handle_release(g->core, &e->handle);
        g->started_live--;
    }
    e->status = VRT_TASK_CANCELLED;
    g->completed_count++;
}

/* Cancels every unfinished entry; returns how many.  (Walks the entries
 * array, which holds the list in order: the proofs need no list cursor.) */
/*@ requires grp_inv(g);
    assigns g->entries[0 .. g->task_count - 1]->status,
            g->entries[0 .. g->task_count - 1]->handle,
            g->started_live, g->completed_count, g->next_start,
            *g->core, grp_world, errno;
    ensures grp_inv(g);
    ensures \result == \old(g->task_count) - \old(g->completed_count);
    ensures g->completed_count == g->task_count && g->next_start == \null;
    ensures \forall integer i; 0 <= i < g->task_count ==>
            grp_fin(g->entries[i]->status) &&
            g->entries[i]->started == \old(g->entries[i]->started) &&
            (grp_fin(\old(g->entries[i]->status)) ==>
                g->entries[i]->status == \old(g->entries[i]->status));
*/
static int64_t cancel_unfinished(vrt_task_group_t *g)
{
    int64_t count = 0;
    /*@ loop invariant 0 <= i <= g->task_count;
        loop invariant grp_shape(g);
        loop invariant g->task_count == \at(g->task_count, Pre) &&
                       g->entries == \at(g->entries, Pre);
        loop invariant \forall integer k; 0 <= k < g->task_count ==>
                       g->entries[k] == \at(g->entries[k], Pre);
        loop invariant count == g->completed_count - \at(g->completed_count, Pre);
        loop invariant \forall integer k; 0 <= k < i ==>
            grp_fin(g->entries[k]->status);
        loop invariant \forall integer k; 0 <= k < g->task_count ==>
            g->entries[k]->started == \at(g->entries[k]->started, Pre) &&
            (grp_fin(\at(g->entries[k]->status, Pre)) ==>
                g->entries[k]->status == \at(g->entries[k]->status, Pre));
        loop assigns i, count, g->entries[0 .. g->task_count - 1]->status,
                     g->entries[0 .. g->task_count - 1]->handle,
                     g->started_live, g->completed_count, *g->core,
                     grp_world, errno;
        loop variant g->task_count - i;
    */
    for (int64_t i = 0; i < g->task_count; i++) {
        vrt_task_entry_t *e = g->entries[i];
        //@ assert grp_list(g) && grp_entry(g, i) && e == g->entries[i];
        if (entry_finished(e))
            continue;
        cancel_entry(g, e);
        count++;
    }
    /* Every entry is finished: none is left to start. */
    g->next_start = NULL;
    return count;
}

/* A started task returned Ready(value). */
/*@ requires grp_inv(g) && grp_is_entry(g, e);
    requires e->started == 1 && e->status == VRT_TASK_PENDING;
    assigns e->status, e->handle, e->has_error, g->results[e->index],
            g->started_live, g->completed_count, g->erred, g->next_start,
            g->entries[0 .. g->task_count - 1]->status,
            g->entries[0 .. g->task_count - 1]->handle,
            *g->core, grp_world, errno;
    ensures grp_inv(g);
    ensures e->status == VRT_TASK_COMPLETED;
    ensures g->results[e->index] == value;
    ensures value < 0 ==> e->has_error == 1 && g->erred == 1;
    ensures value < 0 && g->cancel_on_error != 0 ==>
            g->completed_count == g->task_count;
*/
static void complete_entry(vrt_task_group_t *g, vrt_task_entry_t *e, int64_t value)
{
    //@ assert grp_shape(g) && grp_list(g) && grp_entry(g, e->index);
    //@ assert grp_arrays(g) && grp_core_ok(g) && g->core != \null;
    /*@ assert \separated(e, g) && \separated(e, g->core) &&
               \separated(e, g->entries + (0 .. g->capacity - 1)) &&
               \separated(g->results + e->index, g,
                           g->entries + (0 .. g->capacity - 1)); */
    e->status = VRT_TASK_COMPLETED;
    g->results[e->index] = value;
    grp_handle_release(g->core, &e->handle); /* recycled when its poll returns */
    g->started_live--;
    g->completed_count++;
    /*@ assert g->entries == \at(g->entries, Pre) &&
               g->task_count == \at(g->task_count, Pre) &&
               g->core == \at(g->core, Pre); */
    /*@ assert \forall integer k; 0 <= k < g->task_count ==>
               g->entries[k] == \at(g->entries[k], Pre); */
    if (value < 0) {
        e->has_error = 1;
        g->erred = 1;
        if (g->cancel_on_error)
            cancel_unfinished(g);
    }
}

/* The task's own poll, and its outcome recorded at once. */
/*@ requires grp_polled(e);
    assigns GRP_WORLD;
    ensures e->group == \old(e->group) && grp_inv(e->group);
    ensures grp_is_entry(e->group, e);
    ensures e->status == VRT_TASK_PENDING || grp_fin(e->status);
    ensures vrt_poll_ready_l(\result) && e->status != VRT_TASK_CANCELLED ==>
            e->status == VRT_TASK_COMPLETED;
    ensures !vrt_poll_ready_l(\result) ==> e->status != VRT_TASK_COMPLETED;
*/
static int64_t poll_entry(vrt_task_entry_t *e)
{
    //@ assert grp_shape(e->group) && grp_list(e->group);
    //@ assert grp_entry(e->group, e->index);
    int64_t packed = grp_call_task_poll(e);
    /* Cancelled during its own poll (a sibling, or the task itself, called
     * cancel): the core drops it; its Ready does not count. */
    if (e->status != VRT_TASK_CANCELLED && vrt_poll_is_ready(packed))
        complete_entry(e->group, e, vrt_poll_value(packed));
    return packed;
}

/* What the core polls for a group task: future_ptr is its entry. */
/*@ requires grp_polled((vrt_task_entry_t *)future_ptr);
    assigns GRP_WORLD;
    ensures grp_inv(\old(((vrt_task_entry_t *)future_ptr)->group));
*/
static int64_t poll_group_task(int64_t future_ptr)
{
    return poll_entry((vrt_task_entry_t *)(intptr_t)future_ptr);
}

/* ---- spawn and run ---- */

/*@ requires self == \null || grp_inv(self);
    assigns errno, *self, self->tail->next,
            self->entries[self->task_count], self->results[self->task_count];
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior no_poll_fn:
      assumes self != \null && poll_fn == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
      ensures grp_inv(self);
    behavior cancelled:
      assumes self != \null && poll_fn != \null && self->cancelled != 0;
      assigns errno;
      ensures \result == -1 && errno == ECANCELED;
      ensures grp_inv(self);
    behavior full:
      assumes self != \null && poll_fn != \null && self->cancelled == 0;
      assumes self->task_count - self->completed_count >= VRT_MAX_TASKS;
      assigns errno;
      ensures \result == -1 && errno == EAGAIN;
      ensures grp_inv(self);
    behavior spawn:
      assumes self != \null && poll_fn != \null && self->cancelled == 0;
      assumes self->task_count - self->completed_count < VRT_MAX_TASKS;
      ensures grp_inv(self);
      ensures \result == -1 ==> errno == ENOMEM &&
              grp_unchanged{Pre, Post}(self);
      ensures \result != -1 ==> \result == \old(self->task_count) &&
              self->task_count == \old(self->task_count) + 1 &&
              self->completed_count == \old(self->completed_count) &&
              self->tail == self->entries[\result] &&
              self->tail->status == VRT_TASK_PENDING &&
              self->tail->started == 0 &&
              self->tail->future_ptr == future_ptr &&
              self->tail->poll_fn == poll_fn &&
              self->results[\result] == 0;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_spawn(vrt_task_group_t *self, int64_t future_ptr,
                             vrt_poll_fn poll_fn)
{
    if (!group_valid(self))
        return -1;
    if (poll_fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (self->cancelled) {
#ifdef VRT_MUTANT_CANCELLED_IS_EINVAL /* test-only: one wrong errno (make fuzz-planted) */
        errno = EINVAL;
#else
        errno = ECANCELED;
#endif
        return -1;
    }
    if (self->task_count - self->completed_count >= VRT_MAX_TASKS) {
        errno = EAGAIN;
        return -1;
    }
    /* Everything that can fail comes first, and is undone on failure. */
    vrt_task_entry_t *e = grp_alloc_entry(self);
    if (e == NULL)
        return -1;
    vrt_runtime_t *new_core = NULL;
    if (self->core == NULL &&
        (new_core = grp_alloc_core(self) /*@ ghost (e) */) == NULL) {
        group_release(self, e);
        return -1;
    }
    if (reserve_entry(self) /*@ ghost (e, new_core) */ != 0) {
        group_release(self, new_core);
        group_release(self, e);
        return -1;
    }
    if (new_core != NULL) {
        *new_core = vrt_runtime_new(); /* the core of the group's tasks */
        self->core = new_core;
    }
    if (self->allocator.alloc == NULL)
        self->allocator = *group_allocator(self);
    *e = (vrt_task_entry_t){
        .index = self->task_count,
        .status = VRT_TASK_PENDING,
        .group = self,
        .future_ptr = future_ptr,
        .poll_fn = poll_fn,
        .handle = {.task_id = -1, .task_ptr = NULL},
    };
    if (self->tail != NULL)
        self->tail->next = e;
    else
        self->head = e;
    self->tail = e;
    if (self->next_start == NULL)
        self->next_start = e;
    self->entries[e->index] = e;
    self->results[e->index] = 0;
    self->task_count++;
    return e->index;
}

/* Starts entries in spawn order while max_concurrency allows.  0, or -1
 * with the core's errno (ENOMEM) and the entry left unstarted. */
/*@ requires grp_inv(g) && g->task_count > 0;
    assigns g->next_start, g->started_live,
            g->entries[0 .. g->task_count - 1]->handle,
            g->entries[0 .. g->task_count - 1]->started,
            *g->core, grp_world, errno;
    ensures grp_inv(g);
    ensures \result == 0 || \result == -1;
    ensures g->started_live >= \old(g->started_live);
    ensures g->max_concurrency != 0 &&
            \old(g->started_live) <= g->max_concurrency ==>
            g->started_live <= g->max_concurrency;
    ensures \result == 0 ==> g->next_start == \null ||
            (g->max_concurrency != 0 &&
             g->started_live >= g->max_concurrency);
*/
static int start_entries(vrt_task_group_t *g)
{
    /*@ loop invariant grp_inv(g);
        loop invariant g->started_live >= \at(g->started_live, Pre);
        loop invariant g->max_concurrency != 0 &&
                       \at(g->started_live, Pre) <= g->max_concurrency ==>
                       g->started_live <= g->max_concurrency;
        loop assigns g->next_start, g->started_live,
                     g->entries[0 .. g->task_count - 1]->handle,
                     g->entries[0 .. g->task_count - 1]->started,
                     *g->core, grp_world, errno;
        loop variant g->task_count - grp_first_unstarted(g);
    */
    while (g->next_start != NULL &&
           (g->max_concurrency == 0 || g->started_live < g->max_concurrency)) {
        vrt_task_entry_t *e = g->next_start;
        //@ assert grp_shape(g) && grp_order(g);
        //@ assert grp_list(g) && grp_core_ok(g) && g->task_count > 0;
        //@ assert 0 <= e->index < g->task_count && g->entries[e->index] == e;
        //@ assert grp_entry(g, e->index);
        //@ assert \valid(g->core) && \valid(e) && \separated(g->core, e);
        /*@ assert \separated(g->core, g) && \separated(e, g) &&
                   \separated(g->core, g->entries + (0 .. g->capacity - 1)) &&
                   \separated(e, g->entries + (0 .. g->capacity - 1)); */
        vrt_join_handle_t h = grp_core_spawn(g->core, e, poll_group_task);
        if (h.task_ptr == NULL)
            return -1;
        /*@ assert g->task_count == \at(g->task_count, LoopCurrent) &&
                   g->entries == \at(g->entries, LoopCurrent) &&
                   0 <= e->index < g->task_count &&
                   g->entries[e->index] == e; */
        e->handle = h;
        e->started = 1;
        g->started_live++;
        g->next_start = e->next;
    }
    return 0;
}

/*@ requires self == \null || grp_inv(self);
    assigns GRP_WORLD;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes self != \null && self->core != \null && self->core->running != 0;
      assigns errno;
      ensures \result == -1 && errno == EBUSY;
      ensures grp_inv(self);
    behavior run:
      assumes self != \null &&
              (self->core == \null || self->core->running == 0);
      ensures grp_inv(self);
      ensures -1 <= \result <= 1;
      ensures \result >= 0 ==> self->completed_count == self->task_count;
      ensures \result == 0 ==> self->erred == 0 && self->cancelled == 0;
      ensures \result == 1 ==> self->erred != 0 || self->cancelled != 0;
      ensures self->core != \null ==> self->core->running == 0;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_run(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    if (self->core != NULL && vrt_sched_idle(self->core) != 0)
        return -1; /* EBUSY: run from inside one of its own tasks */
    if (self->core != NULL) {
        /* The tasks may wait on the global reactor's loop: bind to it (made
         * now if need be; without it, waits fail with EINVAL). */
        /*@ assert \forall integer i; 0 <= i < self->task_count ==>
                grp_entry(self, i) &&
                \separated(self->entries[i], self->core); */
        self->core->loop = grp_reactor_loop();
        self->core->running = 1;
    }
    int64_t rc = 0;
    /*@ loop invariant grp_inv(self);
        loop invariant rc == 0 || rc == -1;
        loop invariant self->core == \at(self->core, Pre);
        loop assigns rc, GRP_WORLD;
    */
    while (rc == 0 && self->completed_count < self->task_count) {
        /*@ assert \forall integer i; 0 <= i < self->task_count ==>
                grp_entry(self, i) && \separated(self->entries[i], self); */
        //@ assert grp_entries_apart(self);
        rc = start_entries(self);
        if (rc == 0)
            rc = grp_loop_turn(self);
    }
    if (self->core != NULL) {
        /*@ assert \forall integer i; 0 <= i < self->task_count ==>
                grp_entry(self, i) &&
                \separated(self->entries[i], self->core); */
        self->core->running = 0;
    }
    if (rc != 0)
        return -1;
    return (self->erred || self->cancelled) ? 1 : 0;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno, self->cancelled, self->next_start, self->started_live,
            self->completed_count,
            self->entries[0 .. self->task_count - 1]->status,
            self->entries[0 .. self->task_count - 1]->handle,
            *self->core, grp_world;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior cancel:
      assumes self != \null;
      ensures grp_inv(self) && self->cancelled == 1;
      ensures \result == \old(self->task_count - self->completed_count);
      ensures self->completed_count == self->task_count;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_cancel(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    /*@ assert \forall integer i; 0 <= i < self->task_count ==>
            grp_entry(self, i) && \separated(self->entries[i], self); */
    //@ assert grp_entries_apart(self);
    self->cancelled = 1;
    return cancel_unfinished(self);
}

/*@ requires self == \null || grp_inv(self);
    assigns errno, self->next_start, self->started_live,
            self->completed_count,
            self->entries[0 .. self->task_count - 1]->status,
            self->entries[0 .. self->task_count - 1]->handle,
            *self->core, grp_world;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior cancel:
      assumes self != \null;
      ensures grp_inv(self) && self->cancelled == \old(self->cancelled);
      ensures \result == \old(self->task_count - self->completed_count);
      ensures self->completed_count == self->task_count;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_cancel_remaining(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    /*@ assert \forall integer i; 0 <= i < self->task_count ==>
            grp_entry(self, i) && \separated(self->entries[i], self); */
    //@ assert grp_entries_apart(self);
    return cancel_unfinished(self);
}

/* ---- queries ---- */

/*@ requires self == \null || grp_inv(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior query:
      assumes self != \null;
      ensures errno == \old(errno);
      ensures \result == self->completed_count && 0 <= \result <= self->task_count;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_completed(vrt_task_group_t *self)
{
    return group_valid(self) ? self->completed_count : -1;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior query:
      assumes self != \null;
      ensures errno == \old(errno);
      ensures \result == self->task_count && 0 <= \result;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_total(vrt_task_group_t *self)
{
    return group_valid(self) ? self->task_count : -1;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior query:
      assumes self != \null;
      ensures errno == \old(errno);
      ensures \result == (self->completed_count == self->task_count ? 1 : 0);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_is_done(vrt_task_group_t *self)
{
    return group_valid(self) ? self->completed_count == self->task_count : -1;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior query:
      assumes self != \null;
      ensures errno == \old(errno);
      ensures \result == self->cancelled;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_is_cancelled(vrt_task_group_t *self)
{
    return group_valid(self) ? self->cancelled : -1;
}

/* The entry at index, or NULL with EINVAL / ERANGE. */
/*@ requires g == \null || grp_inv(g);
    assigns errno;
    behavior null:
      assumes g == \null;
      ensures \result == \null && errno == EINVAL;
    behavior range:
      assumes g != \null && (index < 0 || index >= g->task_count);
      ensures \result == \null && errno == ERANGE;
    behavior entry:
      assumes g != \null && 0 <= index < g->task_count;
      ensures errno == \old(errno);
      ensures \result == g->entries[index] && \result != \null;
      ensures grp_is_entry(g, \result);
    complete behaviors;
    disjoint behaviors;
*/
static vrt_task_entry_t *entry_at(vrt_task_group_t *g, int64_t index)
{
    if (!group_valid(g))
        return NULL;
    if (index < 0 || index >= g->task_count) {
        errno = ERANGE;
        return NULL;
    }
    //@ assert grp_shape(g) && grp_list(g);
    //@ assert grp_entry(g, index);
    return g->entries[index];
}

/*@ requires self == \null || grp_inv(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == 0 && errno == EINVAL;
    behavior range:
      assumes self != \null && (index < 0 || index >= self->task_count);
      ensures \result == 0 && errno == ERANGE;
    behavior entry:
      assumes self != \null && 0 <= index < self->task_count;
      ensures errno == \old(errno);
      ensures \result == self->results[index];
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_result(vrt_task_group_t *self, int64_t index)
{
    return entry_at(self, index) != NULL ? self->results[index] : 0;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == 0 && errno == EINVAL;
    behavior range:
      assumes self != \null && (index < 0 || index >= self->task_count);
      ensures \result == 0 && errno == ERANGE;
    behavior entry:
      assumes self != \null && 0 <= index < self->task_count;
      ensures errno == \old(errno);
      ensures \result == self->entries[index]->has_error;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_has_error(vrt_task_group_t *self, int64_t index)
{
    vrt_task_entry_t *e = entry_at(self, index);
    return e != NULL ? e->has_error : 0;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior range:
      assumes self != \null && (index < 0 || index >= self->task_count);
      ensures \result == -1 && errno == ERANGE;
    behavior settled:
      assumes self != \null && 0 <= index < self->task_count;
      assumes self->entries[index]->started == 0 ||
              grp_fin(self->entries[index]->status);
      ensures errno == \old(errno);
      ensures \result == self->entries[index]->status;
    behavior live:
      assumes self != \null && 0 <= index < self->task_count;
      assumes self->entries[index]->started != 0 &&
              !grp_fin(self->entries[index]->status);
      ensures -1 <= \result <= VRT_TASK_CANCELLED;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_task_status(vrt_task_group_t *self, int64_t index)
{
    vrt_task_entry_t *e = entry_at(self, index);
    if (e == NULL)
        return -1;
    if (e->started && !entry_finished(e))
        return grp_handle_status(&e->handle);
    return e->status;
}

/* ---- cleanup ---- */

/* Leaves g as a cleanup does: fresh is an empty group with g's settings. */
/*@ requires \valid(g) && grp_empty(fresh) && 0 <= fresh.max_concurrency;
    assigns *g;
    ensures grp_inv(g) && grp_empty(*g);
    ensures g->name == fresh.name;
    ensures g->cancel_on_error == fresh.cancel_on_error;
    ensures g->max_concurrency == fresh.max_concurrency;
    ensures g->allocator.alloc == fresh.allocator.alloc &&
            g->allocator.release == fresh.allocator.release &&
            g->allocator.ctx == fresh.allocator.ctx;
    ensures g->allocator == fresh.allocator;
*/
static void group_reset(vrt_task_group_t *g, vrt_task_group_t fresh)
{
    *g = fresh;
}

/*@ requires self == \null || grp_inv(self);
    assigns errno, *self, *self->core, grp_world,
            self->entries[0 .. self->task_count - 1]->status,
            self->entries[0 .. self->task_count - 1]->handle;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes self != \null && self->core != \null && self->core->running != 0;
      assigns errno;
      ensures \result == -1 && errno == EBUSY;
    behavior clean:
      assumes self != \null &&
              (self->core == \null || self->core->running == 0);
      ensures \result == 0 && grp_inv(self) && grp_empty(*self);
      ensures self->name == \old(self->name);
      ensures self->cancel_on_error == \old(self->cancel_on_error);
      ensures self->max_concurrency == \old(self->max_concurrency);
      ensures self->allocator.alloc == \old(self->allocator.alloc) &&
              self->allocator.release == \old(self->allocator.release) &&
              self->allocator.ctx == \old(self->allocator.ctx);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_group_cleanup(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    if (self->core != NULL && vrt_sched_idle(self->core) != 0)
        return -1;
    /* What the group keeps (its settings) and its core, read before its
     * tasks go: cancelling them writes only the entries and the core. */
    vrt_task_group_t fresh = vrt_task_group_named(self->name);
    fresh.cancel_on_error = self->cancel_on_error;
    fresh.max_concurrency = self->max_concurrency;
    fresh.allocator = self->allocator; /* a scoped task's group was made by it */
    /*@ assert fresh.allocator.alloc == self->allocator.alloc &&
               fresh.allocator.release == self->allocator.release &&
               fresh.allocator.ctx == self->allocator.ctx; */
    vrt_runtime_t *core = self->core;
    //@ assert 0 <= fresh.max_concurrency;
    cancel_unfinished(self);
    /* The entries array holds the list in order, head first. */
    //@ assert grp_shape(self) && grp_arrays(self);
    /*@ loop invariant 0 <= i <= self->task_count;
        loop invariant \valid_read(self->entries + (0 .. self->task_count - 1));
        loop assigns i, errno;
        loop variant self->task_count - i;
    */
    for (int64_t i = 0; i < self->task_count; i++)
        group_release(self, self->entries[i]);
    if (core != NULL) {
        grp_core_free(core);
        group_release(self, core);
    }
    group_release(self, self->entries);
    group_release(self, self->results);
    group_reset(self, fresh);
    return 0;
}

/* ---- ScopedTask ---- */

/*@ assigns errno;
    ensures \result.group == \null ==> errno == ENOMEM;
    ensures \result.group != \null ==> grp_inv(\result.group) &&
            grp_empty(*\result.group) && \result.group->cancel_on_error == 1 &&
            \result.group->max_concurrency == 0;
*/
vrt_scoped_task_t vrt_scoped_task_new(void)
{
    vrt_scoped_task_t scoped = {NULL};
    const vrt_allocator_t *a = vrt_default_allocator();
    vrt_task_group_t *g = grp_alloc_group(a);
    if (g == NULL) {
        errno = ENOMEM;
        return scoped;
    }
    *g = vrt_task_group_new();
    g->allocator = *a; /* so that the group is freed where it came from */
    scoped.group = g;
    return scoped;
}

/*@ requires self == \null || \valid(self);
    assigns errno;
    behavior none:
      assumes self == \null || self->group == \null;
      ensures \result == \null && errno == EINVAL;
    behavior group:
      assumes self != \null && self->group != \null;
      assigns \nothing;
      ensures \result == self->group;
    complete behaviors;
    disjoint behaviors;
*/
static vrt_task_group_t *scoped_group(vrt_scoped_task_t *self)
{
    if (self == NULL || self->group == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return self->group;
}

/*@ requires self == \null || (\valid(self) &&
             (self->group != \null ==> grp_inv(self->group) &&
                                       \separated(self, self->group)));
    // The scoped task lies apart from what spawn writes: the group's
    // tail entry and its entries array up to the new slot.
    requires self != \null && self->group != \null ==>
             \separated(self, self->group->entries +
                                   (0 .. self->group->task_count)) &&
             (self->group->tail != \null ==>
                 \separated(self, self->group->tail));
    assigns errno, *self->group, self->group->tail->next,
            self->group->entries[self->group->task_count],
            self->group->results[self->group->task_count];
    behavior none:
      assumes self == \null || self->group == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior spawn:
      assumes self != \null && self->group != \null;
      ensures grp_inv(self->group);
      ensures \result == -1 || \result == \old(self->group->task_count);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_scoped_task_spawn(vrt_scoped_task_t *self, int64_t future_ptr,
                              vrt_poll_fn poll_fn)
{
    vrt_task_group_t *g = scoped_group(self);
    return g == NULL ? -1 : vrt_task_group_spawn(g, future_ptr, poll_fn);
}

/*@ requires self == \null || (\valid(self) &&
             (self->group != \null ==> grp_inv(self->group) &&
                                       \separated(self, self->group)));
    assigns GRP_WORLD, *self;
    behavior none:
      assumes self == \null || self->group == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes self != \null && self->group != \null &&
              self->group->core != \null && self->group->core->running != 0;
      ensures \result == -1;
    behavior run:
      assumes self != \null && self->group != \null &&
              (self->group->core == \null || self->group->core->running == 0);
      ensures self->group == \null && -1 <= \result <= 1;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_scoped_task_run_and_cleanup(vrt_scoped_task_t *self)
{
    vrt_task_group_t *g = scoped_group(self);
    if (g == NULL)
        return -1;
    int64_t rc = vrt_task_group_run(g);
    int saved = errno;
    if (vrt_task_group_cleanup(g) != 0)
        return -1; /* EBUSY: called from inside one of its own tasks */
    vrt_allocator_t a = g->allocator;
    vrt_call_release(&a, g);
    self->group = NULL;
    errno = saved;
    return rc;
}
