/*
 * vrt-oracle [--model] [--check] [--compare] [--write] FILE.scn...
 *
 *   (default)  print each scenario's trace, after a line "== NAME"
 *   --model    run on the executable model instead of vrt
 *   --check    compare each run with FILE.trace: PASS/FAIL per scenario,
 *              then "N passed, M failed"; exit 1 if any failed
 *   --compare  run each scenario on vrt and on the model: SAME/DIFF per
 *              scenario, then "N passed, M failed"; exit 1 on a difference
 *   --write    write FILE.trace from the run (for authoring only)
 */
#include "oracle.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A scenario that hangs (a pipe nobody writes) must not hang the suite:
 * 30 s each, or VRT_ORACLE_TIME_LIMIT seconds (the mutant runs use less). */
#define SCENARIO_TIME_LIMIT 30

static unsigned time_limit(void)
{
    const char *text = getenv("VRT_ORACLE_TIME_LIMIT");
    long limit = text != NULL ? strtol(text, NULL, 10) : 0;
    return limit > 0 && limit <= 3600 ? (unsigned)limit : SCENARIO_TIME_LIMIT;
}

static const char *g_current = "?";

/* GCOVR_EXCL_START: coverage/oracle_errors.py runs it (a run past the time
 * limit), but _exit skips the exit handler that writes gcov's data. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "vrt-oracle: scenario timed out: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, g_current, strlen(g_current));
    w = write(2, "\n", 1);
    (void)w;
    _exit(2);
}
/* GCOVR_EXCL_STOP */

/* Runs scn on engine under the time limit; the trace in a malloc'd string
 * (*len bytes), or NULL. */
static char *capture(const struct oracle_scenario *scn, const struct oracle_engine *engine,
                     size_t *len, int *rc)
{
    g_current = scn->name;
    alarm(time_limit());
    char *buf = oracle_run_to_string(scn, engine, len, rc);
    alarm(0);
    return buf;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Prints the first line where a and b differ. */
static void first_difference(const char *a, const char *b, const char *la, const char *lb)
{
    int line = 1;
    for (;;) {
        const char *ea = strchr(a, '\n');
        const char *eb = strchr(b, '\n');
        size_t na = ea ? (size_t)(ea - a) : strlen(a);
        size_t nb = eb ? (size_t)(eb - b) : strlen(b);
        int enda = *a == '\0', endb = *b == '\0';
        if (enda && endb)
            return;
        if (enda != endb || na != nb || memcmp(a, b, na) != 0 || (ea == NULL) != (eb == NULL)) {
            printf("  line %d:\n", line);
            if (enda)
                printf("  - %s: (end of trace)\n", la);
            else
                printf("  - %s: %.*s\n", la, (int)na, a);
            if (endb)
                printf("  + %s: (end of trace)\n", lb);
            else
                printf("  + %s: %.*s\n", lb, (int)nb, b);
            return;
        }
        a = ea ? ea + 1 : a + na;
        b = eb ? eb + 1 : b + nb;
        line++;
    }
}

static void trace_path(const char *scn_path, char *out, size_t cap)
{
    size_t n = strlen(scn_path);
    if (n > 4 && strcmp(scn_path + n - 4, ".scn") == 0)
        n -= 4;
    snprintf(out, cap, "%.*s.trace", (int)n, scn_path);
}

int main(int argc, char **argv)
{
    int model = 0, check_mode = 0, compare = 0, write_mode = 0;
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        if (strcmp(argv[first], "--model") == 0)
            model = 1;
        else if (strcmp(argv[first], "--check") == 0)
            check_mode = 1;
        else if (strcmp(argv[first], "--compare") == 0)
            compare = 1;
        else if (strcmp(argv[first], "--write") == 0)
            write_mode = 1;
        else if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        } else {
            fprintf(stderr, "vrt-oracle: unknown option %s\n", argv[first]);
            return 2;
        }
    }
    if (first >= argc || check_mode + compare + write_mode > 1) {
        fprintf(stderr,
                "usage: vrt-oracle [--model] [--check | --compare | --write] FILE.scn...\n");
        return 2;
    }
    signal(SIGALRM, on_alarm);
    const struct oracle_engine *engine = model ? &oracle_engine_model : &oracle_engine_vrt;
    struct oracle_scenario *scn = malloc(sizeof *scn);
    if (scn == NULL) {
        fprintf(stderr, "vrt-oracle: out of memory\n");
        return 2;
    }
    int passed = 0, failed = 0, errors = 0;
    for (int i = first; i < argc; i++) {
        const char *path = argv[i];
        if (oracle_parse_file(path, scn, stderr) != 0) {
            if (check_mode || compare)
                printf("FAIL %s (does not parse)\n", path);
            failed++;
            errors++;
            continue;
        }
        size_t len = 0;
        int rc = 0;
        if (compare) {
            size_t len2 = 0;
            int rc2 = 0;
            char *a = capture(scn, &oracle_engine_vrt, &len, &rc);
            char *b = capture(scn, &oracle_engine_model, &len2, &rc2);
            if (a != NULL && b != NULL && rc == 0 && rc2 == 0 && len == len2 &&
                memcmp(a, b, len) == 0) {
                printf("SAME %s\n", scn->name);
                passed++;
            } else {
                printf("DIFF %s\n", scn->name);
                if (rc != 0 || rc2 != 0 || a == NULL || b == NULL)
                    printf("  (a run failed: vrt %d, model %d)\n", rc, rc2);
                if (a != NULL && b != NULL)
                    first_difference(a, b, "vrt", "model");
                failed++;
            }
            free(a);
            free(b);
            continue;
        }
        char *got = capture(scn, engine, &len, &rc);
        if (got == NULL || rc != 0) {
            if (check_mode)
                printf("FAIL %s (the run failed)\n", scn->name);
            else
                fprintf(stderr, "vrt-oracle: %s: the run failed\n", path);
            free(got);
            failed++;
            errors++;
            continue;
        }
        char tpath[4096];
        trace_path(path, tpath, sizeof tpath);
        if (check_mode) {
            size_t elen = 0;
            char *expected = read_all(tpath, &elen);
            if (expected == NULL) {
                printf("FAIL %s (no %s)\n", scn->name, tpath);
                failed++;
            } else if (elen == len && memcmp(expected, got, len) == 0) {
                printf("PASS %s\n", scn->name);
                passed++;
            } else {
                printf("FAIL %s\n", scn->name);
                first_difference(expected, got, "expected", "got");
                failed++;
            }
            free(expected);
        } else if (write_mode) {
            FILE *f = fopen(tpath, "wb");
            if (f == NULL || fwrite(got, 1, len, f) != len || fclose(f) != 0) {
                perror(tpath);
                errors++;
            } else {
                printf("wrote %s\n", tpath);
            }
        } else {
            printf("== %s\n", scn->name);
            fwrite(got, 1, len, stdout);
        }
        free(got);
    }
    free(scn);
    if (check_mode || compare) {
        printf("%d passed, %d failed\n", passed, failed);
        return failed != 0 ? 1 : 0;
    }
    return errors != 0 ? 1 : 0;
}
