/*
 * The node pool: task nodes come from fixed-size slabs owned by one runtime
 * and go back to its free list, so spawn allocates only when the pool is
 * exhausted and a stale handle always points at memory the runtime owns.
 */
#include <errno.h>
#include <stdlib.h>

#include "vrt_internal.h"

/*@ assigns __fc_heap_status \from __fc_heap_status, size;
    assigns \result \from indirect:size, indirect:__fc_heap_status;
    allocates \result;
    ensures \result == \null || \fresh(\result, size);
*/
static void *libc_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

/*@ requires block == \null || \freeable(block);
    assigns __fc_heap_status \from __fc_heap_status;
    frees block;
*/
static void libc_release(void *ctx, void *block)
{
    (void)ctx;
    free(block);
}

static const vrt_allocator_t libc_allocator = {libc_alloc, libc_release, NULL};

/* Set before runtimes allocate; runtimes copy it at their first slab. */
static vrt_allocator_t default_allocator = {libc_alloc, libc_release, NULL};

/*@ requires allocator == \null || \valid_read(allocator);
    assigns errno, default_allocator;
    behavior reset:
      assumes allocator == \null;
      assigns default_allocator;
      ensures \result == 0 && default_allocator == libc_allocator;
    behavior invalid:
      assumes allocator != \null &&
              (allocator->alloc == \null || allocator->release == \null);
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior set:
      assumes allocator != \null &&
              allocator->alloc != \null && allocator->release != \null;
      assigns default_allocator;
      ensures \result == 0 && default_allocator == *allocator;
    complete behaviors;
    disjoint behaviors;
*/
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

/*@ assigns \nothing;
    ensures \result == &default_allocator;
*/
const vrt_allocator_t *vrt_default_allocator(void)
{
    return &default_allocator;
}

/*@ requires \valid(node);
    assigns *node;
    ensures node->id == -1 && node->flags == VRT_NODE_FREE;
    ensures node->owner == owner && node->next == next;
    ensures node->prev == \null && node->waits == \null;
    ensures node->poll_fn == \null && node->future_ptr == 0;
    ensures node->status == VRT_TASK_PENDING && node->result == 0;
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
/*@ requires \valid(rt) && rt->free_list == \null;
    requires 0 <= rt->slab_count < 0x100000000 && queue_links(rt);
    assigns errno, rt->allocator, rt->free_list, rt->slabs, rt->slab_count,
            { *vrt_w_n | vrt_task_node_t *vrt_w_n; \true },
            { *vrt_w_b | struct vrt_slab *vrt_w_b; \true };
    ensures \result == 0 || \result == -1;
    ensures \result == -1 ==> errno == ENOMEM && rt->free_list == \null &&
            rt->slab_count == \old(rt->slab_count);
    ensures \result == 0 ==> \valid(rt->free_list) &&
            \separated(rt->free_list, rt) && rt->free_list->owner == rt &&
            slab_node(rt->free_list) &&
            rt->free_list->flags == VRT_NODE_FREE &&
            rt->slab_count == \old(rt->slab_count) + 1;
    ensures queue_kept{Pre, Post}(rt);
    ensures rt_counts_kept{Pre, Post}(rt);
*/
static int64_t pool_grow(vrt_runtime_t *rt)
{
    /* The allocator the runtime captured (or was given at creation). */
    const vrt_allocator_t *source =
        rt->allocator.alloc != NULL ? &rt->allocator : &default_allocator;
    struct vrt_slab *slab = vrt_call_alloc_slab(source, rt);
    if (slab == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (rt->slab_count == 0)
        rt->allocator = *source;
    /*@ loop invariant -1 <= i < VRT_SLAB_NODES;
        loop invariant i < VRT_SLAB_NODES - 1 ==>
            rt->free_list == &slab->nodes[i + 1] &&
            slab->nodes[i + 1].owner == rt;
        loop invariant i == VRT_SLAB_NODES - 1 ==> rt->free_list == \null;
        loop invariant \forall integer j; i < j < VRT_SLAB_NODES ==>
            slab->nodes[j].flags == VRT_NODE_FREE;
        loop assigns i, slab->nodes[0 .. VRT_SLAB_NODES - 1], rt->free_list;
        loop variant i;
    */
    for (int i = VRT_SLAB_NODES - 1; i >= 0; i--) {
        node_make_free(&slab->nodes[i], rt, rt->free_list);
        rt->free_list = &slab->nodes[i];
    }
    /*@ assert \forall vrt_task_node_t *n; slab_node(n) &&
            !\separated(n, slab) ==> n->flags == VRT_NODE_FREE; */
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
    /*@ assert \valid(node) && slab_node(node) && node->flags == VRT_NODE_FREE; */
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==> n != node; */
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            \separated(n, node); */
    rt->free_list = node->next;
    node->next = NULL;
    node->flags = 0;
    return node;
}

void vrt_pool_put(vrt_runtime_t *rt, vrt_task_node_t *node)
{
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            \separated(n, node); */
    node_make_free(node, rt, rt->free_list);
    rt->free_list = node;
    /*@ assert \forall vrt_task_node_t *n; slab_node(n) && n != node ==>
            n->flags == \at(n->flags, Pre); */
    /*@ assert \forall vrt_task_node_t *n; slab_node(n) && n != node &&
            n->owner == rt ==> \at(n->owner, Pre) == rt; */
    /*@ assert queue_links{Pre}(rt) ==> \forall vrt_task_node_t *n;
            in_queue{Pre}(rt, n) ==>
            in_queue(rt, n) && n->next == \at(n->next, Pre) &&
            n->prev == \at(n->prev, Pre); */
    /*@ assert \forall vrt_task_node_t *n; in_queue(rt, n) ==>
            in_queue{Pre}(rt, n); */
}

void vrt_pool_release_all(vrt_runtime_t *rt)
{
    struct vrt_slab *slab = rt->slabs;
    int64_t left = rt->slab_count;
    /*@ loop invariant left > 0 ==> rt->allocator.release != \null;
        loop assigns slab, left, errno;
        loop variant left;
    */
    while (slab != NULL && left > 0) {
        struct vrt_slab *next = slab->next;
        vrt_call_release_slab(&rt->allocator, slab);
        slab = next;
        left--;
    }
    rt->slabs = NULL;
    rt->slab_count = 0;
    rt->free_list = NULL;
}
