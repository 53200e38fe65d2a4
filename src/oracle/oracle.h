/*
 * vrt-oracle: runs scenarios (spec/scenarios.md) and prints their traces.
 *
 * Three parts share this header:
 *  - scenario.c: the parser (text -> struct oracle_scenario);
 *  - interp.c:   the driver both engines share: it walks the host calls,
 *                prints every trace line, and runs task scripts when an
 *                engine polls a task (oracle_poll);
 *  - an engine:  engine_vrt.c (vrt itself) or model.c (the executable
 *                model), behind struct oracle_engine.
 * Only the engines know how tasks are scheduled; everything printed goes
 * through interp.c, so two engines that schedule alike print alike.
 */
#ifndef VRT_ORACLE_H
#define VRT_ORACLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ORACLE_MAX_NAME 48
#define ORACLE_MAX_STEPS 64
#define ORACLE_MAX_SCRIPTS 32
#define ORACLE_MAX_CALLS 512
#define ORACLE_MAX_INSTANCES 512
#define ORACLE_MAX_PIPES 8
#define ORACLE_MAX_ARGS 3
#define ORACLE_MAX_STEP_CALLS 128 /* `call` steps over all scripts */
#define ORACLE_MAX_POLLS 100000    /* polls per run before it is stopped */

enum oracle_host {
    ORACLE_HOST_RUNTIME, ORACLE_HOST_REACTOR, ORACLE_HOST_GROUP,
    /* extension: the global runtime, the global reactor, a ScopedTask */
    ORACLE_HOST_GLOBAL, ORACLE_HOST_GLOBAL_REACTOR, ORACLE_HOST_SCOPED
};

/* Script steps: outcomes end a poll, actions do not. */
enum oracle_step_kind {
    STEP_PENDING, STEP_READY, STEP_BAD_STATUS, STEP_WAIT_READ, STEP_WAIT_WRITE,
    STEP_SLEEP,                                   /* outcomes */
    STEP_WRITE, STEP_READ, STEP_SPAWN, STEP_ABORT, STEP_CALL /* actions */
};

struct oracle_call; /* below */

struct oracle_step {
    enum oracle_step_kind kind;
    int64_t a, b;                 /* numbers: value, status, pipe, ms */
    int script;                   /* STEP_SPAWN: script index */
    char target[ORACLE_MAX_NAME]; /* STEP_ABORT: instance name */
    struct oracle_call *call;     /* STEP_CALL: owned by the scenario */
};

struct oracle_script {
    char name[ORACLE_MAX_NAME];
    int step_count;
    struct oracle_step steps[ORACLE_MAX_STEPS];
};

/* A host call: an operation name as written ("spawn", "group-result",
 * "null run", "loop event-fd") and its arguments, kept as text and
 * numbers. */
struct oracle_call {
    char op[ORACLE_MAX_NAME];
    int argc;
    char args[ORACLE_MAX_ARGS][ORACLE_MAX_NAME];
    int64_t nums[ORACLE_MAX_ARGS]; /* args parsed as numbers where they are */
    int line;                      /* in the scenario file, for messages */
};

struct oracle_scenario {
    char name[ORACLE_MAX_NAME];
    enum oracle_host host;
    int pipes;
    int script_count;
    struct oracle_script scripts[ORACLE_MAX_SCRIPTS];
    int call_count;
    struct oracle_call calls[ORACLE_MAX_CALLS];
    int cover_count;
    char covers[64][ORACLE_MAX_NAME];
    /* extension: storage for the `call` steps of the scripts
     * (oracle_step.call points here, so a scenario must not be copied) */
    int step_call_count;
    struct oracle_call step_calls[ORACLE_MAX_STEP_CALLS];
};

/* Parses path into *out.  0, or -1 after printing "path:line: message" to
 * err. */
int oracle_parse_file(const char *path, struct oracle_scenario *out, FILE *err);

/* Parses the scenario text[0 .. len-1] (messages name it `name`) into
 * *out, as oracle_parse_file does.  0, or -1 after printing a message. */
int oracle_parse_buffer(const char *name, const char *text, size_t len,
                        struct oracle_scenario *out, FILE *err);

/* extension: the symbolic name of an errno value ("EINVAL"; "E<number>"
 * for others), in a static buffer. */
const char *oracle_errno_name(int err);

/* How a host call is addressed, from its prefix: "null OP" (NULL self),
 * "null-fn OP" (NULL poll function), "loop OP" (the EventLoop), or plain. */
enum oracle_call_target { ORACLE_CALL_PLAIN, ORACLE_CALL_NULL_SELF,
                          ORACLE_CALL_NULL_FN, ORACLE_CALL_LOOP };

/* The operation of c without its prefix; *target says which prefix it had. */
const char *oracle_call_op(const struct oracle_call *c, enum oracle_call_target *target);

/* extension: the name of an ORACLE_STATUS_* / VRT_TASK_* value. */
const char *oracle_status_name(int64_t status);

/* A task instance: one spawn (or block_on future) of a script. */
struct oracle_instance {
    char name[ORACLE_MAX_NAME]; /* T, T.2, ... */
    int script;
    int next_step;               /* where its next poll starts */
    int last_outcome;            /* step index of the last outcome, or -1 */
    int is_future;               /* a block_on future, not a task */
    int64_t engine_handle;       /* the engine's own id for it */
    int64_t last_status;         /* for the status lines, ORACLE_STATUS_* */
};

/* What an engine reports for an operation: a value, or -1 and an errno. */
struct oracle_result {
    int64_t value;
    int err; /* 0 on success */
};

struct oracle_run;

/*
 * An engine: how tasks are scheduled.  Every operation the interpreter
 * needs; each returns what the corresponding vrt call returns (value, or
 * -1 with errno in err).  `op` is the call's operation name from the
 * scenario (the engine decides what it means; unknown operations return
 * err EINVAL).  Engines poll tasks only through oracle_poll.
 */
struct oracle_engine {
    const char *name; /* "vrt" or "model" */
    /* set up and tear down for one scenario (host kind, pipes) */
    int (*open)(struct oracle_run *run);
    void (*close)(struct oracle_run *run);
    /* a host call: spawn, run, block_on, handle ops, group ops, null ...,
     * loop ...; inst is the instance named by the call's first argument, or
     * a fresh one for spawn / block_on, else NULL */
    struct oracle_result (*call)(struct oracle_run *run, const struct oracle_call *call,
                                 struct oracle_instance *inst);
    /* the status of an instance as its handle reports it (ORACLE_STATUS_*) */
    int64_t (*status)(struct oracle_run *run, struct oracle_instance *inst);
    /* inside a poll of inst: the waits and pipe actions of its script */
    struct oracle_result (*wait_read)(struct oracle_run *run, struct oracle_instance *inst, int pipe);
    struct oracle_result (*wait_write)(struct oracle_run *run, struct oracle_instance *inst, int pipe);
    struct oracle_result (*sleep)(struct oracle_run *run, struct oracle_instance *inst, int64_t ms);
    struct oracle_result (*write_pipe)(struct oracle_run *run, int pipe);
    struct oracle_result (*read_pipe)(struct oracle_run *run, int pipe);
};

/* Status values in traces: the VRT_TASK_* values, plus released. */
#define ORACLE_STATUS_RELEASED 5

struct oracle_run {
    const struct oracle_scenario *scn;
    const struct oracle_engine *engine;
    FILE *out;                    /* the trace */
    void *engine_state;           /* the engine's own */
    int instance_count;
    struct oracle_instance instances[ORACLE_MAX_INSTANCES];
    /* extensions, written by interp.c only */
    int failed;                      /* the scenario could not run as written */
    long poll_count;                 /* polls so far (ORACLE_MAX_POLLS) */
    struct oracle_instance *current; /* the instance being polled, or NULL */
};

/* Runs the scenario on the engine, writing its trace to out.  0, or -1 if
 * the scenario could not run (a message on stderr). */
int oracle_run_scenario(const struct oracle_scenario *scn,
                        const struct oracle_engine *engine, FILE *out);

/* oracle_run_scenario with the trace captured in a malloc'd string of
 * *len bytes (the caller frees it), *rc its result; NULL if the trace
 * could not be captured. */
char *oracle_run_to_string(const struct oracle_scenario *scn, const struct oracle_engine *engine,
                           size_t *len, int *rc);

/* Called by an engine to poll an instance: prints "poll T", runs the
 * script's actions, applies its outcome, prints "T: outcome", and returns
 * the packed poll result. */
int64_t oracle_poll(struct oracle_run *run, struct oracle_instance *inst);

extern const struct oracle_engine oracle_engine_vrt;
extern const struct oracle_engine oracle_engine_model;

/* extension: set by a run on the model when one look at the loop found
 * more than one fd ready (pipe ends, the waker).  A real kernel reports
 * them in an order of its own, so such a run breaks the determinism rules
 * and its trace may differ from vrt's (fuzz_diff skips it).  Cleared when
 * a run on the model starts. */
extern int oracle_model_kernel_order;

#endif /* VRT_ORACLE_H */
