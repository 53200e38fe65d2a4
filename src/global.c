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
    /* NULL from vrt_get_reactor is refused by the method with EINVAL, but
     * the cause (ENOMEM, EMFILE) is what the caller needs to see. */
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    if (r == NULL) {
        vrt_join_handle_t invalid = {-1, NULL};
        return invalid;
    }
    return vrt_reactor_runtime_spawn(r, future_ptr, poll_fn);
}

int64_t vrt_reactor_block_on(int64_t future_ptr, vrt_poll_fn poll_fn)
{
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    return r == NULL ? -1 : vrt_reactor_runtime_block_on(r, future_ptr, poll_fn);
}

int64_t vrt_reactor_run(void)
{
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    return r == NULL ? -1 : vrt_reactor_runtime_run(r);
}

int64_t vrt_wait_readable(int64_t fd)
{
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    return r == NULL ? -1 : vrt_reactor_runtime_wait_readable(r, fd);
}

int64_t vrt_wait_writable(int64_t fd)
{
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    return r == NULL ? -1 : vrt_reactor_runtime_wait_writable(r, fd);
}

int64_t vrt_sleep_ms(int64_t delay_ms)
{
    vrt_reactor_runtime_t *r = vrt_get_reactor();
    return r == NULL ? -1 : vrt_reactor_runtime_sleep_ms(r, delay_ms);
}

int64_t vrt_shutdown(void)
{
    if (global_runtime.running != 0 || global_reactor.core.running != 0) {
        errno = EBUSY;
        return -1;
    }
    vrt_runtime_free(&global_runtime);
    vrt_reactor_runtime_free(&global_reactor);
    return 0;
}
