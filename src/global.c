/* The global instances behind the seed's free functions. */
#include <errno.h>

#include "vrt_internal.h"

static vrt_runtime_t global_runtime;

vrt_runtime_t *vrt_runtime_init(void)
{
    /* The zero value is a valid empty runtime, so there is nothing to set
     * up: initialisation is idempotent by construction. */
    return &global_runtime;
}

vrt_runtime_t *vrt_get_runtime(void)
{
    return vrt_runtime_init();
}

vrt_join_handle_t vrt_spawn(int64_t future_ptr, vrt_poll_fn poll_fn)
{
    return vrt_runtime_spawn(vrt_get_runtime(), future_ptr, poll_fn);
}

int64_t vrt_block_on(int64_t future_ptr, vrt_poll_fn poll_fn)
{
    return vrt_runtime_block_on(vrt_get_runtime(), future_ptr, poll_fn);
}

int64_t vrt_run_all(void)
{
    return vrt_runtime_run(vrt_get_runtime());
}

static vrt_reactor_runtime_t global_reactor;

vrt_reactor_runtime_t *vrt_reactor_init(void)
{
    if (global_reactor.event_loop == NULL) {
        vrt_reactor_runtime_t fresh = vrt_reactor_runtime_new();
        if (fresh.event_loop == NULL)
            return NULL;
        global_reactor = fresh;
    }
    return &global_reactor;
}

vrt_reactor_runtime_t *vrt_get_reactor(void)
{
    return vrt_reactor_init();
}

vrt_join_handle_t vrt_reactor_spawn(int64_t future_ptr, vrt_poll_fn poll_fn)
{
    /* A NULL poll_fn is refused before the global reactor is made: a
     * failed call changes nothing.  NULL from vrt_get_reactor is refused by
     * the method with EINVAL, but the cause (ENOMEM, EMFILE) is what the
     * caller needs to see. */
    vrt_reactor_runtime_t *r = poll_fn != NULL ? vrt_get_reactor() : NULL;
    if (r == NULL) {
        if (poll_fn == NULL)
            errno = EINVAL;
        vrt_join_handle_t invalid = {-1, NULL};
        return invalid;
    }
    return vrt_reactor_runtime_spawn(r, future_ptr, poll_fn);
}

int64_t vrt_reactor_block_on(int64_t future_ptr, vrt_poll_fn poll_fn)
{
    if (poll_fn == NULL) { /* before the global reactor is made, as spawn */
        errno = EINVAL;
        return -1;
    }
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    return r == NULL ? -1 : vrt_reactor_runtime_block_on(r, future_ptr, poll_fn);
}

int64_t vrt_reactor_run(void)
{
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    return r == NULL ? -1 : vrt_reactor_runtime_run(r);
}

/* The task being polled, if its runtime waits on the global reactor's
 * loop: a task of the global reactor, or of a task group.  Never makes
 * the global reactor: no task can wait on a loop that does not exist yet,
 * and a failed wait must change nothing. */
static vrt_task_node_t *global_waiter(vrt_reactor_runtime_t **reactor)
{
    vrt_runtime_t *core = vrt_sched_polling();
    if (global_reactor.event_loop == NULL || core == NULL || core->current_task == NULL ||
        core->loop != global_reactor.event_loop) {
        errno = EINVAL;
        return NULL;
    }
    *reactor = &global_reactor;
    return core->current_task;
}

int64_t vrt_wait_readable(int64_t fd)
{
    vrt_reactor_runtime_t *r;
    vrt_task_node_t *task = global_waiter(&r);
    return task == NULL ? -1 : vrt_reactor_wait_fd(r, task, fd, VRT_SOURCE_FD_READ);
}

int64_t vrt_wait_writable(int64_t fd)
{
    vrt_reactor_runtime_t *r;
    vrt_task_node_t *task = global_waiter(&r);
    return task == NULL ? -1 : vrt_reactor_wait_fd(r, task, fd, VRT_SOURCE_FD_WRITE);
}

int64_t vrt_sleep_ms(int64_t delay_ms)
{
    vrt_reactor_runtime_t *r;
    vrt_task_node_t *task = global_waiter(&r);
    return task == NULL ? -1 : vrt_reactor_sleep(r, task, delay_ms);
}

vrt_task_group_t vrt_task_group(void)
{
    return vrt_task_group_new();
}

vrt_scoped_task_t vrt_scoped_task(void)
{
    return vrt_scoped_task_new();
}

/* 1 if a task that is not the global reactor's (a task group's) still
 * waits on the global loop: freeing the loop would leave it dangling. */
static int foreign_waiters(void)
{
    vrt_event_loop_t *loop = global_reactor.event_loop;
    if (loop == NULL || loop->state == NULL)
        return 0;
    for (vrt_event_source_t *src = loop->sources_head; src != NULL; src = src->next)
        if (src->task != NULL && src->task->owner != &global_reactor.core)
            return 1;
    return 0;
}

int64_t vrt_shutdown(void)
{
    /* Not from inside any poll: a task group's tasks may be parked on the
     * global loop even when the global reactor itself is not running. */
    if (vrt_sched_polling() != NULL || global_runtime.running != 0 ||
        global_reactor.core.running != 0 || foreign_waiters()) {
        errno = EBUSY;
        return -1;
    }
    vrt_runtime_free(&global_runtime);
    vrt_reactor_runtime_free(&global_reactor);
    return 0;
}
