/*
 * kqueue(2)/kevent(2) over epoll: see sys/event.h for what is emulated.
 *
 * A queue is an epoll fd.  Its knotes live here, per fd number: one record
 * holds the read and the write knote and stands for one epoll registration
 * with the union of their interest.  The registration's data is the record's
 * generation and the fd, so that an event from a registration the record no
 * longer stands for is recognised.
 *
 * Closed fds.  kqueue drops an fd's knotes when the fd is closed; epoll drops
 * a registration only when the open file itself goes, which a dup, a child
 * process or an SCM_RIGHTS message in flight can delay indefinitely, and the
 * registration then keeps firing, with data that no fd number names any more
 * (EPOLL_CTL_DEL cannot reach it).  So a record remembers which open file its
 * knotes belong to (device, inode, access mode: the two ends of a pipe share
 * an inode), and before reporting an event or changing a knote the emulation
 * checks that the fd still names that file.  If not, the fd was closed: the
 * record is dropped silently, as kqueue would have, and an EV_ADD on the
 * reused number starts afresh (EV_DELETE there gets ENOENT; on a closed
 * number, EBADF).  A registration that fired for a dropped record is removed
 * by rebuilding the epoll instance under the same fd number.  Blind spot: an
 * fd closed and then made to name the same open file again (dup2 of a copy)
 * keeps its knotes, where kqueue would have dropped them.
 */
#define _GNU_SOURCE /* dup3, EPOLLRDHUP */

#include <sys/event.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { KN_READ, KN_WRITE, KN_COUNT };

struct knote {
    bool active;
    bool enabled;
    bool oneshot;
    void *udata;
};

struct file_id {
    dev_t dev;
    ino_t ino;
    int accmode;
};

struct fd_rec {
    bool used;       /* some knote is active */
    bool registered; /* epoll has it */
    uint32_t gen;
    struct file_id file;
    struct knote kn[KN_COUNT];
};

struct emu_kq {
    struct fd_rec *recs; /* indexed by fd */
    int nrecs;
    uint32_t next_gen;
};

/* One lock for the tables; it is not held across epoll_wait. */
static pthread_mutex_t emu_lock = PTHREAD_MUTEX_INITIALIZER;
static struct emu_kq **emu_kqs; /* indexed by queue fd */
static int emu_nkqs;
static bool emu_atexit_done;
static int fail_filter, fail_flags, fail_err;

static void kq_free(struct emu_kq *k)
{
    if (k != NULL)
        free(k->recs);
    free(k);
}

static void emu_cleanup(void)
{
    pthread_mutex_lock(&emu_lock);
    for (int i = 0; i < emu_nkqs; i++)
        kq_free(emu_kqs[i]);
    free(emu_kqs);
    emu_kqs = NULL;
    emu_nkqs = 0;
    pthread_mutex_unlock(&emu_lock);
}

/* Returns arr with room for at least need elements (*len updated, the new
 * ones zeroed), or NULL (arr untouched). */
static void *grow(void *arr, int *len, int need, size_t size)
{
    if (need <= *len)
        return arr;
    int n = *len > 0 ? *len : 8;
    while (n < need)
        n = n <= INT_MAX / 2 ? n * 2 : INT_MAX;
    char *p = realloc(arr, (size_t)n * size);
    if (p == NULL)
        return NULL;
    memset(p + (size_t)*len * size, 0, (size_t)(n - *len) * size);
    *len = n;
    return p;
}

static struct emu_kq *kq_lookup(int kq)
{
    return kq >= 0 && kq < emu_nkqs ? emu_kqs[kq] : NULL;
}

void kqueue_emu_forget(int kq)
{
    pthread_mutex_lock(&emu_lock);
    if (kq_lookup(kq) != NULL) {
        kq_free(emu_kqs[kq]);
        emu_kqs[kq] = NULL;
    }
    pthread_mutex_unlock(&emu_lock);
}

void kqueue_emu_fail_next(int filter, int flags, int err)
{
    pthread_mutex_lock(&emu_lock);
    fail_filter = filter;
    fail_flags = flags;
    fail_err = err;
    pthread_mutex_unlock(&emu_lock);
}

int kqueue(void)
{
    /* Not close-on-exec: kqueue() has no such flag either. */
    int ep = epoll_create1(0);
    if (ep == -1)
        return -1;
    struct emu_kq *k = calloc(1, sizeof *k);
    pthread_mutex_lock(&emu_lock);
    struct emu_kq **kqs =
        k == NULL ? NULL : grow(emu_kqs, &emu_nkqs, ep + 1, sizeof *emu_kqs);
    if (kqs == NULL) {
        pthread_mutex_unlock(&emu_lock);
        free(k);
        close(ep);
        errno = ENOMEM;
        return -1;
    }
    emu_kqs = kqs;
    /* A queue closed behind our back left its state under this number. */
    kq_free(emu_kqs[ep]);
    emu_kqs[ep] = k;
    if (!emu_atexit_done)
        emu_atexit_done = atexit(emu_cleanup) == 0;
    pthread_mutex_unlock(&emu_lock);
    return ep;
}

/* ---- records ---- */

static int file_id_of(int fd, struct file_id *id)
{
    struct stat st;
    int fl;
    if (fstat(fd, &st) == -1 || (fl = fcntl(fd, F_GETFL)) == -1)
        return -1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->accmode = fl & O_ACCMODE;
    return 0;
}

static bool same_file(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->accmode == b->accmode;
}

/* Whether fd still names the open file rec's knotes were made for. */
static bool rec_alive(const struct fd_rec *rec, int fd)
{
    struct file_id now;
    return file_id_of(fd, &now) == 0 && same_file(&now, &rec->file);
}

/* Forgets rec without telling epoll: its fd no longer names its file, so
 * EPOLL_CTL_DEL on the number could not reach the registration anyway. */
static void rec_drop(struct fd_rec *rec)
{
    memset(rec, 0, sizeof *rec);
}

/* Brings epoll's registration of fd in line with rec's enabled knotes.
 * A record with none is not registered at all: epoll reports a hang-up even
 * for an empty interest mask, and nobody would be there to take it. */
static int rec_sync(int ep, int fd, struct fd_rec *rec)
{
    uint32_t want = 0;
    if (rec->kn[KN_READ].active && rec->kn[KN_READ].enabled)
        want |= EPOLLIN | EPOLLRDHUP;
    if (rec->kn[KN_WRITE].active && rec->kn[KN_WRITE].enabled)
        want |= EPOLLOUT;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = want;
    ev.data.u64 = (uint64_t)rec->gen << 32 | (uint32_t)fd;
    if (want == 0) {
        if (rec->registered && epoll_ctl(ep, EPOLL_CTL_DEL, fd, &ev) == -1 &&
            errno != ENOENT && errno != EBADF)
            return -1;
        rec->registered = false;
        return 0;
    }
    int op = rec->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(ep, op, fd, &ev);
    /* EEXIST: the number was closed and made to name the same file again,
     * whose registration epoll kept.  ENOENT: epoll dropped it meanwhile. */
    if (rc == -1 && op == EPOLL_CTL_ADD && errno == EEXIST)
        rc = epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    else if (rc == -1 && op == EPOLL_CTL_MOD && errno == ENOENT)
        rc = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (rc == -1)
        return -1;
    rec->registered = true;
    return 0;
}

static void rec_settle(struct fd_rec *rec)
{
    if (!rec->kn[KN_READ].active && !rec->kn[KN_WRITE].active)
        rec_drop(rec);
}

/* Applies one change; returns 0 or the errno kqueue would give. */
static int apply(int ep, struct emu_kq *k, const struct kevent *ch)
{
    int f = ch->filter == EVFILT_READ    ? KN_READ
            : ch->filter == EVFILT_WRITE ? KN_WRITE
                                         : -1;
    if (f < 0 || (ch->flags & EV_CLEAR) != 0)
        return EINVAL;
    if (fail_err != 0 && ch->filter == fail_filter &&
        (ch->flags & fail_flags) == fail_flags) {
        int err = fail_err;
        fail_err = 0;
        return err;
    }
    struct file_id id;
    if (ch->ident > (uintptr_t)INT_MAX || file_id_of((int)ch->ident, &id) != 0)
        return EBADF;
    int fd = (int)ch->ident;
    struct fd_rec *recs = grow(k->recs, &k->nrecs, fd + 1, sizeof *k->recs);
    if (recs == NULL)
        return ENOMEM;
    k->recs = recs;
    struct fd_rec *rec = &k->recs[fd];
    if (rec->used && !same_file(&rec->file, &id))
        rec_drop(rec); /* closed and reused: the close took the knotes */
    struct knote *kn = &rec->kn[f];
    if ((ch->flags & EV_ADD) == 0 && !kn->active)
        return ENOENT; /* EV_DELETE, EV_ENABLE, EV_DISABLE of nothing */
    struct fd_rec saved = *rec;
    if ((ch->flags & EV_DELETE) != 0) {
        kn->active = false;
    } else {
        if ((ch->flags & EV_ADD) != 0) {
            if (!rec->used) {
                rec->used = true;
                rec->gen = ++k->next_gen;
                rec->file = id;
            }
            kn->active = true;
            kn->enabled = true;
            kn->oneshot = (ch->flags & EV_ONESHOT) != 0;
            kn->udata = ch->udata;
        }
        if ((ch->flags & EV_DISABLE) != 0)
            kn->enabled = false;
        else if ((ch->flags & EV_ENABLE) != 0)
            kn->enabled = true;
    }
    if (rec_sync(ep, fd, rec) != 0) {
        int err = errno;
        *rec = saved;
        return err;
    }
    rec_settle(rec);
    return 0;
}

/*
 * Replaces the epoll instance behind queue fd ep by a new one holding the
 * live records only: the one way to be rid of a registration whose fd no
 * longer names its file.  On failure the old instance stays, registrations
 * and all, which is still correct, only busier.
 */
static void rebuild(int ep, struct emu_kq *k)
{
    int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh == -1)
        return;
    for (int fd = 0; fd < k->nrecs; fd++) {
        struct fd_rec *rec = &k->recs[fd];
        if (!rec->used)
            continue;
        /* registered comes out as it was: both instances hold exactly the
         * records with an enabled knote. */
        rec->registered = false;
        if (!rec_alive(rec, fd) || rec_sync(fresh, fd, rec) != 0)
            rec_drop(rec);
    }
    int fdflags = fcntl(ep, F_GETFD);
    (void)dup3(fresh, ep, fdflags > 0 && (fdflags & FD_CLOEXEC) != 0
                              ? O_CLOEXEC
                              : 0);
    close(fresh);
}

/* Turns one epoll event into kevents in out[0 .. room - 1]; returns how
 * many.  Sets *stale when the event came from a registration no live
 * record stands for. */
static int report(int ep, struct emu_kq *k, const struct epoll_event *ev,
                  struct kevent *out, int room, bool *stale)
{
    int fd = (int)(uint32_t)ev->data.u64;
    uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
    struct fd_rec *rec = fd < k->nrecs ? &k->recs[fd] : NULL;
    if (rec == NULL || !rec->used || rec->gen != gen) {
        *stale = true;
        return 0;
    }
    if (!rec_alive(rec, fd)) {
        rec_drop(rec);
        *stale = true;
        return 0;
    }
    uint32_t got = ev->events;
    /* A pipe's write end gets EPOLLERR when the last reader goes: kqueue's
     * EV_EOF on the write filter. */
    const uint32_t ready_if[KN_COUNT] = {
        EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR,
        EPOLLOUT | EPOLLHUP | EPOLLERR};
    const uint32_t eof_if[KN_COUNT] = {EPOLLRDHUP | EPOLLHUP,
                                       EPOLLHUP | EPOLLERR};
    const int16_t filters[KN_COUNT] = {EVFILT_READ, EVFILT_WRITE};
    int n = 0;
    bool fired_oneshot = false;
    for (int f = 0; f < KN_COUNT && n < room; f++) {
        struct knote *kn = &rec->kn[f];
        if (!kn->active || !kn->enabled || (got & ready_if[f]) == 0)
            continue;
        uint16_t flags = (uint16_t)((kn->oneshot ? EV_ONESHOT : 0) |
                                    ((got & eof_if[f]) != 0 ? EV_EOF : 0));
        EV_SET(&out[n], (uintptr_t)fd, filters[f], flags, 0, 0, kn->udata);
        n++;
        if (kn->oneshot) {
            kn->active = false;
            fired_oneshot = true;
        }
    }
    if (fired_oneshot) {
        (void)rec_sync(ep, fd, rec);
        rec_settle(rec);
    }
    return n;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds for epoll_wait, rounded up: kqueue never returns early. */
static int ms_until(int64_t deadline)
{
    int64_t left = deadline - now_ns();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int wait_events(int ep, struct kevent *out, int nout,
                       const struct timespec *timeout)
{
    int64_t deadline = 0;
    if (timeout != NULL) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
            timeout->tv_nsec >= 1000000000) {
            errno = EINVAL;
            return -1;
        }
        /* Capped at ~30 years, which keeps the sum in range. */
        int64_t sec = timeout->tv_sec < 1000000000 ? (int64_t)timeout->tv_sec
                                                   : 1000000000;
        deadline = now_ns() + sec * 1000000000 + timeout->tv_nsec;
    }
    for (;;) {
        struct epoll_event evs[64];
        int want = nout < 64 ? nout : 64;
        int ms = timeout == NULL ? -1 : ms_until(deadline);
        int n = epoll_wait(ep, evs, want, ms);
        if (n == -1)
            return -1; /* EINTR included, as kevent() */
        pthread_mutex_lock(&emu_lock);
        struct emu_kq *k = kq_lookup(ep);
        if (k == NULL) {
            pthread_mutex_unlock(&emu_lock);
            errno = EBADF;
            return -1;
        }
        int got = 0;
        bool stale = false;
        for (int i = 0; i < n && got < nout; i++)
            got += report(ep, k, &evs[i], out + got, nout - got, &stale);
        if (stale)
            rebuild(ep, k);
        pthread_mutex_unlock(&emu_lock);
        /* Only events that nobody may see: wait on for the time left. */
        if (got > 0 || (timeout != NULL && ms_until(deadline) == 0))
            return got;
    }
}

int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout)
{
    if (nchanges < 0 || nevents < 0) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&emu_lock);
    struct emu_kq *k = kq_lookup(kq);
    if (k == NULL) {
        pthread_mutex_unlock(&emu_lock);
        errno = EBADF;
        return -1;
    }
    int nerr = 0;
    for (int i = 0; i < nchanges; i++) {
        struct kevent ch = changelist[i]; /* eventlist may be changelist */
        int err = apply(kq, k, &ch);
        if (err == 0)
            continue;
        if (nerr == nevents) {
            pthread_mutex_unlock(&emu_lock);
            errno = err;
            return -1;
        }
        ch.flags = EV_ERROR;
        ch.data = err;
        eventlist[nerr++] = ch;
    }
    pthread_mutex_unlock(&emu_lock);
    /* Like kqueue: error entries are returned at once, without a wait. */
    if (nerr > 0 || nevents == 0)
        return nerr;
    return wait_events(kq, eventlist, nevents, timeout);
}
