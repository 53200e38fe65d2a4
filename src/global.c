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

int64_t vrt_shutdown(void)
{
    return vrt_runtime_free(&global_runtime);
}
