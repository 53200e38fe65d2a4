/*
 * vrt-oracle: the engine that runs scenarios on vrt itself.  Host runtime
 * is a vrt_runtime_t, host reactor a vrt_reactor_runtime_t, host group a
 * vrt_task_group_t whose tasks wait through the global waits.  Scenario
 * pipes are real non-blocking pipes.
 */
#include "oracle.h"

#include "vrt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct vstate {
    enum oracle_host host;
    vrt_runtime_t rt;
    vrt_reactor_runtime_t reactor;
    vrt_task_group_t group;
    vrt_scoped_task_t scoped;      /* host scoped */
    int group_gen;                 /* bumped by group-cleanup, run_and_cleanup */
    int pipes[ORACLE_MAX_PIPES][2];
    unsigned char closed[ORACLE_MAX_PIPES]; /* `close P`: the numbers are free */
    int held[ORACLE_MAX_PIPES][2];  /* `hold P`: dups of both ends, or -1 */
    FILE *file;                    /* pipe -2: a regular file, made when first named */
    vrt_event_loop_t own_loop;     /* `loop new` (host runtime) */
    int own_loop_active;
    vrt_task_node_t dummy;         /* the task of `loop register-timer` */
    /* per instance, by index in run->instances */
    vrt_join_handle_t handle[ORACLE_MAX_INSTANCES]; /* as spawn returned it */
    unsigned char spawned[ORACLE_MAX_INSTANCES];
    unsigned char released[ORACLE_MAX_INSTANCES]; /* 1 released, 2 dead (free) */
    int gen[ORACLE_MAX_INSTANCES];
};

/* One run at a time: the trampoline finds it here. */
static struct oracle_run *g_run;

/* The oracle's allocator, installed with vrt_set_allocator at the start of
 * every scenario: malloc and free, except that every allocation fails
 * while `fail-alloc 1` is in force. */
static int g_fail_alloc;

static void *oracle_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return g_fail_alloc ? NULL : malloc(size);
}

static void oracle_release(void *ctx, void *block)
{
    (void)ctx;
    free(block);
}

static const vrt_allocator_t oracle_allocator = {oracle_alloc, oracle_release, NULL};

/* A poll keeps errno as it found it: the calls a script makes inside it
 * must not read as the error of the host call that polled (block_on's
 * value -1 is told from a failure by errno alone). */
static int64_t trampoline(int64_t future_ptr)
{
    int caller_errno = errno;
    int64_t packed = oracle_poll(g_run, (struct oracle_instance *)(intptr_t)future_ptr);
    errno = caller_errno;
    return packed;
}

static struct vstate *st_of(struct oracle_run *run)
{
    return run->engine_state;
}

static int idx_of(struct oracle_run *run, const struct oracle_instance *inst)
{
    return (int)(inst - run->instances);
}

static struct oracle_result ok(int64_t v)
{
    struct oracle_result r = {v, 0};
    return r;
}

static struct oracle_result fail_errno(int err)
{
    struct oracle_result r = {-1, err != 0 ? err : EINVAL};
    return r;
}

/* -1 with errno set is a failure; anything else a value.  errno is
 * cleared before every call, so block_on's and result's -1 read right. */
static struct oracle_result check(int64_t v)
{
    if (v == -1 && errno != 0)
        return fail_errno(errno);
    return ok(v);
}

static struct oracle_result from_handle(vrt_join_handle_t h)
{
    if (h.task_id == -1)
        return fail_errno(errno);
    return ok(h.task_id);
}

static int vrt_open(struct oracle_run *run)
{
    struct vstate *s = calloc(1, sizeof *s);
    if (s == NULL) {
        fprintf(stderr, "vrt-oracle: out of memory\n");
        return -1;
    }
    s->host = run->scn->host;
    g_fail_alloc = 0;
    vrt_set_allocator(&oracle_allocator); /* 0: it has both functions */
    for (int i = 0; i < ORACLE_MAX_PIPES; i++)
        s->pipes[i][0] = s->pipes[i][1] = s->held[i][0] = s->held[i][1] = -1;
    for (int i = 0; i < run->scn->pipes; i++) {
        if (pipe(s->pipes[i]) != 0) {
            perror("vrt-oracle: pipe");
            goto fail;
        }
        for (int j = 0; j < 2; j++) {
            int fd = s->pipes[i][j];
            /* GCOVR_EXCL_START: fcntl fails only on a bad fd or
             * command, and fd is an end of the pipe just made */
            if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
                fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
                perror("vrt-oracle: fcntl");
                goto fail;
            }
            /* GCOVR_EXCL_STOP */
        }
    }
    switch (s->host) {
    case ORACLE_HOST_RUNTIME:
        s->rt = vrt_runtime_new();
        break;
    case ORACLE_HOST_REACTOR:
        s->reactor = vrt_reactor_runtime_new();
        if (s->reactor.event_loop == NULL) {
            perror("vrt-oracle: vrt_reactor_runtime_new");
            goto fail;
        }
        break;
    case ORACLE_HOST_GROUP:
        s->group = vrt_task_group_new();
        break;
    case ORACLE_HOST_GLOBAL:
    case ORACLE_HOST_GLOBAL_REACTOR:
        break; /* made by their first use */
    case ORACLE_HOST_SCOPED:
        s->scoped = vrt_scoped_task();
        if (s->scoped.group == NULL) {
            perror("vrt-oracle: vrt_scoped_task");
            goto fail;
        }
        break;
    }
    s->own_loop.kq = s->own_loop.waker_read_fd = s->own_loop.waker_write_fd = -1;
    s->dummy = vrt_task_node_new(-2, 0, trampoline);
    for (int k = 0; k < ORACLE_MAX_INSTANCES; k++)
        s->handle[k] = vrt_join_handle_new(-1, NULL);
    run->engine_state = s;
    g_run = run;
    return 0;
fail:
    for (int i = 0; i < ORACLE_MAX_PIPES; i++)
        for (int j = 0; j < 2; j++)
            if (s->pipes[i][j] >= 0)
                close(s->pipes[i][j]);
    free(s);
    return -1;
}

static void vrt_close(struct oracle_run *run)
{
    struct vstate *s = st_of(run);
    g_fail_alloc = 0;
    switch (s->host) {
    case ORACLE_HOST_RUNTIME:
        vrt_runtime_free(&s->rt);
        break;
    case ORACLE_HOST_REACTOR:
        vrt_reactor_runtime_free(&s->reactor);
        break;
    case ORACLE_HOST_GROUP:
        vrt_task_group_cleanup(&s->group);
        break;
    case ORACLE_HOST_SCOPED:
        if (s->scoped.group != NULL) { /* never run: clean up and free it */
            vrt_task_group_cleanup(s->scoped.group); /* 0: it is not running */
            free(s->scoped.group); /* made by oracle_alloc */
        }
        break;
    default:
        break;
    }
    if (s->own_loop_active)
        vrt_event_loop_cleanup(&s->own_loop);
    vrt_shutdown(); /* 0: no poll is under way between host calls */
    vrt_set_allocator(NULL);
    for (int i = 0; i < ORACLE_MAX_PIPES; i++)
        for (int j = 0; j < 2; j++) {
            if (s->pipes[i][j] >= 0 && !s->closed[i])
                close(s->pipes[i][j]);
            if (s->held[i][j] >= 0)
                close(s->held[i][j]);
        }
    if (s->file != NULL)
        fclose(s->file);
    free(s);
    run->engine_state = NULL;
    g_run = NULL;
}

static int is_group_host(const struct vstate *s)
{
    return s->host == ORACLE_HOST_GROUP || s->host == ORACLE_HOST_SCOPED;
}

/* The group of group-* calls: the host group, or the scoped task's (NULL
 * once run_and_cleanup ran or when new failed). */
static vrt_task_group_t *group_of(struct vstate *s)
{
    return s->host == ORACLE_HOST_SCOPED ? s->scoped.group : &s->group;
}

static vrt_runtime_t *core_of(struct vstate *s)
{
    vrt_reactor_runtime_t *g;
    switch (s->host) {
    case ORACLE_HOST_RUNTIME: return &s->rt;
    case ORACLE_HOST_REACTOR: return &s->reactor.core;
    case ORACLE_HOST_GLOBAL: return vrt_get_runtime();
    case ORACLE_HOST_GLOBAL_REACTOR:
        g = vrt_get_reactor();
        return g != NULL ? &g->core : NULL;
    default: return NULL;
    }
}

/* The loop of `loop OP`: the one `loop new` made, else the host reactor's,
 * else the global reactor's. */
static vrt_event_loop_t *loop_of(struct vstate *s)
{
    if (s->own_loop_active)
        return &s->own_loop;
    if (s->host == ORACLE_HOST_REACTOR)
        return s->reactor.event_loop;
    vrt_reactor_runtime_t *g = vrt_get_reactor();
    return g != NULL ? g->event_loop : NULL;
}

/* The fd of pipe P's end (0 read, 1 write): -1 for -1, a regular file for
 * -2; a closed pipe keeps its (now free) numbers. */
static int pipe_fd(struct vstate *s, int pipe, int end)
{
    if (pipe == -2) {
        if (s->file == NULL)
            s->file = tmpfile();
        return s->file != NULL ? fileno(s->file) : -1;
    }
    return pipe < 0 ? -1 : s->pipes[pipe][end];
}

/* An event's fd as a trace shows it: the pipe number for a pipe end
 * (READ and WRITE events), else the number itself (timer ids, waker). */
static int64_t event_fd_shown(struct oracle_run *run, struct vstate *s, int64_t fd,
                              int64_t filter)
{
    if (filter != VRT_EVFILT_READ && filter != VRT_EVFILT_WRITE)
        return fd;
    for (int p = 0; p < run->scn->pipes; p++)
        if (fd == s->pipes[p][0] || fd == s->pipes[p][1])
            return p;
    return fd;
}

/* Every handle of the host runtime's tasks spawned so far is dead. */
static void kill_handles(struct oracle_run *run, struct vstate *s)
{
    for (int k = 0; k < run->instance_count; k++)
        if (s->spawned[k])
            s->released[k] = 2;
}

static struct oracle_result do_spawn(struct oracle_run *run, struct vstate *s,
                                     struct oracle_instance *inst, int null_self,
                                     int null_fn)
{
    int64_t fp = (int64_t)(intptr_t)inst;
    vrt_poll_fn fn = null_fn ? NULL : trampoline;
    if (is_group_host(s)) {
        int64_t i = s->host == ORACLE_HOST_SCOPED
                        ? vrt_scoped_task_spawn(null_self ? NULL : &s->scoped, fp, fn)
                        : vrt_task_group_spawn(null_self ? NULL : &s->group, fp, fn);
        if (i == -1)
            return fail_errno(errno);
        if (inst != NULL) {
            int k = idx_of(run, inst);
            s->spawned[k] = 1;
            s->handle[k].task_id = i;
            s->gen[k] = s->group_gen;
            inst->engine_handle = i;
        }
        return ok(i);
    }
    vrt_join_handle_t h;
    if (s->host == ORACLE_HOST_RUNTIME)
        h = vrt_runtime_spawn(null_self ? NULL : &s->rt, fp, fn);
    else if (s->host == ORACLE_HOST_REACTOR)
        h = vrt_reactor_runtime_spawn(null_self ? NULL : &s->reactor, fp, fn);
    else if (null_self) /* the globals have no self: the method with NULL */
        h = s->host == ORACLE_HOST_GLOBAL ? vrt_runtime_spawn(NULL, fp, fn)
                                          : vrt_reactor_runtime_spawn(NULL, fp, fn);
    else
        h = s->host == ORACLE_HOST_GLOBAL ? vrt_spawn(fp, fn) : vrt_reactor_spawn(fp, fn);
    if (h.task_id != -1 && inst != NULL) {
        int k = idx_of(run, inst);
        s->spawned[k] = 1;
        s->handle[k] = h;
        inst->engine_handle = h.task_id;
    }
    return from_handle(h);
}

static struct oracle_result do_block_on(struct vstate *s, struct oracle_instance *inst,
                                        int null_self, int null_fn)
{
    int64_t fp = (int64_t)(intptr_t)inst;
    vrt_poll_fn fn = null_fn ? NULL : trampoline;
    switch (s->host) {
    case ORACLE_HOST_RUNTIME:
        return check(vrt_runtime_block_on(null_self ? NULL : &s->rt, fp, fn));
    case ORACLE_HOST_REACTOR:
        return check(vrt_reactor_runtime_block_on(null_self ? NULL : &s->reactor, fp, fn));
    case ORACLE_HOST_GLOBAL:
        return check(null_self ? vrt_runtime_block_on(NULL, fp, fn) : vrt_block_on(fp, fn));
    case ORACLE_HOST_GLOBAL_REACTOR:
        return check(null_self ? vrt_reactor_runtime_block_on(NULL, fp, fn)
                               : vrt_reactor_block_on(fp, fn));
    default:
        return fail_errno(EINVAL);
    }
}

/* The handle a host holds for inst: as spawn returned it, also after a
 * release (then it is stale, and vrt must say so). */
static vrt_join_handle_t *handle_of(struct oracle_run *run, struct vstate *s,
                                    struct oracle_instance *inst)
{
    return &s->handle[idx_of(run, inst)];
}

static struct oracle_result handle_op(struct oracle_run *run, struct vstate *s, const char *op,
                                      struct oracle_instance *inst)
{
    if (is_group_host(s))
        return fail_errno(EINVAL); /* group tasks have no handles */
    vrt_join_handle_t copy = {-1, NULL};
    vrt_join_handle_t *h = NULL;
    if (inst != NULL) {
        if (s->released[idx_of(run, inst)] == 2) /* dead handles are never touched */
            return strcmp(op, "is-valid") == 0 ? ok(0) : fail_errno(EINVAL);
        copy = *handle_of(run, s, inst);
        h = &copy;
    }
    if (strcmp(op, "is-valid") == 0) {
        /* a handle rebuilt from the host's copy with JoinHandle::new */
        vrt_join_handle_t fresh = vrt_join_handle_new(copy.task_id, copy.task_ptr);
        return check(vrt_join_handle_is_valid(h != NULL ? &fresh : NULL));
    }
    if (strcmp(op, "is-completed") == 0 || strcmp(op, "is-pending") == 0) {
        /* the TaskNode the handle names; NULL when the handle is not valid */
        vrt_task_node_t *node = NULL;
        if (h != NULL && !s->released[idx_of(run, inst)] && vrt_join_handle_is_valid(h) == 1)
            node = h->task_ptr;
        return check(op[3] == 'c' ? vrt_task_node_is_completed(node)
                                  : vrt_task_node_is_pending(node));
    }
    if (strcmp(op, "status") == 0)
        return check(vrt_join_handle_status(h));
    if (strcmp(op, "result") == 0)
        return check(vrt_join_handle_result(h));
    if (strcmp(op, "abort") == 0)
        return check(vrt_join_handle_abort(h));
    /* release: the host keeps its own copy, now stale */
    int64_t v = vrt_join_handle_release(h);
    if (v == 0 && inst != NULL)
        s->released[idx_of(run, inst)] = 1;
    return check(v);
}

static struct oracle_result group_op(struct vstate *s, const char *op, int64_t n, int null_self)
{
    vrt_task_group_t *g = null_self ? NULL : group_of(s);
    if (!is_group_host(s))
        return fail_errno(EINVAL);
    if (strcmp(op, "group-set-max-concurrency") == 0)
        return check(vrt_task_group_set_max_concurrency(g, n));
    if (strcmp(op, "group-set-cancel-on-error") == 0)
        return check(vrt_task_group_set_cancel_on_error(g, n));
    if (strcmp(op, "group-cancel") == 0)
        return check(vrt_task_group_cancel(g));
    if (strcmp(op, "group-cancel-remaining") == 0)
        return check(vrt_task_group_cancel_remaining(g));
    if (strcmp(op, "group-total") == 0)
        return check(vrt_task_group_total(g));
    if (strcmp(op, "group-completed") == 0)
        return check(vrt_task_group_completed(g));
    if (strcmp(op, "group-is-done") == 0)
        return check(vrt_task_group_is_done(g));
    if (strcmp(op, "group-is-cancelled") == 0)
        return check(vrt_task_group_is_cancelled(g));
    if (strcmp(op, "group-result") == 0 || strcmp(op, "group-has-error") == 0) {
        int64_t v = op[6] == 'r' ? vrt_task_group_result(g, n) : vrt_task_group_has_error(g, n);
        if (errno != 0)
            return fail_errno(errno);
        return ok(v);
    }
    if (strcmp(op, "group-status") == 0)
        return check(vrt_task_group_task_status(g, n));
    /* group-cleanup, the last of the group-* calls the parser knows */
    int64_t v = vrt_task_group_cleanup(g);
    if (v == 0 && g != NULL)
        s->group_gen++;
    return check(v);
}

static struct oracle_result loop_op(struct oracle_run *run, struct vstate *s, const char *op,
                                    const int64_t *nums)
{
    if (strcmp(op, "new") == 0) {
        /* a loop of the host runtime's own, replacing any earlier one */
        if (s->host != ORACLE_HOST_RUNTIME)
            return fail_errno(EINVAL);
        if (s->own_loop_active) /* 0: only a host call polls it, never now */
            vrt_event_loop_cleanup(&s->own_loop);
        s->own_loop = vrt_event_loop_new();
        s->own_loop_active = 1;
        if (s->own_loop.kq == -1)
            return fail_errno(errno);
        return ok(0);
    }
    if (strcmp(op, "cleanup") == 0) {
        if (!s->own_loop_active)
            return fail_errno(EINVAL); /* the reactors own theirs */
        return check(vrt_event_loop_cleanup(&s->own_loop));
    }
    vrt_event_loop_t *loop = loop_of(s);
    if (loop == NULL)
        return fail_errno(errno);
    if (strcmp(op, "event-fd") == 0) {
        int64_t fd = vrt_event_loop_event_fd(loop, nums[0]);
        if (fd == -1 && errno != 0)
            return fail_errno(errno);
        return ok(event_fd_shown(run, s, fd, vrt_event_loop_event_filter(loop, nums[0])));
    }
    if (strcmp(op, "event-filter") == 0)
        return check(vrt_event_loop_event_filter(loop, nums[0]));
    if (strcmp(op, "register-read") == 0)
        return check(vrt_event_loop_register_read(loop, pipe_fd(s, (int)nums[0], 0), &s->dummy));
    if (strcmp(op, "register-write") == 0)
        return check(vrt_event_loop_register_write(loop, pipe_fd(s, (int)nums[0], 1), &s->dummy));
    if (strcmp(op, "deregister") == 0) {
        /* a pipe number for READ (its read end) and WRITE (its write end) */
        int64_t fd = nums[0];
        if ((nums[1] == VRT_EVFILT_READ || nums[1] == VRT_EVFILT_WRITE) && fd >= -2 &&
            fd < run->scn->pipes)
            fd = pipe_fd(s, (int)fd, nums[1] == VRT_EVFILT_READ ? 0 : 1);
        return check(vrt_event_loop_deregister(loop, fd, nums[1]));
    }
    if (strcmp(op, "register-timer") == 0)
        return check(vrt_event_loop_register_timer(loop, nums[0], nums[1], &s->dummy));
    if (strcmp(op, "poll") == 0)
        return check(vrt_event_loop_poll_events(loop, nums[0]));
    if (strcmp(op, "wake") == 0)
        return check(vrt_event_loop_wake(loop));
    /* find-task, the last of the loop calls the parser knows.  Pipe P: a
     * task on its read end, else on its write end. */
    int64_t p = nums[0];
    int64_t fd = p >= -2 && p < run->scn->pipes ? pipe_fd(s, (int)p, 0) : p;
    vrt_task_node_t *t = vrt_event_loop_find_task_for_fd(loop, fd);
    if (t == NULL && errno == 0 && p >= 0 && p < run->scn->pipes)
        t = vrt_event_loop_find_task_for_fd(loop, pipe_fd(s, (int)p, 1));
    if (t == NULL && errno != 0)
        return fail_errno(errno);
    return ok(t == NULL ? 0 : 1);
}

static struct oracle_result do_free(struct oracle_run *run, struct vstate *s, int null_self)
{
    int64_t v;
    switch (s->host) {
    case ORACLE_HOST_RUNTIME:
        v = vrt_runtime_free(null_self ? NULL : &s->rt);
        break;
    case ORACLE_HOST_REACTOR:
        v = vrt_reactor_runtime_free(null_self ? NULL : &s->reactor);
        break;
    default:
        return fail_errno(EINVAL);
    }
    if (v == 0 && !null_self)
        kill_handles(run, s); /* every handle of a freed runtime is dead */
    return check(v);
}

/* `new`: the host object made again (the old one freed first). */
static struct oracle_result do_new(struct oracle_run *run, struct vstate *s, int named)
{
    if (named && s->host != ORACLE_HOST_GROUP)
        return fail_errno(EINVAL);
    switch (s->host) {
    case ORACLE_HOST_RUNTIME:
        if (vrt_runtime_free(&s->rt) != 0)
            return fail_errno(errno);
        kill_handles(run, s);
        s->rt = vrt_runtime_new();
        return ok(0);
    case ORACLE_HOST_REACTOR:
        if (vrt_reactor_runtime_free(&s->reactor) != 0)
            return fail_errno(errno);
        kill_handles(run, s);
        s->reactor = vrt_reactor_runtime_new();
        if (s->reactor.event_loop == NULL)
            return fail_errno(errno);
        return ok(0);
    case ORACLE_HOST_GROUP:
        if (vrt_task_group_cleanup(&s->group) != 0)
            return fail_errno(errno);
        s->group_gen++;
        s->group = named ? vrt_task_group_named("oracle") : vrt_task_group();
        return ok(0);
    case ORACLE_HOST_SCOPED:
        if (s->scoped.group != NULL)
            return fail_errno(EINVAL); /* run it first */
        s->group_gen++;
        s->scoped = vrt_scoped_task_new();
        if (s->scoped.group == NULL)
            return fail_errno(errno);
        return ok(0);
    default:
        return fail_errno(EINVAL);
    }
}

/* The extension calls that reach the remaining rows (scenarios.md). */
static struct oracle_result misc_call(struct oracle_run *run, struct vstate *s, const char *op,
                                      const struct oracle_call *c, int null_self, int *done)
{
    *done = 1;
    int64_t n = c->nums[0];
    if (strcmp(op, "new") == 0 || strcmp(op, "new-named") == 0)
        return null_self ? fail_errno(EINVAL) : do_new(run, s, op[3] == '-');
    if (strcmp(op, "shutdown") == 0) {
        if (null_self)
            return fail_errno(EINVAL);
        int64_t v = vrt_shutdown();
        if (v == 0 && (s->host == ORACLE_HOST_GLOBAL || s->host == ORACLE_HOST_GLOBAL_REACTOR))
            kill_handles(run, s);
        return check(v);
    }
    if (strcmp(op, "check") == 0) {
        switch (s->host) {
        case ORACLE_HOST_RUNTIME:
            return check(vrt_runtime_check(null_self ? NULL : &s->rt));
        case ORACLE_HOST_REACTOR:
            return check(vrt_reactor_runtime_check(null_self ? NULL : &s->reactor));
        case ORACLE_HOST_GLOBAL:
            return check(vrt_runtime_check(null_self ? NULL : vrt_get_runtime()));
        case ORACLE_HOST_GLOBAL_REACTOR: {
            vrt_reactor_runtime_t *g = null_self ? NULL : vrt_get_reactor();
            if (g == NULL && !null_self)
                return fail_errno(errno);
            return check(vrt_reactor_runtime_check(g));
        }
        default:
            return fail_errno(EINVAL);
        }
    }
    if (strcmp(op, "set-next-id") == 0) {
        vrt_runtime_t *core = null_self ? NULL : core_of(s);
        if (core == NULL)
            return fail_errno(errno != 0 ? errno : EINVAL);
        core->next_task_id = n; /* the seed field, written by the host */
        return ok(0);
    }
    if (strcmp(op, "get-loop") == 0) {
        vrt_reactor_runtime_t *r = NULL;
        if (s->host == ORACLE_HOST_REACTOR)
            r = &s->reactor;
        else if (s->host == ORACLE_HOST_GLOBAL_REACTOR && !null_self && (r = vrt_get_reactor()) == NULL)
            return fail_errno(errno);
        else if (s->host != ORACLE_HOST_GLOBAL_REACTOR)
            return fail_errno(EINVAL);
        vrt_event_loop_t *l = vrt_reactor_runtime_get_event_loop(null_self ? NULL : r);
        if (l == NULL && errno != 0)
            return fail_errno(errno);
        return ok(l != NULL ? 1 : 0);
    }
    if (null_self) {
        *done = 0; /* the calls below have no self */
        return fail_errno(EINVAL);
    }
    if (strcmp(op, "fail-alloc") == 0) {
        g_fail_alloc = n != 0;
        return ok(0);
    }
    if (strcmp(op, "set-allocator") == 0) {
        static const vrt_allocator_t no_alloc = {NULL, oracle_release, NULL};
        if (n == 1)
            return check(vrt_set_allocator(&oracle_allocator));
        if (n == 0)
            return check(vrt_set_allocator(&no_alloc));
        return fail_errno(EINVAL);
    }
    if (strcmp(op, "runtime-init") == 0) {
        vrt_runtime_t *r = vrt_runtime_init();
        return ok(r != NULL && r == vrt_get_runtime() ? 1 : 0);
    }
    if (strcmp(op, "reactor-init") == 0) {
        vrt_reactor_runtime_t *r = vrt_reactor_init();
        if (r == NULL)
            return fail_errno(errno);
        return ok(r == vrt_get_reactor() ? 1 : 0);
    }
    if (strcmp(op, "backend") == 0) {
        const char *b = vrt_event_loop_backend();
        return ok(b != NULL && (strcmp(b, "epoll") == 0 || strcmp(b, "kqueue") == 0) ? 1 : 0);
    }
    if (strcmp(op, "node-new") == 0) {
        vrt_task_node_t node = vrt_task_node_new(7, 0, trampoline);
        return check(vrt_task_node_is_pending(&node));
    }
    if (strcmp(op, "poll-ready") == 0)
        return ok(vrt_poll_ready((int32_t)(uint32_t)(uint64_t)n));
    if (strcmp(op, "poll-pending") == 0)
        return ok(vrt_poll_pending());
    if (strcmp(op, "poll-status") == 0)
        return ok(vrt_poll_status(n));
    if (strcmp(op, "poll-value") == 0)
        return ok(vrt_poll_value(n));
    if (strcmp(op, "poll-is-ready") == 0)
        return ok(vrt_poll_is_ready(n));
    int p = (int)n;
    if (strcmp(op, "close") == 0) {
        if (p < 0 || s->closed[p])
            return fail_errno(EBADF);
        close(s->pipes[p][0]);
        close(s->pipes[p][1]);
        s->closed[p] = 1; /* the numbers stay, now free */
        return ok(0);
    }
    if (strcmp(op, "reopen") == 0) {
        int fds[2];
        if (p < 0 || !s->closed[p])
            return fail_errno(EINVAL);
        if (pipe(fds) != 0)
            return fail_errno(errno);
        for (int j = 0; j < 2; j++)
            if (fcntl(fds[j], F_SETFL, fcntl(fds[j], F_GETFL) | O_NONBLOCK) != 0 ||
                fcntl(fds[j], F_SETFD, FD_CLOEXEC) != 0)
                perror("vrt-oracle: fcntl"); /* GCOVR_EXCL_LINE: as in vrt_open */
        s->closed[p] = 0;
        if (fds[0] != s->pipes[p][0] || fds[1] != s->pipes[p][1]) {
            /* the scenario needs the same numbers: say so in the trace */
            s->pipes[p][0] = fds[0];
            s->pipes[p][1] = fds[1];
            return fail_errno(EXDEV);
        }
        return ok(0);
    }
    if (strcmp(op, "hold") == 0) {
        if (p < 0 || s->closed[p] || s->held[p][0] >= 0)
            return fail_errno(EINVAL);
        for (int j = 0; j < 2; j++)
            if ((s->held[p][j] = fcntl(s->pipes[p][j], F_DUPFD_CLOEXEC, 0)) < 0)
                return fail_errno(errno);
        return ok(0);
    }
    /* write-held: vrt_call has handled every other call by now */
    char b = 'x';
    if (p < 0 || s->held[p][1] < 0)
        return fail_errno(EBADF);
    ssize_t w = write(s->held[p][1], &b, 1);
    return w < 0 ? fail_errno(errno) : ok(w);
}

static struct oracle_result vrt_call(struct oracle_run *run, const struct oracle_call *c,
                                     struct oracle_instance *inst)
{
    struct vstate *s = st_of(run);
    enum oracle_call_target target;
    const char *op = oracle_call_op(c, &target);
    int null_self = target == ORACLE_CALL_NULL_SELF, null_fn = target == ORACLE_CALL_NULL_FN;
    if (target == ORACLE_CALL_LOOP) {
        errno = 0;
        return loop_op(run, s, op, c->nums);
    }
    errno = 0;
    if (strcmp(op, "spawn") == 0)
        return do_spawn(run, s, inst, null_self, null_fn);
    if (strcmp(op, "block_on") == 0)
        return do_block_on(s, inst, null_self, null_fn);
    if (strcmp(op, "run") == 0) {
        switch (s->host) {
        case ORACLE_HOST_RUNTIME:
            return check(vrt_runtime_run(null_self ? NULL : &s->rt));
        case ORACLE_HOST_REACTOR:
            return check(vrt_reactor_runtime_run(null_self ? NULL : &s->reactor));
        case ORACLE_HOST_GROUP:
            return check(vrt_task_group_run(null_self ? NULL : &s->group));
        case ORACLE_HOST_GLOBAL:
            return check(null_self ? vrt_runtime_run(NULL) : vrt_run_all());
        case ORACLE_HOST_GLOBAL_REACTOR:
            return check(null_self ? vrt_reactor_runtime_run(NULL) : vrt_reactor_run());
        case ORACLE_HOST_SCOPED: {
            vrt_task_group_t *before = s->scoped.group;
            struct oracle_result r =
                check(vrt_scoped_task_run_and_cleanup(null_self ? NULL : &s->scoped));
            if (before != NULL && s->scoped.group == NULL)
                s->group_gen++; /* cleaned up and freed: its tasks are gone */
            return r;
        }
        }
    }
    if (strcmp(op, "free") == 0)
        return do_free(run, s, null_self);
    if (strcmp(op, "set-max-tasks") == 0 || strcmp(op, "max-tasks") == 0) {
        /* a NULL self makes nothing (not even the global reactor) */
        vrt_runtime_t *core = null_self ? NULL : core_of(s);
        if (core == NULL && !null_self) /* no runtime here, or the global reactor's ENOMEM */
            return fail_errno(errno != 0 ? errno : EINVAL);
        return check(op[0] == 's' ? vrt_runtime_set_max_tasks(core, c->nums[0])
                                  : vrt_runtime_max_tasks(core));
    }
    if (strcmp(op, "status") == 0 || strcmp(op, "result") == 0 || strcmp(op, "abort") == 0 ||
        strcmp(op, "release") == 0 || strcmp(op, "is-valid") == 0 ||
        strcmp(op, "is-completed") == 0 || strcmp(op, "is-pending") == 0)
        return handle_op(run, s, op, null_self ? NULL : inst);
    if (strncmp(op, "group-", 6) == 0)
        return group_op(s, op, c->nums[0], null_self);
    int done;
    struct oracle_result mr = misc_call(run, s, op, c, null_self, &done);
    if (done)
        return mr;
    if (null_self && (strcmp(op, "wait-read") == 0 || strcmp(op, "wait-write") == 0 ||
                      strcmp(op, "sleep") == 0)) {
        if (s->host != ORACLE_HOST_REACTOR)
            return fail_errno(EINVAL);
        if (op[0] == 's')
            return check(vrt_reactor_runtime_sleep_ms(NULL, c->nums[0]));
        int fd = pipe_fd(s, (int)c->nums[0], op[5] == 'r' ? 0 : 1);
        return check(op[5] == 'r' ? vrt_reactor_runtime_wait_readable(NULL, fd)
                                  : vrt_reactor_runtime_wait_writable(NULL, fd));
    }
    return fail_errno(EINVAL);
}

static int64_t vrt_status(struct oracle_run *run, struct oracle_instance *inst)
{
    struct vstate *s = st_of(run);
    int k = idx_of(run, inst);
    if (!s->spawned[k])
        return -1;
    if (is_group_host(s)) {
        if (s->gen[k] != s->group_gen || group_of(s) == NULL)
            return ORACLE_STATUS_RELEASED;
        errno = 0;
        return vrt_task_group_task_status(group_of(s), s->handle[k].task_id);
    }
    if (s->released[k])
        return ORACLE_STATUS_RELEASED;
    errno = 0;
    return vrt_join_handle_status(&s->handle[k]);
}

static struct oracle_result vrt_wait(struct oracle_run *run, int pipe, int write)
{
    struct vstate *s = st_of(run);
    int fd = pipe_fd(s, pipe, write);
    errno = 0;
    if (s->host == ORACLE_HOST_REACTOR)
        return check(write ? vrt_reactor_runtime_wait_writable(&s->reactor, fd)
                           : vrt_reactor_runtime_wait_readable(&s->reactor, fd));
    return check(write ? vrt_wait_writable(fd) : vrt_wait_readable(fd));
}

static struct oracle_result vrt_wait_read_op(struct oracle_run *run, struct oracle_instance *inst,
                                             int pipe)
{
    (void)inst;
    return vrt_wait(run, pipe, 0);
}

static struct oracle_result vrt_wait_write_op(struct oracle_run *run, struct oracle_instance *inst,
                                              int pipe)
{
    (void)inst;
    return vrt_wait(run, pipe, 1);
}

static struct oracle_result vrt_sleep_op(struct oracle_run *run, struct oracle_instance *inst,
                                         int64_t ms)
{
    struct vstate *s = st_of(run);
    (void)inst;
    errno = 0;
    if (s->host == ORACLE_HOST_REACTOR)
        return check(vrt_reactor_runtime_sleep_ms(&s->reactor, ms));
    return check(vrt_sleep_ms(ms));
}

static struct oracle_result vrt_write_pipe(struct oracle_run *run, int pipe)
{
    struct vstate *s = st_of(run);
    char b = 'x';
    if (pipe < 0)
        return fail_errno(EBADF);
    ssize_t n = write(s->pipes[pipe][1], &b, 1);
    if (n < 0)
        return fail_errno(errno);
    return ok(n);
}

static struct oracle_result vrt_read_pipe(struct oracle_run *run, int pipe)
{
    struct vstate *s = st_of(run);
    char b;
    if (pipe < 0)
        return fail_errno(EBADF);
    ssize_t n = read(s->pipes[pipe][0], &b, 1);
    if (n < 0)
        return errno == EAGAIN ? ok(0) : fail_errno(errno);
    return ok(n);
}

const struct oracle_engine oracle_engine_vrt = {
    "vrt",
    vrt_open,
    vrt_close,
    vrt_call,
    vrt_status,
    vrt_wait_read_op,
    vrt_wait_write_op,
    vrt_sleep_op,
    vrt_write_pipe,
    vrt_read_pipe,
};
