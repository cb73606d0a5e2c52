/*
 * Parameters of the Prometheus API that more than one handler reads: the
 * shard's handlers (scrape_api.c, rules_api.c), the store API's MetaRequest
 * (cmd/tessera) and the querier's global API (pkg/query/global_api.c) check
 * them the same way and with Prometheus 2.42's error texts.
 */
#include "pkg/web/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkg/promql/parser/ast.h"

bool
ts_web_param_limit(const char *limit_s, long *limit)
{
    *limit = -1;
    if (!limit_s || !limit_s[0])
        return true;
    char *end;
    *limit = strtol(limit_s, &end, 10);
    return *end == 0;
}

bool
ts_web_param_targets_state(const char *state, bool *active, bool *dropped)
{
    bool any = !state || !state[0] || strcasecmp(state, "any") == 0;
    *active = any || strcasecmp(state, "active") == 0;
    *dropped = any || strcasecmp(state, "dropped") == 0;
    return *active || *dropped;
}

/* `{}` with any blanks: Prometheus' metric-selector parser takes it (every target), ours
 * refuses it (no non-empty matcher). */
static bool
is_empty_selector(const char *s)
{
    char seen[3] = {0};
    size_t n = 0;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            continue;
        if (n == 2)
            return false;
        seen[n++] = *s;
    }
    return n == 2 && seen[0] == '{' && seen[1] == '}';
}

int
ts_web_param_match_target(const char *s, ts_matcher ***ms, size_t *nms, char *msg, size_t msgsize)
{
    *ms = NULL;
    *nms = 0;
    if (!s || !s[0])
        return TS_OK;
    ts_error err;
    ts_error_clear(&err);
    if (ts_promql_parse_series_selector(s, strlen(s), ms, nms, &err) != TS_OK) {
        if (is_empty_selector(s))
            return TS_OK;
        snprintf(msg, msgsize, "invalid parameter \"match_target\": %s", err.msg);
        return TS_EPARSE;
    }
    return TS_OK;
}

bool
ts_web_param_rules_type(const char *type, const char **out, char *msg, size_t msgsize)
{
    *out = NULL;
    if (!type || !type[0])
        return true;
    if (strcasecmp(type, "alert") == 0) {
        *out = "alert";
    } else if (strcasecmp(type, "record") == 0) {
        *out = "record";
    } else {
        snprintf(msg, msgsize, "invalid parameter \"type\": not supported value \"%.200s\"", type);
        return false;
    }
    return true;
}
