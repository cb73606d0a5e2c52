/*
 * tessera check config FILE...: validates prometheus.yml files (and the rule
 * files they name) the way `promtool check config` does, with the line and
 * key of each error; tessera check rules FILE... checks rule files alone.
 * With --ruler (first, before the files) both check as `tessera rule` loads:
 * the config may hold only global, rule_files and alerting, and rule groups
 * may carry Thanos' partial_response_strategy (which promtool, and so the
 * plain check, refuses).
 */
#include "cmd/tessera/cmd.h"
#include "pkg/config/config.h"
#include "pkg/rules/rulefmt.h"
#include "pkg/web/webconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Checks one rule file as promtool does ("  SUCCESS: N rules found"). */
static int
check_rules(const char *path, bool ruler)
{
    ts_rule_file *rf;
    ts_error e;
    ts_error_clear(&e);
    printf("Checking %s\n", path);
    if (ts_rule_file_load_ex(path, ruler ? TS_RULEFMT_RULER : 0, &rf, &e) != TS_OK) {
        if (e.line)
            printf("  FAILED:\n%s:%d: %s\n\n", path, e.line, e.msg);
        else
            printf("  FAILED:\n%s: %s\n\n", path, e.msg);
        return 1;
    }
    printf("  SUCCESS: %zu rules found\n\n", ts_rule_file_count(rf));
    ts_rule_file_free(rf);
    return 0;
}

static int
check_config(const char *path, bool ruler)
{
    ts_config *c;
    ts_error e;
    ts_error_clear(&e);
    printf("Checking %s\n", path);
    if ((ruler ? ts_config_load_ruler(path, &c, &e) : ts_config_load(path, &c, &e)) != TS_OK) {
        if (e.line)
            printf("  FAILED: %s:%d: %s\n\n", path, e.line, e.msg);
        else
            printf("  FAILED: %s: %s\n\n", path, e.msg);
        return 1;
    }
    char **rules = NULL;
    size_t nrules = 0;
    if (ts_rule_paths(path, c->rule_files.v, c->rule_files.n, &rules, &nrules, &e) != TS_OK) {
        printf("  FAILED: %s: %s\n\n", path, e.msg);
        ts_config_free(c);
        return 1;
    }
    if (c->rule_files.n)
        printf("  SUCCESS: %zu rule files found\n", nrules);
    printf(" SUCCESS: %s is valid prometheus config file syntax\n\n", path);
    int failed = 0;
    for (size_t i = 0; i < nrules; i++)
        failed |= check_rules(rules[i], ruler);
    ts_rule_paths_free(rules, nrules);
    ts_config_free(c);
    return failed;
}

/* As `promtool check web-config`: "FILE SUCCESS" or "FILE FAILED: why" on stderr. */
static int
check_web_config(const char *path)
{
    ts_web_config *c;
    ts_error e;
    ts_error_clear(&e);
    if (ts_web_config_load(path, &c, &e) != TS_OK) {
        fprintf(stderr, "%s FAILED: %s\n", path, e.msg);
        return 1;
    }
    ts_web_config_free(c);
    fprintf(stderr, "%s SUCCESS\n", path);
    return 0;
}

int
ts_cmd_check(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "web-config") == 0) {
        int failed = 0;
        for (int i = 2; i < argc; i++)
            failed |= check_web_config(argv[i]);
        return failed;
    }
    bool ruler = argc >= 3 && strcmp(argv[2], "--ruler") == 0;
    int first = ruler ? 3 : 2;
    bool config = argc > first && strcmp(argv[1], "config") == 0;
    bool rules = argc > first && strcmp(argv[1], "rules") == 0;
    if (!config && !rules) {
        fprintf(stderr, "usage: tessera check config [--ruler] FILE... | tessera check rules "
                        "[--ruler] FILE... | tessera check web-config FILE...\n");
        return 2;
    }
    int failed = 0;
    for (int i = first; i < argc; i++)
        failed |= config ? check_config(argv[i], ruler) : check_rules(argv[i], ruler);
    return failed;
}
