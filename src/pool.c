/*
 * The node pool: task nodes come from fixed-size slabs owned by one runtime
 * and go back to its free list, so spawn allocates only when the pool is
 * exhausted and a stale handle always points at memory the runtime owns.
 */
#include <errno.h>
#include <stdlib.h>

#include "vrt_internal.h"

static void *libc_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void libc_release(void *ctx, void *block)
{
    (void)ctx;
    free(block);
}

static const vrt_allocator_t libc_allocator = {libc_alloc, libc_release, NULL};

/* Set before runtimes allocate; runtimes copy it at their first slab. */
static vrt_allocator_t default_allocator = {libc_alloc, libc_release, NULL};

int64_t vrt_set_allocator(const vrt_allocator_t *allocator)
{
    if (allocator == NULL) {
        default_allocator = libc_allocator;
        return 0;
    }
    if (allocator->alloc == NULL || allocator->release == NULL) {
        errno = EINVAL;
        return -1;
    }
    default_allocator = *allocator;
    return 0;
}

const vrt_allocator_t *vrt_default_allocator(void)
{
    return &default_allocator;
}

/*@ requires \valid(node);
    assigns *node;
    ensures node->id == -1 && node->flags == VRT_NODE_FREE;
    ensures node->owner == owner && node->next == next;
*/
static void node_make_free(vrt_task_node_t *node, vrt_runtime_t *owner,
                           vrt_task_node_t *next)
{
    node->id = -1;
    node->future_ptr = 0;
    node->poll_fn = NULL;
    node->status = VRT_TASK_PENDING;
    node->result = 0;
    node->next = next;
    node->prev = NULL;
    node->owner = owner;
    node->flags = VRT_NODE_FREE;
    node->waits = NULL;
}

/* Adds one slab; every node of it goes on the free list, nodes[0] first. */
/*@ requires \valid(rt);
    behavior oom:
      ensures \result == -1 && rt->free_list == \old(rt->free_list);
    behavior grown:
      ensures \result == 0 ==> rt->free_list != \null;
*/
static int64_t pool_grow(vrt_runtime_t *rt)
{
    /* The allocator the runtime captured (or was given at creation). */
    const vrt_allocator_t *source =
        rt->allocator.alloc != NULL ? &rt->allocator : &default_allocator;
    struct vrt_slab *slab = source->alloc(source->ctx, sizeof *slab);
    if (slab == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (rt->slab_count == 0)
        rt->allocator = *source;
    /*@ loop invariant -1 <= i < VRT_SLAB_NODES;
        loop assigns i, slab->nodes[0 .. VRT_SLAB_NODES - 1], rt->free_list;
        loop variant i;
    */
    for (int i = VRT_SLAB_NODES - 1; i >= 0; i--) {
        node_make_free(&slab->nodes[i], rt, rt->free_list);
        rt->free_list = &slab->nodes[i];
    }
    slab->next = rt->slabs;
    rt->slabs = slab;
    rt->slab_count++;
    return 0;
}

vrt_task_node_t *vrt_pool_take(vrt_runtime_t *rt)
{
    if (rt->free_list == NULL && pool_grow(rt) != 0)
        return NULL;
    vrt_task_node_t *node = rt->free_list;
    rt->free_list = node->next;
    node->next = NULL;
    node->flags = 0;
    return node;
}

void vrt_pool_put(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    node_make_free(node, rt, rt->free_list);
    rt->free_list = node;
}

void vrt_pool_release_all(vrt_runtime_t *rt)
{
    struct vrt_slab *slab = rt->slabs;
    int64_t left = rt->slab_count;
    /*@ loop invariant left >= 0;
        loop assigns slab, left;
        loop variant left;
    */
    while (slab != NULL && left > 0) {
        struct vrt_slab *next = slab->next;
        rt->allocator.release(rt->allocator.ctx, slab);
        slab = next;
        left--;
    }
    rt->slabs = NULL;
    rt->slab_count = 0;
    rt->free_list = NULL;
}
