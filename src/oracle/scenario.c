/*
 * vrt-oracle: the scenario parser (spec/scenarios.md, "Scenario files").
 * Strict: anything it does not know is an error "path:line: message".
 */
#include "oracle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096
#define MAX_TOKENS 80

enum arg_kind { A_SCRIPT, A_INST, A_NUM, A_PIPE };

struct op_spec {
    const char *name;
    int argc;
    enum arg_kind kinds[ORACLE_MAX_ARGS];
};

/* Plain host calls. */
static const struct op_spec host_ops[] = {
    {"spawn", 1, {A_SCRIPT}},
    {"block_on", 1, {A_SCRIPT}},
    {"run", 0, {A_NUM}},
    {"free", 0, {A_NUM}},
    {"max-tasks", 0, {A_NUM}},
    {"set-max-tasks", 1, {A_NUM}},
    {"status", 1, {A_INST}},
    {"result", 1, {A_INST}},
    {"abort", 1, {A_INST}},
    {"release", 1, {A_INST}},
    {"write", 1, {A_PIPE}},
    {"read", 1, {A_PIPE}},
    {"wait-read", 1, {A_PIPE}},
    {"wait-write", 1, {A_PIPE}},
    {"sleep", 1, {A_NUM}},
    {"group-set-max-concurrency", 1, {A_NUM}},
    {"group-set-cancel-on-error", 1, {A_NUM}},
    {"group-cancel", 0, {A_NUM}},
    {"group-cancel-remaining", 0, {A_NUM}},
    {"group-total", 0, {A_NUM}},
    {"group-completed", 0, {A_NUM}},
    {"group-is-done", 0, {A_NUM}},
    {"group-is-cancelled", 0, {A_NUM}},
    {"group-result", 1, {A_NUM}},
    {"group-has-error", 1, {A_NUM}},
    {"group-status", 1, {A_NUM}},
    {"group-cleanup", 0, {A_NUM}},
    /* extension: the rows no call above reaches (spec/scenarios.md) */
    {"new", 0, {A_NUM}},
    {"new-named", 0, {A_NUM}},
    {"shutdown", 0, {A_NUM}},
    {"check", 0, {A_NUM}},
    {"set-next-id", 1, {A_NUM}},
    {"fail-alloc", 1, {A_NUM}},
    {"set-allocator", 1, {A_NUM}},
    {"runtime-init", 0, {A_NUM}},
    {"reactor-init", 0, {A_NUM}},
    {"get-loop", 0, {A_NUM}},
    {"backend", 0, {A_NUM}},
    {"node-new", 0, {A_NUM}},
    {"is-valid", 1, {A_INST}},
    {"is-completed", 1, {A_INST}},
    {"is-pending", 1, {A_INST}},
    {"poll-ready", 1, {A_NUM}},
    {"poll-pending", 0, {A_NUM}},
    {"poll-status", 1, {A_NUM}},
    {"poll-value", 1, {A_NUM}},
    {"poll-is-ready", 1, {A_NUM}},
    {"close", 1, {A_PIPE}},
    {"reopen", 1, {A_PIPE}},
    {"hold", 1, {A_PIPE}},
    {"write-held", 1, {A_PIPE}},
    {NULL, 0, {A_NUM}},
};

/* `loop OP`: EventLoop methods with explicit numbers. */
static const struct op_spec loop_ops[] = {
    {"event-fd", 1, {A_NUM}},
    {"event-filter", 1, {A_NUM}},
    {"deregister", 2, {A_NUM, A_NUM}},
    {"register-timer", 2, {A_NUM, A_NUM}},
    {"poll", 1, {A_NUM}},
    {"wake", 0, {A_NUM}},
    {"find-task", 1, {A_NUM}},
    {"new", 0, {A_NUM}},
    {"cleanup", 0, {A_NUM}},
    {"register-read", 1, {A_PIPE}},
    {"register-write", 1, {A_PIPE}},
    {NULL, 0, {A_NUM}},
};

struct parser {
    const char *path;
    FILE *err;
    int line;
    struct oracle_scenario *scn;
    /* spawn references to check once every script is known */
    int ref_count;
    struct {
        char name[ORACLE_MAX_NAME];
        int line;
        int *slot; /* where the script index goes, or NULL */
    } refs[ORACLE_MAX_SCRIPTS * ORACLE_MAX_STEPS + ORACLE_MAX_CALLS + ORACLE_MAX_STEP_CALLS];
};

static int fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    fprintf(p->err, "%s:%d: ", p->path, p->line);
    va_start(ap, fmt);
    vfprintf(p->err, fmt, ap);
    va_end(ap);
    fputc('\n', p->err);
    return -1;
}

/* Decimal, optionally negative, in [lo, hi]. */
static int parse_num(struct parser *p, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    const char *q = s;
    int neg = 0;
    uint64_t v = 0;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    if (*q == '\0')
        return fail(p, "bad number '%s'", s);
    for (; *q; q++) {
        if (*q < '0' || *q > '9')
            return fail(p, "bad number '%s'", s);
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(p, "number out of range '%s'", s);
        v = v * 10 + d;
    }
    int64_t r;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return fail(p, "number out of range '%s'", s);
        r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return fail(p, "number out of range '%s'", s);
        r = (int64_t)v;
    }
    if (r < lo || r > hi)
        return fail(p, "number out of range '%s'", s);
    *out = r;
    return 0;
}

static int is_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int copy_name(struct parser *p, char *dst, const char *src, const char *what)
{
    size_t n = strlen(src); /* a token: never empty */
    if (n >= ORACLE_MAX_NAME)
        return fail(p, "%s too long '%s'", what, src);
    memcpy(dst, src, n + 1);
    return 0;
}

static int valid_ident(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* name has passed copy_name already, so it fits.  refs cannot overflow:
 * each step and each host call makes at most one reference, and the steps
 * and calls are counted against their own limits before they are parsed. */
static void add_ref(struct parser *p, const char *name, int *slot)
{
    snprintf(p->refs[p->ref_count].name, sizeof p->refs[p->ref_count].name, "%s", name);
    p->refs[p->ref_count].line = p->line;
    p->refs[p->ref_count].slot = slot;
    p->ref_count++;
}

static int find_script(const struct oracle_scenario *scn, const char *name)
{
    for (int i = 0; i < scn->script_count; i++)
        if (strcmp(scn->scripts[i].name, name) == 0)
            return i;
    return -1;
}

static int split(char *s, char **tok, int max)
{
    int n = 0;
    for (char *t = strtok(s, " \t\r"); t != NULL; t = strtok(NULL, " \t\r")) {
        if (n == max)
            return -1;
        tok[n++] = t;
    }
    return n;
}

/* A host call from tokens tok[0..n-1] into *c. */
static int parse_call(struct parser *p, char **tok, int n, struct oracle_call *c)
{
    memset(c, 0, sizeof *c);
    c->line = p->line;
    const struct op_spec *table = host_ops;
    const char *prefix = NULL;
    int first = 0;
    if (strcmp(tok[0], "null") == 0 || strcmp(tok[0], "null-fn") == 0 ||
        strcmp(tok[0], "loop") == 0) {
        if (n < 2)
            return fail(p, "'%s' needs an operation", tok[0]);
        prefix = tok[0];
        first = 1;
        if (strcmp(prefix, "loop") == 0)
            table = loop_ops;
    }
    const struct op_spec *spec = NULL;
    for (int i = 0; table[i].name != NULL; i++)
        if (strcmp(table[i].name, tok[first]) == 0)
            spec = &table[i];
    if (spec == NULL)
        return fail(p, "unknown operation '%s%s%s'", prefix ? prefix : "", prefix ? " " : "",
                    tok[first]);
    int argc = spec->argc;
    if (prefix != NULL && strcmp(prefix, "null-fn") == 0) {
        if (strcmp(spec->name, "spawn") != 0 && strcmp(spec->name, "block_on") != 0)
            return fail(p, "'null-fn' applies to spawn and block_on only");
        argc = 0;
    } else if (prefix != NULL && strcmp(prefix, "null") == 0) {
        if (strcmp(spec->name, "write") == 0 || strcmp(spec->name, "read") == 0 ||
            strcmp(spec->name, "close") == 0 || strcmp(spec->name, "reopen") == 0 ||
            strcmp(spec->name, "hold") == 0 || strcmp(spec->name, "write-held") == 0)
            return fail(p, "'null %s' does not exist", spec->name);
        if (argc > 0 && (spec->kinds[0] == A_SCRIPT || spec->kinds[0] == A_INST))
            argc = 0; /* the NULL object stands for the argument */
    }
    if (n - first - 1 != argc)
        return fail(p, "'%s' takes %d argument%s, not %d", tok[first], argc, argc == 1 ? "" : "s",
                    n - first - 1);
    /* at most "null-fn group-set-cancel-on-error": it fits */
    snprintf(c->op, sizeof c->op, "%s%s%s", prefix != NULL ? prefix : "", prefix != NULL ? " " : "",
             spec->name);
    c->argc = argc;
    for (int i = 0; i < argc; i++) {
        const char *a = tok[first + 1 + i];
        if (copy_name(p, c->args[i], a, "argument") != 0)
            return -1;
        switch (spec->kinds[i]) {
        case A_NUM:
            if (parse_num(p, a, INT64_MIN, INT64_MAX, &c->nums[i]) != 0)
                return -1;
            break;
        case A_PIPE:
            if (parse_num(p, a, -2, p->scn->pipes - 1, &c->nums[i]) != 0)
                return fail(p, "no pipe '%s' (pipes %d)", a, p->scn->pipes);
            break;
        case A_SCRIPT:
            if (!valid_ident(a))
                return fail(p, "bad script name '%s'", a);
            add_ref(p, a, NULL);
            c->nums[i] = -1;
            break;
        case A_INST: {
            /* SCRIPT or SCRIPT.N with N >= 2 */
            char base[ORACLE_MAX_NAME];
            snprintf(base, sizeof base, "%s", a);
            char *dot = strchr(base, '.');
            if (dot != NULL) {
                *dot = '\0';
                int64_t k;
                if (!is_number(dot + 1) || parse_num(p, dot + 1, 2, ORACLE_MAX_INSTANCES, &k) != 0)
                    return fail(p, "bad instance name '%s'", a);
            }
            if (!valid_ident(base))
                return fail(p, "bad instance name '%s'", a);
            add_ref(p, base, NULL);
            c->nums[i] = -1;
            break;
        }
        }
    }
    return 0;
}

static int parse_step(struct parser *p, char *text, struct oracle_step *st)
{
    /* parse_task hands over no blank step, and a step has fewer tokens
     * than its line, whose count parse_line has checked */
    char *tok[MAX_TOKENS] = {0};
    int n = split(text, tok, MAX_TOKENS);
    memset(st, 0, sizeof *st);
    st->script = -1;
    const char *k = tok[0];
#define NEED(cnt)                                                                        \
    do {                                                                                 \
        if (n != (cnt) + 1)                                                              \
            return fail(p, "step '%s' takes %d argument%s", k, (cnt), (cnt) == 1 ? "" : "s"); \
    } while (0)
    if (strcmp(k, "pending") == 0) {
        NEED(0);
        st->kind = STEP_PENDING;
    } else if (strcmp(k, "ready") == 0) {
        NEED(1);
        st->kind = STEP_READY;
        if (parse_num(p, tok[1], INT32_MIN, UINT32_MAX, &st->a) != 0)
            return -1;
    } else if (strcmp(k, "bad-status") == 0) {
        NEED(2);
        st->kind = STEP_BAD_STATUS;
        if (parse_num(p, tok[1], 0, UINT32_MAX, &st->a) != 0 ||
            parse_num(p, tok[2], INT32_MIN, UINT32_MAX, &st->b) != 0)
            return -1;
        if (st->a == 1)
            return fail(p, "bad-status 1 is Ready: use 'ready'");
    } else if (strcmp(k, "wait-read") == 0 || strcmp(k, "wait-write") == 0 ||
               strcmp(k, "write") == 0 || strcmp(k, "read") == 0) {
        NEED(1);
        st->kind = strcmp(k, "wait-read") == 0    ? STEP_WAIT_READ
                   : strcmp(k, "wait-write") == 0 ? STEP_WAIT_WRITE
                   : strcmp(k, "write") == 0      ? STEP_WRITE
                                                  : STEP_READ;
        if (parse_num(p, tok[1], -2, p->scn->pipes - 1, &st->a) != 0)
            return fail(p, "no pipe '%s' (pipes %d)", tok[1], p->scn->pipes);
    } else if (strcmp(k, "sleep") == 0) {
        NEED(1);
        st->kind = STEP_SLEEP;
        if (parse_num(p, tok[1], INT64_MIN, INT64_MAX, &st->a) != 0)
            return -1;
    } else if (strcmp(k, "spawn") == 0) {
        NEED(1);
        st->kind = STEP_SPAWN;
        if (!valid_ident(tok[1]))
            return fail(p, "bad script name '%s'", tok[1]);
        if (copy_name(p, st->target, tok[1], "script name") != 0)
            return -1;
        add_ref(p, tok[1], &st->script);
    } else if (strcmp(k, "abort") == 0) {
        NEED(1);
        st->kind = STEP_ABORT;
        /* checked as an instance name through a call */
        struct oracle_call tmp;
        char *t2[2] = {(char *)"abort", tok[1]};
        if (parse_call(p, t2, 2, &tmp) != 0)
            return -1;
        snprintf(st->target, sizeof st->target, "%s", tok[1]); /* parse_call checked its length */
    } else if (strcmp(k, "call") == 0) {
        if (n < 2)
            return fail(p, "step 'call' needs an operation");
        st->kind = STEP_CALL;
        struct oracle_scenario *scn = p->scn;
        if (scn->step_call_count >= ORACLE_MAX_STEP_CALLS)
            return fail(p, "too many call steps (at most %d)", ORACLE_MAX_STEP_CALLS);
        struct oracle_call *c = &scn->step_calls[scn->step_call_count];
        if (parse_call(p, tok + 1, n - 1, c) != 0)
            return -1;
        scn->step_call_count++;
        st->call = c;
    } else {
        return fail(p, "unknown step '%s'", k);
    }
#undef NEED
    return 0;
}

static int parse_task(struct parser *p, char *rest)
{
    struct oracle_scenario *scn = p->scn;
    char *colon = strchr(rest, ':');
    if (colon == NULL)
        return fail(p, "task needs 'NAME: STEPS'");
    *colon = '\0';
    char *nt[4];
    int nn = split(rest, nt, 4);
    if (nn != 1)
        return fail(p, "task needs exactly one name before ':'");
    if (!valid_ident(nt[0]))
        return fail(p, "bad script name '%s'", nt[0]);
    if (find_script(scn, nt[0]) >= 0)
        return fail(p, "script '%s' defined twice", nt[0]);
    if (scn->script_count >= ORACLE_MAX_SCRIPTS)
        return fail(p, "too many scripts (at most %d)", ORACLE_MAX_SCRIPTS);
    struct oracle_script *sc = &scn->scripts[scn->script_count];
    memset(sc, 0, sizeof *sc);
    if (copy_name(p, sc->name, nt[0], "script name") != 0)
        return -1;
    int outcomes = 0;
    char *s = colon + 1;
    for (;;) {
        char *semi = strchr(s, ';');
        if (semi != NULL)
            *semi = '\0';
        int blank = strspn(s, " \t\r") == strlen(s);
        if (blank) {
            if (semi != NULL)
                return fail(p, "empty step");
        } else {
            if (sc->step_count >= ORACLE_MAX_STEPS)
                return fail(p, "too many steps (at most %d)", ORACLE_MAX_STEPS);
            struct oracle_step *st = &sc->steps[sc->step_count];
            if (parse_step(p, s, st) != 0)
                return -1;
            if (st->kind <= STEP_SLEEP)
                outcomes++;
            sc->step_count++;
        }
        if (semi == NULL)
            break;
        s = semi + 1;
    }
    if (outcomes == 0)
        return fail(p, "script '%s' has no outcome", sc->name);
    scn->script_count++;
    return 0;
}

static int parse_line(struct parser *p, char *line, int *stage)
{
    struct oracle_scenario *scn = p->scn;
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    char copy[LINE_MAX_LEN];
    snprintf(copy, sizeof copy, "%s", line);
    char *tok[MAX_TOKENS];
    int n = split(copy, tok, MAX_TOKENS);
    if (n < 0)
        return fail(p, "too many tokens");
    if (n == 0)
        return 0;
    const char *k = tok[0];
    if (*stage == 0) {
        if (strcmp(k, "scenario") != 0)
            return fail(p, "the first statement must be 'scenario NAME'");
        if (n != 2)
            return fail(p, "'scenario' takes one name");
        if (!valid_ident(tok[1]))
            return fail(p, "bad scenario name '%s'", tok[1]);
        if (copy_name(p, scn->name, tok[1], "scenario name") != 0)
            return -1;
        *stage = 1;
        return 0;
    }
    if (strcmp(k, "scenario") == 0)
        return fail(p, "'scenario' given twice");
    if (strcmp(k, "covers") == 0 || strcmp(k, "host") == 0 || strcmp(k, "pipes") == 0 ||
        strcmp(k, "task") == 0) {
        if (*stage == 2)
            return fail(p, "'%s' after the first host call", k);
        if (strcmp(k, "covers") == 0) {
            if (n < 2)
                return fail(p, "'covers' needs items");
            for (int i = 1; i < n; i++) {
                if (scn->cover_count >= 64)
                    return fail(p, "too many covers items (at most 64)");
                if (copy_name(p, scn->covers[scn->cover_count], tok[i], "covers item") != 0)
                    return -1;
                scn->cover_count++;
            }
        } else if (strcmp(k, "host") == 0) {
            if (n != 2)
                return fail(p, "'host' takes one word");
            if (strcmp(tok[1], "runtime") == 0)
                scn->host = ORACLE_HOST_RUNTIME;
            else if (strcmp(tok[1], "reactor") == 0)
                scn->host = ORACLE_HOST_REACTOR;
            else if (strcmp(tok[1], "group") == 0)
                scn->host = ORACLE_HOST_GROUP;
            else if (strcmp(tok[1], "global") == 0)
                scn->host = ORACLE_HOST_GLOBAL;
            else if (strcmp(tok[1], "global-reactor") == 0)
                scn->host = ORACLE_HOST_GLOBAL_REACTOR;
            else if (strcmp(tok[1], "scoped") == 0)
                scn->host = ORACLE_HOST_SCOPED;
            else
                return fail(p, "unknown host '%s'", tok[1]);
            if (scn->script_count > 0)
                return fail(p, "'host' must come before the tasks");
        } else if (strcmp(k, "pipes") == 0) {
            if (n != 2)
                return fail(p, "'pipes' takes one number");
            int64_t v;
            if (parse_num(p, tok[1], 0, ORACLE_MAX_PIPES, &v) != 0)
                return -1;
            if (scn->script_count > 0)
                return fail(p, "'pipes' must come before the tasks");
            scn->pipes = (int)v;
        } else {
            /* task: reparse from the raw line, steps are ';'-separated */
            char raw[LINE_MAX_LEN];
            snprintf(raw, sizeof raw, "%s", line);
            char *t = strstr(raw, "task");
            return parse_task(p, t + 4);
        }
        return 0;
    }
    *stage = 2;
    if (scn->call_count >= ORACLE_MAX_CALLS)
        return fail(p, "too many host calls (at most %d)", ORACLE_MAX_CALLS);
    if (parse_call(p, tok, n, &scn->calls[scn->call_count]) != 0)
        return -1;
    scn->call_count++;
    return 0;
}

/* Parses the lines of f (named path in messages) into *out. */
static int parse_stream(const char *path, FILE *f, struct oracle_scenario *out, FILE *err)
{
    struct parser *p = calloc(1, sizeof *p);
    if (p == NULL) {
        fprintf(err, "%s: out of memory\n", path);
        return -1;
    }
    p->path = path;
    p->err = err;
    p->scn = out;
    memset(out, 0, sizeof *out);
    out->host = ORACLE_HOST_RUNTIME;
    int rc = -1;
    char line[LINE_MAX_LEN];
    int stage = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        p->line++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f)) {
            fail(p, "line too long");
            goto out;
        }
        if (parse_line(p, line, &stage) != 0)
            goto out;
    }
    if (ferror(f)) {
        fprintf(err, "%s: read error\n", path);
        goto out;
    }
    if (stage == 0) {
        p->line = 1;
        fail(p, "no 'scenario' statement");
        goto out;
    }
    for (int i = 0; i < p->ref_count; i++) {
        int s = find_script(out, p->refs[i].name);
        if (s < 0) {
            p->line = p->refs[i].line;
            fail(p, "unknown script '%s'", p->refs[i].name);
            goto out;
        }
        if (p->refs[i].slot != NULL)
            *p->refs[i].slot = s;
    }
    /* the script index of spawn / block_on calls, in nums[0] */
    for (int i = 0; i < out->call_count + out->step_call_count; i++) {
        struct oracle_call *c = i < out->call_count ? &out->calls[i]
                                                    : &out->step_calls[i - out->call_count];
        if (strcmp(c->op, "spawn") == 0 || strcmp(c->op, "block_on") == 0)
            c->nums[0] = find_script(out, c->args[0]);
    }
    rc = 0;
out:
    free(p);
    return rc;
}

/* Parses what f (opened on name, NULL if that failed) holds, then closes it. */
static int parse_and_close(const char *name, FILE *f, struct oracle_scenario *out, FILE *err)
{
    if (f == NULL) {
        fprintf(err, "%s: %s\n", name, strerror(errno));
        return -1;
    }
    int rc = parse_stream(name, f, out, err);
    fclose(f);
    return rc;
}

int oracle_parse_file(const char *path, struct oracle_scenario *out, FILE *err)
{
    return parse_and_close(path, fopen(path, "r"), out, err);
}

int oracle_parse_buffer(const char *name, const char *text, size_t len,
                        struct oracle_scenario *out, FILE *err)
{
    if (len == 0) {
        fprintf(err, "%s:1: no 'scenario' statement\n", name);
        return -1;
    }
    return parse_and_close(name, fmemopen((void *)(uintptr_t)text, len, "r"), out, err);
}
