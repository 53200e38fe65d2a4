/* Runtime: the basic cooperative executor over the scheduler core. */
#include <errno.h>

#include "vrt_internal.h"

static const vrt_join_handle_t invalid_handle = {-1, NULL};

vrt_runtime_t vrt_runtime_new(void)
{
    vrt_runtime_t rt = {0};
    return rt;
}

/*@ requires \valid(self) || self == \null;
    behavior bad_input:
      assumes self == \null || poll_fn == \null;
      assigns errno;
      ensures \result.task_id == -1 && \result.task_ptr == \null;
    behavior full:
      assumes self != \null && poll_fn != \null;
      assumes self->task_count >= effective_limit(self);
      assigns errno;
      ensures \result.task_id == -1 && \result.task_ptr == \null;
      ensures errno == EAGAIN;
    behavior spawned:
      assumes self != \null && poll_fn != \null;
      assumes self->task_count < effective_limit(self);
      ensures \result.task_ptr != \null ==>
              self->task_count == \old(self->task_count) + 1 &&
              self->tail == \result.task_ptr &&
              \result.task_id == \old(self->next_task_id);
    disjoint behaviors bad_input, full, spawned;
*/
vrt_join_handle_t vrt_runtime_spawn(vrt_runtime_t *self, int64_t future_ptr,
                                    vrt_poll_fn poll_fn)
{
    if (self == NULL || poll_fn == NULL) {
        errno = EINVAL;
        return invalid_handle;
    }
    if (self->task_count >= vrt_sched_limit(self)) {
#ifdef VRT_MUTANT_FULL_IS_ENOMEM /* test-only: one wrong errno (make oracle-mutants) */
        errno = ENOMEM;
#else
        errno = EAGAIN;
#endif
        return invalid_handle;
    }
    if (self->next_task_id == INT64_MAX) {
        errno = EOVERFLOW;
        return invalid_handle;
    }
    vrt_task_node_t *node = vrt_pool_take(self);
    if (node == NULL)
        return invalid_handle;
    node->id = self->next_task_id++;
    node->future_ptr = future_ptr;
    node->poll_fn = poll_fn;
    node->status = VRT_TASK_PENDING;
    node->result = 0;
    node->owner = self;
    vrt_sched_link_tail(self, node);
    self->task_count++;
    vrt_join_handle_t handle = {node->id, node};
    return handle;
}

int64_t vrt_runtime_run(vrt_runtime_t *self)
{
    if (vrt_sched_enter(self) != 0)
        return -1;
    while (self->head != NULL)
        vrt_sched_sweep(self);
    self->running = 0;
    return 0;
}

int64_t vrt_runtime_block_on(vrt_runtime_t *self, int64_t future_ptr,
                             vrt_poll_fn poll_fn)
{
    if (poll_fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (vrt_sched_enter(self) != 0)
        return -1;
    /* The blocked-on future gets a node of its own on the stack, so that
     * current_task names it while it is polled; it takes no id and no slot. */
    vrt_task_node_t future = vrt_task_node_new(-1, future_ptr, poll_fn);
    future.owner = self;
    int64_t packed = vrt_sched_poll(self, &future);
    while (!vrt_poll_is_ready(packed)) {
        vrt_sched_sweep(self);
        packed = vrt_sched_poll(self, &future);
    }
    self->running = 0;
    return vrt_poll_value(packed);
}

int64_t vrt_runtime_set_max_tasks(vrt_runtime_t *self, int64_t max_tasks)
{
    if (self == NULL || max_tasks < 1 || max_tasks > VRT_MAX_TASKS_LIMIT ||
        max_tasks < self->task_count) {
        errno = EINVAL;
        return -1;
    }
    self->max_tasks = max_tasks;
    return 0;
}

int64_t vrt_runtime_max_tasks(vrt_runtime_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    return vrt_sched_limit(self);
}

int64_t vrt_runtime_free(vrt_runtime_t *self)
{
    if (vrt_sched_idle(self) != 0)
        return -1;
    vrt_pool_release_all(self);
    *self = vrt_runtime_new();
    return 0;
}
