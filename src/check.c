/*
 * The invariant checker that tests and fuzzers call after every operation.
 * Every walk is bounded by a count the runtime claims, so a corrupted list
 * is reported, never followed forever.
 */
#include <errno.h>

#include "vrt_internal.h"

/* What the checker needs to be memory-safe, and no more: it must be able to
 * walk a corrupted queue and report it, so its contracts cannot assume the
 * invariants it checks (smoke tests would find those branches dead). */
/*@ predicate walkable{L}(vrt_task_node_t *first) =
        (first == \null || \valid_read(first)) &&
        (\forall vrt_task_node_t *n; \valid_read(n) ==>
            n->next == \null || \valid_read(n->next));
*/

/*@ requires \valid_read(rt) && \valid_read(node);
    assigns \nothing;
    ensures \result == 0 || \result == 1;
*/
static int node_is_queued_live(const vrt_runtime_t *rt,
                               const vrt_task_node_t *node)
{
    if (node->owner != rt || (node->flags & VRT_NODE_QUEUED) == 0 ||
        (node->flags & (VRT_NODE_FREE | VRT_NODE_PARKED)) != 0 || node->id < 0 ||
        node->id >= rt->next_task_id || node->poll_fn == NULL)
        return 0;
    if (node->status == VRT_TASK_PENDING || node->status == VRT_TASK_READY)
        return 1;
    /* RUNNING, or CANCELLED by an abort during its own poll, only while it
     * is the task being polled. */
    return (node->status == VRT_TASK_RUNNING ||
            node->status == VRT_TASK_CANCELLED) &&
           node == rt->current_task;
}

/*@ requires \valid_read(rt) && walkable(rt->head);
    requires 0 <= rt->parked_count <= rt->task_count <= VRT_MAX_TASKS_LIMIT;
    assigns \nothing;
    ensures \result == 0 || \result == VRT_CHECK_HEAD_TAIL ||
            \result == VRT_CHECK_LINKS || \result == VRT_CHECK_NODE ||
            \result == VRT_CHECK_COUNT_MISMATCH;
*/
static int64_t check_queue(const vrt_runtime_t *rt)
{
    if ((rt->head == NULL) != (rt->tail == NULL))
        return VRT_CHECK_HEAD_TAIL;
    const vrt_task_node_t *prev = NULL;
    const vrt_task_node_t *node = rt->head;
    int64_t seen = 0;
    int64_t queued = rt->task_count - rt->parked_count;
    /*@ loop invariant 0 <= seen <= queued;
        loop invariant node == \null || \valid_read(node);
        loop assigns node, prev, seen;
        loop variant queued - seen;
    */
    while (node != NULL) {
        if (seen == queued)
            return VRT_CHECK_COUNT_MISMATCH; /* more nodes than counted, or a cycle */
        if (node->prev != prev)
            return VRT_CHECK_LINKS;
        if (!node_is_queued_live(rt, node))
            return VRT_CHECK_NODE;
        prev = node;
        node = node->next;
        seen++;
    }
    if (prev != rt->tail)
        return VRT_CHECK_HEAD_TAIL;
    if (seen != queued)
        return VRT_CHECK_COUNT_MISMATCH;
    return 0;
}

/*@ requires \valid_read(rt) && walkable(rt->free_list);
    requires 0 <= rt->slab_count <= 0x100000000;
    assigns \nothing;
    ensures \result == 0 || \result == VRT_CHECK_FREE_LIST;
*/
static int64_t check_free_list(const vrt_runtime_t *rt)
{
    int64_t capacity = rt->slab_count * VRT_SLAB_NODES;
    int64_t seen = 0;
    const vrt_task_node_t *node = rt->free_list;
    /*@ loop invariant 0 <= seen <= capacity;
        loop invariant node == \null || \valid_read(node);
        loop assigns node, seen;
        loop variant capacity - seen;
    */
    while (node != NULL) {
        if (seen == capacity || node->owner != rt ||
            node->flags != VRT_NODE_FREE || node->id != -1)
            return VRT_CHECK_FREE_LIST;
        node = node->next;
        seen++;
    }
    return 0;
}

/*@ requires self == \null || (\valid(self) && walkable(self->head) &&
             walkable(self->free_list) && 0 <= self->slab_count <= 0x100000000 &&
             (self->current_task == \null || \valid_read(self->current_task)));
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == VRT_CHECK_NULL && errno == EINVAL;
    behavior runtime:
      assumes self != \null;
      assigns \nothing;
      ensures VRT_CHECK_PARKED <= \result <= 0;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_runtime_check(vrt_runtime_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return VRT_CHECK_NULL;
    }
    /* The limit first: a negative limit would otherwise make the count
     * test fire for it, and the limit test would be dead code. */
    if (self->max_tasks < 0 || self->max_tasks > VRT_MAX_TASKS_LIMIT ||
        self->task_count < 0 || self->task_count > vrt_sched_limit(self) ||
        self->next_task_id < self->task_count)
        return VRT_CHECK_COUNT_RANGE;
    if (self->parked_count < 0 || self->parked_count > self->task_count)
        return VRT_CHECK_PARKED;
    if (self->current_task != NULL &&
        (self->running == 0 || self->current_task->owner != self))
        return VRT_CHECK_CURRENT;
    int64_t queue = check_queue(self);
    if (queue != 0)
        return queue;
    return check_free_list(self);
}
