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
    int group_gen;                 /* bumped by group-cleanup */
    int pipes[ORACLE_MAX_PIPES][2];
    vrt_task_node_t dummy;         /* the task of `loop register-timer` */
    /* per instance, by index in run->instances */
    vrt_join_handle_t handle[ORACLE_MAX_INSTANCES]; /* as spawn returned it */
    unsigned char spawned[ORACLE_MAX_INSTANCES];
    unsigned char released[ORACLE_MAX_INSTANCES]; /* 1 released, 2 dead (free) */
    int gen[ORACLE_MAX_INSTANCES];
};

/* One run at a time: the trampoline finds it here. */
static struct oracle_run *g_run;

static int64_t trampoline(int64_t future_ptr)
{
    return oracle_poll(g_run, (struct oracle_instance *)(intptr_t)future_ptr);
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
    for (int i = 0; i < ORACLE_MAX_PIPES; i++)
        s->pipes[i][0] = s->pipes[i][1] = -1;
    for (int i = 0; i < run->scn->pipes; i++) {
        if (pipe(s->pipes[i]) != 0) {
            perror("vrt-oracle: pipe");
            goto fail;
        }
        for (int j = 0; j < 2; j++) {
            int fd = s->pipes[i][j];
            if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
                fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
                perror("vrt-oracle: fcntl");
                goto fail;
            }
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
    }
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
    }
    if (vrt_shutdown() != 0)
        perror("vrt-oracle: vrt_shutdown");
    for (int i = 0; i < ORACLE_MAX_PIPES; i++)
        for (int j = 0; j < 2; j++)
            if (s->pipes[i][j] >= 0)
                close(s->pipes[i][j]);
    free(s);
    run->engine_state = NULL;
    g_run = NULL;
}

static vrt_runtime_t *core_of(struct vstate *s)
{
    switch (s->host) {
    case ORACLE_HOST_RUNTIME: return &s->rt;
    case ORACLE_HOST_REACTOR: return &s->reactor.core;
    default: return NULL;
    }
}

/* The loop of `loop OP`: the host reactor's, else the global reactor's. */
static vrt_event_loop_t *loop_of(struct vstate *s)
{
    if (s->host == ORACLE_HOST_REACTOR)
        return s->reactor.event_loop;
    vrt_reactor_runtime_t *g = vrt_get_reactor();
    return g != NULL ? g->event_loop : NULL;
}

static int pipe_fd(struct vstate *s, int pipe, int end)
{
    return pipe < 0 ? -1 : s->pipes[pipe][end];
}

static struct oracle_result do_spawn(struct oracle_run *run, struct vstate *s,
                                     struct oracle_instance *inst, int null_self,
                                     int null_fn)
{
    int64_t fp = (int64_t)(intptr_t)inst;
    vrt_poll_fn fn = null_fn ? NULL : trampoline;
    if (s->host == ORACLE_HOST_GROUP) {
        int64_t i = vrt_task_group_spawn(null_self ? NULL : &s->group, fp, fn);
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
    else
        h = vrt_reactor_runtime_spawn(null_self ? NULL : &s->reactor, fp, fn);
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
    if (s->host == ORACLE_HOST_GROUP)
        return fail_errno(EINVAL); /* group tasks have no handles */
    vrt_join_handle_t copy = {-1, NULL};
    vrt_join_handle_t *h = NULL;
    if (inst != NULL) {
        if (s->released[idx_of(run, inst)] == 2)
            return fail_errno(EINVAL); /* dead handles are never touched */
        copy = *handle_of(run, s, inst);
        h = &copy;
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
    vrt_task_group_t *g = null_self ? NULL : &s->group;
    if (s->host != ORACLE_HOST_GROUP)
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
    if (strcmp(op, "group-cleanup") == 0) {
        int64_t v = vrt_task_group_cleanup(g);
        if (v == 0 && g != NULL)
            s->group_gen++;
        return check(v);
    }
    return fail_errno(EINVAL);
}

static struct oracle_result loop_op(struct vstate *s, const char *op, const int64_t *nums)
{
    vrt_event_loop_t *loop = loop_of(s);
    if (loop == NULL)
        return fail_errno(errno);
    if (strcmp(op, "event-fd") == 0)
        return check(vrt_event_loop_event_fd(loop, nums[0]));
    if (strcmp(op, "event-filter") == 0)
        return check(vrt_event_loop_event_filter(loop, nums[0]));
    if (strcmp(op, "deregister") == 0)
        return check(vrt_event_loop_deregister(loop, nums[0], nums[1]));
    if (strcmp(op, "register-timer") == 0)
        return check(vrt_event_loop_register_timer(loop, nums[0], nums[1], &s->dummy));
    if (strcmp(op, "poll") == 0)
        return check(vrt_event_loop_poll_events(loop, nums[0]));
    if (strcmp(op, "wake") == 0)
        return check(vrt_event_loop_wake(loop));
    if (strcmp(op, "find-task") == 0) {
        vrt_task_node_t *t = vrt_event_loop_find_task_for_fd(loop, nums[0]);
        if (t == NULL && errno != 0)
            return fail_errno(errno);
        return ok(t == NULL ? 0 : 1);
    }
    return fail_errno(EINVAL);
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
        for (int k = 0; k < run->instance_count; k++)
            if (s->spawned[k])
                s->released[k] = 2; /* every handle of a freed runtime is dead */
    return check(v);
}

static struct oracle_result vrt_call(struct oracle_run *run, const struct oracle_call *c,
                                     struct oracle_instance *inst)
{
    struct vstate *s = st_of(run);
    const char *op = c->op;
    int null_self = 0, null_fn = 0;
    if (strncmp(op, "null-fn ", 8) == 0) {
        null_fn = 1;
        op += 8;
    } else if (strncmp(op, "null ", 5) == 0) {
        null_self = 1;
        op += 5;
    } else if (strncmp(op, "loop ", 5) == 0) {
        errno = 0;
        return loop_op(s, op + 5, c->nums);
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
        }
    }
    if (strcmp(op, "free") == 0)
        return do_free(run, s, null_self);
    if (strcmp(op, "set-max-tasks") == 0 || strcmp(op, "max-tasks") == 0) {
        vrt_runtime_t *core = core_of(s);
        if (core == NULL)
            return fail_errno(EINVAL);
        if (null_self)
            core = NULL;
        return check(op[0] == 's' ? vrt_runtime_set_max_tasks(core, c->nums[0])
                                  : vrt_runtime_max_tasks(core));
    }
    if (strcmp(op, "status") == 0 || strcmp(op, "result") == 0 || strcmp(op, "abort") == 0 ||
        strcmp(op, "release") == 0)
        return handle_op(run, s, op, null_self ? NULL : inst);
    if (strncmp(op, "group-", 6) == 0)
        return group_op(s, op, c->nums[0], null_self);
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
    if (s->host == ORACLE_HOST_GROUP) {
        if (s->gen[k] != s->group_gen)
            return ORACLE_STATUS_RELEASED;
        errno = 0;
        return vrt_task_group_task_status(&s->group, s->handle[k].task_id);
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
