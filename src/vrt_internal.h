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
    logic integer effective_limit(vrt_runtime_t *rt) =
        rt->max_tasks == 0 ? VRT_MAX_TASKS : rt->max_tasks;
    predicate within_limit(vrt_runtime_t *rt) =
        0 <= rt->task_count <= effective_limit(rt);
    predicate empty_queue(vrt_runtime_t *rt) =
        rt->head == \null && rt->tail == \null;
*/

/* The live-task limit in force. */
/*@ requires \valid_read(rt);
    assigns \nothing;
    ensures \result == effective_limit(rt);
*/
int64_t vrt_sched_limit(const vrt_runtime_t *rt);

/* ---- node pool (pool.c) ---- */

/* Takes a free node, growing the pool by one slab if needed.  NULL with
 * ENOMEM when the allocator fails; the runtime is then unchanged. */
/*@ requires \valid(rt);
    behavior has_free:
      assumes rt->free_list != \null;
      ensures \result == \old(rt->free_list);
      ensures rt->free_list == \old(rt->free_list->next);
    behavior must_grow:
      assumes rt->free_list == \null;
      ensures \result == \null || \valid(\result);
*/
vrt_task_node_t *vrt_pool_take(vrt_runtime_t *rt);

/* Puts a node that is neither queued nor current back on the free list. */
/*@ requires \valid(rt) && \valid(node);
    requires node->owner == rt;
    assigns node->id, node->flags, node->next, node->prev, node->status,
            node->poll_fn, node->future_ptr, node->result, rt->free_list;
    ensures rt->free_list == node;
    ensures node->id == -1 && node->flags == VRT_NODE_FREE;
    ensures node->next == \old(rt->free_list);
*/
void vrt_pool_put(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Releases every slab to the allocator that gave it. */
void vrt_pool_release_all(vrt_runtime_t *rt);

/* ---- run queue (sched.c) ---- */

/*@ requires \valid(rt) && \valid(node);
    requires \separated(rt, node);
    requires (rt->head == \null) <==> (rt->tail == \null);
    requires rt->tail != \null ==> \valid(rt->tail) && rt->tail->next == \null;
    requires (node->flags & VRT_NODE_QUEUED) == 0;
    assigns rt->head, rt->tail, rt->tail->next, node->next, node->prev,
            node->flags;
    ensures rt->tail == node && node->next == \null;
    ensures node->prev == \old(rt->tail);
    ensures \old(rt->tail) == \null ==> rt->head == node;
    ensures \old(rt->tail) != \null ==> rt->head == \old(rt->head);
*/
void vrt_sched_link_tail(vrt_runtime_t *rt, vrt_task_node_t *node);

/*@ requires \valid(rt) && \valid(node);
    requires node->prev != \null ==> \valid(node->prev);
    requires node->next != \null ==> \valid(node->next);
    requires node->prev == \null ==> rt->head == node;
    requires node->next == \null ==> rt->tail == node;
    assigns rt->head, rt->tail, node->prev->next, node->next->prev,
            node->next, node->prev, node->flags;
    ensures node->next == \null && node->prev == \null;
    ensures (node->flags & VRT_NODE_QUEUED) == 0;
*/
void vrt_sched_unlink(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Ends a live task with a final status: out of the queue, task_count down,
 * recycled at once if its handle was released. */
/*@ requires \valid(rt) && \valid(node);
    requires finished_status(status);
    requires rt->task_count > 0;
    ensures rt->task_count == \old(rt->task_count) - 1;
    ensures (node->flags & VRT_NODE_QUEUED) == 0;
*/
void vrt_sched_finish(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t status, int64_t result);

/* Polls one task with current_task set around the call; returns the packed
 * result, which the caller settles. */
/*@ requires \valid(rt) && \valid(node);
    ensures rt->current_task == \null;
*/
int64_t vrt_sched_poll(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Applies a queued task's packed poll result: Ready completes it, an abort
 * during its own poll cancels it, anything else leaves it PENDING. */
/*@ requires \valid(rt) && \valid(node);
    requires rt->task_count > 0;
    ensures rt->task_count == \old(rt->task_count)
         || rt->task_count == \old(rt->task_count) - 1;
*/
void vrt_sched_settle(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t packed);

/* One pass over the queue in order, including tasks appended during it. */
void vrt_sched_sweep(vrt_runtime_t *rt);

/* 0 when rt may be driven or freed; -1 with EINVAL (NULL) or EBUSY (a run
 * or block_on of it is active). */
/*@ assigns errno;
    ensures \result == 0 <==> (rt != \null && rt->running == 0);
*/
int64_t vrt_sched_idle(const vrt_runtime_t *rt);

/* Shared by run and block_on: vrt_sched_idle, then running = 1. */
int64_t vrt_sched_enter(vrt_runtime_t *rt);

#endif /* VRT_INTERNAL_H */
