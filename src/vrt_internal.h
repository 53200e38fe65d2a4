/*
 * The scheduler core shared by Runtime (and, as they land, ReactorRuntime and
 * TaskGroup): the node pool and the run queue.  Nothing here is public API.
 *
 * ACSL: the predicates below are the logical view the contracts are written
 * against; proofs/ discharges them with Frama-C WP.
 */
#ifndef VRT_INTERNAL_H
#define VRT_INTERNAL_H

#include "vrt.h"

/* Nodes per slab.  Slabs are never returned to the allocator before the
 * runtime is freed, so a stale handle always points at readable memory. */
#define VRT_SLAB_NODES 64

struct vrt_slab {
    struct vrt_slab *next;
    vrt_task_node_t nodes[VRT_SLAB_NODES];
};

/*@ predicate live_status(integer s) =
        s == VRT_TASK_PENDING || s == VRT_TASK_RUNNING || s == VRT_TASK_READY;
    predicate finished_status(integer s) =
        s == VRT_TASK_COMPLETED || s == VRT_TASK_CANCELLED;
    logic integer effective_limit(vrt_runtime_t *rt) =
        rt->max_tasks == 0 ? VRT_MAX_TASKS : rt->max_tasks;
    predicate within_limit(vrt_runtime_t *rt) =
        0 <= rt->task_count <= effective_limit(rt);
    predicate empty_queue(vrt_runtime_t *rt) =
        rt->head == \null && rt->tail == \null;
*/

/* The live-task limit in force. */
/*@ requires \valid_read(rt);
    assigns \nothing;
    ensures \result == effective_limit(rt);
*/
int64_t vrt_sched_limit(const vrt_runtime_t *rt);

/* ---- node pool (pool.c) ---- */

/* The allocator new runtimes and loops capture (vrt_set_allocator). */
const vrt_allocator_t *vrt_default_allocator(void);

/* Takes a free node, growing the pool by one slab if needed.  NULL with
 * ENOMEM when the allocator fails; the runtime is then unchanged. */
/*@ requires \valid(rt);
    behavior has_free:
      assumes rt->free_list != \null;
      ensures \result == \old(rt->free_list);
      ensures rt->free_list == \old(rt->free_list->next);
    behavior must_grow:
      assumes rt->free_list == \null;
      ensures \result == \null || \valid(\result);
*/
vrt_task_node_t *vrt_pool_take(vrt_runtime_t *rt);

/* Puts a node that is neither queued nor current back on the free list. */
/*@ requires \valid(rt) && \valid(node);
    requires node->owner == rt;
    assigns node->id, node->flags, node->next, node->prev, node->status,
            node->poll_fn, node->future_ptr, node->result, rt->free_list;
    ensures rt->free_list == node;
    ensures node->id == -1 && node->flags == VRT_NODE_FREE;
    ensures node->next == \old(rt->free_list);
*/
void vrt_pool_put(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Releases every slab to the allocator that gave it. */
void vrt_pool_release_all(vrt_runtime_t *rt);

/* ---- run queue (sched.c) ---- */

/*@ requires \valid(rt) && \valid(node);
    requires \separated(rt, node);
    requires (rt->head == \null) <==> (rt->tail == \null);
    requires rt->tail != \null ==> \valid(rt->tail) && rt->tail->next == \null;
    requires (node->flags & VRT_NODE_QUEUED) == 0;
    assigns rt->head, rt->tail, rt->tail->next, node->next, node->prev,
            node->flags;
    ensures rt->tail == node && node->next == \null;
    ensures node->prev == \old(rt->tail);
    ensures \old(rt->tail) == \null ==> rt->head == node;
    ensures \old(rt->tail) != \null ==> rt->head == \old(rt->head);
*/
void vrt_sched_link_tail(vrt_runtime_t *rt, vrt_task_node_t *node);

/*@ requires \valid(rt) && \valid(node);
    requires node->prev != \null ==> \valid(node->prev);
    requires node->next != \null ==> \valid(node->next);
    requires node->prev == \null ==> rt->head == node;
    requires node->next == \null ==> rt->tail == node;
    assigns rt->head, rt->tail, node->prev->next, node->next->prev,
            node->next, node->prev, node->flags;
    ensures node->next == \null && node->prev == \null;
    ensures (node->flags & VRT_NODE_QUEUED) == 0;
*/
void vrt_sched_unlink(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Ends a live task with a final status: out of the queue, task_count down,
 * recycled at once if its handle was released. */
/*@ requires \valid(rt) && \valid(node);
    requires finished_status(status);
    requires rt->task_count > 0;
    ensures rt->task_count == \old(rt->task_count) - 1;
    ensures (node->flags & VRT_NODE_QUEUED) == 0;
*/
void vrt_sched_finish(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t status, int64_t result);

/* Polls one task with current_task set around the call; returns the packed
 * result, which the caller settles. */
/*@ requires \valid(rt) && \valid(node);
    ensures rt->current_task == \null;
*/
int64_t vrt_sched_poll(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Applies a queued task's packed poll result: Ready completes it, an abort
 * during its own poll cancels it, anything else leaves it PENDING. */
/*@ requires \valid(rt) && \valid(node);
    requires rt->task_count > 0;
    ensures rt->task_count == \old(rt->task_count)
         || rt->task_count == \old(rt->task_count) - 1;
*/
void vrt_sched_settle(vrt_runtime_t *rt, vrt_task_node_t *node,
                      int64_t packed);

/* The runtime whose task is being polled innermost on this thread, or
 * NULL outside any poll. */
vrt_runtime_t *vrt_sched_polling(void);

/* One pass over the queue in order, including tasks appended during it. */
void vrt_sched_sweep(vrt_runtime_t *rt);

/* 0 when rt may be driven or freed; -1 with EINVAL (NULL) or EBUSY (a run
 * or block_on of it is active). */
/*@ assigns errno;
    ensures \result == 0 <==> (rt != \null && rt->running == 0);
*/
int64_t vrt_sched_idle(const vrt_runtime_t *rt);

/* Takes a task that registered a wait and returned Pending out of the run
 * queue (a block_on future is only marked). */
/*@ requires \valid(rt) && \valid(node);
    ensures (node->flags & VRT_NODE_PARKED) != 0;
    ensures (node->flags & VRT_NODE_QUEUED) == 0;
*/
void vrt_sched_park(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Makes a parked task READY and runnable again, at the tail of the queue.
 * Returns 1 if it was parked, 0 if not (nothing changes). */
/*@ requires \valid(rt) && \valid(node);
    ensures (node->flags & VRT_NODE_PARKED) == 0;
*/
int64_t vrt_sched_wake(vrt_runtime_t *rt, vrt_task_node_t *node);

/* Shared by run and block_on: vrt_sched_idle, then running = 1. */
int64_t vrt_sched_enter(vrt_runtime_t *rt);

/* ---- event loop (event_loop.c) ---- */

#include <stdatomic.h>

#include "backend.h"

/* A registered interest: one direction of one fd, or one timer. */
struct vrt_event_source {
    int64_t type;             /* VRT_SOURCE_FD_READ, _FD_WRITE, _TIMER */
    int64_t fd;               /* the fd, or the timer id */
    vrt_task_node_t *task;
    vrt_event_source_t *next; /* the loop's source list */
    vrt_event_source_t *prev;
    vrt_event_source_t *task_next; /* the other waits of the same task */
    int64_t deadline_ns;      /* timers: monotonic deadline */
    int64_t seq;              /* timers: arming order, breaks deadline ties */
    int64_t heap_index;       /* timers: position in the heap */
    vrt_event_source_t *hash_next; /* timers: id bucket chain */
};

/* Per fd number: the armed sources and what the kernel was last told. */
struct vrt_fd_slot {
    vrt_event_source_t *read;
    vrt_event_source_t *write;
    uint32_t kernel_mask;     /* VRT_IO_* bits the kernel watches */
    uint32_t generation;      /* bumped at each new kernel registration */
    vrt_task_node_t *last_reader; /* who was last woken for each direction: */
    vrt_task_node_t *last_writer; /* see vrt_loop_arm_fd */
};

struct vrt_event_record {
    int64_t fd;     /* fd, timer id or VRT_WAKER_TOKEN */
    int64_t filter; /* VRT_EVFILT_* */
    vrt_task_node_t *task; /* the source's task when the event was taken */
};

struct vrt_loop_state {
    vrt_allocator_t allocator;
    struct vrt_fd_slot *fds;
    int64_t fd_capacity;
    vrt_event_source_t **heap; /* timers, min-heap on (deadline_ns, seq) */
    int64_t heap_len;
    int64_t heap_capacity;
    vrt_event_source_t **buckets; /* timer id -> source */
    int64_t bucket_count;         /* a power of two, or 0 */
    vrt_event_source_t *free_sources;
    int64_t next_seq;
    int64_t event_count;
    atomic_int wake_pending;      /* coalesces wakes; signal-safe */
    struct vrt_event_record events[VRT_MAX_EVENTS];
    vrt_io_event_t io[VRT_MAX_EVENTS];
};

/* The monotonic clock in nanoseconds. */
int64_t vrt_clock_ns(void);

/*
 * The reactor's one-shot wait on an fd direction (VRT_SOURCE_FD_READ or
 * _WRITE): arms a source for task and links it on task->waits.  Skips the
 * system call when the kernel still watches that direction for the same
 * task since its last wake (a ping-pong re-arms for free).  Returns 0; -1
 * with EBADF, EBUSY (another task waits there), ENOMEM, unchanged.
 */
int64_t vrt_loop_arm_fd(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                        vrt_task_node_t *task);

/* The reactor's timer: as register_timer, also linked on task->waits. */
int64_t vrt_loop_arm_timer(vrt_event_loop_t *loop, int64_t timer_id,
                           int64_t delay_ms, vrt_task_node_t *task);

/* Removes every source on task->waits, keeping fd interest in the kernel
 * (dropped lazily if it fires for nobody). */
void vrt_loop_drop_waits(vrt_event_loop_t *loop, vrt_task_node_t *task);

/* The task of the index-th event of the last poll (NULL for the waker). */
vrt_task_node_t *vrt_loop_event_task(vrt_event_loop_t *loop, int64_t index);

/* ---- loop-driven cores (reactor.c) ---- */

enum vrt_future_state { VRT_NO_FUTURE, VRT_FUTURE_RUNNABLE, VRT_FUTURE_PARKED };

/*
 * One turn of a core whose tasks wait on loop: a sweep over the runnable
 * tasks, then the kernel, without blocking while anything (or a block_on
 * future) is runnable, else until the next event or deadline; events wake
 * their tasks in whichever runtime owns them.  0, or -1 with the loop's
 * errno.
 */
int64_t vrt_loop_turn(vrt_runtime_t *core, vrt_event_loop_t *loop,
                      enum vrt_future_state future);

/* The reactor's waits for a given task (the methods use current_task; the
 * globals use whichever task is being polled, in a reactor or a group). */
int64_t vrt_reactor_wait_fd(vrt_reactor_runtime_t *self, vrt_task_node_t *task,
                            int64_t fd, int64_t type);
int64_t vrt_reactor_sleep(vrt_reactor_runtime_t *self, vrt_task_node_t *task,
                          int64_t delay_ms);

/* Returns 0 when the loop's tables agree with its source list and heap. */
int64_t vrt_loop_check(vrt_event_loop_t *loop);

#endif /* VRT_INTERNAL_H */
