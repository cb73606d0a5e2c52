/*
 * Rule files: parsing valid files, every validation error with its message
 * (Prometheus 2.42 / promtool wording) and line, hostile input, rule_files
 * globs, and a cross-check against the real `promtool check rules`.
 */
#include "pkg/rules/rulefmt.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

static const char VALID[] = "groups:\n"
                            "- name: recording\n"
                            "  interval: 30s\n"
                            "  limit: 5\n"
                            "  rules:\n"
                            "  - record: job:up:sum\n"
                            "    expr: sum by (job) (up)\n"
                            "    labels: {team: infra, tier: \"1\"}\n"
                            "  - record: job:up:avg\n"
                            "    expr: |\n"
                            "      avg by (job)\n"
                            "        (up)\n"
                            "- name: alerting\n"
                            "  rules:\n"
                            "  - alert: InstanceDown\n"
                            "    expr: up == 0\n"
                            "    for: 5m\n"
                            "    keep_firing_for: 1m\n"
                            "    labels:\n"
                            "      severity: page\n"
                            "    annotations:\n"
                            "      summary: \"{{ $labels.instance }} down\"\n"
                            "- name: empty\n"
                            "  limit: -3\n";

static void
test_valid(void)
{
    ts_rule_file *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_rule_file_parse(VALID, sizeof(VALID) - 1, "x.yml", &f, &err));
    T_STREQ(f->path, "x.yml");
    T_EQ(f->ngroups, 3);
    T_EQ(ts_rule_file_count(f), 3);

    const ts_rule_group *g = &f->groups[0];
    T_STREQ(g->name, "recording");
    T_EQ(g->interval_ms, 30000);
    T_EQ(g->limit, 5);
    T_EQ(g->nrules, 2);
    T_STREQ(g->rules[0].record, "job:up:sum");
    T_TRUE(g->rules[0].alert == NULL);
    T_STREQ(g->rules[0].expr, "sum by (job) (up)");
    T_EQ(g->rules[0].line, 6);
    T_EQ(ts_labels_len(g->rules[0].labels), 2);
    T_STREQ(ts_labels_get(g->rules[0].labels, "team"), "infra");
    T_STREQ(ts_labels_get(g->rules[0].labels, "tier"), "1");
    T_EQ(ts_labels_len(g->rules[0].annotations), 0);
    T_STREQ(g->rules[1].expr, "avg by (job)\n  (up)\n");
    T_EQ(g->rules[1].line, 9);
    T_EQ(ts_labels_len(g->rules[1].labels), 0);

    g = &f->groups[1];
    T_STREQ(g->name, "alerting");
    T_EQ(g->interval_ms, 0);
    T_EQ(g->limit, 0);
    T_EQ(g->nrules, 1);
    const ts_rule *r = &g->rules[0];
    T_STREQ(r->alert, "InstanceDown");
    T_TRUE(r->record == NULL);
    T_EQ(r->for_ms, 5 * 60 * 1000);
    T_EQ(r->keep_firing_for_ms, 60 * 1000);
    T_STREQ(ts_labels_get(r->labels, "severity"), "page");
    T_STREQ(ts_labels_get(r->annotations, "summary"), "{{ $labels.instance }} down");
    T_EQ(r->line, 15);

    T_STREQ(f->groups[2].name, "empty");
    T_EQ(f->groups[2].nrules, 0);
    T_EQ(f->groups[2].limit, 0); /* negative: no limit, as in Prometheus */
    ts_rule_file_free(f);

    /* empty documents and null groups are valid, empty files */
    const char *empties[] = {"", "groups:\n", "groups: []\n", "# just a comment\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        T_OK(ts_rule_file_parse(empties[i], strlen(empties[i]), NULL, &f, &err));
        T_EQ(ts_rule_file_count(f), 0);
        ts_rule_file_free(f);
    }
    ts_rule_file_free(NULL);
}

/* One bad file: the code class, the full message and the line we report. */
typedef struct bad_case {
    const char *name; /* also the file name for the promtool cross-check */
    const char *yaml;
    int code;
    const char *msg;
    int line;
} bad_case;

static const bad_case BAD[] = {
    {"unknown_rule_key",
     "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    bogus: 1\n", TS_EPARSE,
     "groups[0].rules[0]: field bogus not found in type rulefmt.RuleNode", 6},
    {"unknown_group_key", "groups:\n- name: a\n  foo: 1\n  rules: []\n", TS_EPARSE,
     "groups[0]: field foo not found in type rulefmt.RuleGroup", 3},
    /* Thanos' group key: only the ruler takes it (test_ruler_dialect), as promtool refuses it */
    {"partial_strategy_in_shard",
     "groups:\n- name: a\n  partial_response_strategy: warn\n  rules: []\n", TS_EPARSE,
     "groups[0]: field partial_response_strategy not found in type rulefmt.RuleGroup", 3},
    {"unknown_top_key", "groups: []\nfoo: 1\n", TS_EPARSE,
     "field foo not found in type rulefmt.RuleGroups", 2},
    {"empty_group_name", "groups:\n- name: \"\"\n  rules: []\n", TS_EINVAL,
     "groups[0]: Groupname must not be empty", 2},
    {"missing_group_name", "groups:\n- rules: []\n", TS_EINVAL,
     "groups[0]: Groupname must not be empty", 2},
    {"dup_group", "groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n", TS_EINVAL,
     "groups[1].name: groupname: \"a\" is repeated in the same file", 4},
    {"record_and_alert",
     "groups:\n- name: a\n  rules:\n  - record: x\n    alert: y\n    expr: up\n", TS_EINVAL,
     "groups[0].rules[0].alert: group \"a\", rule 1, \"y\": only one of 'record' and 'alert' must "
     "be set",
     5},
    {"neither", "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n  - expr: up\n",
     TS_EINVAL,
     "groups[0].rules[1]: group \"a\", rule 2, \"\": one of 'record' or 'alert' must be set", 6},
    {"no_expr", "groups:\n- name: a\n  rules:\n  - record: x\n", TS_EINVAL,
     "groups[0].rules[0]: group \"a\", rule 1, \"x\": field 'expr' must be set in rule", 4},
    {"empty_expr", "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: ''\n", TS_EINVAL,
     "groups[0].rules[0].expr: group \"a\", rule 1, \"x\": field 'expr' must be set in rule", 5},
    {"bad_expr", "groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(up\n", TS_EINVAL,
     "groups[0].rules[0].expr: group \"a\", rule 1, \"x\": could not parse expression: 1:7: parse "
     "error: unclosed left parenthesis",
     5},
    {"bad_record_name", "groups:\n- name: a\n  rules:\n  - record: \"1x\"\n    expr: up\n",
     TS_EINVAL,
     "groups[0].rules[0].record: group \"a\", rule 1, \"1x\": invalid recording rule name: 1x", 4},
    {"record_annotations",
     "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    annotations: {a: b}\n",
     TS_EINVAL,
     "groups[0].rules[0].annotations: group \"a\", rule 1, \"x\": invalid field 'annotations' in "
     "recording rule",
     6},
    {"record_for", "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 5m\n",
     TS_EINVAL,
     "groups[0].rules[0].for: group \"a\", rule 1, \"x\": invalid field 'for' in recording rule",
     6},
    {"record_keep_firing_for",
     "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    keep_firing_for: 5m\n",
     TS_EINVAL,
     "groups[0].rules[0].keep_firing_for: group \"a\", rule 1, \"x\": invalid field "
     "'keep_firing_for' in recording rule",
     6},
    {"bad_label_name",
     "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels:\n      ok: 1\n"
     "      1bad: b\n",
     TS_EINVAL, "groups[0].rules[0].labels: group \"a\", rule 1, \"x\": invalid label name: 1bad",
     8},
    {"name_label",
     "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n"
     "    labels: {__name__: b}\n",
     TS_EINVAL,
     "groups[0].rules[0].labels: group \"a\", rule 1, \"x\": invalid label name: __name__", 6},
    {"bad_annotation_name",
     "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {\"a-b\": c}\n",
     TS_EINVAL,
     "groups[0].rules[0].annotations: group \"a\", rule 1, \"x\": invalid annotation name: a-b", 6},
    {"not_a_map", "- a\n- b\n", TS_EPARSE, "cannot unmarshal !!seq into rulefmt.RuleGroups", 1},
    {"scalar_doc", "hello\n", TS_EPARSE, "cannot unmarshal !!str `hello` into rulefmt.RuleGroups",
     1},
    {"group_scalar", "groups:\n- foo\n", TS_EPARSE,
     "groups[0]: cannot unmarshal !!str `foo` into rulefmt.RuleGroup", 2},
    {"groups_map", "groups: {a: b}\n", TS_EPARSE,
     "groups: cannot unmarshal !!map into []rulefmt.RuleGroup", 1},
    {"rules_int", "groups:\n- name: a\n  rules: 5\n", TS_EPARSE,
     "groups[0].rules: cannot unmarshal !!int `5` into []rulefmt.RuleNode", 3},
    {"limit_str", "groups:\n- name: a\n  limit: abc\n  rules: []\n", TS_EPARSE,
     "groups[0].limit: cannot unmarshal !!str `abc` into int", 3},
    {"bad_interval", "groups:\n- name: a\n  interval: 5x\n  rules: []\n", TS_EPARSE,
     "groups[0].interval: not a valid duration string: \"5x\"", 3},
    {"bad_for", "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: soon\n",
     TS_EPARSE, "groups[0].rules[0].for: not a valid duration string: \"soon\"", 6},
    {"label_value_seq",
     "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n"
     "    labels: {a: [1]}\n",
     TS_EPARSE, "groups[0].rules[0].labels: cannot unmarshal !!seq into string", 6},
    {"dup_key", "groups:\n- name: a\n  name: b\n  rules: []\n", TS_EPARSE,
     "groups[0]: mapping key \"name\" already defined at line 2", 3},
    {"dup_label",
     "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    labels:\n"
     "      a: 1\n      a: 2\n",
     TS_EPARSE, "groups[0].rules[0].labels: mapping key \"a\" already defined at line 7", 8},
    {"bad_expr_braces", "groups:\n- name: a\n  rules:\n  - record: x\n    expr: 'foo{'\n",
     TS_EINVAL,
     "groups[0].rules[0].expr: group \"a\", rule 1, \"x\": could not parse expression: 1:5: parse "
     "error: unexpected end of input inside braces",
     5},
    {"bad_expr_type", "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: rate(up)\n", TS_EINVAL,
     "groups[0].rules[0].expr: group \"a\", rule 1, \"x\": could not parse expression: 1:6: parse "
     "error: expected type range vector in call to function \"rate\", got instant vector",
     5},
    {"bad_expr_offset", "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: foo offset -\n",
     TS_EINVAL,
     "groups[0].rules[0].expr: group \"a\", rule 1, \"x\": could not parse expression: 1:13: parse "
     "error: unexpected end of input in offset, expected duration",
     5},
    {"negative_interval", "groups:\n- name: a\n  interval: -5m\n  rules: []\n", TS_EPARSE,
     "groups[0].interval: not a valid duration string: \"-5m\"", 3},
    /* yaml.v3's order: the earliest key with a later twin; repeats before unknown keys */
    {"dup_order",
     "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    labels:\n"
     "      a: 1\n      b: 2\n      b: 3\n      a: 4\n",
     TS_EPARSE, "groups[0].rules[0].labels: mapping key \"a\" already defined at line 7", 10},
    {"dup_before_unknown", "groups:\n- name: a\n  bogus: 1\n  rules: []\n  rules: []\n", TS_EPARSE,
     "groups[0]: mapping key \"rules\" already defined at line 4", 5},
    /* promtool reports every error; we report the first, in promtool's order */
    {"first_of_many",
     "groups:\n- name: ok\n  rules: []\n- name: \"\"\n  rules:\n  - record: x\n    alert: y\n"
     "    expr: up\n",
     TS_EINVAL, "groups[1]: Groupname must not be empty", 4},
};
#define NBAD (sizeof(BAD) / sizeof(BAD[0]))

static void
test_errors(void)
{
    for (size_t i = 0; i < NBAD; i++) {
        const bad_case *c = &BAD[i];
        ts_rule_file *f = (ts_rule_file *)1;
        ts_error err;
        ts_error_clear(&err);
        int rc = ts_rule_file_parse(c->yaml, strlen(c->yaml), c->name, &f, &err);
        if (rc != c->code || strcmp(err.msg, c->msg) != 0 || err.line != c->line)
            fprintf(stderr, "  case %s: rc %d line %d msg \"%s\"\n", c->name, rc, err.line,
                    err.msg);
        T_EQ(rc, c->code);
        T_TRUE(f == NULL);
        T_STREQ(err.msg, c->msg);
        T_EQ(err.line, c->line);
    }
}

/* Things promtool 2.42 accepts that one might expect to fail. */
static void
test_accepted(void)
{
    /* annotation templates are checked against the supported subset (template.h): an
     * unclosed action fails, as promtool fails it */
    static const char tmpl[] = "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    "
                               "annotations: {a: \"{{ .Foo \"}\n";
    ts_rule_file *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(tmpl, sizeof(tmpl) - 1, NULL, &f, &err), TS_EINVAL);
    T_TRUE(strstr(err.msg, "annotation \"a\": template: __alert_x:1: unclosed action") != NULL);
    /* names are any scalar: a number as alert name, an unquoted label value */
    static const char nums[] = "groups:\n- name: 7\n  rules:\n  - alert: 12\n    expr: up\n"
                               "    labels: {a: 1, b: true, c: }\n";
    T_OK(ts_rule_file_parse(nums, sizeof(nums) - 1, NULL, &f, &err));
    T_STREQ(f->groups[0].name, "7");
    T_STREQ(f->groups[0].rules[0].alert, "12");
    T_STREQ(ts_labels_get(f->groups[0].rules[0].labels, "a"), "1");
    T_STREQ(ts_labels_get(f->groups[0].rules[0].labels, "b"), "true");
    ts_rule_file_free(f);
    /* null items in groups and rules are dropped; Go ints in any base; any expression
     * type (strings, scalars, range vectors); alert names are free text */
    static const char misc[] = "groups:\n-\n- name: a\n  limit: 0x10\n  rules:\n  -\n"
                               "  - alert: 'not {a} metric name'\n    expr: '\"str\"'\n"
                               "  - record: r1\n    expr: up[5m]\n"
                               "  - record: r2\n    expr: '1'\n    for: 0s\n"
                               "- name: b\n  limit: 0o17\n"
                               "- name: c\n  limit: 1_000\n"
                               "- name: d\n  limit: 2.9\n";
    T_OK(ts_rule_file_parse(misc, sizeof(misc) - 1, NULL, &f, &err));
    T_EQ(f->ngroups, 4);
    T_EQ(f->groups[0].limit, 16);
    T_EQ(f->groups[3].limit, 2); /* yaml.v3 truncates floats into ints */
    T_EQ(f->groups[0].nrules, 3);
    T_STREQ(f->groups[0].rules[0].alert, "not {a} metric name");
    T_STREQ(f->groups[0].rules[0].expr, "\"str\"");
    T_STREQ(f->groups[0].rules[2].record, "r2");
    T_EQ(f->groups[1].limit, 15);
    T_EQ(f->groups[2].limit, 1000);
    ts_rule_file_free(f);
}

static void
test_ugly(void)
{
    ts_rule_file *f = NULL;
    ts_error err;
    /* a NUL byte in the middle */
    static const char nul[] = "groups:\n- name: a\0b\n  rules: []\n";
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(nul, sizeof(nul) - 1, NULL, &f, &err), TS_EPARSE);
    T_TRUE(f == NULL);
    T_TRUE(strstr(err.msg, "NUL") != NULL);
    /* invalid UTF-8 */
    static const char bad8[] = "groups:\n- name: \xff\xfe\n";
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(bad8, sizeof(bad8) - 1, NULL, &f, &err), TS_EPARSE);
    /* syntax error: the YAML reader's line */
    static const char syn[] = "groups:\n- name: a\n  rules: [\n";
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(syn, sizeof(syn) - 1, NULL, &f, &err), TS_EPARSE);
    T_TRUE(err.line > 0);
    /* deep nesting, in a flow sequence and in block mappings */
    for (int depth = 10; depth <= 100000; depth *= 10) {
        size_t n = (size_t)depth * 2 + 16;
        char *s = ts_malloc(n);
        size_t o = (size_t)sprintf(s, "groups: ");
        for (int i = 0; i < depth; i++)
            s[o++] = '[';
        for (int i = 0; i < depth; i++)
            s[o++] = ']';
        s[o++] = '\n';
        ts_error_clear(&err);
        int rc = ts_rule_file_parse(s, o, NULL, &f, &err);
        ts_free(s);
        T_TRUE(f == NULL);
        if (depth == 10) { /* fine for YAML, wrong for us */
            T_EQ(rc, TS_EPARSE);
            T_STREQ(err.msg, "groups[0]: cannot unmarshal !!seq into rulefmt.RuleGroup");
        } else { /* the YAML reader's depth limit */
            T_EQ(rc, TS_ELIMIT);
            T_TRUE(strstr(err.msg, "nesting too deep") != NULL);
        }
    }
    /* deep block mappings: groups: a: a: a: ... */
    {
        int depth = 500;
        size_t n = (size_t)depth * (size_t)(depth + 8) + 64, o = 0;
        char *s = ts_malloc(n);
        for (int i = 0; i < depth; i++) {
            for (int j = 0; j < i; j++)
                s[o++] = ' ';
            o += (size_t)sprintf(s + o, "%s:\n", i == 0 ? "groups" : "- a");
        }
        ts_error_clear(&err);
        int rc = ts_rule_file_parse(s, o, NULL, &f, &err);
        ts_free(s);
        T_TRUE(f == NULL);
        T_TRUE(rc == TS_ELIMIT || rc == TS_EPARSE);
        T_TRUE(err.msg[0] != '\0');
    }
    /* a very long expression and a rule missing everything but labels */
    static const char odd[] = "groups:\n- name: a\n  rules:\n  - labels: {a: b}\n  - {}\n";
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(odd, sizeof(odd) - 1, NULL, &f, &err), TS_EINVAL);
    T_STREQ(
        err.msg,
        "groups[0].rules[0]: group \"a\", rule 1, \"\": one of 'record' or 'alert' must be set");
    /* a rule that is null or a list */
    static const char nullrule[] = "groups:\n- name: a\n  rules:\n  - [1, 2]\n";
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(nullrule, sizeof(nullrule) - 1, NULL, &f, &err), TS_EPARSE);
    T_STREQ(err.msg, "groups[0].rules[0]: cannot unmarshal !!seq into rulefmt.RuleNode");
    /* a mapping key that is itself a mapping */
    static const char mapkey[] = "groups:\n- ? {a: b}\n  : 1\n";
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(mapkey, sizeof(mapkey) - 1, NULL, &f, &err), TS_EPARSE);
    T_STREQ(err.msg, "groups[0]: cannot unmarshal !!map into string");
}

/* Every truncation of the valid file and every byte of it replaced by a few
 * troublesome characters: each parse either succeeds or fails with a message,
 * never crashes (ASan/UBSan watch the reads). */
static void
test_mutations(void)
{
    const size_t n = sizeof(VALID) - 1;
    static const char repl[] = {'\0', ':', '[', '{', '-', '"', '\'', ' ', '\n', '#', '&', '*', '|'};
    char *buf = ts_malloc(n);
    size_t ok = 0, failed = 0;
    for (size_t i = 0; i <= n; i++) {
        for (size_t r = 0; r <= sizeof(repl); r++) {
            memcpy(buf, VALID, n);
            size_t len = n;
            if (r == sizeof(repl))
                len = i; /* truncation */
            else if (i < n)
                buf[i] = repl[r];
            else
                continue;
            ts_rule_file *f = NULL;
            ts_error err;
            ts_error_clear(&err);
            int rc = ts_rule_file_parse(buf, len, NULL, &f, &err);
            if (rc == 0) {
                T_TRUE(f != NULL);
                (void)ts_rule_file_count(f);
                ts_rule_file_free(f);
                ok++;
            } else {
                T_TRUE(f == NULL);
                T_TRUE(rc < 0 && err.msg[0] != '\0');
                failed++;
            }
        }
    }
    ts_free(buf);
    /* both outcomes occur: the mutations reach the checks, not just the YAML reader */
    T_TRUE(ok > 100);
    T_TRUE(failed > 100);
}

/* Large inputs stay fast (no quadratic checks) and the size limit holds. */
static void
test_large(void)
{
    enum { NG = 100000, NL = 100000 };
    size_t cap = (size_t)NG * 48 + (size_t)NL * 24 + 256, o = 0;
    char *s = ts_malloc(cap);
    o += (size_t)sprintf(s + o, "groups:\n");
    for (int i = 0; i < NG; i++)
        o += (size_t)sprintf(s + o, "- name: g%d\n", i);
    o +=
        (size_t)sprintf(s + o, "- name: big\n  rules:\n  - record: x\n    expr: up\n    labels:\n");
    for (int i = 0; i < NL; i++)
        o += (size_t)sprintf(s + o, "      l%d: v\n", i);
    ts_rule_file *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_rule_file_parse(s, o, NULL, &f, &err));
    T_EQ(f->ngroups, NG + 1);
    T_EQ(ts_labels_len(f->groups[NG].rules[0].labels), NL);
    ts_rule_file_free(f);
    /* the same with one repeated group name at the end */
    o += (size_t)sprintf(s + o, "- name: g77\n");
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(s, o, NULL, &f, &err), TS_EINVAL);
    char want[128];
    snprintf(want, sizeof(want), "groups[%d].name: groupname: \"g77\" is repeated in the same file",
             NG + 1);
    T_STREQ(err.msg, want);
    ts_free(s);

    /* over 64 MiB: refused before parsing */
    size_t big = (64u << 20) + 1;
    s = ts_malloc(big);
    memset(s, ' ', big);
    ts_error_clear(&err);
    T_EQ(ts_rule_file_parse(s, big, NULL, &f, &err), TS_ELIMIT);
    T_TRUE(f == NULL);
    ts_free(s);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    if (!fp) {
        T_FAIL_("cannot create %s", p);
    }
    fputs(text, fp);
    fclose(fp);
}

static void
test_load(void)
{
    const char *dir = t_tmpdir();
    write_file(dir, "ok.yml", VALID);
    char p[1024];
    snprintf(p, sizeof(p), "%s/ok.yml", dir);
    ts_rule_file *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_rule_file_load(p, &f, &err));
    T_EQ(ts_rule_file_count(f), 3);
    T_STREQ(f->path, p);
    ts_rule_file_free(f);
    snprintf(p, sizeof(p), "%s/missing.yml", dir);
    ts_error_clear(&err);
    T_TRUE(ts_rule_file_load(p, &f, &err) < 0);
    T_TRUE(f == NULL);
    T_TRUE(strstr(err.msg, "missing.yml") != NULL);
}

static void
test_paths(void)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", t_tmpdir());
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/rules", dir);
    T_EQ(mkdir(sub, 0755), 0);
    write_file(sub, "b.yml", "groups: []\n");
    write_file(sub, "a.yml", "groups: []\n");
    write_file(sub, ".hidden.yml", "groups: []\n");
    write_file(sub, "c.yaml", "groups: []\n");
    write_file(dir, "top.yml", "groups: []\n");
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);

    /* relative to the config's directory; overlapping globs de-duplicated; sorted */
    char abs_pat[700];
    snprintf(abs_pat, sizeof(abs_pat), "%s/top.yml", dir);
    const char *pats[] = {"rules/*.yml", "rules/a.yml", "nothing/*.yml", abs_pat, "rules/c.y[a]ml"};
    char **out = NULL;
    size_t n = 0;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_rule_paths(cfg, pats, 5, &out, &n, &err));
    T_EQ(n, 5);
    char want[5][700];
    snprintf(want[0], sizeof(want[0]), "%s/.hidden.yml", sub); /* Go's '*' matches dot files */
    snprintf(want[1], sizeof(want[1]), "%s/a.yml", sub);
    snprintf(want[2], sizeof(want[2]), "%s/b.yml", sub);
    snprintf(want[3], sizeof(want[3]), "%s/c.yaml", sub);
    snprintf(want[4], sizeof(want[4]), "%s/top.yml", dir);
    for (size_t i = 0; i < 5 && i < n; i++)
        T_STREQ(out[i], want[i]);
    ts_rule_paths_free(out, n);

    /* each path loads */
    T_OK(ts_rule_paths(cfg, pats, 1, &out, &n, &err));
    for (size_t i = 0; i < n; i++) {
        ts_rule_file *f = NULL;
        T_OK(ts_rule_file_load(out[i], &f, &err));
        ts_rule_file_free(f);
    }
    ts_rule_paths_free(out, n);

    /* nothing matches: an empty list, not an error */
    const char *none[] = {"nope-*.yml"};
    T_OK(ts_rule_paths(cfg, none, 1, &out, &n, &err));
    T_EQ(n, 0);
    ts_rule_paths_free(out, n);

    /* globs outside the last element: Prometheus' config check */
    const char *deep[] = {"rules/a.yml", "r*/a.yml"};
    ts_error_clear(&err);
    out = (char **)1;
    T_EQ(ts_rule_paths(cfg, deep, 2, &out, &n, &err), TS_EINVAL);
    T_STREQ(err.msg, "invalid rule file path \"r*/a.yml\"");
    T_TRUE(out == NULL);
    T_EQ(n, 0);

    /* Go's filepath.Glob syntax errors */
    const char *bad[] = {"rules/[a.yml", "rules/a\\", "rules/[]a.yml", "rules/[z-].yml"};
    for (size_t i = 0; i < 4; i++) {
        ts_error_clear(&err);
        T_EQ(ts_rule_paths(cfg, &bad[i], 1, &out, &n, &err), TS_EINVAL);
        char exp[1024];
        snprintf(exp, sizeof(exp), "error retrieving rule files for %s/%s: syntax error in pattern",
                 dir, bad[i]);
        T_STREQ(err.msg, exp);
    }

    /* NULL config path: relative to the current directory */
    char cwd[512];
    T_TRUE(getcwd(cwd, sizeof(cwd)) != NULL);
    T_EQ(chdir(dir), 0);
    const char *rel[] = {"top.yml"};
    ts_error_clear(&err);
    int rc = ts_rule_paths(NULL, rel, 1, &out, &n, &err);
    char **out2 = NULL;
    size_t n2 = 0;
    int rc2 = ts_rule_paths("prometheus.yml", pats, 2, &out2, &n2, &err);
    T_EQ(chdir(cwd), 0);
    T_OK(rc);
    T_EQ(n, 1);
    if (n == 1)
        T_STREQ(out[0], "top.yml");
    ts_rule_paths_free(out, n);
    /* a config in the working directory: paths as written */
    T_OK(rc2);
    T_EQ(n2, 3);
    if (n2 == 3) {
        T_STREQ(out2[0], "rules/.hidden.yml");
        T_STREQ(out2[2], "rules/b.yml");
    }
    ts_rule_paths_free(out2, n2);
}

/* ------------------------------------------------- promtool cross-check */

/* The first error promtool prints for path, with the "file: ", "L:C: " and
 * "yaml: unmarshal errors:\n  line N: " decorations removed.  Returns false
 * when promtool says SUCCESS or cannot be run. */
static bool
promtool_error(const char *path, char *out, size_t size, int *yaml_line)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "promtool check rules '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    char line[1024];
    bool failed = false, found = false, want_yaml_line = false;
    *yaml_line = 0;
    size_t plen = strlen(path);
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        if (found)
            continue;
        if (strstr(line, "FAILED:")) {
            failed = true;
            continue;
        }
        if (!failed)
            continue;
        const char *s = line;
        if (want_yaml_line) {
            while (*s == ' ')
                s++;
            if (sscanf(s, "line %d:", yaml_line) == 1)
                s = strchr(s, ':') + 2;
            snprintf(out, size, "%s", s);
            found = true;
            continue;
        }
        if (strncmp(s, path, plen) == 0 && s[plen] == ':')
            s += plen + 2;
        if (strcmp(s, "yaml: unmarshal errors:") == 0) {
            want_yaml_line = true;
            continue;
        }
        int a, b, k;
        while (sscanf(s, "%d:%d: %n", &a, &b, &k) == 2 && k > 0)
            s += k;
        snprintf(out, size, "%s", s);
        found = true;
    }
    pclose(p);
    return found;
}

static void
test_promtool(void)
{
    if (system("promtool --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "  promtool not installed: cross-check not run\n");
        return;
    }
    const char *dir = t_tmpdir();
    size_t checked = 0;
    for (size_t i = 0; i < NBAD; i++) {
        const bad_case *c = &BAD[i];
        char name[128];
        snprintf(name, sizeof(name), "%s.yml", c->name);
        write_file(dir, name, c->yaml);
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        char theirs[1024];
        int yaml_line = 0;
        if (!promtool_error(path, theirs, sizeof(theirs), &yaml_line)) {
            fprintf(stderr, "  case %s: promtool did not fail\n", c->name);
            T_TRUE(false);
        }
        ts_rule_file *f = NULL;
        ts_error err;
        ts_error_clear(&err);
        T_TRUE(ts_rule_file_load(path, &f, &err) != 0);
        if (getenv("RULES_VERBOSE"))
            fprintf(stderr, "  %s: promtool line %d \"%s\"\n", c->name, yaml_line, theirs);
        if (!strstr(err.msg, theirs))
            fprintf(stderr, "  case %s: ours \"%s\"\n    promtool \"%s\"\n", c->name, err.msg,
                    theirs);
        T_TRUE(strstr(err.msg, theirs) != NULL);
        if (yaml_line)
            T_EQ(err.line, yaml_line);
        checked++;
    }
    T_EQ(checked, NBAD);
    /* and the valid file passes both */
    write_file(dir, "valid.yml", VALID);
    char path[1024], out[1024];
    snprintf(path, sizeof(path), "%s/valid.yml", dir);
    int yl;
    T_FALSE(promtool_error(path, out, sizeof(out), &yl));
}

/* TS_RULEFMT_RULER: partial_response_strategy per group, Thanos' values in any case, empty
 * or absent is abort; another value fails with its line; other unknown keys still fail. */
static void
test_ruler_dialect(void)
{
    static const char y[] = "groups:\n"
                            "- name: a\n  partial_response_strategy: warn\n  rules: []\n"
                            "- name: b\n  partial_response_strategy: ABORT\n  rules: []\n"
                            "- name: c\n  rules: []\n"
                            "- name: d\n  partial_response_strategy: ''\n  rules: []\n"
                            "- name: e\n  partial_response_strategy: Warn\n  rules: []\n";
    ts_rule_file *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    T_OK(ts_rule_file_parse_ex(y, sizeof(y) - 1, NULL, TS_RULEFMT_RULER, &f, &err));
    T_EQ(f->ngroups, 5);
    T_EQ(f->groups[0].partial_response, TS_RULE_PARTIAL_WARN);
    T_EQ(f->groups[1].partial_response, TS_RULE_PARTIAL_ABORT);
    T_EQ(f->groups[2].partial_response, TS_RULE_PARTIAL_ABORT);
    T_EQ(f->groups[3].partial_response, TS_RULE_PARTIAL_ABORT);
    T_EQ(f->groups[4].partial_response, TS_RULE_PARTIAL_WARN);
    ts_rule_file_free(f);
    /* the same file is refused without the flag (as promtool refuses it) */
    T_EQ(ts_rule_file_parse(y, sizeof(y) - 1, NULL, &f, &err), TS_EPARSE);
    T_STREQ(err.msg, "groups[0]: field partial_response_strategy not found in type "
                     "rulefmt.RuleGroup");
    static const char bad[] = "groups:\n- name: a\n  rules: []\n"
                              "  partial_response_strategy: maybe\n";
    T_EQ(ts_rule_file_parse_ex(bad, sizeof(bad) - 1, NULL, TS_RULEFMT_RULER, &f, &err), TS_EPARSE);
    T_TRUE(f == NULL);
    T_STREQ(err.msg, "groups[0].partial_response_strategy: unknown partial_response_strategy "
                     "\"maybe\" (warn or abort)");
    T_EQ(err.line, 4);
    static const char seq[] = "groups:\n- name: a\n  partial_response_strategy: [warn]\n";
    T_EQ(ts_rule_file_parse_ex(seq, sizeof(seq) - 1, NULL, TS_RULEFMT_RULER, &f, &err), TS_EPARSE);
    T_EQ(err.line, 3);
    static const char other[] = "groups:\n- name: a\n  foo: 1\n";
    T_EQ(ts_rule_file_parse_ex(other, sizeof(other) - 1, NULL, TS_RULEFMT_RULER, &f, &err),
         TS_EPARSE);
    T_STREQ(err.msg, "groups[0]: field foo not found in type rulefmt.RuleGroup");
}

T_MAIN({"valid", test_valid}, {"ruler_dialect", test_ruler_dialect}, {"errors", test_errors},
       {"accepted", test_accepted}, {"ugly", test_ugly}, {"large", test_large},
       {"mutations", test_mutations}, {"load", test_load}, {"paths", test_paths},
       {"promtool", test_promtool})
