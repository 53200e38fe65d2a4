/*
 * What the proofs of src/group.c assume and do not prove: contracts for the
 * calls a group makes out of itself (its allocator, its scheduler core, the
 * global reactor, a task's own poll function).  Only Frama-C reads this
 * file: src/group.c includes it when __FRAMAC__ is defined, in place of the
 * static inline wrappers the compilers see (which make exactly these calls),
 * after its logic definitions (grp_inv...), which the contracts use.
 *
 * grp_world stands for the memory those calls own and group.c never reads:
 * task nodes and slabs, event sources and loop tables, the global reactor,
 * the kernel.  The footprints below are therefore the group's view, and
 * rely on one assumption each call keeps: none of them writes the group,
 * its entries or its arrays, except a task's poll (which may call any group
 * function) and a loop turn (which polls the group's tasks).
 */
#ifndef GRP_ASSUMED_H
#define GRP_ASSUMED_H

//@ ghost int grp_world;

/* Everything a group task's poll may write: any group, entry, array,
 * join handle and runtime, and what grp_world stands for.  (A handle is
 * also a field of an entry; named by its own type, the handle fields the
 * group's functions write are in this set as they are written.) */
#define GRP_WORLD                                                        \
    { *grp_w_g | vrt_task_group_t *grp_w_g; \true },                     \
    { *grp_w_e | vrt_task_entry_t *grp_w_e; \true },                     \
    { *grp_w_h | vrt_join_handle_t *grp_w_h; \true },                    \
    { *grp_w_a | vrt_task_entry_t **grp_w_a; \true },                    \
    { *grp_w_i | int64_t *grp_w_i; \true },                              \
    { *grp_w_r | vrt_runtime_t *grp_w_r; \true }, grp_world, errno

/* ASSUMED: the group's allocator (group_alloc) returns NULL with ENOMEM or
 * a block of the requested type and count that overlaps nothing the group
 * holds, nor the blocks the caller passes as ghosts (still unlinked).  WP
 * (Frama-C 25) neither implements \fresh nor keeps a void * cast, hence
 * typed allocation functions. */
/*@ requires grp_inv(g);
    assigns errno;
    ensures \result == \null ==> errno == ENOMEM;
    ensures \result != \null ==> \valid(\result) && grp_apart_entry(g, \result);
*/
vrt_task_entry_t *grp_alloc_entry(vrt_task_group_t *g);

/*@ requires grp_inv(g) && \valid(e);
    assigns errno;
    ensures \result == \null ==> errno == ENOMEM;
    ensures \result != \null ==> \valid(\result) &&
            grp_apart_core(g, \result) && \separated(\result, e);
*/
vrt_runtime_t *grp_alloc_core(vrt_task_group_t *g)
    /*@ ghost (vrt_task_entry_t *e) */;

/* A new array of cap cells apart from the group's arrays, core and
 * entries, and from the core the caller holds. */
#define GRP_APART_ARRAY(r, cap)                                              \
    (g->capacity > 0 ==>                                                     \
        \separated(r + (0 .. cap - 1), g->entries + (0 .. g->capacity - 1), \
                   g->results + (0 .. g->capacity - 1))) &&                 \
    (g->core != \null ==> \separated(r + (0 .. cap - 1), g->core)) &&       \
    (core != \null ==> \separated(r + (0 .. cap - 1), core)) &&             \
    (\forall integer i; 0 <= i < g->task_count ==>                          \
        \separated(r + (0 .. cap - 1), g->entries[i]))

/*@ requires grp_inv(g) && 0 < cap <= GROUP_CAPACITY_LIMIT && \valid(e);
    assigns errno;
    ensures \result == \null ==> errno == ENOMEM;
    ensures \result != \null ==>
            \valid(\result + (0 .. cap - 1)) &&
            \separated(\result + (0 .. cap - 1), g, e) &&
            GRP_APART_ARRAY(\result, cap);
*/
vrt_task_entry_t **grp_alloc_entries(vrt_task_group_t *g, int64_t cap)
    /*@ ghost (vrt_task_entry_t *e, vrt_runtime_t *core) */;

/*@ requires grp_inv(g) && 0 < cap <= GROUP_CAPACITY_LIMIT && \valid(e);
    requires \valid(entries + (0 .. cap - 1));
    assigns errno;
    ensures \result == \null ==> errno == ENOMEM;
    ensures \result != \null ==>
            \valid(\result + (0 .. cap - 1)) &&
            \separated(\result + (0 .. cap - 1), g, e,
                       entries + (0 .. cap - 1)) &&
            GRP_APART_ARRAY(\result, cap);
*/
int64_t *grp_alloc_results(vrt_task_group_t *g, int64_t cap)
    /*@ ghost (vrt_task_entry_t *e, vrt_runtime_t *core,
               vrt_task_entry_t **entries) */;

/* ASSUMED: a ScopedTask's group from the default allocator. */
/*@ requires \valid_read(a);
    assigns errno;
    ensures \result == \null || (\valid(\result) && \separated(\result, a));
*/
vrt_task_group_t *grp_alloc_group(const vrt_allocator_t *a);

/* ASSUMED: a group task's own poll function, e->poll_fn(e->future_ptr).  It
 * may call any API, this group's included (spawn appends entries, cancel
 * finishes them), which keeps every group's invariant.  Its own entry stays
 * in place and is not completed during its own poll (only poll_group_task
 * completes it, after the poll; a nested run of the group fails with
 * EBUSY), though it may be cancelled. */
/*@ requires grp_polled(e) && e->poll_fn != \null;
    assigns GRP_WORLD;
    ensures e->group == \old(e->group) && grp_inv(e->group);
    ensures grp_is_entry(e->group, e) && e->index == \old(e->index);
    ensures e->started == 1;
    ensures e->status == VRT_TASK_PENDING || e->status == VRT_TASK_CANCELLED;
*/
int64_t grp_call_task_poll(vrt_task_entry_t *e);

/* ASSUMED: vrt_join_handle_abort(h) on a started entry's handle: writes
 * the core and its nodes (and the task's waits), no group memory. */
/*@ requires \valid(core) && \valid(h) && \separated(core, h);
    assigns *core, grp_world, errno;
    ensures -1 <= \result <= 1;
*/
int64_t grp_handle_abort(vrt_runtime_t *core, vrt_join_handle_t *h);

/* ASSUMED: vrt_join_handle_release(h): the handle becomes {-1, NULL}. */
/*@ requires \valid(core) && \valid(h) && \separated(core, h);
    assigns *h, *core, grp_world, errno;
    ensures \result == 0 || \result == -1;
    ensures h->task_id == -1 && h->task_ptr == \null;
*/
int64_t grp_handle_release(vrt_runtime_t *core, vrt_join_handle_t *h);

/* ASSUMED: vrt_join_handle_status(h): a VRT_TASK_* status, or -1. */
/*@ requires \valid_read(h);
    assigns errno;
    ensures -1 <= \result <= VRT_TASK_CANCELLED;
*/
int64_t grp_handle_status(vrt_join_handle_t *h);

/* ASSUMED: vrt_runtime_spawn(core, e, poll_fn): the entry's task on the
 * core, or {-1, NULL} with errno. */
/*@ requires \valid(core) && \valid_read(e) && poll_fn != \null;
    requires \separated(core, e);
    assigns *core, grp_world, errno;
    ensures \result.task_ptr == \null || \result.task_id >= 0;
*/
vrt_join_handle_t grp_core_spawn(vrt_runtime_t *core, vrt_task_entry_t *e,
                                 vrt_poll_fn poll_fn);

/* ASSUMED: vrt_runtime_free(core). */
/*@ requires \valid(core);
    assigns *core, grp_world, errno;
    ensures \result == 0 || \result == -1;
*/
int64_t grp_core_free(vrt_runtime_t *core);

/* ASSUMED: the global reactor's event loop (vrt_get_reactor, which makes
 * the reactor on first use), or NULL. */
/*@ assigns grp_world, errno;
*/
vrt_event_loop_t *grp_reactor_loop(void);

/* ASSUMED: vrt_loop_turn(g->core, g->core->loop, VRT_NO_FUTURE): one turn
 * of the group's core, which polls its tasks (poll_group_task) and may
 * wait in the kernel.  Keeps the group's invariant and its core. */
/*@ requires grp_inv(g) && g->core != \null;
    assigns GRP_WORLD;
    ensures grp_inv(g) && g->core == \old(g->core);
    ensures g->core->running == \old(g->core->running);
    ensures \result == 0 || \result == -1;
*/
int64_t grp_loop_turn(vrt_task_group_t *g);

#endif /* GRP_ASSUMED_H */
