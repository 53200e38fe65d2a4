/*
 * The scheduler core: a doubly linked run queue in spawn order, the sweep,
 * and the transitions of a task from live to finished.  Runtime uses it
 * directly; the reactor and task groups build on the same functions.
 */
#include <errno.h>

#include "vrt_internal.h"

int64_t vrt_sched_limit(const vrt_runtime_t *rt)
{
    return rt->max_tasks == 0 ? VRT_MAX_TASKS : rt->max_tasks;
}

void vrt_sched_link_tail(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    /*@ assert \forall vrt_task_node_t *n;
            in_queue(rt, n) ==> \separated(n, node); */
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            n == rt->tail || \separated(n, rt->tail); */
    node->next = NULL;
    node->prev = rt->tail;
    if (rt->tail != NULL)
        rt->tail->next = node;
    else
        rt->head = node;
    rt->tail = node;
    node->flags |= VRT_NODE_QUEUED;
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            n == node || in_queue{Pre}(rt, n); */
    /*@ assert \forall vrt_task_node_t *n; in_queue{Pre}(rt, n) ==>
            in_queue(rt, n) && n->prev == \at(n->prev, Pre); */
    /*@ assert \forall vrt_task_node_t *n; in_queue{Pre}(rt, n) ==>
            n == \at(rt->tail, Pre) || n->next == \at(n->next, Pre); */
    /*@ assert \forall vrt_task_node_t *n; in_queue{Pre}(rt, n) ==>
            n->next == \null ==> n == node; */
}

void vrt_sched_unlink(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            n == node || \separated(n, node); */
    /*@ assert node->prev != \null ==> \forall vrt_task_node_t *n;
            in_queue(rt, n) ==> n == node->prev || \separated(n, node->prev); */
    /*@ assert node->next != \null ==> \forall vrt_task_node_t *n;
            in_queue(rt, n) ==> n == node->next || \separated(n, node->next); */
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            n->next == node ==> n == node->prev; */
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            n->prev == node ==> n == node->next; */
    if (node->prev != NULL)
        node->prev->next = node->next;
    else
        rt->head = node->next;
    if (node->next != NULL)
        node->next->prev = node->prev;
    else
        rt->tail = node->prev;
    node->next = NULL;
    node->prev = NULL;
    node->flags &= ~VRT_NODE_QUEUED;
    /*@ assert \forall vrt_task_node_t *n; n != node ==>
            (in_queue(rt, n) <==> in_queue{Pre}(rt, n)); */
    /*@ assert \forall vrt_task_node_t *n; in_queue{Pre}(rt, n) ==>
            n == node || n == \at(node->prev, Pre) ||
            n->next == \at(n->next, Pre); */
    /*@ assert \forall vrt_task_node_t *n; in_queue{Pre}(rt, n) ==>
            n == node || n == \at(node->next, Pre) ||
            n->prev == \at(n->prev, Pre); */
    /*@ assert \at(node->prev, Pre) != \null && \at(node->prev, Pre) != node ==>
            in_queue(rt, \at(node->prev, Pre)) &&
            \at(node->prev, Pre)->next == \at(node->next, Pre); */
    /*@ assert \at(node->next, Pre) != \null && \at(node->next, Pre) != node ==>
            in_queue(rt, \at(node->next, Pre)) &&
            \at(node->next, Pre)->prev == \at(node->prev, Pre); */
}

void vrt_sched_finish(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t status, int64_t result)
{
    if ((node->flags & VRT_NODE_QUEUED) != 0)
        vrt_sched_unlink(rt, node);
    /* Each step keeps the queue but node, and the counts (the callees'
     * frames), checked step by step. */
    /*@ assert queue_links(rt) && !in_queue(rt, node) && node->owner == rt &&
            rt_counts_kept{Pre, Here}(rt) &&
            rt->free_list == \at(rt->free_list, Pre) &&
            (node->flags & VRT_NODE_QUEUED) == 0; */
    /*@ assert (node->flags & VRT_NODE_PARKED) ==
            (\at(node->flags, Pre) & VRT_NODE_PARKED) &&
            (node->flags & VRT_NODE_DETACHED) ==
            (\at(node->flags, Pre) & VRT_NODE_DETACHED); */
    /*@ assert \forall vrt_task_node_t *n; n != node ==>
            (in_queue{Pre}(rt, n) <==> in_queue(rt, n)); */
    if (node->waits != NULL)
        vrt_loop_drop_waits(rt->loop, node);
    /*@ assert node->owner == rt && rt_counts_kept{Pre, Here}(rt) &&
            rt->free_list == \at(rt->free_list, Pre) &&
            (node->flags & VRT_NODE_QUEUED) == 0; */
    /*@ assert (node->flags & VRT_NODE_PARKED) ==
            (\at(node->flags, Pre) & VRT_NODE_PARKED) &&
            (node->flags & VRT_NODE_DETACHED) ==
            (\at(node->flags, Pre) & VRT_NODE_DETACHED); */
    /*@ assert \forall vrt_task_node_t *n; n != node ==>
            (in_queue{Pre}(rt, n) <==> in_queue(rt, n)); */
    /*@ assert queue_links(rt) && !in_queue(rt, node); */
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            \separated(n, node); */
    /* The node's fields first, the runtime's counts last: the writes to
     * the node keep every other node (slab nodes lie apart), so the queue
     * is checked before the counts change. */
    /*@ assert \forall vrt_task_node_t *n; slab_node(n) && n != node ==>
            \separated(n, node); */
    //@ ghost Writing: ;
    int64_t parked = node->flags & VRT_NODE_PARKED;
    node->flags &= ~(VRT_NODE_PARKED | VRT_NODE_WAITING);
    node->status = status;
    node->result = result;
    /*@ assert \forall vrt_task_node_t *n; slab_node(n) && n != node ==>
            n->flags == \at(n->flags, Writing) &&
            n->owner == \at(n->owner, Writing) &&
            n->next == \at(n->next, Writing) &&
            n->prev == \at(n->prev, Writing); */
    /*@ assert (node->flags & VRT_NODE_DETACHED) ==
            (\at(node->flags, Pre) & VRT_NODE_DETACHED); */
    /*@ assert (node->flags & (VRT_NODE_PARKED | VRT_NODE_WAITING)) == 0 &&
            (node->flags & VRT_NODE_QUEUED) == 0 &&
            node->status == status && node->result == result; */
    /*@ assert \forall vrt_task_node_t *n; n != node ==>
            (in_queue(rt, n) <==> in_queue{Writing}(rt, n)); */
    /*@ assert \forall vrt_task_node_t *n; n != node ==>
            (in_queue{Pre}(rt, n) <==> in_queue(rt, n)); */
    /*@ assert queue_links(rt) && !in_queue(rt, node); */
    //@ ghost Counting: ;
    if (parked != 0)
        rt->parked_count--;
    rt->task_count--;
    /*@ assert node->flags == \at(node->flags, Counting) &&
            node->status == status && node->result == result &&
            node->owner == rt; */
    if ((node->flags & VRT_NODE_DETACHED) != 0)
        vrt_pool_put(rt, node);
}

/* The runtime whose poll is innermost on this thread's stack: the global
 * wait functions serve whichever task is being polled, in a reactor or in a
 * task group. */
static _Thread_local vrt_runtime_t *innermost_polling;

/*@ assigns \nothing;
    ensures \result == innermost_polling;
*/
vrt_runtime_t *vrt_sched_polling(void)
{
    return innermost_polling;
}

int64_t vrt_sched_poll(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    /* Through its address: the thread's innermost runtime is memory a
     * task's poll may read and write too (a nested poll sets and restores
     * it), which is how the proofs see it (VRT_WORLD). */
    vrt_runtime_t **innermost = &innermost_polling;
    vrt_runtime_t *outer = *innermost;
    *innermost = rt;
    rt->current_task = node;
    node->status = VRT_TASK_RUNNING;
    int64_t packed = vrt_call_poll(rt, node);
    rt->current_task = NULL;
    *innermost = outer;
    return packed;
}

void vrt_sched_settle(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t packed)
{
    /* An abort of the task being polled is deferred to here, so that the
     * sweep never follows the links of a node that left the queue. */
    if (node->status == VRT_TASK_CANCELLED)
        vrt_sched_finish(rt, node, VRT_TASK_CANCELLED, 0);
    else if (vrt_poll_is_ready(packed))
        vrt_sched_finish(rt, node, VRT_TASK_COMPLETED, vrt_poll_value(packed));
    else if ((node->flags & VRT_NODE_WAITING) != 0)
        vrt_sched_park(rt, node);
    else
        node->status = VRT_TASK_PENDING;
}

void vrt_sched_park(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    node->status = VRT_TASK_PENDING;
    node->flags &= ~VRT_NODE_WAITING;
    node->flags |= VRT_NODE_PARKED;
    /*@ assert queue_links(rt) && counts_ok(rt); */
    if ((node->flags & VRT_NODE_QUEUED) != 0) {
        vrt_sched_unlink(rt, node);
        rt->parked_count++;
    }
}

int64_t vrt_sched_wake(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    if ((node->flags & VRT_NODE_PARKED) == 0)
        return 0;
    node->flags &= ~VRT_NODE_PARKED;
    node->status = VRT_TASK_READY;
    if ((node->flags & VRT_NODE_FUTURE) == 0) {
        rt->parked_count--;
        vrt_sched_link_tail(rt, node);
    }
    return 1;
}

/* VRT_MUTANT_REVERSE_SWEEP is a test-only build (make oracle-mutants): a
 * wrong sweep order that the oracle and the model comparison must catch. */
void vrt_sched_sweep(vrt_runtime_t *rt)
{
#ifdef VRT_MUTANT_REVERSE_SWEEP
    for (vrt_task_node_t *last = rt->tail; last != NULL;) {
        int64_t packed = vrt_sched_poll(rt, last);
        vrt_task_node_t *prev = last->prev;
        vrt_sched_settle(rt, last, packed);
        last = prev;
    }
    return;
#endif
    vrt_task_node_t *node = rt->head;
    /*@ loop invariant sched_inv(rt);
        loop invariant node == \null || in_queue(rt, node);
        loop invariant rt->running == \at(rt->running, Pre);
        loop assigns node, VRT_WORLD;
    */
    while (node != NULL) {
        int64_t packed = vrt_sched_poll(rt, node);
        /* Read after the poll: a spawn during it may have appended behind
         * node, an abort may have unlinked its successor. */
        vrt_task_node_t *next = node->next;
        vrt_sched_settle(rt, node, packed);
        node = next;
    }
}

int64_t vrt_sched_idle(const vrt_runtime_t *rt)
{
    if (rt == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (rt->running != 0) {
        errno = EBUSY;
        return -1;
    }
    return 0;
}

int64_t vrt_sched_enter(vrt_runtime_t *rt)
{
    /* Only a runtime that cannot be entered goes through idle, for its
     * errno: the path that enters writes nothing but running. */
    if (rt == NULL || rt->running != 0)
        return vrt_sched_idle(rt);
    rt->running = 1;
    return 0;
}
