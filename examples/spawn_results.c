/*
 * spawn_results: spawn a few cooperative tasks on a Runtime, run them to
 * completion and print each one's result, then do the same through the
 * global functions the Vais API exposes.
 *
 * Each task counts down: it returns Pending `steps` times (yielding to the
 * others) and then Ready with its value, so the output shows the tasks
 * interleaving in spawn order.
 */
#include <stdint.h>
#include <stdio.h>

#include "vrt.h"

struct countdown {
    const char *name;
    int steps;
    int32_t value;
};

static int64_t poll_countdown(int64_t future_ptr)
{
    struct countdown *c = (struct countdown *)(intptr_t)future_ptr;
    if (c->steps > 0) {
        printf("  %s: %d step(s) to go\n", c->name, c->steps);
        c->steps--;
        return vrt_poll_pending();
    }
    printf("  %s: ready with %d\n", c->name, (int)c->value);
    return vrt_poll_ready(c->value);
}

static int64_t as_future(struct countdown *c)
{
    return (int64_t)(intptr_t)c;
}

int main(void)
{
    struct countdown tasks[] = {
        {"alpha", 2, 42}, {"beta", 0, -7}, {"gamma", 3, 1000},
    };
    enum { N = sizeof tasks / sizeof tasks[0] };
    vrt_join_handle_t handles[N];

    vrt_runtime_t rt = vrt_runtime_new();
    puts("runtime: spawning 3 tasks");
    for (int i = 0; i < N; i++) {
        handles[i] = vrt_runtime_spawn(&rt, as_future(&tasks[i]), poll_countdown);
        if (handles[i].task_ptr == NULL) {
            perror("vrt_runtime_spawn");
            return 1;
        }
    }
    if (vrt_runtime_run(&rt) != 0) {
        perror("vrt_runtime_run");
        return 1;
    }
    for (int i = 0; i < N; i++) {
        printf("task %lld (%s): result %lld\n", (long long)handles[i].task_id,
               tasks[i].name, (long long)vrt_join_handle_result(&handles[i]));
        vrt_join_handle_release(&handles[i]);
    }
    vrt_runtime_free(&rt);

    puts("global runtime: block_on while a spawned task runs beside it");
    struct countdown side = {"side", 1, 7}, main_future = {"main", 2, 99};
    vrt_join_handle_t side_handle = vrt_spawn(as_future(&side), poll_countdown);
    int64_t value = vrt_block_on(as_future(&main_future), poll_countdown);
    printf("block_on returned %lld; side task status %lld, result %lld\n",
           (long long)value, (long long)vrt_join_handle_status(&side_handle),
           (long long)vrt_join_handle_result(&side_handle));
    vrt_shutdown();
    return 0;
}
