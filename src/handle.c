/* TaskNode and JoinHandle: node accessors and the handle extensions. */
#include <errno.h>

#include "vrt_internal.h"

/*@ assigns \nothing;
    ensures \result.id == id && \result.future_ptr == future_ptr;
    ensures \result.poll_fn == poll_fn && \result.status == VRT_TASK_PENDING;
    ensures \result.result == 0 && \result.flags == 0;
    ensures \result.next == \null && \result.prev == \null;
    ensures \result.owner == \null && \result.waits == \null;
*/
vrt_task_node_t vrt_task_node_new(int64_t id, int64_t future_ptr,
                                  vrt_poll_fn poll_fn)
{
    vrt_task_node_t node = {0};
    node.id = id;
    node.future_ptr = future_ptr;
    node.poll_fn = poll_fn;
    node.status = VRT_TASK_PENDING;
    return node;
}

/*@ requires self == \null || \valid_read(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior node:
      assumes self != \null;
      assigns \nothing;
      ensures \result == (self->status == VRT_TASK_COMPLETED ? 1 : 0);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_node_is_completed(vrt_task_node_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    return self->status == VRT_TASK_COMPLETED;
}

/*@ requires self == \null || \valid_read(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior node:
      assumes self != \null;
      assigns \nothing;
      ensures \result == (self->status == VRT_TASK_PENDING ? 1 : 0);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_task_node_is_pending(vrt_task_node_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    return self->status == VRT_TASK_PENDING;
}

/*@ assigns \nothing;
    ensures \result.task_id == task_id && \result.task_ptr == task_ptr;
*/
vrt_join_handle_t vrt_join_handle_new(int64_t task_id,
                                      vrt_task_node_t *task_ptr)
{
    vrt_join_handle_t handle = {task_id, task_ptr};
    return handle;
}

/* The node a handle names, or NULL when the handle is NULL, invalid or
 * stale: released (detached or recycled) or its node reused (new id). */
/*@ requires handle_ok((vrt_join_handle_t *)handle);
    assigns \nothing;
    ensures handle_live((vrt_join_handle_t *)handle) ==>
            \result == handle->task_ptr;
    ensures !handle_live((vrt_join_handle_t *)handle) ==> \result == \null;
*/
static vrt_task_node_t *handle_node(const vrt_join_handle_t *handle)
{
    if (handle == NULL || handle->task_ptr == NULL || handle->task_id < 0)
        return NULL;
    vrt_task_node_t *node = handle->task_ptr;
    /* One bit per test: the proofs read each flag on its own. */
    if (node->id != handle->task_id || (node->flags & VRT_NODE_FREE) != 0 ||
        (node->flags & VRT_NODE_DETACHED) != 0)
        return NULL;
    return node;
}

/* Finished and out of the queue: the result is final. */
/*@ requires \valid_read(node);
    assigns \nothing;
    ensures \result != 0 <==> ((node->flags & VRT_NODE_QUEUED) == 0 &&
                                finished_status(node->status));
*/
static int node_is_settled(const vrt_task_node_t *node)
{
    return (node->flags & VRT_NODE_QUEUED) == 0 &&
           (node->status == VRT_TASK_COMPLETED ||
            node->status == VRT_TASK_CANCELLED);
}

/*@ requires handle_ok(self);
    assigns \nothing;
    ensures handle_live(self) ==> \result == 1;
    ensures !handle_live(self) ==> \result == 0;
*/
int64_t vrt_join_handle_is_valid(vrt_join_handle_t *self)
{
    return handle_node(self) != NULL;
}

/*@ requires handle_ok(self);
    assigns errno;
    behavior stale:
      assumes !handle_live(self);
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior live:
      assumes handle_live(self);
      assigns \nothing;
      ensures \result == self->task_ptr->status;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_join_handle_status(vrt_join_handle_t *self)
{
    vrt_task_node_t *node = handle_node(self);
    if (node == NULL) {
        errno = EINVAL;
        return -1;
    }
    return node->status;
}

/*@ requires handle_ok(self);
    assigns errno;
    behavior stale:
      assumes !handle_live(self);
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior cancelled:
      assumes handle_live(self) &&
              self->task_ptr->status == VRT_TASK_CANCELLED;
      ensures \result == -1 && errno == ECANCELED;
    behavior unfinished:
      assumes handle_live(self) &&
              self->task_ptr->status != VRT_TASK_CANCELLED &&
              ((self->task_ptr->flags & VRT_NODE_QUEUED) != 0 ||
               self->task_ptr->status != VRT_TASK_COMPLETED);
      ensures \result == -1 && errno == EINPROGRESS;
    behavior completed:
      assumes handle_live(self) &&
              self->task_ptr->status == VRT_TASK_COMPLETED &&
              (self->task_ptr->flags & VRT_NODE_QUEUED) == 0;
      assigns \nothing;
      ensures \result == self->task_ptr->result;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_join_handle_result(vrt_join_handle_t *self)
{
    vrt_task_node_t *node = handle_node(self);
    if (node == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (node->status == VRT_TASK_CANCELLED) {
        errno = ECANCELED;
        return -1;
    }
    if (!node_is_settled(node)) {
        errno = EINPROGRESS;
        return -1;
    }
    return node->result;
}

/*@ requires handle_ok(self);
    requires handle_live(self) && !finished_status(self->task_ptr->status) ==>
             node_owned(self->task_ptr);
    assigns errno, { *vrt_w_r | vrt_runtime_t *vrt_w_r; \true },
            { *vrt_w_n | vrt_task_node_t *vrt_w_n; \true }, VRT_LOOP_WORLD;
    behavior stale:
      assumes !handle_live(self);
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior finished:
      assumes handle_live(self) && finished_status(self->task_ptr->status);
      assigns \nothing;
      ensures \result == 0;
    behavior cancel:
      assumes handle_live(self) && !finished_status(self->task_ptr->status);
      ensures \result == 1;
      ensures sched_inv(\old(self->task_ptr->owner));
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_join_handle_abort(vrt_join_handle_t *self)
{
    vrt_task_node_t *node = handle_node(self);
    if (node == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (node->status == VRT_TASK_COMPLETED ||
        node->status == VRT_TASK_CANCELLED)
        return 0;
    vrt_runtime_t *rt = node->owner;
    if (rt->current_task == node)
        node->status = VRT_TASK_CANCELLED; /* settled when its poll returns */
    else
        vrt_sched_finish(rt, node, VRT_TASK_CANCELLED, 0);
    return 1;
}

/*@ requires handle_ok(self);
    requires handle_live(self) ==>
             \valid(self->task_ptr->owner) && slab_node(self->task_ptr) &&
             \separated(self->task_ptr->owner, self->task_ptr) &&
             \separated(self, self->task_ptr) &&
             \separated(self, self->task_ptr->owner);
    assigns errno, *self, *(self->task_ptr), self->task_ptr->owner->free_list;
    behavior stale:
      assumes !handle_live(self);
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior release:
      assumes handle_live(self);
      assigns *self, *(self->task_ptr), self->task_ptr->owner->free_list;
      ensures \result == 0 && self->task_id == -1 && self->task_ptr == \null;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_join_handle_release(vrt_join_handle_t *self)
{
    vrt_task_node_t *node = handle_node(self);
    if (node == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (node_is_settled(node))
        vrt_pool_put(node->owner, node);
    else
        node->flags |= VRT_NODE_DETACHED;
    self->task_id = -1;
    self->task_ptr = NULL;
    return 0;
}
