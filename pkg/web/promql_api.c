/*
 * PromQL engine -> API result adapter (see promql_api.h).  The engine's
 * result lives in the query, so it is encoded before the query is closed.
 */
#include "pkg/web/promql_api.h"
#include "pkg/util/mem.h"

#include <string.h>

static int
write_result(const ts_promql_result *res, ts_web_api_query_out *out)
{
    ts_web_api_result r;
    memset(&r, 0, sizeof r);
    switch (res->type) {
    case TS_PROMQL_VT_SCALAR:
        r.type = TS_WEB_API_SCALAR;
        r.t = res->t;
        r.v = res->scalar;
        break;
    case TS_PROMQL_VT_STRING:
        r.type = TS_WEB_API_STRING;
        r.t = res->t;
        r.str = res->str;
        break;
    case TS_PROMQL_VT_VECTOR: {
        r.type = TS_WEB_API_VECTOR;
        ts_web_api_series *s = ts_arena_alloc(out->arena, (res->nvec ? res->nvec : 1) * sizeof *s);
        ts_sample *smp = ts_arena_alloc(out->arena, (res->nvec ? res->nvec : 1) * sizeof *smp);
        for (size_t i = 0; i < res->nvec; i++) {
            smp[i] = (ts_sample){res->vec[i].t, res->vec[i].v};
            s[i] = (ts_web_api_series){res->vec[i].labels, &smp[i], 1};
        }
        r.series = s;
        r.nseries = res->nvec;
        break;
    }
    case TS_PROMQL_VT_MATRIX: {
        r.type = TS_WEB_API_MATRIX;
        ts_web_api_series *s = ts_arena_alloc(out->arena, (res->nmat ? res->nmat : 1) * sizeof *s);
        for (size_t i = 0; i < res->nmat; i++)
            s[i] = (ts_web_api_series){res->mat[i].labels, res->mat[i].samples, res->mat[i].n};
        r.series = s;
        r.nseries = res->nmat;
        break;
    }
    default: return ts_web_api_query_fail(out, TS_WEB_API_ERR_INTERNAL, "unexpected result type");
    }
    ts_web_api_write_result(out->data, &r);
    for (size_t i = 0; i < res->nwarnings; i++)
        ts_web_api_query_warn(out, res->warnings[i]);
    return 0;
}

int
ts_web_promql_query(void *ctx, const ts_web_api_query_params *p, ts_web_api_query_out *out)
{
    ts_web_promql *wp = ctx;
    ts_error err;
    ts_error_clear(&err);
    if (p->timeout_ms < 0) {
        ts_promql_expr *e = NULL;
        int rc = ts_promql_parse(out->arena, p->query, strlen(p->query), &e, &err);
        ts_promql_expr_free(e);
        if (rc)
            return ts_web_api_query_fail_code(out, rc, err.msg);
        return ts_web_api_query_fail(out, TS_WEB_API_ERR_TIMEOUT,
                                     "query timed out in query execution");
    }
    ts_promql_query *q = NULL;
    int rc;
    if (p->range)
        rc = ts_promql_query_range(wp->engine, wp->queryable, p->query, strlen(p->query),
                                   p->start_ms, p->end_ms, p->step_ms > 0 ? p->step_ms : 1, &q,
                                   &err);
    else
        rc = ts_promql_query_instant(wp->engine, wp->queryable, p->query, strlen(p->query),
                                     p->time_ms, &q, &err);
    if (rc)
        return ts_web_api_query_fail_code(out, rc, err.msg[0] ? err.msg : ts_strerror(rc));
    rc = write_result(ts_promql_query_result(q), out);
    ts_promql_query_close(q);
    return rc;
}
