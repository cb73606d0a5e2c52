/*
 * Prometheus API parameters read by several handlers (params.c): the shard's,
 * the store API's MetaRequest and the querier's global API.  Thread-safe.
 */
#ifndef TS_WEB_PARAMS_H
#define TS_WEB_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "pkg/labels/matcher.h"

/* `limit` of /api/v1/metadata and /targets/metadata: NULL or "" is -1 (no limit); false when it
 * is not a number (Prometheus: "limit must be a number"). */
bool ts_web_param_limit(const char *limit_s, long *limit);
/* Which lists /api/v1/targets' `state` asks for (NULL, "", any, active, dropped;
 * case-insensitive); false when neither (Prometheus 2.42 then answers two empty lists). */
bool ts_web_param_targets_state(const char *state, bool *active, bool *dropped);
/* `match_target` of /api/v1/targets/metadata (NULL or "": no matchers).  *ms is freed with
 * ts_promql_matchers_free.  Errors: TS_EPARSE with Prometheus' message
 * (`invalid parameter "match_target": ...`) in msg. */
int ts_web_param_match_target(const char *s, ts_matcher ***ms, size_t *nms, char *msg,
                              size_t msgsize);
/* /api/v1/rules' `type` ("", alert or record, case-insensitive) into *out (NULL, "alert",
 * "record"); false with Prometheus' bad_data message in msg otherwise. */
bool ts_web_param_rules_type(const char *type, const char **out, char *msg, size_t msgsize);

#endif
