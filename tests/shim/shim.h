/*
 * Fault injection for the tests: link-time wrappers (-Wl,--wrap=...) around
 * every system call vrt makes, plus an allocator for vrt_set_allocator,
 * that count each fallible call while armed and fail the Nth one.
 *
 * Calls made while disarmed pass straight through, so a test does its own
 * set-up and checks disarmed and arms only around the operation under test.
 * Calls made by the kqueue emulation itself (tests/kqueue_emu) are never
 * counted: only what the library asks of the kernel is.
 */
#ifndef VRT_TEST_SHIM_H
#define VRT_TEST_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "vrt.h"

/* What failed: one kind per system call (or the allocator). */
enum shim_kind {
    SHIM_ALLOC,        /* the vrt_allocator_t alloc: NULL */
    SHIM_QUEUE_OPEN,   /* epoll_create1, kqueue */
    SHIM_QUEUE_CHANGE, /* epoll_ctl, kevent with changes */
    SHIM_QUEUE_WAIT,   /* epoll_wait, kevent with an event list */
    SHIM_PIPE,         /* pipe, pipe2, eventfd */
    SHIM_FCNTL,
    SHIM_READ,
    SHIM_WRITE,
    SHIM_KINDS
};

/* How an injected system call fails. */
enum shim_mode {
    SHIM_HARD,  /* a real error: ENOMEM, EMFILE, EBADF, EIO, ... */
    SHIM_EINTR  /* EINTR, and only where the kernel may give it: the
                   waits, reads and writes are counted, nothing else */
};

/* The failure the shim injected. */
struct shim_fault {
    enum shim_kind kind;
    int err;          /* the errno it set (ENOMEM for an allocation) */
    const void *site; /* return address of the failed call: the call site */
};

/* From now on count fallible calls and fail the nth (1-based). */
void shim_arm(long nth, enum shim_mode mode);

/* Stops counting.  Returns 1 and fills *fault if the failure was injected,
 * else 0 (the armed code made fewer than nth calls). */
int shim_disarm(struct shim_fault *fault);

/* The errno an injected failure of kind sets in mode. */
int shim_errno(enum shim_kind kind, enum shim_mode mode);

/* A name for messages. */
const char *shim_kind_name(enum shim_kind kind);

/* The counting allocator, installed with vrt_set_allocator. */
extern const vrt_allocator_t shim_allocator;

/* Blocks the shim allocator handed out and that are not released yet. */
long shim_live_blocks(void);

/* kqueue build: the next this-many waits each return one event of a filter
 * vrt never registers (as a kernel might report news of its own) before
 * the real wait.  The epoll build ignores it. */
extern int shim_foreign_events;

/* For the wrappers only: counts the call and, if it is the nth, sets errno
 * and returns 1.  While shim_passthrough > 0 (inside the kqueue
 * emulation) nothing is counted. */
int shim_should_fail(enum shim_kind kind, const void *site);
extern int shim_passthrough;

#endif
