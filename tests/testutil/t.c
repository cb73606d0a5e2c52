#include "tests/testutil/t.h"
#include "pkg/util/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int t_failed_flag;

static char **tmpdirs;
static size_t ntmpdirs;

static void
cleanup(void)
{
    for (size_t i = 0; i < ntmpdirs; i++) {
        if (!getenv("TS_KEEP_TMP"))
            ts_fs_remove_all(tmpdirs[i]);
        free(tmpdirs[i]);
    }
    free(tmpdirs);
}

const char *
t_tmpdir(void)
{
    static char path[256];
    snprintf(path, sizeof(path), "/tmp/tessera-test-XXXXXX");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    if (ntmpdirs == 0)
        atexit(cleanup);
    tmpdirs = realloc(tmpdirs, (ntmpdirs + 1) * sizeof(char *));
    tmpdirs[ntmpdirs++] = strdup(path);
    return path;
}

const char *
t_src_path(const char *rel)
{
    static char path[4096];
    const char *root = getenv("TS_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
    return path;
}

int
t_run(const t_case *cases, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        t_failed_flag = 0;
        fprintf(stderr, "- %s\n", cases[i].name);
        cases[i].fn();
        if (t_failed_flag) {
            failed++;
            fprintf(stderr, "  FAILED %s\n", cases[i].name);
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int
t_parse_index(const char *s)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > INT_MAX)
        return -1;
    return (int)v;
}
