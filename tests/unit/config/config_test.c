/* Error texts marked (promtool) were read from `promtool check config` of
 * Prometheus 2.42 on the same input; ours add the line and key path. */
#include "pkg/config/config.h"
#include "tests/testutil/t.h"

static int
parse(const char *text, ts_config **c, ts_error *e)
{
    ts_error_clear(e);
    return ts_config_parse(text, strlen(text), "test.yml", c, e);
}

static void
test_defaults(void)
{
    ts_config *c;
    ts_error e;
    T_OK(parse("global:\n"
               "  external_labels:\n"
               "    replica: a\n"
               "    shard: '0'\n"
               "rule_files: ['rules/*.yml']\n"
               "scrape_configs:\n"
               "  - job_name: node\n"
               "    static_configs:\n"
               "      - targets: ['localhost:9100', 'h:1']\n"
               "        labels: {env: prod}\n"
               "  - job_name: fast\n"
               "    scrape_interval: 5s\n"
               "    honor_labels: true\n"
               "    params: {module: [http_2xx]}\n"
               "    basic_auth: {username: u, password: p}\n"
               "    body_size_limit: 10MB\n"
               "    metric_relabel_configs:\n"
               "      - source_labels: [__name__]\n"
               "        regex: 'go_.*'\n"
               "        action: drop\n",
               &c, &e));
    T_EQ(c->scrape_interval_ms, 60000);
    T_EQ(c->scrape_timeout_ms, 10000);
    T_EQ(c->evaluation_interval_ms, 60000);
    T_STREQ(ts_labels_get(c->external_labels, "replica"), "a");
    T_STREQ(ts_labels_get(c->external_labels, "shard"), "0");
    T_EQ(c->rule_files.n, 1);
    T_EQ(c->nscrape, 2);
    ts_scrape_config *s = &c->scrape[0];
    T_STREQ(s->job_name, "node");
    T_STREQ(s->metrics_path, "/metrics");
    T_STREQ(s->scheme, "http");
    T_TRUE(s->honor_timestamps);
    T_FALSE(s->honor_labels);
    T_TRUE(s->http.follow_redirects);
    T_EQ(s->scrape_interval_ms, 60000);
    T_EQ(s->scrape_timeout_ms, 10000);
    T_EQ(s->nstatic, 1);
    T_EQ(s->static_configs[0].targets.n, 2);
    T_STREQ(ts_labels_get(s->static_configs[0].labels, "env"), "prod");
    s = &c->scrape[1];
    T_EQ(s->scrape_interval_ms, 5000);
    T_EQ(s->scrape_timeout_ms, 5000); /* global 10s timeout capped at the job's interval */
    T_TRUE(s->honor_labels);
    T_EQ(s->nparams, 1);
    T_STREQ(s->params[0].name, "module");
    T_STREQ(s->params[0].values.v[0], "http_2xx");
    T_STREQ(s->http.basic_auth_username, "u");
    T_EQ(s->body_size_limit, 10 << 20);
    T_EQ(s->nmetric_relabel, 1);
    T_EQ(s->metric_relabel[0].action, TS_RELABEL_DROP);
    ts_config_free(c);
    /* an empty file is a valid config (promtool agrees) */
    T_OK(parse("", &c, &e));
    T_EQ(c->nscrape, 0);
    ts_config_free(c);
}

static void
test_bearer_becomes_authorization(void)
{
    ts_config *c;
    ts_error e;
    T_OK(parse("scrape_configs:\n  - job_name: a\n    bearer_token: secret\n", &c, &e));
    T_STREQ(c->scrape[0].http.auth_type, "Bearer");
    T_STREQ(c->scrape[0].http.auth_credentials, "secret");
    ts_config_free(c);
}

static const struct {
    const char *yaml;
    int line;
    const char *msg;
} bad[] = {
    /* (promtool) yaml: unmarshal errors: line 5: field foo not found in type config.ScrapeConfig */
    {"global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    foo: bar\n", 5,
     "scrape_configs[0]: field foo not found in type config.ScrapeConfig"},
    /* (promtool) line 1: field globals not found in type config.plain */
    {"globals:\n  scrape_interval: 5s\n", 1, "field globals not found in type config.plain"},
    /* (promtool) not a valid duration string: "15x" */
    {"global:\n  scrape_interval: 15x\n", 2,
     "global.scrape_interval: not a valid duration string: \"15x\""},
    /* (promtool) found multiple scrape configs with job name "a" */
    {"scrape_configs:\n  - job_name: a\n  - job_name: a\n", 3,
     "scrape_configs[1].job_name: found multiple scrape configs with job name \"a\""},
    /* (promtool) global scrape timeout greater than scrape interval */
    {"global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n", 2,
     "global: global scrape timeout greater than scrape interval"},
    /* (promtool) scrape timeout greater than scrape interval for scrape config with job name "a" */
    {"scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n", 2,
     "scrape_configs[0]: scrape timeout greater than scrape interval for scrape config with job "
     "name \"a\""},
    /* (promtool) unknown relabel action "frob" */
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: frob\n", 4,
     "scrape_configs[0].relabel_configs[0].action: unknown relabel action \"frob\""},
    /* (promtool) job_name is empty */
    {"scrape_configs:\n  - static_configs:\n      - targets: ['x:1']\n", 2,
     "scrape_configs[0]: job_name is empty"},
    /* (promtool) "http://x:1" is not a valid hostname */
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://x:1']\n", 4,
     "scrape_configs[0].static_configs[0].targets: \"http://x:1\" is not a valid hostname"},
    /* (promtool) line 3: field job_name already set in type config.ScrapeConfig */
    {"scrape_configs:\n  - job_name: a\n    job_name: b\n", 3,
     "scrape_configs[0]: field job_name already set in type config.ScrapeConfig"},
    /* (promtool) line 3: cannot unmarshal !!str `maybe` into bool */
    {"scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n", 3,
     "scrape_configs[0].honor_labels: cannot unmarshal !!str `maybe` into bool"},
    /* (promtool) line 3: cannot unmarshal !!str `abc` into uint */
    {"scrape_configs:\n  - job_name: a\n    sample_limit: abc\n", 3,
     "scrape_configs[0].sample_limit: cannot unmarshal !!str `abc` into uint"},
    /* (promtool) line 2: cannot unmarshal !!map into []*config.ScrapeConfig */
    {"scrape_configs:\n  job_name: a\n", 2,
     "scrape_configs: cannot unmarshal !!map into []*config.ScrapeConfig"},
    /* (promtool) "1bad" is not a valid label name */
    {"global:\n  external_labels:\n    1bad: x\n", 3,
     "global.external_labels: \"1bad\" is not a valid label name"},
    /* (promtool) units: unknown unit XB in 10XB */
    {"scrape_configs:\n  - job_name: a\n    body_size_limit: 10XB\n", 3,
     "scrape_configs[0].body_size_limit: units: unknown unit XB in 10XB"},
    /* (promtool) path name "x.txt" is not valid for file discovery */
    {"scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['x.txt']\n", 4,
     "scrape_configs[0].file_sd_configs[0]: path name \"x.txt\" is not valid for file discovery"},
    /* (promtool) a port is required in DNS-SD configs for all record types except SRV */
    {"scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: ['x']\n        type: "
     "A\n",
     4,
     "scrape_configs[0].dns_sd_configs[0]: a port is required in DNS-SD configs for all record "
     "types except SRV"},
    /* (promtool) at most one of basic_auth password & password_file must be configured */
    {"scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: p\n"
     "      password_file: f\n",
     4, "scrape_configs[0]: at most one of basic_auth password & password_file must be configured"},
    /* (promtool) authorization is not compatible with bearer_token & bearer_token_file */
    {"scrape_configs:\n  - job_name: a\n    bearer_token: x\n    authorization:\n      "
     "credentials: y\n",
     5, "scrape_configs[0]: authorization is not compatible with bearer_token & bearer_token_file"},
    /* (promtool) relabel configuration for hashmod requires non-zero modulus */
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        "
     "target_label: x\n",
     4,
     "scrape_configs[0].relabel_configs[0]: relabel configuration for hashmod requires non-zero "
     "modulus"},
    /* (promtool) yaml: line 2: did not find expected '-' indicator */
    {"scrape_configs:\n  - job_name: a\n   static_configs: [\n", 3,
     "yaml: line 3: did not find expected '-' indicator"},
};

static void
test_bad_configs(void)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ts_config *c = NULL;
        ts_error e;
        int rc = parse(bad[i].yaml, &c, &e);
        if (rc == 0 || strcmp(e.msg, bad[i].msg) != 0 || e.line != bad[i].line) {
            fprintf(stderr, "  case %zu: rc=%d line=%d msg=\"%s\"\n  want line=%d msg=\"%s\"\n", i,
                    rc, e.line, e.msg, bad[i].line, bad[i].msg);
            t_failed_flag = 1;
        }
        T_TRUE(c == NULL);
    }
}

static void
test_bad_regex(void)
{
    ts_config *c;
    ts_error e;
    T_NE(parse("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: "
               "[a]\n        regex: '(abc'\n        target_label: b\n",
               &c, &e),
         0);
    T_EQ(e.line, 5);
    T_TRUE(strncmp(e.msg,
                   "scrape_configs[0].relabel_configs[0].regex: error parsing regexp:", 65) == 0);
}

static void
test_ugly_input(void)
{
    ts_config *c;
    ts_error e;
    /* NUL byte, deep nesting, alias to unknown anchor, binary garbage: errors, no crash */
    const char nul[] = "global:\n  scrape_interval: 1s\0\n";
    ts_error_clear(&e);
    T_NE(ts_config_parse(nul, sizeof(nul) - 1, "x", &c, &e), 0);
    T_EQ(e.line, 2);
    char deep[400];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    T_NE(parse(deep, &c, &e), 0);
    T_NE(parse("a: *nope\n", &c, &e), 0);
    T_NE(parse("\x01\x02\xff\xfe", &c, &e), 0);
    T_NE(parse("- 1\n- 2\n", &c, &e), 0); /* a list at the top */
    /* anchors and aliases work */
    T_OK(parse("scrape_configs:\n  - job_name: a\n    static_configs: &s\n      - targets: "
               "['x:1']\n  - job_name: b\n    static_configs: *s\n",
               &c, &e));
    T_STREQ(c->scrape[1].static_configs[0].targets.v[0], "x:1");
    ts_config_free(c);
}

static void
test_bytes(void)
{
    int64_t v;
    T_OK(ts_config_parse_bytes("0", &v, NULL));
    T_EQ(v, 0);
    T_OK(ts_config_parse_bytes("512KiB", &v, NULL));
    T_EQ(v, 512 * 1024);
    T_OK(ts_config_parse_bytes("1GB", &v, NULL));
    T_EQ(v, 1LL << 30);
    T_NE(ts_config_parse_bytes("", &v, NULL), 0);
    T_NE(ts_config_parse_bytes("MB", &v, NULL), 0);
    T_NE(ts_config_parse_bytes("99999999999999999999B", &v, NULL), 0);
}

static void
test_expand_env(void)
{
    ts_arena a;
    ts_arena_init(&a, 1024);
    T_OK(setenv("TS_T_POD", "tessera-shard-0-1", 1));
    T_OK(setenv("TS_T_EMPTY", "", 1));
    T_OK(unsetenv("TS_T_UNSET"));
    T_OK(setenv("1", "one", 1)); /* a special one-character name */
    static const struct {
        const char *in, *out;
        size_t nempty;
    } cases[] = {
        {"plain", "plain", 0},
        {"", "", 0},
        {"${TS_T_POD}", "tessera-shard-0-1", 0},
        {"$TS_T_POD", "tessera-shard-0-1", 0},
        {"r-$TS_T_POD-x", "r-tessera-shard-0-1-x", 0}, /* '-' ends a $NAME */
        {"${TS_T_POD}x", "tessera-shard-0-1x", 0},
        {"$TS_T_PODx", "", 1}, /* the name is TS_T_PODx */
        {"${TS_T_UNSET}", "", 1},
        {"a${TS_T_EMPTY}b", "ab", 1},
        {"$TS_T_UNSET$TS_T_EMPTY", "", 2},
        {"$$", "$", 0}, /* escaped dollar */
        {"$${TS_T_POD}", "${TS_T_POD}", 0},
        {"cost $", "cost $", 0}, /* '$' at the end stays */
        {"a $ b", "a $ b", 0},   /* '$' before a non-name stays */
        {"$%", "$%", 0},
        {"x${}y", "xy", 0},              /* bad syntax is dropped */
        {"x${TS_T_POD", "xTS_T_POD", 0}, /* unclosed: "${" is dropped */
        {"$1a", "onea", 0},              /* special names take one character */
        {"${1}", "one", 0},
        {"${TS_T_POD}/${TS_T_POD}", "tessera-shard-0-1/tessera-shard-0-1", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t nempty = 0;
        const char *got = ts_config_expand_env(&a, cases[i].in, &nempty);
        if (strcmp(got, cases[i].out) != 0 || nempty != cases[i].nempty)
            fprintf(stderr, "case %zu: %s -> %s (%zu empty)\n", i, cases[i].in, got, nempty);
        T_STREQ(got, cases[i].out);
        T_EQ(nempty, cases[i].nempty);
    }
    T_OK(unsetenv("1"));
    ts_arena_fini(&a);
}

static void
test_expand_external_labels(void)
{
    ts_config *c;
    ts_error e;
    T_OK(setenv("TS_T_POD", "tessera-shard-1-0", 1));
    T_OK(unsetenv("TS_T_UNSET"));
    const char *yml = "global:\n"
                      "  external_labels:\n"
                      "    replica: ${TS_T_POD}\n"
                      "    shard: '1'\n"
                      "    region: $TS_T_UNSET\n"
                      "    cost: '$$5'\n"
                      "scrape_configs:\n"
                      "  - job_name: node\n"
                      "    static_configs:\n"
                      "      - targets: ['localhost:9100']\n"
                      "        labels: {who: '${TS_T_POD}'}\n";
    T_OK(parse(yml, &c, &e));
    /* without the feature, values are taken literally */
    T_STREQ(ts_labels_get(c->external_labels, "replica"), "${TS_T_POD}");
    T_STREQ(ts_labels_get(c->external_labels, "cost"), "$$5");
    T_EQ(ts_config_expand_external_labels(c), 3);
    T_EQ(ts_labels_len(c->external_labels), 4);
    T_STREQ(ts_labels_get(c->external_labels, "replica"), "tessera-shard-1-0");
    T_STREQ(ts_labels_get(c->external_labels, "shard"), "1");
    T_STREQ(ts_labels_get(c->external_labels, "region"), ""); /* kept empty, as Prometheus */
    T_STREQ(ts_labels_get(c->external_labels, "cost"), "$5");
    /* sorted and hashed like any label set */
    ts_labels *want = ts_labels_from_strings(8, "cost", "$5", "region", "", "replica",
                                             "tessera-shard-1-0", "shard", "1");
    T_TRUE(ts_labels_equal(c->external_labels, want));
    T_EQ(ts_labels_hash(c->external_labels), ts_labels_hash(want));
    ts_labels_free(want);
    /* only external labels are expanded: target labels stay literal */
    T_STREQ(ts_labels_get(c->scrape[0].static_configs[0].labels, "who"), "${TS_T_POD}");
    ts_config_free(c);

    /* no external labels: nothing to do */
    T_OK(parse("scrape_configs: []\n", &c, &e));
    T_EQ(ts_config_expand_external_labels(c), 0);
    T_EQ(ts_labels_len(c->external_labels), 0);
    ts_config_free(c);
}

static void
test_masked_text(void)
{
    ts_config *c;
    ts_error e;
    T_OK(parse("scrape_configs:\n"
               "  - job_name: a\n"
               "    basic_auth: {username: u, password: hunter2}\n"
               "  - job_name: b\n"
               "    bearer_token: 'abc def' # comment stays\n"
               "  - job_name: c\n"
               "    authorization:\n"
               "      credentials: \"x\\\"y\"\n"
               "    relabel_configs: [{target_label: key, replacement: password}]\n",
               &c, &e));
    ts_arena a;
    ts_arena_init(&a, 0);
    const char *m = ts_config_masked_text(c, &a);
    T_TRUE(strstr(m, "hunter2") == NULL);
    T_TRUE(strstr(m, "abc def") == NULL);
    T_TRUE(strstr(m, "x\\\"y") == NULL);
    T_TRUE(strstr(m, "password: <secret>}") != NULL);
    T_TRUE(strstr(m, "bearer_token: <secret> # comment stays") != NULL);
    T_TRUE(strstr(m, "credentials: <secret>\n") != NULL);
    /* values that merely look like secret names are left alone */
    T_TRUE(strstr(m, "target_label: key, replacement: password") != NULL);
    ts_arena_fini(&a);
    ts_config_free(c);
}

T_MAIN({"masked_text", test_masked_text}, {"defaults", test_defaults},
       {"bearer_becomes_authorization", test_bearer_becomes_authorization},
       {"bad_configs", test_bad_configs}, {"bad_regex", test_bad_regex},
       {"ugly_input", test_ugly_input}, {"bytes", test_bytes}, {"expand_env", test_expand_env},
       {"expand_external_labels", test_expand_external_labels})
