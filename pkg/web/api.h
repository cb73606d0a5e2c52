/*
 * The Prometheus HTTP API v1 (as Prometheus 2.42 serves it, byte for byte):
 * response envelope, error types and codes, parameter parsing, result
 * encoders, and the endpoints that need only storage and static info.
 *
 *   ts_web_api_opts o = {.queryable = &qb, .query = my_eval, .query_ctx = eng,
 *                        .buildinfo = {...}, .config_yaml = ...};
 *   ts_web_api *api;
 *   ts_web_api_register(srv, &o, &api);   // adds the routes to a ts_web_server
 *   ... serve ...
 *   ts_web_server_free(srv); ts_web_api_free(api);
 *
 * Routes: GET+POST /api/v1/query, /api/v1/query_range, /api/v1/series,
 * /api/v1/labels, /api/v1/query_exemplars (always empty: no exemplar
 * storage), /api/v1/format_query; GET /api/v1/label/<name>/values,
 * /api/v1/status/{buildinfo,flags,runtimeinfo,config}; GET+HEAD /-/healthy,
 * /-/ready; GET+POST+PUT /-/reload, /-/quit; OPTIONS /api/v1/... (204, plus
 * CORS headers as on every /api/v1 answer).  DELETE /api/v1/series and
 * /api/v1/admin/tsdb/{delete_series,clean_tombstones,snapshot} answer as a
 * Prometheus without the admin API does.
 *
 * Every /api/v1 answer gets CORS headers when the request has an Origin, and
 * is compressed (gzip or deflate, the first of them the client lists in
 * Accept-Encoding), as Prometheus does.
 *
 * Query evaluation is pluggable (opts.query): the API parses and validates
 * the parameters exactly as Prometheus does, then calls the callback, which
 * evaluates and writes the result with ts_web_api_write_result (or fails with an
 * error type and message).  The match[] selectors are parsed with
 * ts_promql_parse_series_selector unless opts.parse_selector overrides it.
 *
 * Thread-safety: a ts_web_api is immutable after registration; handlers run
 * concurrently on the server's workers, so the callbacks and the queryable
 * must be thread-safe.
 */
#ifndef TS_WEB_API_H
#define TS_WEB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkg/labels/labels.h"
#include "pkg/labels/matcher.h"
#include "pkg/storage/storage.h"
#include "pkg/util/arena.h"
#include "pkg/util/err.h"
#include "pkg/util/jsonw.h"
#include "pkg/web/server.h"

/* ---- Error types (Prometheus' errorType and HTTP code) */

typedef enum ts_web_api_errtype {
    TS_WEB_API_ERR_NONE = 0,
    TS_WEB_API_ERR_TIMEOUT,     /* "timeout", 503 */
    TS_WEB_API_ERR_CANCELED,    /* "canceled", 503 */
    TS_WEB_API_ERR_EXEC,        /* "execution", 422 */
    TS_WEB_API_ERR_BAD_DATA,    /* "bad_data", 400 */
    TS_WEB_API_ERR_INTERNAL,    /* "internal", 500 */
    TS_WEB_API_ERR_UNAVAILABLE, /* "unavailable", 500 (sic: Prometheus 2.42 maps it to 500) */
    TS_WEB_API_ERR_NOT_FOUND,   /* "not_found", 404 */
} ts_web_api_errtype;

const char *ts_web_api_errtype_name(ts_web_api_errtype t);
int ts_web_api_errtype_status(ts_web_api_errtype t);
/* The error type Prometheus' returnAPIError gives an engine/storage error:
 * TS_ETIMEOUT -> timeout, TS_ECANCELED -> canceled, TS_EPARSE -> bad_data,
 * TS_EINVAL/TS_ELIMIT -> execution, anything else (storage) -> internal. */
ts_web_api_errtype ts_web_api_errtype_from_code(int code);

/* Writes `{"status":"error","errorType":"...","error":"..."}` with the
 * type's HTTP status and Content-Type application/json (replacing whatever
 * the body held). */
void ts_web_api_respond_error(ts_web_resp *w, ts_web_api_errtype t, const char *msg);

/* Success envelope for endpoints added outside this file (targets, rules, ...):
 *   ts_jsonw d; ts_web_api_success_begin(w, &d); <write exactly one value to d>;
 *   ts_web_api_success_end(w, &d, warnings, n);
 * begin sets 200 and application/json; end closes the envelope, or replaces
 * it with an "internal" error when the body limit was hit (returns TS_ELIMIT). */
void ts_web_api_success_begin(ts_web_resp *w, ts_jsonw *data);
int ts_web_api_success_end(ts_web_resp *w, ts_jsonw *data, const char *const *warnings, size_t n);

/* ---- Parameter parsing (texts exactly as Prometheus words them) */

/* Prometheus' parseTime: unix seconds as a float (rounded to ms) or RFC3339
 * (nanosecond fraction, Z or +hh:mm).  Fails with TS_EPARSE and
 * `cannot parse "x" to a valid timestamp` in err. */
int ts_web_api_parse_time(const char *s, int64_t *ms, ts_error *err);
/* Prometheus' parseDuration: float seconds or a Prometheus duration ("5m"),
 * into nanoseconds.  Texts: `cannot parse "x" to a valid duration` and
 * `cannot parse "x" to a valid duration. It overflows int64`. */
int ts_web_api_parse_duration(const char *s, int64_t *ns, ts_error *err);
/* Prometheus' MinTime and MaxTime (defaults of start/end), in ms. */
int64_t ts_web_api_min_time(void);
int64_t ts_web_api_max_time(void);
/* Appends Go's %q form of s (the quoting used in error texts) to b. */
void ts_web_api_goquote(ts_buf *b, const char *s);

/* ---- Results */

/* One series of a result.  Vector: n == 1 (the sample at evaluation time). */
typedef struct ts_web_api_series {
    const ts_labels *labels;
    const ts_sample *samples;
    size_t n;
} ts_web_api_series;

typedef enum ts_web_api_result_type {
    TS_WEB_API_SCALAR = 0,
    TS_WEB_API_STRING,
    TS_WEB_API_VECTOR,
    TS_WEB_API_MATRIX,
} ts_web_api_result_type;

typedef struct ts_web_api_result {
    ts_web_api_result_type type;
    int64_t t;                       /* SCALAR, STRING: evaluation time (ms) */
    double v;                        /* SCALAR */
    const char *str;                 /* STRING */
    const ts_web_api_series *series; /* VECTOR, MATRIX */
    size_t nseries;
} ts_web_api_result;

/* Writes `{"resultType":"vector","result":[...]}` as Prometheus does:
 * scalar [t,"v"] (t float64 seconds, v FormatFloat 'f'), string [t,"s"],
 * vector [{"metric":{...},"value":[t,"v"]}], matrix
 * [{"metric":{...},"values":[[t,"v"],...]}] (sample t and v in
 * marshalTimestamp/marshalValue form). */
void ts_web_api_write_result(ts_jsonw *w, const ts_web_api_result *r);

/* ---- Pluggable query evaluation */

typedef struct ts_web_api_query_params {
    const char *query; /* "" when absent */
    bool range;
    int64_t time_ms;          /* instant query (default: now) */
    int64_t start_ms, end_ms; /* range query */
    int64_t step_ns, step_ms; /* range query (step_ms = step_ns / 1e6, truncated) */
    ts_web_req *req;          /* the request, for extra parameters (dedup, ...) */
    int64_t timeout_ms;       /* 0 = no timeout parameter; < 0 = already expired
                               * (timeout=0 or negative): parse the query, and if it
                               * parses, fail with TS_WEB_API_ERR_TIMEOUT "query timed out
                               * in query execution", as Prometheus does */
} ts_web_api_query_params;

/* What the callback reports back. */
typedef struct ts_web_api_query_out {
    ts_jsonw *data;  /* on success, write exactly one value: use ts_web_api_write_result */
    ts_arena *arena; /* the request's arena */
    bool range;      /* a query_range request (error wording differs) */
    ts_web_api_errtype errtype; /* on failure: set it (or use ts_web_api_query_fail) */
    ts_error err;               /* ... and the message */
    const char **warnings;      /* added with ts_web_api_query_warn (arena copies) */
    size_t nwarnings, warnings_cap;
} ts_web_api_query_out;

/* Returns 0 on success (data written) or non-zero after setting out->errtype
 * and out->err.  Instant-query parse errors say `invalid parameter "query":
 * <msg>` (Prometheus' text); ts_web_api_query_fail_code does that mapping. */
typedef int (*ts_web_api_query_fn)(void *ctx, const ts_web_api_query_params *p,
                                   ts_web_api_query_out *out);

int ts_web_api_query_fail(ts_web_api_query_out *out, ts_web_api_errtype t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps an engine error code and message as Prometheus does: TS_EPARSE ->
 * bad_data, with the `invalid parameter "query": ` prefix for instant
 * queries only (query_range reports NewRangeQuery's error bare); other codes
 * per ts_web_api_errtype_from_code. */
int ts_web_api_query_fail_code(ts_web_api_query_out *out, int code, const char *msg);
void ts_web_api_query_warn(ts_web_api_query_out *out, const char *msg);

/* Parses one match[] selector; *out is a heap array of heap matchers freed
 * with the paired free function.  err->msg in Prometheus' words. */
typedef int (*ts_web_api_parse_selector_fn)(const char *s, size_t n, ts_matcher ***out,
                                            size_t *nout, ts_error *err);
typedef void (*ts_web_api_free_matchers_fn)(ts_matcher **m, size_t n);

/* ---- Static info */

/* Prometheus' six fields (version = the Prometheus API version implemented, e.g. "2.42.0":
 * Grafana picks its features from it), then Tessera's own, each written only when non-NULL:
 * application ("tessera"), component ("shard", "query", "rule"), tessera_version (the
 * product's version), compatibility ("prometheus-2.42").  Never a "features" key: Grafana
 * takes a non-empty one for Mimir. */
typedef struct ts_web_api_buildinfo {
    const char *version, *revision, *branch, *build_user, *build_date, *go_version;
    const char *application, *component, *tessera_version, *compatibility;
} ts_web_api_buildinfo;

typedef struct ts_web_api_runtimeinfo {
    int64_t start_time_ns; /* wall clock, printed RFC3339Nano */
    const char *cwd;
    bool reload_config_success;
    int64_t last_config_time_ns; /* printed RFC3339Nano */
    int64_t corruption_count;
    int64_t goroutine_count; /* we report threads */
    int64_t gomaxprocs;
    const char *gogc, *godebug;
    const char *storage_retention; /* "15d" */
} ts_web_api_runtimeinfo;

typedef struct ts_web_api_opts {
    ts_queryable *queryable; /* series, labels, label values (borrowed) */
    /* Optional: the queryable for one request (e.g. the querier honouring
     * dedup=false or partial_response); may allocate in ts_web_req_arena(r).
     * NULL return: the endpoint fails (execution error, "Operation not supported"
     * text of TS_EUNSUPPORTED). */
    ts_queryable *(*queryable_for)(void *ctx, ts_web_req *r);
    void *queryable_ctx;
    ts_web_api_query_fn query; /* NULL: query endpoints answer "unavailable" */
    void *query_ctx;
    ts_web_api_parse_selector_fn parse_selector; /* NULL: the PromQL parser's */
    ts_web_api_free_matchers_fn free_matchers;
    ts_web_api_buildinfo buildinfo; /* strings borrowed for the API's life */
    const char *const *flags;       /* name, value, name, value, ... (borrowed) */
    size_t nflags;                  /* number of strings (2 per flag) */
    /* Fills *ri (strings may live in arena a); NULL: zeros. */
    void (*runtimeinfo)(void *ctx, ts_web_api_runtimeinfo *ri, ts_arena *a);
    /* Returns the loaded config as YAML (arena or static string). */
    const char *(*config_yaml)(void *ctx, ts_arena *a);
    /* Whether the server is ready (/-/ready 200 vs 503); NULL = always.  Runs
     * on an I/O thread (health checks bypass the workers): must not block. */
    bool (*ready)(void *ctx);
    /* Lifecycle (/-/reload, /-/quit; POST or PUT), only with enable_lifecycle
     * (else 403 "Lifecycle API is not enabled.").  reload returns 0 or fills
     * err (answered 500 "failed to reload config: <msg>"); quit must only
     * start the shutdown (the answer is still sent). */
    bool enable_lifecycle;
    int (*reload)(void *ctx, ts_error *err);
    void (*quit)(void *ctx);
    void *info_ctx;          /* passed to runtimeinfo/config_yaml/ready/reload/quit */
    int64_t (*now_ms)(void); /* default time of instant queries; NULL = wall clock */
    /* --web.cors.origin: anchored regex of allowed Origins; NULL or ".*" = any
     * (answered "*").  CORS headers are only sent when a request has Origin. */
    const char *cors_origin;
} ts_web_api_opts;

typedef struct ts_web_api ts_web_api;

/* Registers the API's routes on s (before ts_web_server_start).  opts is
 * copied (its strings and pointers are borrowed).  Free the API after the
 * server.  Errors: TS_EINVAL (parse_selector without free_matchers, bad
 * cors_origin regex: TS_EPARSE), TS_EEXIST (a route is taken); after a
 * failure the server holds routes to freed memory and must be freed unstarted. */
int ts_web_api_register(ts_web_server *s, const ts_web_api_opts *opts, ts_web_api **out);
void ts_web_api_free(ts_web_api *api);

#endif
