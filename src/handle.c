/* TaskNode and JoinHandle: node accessors and the handle extensions. */
#include <errno.h>

#include "vrt_internal.h"

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

int64_t vrt_task_node_is_completed(vrt_task_node_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    return self->status == VRT_TASK_COMPLETED;
}

int64_t vrt_task_node_is_pending(vrt_task_node_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    return self->status == VRT_TASK_PENDING;
}

vrt_join_handle_t vrt_join_handle_new(int64_t task_id,
                                      vrt_task_node_t *task_ptr)
{
    vrt_join_handle_t handle = {task_id, task_ptr};
    return handle;
}

/* The node a handle names, or NULL when the handle is NULL, invalid or
 * stale: released (detached or recycled) or its node reused (new id). */
/*@ requires handle == \null || \valid_read(handle);
    requires handle != \null && handle->task_ptr != \null ==>
             \valid_read(handle->task_ptr);
    assigns \nothing;
    ensures \result == \null || \result == handle->task_ptr;
*/
static vrt_task_node_t *handle_node(const vrt_join_handle_t *handle)
{
    if (handle == NULL || handle->task_ptr == NULL || handle->task_id < 0)
        return NULL;
    vrt_task_node_t *node = handle->task_ptr;
    if (node->id != handle->task_id ||
        (node->flags & (VRT_NODE_FREE | VRT_NODE_DETACHED)) != 0)
        return NULL;
    return node;
}

/* Finished and out of the queue: the result is final. */
static int node_is_settled(const vrt_task_node_t *node)
{
    return (node->flags & VRT_NODE_QUEUED) == 0 &&
           (node->status == VRT_TASK_COMPLETED ||
            node->status == VRT_TASK_CANCELLED);
}

int64_t vrt_join_handle_is_valid(vrt_join_handle_t *self)
{
    return handle_node(self) != NULL;
}

int64_t vrt_join_handle_status(vrt_join_handle_t *self)
{
    vrt_task_node_t *node = handle_node(self);
    if (node == NULL) {
        errno = EINVAL;
        return -1;
    }
    return node->status;
}

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
