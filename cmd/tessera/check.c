/*
 * tessera check config FILE...: validates prometheus.yml files the way
 * `promtool check config` does, with the line and key of each error.
 */
#include "cmd/tessera/cmd.h"
#include "pkg/config/config.h"

#include <stdio.h>
#include <string.h>

static int
check_config(const char *path)
{
    ts_config *c;
    ts_error e;
    ts_error_clear(&e);
    printf("Checking %s\n", path);
    if (ts_config_load(path, &c, &e) != TS_OK) {
        if (e.line)
            printf("  FAILED: %s:%d: %s\n\n", path, e.line, e.msg);
        else
            printf("  FAILED: %s: %s\n\n", path, e.msg);
        return 1;
    }
    printf(" SUCCESS: %s is valid prometheus config file syntax\n\n", path);
    ts_config_free(c);
    return 0;
}

int
ts_cmd_check(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "config") != 0) {
        fprintf(stderr, "usage: tessera check config FILE...\n");
        return 2;
    }
    int failed = 0;
    for (int i = 2; i < argc; i++)
        failed |= check_config(argv[i]);
    return failed;
}
