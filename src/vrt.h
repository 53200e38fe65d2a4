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

/* A packed result whose status half is Ready (1). */
/*@ predicate vrt_poll_ready_l(integer packed) =
        0x100000000 <= packed < 0x200000000;
*/

/* Packs a Ready result carrying value.  Never fails. */
/*@ assigns \nothing;
    ensures vrt_poll_ready_l(\result);
*/
static inline int64_t vrt_poll_ready(int32_t value)
{
    /* Status 1 in the high half plus the value's 32 bits: an addition,
     * since the halves do not overlap, which the provers handle. */
    uint64_t low = (uint64_t)(uint32_t)value;
    return (int64_t)((uint64_t)VRT_POLL_STATUS_READY * UINT64_C(0x100000000) + low);
}

/* Packs a Pending result (status 0, value 0).  Never fails. */
/*@ assigns \nothing;
    ensures \result == 0 && !vrt_poll_ready_l(\result);
*/
static inline int64_t vrt_poll_pending(void)
{
    return 0;
}

/* The status half of a packed result, 0 .. 2^32-1; Ready iff it is 1.
 * Never fails. */
/*@ assigns \nothing;
    ensures 0 <= \result < 0x100000000;
    ensures \result == 1 <==> vrt_poll_ready_l(packed);
*/
static inline int64_t vrt_poll_status(int64_t packed)
{
    /* Division rather than a shift: the same code, and the provers reason
     * about it as arithmetic. */
    return (int64_t)((uint64_t)packed / UINT64_C(0x100000000));
}

/* The value half of a packed result, sign-extended from 32 bits, so that a
 * Ready(-5) reads back as -5.  Never fails. */
/*@ assigns \nothing;
    ensures -0x80000000 <= \result < 0x80000000;
*/
static inline int64_t vrt_poll_value(int64_t packed)
{
    int64_t low = (int64_t)((uint64_t)packed % UINT64_C(0x100000000));
    return low >= INT64_C(0x80000000) ? low - INT64_C(0x100000000) : low;
}

/* extension: 1 if a packed result is Ready, else 0.  Never fails. */
/*@ assigns \nothing;
    ensures \result == 0 || \result == 1;
    ensures \result == 1 <==> vrt_poll_ready_l(packed);
*/
static inline int64_t vrt_poll_is_ready(int64_t packed)
{
    return vrt_poll_status(packed) == VRT_POLL_STATUS_READY;
}

/* ---- Types --------------------------------------------------------------- */

typedef struct vrt_task_node vrt_task_node_t;
typedef struct vrt_join_handle vrt_join_handle_t;
typedef struct vrt_runtime vrt_runtime_t;
typedef struct vrt_allocator vrt_allocator_t;
typedef struct vrt_event_loop vrt_event_loop_t;
typedef struct vrt_event_source vrt_event_source_t; /* opaque */

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
#define VRT_NODE_WAITING INT64_C(8)  /* registered a wait during this poll */
#define VRT_NODE_PARKED INT64_C(16)  /* out of the queue until woken */
#define VRT_NODE_FUTURE INT64_C(32)  /* a block_on future, not a task */
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
    vrt_event_source_t *waits; /* what a parked task waits on (reactor) */
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
    int64_t parked_count;          /* live tasks out of the queue, waiting */
    vrt_event_loop_t *loop;        /* the loop its tasks wait on, or NULL */
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
#define VRT_CHECK_PARKED INT64_C(-9)
#define VRT_CHECK_NULL INT64_C(-1)
#define VRT_CHECK_COUNT_RANGE INT64_C(-2)
#define VRT_CHECK_HEAD_TAIL INT64_C(-3)
#define VRT_CHECK_LINKS INT64_C(-4)
#define VRT_CHECK_NODE INT64_C(-5)
#define VRT_CHECK_COUNT_MISMATCH INT64_C(-6)
#define VRT_CHECK_CURRENT INT64_C(-7)
#define VRT_CHECK_FREE_LIST INT64_C(-8)

/* ---- EventLoop ----------------------------------------------------------- */

struct vrt_loop_state; /* private to vrt */

/*
 * I/O reactor over epoll (Linux) or kqueue (BSD, macOS).  Registrations are
 * level-triggered and stay until deregistered; timers live in a heap, not in
 * the kernel.  The seed's fields come first; do not copy a loop in use.
 */
struct vrt_event_loop {
    int64_t kq;                       /* epoll or kqueue fd; -1 if new failed */
    int64_t waker_read_fd;            /* pipe read end, non-blocking, cloexec */
    int64_t waker_write_fd;           /* pipe write end */
    vrt_event_source_t *sources_head; /* registered sources, oldest first */
    vrt_event_source_t *sources_tail;
    int64_t source_count;             /* fd directions plus timers */
    void *events_buf;                 /* the last poll's events */
    int64_t running;                  /* 1 while poll_events is waiting */
    /* extensions */
    struct vrt_loop_state *state;     /* tables, heap, buffers */
};

/*
 * A new loop: kernel queue, waker, empty tables.  On failure the result has
 * kq == -1 and every other fd -1, nothing is leaked, and errno says why
 * (EMFILE, ENFILE, ENOMEM).
 */
vrt_event_loop_t vrt_event_loop_new(void);

/*
 * Wait for fd to be readable (register_read) or writable (register_write)
 * on behalf of task_ptr; registering the same fd and direction again
 * replaces the task.  Returns 0; -1 with EINVAL (NULL self or task_ptr, loop
 * cleaned up), EBADF (fd negative, too large, not open, or one of the loop's
 * own), EPERM (epoll: a file that cannot be polled, such as a regular file),
 * ENOMEM.
 */
int64_t vrt_event_loop_register_read(vrt_event_loop_t *self, int64_t fd,
                                     vrt_task_node_t *task_ptr);
int64_t vrt_event_loop_register_write(vrt_event_loop_t *self, int64_t fd,
                                      vrt_task_node_t *task_ptr);

/*
 * A timer firing delay_ms from now on the monotonic clock, never earlier;
 * the same timer_id again re-arms it (new deadline and task).  Returns 0;
 * -1 with EINVAL (NULL self or task_ptr, delay_ms < 0, loop cleaned up) or
 * ENOMEM.  Huge delays saturate instead of overflowing.
 */
int64_t vrt_event_loop_register_timer(vrt_event_loop_t *self, int64_t timer_id,
                                      int64_t delay_ms,
                                      vrt_task_node_t *task_ptr);

/*
 * Remove the source (fd, filter), filter being VRT_EVFILT_READ, _WRITE or
 * _TIMER (then fd is the timer id).  Returns 1 if a source was removed, 0
 * if there was none; -1 with EINVAL (NULL self, unknown filter, loop
 * cleaned up).  An fd the user closed already is removed all the same.
 */
int64_t vrt_event_loop_deregister(vrt_event_loop_t *self, int64_t fd,
                                  int64_t filter);

/*
 * Wake a poll_events that is blocked (or make the next one return at once).
 * Safe from any thread and from a signal handler; wakes before the loop
 * looks coalesce into one event.  Returns 0; -1 with EINVAL (NULL self,
 * loop cleaned up) or the kernel's errno when the waker cannot be written
 * (the wake is then not recorded: the next one tries again).
 */
int64_t vrt_event_loop_wake(vrt_event_loop_t *self);

/*
 * Wait for events: timeout_ms -1 waits until there is one, 0 does not
 * block.  Returns how many (0 .. VRT_MAX_EVENTS; 0 only when the timeout
 * passed).  Expired timers come back as (timer id, VRT_EVFILT_TIMER) and are
 * removed; the waker as (VRT_WAKER_TOKEN, VRT_EVFILT_READ), drained.  EINTR
 * is retried with the time left.  -1 with EINVAL (NULL self, timeout below
 * -1, loop cleaned up), EBUSY (already polling), or the kernel's errno.
 */
int64_t vrt_event_loop_poll_events(vrt_event_loop_t *self, int64_t timeout_ms);

/* The fd (or timer id, or VRT_WAKER_TOKEN) and the filter of the index-th
 * event of the last poll; -1 with EINVAL (NULL self) or ERANGE (index
 * outside 0 .. count-1). */
int64_t vrt_event_loop_event_fd(vrt_event_loop_t *self, int64_t index);
int64_t vrt_event_loop_event_filter(vrt_event_loop_t *self, int64_t index);

/* The task waiting for fd to be readable, else the one waiting for it to be
 * writable, else NULL.  O(1).  NULL also with EINVAL (NULL self) or EBADF
 * (fd negative). */
vrt_task_node_t *vrt_event_loop_find_task_for_fd(vrt_event_loop_t *self,
                                                 int64_t fd);

/* Close the kernel queue and waker, free every source and table.  Twice is
 * a no-op.  Returns 0; -1 with EINVAL (NULL self) or EBUSY (polling). */
int64_t vrt_event_loop_cleanup(vrt_event_loop_t *self);

/* extension: the platform layer in use, "epoll" or "kqueue". */
const char *vrt_event_loop_backend(void);

/* ---- ReactorRuntime ------------------------------------------------------ */

typedef struct vrt_reactor_runtime vrt_reactor_runtime_t;

/*
 * Runtime plus EventLoop: tasks that wait on fds or timers are parked and
 * cost nothing until woken.  The scheduler core is the same as Runtime's:
 * `core` is the vrt_runtime_t view of the seed's first five fields.
 */
struct vrt_reactor_runtime {
    union {
        vrt_runtime_t core;
        struct {
            int64_t task_count;            /* live tasks, parked included */
            int64_t next_task_id;
            vrt_task_node_t *head;         /* runnable tasks */
            vrt_task_node_t *tail;
            vrt_task_node_t *current_task;
        };
    };
    vrt_event_loop_t *event_loop;          /* owned; NULL if new failed */
    int64_t next_timer_id;                 /* 1000, 1001, ... */
};

/*
 * A reactor with its own EventLoop.  On failure event_loop is NULL, errno
 * says why (ENOMEM, EMFILE, ENFILE) and every method fails with EINVAL.
 */
vrt_reactor_runtime_t vrt_reactor_runtime_new(void);

/* As vrt_runtime_spawn; also EINVAL when the reactor has no event loop. */
vrt_join_handle_t vrt_reactor_runtime_spawn(vrt_reactor_runtime_t *self,
                                            int64_t future_ptr,
                                            vrt_poll_fn poll_fn);

/* The reactor's EventLoop; NULL with EINVAL if self is NULL. */
vrt_event_loop_t *vrt_reactor_runtime_get_event_loop(vrt_reactor_runtime_t *self);

/*
 * From inside a poll: park the current task, once it returns Pending,
 * until fd is readable (writable).  One-shot: the task is woken once and
 * must wait again for more.  Returns 0; -1 with EINVAL (NULL self, no event
 * loop, not inside a poll of this reactor), EBADF (bad fd), EPERM (epoll:
 * an fd that cannot be polled), EBUSY (another task already waits on fd in
 * that direction), ENOMEM.
 */
int64_t vrt_reactor_runtime_wait_readable(vrt_reactor_runtime_t *self, int64_t fd);
int64_t vrt_reactor_runtime_wait_writable(vrt_reactor_runtime_t *self, int64_t fd);

/*
 * From inside a poll: park the current task for delay_ms (0 fires on the
 * next loop turn).  Returns the timer id (1000, 1001, ...); -1 with EINVAL
 * (NULL self, no event loop, not inside a poll, delay_ms < 0) or ENOMEM.
 */
int64_t vrt_reactor_runtime_sleep_ms(vrt_reactor_runtime_t *self, int64_t delay_ms);

/*
 * Run until every task finished, blocking in the kernel when no task is
 * runnable; returns 0 and leaves the loop usable.  -1 with EINVAL (NULL
 * self, no event loop), EBUSY (re-entry), or the kernel's errno (then the
 * tasks stay as they are).
 */
int64_t vrt_reactor_runtime_run(vrt_reactor_runtime_t *self);

/*
 * Drive poll_fn(future_ptr) and every spawned task, with I/O, until the
 * future is Ready; returns its value.  -1 with EINVAL, EBUSY or the
 * kernel's errno, as run.
 */
int64_t vrt_reactor_runtime_block_on(vrt_reactor_runtime_t *self,
                                     int64_t future_ptr, vrt_poll_fn poll_fn);

/*
 * extension: drop every task, close and free the event loop.  Returns 0;
 * -1 with EINVAL (NULL self) or EBUSY (inside a poll).  Twice is a no-op.
 */
int64_t vrt_reactor_runtime_free(vrt_reactor_runtime_t *self);

/* extension: vrt_runtime_check plus the reactor's own invariants (parked
 * tasks, waits); 0 or a negative VRT_CHECK_* code. */
int64_t vrt_reactor_runtime_check(vrt_reactor_runtime_t *self);

/* ---- TaskGroup and ScopedTask ------------------------------------------- */

typedef struct vrt_task_entry vrt_task_entry_t;
typedef struct vrt_task_group vrt_task_group_t;
typedef struct vrt_scoped_task vrt_scoped_task_t;

/* One task of a group, in spawn order.  Owned by the group. */
struct vrt_task_entry {
    int64_t index;            /* 0-based, as spawn returned it */
    int64_t status;           /* PENDING until it finishes, then COMPLETED or
                                 CANCELLED; task_status reads a started
                                 task's live status through handle */
    int64_t has_error;        /* 1 if it returned a value below 0 */
    int64_t started;          /* 1 once handed to the scheduler */
    vrt_task_entry_t *next;
    vrt_task_group_t *group;
    int64_t future_ptr;
    vrt_poll_fn poll_fn;
    vrt_join_handle_t handle; /* its task while started and unfinished */
};

/*
 * Structured concurrency: run returns only when every task of the group has
 * finished or been cancelled.  The zero value with cancel_on_error 1 is a
 * new group (vrt_task_group_new).  Its tasks run on a scheduler core of
 * their own and may wait on the global reactor (vrt_wait_readable,
 * vrt_wait_writable, vrt_sleep_ms): they are parked, not spun.  Do not copy
 * a group after its first spawn.
 */
struct vrt_task_group {
    const char *name;
    vrt_task_entry_t *head;
    vrt_task_entry_t *tail;
    int64_t task_count;          /* spawned since new or cleanup */
    int64_t completed_count;     /* finished plus cancelled */
    int64_t cancelled;
    int64_t cancel_on_error;
    int64_t *results;            /* results[i]: task i's value, else 0 */
    int64_t max_concurrency;     /* 0: unlimited */
    /* extensions */
    vrt_task_entry_t **entries;  /* entries[i], for O(1) access */
    int64_t capacity;            /* of entries and results */
    vrt_task_entry_t *next_start;/* first entry not yet started */
    int64_t started_live;        /* started and unfinished */
    int64_t erred;               /* 1 once a task returned a value < 0 */
    vrt_runtime_t *core;         /* the scheduler core its tasks run on */
    vrt_allocator_t allocator;   /* captured at the first allocation */
};

/* Runs a group and always cleans it up (Trio's nursery, libdill's bundle). */
struct vrt_scoped_task {
    vrt_task_group_t *group;     /* owned; NULL once run_and_cleanup ran */
};

/* A new group: no name, cancel_on_error 1, max_concurrency 0.  Never fails. */
vrt_task_group_t vrt_task_group_new(void);

/* A new group with a name (the pointer is stored, not copied; NULL is
 * allowed).  Also the global task_group_named.  Never fails. */
vrt_task_group_t vrt_task_group_named(const char *name_ptr);

/* Whether the first task error cancels the rest (any nonzero: 1).  Returns
 * 0; -1 with EINVAL if self is NULL. */
int64_t vrt_task_group_set_cancel_on_error(vrt_task_group_t *self, int64_t enabled);

/* At most max started-and-unfinished tasks at a time (0: unlimited).
 * Returns 0; -1 with EINVAL (NULL self, max < 0). */
int64_t vrt_task_group_set_max_concurrency(vrt_task_group_t *self, int64_t max);

/*
 * Adds a task; it starts at the group's next run turn (in spawn order, as
 * max_concurrency allows).  Allowed from inside a group task.  Returns the
 * task's 0-based index; -1 with EINVAL (NULL self or poll_fn), ECANCELED
 * (group cancelled), EAGAIN (VRT_MAX_TASKS unfinished tasks), ENOMEM.
 */
int64_t vrt_task_group_spawn(vrt_task_group_t *self, int64_t future_ptr,
                             vrt_poll_fn poll_fn);

/*
 * Runs the group's tasks until every one has finished or been cancelled.
 * A Ready value below 0 is an error; with cancel_on_error the first error
 * cancels every unfinished task at once.  Returns 1 if a task erred or the
 * group was cancelled, else 0; -1 with EINVAL (NULL self), EBUSY (already
 * running), ENOMEM, or the kernel's errno from the global reactor's loop
 * (the group then stays as it was, to run again or clean up).
 */
int64_t vrt_task_group_run(vrt_task_group_t *self);

/* Marks the group cancelled (later spawns: ECANCELED) and cancels every
 * unfinished task: status CANCELLED, never polled again.  Returns how many
 * it cancelled; -1 with EINVAL if self is NULL. */
int64_t vrt_task_group_cancel(vrt_task_group_t *self);

/* Cancels every unfinished task without marking the group.  Returns how
 * many; -1 with EINVAL if self is NULL. */
int64_t vrt_task_group_cancel_remaining(vrt_task_group_t *self);

/* Counts and flags; -1 with EINVAL if self is NULL.  completed counts
 * finished plus cancelled tasks; is_done is completed == total. */
int64_t vrt_task_group_completed(vrt_task_group_t *self);
int64_t vrt_task_group_total(vrt_task_group_t *self);
int64_t vrt_task_group_is_done(vrt_task_group_t *self);
int64_t vrt_task_group_is_cancelled(vrt_task_group_t *self);

/* Task index's value (0 until it completes, 0 if cancelled) and whether it
 * erred.  O(1).  0 with EINVAL (NULL self) or ERANGE (index out of range). */
int64_t vrt_task_group_result(vrt_task_group_t *self, int64_t index);
int64_t vrt_task_group_has_error(vrt_task_group_t *self, int64_t index);

/* Task index's status (VRT_TASK_*).  O(1).  -1 with EINVAL (NULL self) or
 * ERANGE (index out of range). */
int64_t vrt_task_group_task_status(vrt_task_group_t *self, int64_t index);

/*
 * Cancels what is unfinished and frees every entry; afterwards total and
 * completed are 0 and the group can be used again (name, cancel_on_error
 * and max_concurrency are kept, cancelled is cleared).  Twice is a no-op.
 * Returns 0; -1 with EINVAL (NULL self) or EBUSY (while it runs).
 */
int64_t vrt_task_group_cleanup(vrt_task_group_t *self);

/* A scoped task owning a new group; group is NULL with ENOMEM if it
 * cannot be allocated. */
vrt_scoped_task_t vrt_scoped_task_new(void);

/* vrt_task_group_spawn on its group; also EINVAL once run_and_cleanup ran
 * (or when new failed). */
int64_t vrt_scoped_task_spawn(vrt_scoped_task_t *self, int64_t future_ptr,
                              vrt_poll_fn poll_fn);

/* Runs the group, then cleans it up and frees it whatever happened, and
 * returns the run's result (0, 1, or -1 with its errno).  Any later call on
 * self fails with EINVAL. */
int64_t vrt_scoped_task_run_and_cleanup(vrt_scoped_task_t *self);

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

/* Initialises the global reactor once and returns it; NULL with errno
 * (ENOMEM, EMFILE) if its event loop cannot be created. */
vrt_reactor_runtime_t *vrt_reactor_init(void);

/* The global reactor, initialised on first use; NULL with errno as
 * vrt_reactor_init. */
vrt_reactor_runtime_t *vrt_get_reactor(void);

/* vrt_reactor_runtime_spawn on the global reactor; same errors. */
vrt_join_handle_t vrt_reactor_spawn(int64_t future_ptr, vrt_poll_fn poll_fn);

/* vrt_reactor_runtime_block_on on the global reactor; same errors. */
int64_t vrt_reactor_block_on(int64_t future_ptr, vrt_poll_fn poll_fn);

/* vrt_reactor_runtime_run on the global reactor; same errors. */
int64_t vrt_reactor_run(void);

/* vrt_reactor_runtime_wait_readable / wait_writable / sleep_ms on the
 * global reactor; same errors. */
int64_t vrt_wait_readable(int64_t fd);
int64_t vrt_wait_writable(int64_t fd);
int64_t vrt_sleep_ms(int64_t delay_ms);

/* vrt_task_group_new; never fails.  (task_group_named is
 * vrt_task_group_named itself.) */
vrt_task_group_t vrt_task_group(void);

/* vrt_scoped_task_new; same errors. */
vrt_scoped_task_t vrt_scoped_task(void);

/*
 * extension: free the global instances so that the next vrt_get_* starts
 * clean.  Returns 0; -1 with EBUSY if called from inside any poll, or while
 * tasks of a task group still wait on the global reactor (clean the group
 * up first).
 */
int64_t vrt_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* VRT_H */
