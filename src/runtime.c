/* Runtime: the basic cooperative executor over the scheduler core. */
#include <errno.h>

#include "vrt_internal.h"

static const vrt_join_handle_t invalid_handle = {-1, NULL};

/*@ assigns \nothing;
    ensures \result.task_count == 0 && \result.next_task_id == 0;
    ensures \result.head == \null && \result.tail == \null;
    ensures \result.current_task == \null && \result.free_list == \null;
    ensures \result.max_tasks == 0 && \result.running == 0;
    ensures \result.slabs == \null && \result.slab_count == 0;
    ensures \result.parked_count == 0 && \result.loop == \null;
*/
vrt_runtime_t vrt_runtime_new(void)
{
    vrt_runtime_t rt = {0};
    return rt;
}

/*@ requires self == \null || (sched_inv(self) && free_links(self) &&
                                 self->next_task_id >= 0 &&
                                 0 <= self->slab_count < 0x100000000);
    assigns errno, *self, { *vrt_w_n | vrt_task_node_t *vrt_w_n; \true },
            { *vrt_w_b | struct vrt_slab *vrt_w_b; \true };
    behavior bad_input:
      assumes self == \null || poll_fn == \null;
      assigns errno;
      ensures \result.task_id == -1 && \result.task_ptr == \null;
    behavior full:
      assumes self != \null && poll_fn != \null;
      assumes self->task_count >= effective_limit(self);
      assigns errno;
      ensures \result.task_id == -1 && \result.task_ptr == \null;
      ensures errno == EAGAIN;
    behavior spawned:
      assumes self != \null && poll_fn != \null;
      assumes self->task_count < effective_limit(self);
      ensures sched_inv(self);
      ensures \result.task_ptr != \null ==>
              self->task_count == \old(self->task_count) + 1 &&
              self->tail == \result.task_ptr &&
              in_queue(self, \result.task_ptr) &&
              \result.task_id == \old(self->next_task_id);
      ensures \result.task_ptr == \null ==> \result.task_id == -1 &&
              self->task_count == \old(self->task_count) &&
              self->head == \old(self->head) && self->tail == \old(self->tail);
    disjoint behaviors bad_input, full, spawned;
*/
vrt_join_handle_t vrt_runtime_spawn(vrt_runtime_t *self, int64_t future_ptr,
                                    vrt_poll_fn poll_fn)
{
    if (self == NULL || poll_fn == NULL) {
        errno = EINVAL;
        return invalid_handle;
    }
    if (self->task_count >= vrt_sched_limit(self)) {
#ifdef VRT_MUTANT_FULL_IS_ENOMEM /* test-only: one wrong errno (make oracle-mutants) */
        errno = ENOMEM;
#else
        errno = EAGAIN;
#endif
        return invalid_handle;
    }
    if (self->next_task_id == INT64_MAX) {
        errno = EOVERFLOW;
        return invalid_handle;
    }
    vrt_task_node_t *node = vrt_pool_take(self);
    if (node == NULL)
        return invalid_handle;
    /*@ assert self->next_task_id < INT64_MAX &&
               self->task_count < effective_limit(self); */
    /*@ assert counts_ok(self); */
    /*@ assert queue_links(self); */
    /*@ assert slab_node(node) && node->flags == 0; */
    /*@ assert \forall vrt_task_node_t *n; in_queue(self, n) ==> n != node; */
    /*@ assert \forall vrt_task_node_t *n; in_queue(self, n) ==>
            \separated(n, node); */
    /*@ assert \separated(node, self); */
    //@ ghost Taken: ;
    /* The runtime's counts are written after the link: a write to them
     * keeps the queue only for nodes known apart from the runtime. */
    node->id = self->next_task_id;
    node->future_ptr = future_ptr;
    node->poll_fn = poll_fn;
    node->status = VRT_TASK_PENDING;
    node->result = 0;
    node->owner = self;
    /*@ assert \forall vrt_task_node_t *n; in_queue{Taken}(self, n) ==>
            in_queue(self, n) && n->next == \at(n->next, Taken) &&
            n->prev == \at(n->prev, Taken); */
    /*@ assert !in_queue(self, node); */
    /*@ assert \forall vrt_task_node_t *n; slab_node(n) && n != node ==>
            \separated(n, node); */
    /*@ assert \forall vrt_task_node_t *n; slab_node(n) && n != node ==>
            n->flags == \at(n->flags, Taken) &&
            n->owner == \at(n->owner, Taken); */
    /*@ assert \forall vrt_task_node_t *n; in_queue(self, n) ==>
            in_queue{Taken}(self, n); */
    /*@ assert self->head == \at(self->head, Taken) &&
            self->tail == \at(self->tail, Taken); */
    /*@ assert (self->head == \null <==> self->tail == \null) &&
            (self->head != \null ==> in_queue(self, self->head) &&
                                    self->head->prev == \null) &&
            (self->tail != \null ==> in_queue(self, self->tail) &&
                                    self->tail->next == \null); */
    /*@ assert \forall vrt_task_node_t *n; in_queue(self, n) ==>
            \separated(n, self) &&
            (n->next == \null ==> self->tail == n) &&
            (n->prev == \null ==> self->head == n); */
    /*@ assert \forall vrt_task_node_t *n; in_queue(self, n) ==>
            n->next != \null ==>
            in_queue(self, n->next) && n->next->prev == n; */
    /*@ assert \forall vrt_task_node_t *n; in_queue(self, n) ==>
            n->prev != \null ==>
            in_queue(self, n->prev) && n->prev->next == n; */
    /*@ assert queue_links(self); */
    //@ ghost Linking: ;
    vrt_sched_link_tail(self, node);
    /*@ assert self->task_count == \at(self->task_count, Linking) &&
               self->parked_count == \at(self->parked_count, Linking) &&
               self->max_tasks == \at(self->max_tasks, Linking) &&
               self->next_task_id == \at(self->next_task_id, Linking); */
    self->next_task_id++;
    self->task_count++;
    vrt_join_handle_t handle = {node->id, node};
    return handle;
}

/*@ requires self == \null || sched_inv(self);
    assigns VRT_WORLD;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes self != \null && self->running != 0;
      ensures \result == -1 && errno == EBUSY;
    behavior run:
      assumes self != \null && self->running == 0;
      ensures \result == 0 && self->running == 0 && empty_queue(self);
      ensures sched_inv(self);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_runtime_run(vrt_runtime_t *self)
{
    if (vrt_sched_enter(self) != 0)
        return -1;
    /*@ loop invariant sched_inv(self) && self->running == 1;
        loop assigns VRT_WORLD;
    */
    while (self->head != NULL)
        vrt_sched_sweep(self);
    self->running = 0;
    return 0;
}

/*@ requires self == \null || sched_inv(self);
    assigns VRT_WORLD;
    behavior bad_input:
      assumes self == \null || poll_fn == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes self != \null && poll_fn != \null && self->running != 0;
      ensures \result == -1 && errno == EBUSY;
    behavior block:
      assumes self != \null && poll_fn != \null && self->running == 0;
      ensures self->running == 0 && sched_inv(self);
      ensures -0x80000000 <= \result < 0x80000000;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_runtime_block_on(vrt_runtime_t *self, int64_t future_ptr,
                             vrt_poll_fn poll_fn)
{
    if (poll_fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (vrt_sched_enter(self) != 0)
        return -1;
    /* The blocked-on future gets a node of its own on the stack, so that
     * current_task names it while it is polled; it takes no id and no slot. */
    vrt_task_node_t future = vrt_task_node_new(-1, future_ptr, poll_fn);
    future.owner = self;
    int64_t packed = vrt_sched_poll(self, &future);
    /*@ loop invariant sched_inv(self) && self->running == 1;
        loop invariant future.poll_fn == poll_fn && future.owner == self;
        loop invariant apart_from_queue(self, &future);
        loop assigns packed, VRT_WORLD;
    */
    while (!vrt_poll_is_ready(packed)) {
        vrt_sched_sweep(self);
        packed = vrt_sched_poll(self, &future);
    }
    self->running = 0;
    return vrt_poll_value(packed);
}

/*@ requires self == \null || \valid(self);
    assigns errno, self->max_tasks;
    behavior invalid:
      assumes self == \null || max_tasks < 1 ||
              max_tasks > VRT_MAX_TASKS_LIMIT || max_tasks < self->task_count;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior set:
      assumes self != \null && 1 <= max_tasks <= VRT_MAX_TASKS_LIMIT &&
              max_tasks >= self->task_count;
      assigns self->max_tasks;
      ensures \result == 0 && self->max_tasks == max_tasks;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_runtime_set_max_tasks(vrt_runtime_t *self, int64_t max_tasks)
{
    if (self == NULL || max_tasks < 1 || max_tasks > VRT_MAX_TASKS_LIMIT ||
        max_tasks < self->task_count) {
        errno = EINVAL;
        return -1;
    }
    self->max_tasks = max_tasks;
    return 0;
}

/*@ requires self == \null || \valid_read(self);
    assigns errno;
    behavior null:
      assumes self == \null;
      ensures \result == -1 && errno == EINVAL;
    behavior limit:
      assumes self != \null;
      assigns \nothing;
      ensures \result == effective_limit(self);
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_runtime_max_tasks(vrt_runtime_t *self)
{
    if (self == NULL) {
        errno = EINVAL;
        return -1;
    }
    return vrt_sched_limit(self);
}

/*@ requires self == \null || (\valid(self) &&
             (self->slab_count > 0 ==> self->allocator.release != \null));
    assigns errno, *self;
    behavior null:
      assumes self == \null;
      assigns errno;
      ensures \result == -1 && errno == EINVAL;
    behavior busy:
      assumes self != \null && self->running != 0;
      assigns errno;
      ensures \result == -1 && errno == EBUSY;
    behavior freed:
      assumes self != \null && self->running == 0;
      ensures \result == 0 && self->task_count == 0 && empty_queue(self);
      ensures self->free_list == \null && self->slabs == \null;
    complete behaviors;
    disjoint behaviors;
*/
int64_t vrt_runtime_free(vrt_runtime_t *self)
{
    if (vrt_sched_idle(self) != 0)
        return -1;
    vrt_pool_release_all(self);
    *self = vrt_runtime_new();
    return 0;
}
