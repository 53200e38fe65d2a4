/*
 * ReactorRuntime: the scheduler core plus an EventLoop.  A task that
 * registers a wait and returns Pending is parked (out of the run queue);
 * the loop's events make it runnable again.  A turn of the loop is one
 * sweep over the runnable tasks, then one look at the kernel: without
 * blocking while anything is runnable (so yielding tasks cannot starve
 * I/O), else until the next event or timer deadline.
 */
#include <errno.h>
#include <string.h>

#include "vrt_internal.h"

#define FIRST_TIMER_ID 1000

static int reactor_usable(const vrt_reactor_runtime_t *self)
{
    /* A loop the user cleaned up by hand has no state left: refuse. */
    if (self == NULL) {
        errno = EINVAL;
        return 0;
    }
    return vrt_loop_usable(self->event_loop);
}

vrt_reactor_runtime_t vrt_reactor_runtime_new(void)
{
    vrt_reactor_runtime_t r;
    memset(&r, 0, sizeof r);
    r.next_timer_id = FIRST_TIMER_ID;
    const vrt_allocator_t *a = vrt_default_allocator();
    vrt_event_loop_t *loop = a->alloc(a->ctx, sizeof *loop);
    if (loop == NULL) {
        errno = ENOMEM;
        return r;
    }
    *loop = vrt_event_loop_new();
    if (loop->kq < 0) {
        int saved = errno;
        a->release(a->ctx, loop);
        errno = saved;
        return r;
    }
    r.event_loop = loop;
    r.core.loop = loop;
    /* The loop object is given back through the core's allocator, so the
     * core takes the same one for its slabs. */
    r.core.allocator = *a;
    return r;
}

vrt_join_handle_t vrt_reactor_runtime_spawn(vrt_reactor_runtime_t *self,
                                            int64_t future_ptr,
                                            vrt_poll_fn poll_fn)
{
    if (!reactor_usable(self)) {
        vrt_join_handle_t invalid = {-1, NULL};
        return invalid;
    }
    return vrt_runtime_spawn(&self->core, future_ptr, poll_fn);
}

vrt_event_loop_t *vrt_reactor_runtime_get_event_loop(vrt_reactor_runtime_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return self->event_loop;
}

/* The task whose poll is running, for the wait functions. */
static vrt_task_node_t *waiting_task(vrt_reactor_runtime_t *self)
{
    if (!reactor_usable(self))
        return NULL;
    if (self->core.current_task == NULL) {
        errno = EINVAL; /* waits are registered from inside a poll */
        return NULL;
    }
    return self->core.current_task;
}

int64_t vrt_reactor_wait_fd(vrt_reactor_runtime_t *self, vrt_task_node_t *task,
                            int64_t fd, int64_t type)
{
    if (!reactor_usable(self))
        return -1;
    return vrt_loop_arm_fd(self->event_loop, fd, type, task);
}

int64_t vrt_reactor_sleep(vrt_reactor_runtime_t *self, vrt_task_node_t *task,
                          int64_t delay_ms)
{
    if (!reactor_usable(self))
        return -1;
    if (delay_ms < 0) {
        errno = EINVAL;
        return -1;
    }
    int64_t id = self->next_timer_id;
    if (vrt_loop_arm_timer(self->event_loop, id, delay_ms, task) != 0)
        return -1;
    self->next_timer_id++;
    return id;
}

int64_t vrt_reactor_runtime_wait_readable(vrt_reactor_runtime_t *self, int64_t fd)
{
    vrt_task_node_t *task = waiting_task(self);
    return task == NULL ? -1 : vrt_reactor_wait_fd(self, task, fd, VRT_SOURCE_FD_READ);
}

int64_t vrt_reactor_runtime_wait_writable(vrt_reactor_runtime_t *self, int64_t fd)
{
    vrt_task_node_t *task = waiting_task(self);
    return task == NULL ? -1 : vrt_reactor_wait_fd(self, task, fd, VRT_SOURCE_FD_WRITE);
}

int64_t vrt_reactor_runtime_sleep_ms(vrt_reactor_runtime_t *self, int64_t delay_ms)
{
    vrt_task_node_t *task = waiting_task(self);
    return task == NULL ? -1 : vrt_reactor_sleep(self, task, delay_ms);
}

/* Makes the tasks of the last poll's events runnable, each in the runtime
 * that owns it (a reactor, or a task group sharing the loop); one-shot:
 * their other waits go. */
static void dispatch(vrt_event_loop_t *loop, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        vrt_task_node_t *task = vrt_loop_event_task(loop, i);
        if (task == NULL || task->owner == NULL || task->owner->loop != loop ||
            (task->flags & VRT_NODE_PARKED) == 0)
            continue;
        vrt_loop_drop_waits(loop, task);
        vrt_sched_wake(task->owner, task);
    }
}

int64_t vrt_loop_turn(vrt_runtime_t *core, vrt_event_loop_t *loop,
                      enum vrt_future_state future)
{
    if (core->head != NULL)
        vrt_sched_sweep(core);
    int runnable = core->head != NULL || future == VRT_FUTURE_RUNNABLE;
    int waiting = core->parked_count > 0 || future == VRT_FUTURE_PARKED;
    if (!runnable && !waiting)
        return 0; /* everything finished in this sweep */
    if (loop == NULL)
        return 0; /* nothing can be parked without a loop: only yields */
    int64_t count = vrt_event_loop_poll_events(loop, runnable ? 0 : -1);
    if (count < 0)
        return -1;
    dispatch(loop, count);
    return 0;
}

int64_t vrt_reactor_runtime_run(vrt_reactor_runtime_t *self)
{
    if (!reactor_usable(self) || vrt_sched_enter(&self->core) != 0)
        return -1;
    int64_t rc = 0;
    while (rc == 0 && self->core.task_count > 0)
        rc = vrt_loop_turn(&self->core, self->event_loop, VRT_NO_FUTURE);
    self->core.running = 0;
    return rc;
}

int64_t vrt_reactor_runtime_block_on(vrt_reactor_runtime_t *self,
                                     int64_t future_ptr, vrt_poll_fn poll_fn)
{
    if (poll_fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!reactor_usable(self) || vrt_sched_enter(&self->core) != 0)
        return -1;
    vrt_task_node_t future = vrt_task_node_new(-1, future_ptr, poll_fn);
    future.owner = &self->core;
    future.flags = VRT_NODE_FUTURE;
    int64_t packed = vrt_sched_poll(&self->core, &future);
    int64_t rc = 0;
    while (!vrt_poll_is_ready(packed)) {
        if ((future.flags & VRT_NODE_WAITING) != 0)
            vrt_sched_park(&self->core, &future);
        rc = vrt_loop_turn(&self->core, self->event_loop,
                           (future.flags & VRT_NODE_PARKED) != 0 ? VRT_FUTURE_PARKED
                                                                 : VRT_FUTURE_RUNNABLE);
        if (rc != 0)
            break;
        if ((future.flags & VRT_NODE_PARKED) == 0)
            packed = vrt_sched_poll(&self->core, &future);
    }
    /* The future lives on this stack frame: none of its waits may outlive
     * the call. */
    vrt_loop_drop_waits(self->event_loop, &future);
    self->core.running = 0;
    return rc != 0 ? -1 : vrt_poll_value(packed);
}

int64_t vrt_reactor_runtime_free(vrt_reactor_runtime_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (self->event_loop == NULL)
        return vrt_runtime_free(&self->core);
    if (vrt_sched_idle(&self->core) != 0)
        return -1;
    vrt_event_loop_cleanup(self->event_loop); /* a no-op if done by hand */
    self->core.allocator.release(self->core.allocator.ctx, self->event_loop);
    self->event_loop = NULL;
    vrt_runtime_free(&self->core);
    self->next_timer_id = FIRST_TIMER_ID;
    return 0;
}

int64_t vrt_reactor_runtime_check(vrt_reactor_runtime_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return VRT_CHECK_NULL;
    }
    int64_t rc = vrt_runtime_check(&self->core);
    if (rc != 0 || self->event_loop == NULL)
        return rc;
    return vrt_loop_check(self->event_loop);
}
