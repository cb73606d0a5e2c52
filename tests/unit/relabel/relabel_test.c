/* Expected values marked "prometheus 2.42" were read from a real Prometheus
 * 2.42 (/api/v1/targets) run with the same relabel_configs. */
#include "pkg/relabel/relabel.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

static void
set_sources(ts_relabel_config *c, size_t n, const char *const *names)
{
    c->source_labels = ts_malloc(n * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->source_labels[i] = ts_strdup(names[i]);
    c->nsource = n;
    c->source_set = true;
}

static void
set_str(char **field, const char *v)
{
    ts_free(*field);
    *field = ts_strdup(v);
}

/* Runs cfgs over a label set; returns the formatted result or "DROPPED". */
static const char *
run(ts_relabel_config *cfgs, size_t n, ts_labels *in)
{
    static char out[512];
    ts_labels_builder b;
    ts_labels_builder_init(&b, in);
    if (!ts_relabel_process(cfgs, n, &b)) {
        snprintf(out, sizeof(out), "DROPPED");
    } else {
        ts_labels *ls = ts_labels_builder_build(&b, NULL);
        ts_labels_format(ls, out, sizeof(out));
        ts_labels_free(ls);
    }
    ts_labels_builder_fini(&b);
    ts_labels_free(in);
    return out;
}

static void
test_hashmod_matches_prometheus(void)
{
    static const struct {
        const char *addr, *want;
    } cases[] = {{"127.0.0.1:1", "2"}, {"node-a:9100", "5"}, {"example.com:443", "2"}};
    for (size_t i = 0; i < 3; i++) {
        ts_relabel_config c;
        ts_relabel_config_init(&c);
        const char *src[] = {"__address__"};
        set_sources(&c, 1, src);
        c.action = TS_RELABEL_HASHMOD;
        c.modulus = 7;
        set_str(&c.target_label, "shard");
        T_OK(ts_relabel_config_validate(&c, NULL));
        ts_labels_builder b;
        ts_labels *in = ts_labels_from_strings(2, "__address__", cases[i].addr);
        ts_labels_builder_init(&b, in);
        T_TRUE(ts_relabel_process(&c, 1, &b));
        T_STREQ(ts_labels_builder_get(&b, "shard"), cases[i].want); /* prometheus 2.42 */
        ts_labels_builder_fini(&b);
        ts_labels_free(in);
        ts_relabel_config_fini(&c);
    }
}

static void
test_replace_with_template_target(void)
{
    ts_relabel_config c[2];
    ts_relabel_config_init(&c[0]);
    const char *src[] = {"__address__"};
    set_sources(&c[0], 1, src);
    T_OK(ts_relabel_config_set_regex(&c[0], "(.*):(\\d+)", NULL));
    set_str(&c[0].target_label, "port_$2");
    set_str(&c[0].replacement, "${1}x");
    /* labelmap copies job to copy_job */
    ts_relabel_config_init(&c[1]);
    c[1].action = TS_RELABEL_LABELMAP;
    T_OK(ts_relabel_config_set_regex(&c[1], "(job)", NULL));
    set_str(&c[1].replacement, "copy_$1");
    T_OK(ts_relabel_config_validate(&c[0], NULL));
    T_OK(ts_relabel_config_validate(&c[1], NULL));
    const char *got =
        run(c, 2, ts_labels_from_strings(4, "__address__", "node-a:9100", "job", "hm"));
    /* prometheus 2.42: port_9100="node-ax", copy_job="hm" */
    T_STREQ(got,
            "{__address__=\"node-a:9100\", copy_job=\"hm\", job=\"hm\", port_9100=\"node-ax\"}");
    ts_relabel_config_fini(&c[0]);
    ts_relabel_config_fini(&c[1]);
}

static void
test_keep_drop_equal(void)
{
    ts_relabel_config c;
    ts_relabel_config_init(&c);
    const char *src[] = {"a", "b"};
    set_sources(&c, 2, src);
    c.action = TS_RELABEL_KEEP;
    T_OK(ts_relabel_config_set_regex(&c, "x;y", NULL));
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "a", "x", "b", "y")), "{a=\"x\", b=\"y\"}");
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "a", "x", "b", "yy")), "DROPPED");
    c.action = TS_RELABEL_DROP;
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "a", "x", "b", "y")), "DROPPED");
    /* an absent source label joins as "" */
    T_OK(ts_relabel_config_set_regex(&c, "x;", NULL));
    T_STREQ(run(&c, 1, ts_labels_from_strings(2, "a", "x")), "DROPPED");
    ts_relabel_config_fini(&c);

    ts_relabel_config_init(&c);
    const char *src2[] = {"a"};
    set_sources(&c, 1, src2);
    c.action = TS_RELABEL_KEEPEQUAL;
    set_str(&c.target_label, "b");
    T_OK(ts_relabel_config_validate(&c, NULL));
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "a", "1", "b", "1")), "{a=\"1\", b=\"1\"}");
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "a", "1", "b", "2")), "DROPPED");
    c.action = TS_RELABEL_DROPEQUAL;
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "a", "1", "b", "1")), "DROPPED");
    ts_relabel_config_fini(&c);
}

static void
test_replace_empty_deletes_and_nomatch_keeps(void)
{
    ts_relabel_config c;
    ts_relabel_config_init(&c);
    const char *src[] = {"a"};
    set_sources(&c, 1, src);
    set_str(&c.target_label, "t");
    T_OK(ts_relabel_config_set_regex(&c, "(x*)", NULL));
    /* a="" matches (x*): replacement $1 = "" deletes t */
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "b", "1", "t", "old")), "{b=\"1\"}");
    /* no match: untouched */
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "a", "y", "t", "old")), "{a=\"y\", t=\"old\"}");
    ts_relabel_config_fini(&c);
}

static void
test_labeldrop_keep_case(void)
{
    ts_relabel_config c;
    ts_relabel_config_init(&c);
    c.action = TS_RELABEL_LABELDROP;
    T_OK(ts_relabel_config_set_regex(&c, "__meta_.*", NULL));
    T_OK(ts_relabel_config_validate(&c, NULL));
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "__meta_x", "1", "job", "j")), "{job=\"j\"}");
    c.action = TS_RELABEL_LABELKEEP;
    T_STREQ(run(&c, 1, ts_labels_from_strings(4, "__meta_x", "1", "job", "j")), "{__meta_x=\"1\"}");
    ts_relabel_config_fini(&c);

    ts_relabel_config_init(&c);
    const char *src[] = {"a"};
    set_sources(&c, 1, src);
    c.action = TS_RELABEL_UPPERCASE;
    set_str(&c.target_label, "up");
    T_STREQ(run(&c, 1, ts_labels_from_strings(2, "a", "MiXed")), "{a=\"MiXed\", up=\"MIXED\"}");
    c.action = TS_RELABEL_LOWERCASE;
    T_STREQ(run(&c, 1, ts_labels_from_strings(2, "a", "MiXed")), "{a=\"MiXed\", up=\"mixed\"}");
    ts_relabel_config_fini(&c);
}

static void
test_validation_errors(void)
{
    ts_relabel_config c;
    ts_error e;
    ts_relabel_config_init(&c);
    c.action = TS_RELABEL_HASHMOD;
    set_str(&c.target_label, "x");
    T_EQ(ts_relabel_config_validate(&c, &e), TS_EINVAL);
    T_STREQ(e.msg, "relabel configuration for hashmod requires non-zero modulus");
    c.action = TS_RELABEL_REPLACE;
    set_str(&c.target_label, "");
    T_EQ(ts_relabel_config_validate(&c, &e), TS_EINVAL);
    T_STREQ(e.msg, "relabel configuration for replace action requires 'target_label' value");
    set_str(&c.target_label, "1bad");
    T_EQ(ts_relabel_config_validate(&c, &e), TS_EINVAL);
    T_STREQ(e.msg, "\"1bad\" is invalid 'target_label' for replace action");
    c.action = TS_RELABEL_LABELDROP;
    set_str(&c.target_label, "");
    set_str(&c.separator, ",");
    T_EQ(ts_relabel_config_validate(&c, &e), TS_EINVAL);
    T_STREQ(e.msg, "labeldrop action requires only 'regex', and no other fields");
    ts_relabel_action a;
    T_EQ(ts_relabel_action_parse("frobnicate", &a, &e), TS_EINVAL);
    T_STREQ(e.msg, "unknown relabel action \"frobnicate\"");
    T_OK(ts_relabel_action_parse("Replace", &a, NULL));
    T_EQ(a, TS_RELABEL_REPLACE);
    T_EQ(ts_relabel_config_set_regex(&c, "(", &e), TS_EPARSE);
    ts_relabel_config_fini(&c);
}

T_MAIN({"hashmod_matches_prometheus", test_hashmod_matches_prometheus},
       {"replace_with_template_target", test_replace_with_template_target},
       {"keep_drop_equal", test_keep_drop_equal},
       {"replace_empty_deletes_and_nomatch_keeps", test_replace_empty_deletes_and_nomatch_keeps},
       {"labeldrop_keep_case", test_labeldrop_keep_case},
       {"validation_errors", test_validation_errors})
