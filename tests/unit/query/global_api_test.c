/* The querier's merges of the stores' API answers (pkg/query/global_api.c):
 * JSON in, the merged JSON out, compared as text. */
#include "pkg/query/global_api.h"
#include "pkg/util/buf.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#define MAXIN 8

/* Parsed inputs; freed by done(). */
static json_t *in[MAXIN];
static size_t nin;

static void
add(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v) {
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
        abort();
    }
    in[nin++] = v;
}

static void
done(void)
{
    for (size_t i = 0; i < nin; i++)
        json_decref(in[i]);
    nin = 0;
}

/* v as the querier writes it (consumes v); a static buffer. */
static const char *
text(json_t *v)
{
    static char out[8192];
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_jsonw j;
    ts_jsonw_init(&j, &b);
    ts_query_global_api_write_json(&j, v);
    json_decref(v);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)b.p);
    ts_buf_fini(&b);
    return out;
}

#define TGT(url, inst, health, last)                                                               \
    "{\"discoveredLabels\":{\"__address__\":\"" inst "\",\"job\":\"node\"},\"labels\":{"           \
    "\"instance\":\"" inst "\",\"job\":\"node\"},\"scrapePool\":\"node\",\"scrapeUrl\":\"" url     \
    "\",\"health\":\"" health "\",\"lastScrape\":\"" last "\",\"lastScrapeDuration\":0.001234}"
#define OWNED(inst, owner)                                                                         \
    "{\"discoveredLabels\":{\"__address__\":\"" inst "\",\"job\":\"node\"},\"dropReason\":"        \
    "\"owned by shard " owner " of 2\"}"
#define RELABELED "{\"discoveredLabels\":{\"__address__\":\"r:9\",\"job\":\"relabeled\"}}"
/* the merged active list of targets_inputs(true) */
#define A_UP TGT("http://a/metrics", "a", "up", "2026-01-01T00:00:01.5Z")
#define B_UP TGT("http://b/metrics", "b", "up", "2026-01-01T00:00:01Z")
#define A_LATEST TGT("http://a/metrics", "a", "up", "2026-01-01T00:00:01.000000001Z")

/* Two replicas of shard 0 (target a; b belongs to shard 1), shard 1 (target b). */
static void
targets_inputs(bool with_shard1)
{
    add("{\"activeTargets\":[" TGT("http://a/metrics", "a", "down",
                                   "2026-01-01T00:00:02Z") "],"
                                                           "\"droppedTargets\":[" OWNED(
                                                               "b", "1") "," RELABELED "]}");
    add("{\"activeTargets\":[" TGT("http://a/metrics", "a", "up",
                                   "2026-01-01T00:00:01.5Z") "],"
                                                             "\"droppedTargets\":[" OWNED(
                                                                 "b", "1") "," RELABELED "]}");
    if (with_shard1)
        add("{\"activeTargets\":[" TGT("http://b/metrics", "b", "up",
                                       "2026-01-01T00:00:01Z") "],"
                                                               "\"droppedTargets\":[" OWNED(
                                                                   "a", "0") "," RELABELED "]}");
}

static void
test_targets_one_per_target_healthiest_copy(void)
{
    targets_inputs(true);
    const char *got = text(ts_query_global_api_merge_targets(in, nin, true, true));
    /* a: the up copy (replica b), although replica a scraped later; b once; dropped: only the
     * relabeled target (a and b are active somewhere), once */
    T_STREQ(got, "{\"activeTargets\":[" A_UP "," B_UP "],\"droppedTargets\":[" RELABELED "]}");
    T_STREQ(text(ts_query_global_api_merge_targets(in, nin, false, true)),
            "{\"activeTargets\":[],\"droppedTargets\":[" RELABELED "]}");
    T_STREQ(text(ts_query_global_api_merge_targets(in, nin, true, false)),
            "{\"activeTargets\":[" A_UP "," B_UP "],\"droppedTargets\":[]}");
    done();
}

static void
test_targets_owner_missing_keeps_dropped(void)
{
    /* shard 1 did not answer: b, dropped in shard 0 as shard 1's, stays so, with its reason */
    targets_inputs(false);
    T_STREQ(text(ts_query_global_api_merge_targets(in, nin, false, true)),
            "{\"activeTargets\":[],\"droppedTargets\":[" OWNED("b", "1") "," RELABELED "]}");
    done();
}

static void
test_targets_same_health_latest_scrape(void)
{
    add("{\"activeTargets\":[" TGT("http://a/metrics", "a", "up", "2026-01-01T00:00:01Z") "]}");
    add("{\"activeTargets\":[" TGT("http://a/metrics", "a", "up",
                                   "2026-01-01T00:00:01.000000001Z") "]}");
    add("{\"activeTargets\":[" TGT("http://a/metrics", "a", "unknown",
                                   "0001-01-01T00:00:00Z") "]}");
    T_STREQ(text(ts_query_global_api_merge_targets(in, nin, true, true)),
            "{\"activeTargets\":[" A_LATEST "],\"droppedTargets\":[]}");
    done();
}

#define DERR(pool, err, at, ok)                                                                    \
    "{\"scrapePool\":\"" pool "\",\"mechanism\":\"kubernetes_sd\",\"role\":\"pod\","               \
    "\"lastError\":\"" err "\",\"lastErrorTime\":\"" at "\"" ok "}"

/* discoveryErrors: one per (pool, mechanism, role, error), the copy that failed last; no key
 * when no store has any (the answer stays Prometheus'). */
static void
test_targets_discovery_errors(void)
{
    add("{\"activeTargets\":[],\"droppedTargets\":[],\"discoveryErrors\":[" DERR(
        "pods", "403 Forbidden: no", "2026-01-01T00:00:02Z",
        ",\"lastSuccessTime\":\"2026-01-01T00:00:00Z\"") "," DERR("b", "x", "2026-01-01T00:00:01Z",
                                                                  "") "]}");
    add("{\"activeTargets\":[],\"droppedTargets\":[],\"discoveryErrors\":[" DERR(
        "pods", "403 Forbidden: no", "2026-01-01T00:00:03Z", "") "]}");
    add("{\"activeTargets\":[],\"droppedTargets\":[]}");
    T_STREQ(text(ts_query_global_api_merge_targets(in, nin, true, true)),
            "{\"activeTargets\":[],\"droppedTargets\":[],\"discoveryErrors\":[" DERR(
                "b", "x", "2026-01-01T00:00:01Z", "") "," DERR("pods", "403 Forbidden: no",
                                                               "2026-01-01T00:00:03Z", "") "]}");
    done();
    add("{\"activeTargets\":[],\"droppedTargets\":[]}");
    add("{\"activeTargets\":[],\"droppedTargets\":[],\"discoveryErrors\":[]}");
    T_STREQ(text(ts_query_global_api_merge_targets(in, nin, true, true)),
            "{\"activeTargets\":[],\"droppedTargets\":[]}");
    done();
}

#define TMD(inst, metric, help)                                                                    \
    "{\"target\":{\"instance\":\"" inst "\"},\"metric\":\"" metric "\",\"type\":\"gauge\","        \
    "\"help\":\"" help "\",\"unit\":\"\"}"

static void
test_targets_metadata_union_and_limit(void)
{
    add("[" TMD("b", "m1", "h") "," TMD("b", "m2", "h") "]");
    add("[" TMD("b", "m1", "h") "," TMD("b", "m2", "h") "," TMD("b", "m3", "h") "]"); /* replica */
    add("[" TMD("a", "m1", "h") "]");
    T_STREQ(text(ts_query_global_api_merge_targets_metadata(in, nin, -1)),
            "[" TMD("a", "m1", "h") "," TMD("b", "m1", "h") "," TMD("b", "m2", "h") "," TMD(
                "b", "m3", "h") "]");
    /* Prometheus' limit: checked before each target (a's one entry, then 1 >= 1) */
    T_STREQ(text(ts_query_global_api_merge_targets_metadata(in, nin, 1)),
            "[" TMD("a", "m1", "h") "]");
    T_STREQ(text(ts_query_global_api_merge_targets_metadata(in, nin, 2)),
            "[" TMD("a", "m1", "h") "," TMD("b", "m1", "h") "," TMD("b", "m2", "h") "," TMD(
                "b", "m3", "h") "]");
    T_STREQ(text(ts_query_global_api_merge_targets_metadata(in, nin, 0)), "[]");
    done();
}

static void
test_metadata_union_sorted_limit(void)
{
    add("{\"b\":[{\"type\":\"gauge\",\"help\":\"x\",\"unit\":\"\"}],"
        "\"a\":[{\"type\":\"counter\",\"help\":\"y\",\"unit\":\"\"}]}");
    add("{\"b\":[{\"type\":\"gauge\",\"help\":\"x\",\"unit\":\"\"},"
        "{\"type\":\"gauge\",\"help\":\"z\",\"unit\":\"\"}]}");
    T_STREQ(text(ts_query_global_api_merge_metadata(in, nin, -1)),
            "{\"a\":[{\"type\":\"counter\",\"help\":\"y\",\"unit\":\"\"}],"
            "\"b\":[{\"type\":\"gauge\",\"help\":\"x\",\"unit\":\"\"},"
            "{\"type\":\"gauge\",\"help\":\"z\",\"unit\":\"\"}]}");
    T_STREQ(text(ts_query_global_api_merge_metadata(in, nin, 1)),
            "{\"a\":[{\"type\":\"counter\",\"help\":\"y\",\"unit\":\"\"}]}");
    done();
}

#define REC(name)                                                                                  \
    "{\"name\":\"" name "\",\"query\":\"up\",\"health\":\"ok\",\"type\":\"recording\"}"
#define GROUP(file, name, last, rules)                                                             \
    "{\"name\":\"" name "\",\"file\":\"" file "\",\"rules\":[" rules "],\"interval\":1,"           \
    "\"lastEvaluation\":\"" last "\"}"

static void
test_rules_once_per_store_identity(void)
{
    const char *shard[] = {"shard shard 0/2", "shard shard 0/2", "shard shard 1/2", "rule shard"};
    add("{\"groups\":[" GROUP("f.yml", "g", "2026-01-01T00:00:01Z", REC("r1") "," REC("r2")) "]}");
    add("{\"groups\":[" GROUP("f.yml", "g", "2026-01-01T00:00:02Z", REC("r1") "," REC("r2")) "]}");
    add("{\"groups\":[" GROUP("f.yml", "g", "2026-01-01T00:00:00Z", REC("r1") "," REC("r2")) "]}");
    add("{\"groups\":[" GROUP("e.yml", "z", "2026-01-01T00:00:00Z", REC("r3")) "]}");
    /* shard 0's copy evaluated last (replica b); shard 1's separately; sorted by file, name,
     * then shard */
    T_STREQ(text(ts_query_global_api_merge_rules(in, shard, nin, NULL)),
            "{\"groups\":[" GROUP("e.yml", "z", "2026-01-01T00:00:00Z", REC("r3")) "," GROUP(
                "f.yml", "g", "2026-01-01T00:00:02Z",
                REC("r1") "," REC("r2")) "," GROUP("f.yml", "g", "2026-01-01T00:00:00Z",
                                                   REC("r1") "," REC("r2")) "]}");
    /* rule_name[] keeps the groups with a rule left, with only those rules */
    const char *names[] = {"r2"};
    ts_query_global_api_rule_filter f = {.names = names, .nnames = 1};
    T_STREQ(text(ts_query_global_api_merge_rules(in, shard, nin, &f)),
            "{\"groups\":[" GROUP("f.yml", "g", "2026-01-01T00:00:02Z", REC("r2")) "," GROUP(
                "f.yml", "g", "2026-01-01T00:00:00Z", REC("r2")) "]}");
    const char *files[] = {"e.yml"};
    f = (ts_query_global_api_rule_filter){.files = files, .nfiles = 1};
    T_STREQ(text(ts_query_global_api_merge_rules(in, shard, nin, &f)),
            "{\"groups\":[" GROUP("e.yml", "z", "2026-01-01T00:00:00Z", REC("r3")) "]}");
    const char *groups[] = {"nosuch"};
    f = (ts_query_global_api_rule_filter){.groups = groups, .ngroups = 1};
    T_STREQ(text(ts_query_global_api_merge_rules(in, shard, nin, &f)), "{\"groups\":[]}");
    done();
}

#define ALERT(name, state, at)                                                                     \
    "{\"labels\":{\"alertname\":\"" name "\"},\"annotations\":{},\"state\":\"" state "\","         \
    "\"activeAt\":\"" at "\",\"value\":\"1e+00\"}"

static void
test_alerts_one_per_label_set(void)
{
    add("{\"alerts\":[" ALERT("B", "pending", "2026-01-01T00:00:00Z") "," ALERT(
        "A", "firing", "2026-01-01T00:00:05Z") "]}");
    add("{\"alerts\":[" ALERT("B", "firing", "2026-01-01T00:00:03Z") "," ALERT(
        "A", "firing", "2026-01-01T00:00:04Z") "]}");
    add("{\"alerts\":[]}");
    /* firing over pending; then the earliest activeAt; sorted by labels */
    T_STREQ(text(ts_query_global_api_merge_alerts(in, nin)),
            "{\"alerts\":[" ALERT("A", "firing", "2026-01-01T00:00:04Z") "," ALERT(
                "B", "firing", "2026-01-01T00:00:03Z") "]}");
    done();
    T_STREQ(text(ts_query_global_api_merge_alerts(in, 0)), "{\"alerts\":[]}");
}

static void
test_write_json_numbers_as_stores_write_them(void)
{
    /* a store writes floats with ts_jsonw_double; parsed and written again, the text is equal */
    const double vals[] = {0.001234, 1.5e-7, 123456789.125, 0, 1e21, 0.1};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        ts_buf b;
        ts_buf_init(&b, 0);
        ts_jsonw j;
        ts_jsonw_init(&j, &b);
        ts_jsonw_arr_begin(&j);
        ts_jsonw_double(&j, vals[i]);
        ts_jsonw_int(&j, -42);
        ts_jsonw_str(&j, "<a&b>\n");
        ts_jsonw_bool(&j, true);
        ts_jsonw_null(&j);
        ts_jsonw_arr_end(&j);
        char want[256];
        snprintf(want, sizeof(want), "%.*s", (int)b.len, (const char *)b.p);
        ts_buf_fini(&b);
        add(want);
        T_STREQ(text(json_incref(in[0])), want);
        done();
    }
}

T_MAIN({"targets_one_per_target_healthiest_copy", test_targets_one_per_target_healthiest_copy},
       {"targets_owner_missing_keeps_dropped", test_targets_owner_missing_keeps_dropped},
       {"targets_same_health_latest_scrape", test_targets_same_health_latest_scrape},
       {"targets_discovery_errors", test_targets_discovery_errors},
       {"targets_metadata_union_and_limit", test_targets_metadata_union_and_limit},
       {"metadata_union_sorted_limit", test_metadata_union_sorted_limit},
       {"rules_once_per_store_identity", test_rules_once_per_store_identity},
       {"alerts_one_per_label_set", test_alerts_one_per_label_set},
       {"write_json_numbers_as_stores_write_them", test_write_json_numbers_as_stores_write_them})
