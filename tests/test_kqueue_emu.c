/*
 * The kqueue emulation (tests/kqueue_emu) against real pipes and socketpairs,
 * then src/backend_kqueue.c over it through src/backend.h.  Built as its own
 * binary: it links backend_kqueue.c, whose symbols are the epoll backend's.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "vrt.h"

/* ---- helpers ---- */

#define FAILS_WITH(expr, err)                                                \
    do {                                                                     \
        errno = 0;                                                           \
        int fails_rc_ = (expr);                                              \
        cr_assert_eq(fails_rc_, -1, "%s returned %d", #expr, fails_rc_);     \
        cr_assert_eq(errno, (err), "%s: errno %d (%s), expected %d", #expr,  \
                     errno, strerror(errno), (err));                         \
    } while (0)

static void *tag(uintptr_t n)
{
    return (void *)n;
}

/* One change, no events wanted: 0 or -1 with errno, like kevent. */
static int change(int kq, int fd, int filter, int flags, void *udata)
{
    struct kevent kev;
    EV_SET(&kev, (uintptr_t)fd, filter, flags, 0, 0, udata);
    return kevent(kq, &kev, 1, NULL, 0, NULL);
}

static int poll_ms(int kq, struct kevent *out, int max, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return kevent(kq, NULL, 0, out, max, &ts);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_pipe(int p[2])
{
    cr_assert_eq(pipe(p), 0);
}

static void make_socketpair(int s[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
}

static void put(int fd)
{
    cr_assert_eq(write(fd, "x", 1), 1);
}

static void drain(int fd)
{
    char buf[64];
    cr_assert_gt(read(fd, buf, sizeof buf), 0);
}

/* Moves fd onto number `to` (free, or replaced). */
static void move_fd(int fd, int to)
{
    if (fd == to)
        return;
    cr_assert_eq(dup2(fd, to), to);
    close(fd);
}

/* Sends SIGUSR1 to a thread every 20 ms until told to stop, so that a wait
 * that starts after the first signal is interrupted all the same. */
struct kicker {
    pthread_t target;
    pthread_t thread;
    atomic_bool stop;
};

static void on_signal(int sig)
{
    (void)sig;
}

static void *kick(void *arg)
{
    struct kicker *k = arg;
    while (!atomic_load(&k->stop)) {
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
        if (!atomic_load(&k->stop))
            pthread_kill(k->target, SIGUSR1);
    }
    return NULL;
}

static void kicker_start(struct kicker *k)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    k->target = pthread_self();
    atomic_init(&k->stop, false);
    cr_assert_eq(pthread_create(&k->thread, NULL, kick, k), 0);
}

static void kicker_stop(struct kicker *k)
{
    atomic_store(&k->stop, true);
    pthread_join(k->thread, NULL);
}

static int new_kq(void)
{
    int kq = kqueue();
    cr_assert_geq(kq, 0);
    return kq;
}

/* ---- the emulation ---- */

Test(kqueue_emu, read_on_pipe_with_data_gives_one_event_with_udata)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    put(p[1]);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, tag(42)), 0);
    struct kevent ev[4];
    cr_assert_eq(poll_ms(kq, ev, 4, 1000), 1);
    cr_assert_eq(ev[0].ident, (uintptr_t)p[0]);
    cr_assert_eq(ev[0].filter, EVFILT_READ);
    cr_assert_eq(ev[0].udata, tag(42));
    cr_assert_eq(ev[0].flags & (EV_EOF | EV_ERROR), 0);
    /* Level-triggered: still there until read. */
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    drain(p[0]);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, write_filter_on_empty_pipe_is_ready)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    cr_assert_eq(change(kq, p[1], EVFILT_WRITE, EV_ADD, tag(7)), 0);
    struct kevent ev[4];
    cr_assert_eq(poll_ms(kq, ev, 4, 1000), 1);
    cr_assert_eq(ev[0].filter, EVFILT_WRITE);
    cr_assert_eq(ev[0].udata, tag(7));
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, both_filters_on_a_socketpair_give_two_events)
{
    int kq = new_kq(), s[2];
    make_socketpair(s);
    put(s[1]);
    struct kevent ch[2];
    EV_SET(&ch[0], (uintptr_t)s[0], EVFILT_READ, EV_ADD, 0, 0, tag(1));
    EV_SET(&ch[1], (uintptr_t)s[0], EVFILT_WRITE, EV_ADD, 0, 0, tag(2));
    cr_assert_eq(kevent(kq, ch, 2, NULL, 0, NULL), 0);
    struct kevent ev[8];
    cr_assert_eq(poll_ms(kq, ev, 8, 1000), 2);
    int r = ev[0].filter == EVFILT_READ ? 0 : 1;
    cr_assert_eq(ev[r].filter, EVFILT_READ);
    cr_assert_eq(ev[r].udata, tag(1));
    cr_assert_eq(ev[1 - r].filter, EVFILT_WRITE);
    cr_assert_eq(ev[1 - r].udata, tag(2));
    /* With room for one, one comes; the other is still there next time. */
    cr_assert_eq(poll_ms(kq, ev, 1, 0), 1);
    cr_assert_eq(poll_ms(kq, ev, 8, 0), 2);
    close(s[0]);
    close(s[1]);
    close(kq);
}

Test(kqueue_emu, add_of_an_existing_knote_updates_its_udata)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    put(p[1]);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, tag(1)), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, tag(2)), 0);
    struct kevent ev[4];
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    cr_assert_eq(ev[0].udata, tag(2));
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, delete_silences_one_filter_only)
{
    int kq = new_kq(), s[2];
    make_socketpair(s);
    put(s[1]);
    cr_assert_eq(change(kq, s[0], EVFILT_READ, EV_ADD, tag(1)), 0);
    cr_assert_eq(change(kq, s[0], EVFILT_WRITE, EV_ADD, tag(2)), 0);
    cr_assert_eq(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL), 0);
    struct kevent ev[4];
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    cr_assert_eq(ev[0].filter, EVFILT_WRITE);
    cr_assert_eq(change(kq, s[0], EVFILT_WRITE, EV_DELETE, NULL), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    close(s[0]);
    close(s[1]);
    close(kq);
}

Test(kqueue_emu, delete_of_a_missing_knote_is_enoent)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    FAILS_WITH(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), ENOENT);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    FAILS_WITH(change(kq, p[0], EVFILT_WRITE, EV_DELETE, NULL), ENOENT);
    FAILS_WITH(change(kq, p[0], EVFILT_WRITE, EV_ENABLE, NULL), ENOENT);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0);
    FAILS_WITH(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), ENOENT);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, a_bad_fd_is_ebadf)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    int dead = p[0];
    close(p[0]);
    FAILS_WITH(change(kq, dead, EVFILT_READ, EV_ADD, NULL), EBADF);
    FAILS_WITH(change(kq, dead, EVFILT_READ, EV_DELETE, NULL), EBADF);
    FAILS_WITH(change(kq, -1, EVFILT_READ, EV_ADD, NULL), EBADF);
    /* And the queue itself. */
    struct kevent ev[1];
    FAILS_WITH(kevent(-1, NULL, 0, ev, 1, NULL), EBADF);
    FAILS_WITH(kevent(p[1], NULL, 0, ev, 1, NULL), EBADF);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, unsupported_filters_and_flags_are_einval)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    FAILS_WITH(change(kq, 1, EVFILT_TIMER, EV_ADD, NULL), EINVAL);
    FAILS_WITH(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, NULL), EINVAL);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, changelist_errors_become_entries_when_there_is_room)
{
    int kq = new_kq(), p[2], q[2];
    make_pipe(p);
    make_pipe(q);
    int dead = q[0];
    close(q[0]);
    put(p[1]);
    struct kevent ch[3], ev[4];
    EV_SET(&ch[0], (uintptr_t)p[1], EVFILT_READ, EV_DELETE, 0, 0, tag(1));
    EV_SET(&ch[1], (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, 0, tag(2));
    EV_SET(&ch[2], (uintptr_t)dead, EVFILT_READ, EV_ADD, 0, 0, tag(3));
    /* Errors come back at once, even with data ready and no timeout. */
    cr_assert_eq(kevent(kq, ch, 3, ev, 4, NULL), 2);
    cr_assert_eq(ev[0].flags, EV_ERROR);
    cr_assert_eq(ev[0].ident, (uintptr_t)p[1]);
    cr_assert_eq(ev[0].data, ENOENT);
    cr_assert_eq(ev[0].udata, tag(1));
    cr_assert_eq(ev[1].flags, EV_ERROR);
    cr_assert_eq(ev[1].ident, (uintptr_t)dead);
    cr_assert_eq(ev[1].data, EBADF);
    /* The good change in between went in. */
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    cr_assert_eq(ev[0].udata, tag(2));
    close(p[0]);
    close(p[1]);
    close(q[1]);
    close(kq);
}

Test(kqueue_emu, changelist_error_without_room_fails_and_stops_there)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    struct kevent ch[3];
    EV_SET(&ch[0], (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
    EV_SET(&ch[1], (uintptr_t)p[1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    EV_SET(&ch[2], (uintptr_t)p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    FAILS_WITH(kevent(kq, ch, 3, NULL, 0, NULL), ENOENT);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0);
    FAILS_WITH(change(kq, p[1], EVFILT_WRITE, EV_DELETE, NULL), ENOENT);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, eventlist_may_be_the_changelist)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    struct kevent arr[2];
    EV_SET(&arr[0], (uintptr_t)p[1], EVFILT_WRITE, EV_ADD, 0, 0, tag(5));
    EV_SET(&arr[1], (uintptr_t)p[0], EVFILT_READ, EV_DELETE, 0, 0, tag(6));
    cr_assert_eq(kevent(kq, arr, 2, arr, 2, NULL), 1);
    cr_assert_eq(arr[0].flags, EV_ERROR);
    cr_assert_eq(arr[0].data, ENOENT);
    cr_assert_eq(arr[0].udata, tag(6));
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, timeout_zero_does_not_block)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    struct kevent ev[4];
    int64_t t0 = mono_ms();
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    cr_assert_lt(mono_ms() - t0, 200);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, timed_wait_returns_zero_after_the_timeout)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    struct kevent ev[4];
    int64_t t0 = mono_ms();
    cr_assert_eq(poll_ms(kq, ev, 4, 50), 0);
    int64_t took = mono_ms() - t0;
    cr_assert_geq(took, 50);
    cr_assert_lt(took, 2000);
    FAILS_WITH(kevent(kq, NULL, 0, ev, 4, &(struct timespec){0, -1}),
               EINVAL);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, a_signal_ends_an_unbounded_wait_with_eintr)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    struct kevent ev[4];
    struct kicker k;
    kicker_start(&k);
    errno = 0;
    int rc = kevent(kq, NULL, 0, ev, 4, NULL);
    int err = errno;
    kicker_stop(&k);
    cr_assert_eq(rc, -1);
    cr_assert_eq(err, EINTR);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, hang_up_sets_ev_eof)
{
    signal(SIGPIPE, SIG_IGN);
    int kq = new_kq(), p[2], q[2], s[2];
    make_pipe(p);
    make_pipe(q);
    make_socketpair(s);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, tag(1)), 0);
    cr_assert_eq(change(kq, q[1], EVFILT_WRITE, EV_ADD, tag(2)), 0);
    cr_assert_eq(change(kq, s[0], EVFILT_READ, EV_ADD, tag(3)), 0);
    cr_assert_eq(change(kq, s[0], EVFILT_WRITE, EV_ADD, tag(4)), 0);
    struct kevent ev[8];
    /* Before: only the writable ends, no EOF. */
    int n = poll_ms(kq, ev, 8, 0);
    cr_assert_eq(n, 2);
    for (int i = 0; i < n; i++)
        cr_assert_eq(ev[i].flags & EV_EOF, 0);
    close(p[1]);
    close(q[0]);
    close(s[1]);
    n = poll_ms(kq, ev, 8, 1000);
    cr_assert_eq(n, 4);
    for (int i = 0; i < n; i++)
        cr_assert_neq(ev[i].flags & EV_EOF, 0, "udata %p without EV_EOF",
                      ev[i].udata);
    close(p[0]);
    close(q[1]);
    close(s[0]);
    close(kq);
}

Test(kqueue_emu, oneshot_enable_and_disable)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    put(p[1]);
    struct kevent ev[4];
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, tag(1)),
                 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    cr_assert_neq(ev[0].flags & EV_ONESHOT, 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    FAILS_WITH(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), ENOENT);

    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_DISABLE, tag(2)),
                 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ENABLE, NULL), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    cr_assert_eq(ev[0].udata, tag(2));
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_DISABLE, NULL), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    /* A disabled knote still exists. */
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0);
    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_emu, a_closed_and_reused_fd_number_starts_afresh)
{
    int kq = new_kq(), a[2], b[2];
    make_pipe(a);
    put(a[1]);
    int num = a[0];
    cr_assert_eq(change(kq, num, EVFILT_READ, EV_ADD, tag(1)), 0);
    close(a[0]); /* the last reference: epoll drops it too */
    struct kevent ev[4];
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    FAILS_WITH(change(kq, num, EVFILT_READ, EV_DELETE, NULL), EBADF);

    make_pipe(b);
    move_fd(b[0], num);
    /* The close took the knote: nothing to delete on the new file. */
    FAILS_WITH(change(kq, num, EVFILT_READ, EV_DELETE, NULL), ENOENT);
    cr_assert_eq(change(kq, num, EVFILT_READ, EV_ADD, tag(2)), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    put(b[1]);
    cr_assert_eq(poll_ms(kq, ev, 4, 1000), 1);
    cr_assert_eq(ev[0].udata, tag(2));
    close(num);
    close(a[1]);
    close(b[1]);
    close(kq);
}

Test(kqueue_emu, a_closed_fd_whose_file_lives_on_reports_nothing)
{
    /* epoll keeps the registration of a file still open elsewhere; kqueue
     * drops the knote with the fd.  The emulation must look like kqueue. */
    int kq = new_kq(), a[2], b[2];
    cr_assert_eq(fcntl(kq, F_SETFD, FD_CLOEXEC), 0);
    make_pipe(a);
    put(a[1]);
    int num = a[0];
    cr_assert_eq(change(kq, num, EVFILT_READ, EV_ADD, tag(1)), 0);
    int keep = dup(a[0]); /* the file stays open, readable */
    cr_assert_geq(keep, 0);
    close(a[0]);
    struct kevent ev[4];
    /* A wait, not a spin: the registration that still fires goes. */
    int64_t cpu0 = cpu_ms();
    cr_assert_eq(poll_ms(kq, ev, 4, 100), 0);
    cr_assert_lt(cpu_ms() - cpu0, 50);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);

    make_pipe(b);
    move_fd(b[0], num);
    cr_assert_eq(change(kq, num, EVFILT_READ, EV_ADD, tag(2)), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    put(b[1]);
    cr_assert_eq(poll_ms(kq, ev, 4, 1000), 1);
    cr_assert_eq(ev[0].udata, tag(2));
    drain(num);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    /* The queue kept its number and its close-on-exec flag throughout. */
    cr_assert_neq(fcntl(kq, F_GETFD) & FD_CLOEXEC, 0);
    close(keep);
    close(num);
    close(a[1]);
    close(b[1]);
    close(kq);
}

Test(kqueue_emu, a_queue_number_reused_by_kqueue_starts_empty)
{
    int kq = new_kq(), p[2];
    make_pipe(p);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    close(kq);
    int kq2 = new_kq();
    cr_assert_eq(kq2, kq, "the lowest free number comes back");
    FAILS_WITH(change(kq2, p[0], EVFILT_READ, EV_DELETE, NULL), ENOENT);
    close(kq2);
    kqueue_emu_forget(kq2);
    struct kevent ev[1];
    FAILS_WITH(kevent(kq2, NULL, 0, ev, 1, NULL), EBADF);
    close(p[0]);
    close(p[1]);
}

/* ---- src/backend_kqueue.c over the emulation ---- */

#define TOKEN_A UINT64_C(0xfeedface00000007)
#define TOKEN_B UINT64_C(0x8000000100000002)

/* The readiness bits the events give token, asserting no other token. */
static uint32_t ready_of(const vrt_io_event_t *ev, int n, uint64_t token)
{
    uint32_t ready = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(ev[i].token, token, "token %#llx, expected %#llx",
                     (unsigned long long)ev[i].token,
                     (unsigned long long)token);
        ready |= ev[i].ready;
    }
    return ready;
}

static int backend_open(void)
{
    int kq = vrt_backend_open();
    cr_assert_geq(kq, 0);
    return kq;
}

Test(kqueue_backend, open_is_close_on_exec_and_close_closes)
{
    cr_assert_str_eq(vrt_backend_name(), "kqueue");
    int kq = backend_open();
    cr_assert_neq(fcntl(kq, F_GETFD) & FD_CLOEXEC, 0);
    vrt_backend_close(kq);
    FAILS_WITH(fcntl(kq, F_GETFD), EBADF);
}

Test(kqueue_backend, read_readiness_carries_the_full_token)
{
    int kq = backend_open(), p[2];
    make_pipe(p);
    put(p[1]);
    cr_assert_eq(vrt_backend_watch(kq, p[0], 0, VRT_IO_READ, TOKEN_A), 0);
    vrt_io_event_t ev[8];
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 1000), 1);
    cr_assert_eq(ev[0].token, TOKEN_A);
    cr_assert_eq(ev[0].ready, VRT_IO_READ);
    close(p[0]);
    close(p[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, add_change_and_remove_directions)
{
    int kq = backend_open(), s[2];
    make_socketpair(s);
    put(s[1]); /* s[0] readable and writable from here on */
    vrt_io_event_t ev[8];
    int n;

    cr_assert_eq(
        vrt_backend_watch(kq, s[0], 0, VRT_IO_READ | VRT_IO_WRITE, TOKEN_A),
        0);
    n = vrt_backend_wait(kq, ev, 8, 1000);
    cr_assert_eq(n, 2, "one event per direction");
    cr_assert_eq(ready_of(ev, n, TOKEN_A), VRT_IO_READ | VRT_IO_WRITE);

    cr_assert_eq(vrt_backend_watch(kq, s[0], VRT_IO_READ | VRT_IO_WRITE,
                                   VRT_IO_WRITE, TOKEN_A),
                 0);
    n = vrt_backend_wait(kq, ev, 8, 0);
    cr_assert_eq(ready_of(ev, n, TOKEN_A), VRT_IO_WRITE);

    cr_assert_eq(
        vrt_backend_watch(kq, s[0], VRT_IO_WRITE, VRT_IO_READ, TOKEN_A), 0);
    n = vrt_backend_wait(kq, ev, 8, 0);
    cr_assert_eq(ready_of(ev, n, TOKEN_A), VRT_IO_READ);

    cr_assert_eq(vrt_backend_watch(kq, s[0], VRT_IO_READ, 0, TOKEN_A), 0);
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 0), 0);
    /* Nothing left in the kernel. */
    FAILS_WITH(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL), ENOENT);
    FAILS_WITH(change(kq, s[0], EVFILT_WRITE, EV_DELETE, NULL), ENOENT);

    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, 0, TOKEN_A), 0);
    close(s[0]);
    close(s[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, a_kept_direction_takes_the_new_token)
{
    int kq = backend_open(), s[2];
    make_socketpair(s);
    put(s[1]);
    vrt_io_event_t ev[8];
    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ, TOKEN_A), 0);
    cr_assert_eq(vrt_backend_watch(kq, s[0], VRT_IO_READ,
                                   VRT_IO_READ | VRT_IO_WRITE, TOKEN_B),
                 0);
    int n = vrt_backend_wait(kq, ev, 8, 0);
    cr_assert_eq(ready_of(ev, n, TOKEN_B), VRT_IO_READ | VRT_IO_WRITE);
    close(s[0]);
    close(s[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, removing_a_closed_or_missing_fd_succeeds)
{
    int kq = backend_open(), p[2], s[2];
    make_pipe(p);
    make_socketpair(s);
    cr_assert_eq(vrt_backend_watch(kq, p[0], 0, VRT_IO_READ, TOKEN_A), 0);
    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ | VRT_IO_WRITE,
                                   TOKEN_B),
                 0);
    int pnum = p[0], snum = s[0];
    close(p[0]);
    close(s[0]);
    cr_assert_eq(vrt_backend_watch(kq, pnum, VRT_IO_READ, 0, TOKEN_A), 0);
    cr_assert_eq(vrt_backend_watch(kq, snum, VRT_IO_READ | VRT_IO_WRITE, 0,
                                   TOKEN_B),
                 0);
    /* Open but never watched: the kernel says ENOENT, which is fine. */
    cr_assert_eq(vrt_backend_watch(kq, p[1], VRT_IO_WRITE, 0, TOKEN_A), 0);
    /* Swapping directions on a closed fd is an add, and fails. */
    FAILS_WITH(
        vrt_backend_watch(kq, pnum, VRT_IO_READ, VRT_IO_WRITE, TOKEN_A),
        EBADF);
    FAILS_WITH(vrt_backend_watch(kq, pnum, 0, VRT_IO_READ, TOKEN_A), EBADF);
    close(p[1]);
    close(s[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, an_add_on_a_reused_number_replaces_the_old_interest)
{
    int kq = backend_open(), a[2], b[2];
    make_pipe(a);
    put(a[1]);
    int num = a[0];
    cr_assert_eq(vrt_backend_watch(kq, num, 0, VRT_IO_READ, TOKEN_A), 0);
    int keep = dup(a[0]);
    close(a[0]);
    make_pipe(b);
    move_fd(b[0], num);
    /* The caller cannot know: it says old_mask 0. */
    cr_assert_eq(vrt_backend_watch(kq, num, 0, VRT_IO_READ, TOKEN_B), 0);
    vrt_io_event_t ev[8];
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 0), 0);
    put(b[1]);
    int n = vrt_backend_wait(kq, ev, 8, 1000);
    cr_assert_eq(n, 1);
    cr_assert_eq(ready_of(ev, n, TOKEN_B), VRT_IO_READ);
    close(keep);
    close(num);
    close(a[1]);
    close(b[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, a_failed_add_leaves_the_kernel_unchanged)
{
    int kq = backend_open(), s[2];
    make_socketpair(s);
    put(s[1]);
    vrt_io_event_t ev[8];

    /* The second add fails after the first went in. */
    kqueue_emu_fail_next(EVFILT_WRITE, EV_ADD, ENOMEM);
    FAILS_WITH(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ | VRT_IO_WRITE,
                                 TOKEN_A),
               ENOMEM);
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 0), 0);
    FAILS_WITH(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL), ENOENT);

    /* The first add fails. */
    kqueue_emu_fail_next(EVFILT_READ, EV_ADD, ENOMEM);
    FAILS_WITH(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ | VRT_IO_WRITE,
                                 TOKEN_A),
               ENOMEM);
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 0), 0);

    /* Adding a direction to a kept one: the kept one stays. */
    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ, TOKEN_A), 0);
    kqueue_emu_fail_next(EVFILT_WRITE, EV_ADD, ENOMEM);
    FAILS_WITH(vrt_backend_watch(kq, s[0], VRT_IO_READ,
                                 VRT_IO_READ | VRT_IO_WRITE, TOKEN_A),
               ENOMEM);
    int n = vrt_backend_wait(kq, ev, 8, 0);
    cr_assert_eq(ready_of(ev, n, TOKEN_A), VRT_IO_READ);
    close(s[0]);
    close(s[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, a_failed_delete_leaves_the_kernel_unchanged)
{
    int kq = backend_open(), s[2];
    make_socketpair(s);
    put(s[1]);
    vrt_io_event_t ev[8];
    int n;

    /* A swap whose delete fails: the new direction is taken back. */
    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ, TOKEN_A), 0);
    kqueue_emu_fail_next(EVFILT_READ, EV_DELETE, EIO);
    FAILS_WITH(
        vrt_backend_watch(kq, s[0], VRT_IO_READ, VRT_IO_WRITE, TOKEN_A), EIO);
    n = vrt_backend_wait(kq, ev, 8, 0);
    cr_assert_eq(ready_of(ev, n, TOKEN_A), VRT_IO_READ);

    /* Removing both, the second delete fails: the first is put back. */
    cr_assert_eq(vrt_backend_watch(kq, s[0], VRT_IO_READ,
                                   VRT_IO_READ | VRT_IO_WRITE, TOKEN_A),
                 0);
    kqueue_emu_fail_next(EVFILT_WRITE, EV_DELETE, EIO);
    FAILS_WITH(vrt_backend_watch(kq, s[0], VRT_IO_READ | VRT_IO_WRITE, 0,
                                 TOKEN_A),
               EIO);
    n = vrt_backend_wait(kq, ev, 8, 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(ready_of(ev, n, TOKEN_A), VRT_IO_READ | VRT_IO_WRITE);

    /* ENOENT and EBADF from a delete are success, and the other
     * direction's delete still happens. */
    kqueue_emu_fail_next(EVFILT_READ, EV_DELETE, ENOENT);
    cr_assert_eq(vrt_backend_watch(kq, s[0], VRT_IO_READ | VRT_IO_WRITE, 0,
                                   TOKEN_A),
                 0);
    FAILS_WITH(change(kq, s[0], EVFILT_WRITE, EV_DELETE, NULL), ENOENT);
    cr_assert_eq(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL), 0);

    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ, TOKEN_A), 0);
    kqueue_emu_fail_next(EVFILT_READ, EV_DELETE, EBADF);
    cr_assert_eq(vrt_backend_watch(kq, s[0], VRT_IO_READ, 0, TOKEN_A), 0);
    cr_assert_eq(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL), 0);

    /* In a swap, the delete's ENOENT (the knote was gone) is success. */
    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ, TOKEN_A), 0);
    kqueue_emu_fail_next(EVFILT_READ, EV_DELETE, ENOENT);
    cr_assert_eq(
        vrt_backend_watch(kq, s[0], VRT_IO_READ, VRT_IO_WRITE, TOKEN_B), 0);
    cr_assert_eq(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL), 0);
    n = vrt_backend_wait(kq, ev, 8, 0);
    cr_assert_eq(ready_of(ev, n, TOKEN_B), VRT_IO_WRITE);
    close(s[0]);
    close(s[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, wait_times_out)
{
    int kq = backend_open(), p[2];
    make_pipe(p);
    cr_assert_eq(vrt_backend_watch(kq, p[0], 0, VRT_IO_READ, TOKEN_A), 0);
    vrt_io_event_t ev[8];
    int64_t t0 = mono_ms();
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 0), 0);
    cr_assert_lt(mono_ms() - t0, 200);
    t0 = mono_ms();
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 50), 0);
    int64_t took = mono_ms() - t0;
    cr_assert_geq(took, 50);
    cr_assert_lt(took, 2000);
    t0 = mono_ms();
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 1050), 0);
    cr_assert_geq(mono_ms() - t0, 1050);
    close(p[0]);
    close(p[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, wait_stores_at_most_max_events)
{
    int kq = backend_open(), p[3][2];
    for (int i = 0; i < 3; i++) {
        make_pipe(p[i]);
        put(p[i][1]);
        cr_assert_eq(
            vrt_backend_watch(kq, p[i][0], 0, VRT_IO_READ, (uint64_t)i), 0);
    }
    vrt_io_event_t ev[8];
    cr_assert_eq(vrt_backend_wait(kq, ev, 2, 0), 2);
    cr_assert_eq(vrt_backend_wait(kq, ev, 8, 0), 3);
    for (int i = 0; i < 3; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
    vrt_backend_close(kq);
}

Test(kqueue_backend, a_signal_ends_the_wait_with_eintr)
{
    int kq = backend_open(), p[2];
    make_pipe(p);
    cr_assert_eq(vrt_backend_watch(kq, p[0], 0, VRT_IO_READ, TOKEN_A), 0);
    vrt_io_event_t ev[8];
    struct kicker k;
    kicker_start(&k);
    errno = 0;
    int rc = vrt_backend_wait(kq, ev, 8, -1);
    int err = errno;
    kicker_stop(&k);
    cr_assert_eq(rc, -1);
    cr_assert_eq(err, EINTR);
    close(p[0]);
    close(p[1]);
    vrt_backend_close(kq);
}

Test(kqueue_backend, hang_up_is_readiness_of_every_watched_direction)
{
    int kq = backend_open(), s[2];
    make_socketpair(s);
    cr_assert_eq(vrt_backend_watch(kq, s[0], 0, VRT_IO_READ | VRT_IO_WRITE,
                                   TOKEN_A),
                 0);
    close(s[1]);
    vrt_io_event_t ev[8];
    int n = vrt_backend_wait(kq, ev, 8, 1000);
    cr_assert_eq(ready_of(ev, n, TOKEN_A), VRT_IO_READ | VRT_IO_WRITE);
    close(s[0]);
    vrt_backend_close(kq);
}

/* ---- vrt.h's event constants are kqueue's own ---- */

/* rows: EVFILT_READ, EVFILT_WRITE, EVFILT_TIMER, EV_ADD, EV_DELETE,
 *       EV_ONESHOT */
Test(kqueue_emu, vrt_event_constants_are_the_kqueue_values)
{
    cr_assert_eq(VRT_EVFILT_READ, EVFILT_READ);
    cr_assert_eq(VRT_EVFILT_WRITE, EVFILT_WRITE);
    cr_assert_eq(VRT_EVFILT_TIMER, EVFILT_TIMER);
    cr_assert_eq(VRT_EV_ADD, EV_ADD);
    cr_assert_eq(VRT_EV_DELETE, EV_DELETE);
    cr_assert_eq(VRT_EV_ONESHOT, EV_ONESHOT);
    /* ... and they work as such in kevent calls. */
    int kq = new_kq(), p[2];
    make_pipe(p);
    put(p[1]);
    struct kevent ev[4];
    cr_assert_eq(change(kq, p[0], (int)VRT_EVFILT_READ,
                        (int)(VRT_EV_ADD | VRT_EV_ONESHOT), tag(3)), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    cr_assert_eq(ev[0].filter, VRT_EVFILT_READ);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0, "one-shot: reported once");
    cr_assert_eq(change(kq, p[1], (int)VRT_EVFILT_WRITE, (int)VRT_EV_ADD, tag(4)), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 1);
    cr_assert_eq(ev[0].filter, VRT_EVFILT_WRITE);
    cr_assert_eq(change(kq, p[1], (int)VRT_EVFILT_WRITE, (int)VRT_EV_DELETE, NULL), 0);
    cr_assert_eq(poll_ms(kq, ev, 4, 0), 0);
    FAILS_WITH(change(kq, p[1], (int)VRT_EVFILT_WRITE, (int)VRT_EV_DELETE, NULL), ENOENT);
    /* vrt keeps timers in its own heap; the emulation refuses the filter. */
    FAILS_WITH(change(kq, 1, (int)VRT_EVFILT_TIMER, (int)VRT_EV_ADD, NULL), EINVAL);
    close(p[0]);
    close(p[1]);
    close(kq);
}

/* rows: event_loop_backend */
Test(kqueue_backend, the_library_reports_the_kqueue_backend)
{
    cr_assert_str_eq(vrt_event_loop_backend(), "kqueue");
    cr_assert_str_eq(vrt_event_loop_backend(), vrt_backend_name());
    vrt_event_loop_t l = vrt_event_loop_new();
    cr_assert_geq(l.kq, 0, "kqueue loop: new failed, errno %d", errno);
    cr_assert_eq(vrt_event_loop_cleanup(&l), 0);
}
