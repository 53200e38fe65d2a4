/*
 * TaskGroup and ScopedTask: structured concurrency on the scheduler core.
 *
 * A group's tasks run on a core of the group's own (allocated at the first
 * spawn), driven by the same turn as the reactor's: they may wait on the
 * global reactor's loop and are parked while they do.  Each task is spawned
 * into the core wrapped in a small poll function that records its result
 * in its entry the moment it is Ready, so an error cancels the siblings at
 * once, inside the same sweep.
 */
#include <errno.h>
#include <string.h>

#include "vrt_internal.h"

/* ---- memory ---- */

static const vrt_allocator_t *group_allocator(const vrt_task_group_t *g)
{
    return g->allocator.alloc != NULL ? &g->allocator : vrt_default_allocator();
}

/* The allocator is captured by the first spawn that succeeds, so that a
 * failed one leaves the group exactly as it was. */
static void *group_alloc(vrt_task_group_t *g, size_t size)
{
    const vrt_allocator_t *a = group_allocator(g);
    void *block = a->alloc(a->ctx, size);
    if (block == NULL)
        errno = ENOMEM;
    return block;
}

static void group_release(vrt_task_group_t *g, void *block)
{
    const vrt_allocator_t *a = group_allocator(g);
    if (block != NULL)
        a->release(a->ctx, block);
}

/* Room for entry number g->task_count in entries and results.  0, or -1
 * with ENOMEM and nothing changed. */
static int reserve_entry(vrt_task_group_t *g)
{
    if (g->task_count < g->capacity)
        return 0;
    int64_t cap = g->capacity == 0 ? 16 : g->capacity * 2;
    vrt_task_entry_t **entries = group_alloc(g, (size_t)cap * sizeof *entries);
    if (entries == NULL)
        return -1;
    int64_t *results = group_alloc(g, (size_t)cap * sizeof *results);
    if (results == NULL) {
        group_release(g, entries);
        return -1;
    }
    size_t used = (size_t)g->task_count;
    if (used > 0) {
        memcpy(entries, g->entries, used * sizeof *entries);
        memcpy(results, g->results, used * sizeof *results);
    }
    memset(results + used, 0, ((size_t)cap - used) * sizeof *results);
    group_release(g, g->entries);
    group_release(g, g->results);
    g->entries = entries;
    g->results = results;
    g->capacity = cap;
    return 0;
}


/* ---- new and settings ---- */

vrt_task_group_t vrt_task_group_new(void)
{
    vrt_task_group_t g;
    memset(&g, 0, sizeof g);
    g.cancel_on_error = 1;
    return g;
}

vrt_task_group_t vrt_task_group_named(const char *name_ptr)
{
    vrt_task_group_t g = vrt_task_group_new();
    g.name = name_ptr;
    return g;
}

static int group_valid(const vrt_task_group_t *g)
{
    if (g == NULL) {
        errno = EINVAL;
        return 0;
    }
    return 1;
}

int64_t vrt_task_group_set_cancel_on_error(vrt_task_group_t *self, int64_t enabled)
{
    if (!group_valid(self))
        return -1;
    self->cancel_on_error = enabled != 0;
    return 0;
}

int64_t vrt_task_group_set_max_concurrency(vrt_task_group_t *self, int64_t max)
{
    if (!group_valid(self))
        return -1;
    if (max < 0) {
        errno = EINVAL;
        return -1;
    }
    self->max_concurrency = max;
    return 0;
}

/* ---- task outcomes ---- */

static int entry_finished(const vrt_task_entry_t *e)
{
    return e->status == VRT_TASK_COMPLETED || e->status == VRT_TASK_CANCELLED;
}

/* Ends an unfinished entry as CANCELLED; its task, if started, is aborted
 * (its waits go with it) and its node given back. */
static void cancel_entry(vrt_task_group_t *g, vrt_task_entry_t *e)
{
    if (e->started) {
        vrt_join_handle_abort(&e->handle);
        vrt_join_handle_release(&e->handle);
        g->started_live--;
    }
    e->status = VRT_TASK_CANCELLED;
    g->completed_count++;
}

static int64_t cancel_unfinished(vrt_task_group_t *g)
{
    int64_t count = 0;
    for (vrt_task_entry_t *e = g->head; e != NULL; e = e->next) {
        if (entry_finished(e))
            continue;
        cancel_entry(g, e);
        count++;
    }
    while (g->next_start != NULL && entry_finished(g->next_start))
        g->next_start = g->next_start->next;
    return count;
}

/* A started task returned Ready(value). */
static void complete_entry(vrt_task_group_t *g, vrt_task_entry_t *e, int64_t value)
{
    e->status = VRT_TASK_COMPLETED;
    g->results[e->index] = value;
    vrt_join_handle_release(&e->handle); /* recycled when its poll returns */
    g->started_live--;
    g->completed_count++;
    if (value < 0) {
        e->has_error = 1;
        g->erred = 1;
        if (g->cancel_on_error)
            cancel_unfinished(g);
    }
}

/* What the core polls for a group task: the task's own poll function, and
 * its outcome recorded at once. */
static int64_t poll_group_task(int64_t future_ptr)
{
    vrt_task_entry_t *e = (vrt_task_entry_t *)(intptr_t)future_ptr;
    int64_t packed = e->poll_fn(e->future_ptr);
    /* Cancelled during its own poll (a sibling, or the task itself, called
     * cancel): the core drops it; its Ready does not count. */
    if (e->status != VRT_TASK_CANCELLED && vrt_poll_is_ready(packed))
        complete_entry(e->group, e, vrt_poll_value(packed));
    return packed;
}

/* ---- spawn and run ---- */

int64_t vrt_task_group_spawn(vrt_task_group_t *self, int64_t future_ptr,
                             vrt_poll_fn poll_fn)
{
    if (!group_valid(self))
        return -1;
    if (poll_fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (self->cancelled) {
#ifdef VRT_MUTANT_CANCELLED_IS_EINVAL /* test-only: one wrong errno (make fuzz-planted) */
        errno = EINVAL;
#else
        errno = ECANCELED;
#endif
        return -1;
    }
    if (self->task_count - self->completed_count >= VRT_MAX_TASKS) {
        errno = EAGAIN;
        return -1;
    }
    /* Everything that can fail comes first, and is undone on failure. */
    vrt_task_entry_t *e = group_alloc(self, sizeof *e);
    if (e == NULL)
        return -1;
    vrt_runtime_t *new_core = NULL;
    if (self->core == NULL && (new_core = group_alloc(self, sizeof *new_core)) == NULL) {
        group_release(self, e);
        return -1;
    }
    if (reserve_entry(self) != 0) {
        group_release(self, new_core);
        group_release(self, e);
        return -1;
    }
    if (new_core != NULL) {
        *new_core = vrt_runtime_new(); /* the core of the group's tasks */
        self->core = new_core;
    }
    if (self->allocator.alloc == NULL)
        self->allocator = *group_allocator(self);
    memset(e, 0, sizeof *e);
    e->index = self->task_count;
    e->status = VRT_TASK_PENDING;
    e->group = self;
    e->future_ptr = future_ptr;
    e->poll_fn = poll_fn;
    e->handle.task_id = -1;
    if (self->tail != NULL)
        self->tail->next = e;
    else
        self->head = e;
    self->tail = e;
    if (self->next_start == NULL)
        self->next_start = e;
    self->entries[e->index] = e;
    self->results[e->index] = 0;
    self->task_count++;
    return e->index;
}

/* Starts entries in spawn order while max_concurrency allows.  0, or -1
 * with the core's errno (ENOMEM) and the entry left unstarted. */
static int start_entries(vrt_task_group_t *g)
{
    while (g->next_start != NULL &&
           (g->max_concurrency == 0 || g->started_live < g->max_concurrency)) {
        vrt_task_entry_t *e = g->next_start;
        vrt_join_handle_t h = vrt_runtime_spawn(g->core, (int64_t)(intptr_t)e,
                                                poll_group_task);
        if (h.task_ptr == NULL)
            return -1;
        e->handle = h;
        e->started = 1;
        g->started_live++;
        g->next_start = e->next;
    }
    return 0;
}

int64_t vrt_task_group_run(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    if (self->core != NULL && vrt_sched_idle(self->core) != 0)
        return -1; /* EBUSY: run from inside one of its own tasks */
    if (self->core != NULL) {
        /* The tasks may wait on the global reactor's loop: bind to it (made
         * now if need be; without it, waits fail with EINVAL). */
        vrt_reactor_runtime_t *reactor = vrt_get_reactor();
        self->core->loop = reactor != NULL ? reactor->event_loop : NULL;
        self->core->running = 1;
    }
    int64_t rc = 0;
    while (rc == 0 && self->completed_count < self->task_count) {
        rc = start_entries(self);
        if (rc == 0)
            rc = vrt_loop_turn(self->core, self->core->loop, VRT_NO_FUTURE);
    }
    if (self->core != NULL)
        self->core->running = 0;
    if (rc != 0)
        return -1;
    return (self->erred || self->cancelled) ? 1 : 0;
}

int64_t vrt_task_group_cancel(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    self->cancelled = 1;
    return cancel_unfinished(self);
}

int64_t vrt_task_group_cancel_remaining(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    return cancel_unfinished(self);
}

/* ---- queries ---- */

int64_t vrt_task_group_completed(vrt_task_group_t *self)
{
    return group_valid(self) ? self->completed_count : -1;
}

int64_t vrt_task_group_total(vrt_task_group_t *self)
{
    return group_valid(self) ? self->task_count : -1;
}

int64_t vrt_task_group_is_done(vrt_task_group_t *self)
{
    return group_valid(self) ? self->completed_count == self->task_count : -1;
}

int64_t vrt_task_group_is_cancelled(vrt_task_group_t *self)
{
    return group_valid(self) ? self->cancelled : -1;
}

/* The entry at index, or NULL with EINVAL / ERANGE. */
static vrt_task_entry_t *entry_at(vrt_task_group_t *g, int64_t index)
{
    if (!group_valid(g))
        return NULL;
    if (index < 0 || index >= g->task_count) {
        errno = ERANGE;
        return NULL;
    }
    return g->entries[index];
}

int64_t vrt_task_group_result(vrt_task_group_t *self, int64_t index)
{
    return entry_at(self, index) != NULL ? self->results[index] : 0;
}

int64_t vrt_task_group_has_error(vrt_task_group_t *self, int64_t index)
{
    vrt_task_entry_t *e = entry_at(self, index);
    return e != NULL ? e->has_error : 0;
}

int64_t vrt_task_group_task_status(vrt_task_group_t *self, int64_t index)
{
    vrt_task_entry_t *e = entry_at(self, index);
    if (e == NULL)
        return -1;
    if (e->started && !entry_finished(e))
        return vrt_join_handle_status(&e->handle);
    return e->status;
}

/* ---- cleanup ---- */

int64_t vrt_task_group_cleanup(vrt_task_group_t *self)
{
    if (!group_valid(self))
        return -1;
    if (self->core != NULL && vrt_sched_idle(self->core) != 0)
        return -1;
    cancel_unfinished(self);
    vrt_task_entry_t *e = self->head;
    while (e != NULL) {
        vrt_task_entry_t *next = e->next;
        group_release(self, e);
        e = next;
    }
    if (self->core != NULL) {
        vrt_runtime_free(self->core);
        group_release(self, self->core);
    }
    group_release(self, self->entries);
    group_release(self, self->results);
    vrt_task_group_t fresh = vrt_task_group_named(self->name);
    fresh.cancel_on_error = self->cancel_on_error;
    fresh.max_concurrency = self->max_concurrency;
    fresh.allocator = self->allocator; /* a scoped task's group was made by it */
    *self = fresh;
    return 0;
}

/* ---- ScopedTask ---- */

vrt_scoped_task_t vrt_scoped_task_new(void)
{
    vrt_scoped_task_t scoped = {NULL};
    const vrt_allocator_t *a = vrt_default_allocator();
    vrt_task_group_t *g = a->alloc(a->ctx, sizeof *g);
    if (g == NULL) {
        errno = ENOMEM;
        return scoped;
    }
    *g = vrt_task_group_new();
    g->allocator = *a; /* so that the group is freed where it came from */
    scoped.group = g;
    return scoped;
}

static vrt_task_group_t *scoped_group(vrt_scoped_task_t *self)
{
    if (self == NULL || self->group == NULL) {
        errno = EINVAL;
        return NULL;
    }
    return self->group;
}

int64_t vrt_scoped_task_spawn(vrt_scoped_task_t *self, int64_t future_ptr,
                              vrt_poll_fn poll_fn)
{
    vrt_task_group_t *g = scoped_group(self);
    return g == NULL ? -1 : vrt_task_group_spawn(g, future_ptr, poll_fn);
}

int64_t vrt_scoped_task_run_and_cleanup(vrt_scoped_task_t *self)
{
    vrt_task_group_t *g = scoped_group(self);
    if (g == NULL)
        return -1;
    int64_t rc = vrt_task_group_run(g);
    int saved = errno;
    if (vrt_task_group_cleanup(g) != 0)
        return -1; /* EBUSY: called from inside one of its own tasks */
    vrt_allocator_t a = g->allocator;
    a.release(a.ctx, g);
    self->group = NULL;
    errno = saved;
    return rc;
}
