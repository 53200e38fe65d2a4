/*
 * White-box checks of vrt-oracle's internals that no command line reaches:
 * the parser's buffer entry point (used by the fuzz_diff harness) on an
 * empty buffer, and the status names the traces never print (a running
 * task is never between two host calls).  Built over the gcov build by
 * coverage/coverage.mk; exits 1 on the first failed check.
 */
#include "oracle/oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void expect_text(const char *what, const char *got, const char *want)
{
    if (got == NULL || strstr(got, want) == NULL) {
        fprintf(stderr, "oracle_whitebox: %s: got '%s', want '%s'\n", what,
                got != NULL ? got : "(null)", want);
        failures++;
    }
}

int main(void)
{
    static struct oracle_scenario scn;
    char *messages = NULL;
    size_t messages_len = 0;
    FILE *err = open_memstream(&messages, &messages_len);
    if (err == NULL) {
        perror("oracle_whitebox: open_memstream");
        return 1;
    }
    int rc = oracle_parse_buffer("empty", "", 0, &scn, err);
    fclose(err);
    if (rc != -1) {
        fprintf(stderr, "oracle_whitebox: an empty buffer parsed (%d)\n", rc);
        failures++;
    }
    expect_text("an empty buffer", messages, "empty:1: no 'scenario' statement");
    free(messages);

    static const char text[] = "scenario buf\ntask A: ready 1\nspawn A\n";
    err = fopen("/dev/null", "w");
    if (err == NULL || oracle_parse_buffer("buf", text, sizeof text - 1, &scn, err) != 0) {
        fprintf(stderr, "oracle_whitebox: a good buffer did not parse\n");
        failures++;
    }
    if (err != NULL)
        fclose(err);
    expect_text("the parsed buffer's name", scn.name, "buf");

    expect_text("status 1", oracle_status_name(1), "running");
    expect_text("status 99", oracle_status_name(99), "invalid");
    expect_text("status -1", oracle_status_name(-1), "invalid");
    printf("oracle white-box checks: %d failed\n", failures);
    return failures != 0;
}
