/*
 * vrt: the reference implementation in C of the Vais std/runtime.
 *
 * Naming (spec/api.json holds every row): struct Foo -> vrt_foo_t,
 * method Foo::bar -> vrt_foo_bar(vrt_foo_t *self, ...), global baz -> vrt_baz,
 * constant NAME -> VRT_NAME.  Everything that is not in the Vais API is marked
 * "extension" below and listed as such in the table.
 *
 * Error discipline: a function that fails returns its documented error value
 * (-1, or the invalid JoinHandle {task_id: -1, task_ptr: NULL}), sets errno,
 * and leaves every structure exactly as it was before the call.  Functions
 * whose successful result can itself be -1 (block_on, a handle's result)
 * leave errno untouched on success: set errno to 0 before the call to tell
 * the two apart.
 */
#ifndef VRT_H
#define VRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Constants ---------------------------------------------------------- */

/* Task status. */
#define VRT_TASK_PENDING INT64_C(0)
#define VRT_TASK_RUNNING INT64_C(1)
#define VRT_TASK_READY INT64_C(2)
#define VRT_TASK_COMPLETED INT64_C(3)
/* extension: aborted through its handle or cancelled with its group */
#define VRT_TASK_CANCELLED INT64_C(4)

/* Runtime limits: the default live-task limit of a runtime and of a group. */
#define VRT_MAX_TASKS INT64_C(256)
/* extension: the highest live-task limit vrt_runtime_set_max_tasks accepts */
#define VRT_MAX_TASKS_LIMIT (INT64_C(1) << 32)

/* Event loop constants (kqueue's values, used by both backends). */
#define VRT_EVFILT_READ INT64_C(-1)
#define VRT_EVFILT_WRITE INT64_C(-2)
#define VRT_EVFILT_TIMER INT64_C(-7)
#define VRT_EV_ADD INT64_C(1)
#define VRT_EV_DELETE INT64_C(2)
#define VRT_EV_ONESHOT INT64_C(16)
#define VRT_MAX_EVENTS INT64_C(64)
#define VRT_WAKER_TOKEN INT64_C(-999)

/* Event source types. */
#define VRT_SOURCE_FD_READ INT64_C(1)
#define VRT_SOURCE_FD_WRITE INT64_C(2)
#define VRT_SOURCE_TIMER INT64_C(3)

/* ---- Poll ABI ------------------------------------------------------------ */

/*
 * A task's poll function, exactly the ABI of a compiled Vais poll function:
 * it receives the future_ptr given at spawn, verbatim, and returns a packed
 * result: status in bits 63..32 (1 = Ready, any other value = Pending) and a
 * signed 32-bit value in bits 31..0.
 */
typedef int64_t (*vrt_poll_fn)(int64_t future_ptr);

/* extension: the packed status that means Ready. */
#define VRT_POLL_STATUS_READY INT64_C(1)

/* Packs a Ready result carrying value.  Never fails. */
static inline int64_t vrt_poll_ready(int32_t value)
{
    uint64_t low = (uint64_t)(uint32_t)value;
    return (int64_t)(((uint64_t)VRT_POLL_STATUS_READY << 32) | low);
}

/* Packs a Pending result (status 0, value 0).  Never fails. */
static inline int64_t vrt_poll_pending(void)
{
    return 0;
}

/* The status half of a packed result, 0 .. 2^32-1; Ready iff it is 1.
 * Never fails. */
static inline int64_t vrt_poll_status(int64_t packed)
{
    return (int64_t)((uint64_t)packed >> 32);
}

/* The value half of a packed result, sign-extended from 32 bits, so that a
 * Ready(-5) reads back as -5.  Never fails. */
static inline int64_t vrt_poll_value(int64_t packed)
{
    int64_t low = (int64_t)((uint64_t)packed & UINT64_C(0xffffffff));
    return low >= INT64_C(0x80000000) ? low - INT64_C(0x100000000) : low;
}

/* extension: 1 if a packed result is Ready, else 0.  Never fails. */
static inline int64_t vrt_poll_is_ready(int64_t packed)
{
    return vrt_poll_status(packed) == VRT_POLL_STATUS_READY;
}

/* ---- Types --------------------------------------------------------------- */

typedef struct vrt_task_node vrt_task_node_t;
typedef struct vrt_join_handle vrt_join_handle_t;
typedef struct vrt_runtime vrt_runtime_t;
typedef struct vrt_allocator vrt_allocator_t;

/*
 * extension: where a runtime gets its memory.  alloc returns NULL on
 * failure; release is never called with NULL.  ctx is passed back verbatim.
 */
struct vrt_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*release)(void *ctx, void *block);
    void *ctx;
};

/* extension: TaskNode.flags bits, owned by the runtime. */
#define VRT_NODE_QUEUED INT64_C(1)   /* linked in its runtime's queue */
#define VRT_NODE_DETACHED INT64_C(2) /* handle released: recycle on finish */
#define VRT_NODE_FREE INT64_C(4)     /* on the free list, id is -1 */

/* A spawned task.  Nodes are owned by their runtime: never free one. */
struct vrt_task_node {
    int64_t id;
    int64_t future_ptr;
    vrt_poll_fn poll_fn;
    int64_t status;
    int64_t result;
    vrt_task_node_t *next;
    /* extensions */
    vrt_task_node_t *prev;
    vrt_runtime_t *owner;
    int64_t flags;
};

/* What spawn returns.  The invalid handle is {task_id: -1, task_ptr: NULL}. */
struct vrt_join_handle {
    int64_t task_id;
    vrt_task_node_t *task_ptr;
};

struct vrt_slab; /* a block of task nodes, private to the runtime */

/*
 * Single-threaded cooperative scheduler.  The zero value is a valid, empty
 * runtime (vrt_runtime_new returns it).  The seed's fields come first; the
 * rest are extensions that the runtime alone writes.
 */
struct vrt_runtime {
    int64_t task_count;            /* live (unfinished) tasks */
    int64_t next_task_id;          /* next id; ids count from 0 */
    vrt_task_node_t *head;         /* first queued task */
    vrt_task_node_t *tail;         /* last queued task */
    vrt_task_node_t *current_task; /* task being polled, else NULL */
    /* extensions */
    int64_t max_tasks;             /* live-task limit; 0 means VRT_MAX_TASKS */
    int64_t running;               /* 1 while run or block_on is active */
    vrt_task_node_t *free_list;    /* recycled nodes, linked by next */
    struct vrt_slab *slabs;        /* every node block, linked */
    int64_t slab_count;
    vrt_allocator_t allocator;     /* captured at the first allocation */
};

/* ---- TaskNode ------------------------------------------------------------ */

/* A detached node value: status PENDING, result 0, no links.  Never fails. */
vrt_task_node_t vrt_task_node_new(int64_t id, int64_t future_ptr,
                                  vrt_poll_fn poll_fn);

/* 1 if status is COMPLETED, else 0; -1 with EINVAL if self is NULL. */
int64_t vrt_task_node_is_completed(vrt_task_node_t *self);

/* 1 if status is PENDING, else 0; -1 with EINVAL if self is NULL. */
int64_t vrt_task_node_is_pending(vrt_task_node_t *self);

/* ---- JoinHandle ---------------------------------------------------------- */

/* The handle {task_id, task_ptr}, unchecked.  Never fails. */
vrt_join_handle_t vrt_join_handle_new(int64_t task_id,
                                      vrt_task_node_t *task_ptr);

/*
 * extension: 1 if the handle names a task that its runtime still holds
 * (live, or finished and not yet released), else 0.  A handle is stale once
 * released or once its node was reused; that is detected, never UB, as long
 * as the runtime itself has not been freed.  Never fails (NULL self: 0).
 */
int64_t vrt_join_handle_is_valid(vrt_join_handle_t *self);

/* extension: the task's status (VRT_TASK_*); -1 with EINVAL if self is NULL
 * or stale. */
int64_t vrt_join_handle_status(vrt_join_handle_t *self);

/*
 * extension: the value a COMPLETED task returned (sign-extended).  -1 with
 * EINVAL if self is NULL or stale, EINPROGRESS if the task has not finished,
 * ECANCELED if it was cancelled.
 */
int64_t vrt_join_handle_result(vrt_join_handle_t *self);

/*
 * extension: cancel the task: status CANCELLED, never polled again, its
 * live-task slot free (at once, or when its own poll returns if it aborts
 * itself).  Returns 1 if it was cancelled now, 0 if it had already finished;
 * -1 with EINVAL if self is NULL or stale.
 */
int64_t vrt_join_handle_abort(vrt_join_handle_t *self);

/*
 * extension: give the task's node back to its runtime and invalidate *self
 * (it becomes {-1, NULL}).  A finished task's node is recycled now; a live
 * task runs on, detached, and its node is recycled when it finishes.
 * Returns 0; -1 with EINVAL if self is NULL or stale.
 */
int64_t vrt_join_handle_release(vrt_join_handle_t *self);

/* ---- Runtime ------------------------------------------------------------- */

/* An empty runtime: every field zero.  Never fails. */
vrt_runtime_t vrt_runtime_new(void);

/*
 * Appends a task (status PENDING, next id) at the tail of the queue and
 * returns {id, node}.  Allowed from inside a poll: the new task joins the
 * current run.  On error returns {-1, NULL}, changes nothing and sets errno:
 * EINVAL (NULL self or poll_fn), EAGAIN (task_count at the live-task limit),
 * ENOMEM (allocation failed), EOVERFLOW (task ids exhausted, after 2^63-1
 * spawns).
 */
vrt_join_handle_t vrt_runtime_spawn(vrt_runtime_t *self, int64_t future_ptr,
                                    vrt_poll_fn poll_fn);

/*
 * Sweeps the queue in spawn order, polling each queued task once per sweep,
 * until no live task is left; returns 0.  Tasks spawned during a poll are
 * reached in the same sweep.  Returns -1 with EINVAL (NULL self) or EBUSY
 * (called from inside a poll of this runtime).
 */
int64_t vrt_runtime_run(vrt_runtime_t *self);

/*
 * Polls poll_fn(future_ptr) until it is Ready and returns its value
 * (sign-extended); after each Pending poll the queued tasks get one sweep.
 * Tasks still live when it returns stay queued.  Returns -1 with EINVAL
 * (NULL self or poll_fn) or EBUSY (called from inside a poll of this runtime).
 */
int64_t vrt_runtime_block_on(vrt_runtime_t *self, int64_t future_ptr,
                             vrt_poll_fn poll_fn);

/*
 * extension: set the live-task limit (default VRT_MAX_TASKS).  Returns 0;
 * -1 with EINVAL if self is NULL, max_tasks < 1, max_tasks above
 * VRT_MAX_TASKS_LIMIT, or below the current task_count.
 */
int64_t vrt_runtime_set_max_tasks(vrt_runtime_t *self, int64_t max_tasks);

/* extension: the live-task limit in force; -1 with EINVAL if self is NULL. */
int64_t vrt_runtime_max_tasks(vrt_runtime_t *self);

/*
 * extension: drop every task (live tasks are never polled again), give all
 * memory back to the allocator and return *self to the vrt_runtime_new
 * state.  Every handle of this runtime is invalid afterwards and must not be
 * used.  Freeing twice is a no-op.  Returns 0; -1 with EINVAL (NULL self) or
 * EBUSY (called from inside a poll of this runtime).
 */
int64_t vrt_runtime_free(vrt_runtime_t *self);

/*
 * extension: check the runtime's invariants: the queue is acyclic and
 * doubly linked, tail is its last node, task_count equals the number of
 * queued nodes and is within the limit, every queued node belongs to this
 * runtime with a live status, current_task is set only while running, and
 * the free list holds only free nodes.  Returns 0 when all hold, otherwise
 * the negative VRT_CHECK_* code of the first broken one (with EINVAL for a
 * NULL self).  Walks are bounded, so a corrupted list cannot hang it.
 */
int64_t vrt_runtime_check(vrt_runtime_t *self);

/* extension: the codes vrt_runtime_check returns. */
#define VRT_CHECK_NULL INT64_C(-1)
#define VRT_CHECK_COUNT_RANGE INT64_C(-2)
#define VRT_CHECK_HEAD_TAIL INT64_C(-3)
#define VRT_CHECK_LINKS INT64_C(-4)
#define VRT_CHECK_NODE INT64_C(-5)
#define VRT_CHECK_COUNT_MISMATCH INT64_C(-6)
#define VRT_CHECK_CURRENT INT64_C(-7)
#define VRT_CHECK_FREE_LIST INT64_C(-8)

/* ---- Allocation ---------------------------------------------------------- */

/*
 * extension: the allocator that runtimes capture at their first allocation
 * (NULL restores malloc/free).  A runtime keeps the allocator it captured
 * until vrt_runtime_free.  Returns 0; -1 with EINVAL if alloc or release is
 * NULL.
 */
int64_t vrt_set_allocator(const vrt_allocator_t *allocator);

/* ---- Global functions ---------------------------------------------------- */

/* Initialises the global runtime once and returns it; idempotent.
 * Never fails. */
vrt_runtime_t *vrt_runtime_init(void);

/* The global runtime, initialised on first use.  Never fails. */
vrt_runtime_t *vrt_get_runtime(void);

/* vrt_runtime_spawn on the global runtime; same errors. */
vrt_join_handle_t vrt_spawn(int64_t future_ptr, vrt_poll_fn poll_fn);

/* vrt_runtime_block_on on the global runtime; same errors. */
int64_t vrt_block_on(int64_t future_ptr, vrt_poll_fn poll_fn);

/* vrt_runtime_run on the global runtime; same errors. */
int64_t vrt_run_all(void);

/*
 * extension: free the global instances so that the next vrt_get_* starts
 * clean.  Returns 0; -1 with EBUSY if called from inside one of their polls.
 */
int64_t vrt_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* VRT_H */
