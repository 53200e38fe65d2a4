/*
 * wake() from other threads while the loop polls, built with
 * ThreadSanitizer (make tsan-test): no data race, and no wake is lost.
 * A plain program, not a Criterion suite: Criterion's runner itself crashes
 * under TSan.
 *
 * Four threads each wake the loop ROUNDS times.  After each wake a thread
 * waits until the loop has come back from one more poll_events(-1) than it
 * had when the thread woke it: so every wake must be seen, and a lost one
 * would leave the loop blocked forever (an alarm fails the test).
 */
#include <pthread.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vrt.h"

#define EXPECT(cond, ...)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "test_threads: %s:%d: %s: ", __FILE__, __LINE__, \
                    #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define THREADS 4
#define ROUNDS 500

struct wake_shared {
    vrt_event_loop_t loop;
    atomic_long polls_done;   /* poll_events(-1) calls that have returned */
    atomic_int threads_done;
    atomic_long wakes;
};

static void *waker_thread(void *arg)
{
    struct wake_shared *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        long seen = atomic_load(&w->polls_done);
        if (vrt_event_loop_wake(&w->loop) != 0)
            return (void *)1;
        atomic_fetch_add(&w->wakes, 1);
        while (atomic_load(&w->polls_done) <= seen)
            sched_yield();
    }
    atomic_fetch_add(&w->threads_done, 1);
    /* The loop may be blocked again by now: one last wake lets it see
     * that this thread is done. */
    return vrt_event_loop_wake(&w->loop) == 0 ? NULL : (void *)1;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_threads: a wake was lost: the loop is still blocked after 60 s\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

int main(void)
{
    static struct wake_shared w;
    signal(SIGALRM, on_alarm);
    alarm(60);
    w.loop = vrt_event_loop_new();
    EXPECT(w.loop.kq >= 0, "loop: errno %d", errno);
    atomic_init(&w.polls_done, 0);
    atomic_init(&w.threads_done, 0);
    atomic_init(&w.wakes, 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        EXPECT(pthread_create(&t[i], NULL, waker_thread, &w) == 0, "thread %d", i);

    long polls = 0;
    while (atomic_load(&w.threads_done) < THREADS) {
        int64_t n = vrt_event_loop_poll_events(&w.loop, -1);
        EXPECT(n == 1, "poll_events(-1) returned %lld", (long long)n);
        EXPECT(vrt_event_loop_event_fd(&w.loop, 0) == VRT_WAKER_TOKEN, "not the waker");
        EXPECT(vrt_event_loop_event_filter(&w.loop, 0) == VRT_EVFILT_READ, "filter");
        polls++;
        atomic_fetch_add(&w.polls_done, 1);
    }
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        EXPECT(pthread_join(t[i], &rc) == 0, "join %d", i);
        EXPECT(rc == NULL, "a wake of thread %d failed", i);
    }
    long wakes = atomic_load(&w.wakes);
    EXPECT(wakes == THREADS * ROUNDS, "%ld wakes", wakes);
    /* Coalesced: at most one poll per wake (plus the final wakes), and at
     * least ROUNDS, since each thread needed ROUNDS distinct polls. */
    EXPECT(polls >= ROUNDS, "%ld polls", polls);
    EXPECT(polls <= wakes + THREADS, "%ld polls for %ld wakes", polls, wakes);
    EXPECT(vrt_event_loop_cleanup(&w.loop) == 0, "cleanup");
    printf("tsan: %ld wakes from %d threads seen in %ld polls, no race, none lost\n",
           wakes, THREADS, polls);
    return 0;
}
