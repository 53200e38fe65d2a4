/*
 * The scheduler core shared by Runtime (and, as they land, ReactorRuntime and
 * TaskGroup): the node pool and the run queue.  Nothing here is public API.
 *
 * ACSL: the predicates below are the logical view the contracts are written
 * against; proofs/ discharges them with Frama-C WP.
 */
#ifndef VRT_INTERNAL_H
#define VRT_INTERNAL_H

#include "vrt.h"

/* Nodes per slab.  Slabs are never returned to the allocator before the
 * runtime is freed, so a stale handle always points at readable memory. */
#define VRT_SLAB_NODES 64

struct vrt_slab {
    struct vrt_slab *next;
    vrt_task_node_t nodes[VRT_SLAB_NODES];
};

/*@ predicate live_status(integer s) =
        s == VRT_TASK_PENDING || s == VRT_TASK_RUNNING || s == VRT_TASK_READY;
    predicate finished_status(integer s) =
        s == VRT_TASK_COMPLETED || s == VRT_TASK_CANCELLED;
    logic integer effective_limit{L}(vrt_runtime_t *rt) =
        rt->max_tasks == 0 ? VRT_MAX_TASKS : rt->max_tasks;
    predicate within_limit{L}(vrt_runtime_t *rt) =
        0 <= rt->task_count <= effective_limit(rt);
    predicate empty_queue{L}(vrt_runtime_t *rt) =
        rt->head == \null && rt->tail == \null;

    // (The lemmas are read by the core's proof set only, VRT_WP_CORE: WP
    // puts every lemma in scope into every goal of a set.)
    // An element of a slab: the only nodes the pool hands out.  A slab is a
    // block of its own (the allocator returns fresh blocks), so two distinct
    // slab nodes never overlap, which WP's Typed memory model does not know
    // of two arbitrary node pointers (one may point into the other).
    predicate slab_node(vrt_task_node_t *n) =
        \exists struct vrt_slab *s, integer i;
            \offset(s) == 0 && 0 <= i < VRT_SLAB_NODES && n == &s->nodes[i];
#ifdef VRT_WP_CORE
    lemma slab_nodes_apart:
        \forall vrt_task_node_t *a, *b;
            slab_node(a) && slab_node(b) && a != b ==> \separated(a, b);
    // A slab node that overlaps a slab is one of its nodes.
    lemma slab_node_of_slab:
        \forall vrt_task_node_t *n, struct vrt_slab *s;
            slab_node(n) && \offset(s) == 0 && !\separated(n, s) ==>
            \exists integer k; 0 <= k < VRT_SLAB_NODES && n == &s->nodes[k];
#endif

    // A node linked in rt's run queue.
    predicate in_queue{L}(vrt_runtime_t *rt, vrt_task_node_t *n) =
        \valid(n) && slab_node(n) && n->owner == rt &&
        (n->flags & VRT_NODE_QUEUED) != 0;
    // node (a task or a block_on future) overlaps no queued node but itself.
    predicate apart_from_queue{L}(vrt_runtime_t *rt, vrt_task_node_t *node) =
        \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            n == node || \separated(n, node);
#ifdef VRT_WP_CORE
    lemma slab_node_apart_from_queue{L}:
        \forall vrt_runtime_t *rt, vrt_task_node_t *node;
            slab_node(node) ==> apart_from_queue(rt, node);
#endif

    // The run queue is doubly linked, head has no predecessor, tail is the
    // node without a successor, and the QUEUED nodes of rt are exactly the
    // nodes reachable through the links (every link stays among them).
    predicate queue_links{L}(vrt_runtime_t *rt) =
        (rt->head == \null <==> rt->tail == \null) &&
        (rt->head != \null ==> in_queue(rt, rt->head) && rt->head->prev == \null) &&
        (rt->tail != \null ==> in_queue(rt, rt->tail) && rt->tail->next == \null) &&
        (\forall vrt_task_node_t *n; in_queue(rt, n) ==>
            \separated(n, rt) &&
            (n->next == \null ==> rt->tail == n) &&
            (n->next != \null ==> in_queue(rt, n->next) && n->next->prev == n) &&
            (n->prev == \null ==> rt->head == n) &&
            (n->prev != \null ==> in_queue(rt, n->prev) && n->prev->next == n));

    // Between L1 and L2 the queue kept its nodes and their links.
    predicate queue_kept{L1, L2}(vrt_runtime_t *rt) =
        \at(rt->head, L1) == \at(rt->head, L2) &&
        \at(rt->tail, L1) == \at(rt->tail, L2) &&
        (\forall vrt_task_node_t *n;
            in_queue{L1}(rt, n) <==> in_queue{L2}(rt, n)) &&
        (\forall vrt_task_node_t *n; in_queue{L1}(rt, n) ==>
            \at(n->next, L1) == \at(n->next, L2) &&
            \at(n->prev, L1) == \at(n->prev, L2));

    // Between L1 and L2 the runtime's counts and state kept their values
    // (what the pool and the event loop never write).
    predicate rt_counts_kept{L1, L2}(vrt_runtime_t *rt) =
        \at(rt->task_count, L1) == \at(rt->task_count, L2) &&
        \at(rt->parked_count, L1) == \at(rt->parked_count, L2) &&
        \at(rt->max_tasks, L1) == \at(rt->max_tasks, L2) &&
        \at(rt->next_task_id, L1) == \at(rt->next_task_id, L2) &&
        \at(rt->running, L1) == \at(rt->running, L2) &&
        \at(rt->current_task, L1) == \at(rt->current_task, L2) &&
        \at(rt->loop, L1) == \at(rt->loop, L2);

    predicate counts_ok{L}(vrt_runtime_t *rt) =
        0 <= rt->max_tasks <= VRT_MAX_TASKS_LIMIT && within_limit(rt) &&
        0 <= rt->parked_count <= rt->task_count;

    // The invariant every API function keeps.
    predicate sched_inv{L}(vrt_runtime_t *rt) =
        \valid(rt) && queue_links(rt) && counts_ok(rt);

    // The global model of the queue (Blanchard, Kosmatov, Loulergue, the
    // verified Contiki list): q[0 .. n-1] is the queue in order, acyclic
    // (pairwise distinct), doubly linked, tail is last, n == the number of
    // queued tasks (task_count - parked_count), within the limit.
    predicate queue_model{L}(vrt_runtime_t *rt, vrt_task_node_t **q, integer n) =
        0 <= n && \valid(q + (0 .. n - 1)) &&
        (n == 0 ==> empty_queue(rt)) &&
        (n > 0 ==> rt->head == q[0] && rt->tail == q[n - 1] &&
                   q[0]->prev == \null && q[n - 1]->next == \null) &&
        (\forall integer i; 0 <= i < n ==> in_queue(rt, q[i])) &&
        (\forall integer i; 0 <= i < n - 1 ==>
            q[i]->next == q[i + 1] && q[i + 1]->prev == q[i]) &&
        (\forall integer i, j; 0 <= i < j < n ==> q[i] != q[j]);
    predicate queue_counted{L}(vrt_runtime_t *rt, vrt_task_node_t **q, integer n) =
        queue_model(rt, q, n) && counts_ok(rt) &&
        n == rt->task_count - rt->parked_count;

    // A handle whose node (if any) is readable; live: it names its node.
    predicate handle_ok{L}(vrt_join_handle_t *h) =
        h == \null || (\valid(h) &&
            (h->task_ptr != \null ==> \valid(h->task_ptr)));
    predicate handle_live{L}(vrt_join_handle_t *h) =
        h != \null && h->task_ptr != \null && h->task_id >= 0 &&
        h->task_ptr->id == h->task_id &&
        (h->task_ptr->flags & VRT_NODE_FREE) == 0 &&
        (h->task_ptr->flags & VRT_NODE_DETACHED) == 0;
    // What the runtime invariant (count == queue length + parked) gives for
    // a live task's node: its owner is consistent and may count it down.
    predicate node_owned{L}(vrt_task_node_t *n) =
        sched_inv(n->owner) && \separated(n->owner, n) && slab_node(n) &&
        ((n->flags & VRT_NODE_PARKED) != 0 ==> n->owner->parked_count > 0) &&
        ((n->flags & VRT_NODE_PARKED) == 0 ==>
            n->owner->task_count > n->owner->parked_count);

    // The free list (local view): every free node of rt is valid and points
    // to a free node of rt or to nothing.
    predicate free_node{L}(vrt_runtime_t *rt, vrt_task_node_t *n) =
        \valid(n) && slab_node(n) && \separated(n, rt) && n->owner == rt &&
        n->flags == VRT_NODE_FREE && n->id == -1;
    predicate free_links{L}(vrt_runtime_t *rt) =
        (rt->free_list != \null ==> free_node(rt, rt->free_list)) &&
        (\forall vrt_task_node_t *n; free_node(rt, n) ==>
            n->next == \null || free_node(rt, n->next));
*/

#ifdef __FRAMAC__
#include "vrt_assumed.h"
#else
/* The calls through function pointers, in one place so that the proofs can
 * assume their contracts (proofs/vrt_assumed.h). */
static inline int64_t vrt_call_poll(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    (void)rt;
    return node->poll_fn(node->future_ptr);
}

static inline void *vrt_call_alloc(const vrt_allocator_t *allocator,
                                   size_t size)
{
    return allocator->alloc(allocator->ctx, size);
}

static inline void vrt_call_release(const vrt_allocator_t *allocator,
                                    void *block)
{
    allocator->release(allocator->ctx, block);
}

/* The pool's typed calls: the proofs assume a slab comes back valid and
 * apart from the runtime (proofs/vrt_assumed.h). */
static inline struct vrt_slab *vrt_call_alloc_slab(const vrt_allocator_t *allocator,
                                                   const vrt_runtime_t *rt)
{
    (void)rt;
    return vrt_call_alloc(allocator, sizeof(struct vrt_slab));
}

static inline void vrt_call_release_slab(const vrt_allocator_t *allocator,
                                         struct vrt_slab *slab)
{
    vrt_call_release(allocator, slab);
}
#endif

/* The live-task limit in force. */
/*@ requires \valid_read(rt);
    assigns \nothing;
    ensures \result == effective_limit(rt);
*/
int64_t vrt_sched_limit(const vrt_runtime_t *rt);

/* ---- node pool (pool.c) ---- */

/* The allocator new runtimes and loops capture (vrt_set_allocator). */
/*@ assigns \nothing;
    ensures \valid(\result);
*/
const vrt_allocator_t *vrt_default_allocator(void);

/* Takes a free node, growing the pool by one slab if needed.  NULL with
 * ENOMEM when the allocator fails; the runtime is then unchanged. */
/*@ requires \valid(rt) && 0 <= rt->slab_count < 0x100000000;
    requires queue_links(rt);
    assigns rt->free_list, rt->slabs, rt->slab_count, rt->allocator, errno,
            { *vrt_w_n | vrt_task_node_t *vrt_w_n; \true },
            { *vrt_w_b | struct vrt_slab *vrt_w_b; \true };
    ensures queue_kept{Pre, Post}(rt);
    ensures rt_counts_kept{Pre, Post}(rt);
    behavior has_free:
      assumes rt->free_list != \null;
      requires free_node(rt, rt->free_list);
      ensures \result == \old(rt->free_list);
      ensures rt->free_list == \old(rt->free_list->next);
      ensures \result->next == \null && \result->flags == 0;
      ensures \result->owner == rt && \result->id == -1;
      ensures \separated(\result, rt) && slab_node(\result);
    behavior must_grow:
      assumes rt->free_list == \null;
      ensures \result == \null ==> errno == ENOMEM &&
              rt->free_list == \null && rt->slab_count == \old(rt->slab_count);
      ensures \result != \null ==> \valid(\result) && \result->owner == rt &&
              \separated(\result, rt) && slab_node(\result) &&
              \result->next == \null && \result->flags == 0;
    complete behaviors;
    disjoint behaviors;
*/
vrt_task_node_t *vrt_pool_take(vrt_runtime_t *rt);

/* Puts a node that is neither queued nor current back on the free list. */
/*@ requires \valid(rt) && \valid(node) && \separated(rt, node);
    requires node->owner == rt && slab_node(node);
    requires (node->flags & VRT_NODE_QUEUED) == 0;
    assigns *node, rt->free_list;
    ensures rt->free_list == node && free_node(rt, node);
    ensures node->next == \old(rt->free_list);
    ensures node->prev == \null && node->waits == \null;
    ensures rt_counts_kept{Pre, Post}(rt);
    ensures queue_links{Pre}(rt) ==> queue_kept{Pre, Post}(rt);
    ensures queue_links{Pre}(rt) ==> queue_links(rt);
*/
void vrt_pool_put(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Releases every slab to the allocator that gave it. */
/*@ requires \valid(rt);
    requires rt->slab_count > 0 ==> rt->allocator.release != \null;
    assigns rt->slabs, rt->slab_count, rt->free_list, errno;
    ensures rt->slabs == \null && rt->slab_count == 0 && rt->free_list == \null;
*/
void vrt_pool_release_all(vrt_runtime_t *rt);

/* ---- run queue (sched.c) ---- */

/*@ requires \valid(rt) && \valid(node) && \separated(rt, node);
    requires queue_links(rt) && slab_node(node);
    requires node->owner == rt && (node->flags & VRT_NODE_QUEUED) == 0;
    assigns rt->head, rt->tail, rt->tail->next, node->next, node->prev,
            node->flags;
    ensures queue_links(rt) && in_queue(rt, node);
    ensures rt->tail == node && node->next == \null;
    ensures node->prev == \old(rt->tail);
    ensures \old(rt->tail) == \null ==> rt->head == node;
    ensures \old(rt->tail) != \null ==> rt->head == \old(rt->head);
    ensures node->flags == (\old(node->flags) | VRT_NODE_QUEUED);
    ensures \forall vrt_task_node_t *n; in_queue{Pre}(rt, n) ==> in_queue(rt, n);
    ensures rt_counts_kept{Pre, Post}(rt) && rt->free_list == \old(rt->free_list);
*/
void vrt_sched_link_tail(vrt_runtime_t *rt, vrt_task_node_t *node);

/*@ requires \valid(rt) && queue_links(rt) && in_queue(rt, node);
    assigns rt->head, rt->tail, node->prev->next, node->next->prev,
            node->next, node->prev, node->flags;
    ensures queue_links(rt) && !in_queue(rt, node);
    ensures node->next == \null && node->prev == \null;
    ensures node->flags == (\old(node->flags) & ~VRT_NODE_QUEUED);
    ensures \forall vrt_task_node_t *n; n != node ==>
            (in_queue{Pre}(rt, n) <==> in_queue(rt, n));
    ensures rt_counts_kept{Pre, Post}(rt) && rt->free_list == \old(rt->free_list);
*/
void vrt_sched_unlink(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Ends a live task with a final status: out of the queue, task_count down,
 * recycled at once if its handle was released. */
/*@ requires sched_inv(rt) && \valid(node) && \separated(rt, node);
    requires node->owner == rt && (node->flags & VRT_NODE_FREE) == 0;
    requires slab_node(node);
    requires finished_status(status);
    requires (node->flags & VRT_NODE_PARKED) != 0 ==> rt->parked_count > 0;
    requires (node->flags & VRT_NODE_PARKED) == 0 ==>
             rt->task_count > rt->parked_count;
    assigns rt->head, rt->tail, rt->task_count, rt->parked_count,
            rt->free_list, *node, node->prev->next, node->next->prev,
            VRT_LOOP_WORLD;
    ensures sched_inv(rt) && !in_queue(rt, node);
    ensures rt->task_count == \old(rt->task_count) - 1;
    ensures (node->flags & VRT_NODE_QUEUED) == 0;
    ensures (\old(node->flags) & VRT_NODE_DETACHED) == 0 ==>
            node->status == status && node->result == result &&
            (node->flags & (VRT_NODE_PARKED | VRT_NODE_WAITING)) == 0;
    ensures (\old(node->flags) & VRT_NODE_DETACHED) != 0 ==>
            free_node(rt, node) && rt->free_list == node;
    ensures \forall vrt_task_node_t *n; n != node ==>
            (in_queue{Pre}(rt, n) <==> in_queue(rt, n));
*/
void vrt_sched_finish(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t status, int64_t result);

/* Polls one task with current_task set around the call; returns the packed
 * result, which the caller settles. */
/*@ requires sched_inv(rt) && \valid(node) && \separated(rt, node);
    requires apart_from_queue(rt, node);
    requires node->poll_fn != \null;
    assigns VRT_WORLD;
    ensures sched_inv(rt) && rt->current_task == \null;
    ensures node->poll_fn == \old(node->poll_fn);
    ensures in_queue{Pre}(rt, node) ==> in_queue(rt, node);
    ensures in_queue(rt, node) ==> rt->task_count > rt->parked_count;
    ensures in_queue(rt, node) ==> (node->flags & VRT_NODE_PARKED) == 0 &&
                                 (node->flags & VRT_NODE_FREE) == 0;
    ensures rt->running == \old(rt->running);
*/
int64_t vrt_sched_poll(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Applies a queued task's packed poll result: Ready completes it, an abort
 * during its own poll cancels it, anything else leaves it PENDING. */
/*@ requires sched_inv(rt) && in_queue(rt, node) && \separated(rt, node);
    requires rt->task_count > rt->parked_count;
    requires (node->flags & (VRT_NODE_PARKED | VRT_NODE_FREE)) == 0;
    assigns rt->head, rt->tail, rt->task_count, rt->parked_count,
            rt->free_list, *node, node->prev->next, node->next->prev,
            VRT_LOOP_WORLD;
    ensures sched_inv(rt);
    ensures rt->task_count == \old(rt->task_count)
         || rt->task_count == \old(rt->task_count) - 1;
    ensures \forall vrt_task_node_t *n; n != node ==>
            (in_queue{Pre}(rt, n) <==> in_queue(rt, n));
    behavior cancelled:
      assumes node->status == VRT_TASK_CANCELLED;
      ensures rt->task_count == \old(rt->task_count) - 1 && !in_queue(rt, node);
    behavior ready:
      assumes node->status != VRT_TASK_CANCELLED;
      assumes vrt_poll_ready_l(packed);
      ensures rt->task_count == \old(rt->task_count) - 1 && !in_queue(rt, node);
    behavior waiting:
      assumes node->status != VRT_TASK_CANCELLED;
      assumes !vrt_poll_ready_l(packed);
      assumes (node->flags & VRT_NODE_WAITING) != 0;
      ensures rt->task_count == \old(rt->task_count) && !in_queue(rt, node);
      ensures (node->flags & VRT_NODE_PARKED) != 0;
    behavior pending:
      assumes node->status != VRT_TASK_CANCELLED;
      assumes !vrt_poll_ready_l(packed);
      assumes (node->flags & VRT_NODE_WAITING) == 0;
      ensures rt->task_count == \old(rt->task_count) && in_queue(rt, node);
      ensures node->status == VRT_TASK_PENDING;
    complete behaviors;
    disjoint behaviors;
*/
void vrt_sched_settle(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t packed);

/* The runtime whose task is being polled innermost on this thread, or
 * NULL outside any poll. */
/*@ assigns \nothing; */
vrt_runtime_t *vrt_sched_polling(void);

/* One pass over the queue in order, including tasks appended during it.
 * (Partial correctness: a task that spawns at every poll keeps it going.) */
/*@ requires sched_inv(rt);
    assigns VRT_WORLD;
    ensures sched_inv(rt);
    ensures rt->running == \old(rt->running);
*/
void vrt_sched_sweep(vrt_runtime_t *rt);

/* 0 when rt may be driven or freed; -1 with EINVAL (NULL) or EBUSY (a run
 * or block_on of it is active). */
/*@ requires rt == \null || \valid_read(rt);
    assigns errno;
    behavior null:
      assumes rt == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes rt != \null && rt->running != 0;
      assigns errno;
      ensures \result == -1 && errno == EBUSY;
    behavior idle:
      assumes rt != \null && rt->running == 0;
      assigns \nothing;
      ensures \result == 0;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_sched_idle(const vrt_runtime_t *rt);

/* Takes a task that registered a wait and returned Pending out of the run
 * queue (a block_on future is only marked). */
/*@ requires sched_inv(rt) && \valid(node) && node->owner == rt;
    requires \separated(rt, node) && apart_from_queue(rt, node);
    requires in_queue(rt, node) ==> rt->task_count > rt->parked_count;
    assigns rt->head, rt->tail, rt->parked_count, node->prev->next,
            node->next->prev, node->next, node->prev, node->flags,
            node->status;
    ensures sched_inv(rt) && !in_queue(rt, node);
    ensures (node->flags & VRT_NODE_PARKED) != 0;
    ensures (node->flags & VRT_NODE_WAITING) == 0;
    ensures node->status == VRT_TASK_PENDING;
    ensures in_queue{Pre}(rt, node) ==>
            rt->parked_count == \old(rt->parked_count) + 1;
    ensures !in_queue{Pre}(rt, node) ==>
            rt->parked_count == \old(rt->parked_count);
    ensures \forall vrt_task_node_t *n; n != node ==>
            (in_queue{Pre}(rt, n) <==> in_queue(rt, n));
*/
void vrt_sched_park(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Makes a parked task READY and runnable again, at the tail of the queue.
 * Returns 1 if it was parked, 0 if not (nothing changes). */
/*@ requires sched_inv(rt) && \valid(node) && \separated(rt, node);
    requires node->owner == rt && apart_from_queue(rt, node);
    requires (node->flags & VRT_NODE_PARKED) != 0 &&
             (node->flags & VRT_NODE_FUTURE) == 0 ==>
             !in_queue(rt, node) && rt->parked_count > 0 && slab_node(node);
    assigns rt->head, rt->tail, rt->tail->next, rt->parked_count,
            node->next, node->prev, node->flags, node->status;
    ensures sched_inv(rt);
    ensures (node->flags & VRT_NODE_PARKED) == 0;
    behavior not_parked:
      assumes (node->flags & VRT_NODE_PARKED) == 0;
      assigns \nothing;
      ensures \result == 0;
    behavior future:
      assumes (node->flags & VRT_NODE_PARKED) != 0;
      assumes (node->flags & VRT_NODE_FUTURE) != 0;
      assigns node->flags, node->status;
      ensures \result == 1 && node->status == VRT_TASK_READY;
    behavior task:
      assumes (node->flags & VRT_NODE_PARKED) != 0;
      assumes (node->flags & VRT_NODE_FUTURE) == 0;
      ensures \result == 1 && node->status == VRT_TASK_READY;
      ensures in_queue(rt, node) && rt->tail == node;
      ensures rt->parked_count == \old(rt->parked_count) - 1;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_sched_wake(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Shared by run and block_on: vrt_sched_idle, then running = 1. */
/*@ requires rt == \null || \valid(rt);
    assigns errno, rt->running;
    behavior null:
      assumes rt == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes rt != \null && rt->running != 0;
      assigns errno;
      ensures \result == -1 && errno == EBUSY;
    behavior enter:
      assumes rt != \null && rt->running == 0;
      assigns rt->running;
      ensures \result == 0 && rt->running == 1;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_sched_enter(vrt_runtime_t *rt);

/* ---- event loop (event_loop.c) ---- */

#include <stdatomic.h>

#include "backend.h"

/* A registered interest: one direction of one fd, or one timer. */
struct vrt_event_source {
    int64_t type;             /* VRT_SOURCE_FD_READ, _FD_WRITE, _TIMER */
    int64_t fd;               /* the fd, or the timer id */
    vrt_task_node_t *task;
    vrt_event_source_t *next; /* the loop's source list */
    vrt_event_source_t *prev;
    vrt_event_source_t *task_next; /* the other waits of the same task */
    int64_t deadline_ns;      /* timers: monotonic deadline */
    int64_t seq;              /* timers: arming order, breaks deadline ties */
    int64_t heap_index;       /* timers: position in the heap */
    vrt_event_source_t *hash_next; /* timers: id bucket chain */
};

/* Per fd number: the armed sources and what the kernel was last told. */
struct vrt_fd_slot {
    vrt_event_source_t *read;
    vrt_event_source_t *write;
    uint32_t kernel_mask;     /* VRT_IO_* bits the kernel watches */
    uint32_t generation;      /* bumped at each new kernel registration */
    vrt_task_node_t *last_reader; /* who was last woken for each direction: */
    vrt_task_node_t *last_writer; /* see vrt_loop_arm_fd */
};

struct vrt_event_record {
    int64_t fd;     /* fd, timer id or VRT_WAKER_TOKEN */
    int64_t filter; /* VRT_EVFILT_* */
    vrt_task_node_t *task; /* the source's task when the event was taken */
};

struct vrt_loop_state {
    vrt_allocator_t allocator;
    struct vrt_fd_slot *fds;
    int64_t fd_capacity;
    vrt_event_source_t **heap; /* timers, min-heap on (deadline_ns, seq) */
    int64_t heap_len;
    int64_t heap_capacity;
    vrt_event_source_t **buckets; /* timer id -> source */
    int64_t bucket_count;         /* a power of two, or 0 */
    vrt_event_source_t *free_sources;
    int64_t next_seq;
    int64_t event_count;
    atomic_int wake_pending;      /* coalesces wakes; signal-safe */
    struct vrt_event_record events[VRT_MAX_EVENTS];
    vrt_io_event_t io[VRT_MAX_EVENTS];
};

/* 1 if loop exists and has not been cleaned up, else 0 with EINVAL. */
int vrt_loop_usable(const vrt_event_loop_t *loop);

/* The monotonic clock in nanoseconds. */
int64_t vrt_clock_ns(void);

/*
 * The reactor's one-shot wait on an fd direction (VRT_SOURCE_FD_READ or
 * _WRITE): arms a source for task and links it on task->waits.  Skips the
 * system call when the kernel still watches that direction for the same
 * task since its last wake (a ping-pong re-arms for free).  Returns 0; -1
 * with EBADF, EBUSY (another task waits there), ENOMEM, unchanged.
 */
int64_t vrt_loop_arm_fd(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                        vrt_task_node_t *task);

/* The reactor's timer: as register_timer, also linked on task->waits. */
int64_t vrt_loop_arm_timer(vrt_event_loop_t *loop, int64_t timer_id,
                           int64_t delay_ms, vrt_task_node_t *task);

/* Removes every source on task->waits, keeping fd interest in the kernel
 * (dropped lazily if it fires for nobody). */
void vrt_loop_drop_waits(vrt_event_loop_t *loop, vrt_task_node_t *task);

/* The task of the index-th event of the last poll (NULL for the waker). */
vrt_task_node_t *vrt_loop_event_task(vrt_event_loop_t *loop, int64_t index);

/* ---- loop-driven cores (reactor.c) ---- */

enum vrt_future_state { VRT_NO_FUTURE, VRT_FUTURE_RUNNABLE, VRT_FUTURE_PARKED };

/*
 * One turn of a core whose tasks wait on loop: a sweep over the runnable
 * tasks, then the kernel, without blocking while anything (or a block_on
 * future) is runnable, else until the next event or deadline; events wake
 * their tasks in whichever runtime owns them.  0, or -1 with the loop's
 * errno.
 */
int64_t vrt_loop_turn(vrt_runtime_t *core, vrt_event_loop_t *loop,
                      enum vrt_future_state future);

/* The reactor's waits for a given task (the methods use current_task; the
 * globals use whichever task is being polled, in a reactor or a group). */
int64_t vrt_reactor_wait_fd(vrt_reactor_runtime_t *self, vrt_task_node_t *task,
                            int64_t fd, int64_t type);
int64_t vrt_reactor_sleep(vrt_reactor_runtime_t *self, vrt_task_node_t *task,
                          int64_t delay_ms);

/* Returns 0 when the loop's tables agree with its source list and heap. */
int64_t vrt_loop_check(vrt_event_loop_t *loop);

#endif /* VRT_INTERNAL_H */
