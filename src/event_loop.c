/*
 * EventLoop: the common part of the reactor above the platform layer.
 *
 * - fd sources live in a table indexed by fd (find_task_for_fd is O(1));
 *   the kernel is told only what changes, and a ping-pong that re-waits on
 *   the fd it was woken for pays no system call (vrt_loop_arm_fd).
 * - Each kernel registration carries a generation in its token, so an event
 *   meant for a closed and reused fd number is recognised and dropped.
 * - Timers are a binary min-heap on (deadline, arming order) plus a hash
 *   from id to source: arm, re-arm and remove are O(log n), no kernel object.
 * - The waker is a non-blocking pipe guarded by an atomic flag, so wakes from
 *   other threads or signal handlers coalesce into one byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vrt_internal.h"

#define WAKER_TOKEN_COOKIE UINT64_MAX
#define NS_PER_MS INT64_C(1000000)
#define MIN_TABLE 64

/* ---- clock and tokens ---- */

int64_t vrt_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * INT64_C(1000000000) + (int64_t)ts.tv_nsec;
}

static uint64_t fd_token(int64_t fd, uint32_t generation)
{
    return ((uint64_t)generation << 32) | (uint64_t)(uint32_t)fd;
}

/* now + delay_ms, saturating instead of overflowing. */
static int64_t deadline_after(int64_t now, int64_t delay_ms)
{
    if (delay_ms > (INT64_MAX - now) / NS_PER_MS)
        return INT64_MAX;
    return now + delay_ms * NS_PER_MS;
}

/* Whole milliseconds from now to deadline, rounded up so that a wait never
 * ends before the deadline; clamped to what the kernel accepts. */
static int64_t ms_until(int64_t deadline, int64_t now)
{
    if (deadline <= now)
        return 0;
    int64_t ms = (deadline - now) / NS_PER_MS +
                 ((deadline - now) % NS_PER_MS != 0 ? 1 : 0);
    return ms > INT_MAX ? INT_MAX : ms;
}

/* ---- memory ---- */

static void *state_alloc(struct vrt_loop_state *st, size_t size)
{
    return st->allocator.alloc(st->allocator.ctx, size);
}

static void state_release(struct vrt_loop_state *st, void *block)
{
    if (block != NULL)
        st->allocator.release(st->allocator.ctx, block);
}

/* Grows *array (elements of elem bytes, *capacity of them) to hold index
 * `need`, zero-filling the new part.  0, or -1 with ENOMEM, unchanged. */
static int grow_table(struct vrt_loop_state *st, void **array,
                      int64_t *capacity, int64_t need, size_t elem)
{
    if (need < *capacity)
        return 0;
    int64_t cap = *capacity < MIN_TABLE ? MIN_TABLE : *capacity * 2;
    if (cap <= need)
        cap = need + 1;
    /* GCOVR_EXCL_START: unreachable with a 64-bit size_t, where need is an
     * fd (below INT_MAX) or a count of live timers, so cap * elem stays far
     * below SIZE_MAX; the check is for 32-bit targets. */
    if ((uint64_t)cap > SIZE_MAX / elem) {
        errno = ENOMEM;
        return -1;
    }
    /* GCOVR_EXCL_STOP */
    unsigned char *grown = state_alloc(st, (size_t)cap * elem);
    if (grown == NULL) {
        errno = ENOMEM;
        return -1;
    }
    size_t old = (size_t)*capacity * elem;
    if (old > 0)
        memcpy(grown, *array, old);
    memset(grown + old, 0, (size_t)cap * elem - old);
    state_release(st, *array);
    *array = grown;
    *capacity = cap;
    return 0;
}

static vrt_event_source_t *source_take(struct vrt_loop_state *st)
{
    vrt_event_source_t *src = st->free_sources;
    if (src != NULL) {
        st->free_sources = src->next;
    } else {
        src = state_alloc(st, sizeof *src);
        if (src == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    memset(src, 0, sizeof *src);
    return src;
}

static void source_put(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    src->task = NULL;
    src->next = st->free_sources;
    st->free_sources = src;
}

/* ---- the source list (the seed's sources_head/tail/source_count) ---- */

static void list_append(vrt_event_loop_t *loop, vrt_event_source_t *src)
{
    src->next = NULL;
    src->prev = loop->sources_tail;
    if (loop->sources_tail != NULL)
        loop->sources_tail->next = src;
    else
        loop->sources_head = src;
    loop->sources_tail = src;
    loop->source_count++;
}

static void list_remove(vrt_event_loop_t *loop, vrt_event_source_t *src)
{
    if (src->prev != NULL)
        src->prev->next = src->next;
    else
        loop->sources_head = src->next;
    if (src->next != NULL)
        src->next->prev = src->prev;
    else
        loop->sources_tail = src->prev;
    src->next = NULL;
    src->prev = NULL;
    loop->source_count--;
}

/* Takes src off its task's wait list, if it is on it. */
static void task_waits_remove(vrt_event_source_t *src)
{
    if (src->task == NULL)
        return;
    vrt_event_source_t **link = &src->task->waits;
    while (*link != NULL && *link != src)
        link = &(*link)->task_next;
    if (*link == src)
        *link = src->task_next;
    src->task_next = NULL;
}

static void task_waits_add(vrt_event_source_t *src, vrt_task_node_t *task)
{
    src->task_next = task->waits;
    task->waits = src;
    task->flags |= VRT_NODE_WAITING;
}

/* ---- timer heap ---- */

static int timer_before(const vrt_event_source_t *a, const vrt_event_source_t *b)
{
    return a->deadline_ns < b->deadline_ns ||
           (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void heap_place(struct vrt_loop_state *st, int64_t i, vrt_event_source_t *src)
{
    st->heap[i] = src;
    src->heap_index = i;
}

static void heap_sift_up(struct vrt_loop_state *st, int64_t i)
{
    vrt_event_source_t *src = st->heap[i];
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!timer_before(src, st->heap[parent]))
            break;
        heap_place(st, i, st->heap[parent]);
        i = parent;
    }
    heap_place(st, i, src);
}

static void heap_sift_down(struct vrt_loop_state *st, int64_t i)
{
    vrt_event_source_t *src = st->heap[i];
    for (;;) {
        int64_t child = 2 * i + 1;
        if (child >= st->heap_len)
            break;
        if (child + 1 < st->heap_len &&
            timer_before(st->heap[child + 1], st->heap[child]))
            child++;
        if (!timer_before(st->heap[child], src))
            break;
        heap_place(st, i, st->heap[child]);
        i = child;
    }
    heap_place(st, i, src);
}

static void heap_remove(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    int64_t i = src->heap_index;
    st->heap_len--;
    if (i == st->heap_len)
        return;
    heap_place(st, i, st->heap[st->heap_len]);
    /* The moved element goes down, or (if it stays at i) up; a child
     * promoted into i is never smaller than i's parent. */
    heap_sift_down(st, i);
    heap_sift_up(st, i);
}

/* ---- timer id hash ---- */

/* The ids of one run of 2^TIMER_RUN_BITS land in one aligned block of
 * buckets, so timers armed and fired in id order (the reactor numbers them
 * sequentially) walk a few cache lines instead of missing the cache at each
 * step; the run number is mixed (MurmurHash3's finaliser) to place its
 * block, so strided or random ids spread like random ones. */
#define TIMER_RUN_BITS 6

static int64_t bucket_of(const struct vrt_loop_state *st, int64_t id)
{
    uint64_t h = (uint64_t)id >> TIMER_RUN_BITS;
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h ^= (uint64_t)id & ((UINT64_C(1) << TIMER_RUN_BITS) - 1);
    return (int64_t)(h & (uint64_t)(st->bucket_count - 1));
}

static vrt_event_source_t *timer_find(const struct vrt_loop_state *st, int64_t id)
{
    if (st->bucket_count == 0)
        return NULL;
    vrt_event_source_t *src = st->buckets[bucket_of(st, id)];
    while (src != NULL && src->fd != id)
        src = src->hash_next;
    return src;
}

static void hash_insert(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    int64_t b = bucket_of(st, src->fd);
    src->hash_next = st->buckets[b];
    st->buckets[b] = src;
}

static void hash_remove(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    vrt_event_source_t **link = &st->buckets[bucket_of(st, src->fd)];
    while (*link != src)
        link = &(*link)->hash_next;
    *link = src->hash_next;
}

/* Room for one more timer in the heap and the hash (load factor <= 1).
 * 0, or -1 with ENOMEM and nothing changed. */
static int timers_reserve(struct vrt_loop_state *st)
{
    void *heap = st->heap;
    if (grow_table(st, &heap, &st->heap_capacity, st->heap_len,
                   sizeof *st->heap) != 0)
        return -1;
    st->heap = heap;
    if (st->heap_len < st->bucket_count)
        return 0;
    int64_t count = st->bucket_count == 0 ? MIN_TABLE : st->bucket_count * 2;
    vrt_event_source_t **buckets = state_alloc(st, (size_t)count * sizeof *buckets);
    if (buckets == NULL) {
        errno = ENOMEM;
        return -1;
    }
    memset(buckets, 0, (size_t)count * sizeof *buckets);
    vrt_event_source_t **old = st->buckets;
    int64_t old_count = st->bucket_count;
    st->buckets = buckets;
    st->bucket_count = count;
    for (int64_t b = 0; b < old_count; b++) {
        vrt_event_source_t *src = old[b];
        while (src != NULL) {
            vrt_event_source_t *next = src->hash_next;
            hash_insert(st, src);
            src = next;
        }
    }
    state_release(st, old);
    return 0;
}

static void timer_remove(vrt_event_loop_t *loop, vrt_event_source_t *src)
{
    struct vrt_loop_state *st = loop->state;
    heap_remove(st, src);
    hash_remove(st, src);
    task_waits_remove(src);
    list_remove(loop, src);
    source_put(st, src);
}

/* Arms (or re-arms, same id) a timer; with_wait also puts it on the task's
 * wait list. */
static int64_t timer_set(vrt_event_loop_t *loop, int64_t timer_id,
                         int64_t delay_ms, vrt_task_node_t *task, int with_wait)
{
    struct vrt_loop_state *st = loop->state;
    vrt_event_source_t *src = timer_find(st, timer_id);
    int fresh = src == NULL;
    if (fresh) {
        if (timers_reserve(st) != 0)
            return -1;
        src = source_take(st);
        if (src == NULL)
            return -1;
    } else {
        task_waits_remove(src);
    }
    /* Read the clock now, not at the loop's last turn, so a timer armed
     * late in a turn never fires early. */
    src->deadline_ns = deadline_after(vrt_clock_ns(), delay_ms);
    src->seq = st->next_seq++;
    src->task = task;
    if (fresh) {
        src->type = VRT_SOURCE_TIMER;
        src->fd = timer_id;
        hash_insert(st, src);
        heap_place(st, st->heap_len++, src);
        heap_sift_up(st, src->heap_index);
        list_append(loop, src);
    } else {
        heap_sift_down(st, src->heap_index);
        heap_sift_up(st, src->heap_index);
    }
    if (with_wait)
        task_waits_add(src, task);
    return 0;
}

/* ---- fd sources ---- */

static uint32_t io_bit(int64_t type)
{
    return type == VRT_SOURCE_FD_READ ? VRT_IO_READ : VRT_IO_WRITE;
}

static vrt_event_source_t **slot_source(struct vrt_fd_slot *slot, int64_t type)
{
    return type == VRT_SOURCE_FD_READ ? &slot->read : &slot->write;
}

static vrt_task_node_t **slot_last_task(struct vrt_fd_slot *slot, int64_t type)
{
    return type == VRT_SOURCE_FD_READ ? &slot->last_reader : &slot->last_writer;
}

/* Tells the kernel the new mask for fd.  A new registration (from mask 0,
 * or `renew`: the number may name a new file by now) gets a new generation,
 * so that events still coming for an earlier file under this number are
 * recognised as stale. */
static int slot_set_kernel(vrt_event_loop_t *loop, int64_t fd, uint32_t mask,
                           int renew)
{
    struct vrt_fd_slot *slot = &loop->state->fds[fd];
    uint32_t generation =
        slot->generation + (slot->kernel_mask == 0 || renew ? 1u : 0u);
    if (vrt_backend_watch((int)loop->kq, (int)fd, slot->kernel_mask, mask,
                          fd_token(fd, generation)) != 0)
        return -1;
    slot->kernel_mask = mask;
    slot->generation = generation;
    if (mask == 0) {
        slot->last_reader = NULL;
        slot->last_writer = NULL;
    }
    return 0;
}

/* A slot for fd, growing the table; the fd must be open to grow it, so a
 * stray large number cannot make us allocate. */
static struct vrt_fd_slot *fd_slot(vrt_event_loop_t *loop, int64_t fd)
{
    struct vrt_loop_state *st = loop->state;
    if (fd < 0 || fd >= INT_MAX || fd == loop->kq ||
        fd == loop->waker_read_fd || fd == loop->waker_write_fd) {
        errno = EBADF; /* the loop's own fds are not the user's to watch */
        return NULL;
    }
    if (fd >= st->fd_capacity) {
        if (fcntl((int)fd, F_GETFD) < 0)
            return NULL; /* EBADF */
        void *fds = st->fds;
        if (grow_table(st, &fds, &st->fd_capacity, fd, sizeof *st->fds) != 0)
            return NULL;
        st->fds = fds;
    }
    return &st->fds[fd];
}

/* Arms a source of `type` on fd for task.  `trusted`: the kernel already
 * watches this direction for this task, so it is not told again. */
static int64_t fd_arm(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                      vrt_task_node_t *task, int trusted)
{
    struct vrt_fd_slot *slot = fd_slot(loop, fd);
    if (slot == NULL)
        return -1;
    vrt_event_source_t **where = slot_source(slot, type);
    vrt_event_source_t *src = *where;
    int fresh = src == NULL;
    if (fresh && (src = source_take(loop->state)) == NULL)
        return -1;
    if (!trusted &&
        slot_set_kernel(loop, fd, slot->kernel_mask | io_bit(type), 1) != 0) {
        if (fresh)
            source_put(loop->state, src);
        return -1;
    }
    if (fresh) {
        src->type = type;
        src->fd = fd;
        list_append(loop, src);
        *where = src;
    } else {
        task_waits_remove(src);
    }
    src->task = task;
    return 0;
}

/* Removes the source of `type` on fd; with eager, the kernel forgets that
 * direction now, else it is dropped when it next fires for nobody. */
static int64_t fd_disarm(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                         int eager)
{
    struct vrt_fd_slot *slot = &loop->state->fds[fd];
    vrt_event_source_t **where = slot_source(slot, type);
    vrt_event_source_t *src = *where;
    if (src != NULL) {
        *slot_last_task(slot, type) = src->task;
        task_waits_remove(src);
        list_remove(loop, src);
        source_put(loop->state, src);
        *where = NULL;
    }
    uint32_t bit = io_bit(type);
    if (eager && (slot->kernel_mask & bit) != 0)
        (void)slot_set_kernel(loop, fd, slot->kernel_mask & ~bit, 0); /* on
            failure the direction is dropped lazily when it fires */
    return src != NULL;
}

/* ---- validation ---- */

int vrt_loop_usable(const vrt_event_loop_t *loop)
{
    if (loop == NULL || loop->state == NULL) {
        errno = EINVAL;
        return 0;
    }
    return 1;
}

/* ---- public API ---- */

vrt_event_loop_t vrt_event_loop_new(void)
{
    vrt_event_loop_t loop;
    memset(&loop, 0, sizeof loop);
    loop.kq = loop.waker_read_fd = loop.waker_write_fd = -1;
    const vrt_allocator_t *a = vrt_default_allocator();
    struct vrt_loop_state *st = a->alloc(a->ctx, sizeof *st);
    if (st == NULL) {
        errno = ENOMEM;
        return loop;
    }
    memset(st, 0, sizeof *st);
    st->allocator = *a;
    atomic_init(&st->wake_pending, 0);
    int kq = vrt_backend_open();
    int pipe_fds[2] = {-1, -1};
    int saved;
    if (kq < 0)
        goto fail;
    if (pipe(pipe_fds) != 0)
        goto fail;
    for (int i = 0; i < 2; i++)
        if (fcntl(pipe_fds[i], F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(pipe_fds[i], F_SETFL, O_NONBLOCK) != 0)
            goto fail;
    if (vrt_backend_watch(kq, pipe_fds[0], 0, VRT_IO_READ, WAKER_TOKEN_COOKIE) != 0)
        goto fail;
    loop.kq = kq;
    loop.waker_read_fd = pipe_fds[0];
    loop.waker_write_fd = pipe_fds[1];
    loop.state = st;
    loop.events_buf = st->events;
    return loop;
fail:
    saved = errno;
    if (pipe_fds[0] >= 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
    }
    if (kq >= 0)
        vrt_backend_close(kq);
    a->release(a->ctx, st);
    errno = saved;
    return loop;
}

const char *vrt_event_loop_backend(void)
{
    return vrt_backend_name();
}

static int64_t register_fd(vrt_event_loop_t *self, int64_t fd, int64_t type,
                           vrt_task_node_t *task)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (task == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* Always tell the kernel: the number may name a new file by now. */
    return fd_arm(self, fd, type, task, 0);
}

int64_t vrt_event_loop_register_read(vrt_event_loop_t *self, int64_t fd,
                                     vrt_task_node_t *task_ptr)
{
    return register_fd(self, fd, VRT_SOURCE_FD_READ, task_ptr);
}

int64_t vrt_event_loop_register_write(vrt_event_loop_t *self, int64_t fd,
                                      vrt_task_node_t *task_ptr)
{
    return register_fd(self, fd, VRT_SOURCE_FD_WRITE, task_ptr);
}

int64_t vrt_event_loop_register_timer(vrt_event_loop_t *self, int64_t timer_id,
                                      int64_t delay_ms, vrt_task_node_t *task_ptr)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (task_ptr == NULL || delay_ms < 0) {
        errno = EINVAL;
        return -1;
    }
    return timer_set(self, timer_id, delay_ms, task_ptr, 0);
}

int64_t vrt_event_loop_deregister(vrt_event_loop_t *self, int64_t fd,
                                  int64_t filter)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (filter == VRT_EVFILT_TIMER) {
        vrt_event_source_t *src = timer_find(self->state, fd);
        if (src == NULL)
            return 0;
        timer_remove(self, src);
        return 1;
    }
    if (filter != VRT_EVFILT_READ && filter != VRT_EVFILT_WRITE) {
        errno = EINVAL;
        return -1;
    }
    if (fd < 0 || fd >= self->state->fd_capacity)
        return 0;
    int64_t type = filter == VRT_EVFILT_READ ? VRT_SOURCE_FD_READ
                                             : VRT_SOURCE_FD_WRITE;
    return fd_disarm(self, fd, type, 1);
}

int64_t vrt_event_loop_wake(vrt_event_loop_t *self)
{
    if (!vrt_loop_usable(self))
        return -1;
    /* Only the first wake since the loop last looked writes a byte: the
     * pipe never fills, and the call stays async-signal-safe. */
    if (atomic_exchange(&self->state->wake_pending, 1) == 0) {
        int saved = errno;
        ssize_t n;
        do
            n = write((int)self->waker_write_fd, "w", 1);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            /* No byte went in: left set, the flag would swallow every
             * later wake. */
            atomic_store(&self->state->wake_pending, 0);
            return -1;
        }
        errno = saved;
    }
    return 0;
}

static void push_event(struct vrt_loop_state *st, int64_t fd, int64_t filter,
                       vrt_task_node_t *task)
{
    struct vrt_event_record *rec = &st->events[st->event_count++];
    rec->fd = fd;
    rec->filter = filter;
    rec->task = task;
}

static void drain_waker(vrt_event_loop_t *loop)
{
    char buf[64];
    ssize_t n;
    do
        n = read((int)loop->waker_read_fd, buf, sizeof buf);
    while (n > 0 || (n < 0 && errno == EINTR));
    /* Clear the flag only once the pipe is empty: cleared first, a wake
     * could write its byte into this drain and leave the flag set with an
     * empty pipe, and every later wake would then be lost.  A wake between
     * the drain and this store is reported by the event this poll returns. */
    atomic_store(&loop->state->wake_pending, 0);
}

/* One kernel event: the waker, a stale token (dropped), or readiness of a
 * live fd, each watched direction with a source becoming a record. */
static void take_io_event(vrt_event_loop_t *loop, const vrt_io_event_t *ev)
{
    struct vrt_loop_state *st = loop->state;
    if (ev->token == WAKER_TOKEN_COOKIE) {
        drain_waker(loop);
        push_event(st, VRT_WAKER_TOKEN, VRT_EVFILT_READ, NULL);
        return;
    }
    int64_t fd = (int64_t)(uint32_t)ev->token;
    uint32_t generation = (uint32_t)(ev->token >> 32);
    if (fd >= st->fd_capacity)
        return;
    struct vrt_fd_slot *slot = &st->fds[fd];
    if (slot->generation != generation || slot->kernel_mask == 0)
        return; /* meant for an earlier owner of this number */
    uint32_t ready = ev->ready & slot->kernel_mask;
    static const int64_t types[2] = {VRT_SOURCE_FD_READ, VRT_SOURCE_FD_WRITE};
    for (int i = 0; i < 2; i++) {
        if ((ready & io_bit(types[i])) == 0)
            continue;
        vrt_event_source_t *src = *slot_source(slot, types[i]);
        if (src == NULL) {
            /* Kept registered after a one-shot wait and nobody re-armed
             * it: forget it now, so a level-triggered fd cannot spin. */
            (void)slot_set_kernel(loop, fd, slot->kernel_mask & ~io_bit(types[i]), 0);
        } else if (st->event_count < VRT_MAX_EVENTS) {
            push_event(st, fd, types[i] == VRT_SOURCE_FD_READ ? VRT_EVFILT_READ
                                                               : VRT_EVFILT_WRITE,
                       src->task);
        } /* else: level-triggered, it comes back next poll */
    }
}

static void take_expired_timers(vrt_event_loop_t *loop, int64_t now)
{
    struct vrt_loop_state *st = loop->state;
    while (st->heap_len > 0 && st->heap[0]->deadline_ns <= now &&
           st->event_count < VRT_MAX_EVENTS) {
        vrt_event_source_t *src = st->heap[0];
        push_event(st, src->fd, VRT_EVFILT_TIMER, src->task);
        timer_remove(loop, src);
    }
}

int64_t vrt_event_loop_poll_events(vrt_event_loop_t *self, int64_t timeout_ms)
{
    if (!vrt_loop_usable(self))
        return -1;
    if (timeout_ms < -1) {
        errno = EINVAL;
        return -1;
    }
    if (self->running != 0) {
        errno = EBUSY;
        return -1;
    }
    struct vrt_loop_state *st = self->state;
    st->event_count = 0;
    self->running = 1;
    /* Only a finite timeout or an armed timer needs the time: a loop that
     * waits on fds alone (a ping-pong, a server) reads no clock. */
    int timed = timeout_ms >= 0 || st->heap_len > 0;
    int64_t start = timed ? vrt_clock_ns() : 0;
    int64_t user_deadline = timeout_ms < 0 ? INT64_MAX : deadline_after(start, timeout_ms);
    for (;;) {
        int64_t now = timed ? vrt_clock_ns() : 0;
        int64_t wait = timeout_ms < 0 ? -1 : ms_until(user_deadline, now);
        int64_t timer_wait = st->heap_len > 0 ? ms_until(st->heap[0]->deadline_ns, now) : -1;
        if (timer_wait >= 0 && (wait < 0 || timer_wait < wait))
            wait = timer_wait;
        /* With timers due, keep half the batch for them. */
        int max = timer_wait == 0 ? (int)VRT_MAX_EVENTS / 2 : (int)VRT_MAX_EVENTS;
        int n = vrt_backend_wait((int)self->kq, st->io, max, (int)wait);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* the deadline is absolute: the time left is recomputed */
            self->running = 0;
            return -1;
        }
        for (int i = 0; i < n && st->event_count < VRT_MAX_EVENTS; i++)
            take_io_event(self, &st->io[i]);
        now = timed ? vrt_clock_ns() : 0;
        take_expired_timers(self, now);
        if (st->event_count > 0 || now >= user_deadline)
            break;
        /* Woken with nothing to report (a dropped stale or idle event, or a
         * timer not quite due): wait again for the time left. */
    }
    self->running = 0;
    return st->event_count;
}

static const struct vrt_event_record *event_at(vrt_event_loop_t *self, int64_t index)
{
    if (self == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (self->state == NULL || index < 0 || index >= self->state->event_count) {
        errno = ERANGE;
        return NULL;
    }
    return &self->state->events[index];
}

int64_t vrt_event_loop_event_fd(vrt_event_loop_t *self, int64_t index)
{
    const struct vrt_event_record *rec = event_at(self, index);
    return rec == NULL ? -1 : rec->fd;
}

int64_t vrt_event_loop_event_filter(vrt_event_loop_t *self, int64_t index)
{
    const struct vrt_event_record *rec = event_at(self, index);
    return rec == NULL ? -1 : rec->filter;
}

vrt_task_node_t *vrt_loop_event_task(vrt_event_loop_t *loop, int64_t index)
{
    return loop->state->events[index].task;
}

vrt_task_node_t *vrt_event_loop_find_task_for_fd(vrt_event_loop_t *self, int64_t fd)
{
    if (!vrt_loop_usable(self))
        return NULL;
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if (fd >= self->state->fd_capacity)
        return NULL;
    const struct vrt_fd_slot *slot = &self->state->fds[fd];
    if (slot->read != NULL)
        return slot->read->task;
    return slot->write != NULL ? slot->write->task : NULL;
}

static void release_source_chain(struct vrt_loop_state *st, vrt_event_source_t *src)
{
    while (src != NULL) {
        vrt_event_source_t *next = src->next;
        state_release(st, src);
        src = next;
    }
}

int64_t vrt_event_loop_cleanup(vrt_event_loop_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (self->state == NULL)
        return 0;
    if (self->running != 0) {
        errno = EBUSY;
        return -1;
    }
    struct vrt_loop_state *st = self->state;
    vrt_backend_close((int)self->kq);
    close((int)self->waker_read_fd);
    close((int)self->waker_write_fd);
    release_source_chain(st, self->sources_head);
    release_source_chain(st, st->free_sources);
    state_release(st, st->fds);
    state_release(st, st->heap);
    state_release(st, st->buckets);
    vrt_allocator_t a = st->allocator;
    a.release(a.ctx, st);
    memset(self, 0, sizeof *self);
    self->kq = self->waker_read_fd = self->waker_write_fd = -1;
    return 0;
}

/* ---- the reactor's side ---- */

int64_t vrt_loop_arm_fd(vrt_event_loop_t *loop, int64_t fd, int64_t type,
                        vrt_task_node_t *task)
{
    struct vrt_fd_slot *slot = fd_slot(loop, fd);
    if (slot == NULL)
        return -1;
    vrt_event_source_t *src = *slot_source(slot, type);
    if (src != NULL && src->task != task) {
        errno = EBUSY;
        return -1;
    }
    if (src != NULL)
        return 0; /* this task already waits there in this poll */
    /* The one system call a ping-pong would pay per wait is skipped when
     * the kernel still watches this direction and the same task was the
     * last one woken for it.  The price: an fd closed and reopened under
     * the same number by that task, between two waits, must be deregistered
     * first (spec/runtime.md, "closing fds"). */
    int trusted = (slot->kernel_mask & io_bit(type)) != 0 &&
                  *slot_last_task(slot, type) == task;
    if (fd_arm(loop, fd, type, task, trusted) != 0)
        return -1;
    task_waits_add(*slot_source(slot, type), task);
    return 0;
}

int64_t vrt_loop_arm_timer(vrt_event_loop_t *loop, int64_t timer_id,
                           int64_t delay_ms, vrt_task_node_t *task)
{
    return timer_set(loop, timer_id, delay_ms, task, 1);
}

void vrt_loop_drop_waits(vrt_event_loop_t *loop, vrt_task_node_t *task)
{
    while (task->waits != NULL) {
        vrt_event_source_t *src = task->waits;
        if (src->type == VRT_SOURCE_TIMER)
            timer_remove(loop, src);
        else
            fd_disarm(loop, src->fd, src->type, 0);
    }
    task->flags &= ~VRT_NODE_WAITING;
}

/* ---- invariants ---- */

int64_t vrt_loop_check(vrt_event_loop_t *loop)
{
    if (!vrt_loop_usable(loop))
        return VRT_CHECK_NULL;
    struct vrt_loop_state *st = loop->state;
    int64_t seen = 0, timers = 0;
    const vrt_event_source_t *prev = NULL;
    for (const vrt_event_source_t *src = loop->sources_head; src != NULL;
         src = src->next) {
        if (seen++ == loop->source_count || src->prev != prev || src->task == NULL)
            return VRT_CHECK_LINKS;
        if (src->type == VRT_SOURCE_TIMER) {
            timers++;
            if (src->heap_index < 0 || src->heap_index >= st->heap_len ||
                st->heap[src->heap_index] != src || timer_find(st, src->fd) != src)
                return VRT_CHECK_NODE;
        } else {
            if (src->fd < 0 || src->fd >= st->fd_capacity)
                return VRT_CHECK_NODE;
            struct vrt_fd_slot *slot = &st->fds[src->fd];
            if (*slot_source(slot, src->type) != src ||
                (slot->kernel_mask & io_bit(src->type)) == 0)
                return VRT_CHECK_NODE;
        }
        prev = src;
    }
    if (seen != loop->source_count || prev != loop->sources_tail ||
        timers != st->heap_len)
        return VRT_CHECK_COUNT_MISMATCH;
    for (int64_t i = 1; i < st->heap_len; i++)
        if (timer_before(st->heap[i], st->heap[(i - 1) / 2]))
            return VRT_CHECK_NODE;
    return 0;
}
