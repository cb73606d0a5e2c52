/*
 * Prometheus HTTP API v1 plumbing (see api.h).
 *
 * The reference is Prometheus 2.42's web/api/v1/api.go, checked against a
 * running Debian prometheus 2.42: every text below (error messages, field
 * order, number forms) was compared with its responses.
 *
 * Envelope: {"status":"success","data":<data>[,"warnings":[...]]} or
 * {"status":"error","errorType":"<type>","error":"<msg>"} (Go struct field
 * order status, data, errorType, error, warnings; empty fields omitted), with
 * Content-Type application/json.  A success body is written straight into
 * the response: the prefix first, then the data; if producing the data fails
 * the body is replaced by the error envelope.
 *
 * Times: parsed by pkg/util/gotime.c (Prometheus' parseTime and
 * parseDuration with Go's conversions), which also gives the two ways a time
 * becomes ms: timestamp.FromTime for the series and label endpoints,
 * UnixNano()/1e6 for the engine.  Here only their error texts.
 */
#include "pkg/web/api.h"
#include "pkg/promql/parser/ast.h"
#include "pkg/storage/merge.h"
#include "pkg/util/gotime.h"
#include "pkg/util/mem.h"
#include "pkg/util/time.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct bound {
    struct ts_web_api *api;
    ts_web_handler_fn fn;
} bound;

#define MAX_ROUTES 64

struct ts_web_api {
    ts_web_api_opts o;
    ts_matcher *cors;        /* NULL: any origin ("*") */
    bound bound[MAX_ROUTES]; /* /api/v1 handlers behind the CORS wrapper */
    size_t nbound;
};

/* ------------------------------------------------------------ errors */

static const struct {
    const char *name;
    int status;
} errtypes[] = {
    [TS_WEB_API_ERR_NONE] = {"", 200},
    [TS_WEB_API_ERR_TIMEOUT] = {"timeout", 503},
    [TS_WEB_API_ERR_CANCELED] = {"canceled", 503},
    [TS_WEB_API_ERR_EXEC] = {"execution", 422},
    [TS_WEB_API_ERR_BAD_DATA] = {"bad_data", 400},
    [TS_WEB_API_ERR_INTERNAL] = {"internal", 500},
    /* Prometheus 2.42's respondError has no case for "unavailable": 500 */
    [TS_WEB_API_ERR_UNAVAILABLE] = {"unavailable", 500},
    [TS_WEB_API_ERR_NOT_FOUND] = {"not_found", 404},
};

const char *
ts_web_api_errtype_name(ts_web_api_errtype t)
{
    return (unsigned)t < sizeof errtypes / sizeof errtypes[0] ? errtypes[t].name : "internal";
}

int
ts_web_api_errtype_status(ts_web_api_errtype t)
{
    return (unsigned)t < sizeof errtypes / sizeof errtypes[0] ? errtypes[t].status : 500;
}

ts_web_api_errtype
ts_web_api_errtype_from_code(int code)
{
    switch (code) {
    case TS_ETIMEOUT: return TS_WEB_API_ERR_TIMEOUT;
    case TS_ECANCELED: return TS_WEB_API_ERR_CANCELED;
    case TS_EPARSE: return TS_WEB_API_ERR_BAD_DATA;
    case TS_EINVAL:
    case TS_ELIMIT: return TS_WEB_API_ERR_EXEC;
    default: return TS_WEB_API_ERR_INTERNAL;
    }
}

void
ts_web_api_respond_error(ts_web_resp *w, ts_web_api_errtype t, const char *msg)
{
    ts_buf *b = ts_web_resp_body(w);
    ts_buf_reset(b);
    ts_jsonw j;
    ts_jsonw_init(&j, b);
    ts_jsonw_obj_begin(&j);
    ts_jsonw_key(&j, "status");
    ts_jsonw_str(&j, "error");
    ts_jsonw_key(&j, "errorType");
    ts_jsonw_str(&j, ts_web_api_errtype_name(t));
    ts_jsonw_key(&j, "error");
    ts_jsonw_str(&j, msg);
    ts_jsonw_obj_end(&j);
    ts_web_resp_status(w, ts_web_api_errtype_status(t));
    ts_web_resp_header(w, "Content-Type", "application/json");
}

/* Starts a success envelope; the caller then writes one data value with a
 * fresh writer on the same buffer and calls success_end. */
static void
success_begin(ts_web_resp *w)
{
    ts_buf *b = ts_web_resp_body(w);
    ts_buf_reset(b);
    ts_buf_puts(b, "{\"status\":\"success\",\"data\":");
    ts_web_resp_status(w, 200);
    ts_web_resp_header(w, "Content-Type", "application/json");
}

static int
success_end(ts_web_resp *w, ts_jsonw *data, const char *const *warnings, size_t nwarnings)
{
    if (nwarnings) {
        ts_buf_puts(ts_web_resp_body(w), ",\"warnings\":");
        ts_jsonw ww;
        ts_jsonw_init(&ww, ts_web_resp_body(w));
        ts_jsonw_arr_begin(&ww);
        for (size_t i = 0; i < nwarnings; i++)
            ts_jsonw_str(&ww, warnings[i]);
        ts_jsonw_arr_end(&ww);
        if (ts_jsonw_err(&ww))
            data->err = ts_jsonw_err(&ww);
    }
    int rc = ts_jsonw_err(data);
    if (!rc)
        rc = ts_buf_putc(ts_web_resp_body(w), '}');
    if (rc) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_INTERNAL, "response too large");
        return rc;
    }
    return TS_OK;
}

void
ts_web_api_success_begin(ts_web_resp *w, ts_jsonw *data)
{
    success_begin(w);
    ts_jsonw_init(data, ts_web_resp_body(w));
}

int
ts_web_api_success_end(ts_web_resp *w, ts_jsonw *data, const char *const *warnings, size_t n)
{
    return success_end(w, data, warnings, n);
}

/* ------------------------------------------------------------ Go %q */

void
ts_web_api_goquote(ts_buf *b, const char *s)
{
    /* the PromQL parser's Go quoting (strconv.Quote), so both agree byte for byte */
    size_t n = strlen(s);
    char stack[256];
    size_t need = ts_promql_go_quote(stack, sizeof(stack), s, n);
    if (need < sizeof(stack)) {
        ts_buf_put(b, stack, need);
        return;
    }
    char *big = ts_malloc(need + 1);
    ts_promql_go_quote(big, need + 1, s, n);
    ts_buf_put(b, big, need);
    ts_free(big);
}

/* err->msg = prefix + %q(s) + suffix */
static int
quoted_error(ts_error *err, int code, const char *prefix, const char *s, const char *suffix)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_web_api_goquote(&b, s);
    ts_error_set(err, code, "%s%s%s", prefix, ts_buf_cstr(&b), suffix);
    ts_buf_fini(&b);
    return code;
}

/* ------------------------------------------------------------ numbers and times */

int64_t
ts_web_api_min_time(void)
{
    return ts_gotime_ms(ts_gotime_prom_min());
}

int64_t
ts_web_api_max_time(void)
{
    return ts_gotime_ms(ts_gotime_prom_max());
}

/* Prometheus' parseTime with its error text. */
static int
parse_gotime(const char *s, ts_gotime *t, ts_error *err)
{
    if (ts_gotime_parse_prom_time(s, t) == TS_OK)
        return TS_OK;
    return quoted_error(err, TS_EPARSE, "cannot parse ", s, " to a valid timestamp");
}

int
ts_web_api_parse_time(const char *s, int64_t *ms, ts_error *err)
{
    ts_gotime t;
    int rc = parse_gotime(s, &t, err);
    if (rc == 0)
        *ms = ts_gotime_ms(t);
    return rc;
}

int
ts_web_api_parse_duration(const char *s, int64_t *ns, ts_error *err)
{
    int rc = ts_gotime_parse_prom_duration(s, ns);
    if (rc == -ERANGE)
        return quoted_error(err, TS_EPARSE, "cannot parse ", s,
                            " to a valid duration. It overflows int64");
    if (rc != TS_OK)
        return quoted_error(err, TS_EPARSE, "cannot parse ", s, " to a valid duration");
    return TS_OK;
}

/* ------------------------------------------------------------ results */

static void
write_point(ts_jsonw *w, const ts_sample *s)
{
    ts_jsonw_prom_point(w, s->t, s->v); /* [time, "value"] in one step */
}

void
ts_web_api_write_result(ts_jsonw *w, const ts_web_api_result *r)
{
    static const char *const names[] = {"scalar", "string", "vector", "matrix"};
    ts_jsonw_obj_begin(w);
    ts_jsonw_key(w, "resultType");
    ts_jsonw_str(w, names[r->type]);
    ts_jsonw_key(w, "result");
    switch (r->type) {
    case TS_WEB_API_SCALAR:
    case TS_WEB_API_STRING:
        ts_jsonw_arr_begin(w);
        ts_jsonw_prom_time_float(w, r->t);
        if (r->type == TS_WEB_API_SCALAR)
            ts_jsonw_go_float_str(w, r->v);
        else
            ts_jsonw_str(w, r->str);
        ts_jsonw_arr_end(w);
        break;
    case TS_WEB_API_VECTOR:
    case TS_WEB_API_MATRIX:
        ts_jsonw_arr_begin(w);
        for (size_t i = 0; i < r->nseries; i++) {
            const ts_web_api_series *s = &r->series[i];
            ts_jsonw_obj_begin(w);
            ts_jsonw_key(w, "metric");
            ts_labels_write_json(w, s->labels);
            if (r->type == TS_WEB_API_VECTOR) {
                ts_jsonw_key(w, "value");
                if (s->n)
                    write_point(w, &s->samples[0]);
                else
                    ts_jsonw_null(w);
            } else {
                ts_jsonw_key(w, "values");
                ts_jsonw_arr_begin(w);
                for (size_t k = 0; k < s->n; k++)
                    write_point(w, &s->samples[k]);
                ts_jsonw_arr_end(w);
            }
            ts_jsonw_obj_end(w);
        }
        ts_jsonw_arr_end(w);
        break;
    }
    ts_jsonw_obj_end(w);
}

/* ------------------------------------------------------------ query callback helpers */

int
ts_web_api_query_fail(ts_web_api_query_out *out, ts_web_api_errtype t, const char *fmt, ...)
{
    out->errtype = t;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->err.msg, sizeof out->err.msg, fmt, ap);
    va_end(ap);
    out->err.code = TS_EINVAL;
    return -1;
}

int
ts_web_api_query_fail_code(ts_web_api_query_out *out, int code, const char *msg)
{
    if (code == TS_EPARSE && !out->range)
        return ts_web_api_query_fail(out, TS_WEB_API_ERR_BAD_DATA,
                                     "invalid parameter \"query\": %s", msg);
    return ts_web_api_query_fail(out, ts_web_api_errtype_from_code(code), "%s", msg);
}

void
ts_web_api_query_warn(ts_web_api_query_out *out, const char *msg)
{
    if (out->nwarnings == out->warnings_cap) {
        size_t ncap = out->warnings_cap ? out->warnings_cap * 2 : 4;
        const char **nw = ts_arena_alloc(out->arena, ncap * sizeof *nw);
        if (out->nwarnings)
            memcpy(nw, out->warnings, out->nwarnings * sizeof *nw);
        out->warnings = nw;
        out->warnings_cap = ncap;
    }
    out->warnings[out->nwarnings++] = ts_arena_strdup(out->arena, msg);
}

/* ------------------------------------------------------------ handlers */

/* r.FormValue: "" when absent. */
static const char *
form_value(ts_web_req *r, const char *name)
{
    const char *v = ts_web_req_param(r, name);
    return v ? v : "";
}

static int
bad_param(ts_web_resp *w, const char *param, const char *msg)
{
    char text[TS_ERROR_MSG_MAX + 64];
    snprintf(text, sizeof text, "invalid parameter \"%s\": %s", param, msg);
    ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA, text);
    return 0;
}

/* parseTimeParam: default when empty; errors wrapped with "Invalid time value for 'x'". */
static int
time_param(ts_web_req *r, ts_web_resp *w, const char *name, ts_gotime def, ts_gotime *out)
{
    const char *v = form_value(r, name);
    if (!*v) {
        *out = def;
        return 0;
    }
    ts_error err;
    ts_error_clear(&err);
    if (parse_gotime(v, out, &err) != 0) {
        char msg[TS_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "Invalid time value for '%s': %s", name, err.msg);
        bad_param(w, name, msg);
        return -1;
    }
    return 0;
}

static int64_t
default_now(void)
{
    return ts_now_ms();
}

static int
run_query(ts_web_api *api, ts_web_req *r, ts_web_resp *w, ts_web_api_query_params *p)
{
    const char *to = form_value(r, "timeout");
    if (*to) {
        ts_error err;
        ts_error_clear(&err);
        int64_t ns;
        if (ts_web_api_parse_duration(to, &ns, &err) != 0)
            return bad_param(w, "timeout", err.msg);
        p->timeout_ms = ns / 1000000;
        if (ns <= 0)
            p->timeout_ms = -1; /* a Go context with timeout <= 0 has already expired */
        else if (p->timeout_ms == 0)
            p->timeout_ms = 1;
    }
    p->query = form_value(r, "query");
    p->req = r;
    if (!api->o.query) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_UNAVAILABLE, "query engine not configured");
        return 0;
    }
    success_begin(w);
    ts_jsonw data;
    ts_jsonw_init(&data, ts_web_resp_body(w));
    ts_web_api_query_out out;
    memset(&out, 0, sizeof out);
    out.data = &data;
    out.arena = ts_web_req_arena(r);
    out.range = p->range;
    if (api->o.query(api->o.query_ctx, p, &out) != 0) {
        if (out.errtype == TS_WEB_API_ERR_NONE)
            out.errtype = TS_WEB_API_ERR_INTERNAL;
        ts_web_api_respond_error(w, out.errtype, out.err.msg);
        return 0;
    }
    success_end(w, &data, out.warnings, out.nwarnings);
    return 0;
}

static int
h_query(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    ts_web_api_query_params p;
    memset(&p, 0, sizeof p);
    const char *tv = form_value(r, "time");
    if (*tv) {
        ts_gotime t;
        ts_error err;
        ts_error_clear(&err);
        if (parse_gotime(tv, &t, &err) != 0) {
            char msg[TS_ERROR_MSG_MAX + 64];
            snprintf(msg, sizeof msg, "Invalid time value for 'time': %s", err.msg);
            return bad_param(w, "time", msg);
        }
        p.time_ms = ts_gotime_unix_nano_ms(t);
    } else {
        p.time_ms = api->o.now_ms ? api->o.now_ms() : default_now();
    }
    return run_query(api, r, w, &p);
}

static int
h_query_range(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    ts_web_api_query_params p;
    memset(&p, 0, sizeof p);
    p.range = true;
    ts_gotime start, end;
    ts_error err;
    ts_error_clear(&err);
    if (parse_gotime(form_value(r, "start"), &start, &err) != 0)
        return bad_param(w, "start", err.msg);
    if (parse_gotime(form_value(r, "end"), &end, &err) != 0)
        return bad_param(w, "end", err.msg);
    if (end.sec < start.sec || (end.sec == start.sec && end.nsec < start.nsec))
        return bad_param(w, "end", "end timestamp must not be before start time");
    int64_t step;
    if (ts_web_api_parse_duration(form_value(r, "step"), &step, &err) != 0)
        return bad_param(w, "step", err.msg);
    if (step <= 0)
        return bad_param(w, "step",
                         "zero or negative query resolution step widths are not "
                         "accepted. Try a positive integer");
    /* end.Sub(start) saturates at the largest Duration */
    __int128 span = ((__int128)end.sec - start.sec) * 1000000000 + (end.nsec - start.nsec);
    if (span > INT64_MAX)
        span = INT64_MAX;
    if ((int64_t)span / step > 11000) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA,
                                 "exceeded maximum resolution of 11,000 points per timeseries. Try "
                                 "decreasing the query resolution (?step=XX)");
        return 0;
    }
    p.start_ms = ts_gotime_unix_nano_ms(start);
    p.end_ms = ts_gotime_unix_nano_ms(end);
    p.step_ns = step;
    p.step_ms = step / 1000000;
    return run_query(api, r, w, &p);
}

/* The queryable for this request (per-request options such as dedup=false
 * in the querier), or the fixed one. */
static ts_queryable *
request_queryable(ts_web_api *api, ts_web_req *r)
{
    if (api->o.queryable_for)
        return api->o.queryable_for(api->o.queryable_ctx, r);
    return api->o.queryable;
}

/* Parsed match[] sets. */
typedef struct msets {
    ts_matcher ***sets;
    size_t *lens;
    size_t n;
} msets;

static void
msets_free(ts_web_api *api, msets *m)
{
    for (size_t i = 0; i < m->n; i++)
        api->o.free_matchers(m->sets[i], m->lens[i]);
    ts_free(m->sets);
    ts_free(m->lens);
    m->n = 0;
}

/* parseMatchersParam.  Returns 0, or -1 with the message in err. */
static int
parse_matchers(ts_web_api *api, ts_web_req *r, msets *m, ts_error *err)
{
    const char *const *vals;
    size_t n = ts_web_req_params(r, "match[]", &vals);
    memset(m, 0, sizeof *m);
    if (!n)
        return 0;
    m->sets = ts_calloc(n, sizeof *m->sets);
    m->lens = ts_calloc(n, sizeof *m->lens);
    for (size_t i = 0; i < n; i++) {
        ts_error_clear(err);
        if (api->o.parse_selector(vals[i], strlen(vals[i]), &m->sets[i], &m->lens[i], err) != 0) {
            /* The PromQL parser refuses `{}` itself; Prometheus' metric-selector
             * parser does not, and the API words the check its own way. */
            if (strstr(err->msg, "at least one non-empty matcher"))
                ts_error_set(err, TS_EPARSE, "match[] must contain at least one non-empty matcher");
            msets_free(api, m);
            return -1;
        }
        m->n++;
    }
    for (size_t i = 0; i < m->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < m->lens[i] && !ok; k++)
            ok = !ts_matcher_matches(m->sets[i][k], "");
        if (!ok) {
            ts_error_set(err, TS_EPARSE, "match[] must contain at least one non-empty matcher");
            msets_free(api, m);
            return -1;
        }
    }
    return 0;
}

static int
write_strings(ts_web_resp *w, const char **strs, size_t n, const char *const *warn, size_t nwarn)
{
    success_begin(w);
    ts_jsonw j;
    ts_jsonw_init(&j, ts_web_resp_body(w));
    ts_jsonw_arr_begin(&j);
    for (size_t i = 0; i < n; i++)
        ts_jsonw_str(&j, strs[i]);
    ts_jsonw_arr_end(&j);
    return success_end(w, &j, warn, nwarn);
}

static int
h_series(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    const char *ferr = ts_web_req_form_error(r);
    if (ferr) {
        char msg[TS_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "error parsing form values: %s", ferr);
        ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA, msg);
        return 0;
    }
    const char *const *vals;
    if (ts_web_req_params(r, "match[]", &vals) == 0) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA, "no match[] parameter provided");
        return 0;
    }
    ts_gotime start, end;
    if (time_param(r, w, "start", ts_gotime_prom_min(), &start) ||
        time_param(r, w, "end", ts_gotime_prom_max(), &end))
        return 0;
    ts_error err;
    msets m;
    if (parse_matchers(api, r, &m, &err) != 0)
        return bad_param(w, "match[]", err.msg);
    int64_t mint = ts_gotime_ms(start), maxt = ts_gotime_ms(end);
    ts_querier *q = NULL;
    ts_error_clear(&err);
    ts_queryable *qb = request_queryable(api, r);
    int rc = qb ? ts_queryable_querier(qb, mint, maxt, &q) : TS_EUNSUPPORTED;
    if (rc) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_EXEC, ts_strerror(rc));
        msets_free(api, &m);
        return 0;
    }
    ts_select_hints hints = {.start = mint, .end = maxt, .func = "series", .skip_chunks = true};
    ts_series_set **sets = ts_calloc(m.n, sizeof *sets);
    ts_series_set *set = NULL;
    for (size_t i = 0; i < m.n && rc == 0; i++) {
        /* Always sorted: Prometheus asks for unsorted with one selector, but its
         * TSDB returns series in label order anyway, and clients see that order. */
        rc = q->ops->select(q, true, &hints, m.sets[i], m.lens[i], &sets[i], &err);
    }
    if (rc) {
        for (size_t i = 0; i < m.n; i++)
            ts_ss_free(sets[i]);
        ts_free(sets);
        ts_querier_close(q);
        msets_free(api, &m);
        ts_web_api_respond_error(w, ts_web_api_errtype_from_code(rc),
                                 err.msg[0] ? err.msg : ts_strerror(rc));
        return 0;
    }
    set = m.n > 1 ? ts_merge_series_sets(sets, m.n) : sets[0];
    ts_free(sets);

    success_begin(w);
    ts_jsonw j;
    ts_jsonw_init(&j, ts_web_resp_body(w));
    ts_jsonw_arr_begin(&j);
    while (ts_ss_next(set) && !ts_jsonw_err(&j))
        ts_labels_write_json(&j, ts_ss_at(set)->labels);
    ts_jsonw_arr_end(&j);
    if (set->error.code) {
        ts_web_api_respond_error(w, ts_web_api_errtype_from_code(set->error.code), set->error.msg);
    } else {
        success_end(w, &j, (const char *const *)set->warnings, set->nwarnings);
    }
    ts_ss_free(set);
    ts_querier_close(q);
    msets_free(api, &m);
    return 0;
}

/* labelNames and labelValues share everything but the querier call. */
static int
label_query(ts_web_api *api, ts_web_req *r, ts_web_resp *w, const char *name)
{
    ts_gotime start, end;
    if (time_param(r, w, "start", ts_gotime_prom_min(), &start) ||
        time_param(r, w, "end", ts_gotime_prom_max(), &end))
        return 0;
    ts_error err;
    msets m;
    if (parse_matchers(api, r, &m, &err) != 0) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA, err.msg);
        return 0;
    }
    ts_querier *q = NULL;
    ts_queryable *qb = request_queryable(api, r);
    int rc =
        qb ? ts_queryable_querier(qb, ts_gotime_ms(start), ts_gotime_ms(end), &q) : TS_EUNSUPPORTED;
    if (rc) {
        ts_web_api_respond_error(w, name ? TS_WEB_API_ERR_EXEC : ts_web_api_errtype_from_code(rc),
                                 ts_strerror(rc));
        msets_free(api, &m);
        return 0;
    }
    ts_arena *a = ts_web_req_arena(r);
    const char **all = NULL;
    size_t nall = 0, cap = 0;
    size_t rounds = m.n ? m.n : 1;
    for (size_t i = 0; i < rounds && rc == 0; i++) {
        const char **vals = NULL;
        size_t nv = 0;
        ts_error_clear(&err);
        ts_matcher *const *ms = m.n ? m.sets[i] : NULL;
        size_t nms = m.n ? m.lens[i] : 0;
        if (name)
            rc = q->ops->label_values(q, name, ms, nms, a, &vals, &nv, &err);
        else
            rc = q->ops->label_names(q, ms, nms, a, &vals, &nv, &err);
        if (rc)
            break;
        TS_GROW(all, cap, nall + nv + 1);
        if (nv)
            memcpy(all + nall, vals, nv * sizeof *vals);
        nall += nv;
    }
    ts_querier_close(q);
    msets_free(api, &m);
    if (rc) {
        ts_web_api_respond_error(w, name ? TS_WEB_API_ERR_EXEC : ts_web_api_errtype_from_code(rc),
                                 err.msg[0] ? err.msg : ts_strerror(rc));
        ts_free(all);
        return 0;
    }
    ts_strs_sort_unique(all, &nall);
    write_strings(w, all, nall, NULL, 0);
    ts_free(all);
    return 0;
}

static int
h_labels(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    return label_query(ctx, r, w, NULL);
}

static int
h_label_values(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    /* rest is "<name>/values"; httprouter's :name is one path segment */
    const char *rest = ts_web_req_path_rest(r);
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || strcmp(slash, "/values") != 0)
        return ts_web_resp_text(w, 404, "text/plain; charset=utf-8", "404 page not found\n");
    char *name = ts_arena_strndup(ts_web_req_arena(r), rest, (size_t)(slash - rest));
    if (!ts_label_name_valid(name, strlen(name))) {
        ts_buf b;
        ts_buf_init(&b, 0);
        ts_buf_puts(&b, "invalid label name: ");
        ts_web_api_goquote(&b, name);
        ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA, ts_buf_cstr(&b));
        ts_buf_fini(&b);
        return 0;
    }
    return label_query(ctx, r, w, name);
}

static bool
has_selector(const ts_promql_expr *e)
{
    if (!e)
        return false;
    switch (e->kind) {
    case TS_PROMQL_VECTOR_SELECTOR:
    case TS_PROMQL_MATRIX_SELECTOR: return true;
    case TS_PROMQL_SUBQUERY: return has_selector(e->u.sq.expr);
    case TS_PROMQL_CALL:
        for (size_t i = 0; i < e->u.call.nargs; i++)
            if (has_selector(e->u.call.args[i]))
                return true;
        return false;
    case TS_PROMQL_AGGREGATE: return has_selector(e->u.agg.expr) || has_selector(e->u.agg.param);
    case TS_PROMQL_BINARY: return has_selector(e->u.bin.lhs) || has_selector(e->u.bin.rhs);
    case TS_PROMQL_UNARY: return has_selector(e->u.unary.expr);
    case TS_PROMQL_PAREN: return has_selector(e->u.paren);
    case TS_PROMQL_STEP_INVARIANT: return has_selector(e->u.step_invariant);
    default: return false;
    }
}

/* We keep no exemplars: validate as Prometheus does, then answer [] (or 204
 * for a query without selectors, as Prometheus' nil data does). */
static int
h_query_exemplars(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_gotime start, end;
    if (time_param(r, w, "start", ts_gotime_prom_min(), &start) ||
        time_param(r, w, "end", ts_gotime_prom_max(), &end))
        return 0;
    if (end.sec < start.sec || (end.sec == start.sec && end.nsec < start.nsec)) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA,
                                 "end timestamp must not be before start timestamp");
        return 0;
    }
    const char *q = form_value(r, "query");
    ts_promql_expr *e = NULL;
    ts_error err;
    ts_error_clear(&err);
    if (ts_promql_parse(ts_web_req_arena(r), q, strlen(q), &e, &err) != 0) {
        ts_web_api_respond_error(w, TS_WEB_API_ERR_BAD_DATA, err.msg);
        return 0;
    }
    bool sel = has_selector(e);
    ts_promql_expr_free(e);
    if (!sel) {
        ts_web_resp_status(w, 204);
        ts_buf_reset(ts_web_resp_body(w));
        return 0;
    }
    return write_strings(w, NULL, 0, NULL, 0);
}

/* The expression printed back.  Prometheus uses Pretty(0), which equals
 * String() up to 100 characters; longer expressions are split over lines
 * there, not here. */
static int
h_format_query(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    const char *q = form_value(r, "query");
    ts_promql_expr *e = NULL;
    ts_error err;
    ts_error_clear(&err);
    if (ts_promql_parse(ts_web_req_arena(r), q, strlen(q), &e, &err) != 0)
        return bad_param(w, "query", err.msg);
    const char *text = ts_promql_to_string(ts_web_req_arena(r), e);
    ts_promql_expr_free(e);
    ts_jsonw j;
    ts_web_api_success_begin(w, &j);
    ts_jsonw_str(&j, text);
    return ts_web_api_success_end(w, &j, NULL, 0);
}

static int
h_buildinfo(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    const ts_web_api_buildinfo *b = &api->o.buildinfo;
    success_begin(w);
    ts_jsonw j;
    ts_jsonw_init(&j, ts_web_resp_body(w));
    ts_jsonw_obj_begin(&j);
    static const char *const keys[] = {"version",   "revision",  "branch",
                                       "buildUser", "buildDate", "goVersion"};
    const char *vals[] = {b->version,    b->revision,   b->branch,
                          b->build_user, b->build_date, b->go_version};
    for (size_t i = 0; i < 6; i++) {
        ts_jsonw_key(&j, keys[i]);
        ts_jsonw_str(&j, vals[i] ? vals[i] : "");
    }
    static const char *const xkeys[] = {"application", "component", "tesseraVersion",
                                        "compatibility"};
    const char *xvals[] = {b->application, b->component, b->tessera_version, b->compatibility};
    for (size_t i = 0; i < 4; i++) {
        if (!xvals[i])
            continue;
        ts_jsonw_key(&j, xkeys[i]);
        ts_jsonw_str(&j, xvals[i]);
    }
    ts_jsonw_obj_end(&j);
    return success_end(w, &j, NULL, 0);
}

static int
cmp_flag(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

static int
h_flags(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    size_t n = api->o.nflags / 2;
    const char *const **order = ts_calloc(n ? n : 1, sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = &api->o.flags[2 * i];
    qsort(order, n, sizeof *order, cmp_flag); /* Go marshals maps sorted by key */
    success_begin(w);
    ts_jsonw j;
    ts_jsonw_init(&j, ts_web_resp_body(w));
    ts_jsonw_obj_begin(&j);
    for (size_t i = 0; i < n; i++) {
        ts_jsonw_key(&j, order[i][0]);
        ts_jsonw_str(&j, order[i][1]);
    }
    ts_jsonw_obj_end(&j);
    ts_free(order);
    return success_end(w, &j, NULL, 0);
}

static int
h_runtimeinfo(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    ts_web_api_runtimeinfo ri;
    memset(&ri, 0, sizeof ri);
    if (api->o.runtimeinfo)
        api->o.runtimeinfo(api->o.info_ctx, &ri, ts_web_req_arena(r));
    char t1[48], t2[48];
    ts_gotime_format_rfc3339nano(ri.start_time_ns, t1, sizeof t1);
    ts_gotime_format_rfc3339nano(ri.last_config_time_ns, t2, sizeof t2);
    success_begin(w);
    ts_jsonw j;
    ts_jsonw_init(&j, ts_web_resp_body(w));
    ts_jsonw_obj_begin(&j);
    ts_jsonw_key(&j, "startTime");
    ts_jsonw_str(&j, t1);
    ts_jsonw_key(&j, "CWD");
    ts_jsonw_str(&j, ri.cwd);
    ts_jsonw_key(&j, "reloadConfigSuccess");
    ts_jsonw_bool(&j, ri.reload_config_success);
    ts_jsonw_key(&j, "lastConfigTime");
    ts_jsonw_str(&j, t2);
    ts_jsonw_key(&j, "corruptionCount");
    ts_jsonw_int(&j, ri.corruption_count);
    ts_jsonw_key(&j, "goroutineCount");
    ts_jsonw_int(&j, ri.goroutine_count);
    ts_jsonw_key(&j, "GOMAXPROCS");
    ts_jsonw_int(&j, ri.gomaxprocs);
    ts_jsonw_key(&j, "GOGC");
    ts_jsonw_str(&j, ri.gogc);
    ts_jsonw_key(&j, "GODEBUG");
    ts_jsonw_str(&j, ri.godebug);
    ts_jsonw_key(&j, "storageRetention");
    ts_jsonw_str(&j, ri.storage_retention);
    ts_jsonw_obj_end(&j);
    return success_end(w, &j, NULL, 0);
}

static int
h_config(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    const char *yaml =
        api->o.config_yaml ? api->o.config_yaml(api->o.info_ctx, ts_web_req_arena(r)) : "";
    success_begin(w);
    ts_jsonw j;
    ts_jsonw_init(&j, ts_web_resp_body(w));
    ts_jsonw_obj_begin(&j);
    ts_jsonw_key(&j, "yaml");
    ts_jsonw_str(&j, yaml ? yaml : "");
    ts_jsonw_obj_end(&j);
    return success_end(w, &j, NULL, 0);
}

static int
h_healthy(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    return ts_web_resp_text(w, 200, "text/plain; charset=utf-8", "Prometheus Server is Healthy.\n");
}

static int
h_ready(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    if (api->o.ready && !api->o.ready(api->o.info_ctx))
        return ts_web_resp_text(w, 503, "text/plain; charset=utf-8", "Service Unavailable");
    return ts_web_resp_text(w, 200, "text/plain; charset=utf-8", "Prometheus Server is Ready.\n");
}

static int
lifecycle_check(ts_web_api *api, ts_web_req *r, ts_web_resp *w)
{
    if (strcmp(ts_web_req_method(r), "GET") == 0) {
        ts_web_resp_text(w, 405, "text/plain; charset=utf-8", "Only POST or PUT requests allowed");
        return -1;
    }
    if (!api->o.enable_lifecycle) {
        ts_web_resp_text(w, 403, "text/plain; charset=utf-8", "Lifecycle API is not enabled.");
        return -1;
    }
    return 0;
}

static int
h_reload(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    if (lifecycle_check(api, r, w))
        return 0;
    ts_error err;
    ts_error_clear(&err);
    if (api->o.reload && api->o.reload(api->o.info_ctx, &err) != 0) {
        ts_buf *b = ts_web_resp_body(w);
        ts_buf_reset(b);
        ts_buf_printf(b, "failed to reload config: %s\n", err.msg);
        ts_web_resp_status(w, 500);
        ts_web_resp_header(w, "Content-Type", "text/plain; charset=utf-8");
        ts_web_resp_header(w, "X-Content-Type-Options", "nosniff");
    }
    return 0;
}

static int
h_quit(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    if (lifecycle_check(api, r, w))
        return 0;
    ts_web_resp_text(w, 200, "text/plain; charset=utf-8", "Requesting termination... Goodbye!");
    if (api->o.quit)
        api->o.quit(api->o.info_ctx);
    return 0;
}

/* DELETE /api/v1/series exists in Prometheus only to say this. */
static int
h_drop_series(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api_respond_error(w, TS_WEB_API_ERR_INTERNAL, "not implemented");
    return 0;
}

/* The TSDB admin endpoints, disabled (Prometheus without --web.enable-admin-api). */
static int
h_admin(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api_respond_error(w, TS_WEB_API_ERR_UNAVAILABLE, "admin APIs disabled");
    return 0;
}

/* httputil.SetCORS: only when the request has an Origin header. */
static void
set_cors(ts_web_api *api, ts_web_req *r, ts_web_resp *w)
{
    const char *origin = ts_web_req_header(r, "Origin");
    if (!origin || !*origin)
        return;
    ts_web_resp_header(w, "Access-Control-Allow-Headers",
                       "Accept, Authorization, Content-Type, Origin");
    ts_web_resp_header(w, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    ts_web_resp_header(w, "Access-Control-Expose-Headers", "Date");
    ts_web_resp_header(w, "Vary", "Origin");
    if (!api->cors)
        ts_web_resp_header(w, "Access-Control-Allow-Origin", "*");
    else if (ts_matcher_matches(api->cors, origin))
        ts_web_resp_header(w, "Access-Control-Allow-Origin", origin);
}

/* Prometheus' CompressionHandler: the first of "gzip" or "deflate" (zlib
 * format) listed in Accept-Encoding, matched exactly after trimming. */
static int
pick_encoding(const char *ae)
{
    while (ae && *ae) {
        while (*ae == ' ' || *ae == '\t')
            ae++;
        size_t n = strcspn(ae, ",");
        size_t m = n;
        while (m && (ae[m - 1] == ' ' || ae[m - 1] == '\t'))
            m--;
        if (m == 4 && strncmp(ae, "gzip", 4) == 0)
            return 31; /* zlib windowBits for a gzip wrapper */
        if (m == 7 && strncmp(ae, "deflate", 7) == 0)
            return 15; /* zlib wrapper */
        ae += n;
        if (*ae == ',')
            ae++;
    }
    return 0;
}

/* Replaces the body by its compressed form; returns 0 or TS_ELIMIT. */
static int
compress_body(ts_web_resp *w, int window_bits)
{
    ts_buf *b = ts_web_resp_body(w);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return TS_EIO;
    uLong cap = deflateBound(&z, (uLong)b->len);
    uint8_t *out = ts_malloc(cap);
    z.next_in = b->p;
    z.avail_in = (uInt)b->len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    int rc = TS_EIO;
    if (zr == Z_STREAM_END) {
        ts_buf_reset(b);
        rc = ts_buf_put(b, out, n);
    }
    ts_free(out);
    return rc;
}

static int
api_wrap(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    bound *b = ctx;
    set_cors(b->api, r, w);
    int rc = b->fn(r, w, b->api);
    int wb = pick_encoding(ts_web_req_header(r, "Accept-Encoding"));
    ts_buf *body = ts_web_resp_body(w);
    if (rc || !wb || body->len > UINT32_MAX)
        return rc;
    /* as Go: the header is set up front (even on a 204), and an empty body
     * still becomes a (tiny) compressed stream */
    if (ts_web_resp_get_status(w) != 204 && compress_body(w, wb) != 0)
        return 0; /* answer uncompressed */
    ts_web_resp_header(w, "Content-Encoding", wb == 31 ? "gzip" : "deflate");
    return 0;
}

/* OPTIONS on anything under /api/v1/: 204 (Prometheus' api.options). */
static int
h_options(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_resp_status(w, 204);
    return 0;
}

/* HEAD /-/healthy and /-/ready: Prometheus only writes the status. */
static int
h_head(ts_web_req *r, ts_web_resp *w, void *ctx)
{
    ts_web_api *api = ctx;
    if (strcmp(ts_web_req_path(r), "/-/ready") == 0 && api->o.ready &&
        !api->o.ready(api->o.info_ctx))
        return ts_web_resp_text(w, 503, "text/plain; charset=utf-8", "Service Unavailable");
    ts_web_resp_status(w, 200);
    return 0;
}

/* ------------------------------------------------------------ registration */

int
ts_web_api_register(ts_web_server *s, const ts_web_api_opts *opts, ts_web_api **out)
{
    if (opts->parse_selector && !opts->free_matchers)
        return TS_EINVAL;
    ts_web_api *api = ts_calloc(1, sizeof *api);
    api->o = *opts;
    if (opts->cors_origin && strcmp(opts->cors_origin, ".*") != 0) {
        ts_error err;
        int rc = ts_matcher_new(&api->cors, TS_MATCH_RE, "origin", opts->cors_origin, &err);
        if (rc) {
            ts_free(api);
            return rc;
        }
    }
    if (!api->o.parse_selector) {
        api->o.parse_selector = ts_promql_parse_series_selector;
        api->o.free_matchers = ts_promql_matchers_free;
    }
    static const struct {
        const char *method, *path;
        bool prefix;
        ts_web_handler_fn fn;
    } routes[] = {
        {"GET", "/api/v1/query", false, h_query},
        {"POST", "/api/v1/query", false, h_query},
        {"GET", "/api/v1/query_range", false, h_query_range},
        {"POST", "/api/v1/query_range", false, h_query_range},
        {"GET", "/api/v1/series", false, h_series},
        {"POST", "/api/v1/series", false, h_series},
        {"GET", "/api/v1/labels", false, h_labels},
        {"POST", "/api/v1/labels", false, h_labels},
        {"DELETE", "/api/v1/series", false, h_drop_series},
        {"POST", "/api/v1/admin/tsdb/delete_series", false, h_admin},
        {"PUT", "/api/v1/admin/tsdb/delete_series", false, h_admin},
        {"POST", "/api/v1/admin/tsdb/clean_tombstones", false, h_admin},
        {"PUT", "/api/v1/admin/tsdb/clean_tombstones", false, h_admin},
        {"POST", "/api/v1/admin/tsdb/snapshot", false, h_admin},
        {"PUT", "/api/v1/admin/tsdb/snapshot", false, h_admin},
        {"GET", "/api/v1/label/", true, h_label_values},
        {"GET", "/api/v1/query_exemplars", false, h_query_exemplars},
        {"POST", "/api/v1/query_exemplars", false, h_query_exemplars},
        {"GET", "/api/v1/format_query", false, h_format_query},
        {"POST", "/api/v1/format_query", false, h_format_query},
        {"GET", "/api/v1/status/buildinfo", false, h_buildinfo},
        {"GET", "/api/v1/status/flags", false, h_flags},
        {"GET", "/api/v1/status/runtimeinfo", false, h_runtimeinfo},
        {"GET", "/api/v1/status/config", false, h_config},
        {"GET", "/-/healthy", false, h_healthy},
        {"HEAD", "/-/healthy", false, h_head},
        {"GET", "/-/ready", false, h_ready},
        {"OPTIONS", "/api/v1/", true, h_options},
        {"HEAD", "/-/ready", false, h_head},
        {"GET", "/-/reload", false, h_reload},
        {"POST", "/-/reload", false, h_reload},
        {"PUT", "/-/reload", false, h_reload},
        {"GET", "/-/quit", false, h_quit},
        {"POST", "/-/quit", false, h_quit},
        {"PUT", "/-/quit", false, h_quit},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        ts_web_handler_fn fn = routes[i].fn;
        void *ctx = api;
        if (strncmp(routes[i].path, "/api/v1/", 8) == 0) {
            TS_ASSERT(api->nbound < MAX_ROUTES);
            api->bound[api->nbound] = (bound){api, fn};
            ctx = &api->bound[api->nbound++];
            fn = api_wrap;
        }
        bool health = strncmp(routes[i].path, "/-/healthy", 10) == 0 ||
                      strncmp(routes[i].path, "/-/ready", 8) == 0;
        int rc = health ? ts_web_server_route_inline(s, routes[i].method, routes[i].path, fn, ctx)
                        : ts_web_server_route(s, routes[i].method, routes[i].path, routes[i].prefix,
                                              fn, ctx);
        if (rc) {
            ts_web_api_free(api);
            return rc;
        }
    }
    *out = api;
    return TS_OK;
}

void
ts_web_api_free(ts_web_api *api)
{
    if (!api)
        return;
    ts_matcher_free(api->cors);
    ts_free(api);
}
