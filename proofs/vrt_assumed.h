/*
 * What the proofs assume and do not prove: contracts for the calls the
 * scheduler core makes through function pointers (a task's poll function,
 * the allocator's alloc and release) and for the event-loop function the
 * core calls (vrt_loop_drop_waits, event_loop.c is outside the proof).
 * libc (malloc, free, errno) is Frama-C's own libc specification.
 *
 * Only Frama-C reads this file: src/vrt_internal.h includes it when
 * __FRAMAC__ is defined, in place of the static inline wrappers the
 * compilers see (which make exactly these calls).
 */
#ifndef VRT_ASSUMED_H
#define VRT_ASSUMED_H

#include <errno.h>

/* Everything a task's poll function may write: it may call back into any
 * runtime (spawn, abort, release, set_max_tasks...), into the event loops,
 * and nest polls (which writes the thread-local innermost runtime, a cell of
 * type vrt_runtime_t *). */
#define VRT_LOOP_WORLD                                                   \
    { *vrt_w_s | vrt_event_source_t *vrt_w_s; \true },                   \
    { *vrt_w_h | vrt_event_source_t **vrt_w_h; \true },                  \
    { *vrt_w_f | struct vrt_fd_slot *vrt_w_f; \true },                   \
    { *vrt_w_l | struct vrt_loop_state *vrt_w_l; \true },                \
    { *vrt_w_e | vrt_event_loop_t *vrt_w_e; \true }, errno
#define VRT_WORLD                                                        \
    { *vrt_w_r | vrt_runtime_t *vrt_w_r; \true },                        \
    { *vrt_w_n | vrt_task_node_t *vrt_w_n; \true },                      \
    { *vrt_w_b | struct vrt_slab *vrt_w_b; \true },                      \
    { *vrt_w_p | vrt_runtime_t **vrt_w_p; \true }, VRT_LOOP_WORLD

/* ASSUMED: a task's poll function.  It may do anything the API allows,
 * which keeps the runtime's invariants (every API function preserves them),
 * leaves the polled task in the queue if it was there (an abort of the task
 * being polled is deferred, a release only detaches it), never frees the
 * runtime while it runs (vrt_runtime_free refuses: EBUSY) and leaves every
 * node readable (slabs are only released by vrt_runtime_free). */
/*@ requires sched_inv(rt) && \valid(node) && \separated(rt, node);
    requires node->poll_fn != \null;
    assigns VRT_WORLD;
    ensures sched_inv(rt);
    ensures node->poll_fn == \old(node->poll_fn);
    ensures in_queue{Pre}(rt, node) ==> in_queue(rt, node);
    ensures in_queue(rt, node) ==> rt->task_count > rt->parked_count;
    ensures in_queue(rt, node) ==> (node->flags & VRT_NODE_PARKED) == 0 &&
                                 (node->flags & VRT_NODE_FREE) == 0;
    ensures rt->running == \old(rt->running);
*/
int64_t vrt_call_poll(vrt_runtime_t *rt, vrt_task_node_t *node);

/* ASSUMED: allocator->alloc(ctx, size): NULL, or a fresh block of size
 * bytes separated from everything the runtime holds; writes nothing the
 * runtime reads (it may set errno).  Also assumed, not checked: alloc is
 * never NULL (vrt_set_allocator refuses NULL; a runtime's copy is taken
 * from the default allocator). */
/*@ requires \valid_read(allocator);
    assigns errno;
    ensures \result == \null || (\fresh(\result, size) && \valid((char *)\result + (0 .. size - 1)));
*/
void *vrt_call_alloc(const vrt_allocator_t *allocator, size_t size);

/* ASSUMED: allocator->release(ctx, block) for a block alloc returned. */
/*@ requires \valid_read(allocator) && allocator->release != \null;
    requires block != \null;
    assigns errno;
*/
void vrt_call_release(const vrt_allocator_t *allocator, void *block);

/* ASSUMED: the pool's slab allocation, vrt_call_alloc with the size of a
 * slab: NULL, or a valid slab apart from the runtime that asked for it and
 * from the nodes it has queued, at the start of its block (vrt_call_alloc
 * returns a fresh block). */
/*@ requires \valid_read(allocator) && \valid_read(rt);
    assigns errno;
    ensures \result == \null || (\valid(\result) && \offset(\result) == 0 &&
            \separated(\result, rt) &&
            \forall vrt_task_node_t *n; in_queue(rt, n) ==> \separated(\result, n));
*/
struct vrt_slab *vrt_call_alloc_slab(const vrt_allocator_t *allocator,
                                     const vrt_runtime_t *rt);

/* ASSUMED: vrt_call_release of a slab vrt_call_alloc_slab returned. */
/*@ requires \valid_read(allocator) && allocator->release != \null;
    requires \valid(slab);
    assigns errno;
*/
void vrt_call_release_slab(const vrt_allocator_t *allocator,
                           struct vrt_slab *slab);

/* ASSUMED (event_loop.c is outside the proof): drops the task's waits.
 * It writes the loop's tables and sources, task->waits and task->flags only:
 * never a runtime, nor another field of a node (in WP's Typed model the
 * loop's cells, VRT_LOOP_WORLD, may cover every cell, so the frame on the
 * task's runtime is stated here; queue_links kept follows from queue_kept,
 * stated for the provers). */
/*@ requires \valid(task);
    assigns task->waits, task->flags, VRT_LOOP_WORLD;
    ensures task->waits == \null;
    ensures task->flags == (\old(task->flags) & ~VRT_NODE_WAITING);
    ensures task->owner == \old(task->owner);
    ensures rt_counts_kept{Pre, Post}(\old(task->owner));
    ensures queue_kept{Pre, Post}(\old(task->owner));
    ensures queue_links{Pre}(\old(task->owner)) ==>
            queue_links(\old(task->owner));
    ensures \old(task->owner)->free_list == \old(task->owner->free_list);
*/
void vrt_loop_drop_waits(vrt_event_loop_t *loop, vrt_task_node_t *task);

#endif /* VRT_ASSUMED_H */
