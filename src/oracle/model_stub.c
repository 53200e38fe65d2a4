/*
 * vrt-oracle: stands in for the executable model (src/oracle/model.c)
 * until it exists.  Every run on it fails with a clear message.
 */
#include "oracle.h"

static int stub_open(struct oracle_run *run)
{
    (void)run;
    fprintf(stderr, "vrt-oracle: the executable model is not built "
                    "(src/oracle/model.c is missing; this is model_stub.c)\n");
    return -1;
}

static void stub_close(struct oracle_run *run)
{
    (void)run;
}

static struct oracle_result stub_none(void)
{
    struct oracle_result r = {-1, 22 /* EINVAL */};
    return r;
}

static struct oracle_result stub_call(struct oracle_run *run, const struct oracle_call *call,
                                      struct oracle_instance *inst)
{
    (void)run, (void)call, (void)inst;
    return stub_none();
}

static int64_t stub_status(struct oracle_run *run, struct oracle_instance *inst)
{
    (void)run, (void)inst;
    return -1;
}

static struct oracle_result stub_wait(struct oracle_run *run, struct oracle_instance *inst,
                                      int pipe)
{
    (void)run, (void)inst, (void)pipe;
    return stub_none();
}

static struct oracle_result stub_sleep(struct oracle_run *run, struct oracle_instance *inst,
                                       int64_t ms)
{
    (void)run, (void)inst, (void)ms;
    return stub_none();
}

static struct oracle_result stub_pipe(struct oracle_run *run, int pipe)
{
    (void)run, (void)pipe;
    return stub_none();
}

const struct oracle_engine oracle_engine_model = {
    "model (stub)", stub_open, stub_close, stub_call, stub_status,
    stub_wait,      stub_wait, stub_sleep, stub_pipe, stub_pipe,
};
