/*
 * Differential test against the real Prometheus 2.42.
 *
 * Starts Debian's `prometheus` on a free loopback port with an empty TSDB in a temporary
 * directory, then sends queries to its /api/v1/format_query and compares, query by query,
 * with ts_promql_parse + ts_promql_format: the same printed form for valid queries, the same
 * error text for invalid ones.  The queries are a fixed list of tricky cases plus a few
 * thousand generated ones (a seeded random grammar walk with random character mutations, and
 * random token soup), so each run also explores new inputs; a mismatch prints the query.
 *
 * Two known, documented differences are not counted: regex error wording (PCRE2 vs Go's
 * regexp), and long valid queries, which format_query pretty-prints over several lines.
 *
 * Environment: TS_PQ_DIFF_SEED=<n> picks the seed (default fixed, so runs are deterministic;
 * "time" draws a new one), TS_PQ_DIFF_N=<n> the number of generated queries per generator
 * (default 1500).
 */
#include "pkg/promql/parser/ast.h"
#include "pkg/util/mem.h"
#include "tests/testutil/t.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static pid_t prom_pid = -1;
static int prom_port;
static CURL *curl;

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static size_t
collect(char *p, size_t size, size_t n, void *ud)
{
    ts_buf *b = ud;
    ts_buf_put(b, p, size * n);
    return size * n;
}

/* POSTs query to format_query; the response body goes to body (NUL-terminated). */
static int
http_format_query(const char *query, size_t qlen, ts_buf *body)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/format_query", prom_port);
    /* curl_easy_escape takes strlen() when the length is 0: give it a terminated copy */
    char *copy = ts_strndup(query, qlen);
    char *enc = curl_easy_escape(curl, copy, (int)qlen);
    ts_free(copy);
    size_t flen = strlen(enc) + 8;
    char *form = ts_malloc(flen);
    snprintf(form, flen, "query=%s", enc);
    curl_free(enc);
    ts_buf_reset(body);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(curl);
    ts_free(form);
    ts_buf_cstr(body);
    return rc == CURLE_OK ? 0 : -1;
}

static void
stop_prometheus(void)
{
    if (prom_pid > 0) {
        kill(prom_pid, SIGTERM);
        waitpid(prom_pid, NULL, 0);
        prom_pid = -1;
    }
}

static int
start_prometheus(void)
{
    const char *dir = t_tmpdir();
    char cfg[512], data[512], listen[64], cfgarg[600], dataarg[600], logpath[512];
    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(logpath, sizeof(logpath), "%s/prometheus.log", dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return -1;
    fputs("global:\n  scrape_interval: 15s\n", f);
    fclose(f);
    prom_port = free_port();
    if (prom_port <= 0)
        return -1;
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", prom_port);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
    snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
    char *argv[] = {"prometheus", cfgarg, dataarg, listen, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawnp(&prom_pid, "prometheus", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        prom_pid = -1;
        return -1;
    }
    /* wait until it answers (up to 30 s) */
    ts_buf body;
    ts_buf_init(&body, 0);
    for (int i = 0; i < 300; i++) {
        if (http_format_query("1", 1, &body) == 0 && strstr((char *)body.p, "\"success\"")) {
            ts_buf_fini(&body);
            return 0;
        }
        usleep(100 * 1000);
    }
    ts_buf_fini(&body);
    return -1;
}

/* Decodes the JSON string starting at the opening quote s; returns a heap string. */
static char *
json_string(const char *s)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    for (s++; *s && *s != '"'; s++) {
        if (*s != '\\') {
            ts_buf_putc(&b, (uint8_t)*s);
            continue;
        }
        s++;
        switch (*s) {
        case 'n': ts_buf_putc(&b, '\n'); break;
        case 't': ts_buf_putc(&b, '\t'); break;
        case 'r': ts_buf_putc(&b, '\r'); break;
        case 'b': ts_buf_putc(&b, '\b'); break;
        case 'f': ts_buf_putc(&b, '\f'); break;
        case 'u': {
            unsigned v = 0;
            for (int i = 0; i < 4 && s[1]; i++) {
                s++;
                v = v * 16 + (unsigned)(*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
            }
            /* Go's JSON encoder escapes <, >, & and U+2028/9 this way; keep it simple */
            if (v < 0x80) {
                ts_buf_putc(&b, (uint8_t)v);
            } else if (v < 0x800) {
                ts_buf_putc(&b, (uint8_t)(0xC0 | (v >> 6)));
                ts_buf_putc(&b, (uint8_t)(0x80 | (v & 0x3F)));
            } else {
                ts_buf_putc(&b, (uint8_t)(0xE0 | (v >> 12)));
                ts_buf_putc(&b, (uint8_t)(0x80 | ((v >> 6) & 0x3F)));
                ts_buf_putc(&b, (uint8_t)(0x80 | (v & 0x3F)));
            }
            break;
        }
        default: ts_buf_putc(&b, (uint8_t)*s); break;
        }
    }
    ts_buf_putc(&b, 0);
    size_t n;
    return (char *)ts_buf_steal(&b, &n);
}

/* "OK <printed>" or "ERR <message>" from Prometheus' answer. */
static char *
prometheus_answer(const char *q, size_t qlen)
{
    ts_buf body;
    ts_buf_init(&body, 0);
    char *res = NULL;
    if (http_format_query(q, qlen, &body) == 0) {
        const char *js = (const char *)body.p;
        const char *d = strstr(js, "\"data\":\"");
        const char *e = strstr(js, "\"error\":\"");
        char *s = NULL;
        bool ok = strstr(js, "\"status\":\"success\"") != NULL;
        if (ok && d)
            s = json_string(d + 7);
        else if (!ok && e)
            s = json_string(e + 8);
        if (s) {
            const char *prefix = "invalid parameter \"query\": ";
            const char *m = strncmp(s, prefix, strlen(prefix)) == 0 ? s + strlen(prefix) : s;
            size_t n = strlen(m) + 8;
            res = ts_malloc(n);
            snprintf(res, n, "%s %s", ok ? "OK" : "ERR", m);
            ts_free(s);
        }
    }
    ts_buf_fini(&body);
    return res;
}

static char *
our_answer(const char *q, size_t qlen)
{
    ts_arena a;
    ts_arena_init(&a, 0);
    ts_promql_expr *e;
    ts_error err;
    char *res;
    if (ts_promql_parse(&a, q, qlen, &e, &err) == 0) {
        char *s = ts_promql_to_string(&a, e);
        size_t n = strlen(s) + 8;
        res = ts_malloc(n);
        snprintf(res, n, "OK %s", s);
        ts_promql_expr_free(e);
    } else {
        size_t n = strlen(err.msg) + 8;
        res = ts_malloc(n);
        snprintf(res, n, "ERR %s", err.msg);
    }
    ts_arena_fini(&a);
    return res;
}

/* ---- query generators -------------------------------------------------------------------- */

static uint64_t rng;

static unsigned
rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

#define PICK(arr) (arr)[rnd(sizeof(arr) / sizeof((arr)[0]))]

static const char *names[] = {"x", "y", "foo:bar", "sum", "by", "offset", "and", "start", "Inf"};
static const char *fns[] = {"rate",
                            "abs",
                            "round",
                            "label_join",
                            "time",
                            "vector",
                            "scalar",
                            "histogram_quantile",
                            "clamp",
                            "hour",
                            "foo",
                            "absent_over_time",
                            "holt_winters",
                            "label_replace",
                            "count_over_time",
                            "pi"};
static const char *aggs[] = {"sum", "topk", "count_values", "quantile", "avg", "group"};
static const char *ops[] = {
    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless", "atan2"};
static const char *mods[] = {"",
                             "",
                             "",
                             " bool",
                             " on(a)",
                             " ignoring(b)",
                             " on(a) group_left(c)",
                             " ignoring(a) group_right",
                             " on() group_left",
                             " bool on(a)"};
static const char *durs[] = {"5m", "1h", "30s", "1d", "0s", "1h30m", "10ms", "1y", "2w"};
static const char *nums[] = {"1", "0.5", "2", "1e3", "0x10", "Inf", "NaN", "-1", "017", ".5"};
static const char *strs[] = {"\"a\"", "'b'", "`c`", "\"l\"", "\"$1\"", "\"\\n\""};
static const char *lnames[] = {"a", "job", "__name__", "b"};
static const char *mops[] = {"=", "!=", "=~", "!~"};
static const char *mvals[] = {"\"x\"",          "\"\"",  "\".*\"", "\".+\"",        "'y'",
                              "\"\\u00e9\\n\"", "`a|b`", "'\\''",  "\"\\x41\\101\""};

static void
gen_selector(ts_buf *b)
{
    unsigned r = rnd(10);
    if (r < 3) {
        ts_buf_puts(b, PICK(names));
        return;
    }
    if (r < 7)
        ts_buf_puts(b, PICK(names));
    ts_buf_putc(b, '{');
    unsigned n = rnd(4);
    for (unsigned i = 0; i < n; i++) {
        if (i)
            ts_buf_puts(b, rnd(2) ? "," : ", ");
        ts_buf_printf(b, "%s%s%s", PICK(lnames), PICK(mops), PICK(mvals));
    }
    if (n && rnd(3) == 0)
        ts_buf_putc(b, ',');
    ts_buf_putc(b, '}');
}

static void
gen_expr(ts_buf *b, int d)
{
    unsigned r = rnd(100);
    if (d > 3 || r < 25) {
        unsigned c = rnd(10);
        if (c < 5)
            gen_selector(b);
        else if (c < 8)
            ts_buf_puts(b, PICK(nums));
        else
            ts_buf_puts(b, PICK(strs));
    } else if (r < 45) {
        gen_expr(b, d + 1);
        ts_buf_printf(b, " %s%s ", PICK(ops), PICK(mods));
        gen_expr(b, d + 1);
    } else if (r < 60) {
        ts_buf_printf(b, "%s(", PICK(fns));
        unsigned n = rnd(4);
        for (unsigned i = 0; i < n; i++) {
            if (i)
                ts_buf_puts(b, ", ");
            gen_expr(b, d + 1);
        }
        ts_buf_putc(b, ')');
    } else if (r < 72) {
        static const char *amods[] = {"",         "",
                                      " by (a)",  " without (a, b)",
                                      " by ()",   " by (on, bool, sum)",
                                      " BY (a,)", "\nwithout(le)"};
        const char *m = PICK(amods);
        bool before = rnd(2);
        ts_buf_printf(b, "%s%s(", PICK(aggs), before ? m : "");
        unsigned n = 1 + rnd(2);
        for (unsigned i = 0; i < n; i++) {
            if (i)
                ts_buf_puts(b, ", ");
            gen_expr(b, d + 1);
        }
        ts_buf_printf(b, ")%s", before ? "" : m);
    } else if (r < 80) {
        static const char *un[] = {"-", "+", "- "};
        ts_buf_puts(b, PICK(un));
        gen_expr(b, d + 1);
    } else if (r < 88) {
        ts_buf_putc(b, '(');
        gen_expr(b, d + 1);
        ts_buf_putc(b, ')');
    } else {
        gen_expr(b, d + 1);
    }
    r = rnd(100);
    if (r < 12)
        ts_buf_printf(b, "[%s]", PICK(durs));
    else if (r < 20)
        ts_buf_printf(b, "[%s:%s]", PICK(durs), rnd(2) ? "" : PICK(durs));
    r = rnd(100);
    if (r < 10)
        ts_buf_printf(b, " offset %s%s", rnd(2) ? "-" : "", PICK(durs));
    else if (r < 16) {
        static const char *ats[] = {"100", "start()", "end()", "-5", "1.5", "1e3", "0x10", "1e20"};
        ts_buf_printf(b, " @ %s", PICK(ats));
    }
}

static void
mutate(ts_buf *b)
{
    static const char chars[] = "(){}[],:@=!~\"'`+-# \n.^";
    if (b->len == 0)
        return;
    size_t i = rnd((unsigned)b->len);
    if (rnd(2)) {
        memmove(b->p + i, b->p + i + 1, b->len - i - 1); /* delete one byte */
        b->len--;
    } else {
        ts_buf_putc(b, 0); /* room for one more */
        memmove(b->p + i + 1, b->p + i, b->len - i - 1);
        b->p[i] = (uint8_t)chars[rnd(sizeof(chars) - 1)];
    }
}

static void
gen_soup(ts_buf *b)
{
    static const char *vocab[] = {
        "x",
        "sum",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "@",
        "start()",
        "end()",
        "\n",
        "# c\n",
        "\"a\\n\"",
        "'\\x41'",
        "\"\\q\"",
        "0x1f",
        "1e",
        ".5",
        "1_0",
        "5m",
        "1h30m",
        "30s1m",
        "0s",
        "x[5m:1m]",
        "[5m:]",
        "offset -5m",
        "\xc3\xa9",
        "$",
        "~",
        "by (a)",
        "without()",
        "group_left(a)",
        "on(b)",
        "bool",
        "==",
        "-",
        "^",
        "/",
        "and",
        "unless",
        "rate(",
        "label_join(",
        "a=~\"x\"",
        "a!=\"b\"",
        "`raw`",
        "\"open",
        "`",
        "\t",
        "NaN",
        "-Inf",
        "count_values(",
        "quantile(0.5,",
        "topk(",
        "1",
        "2",
        "atan2",
        "ignoring",
        "group_right",
    };
    unsigned k = 1 + rnd(8);
    for (unsigned i = 0; i < k; i++) {
        if (i && rnd(2))
            ts_buf_putc(b, ' ');
        ts_buf_puts(b, PICK(vocab));
    }
}

/* ---- the test ---------------------------------------------------------------------------- */

static int mismatches, compared, skipped;

static void
compare(const char *q, size_t qlen)
{
    char *theirs = prometheus_answer(q, qlen);
    if (!theirs) {
        fprintf(stderr, "  no answer from prometheus for %.*s\n", (int)qlen, q);
        mismatches++;
        return;
    }
    char *ours = our_answer(q, qlen);
    if (strcmp(ours, theirs) != 0) {
        bool regex = strstr(ours, "error parsing regexp") || strstr(theirs, "error parsing regexp");
        bool pretty = strncmp(theirs, "OK ", 3) == 0 && strchr(theirs, '\n');
        if (regex || pretty) {
            skipped++;
        } else {
            mismatches++;
            if (mismatches <= 30)
                fprintf(stderr, "  query %.*s\n    ours:       %s\n    prometheus: %s\n", (int)qlen,
                        q, ours, theirs);
        }
    }
    compared++;
    ts_free(ours);
    ts_free(theirs);
}

static void
test_against_prometheus(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    T_TRUE(curl != NULL);
    int rc = start_prometheus();
    if (rc != 0) {
        stop_prometheus();
        curl_easy_cleanup(curl);
        T_FAIL_("could not start prometheus");
    }
    const char *seed_env = getenv("TS_PQ_DIFF_SEED");
    const char *n_env = getenv("TS_PQ_DIFF_N");
    /* fixed by default so CI is deterministic; "time" explores a new sample each run */
    uint64_t seed = 20230201;
    if (seed_env && strcmp(seed_env, "time") == 0)
        seed = (uint64_t)time(NULL);
    else if (seed_env)
        seed = strtoull(seed_env, NULL, 10);
    unsigned n = n_env ? (unsigned)strtoul(n_env, NULL, 10) : 1500;
    fprintf(stderr, "  seed %llu (set TS_PQ_DIFF_SEED to repeat), %u queries per generator\n",
            (unsigned long long)seed, n);
    rng = seed * 2654435761u + 1;

    static const char *fixed[] = {
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / ignoring(code) group_left "
        "sum by (job) (rate(http_requests_total[5m]))",
        "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m:30s] offset 1w @ end())))",
        "-2 ^ -2 ^ 2",
        "a or b and c unless d",
        "x{a=\"\\u00e9\",b=\"\\x41\\101\"}",
        "count_values without () (\"v\", x)",
        "x @ 1e10",
        "x[5m:] @ start()",
        "- - -x",
        "label_join(x, \"a\", \",\", \"b\", \"c\")",
        "1 > bool 2 < bool 3",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        compare(fixed[i], strlen(fixed[i]));

    ts_buf b;
    ts_buf_init(&b, 0);
    for (unsigned i = 0; i < n; i++) {
        ts_buf_reset(&b);
        gen_expr(&b, 0);
        if (rnd(10) < 4)
            mutate(&b);
        compare((const char *)b.p, b.len);
    }
    for (unsigned i = 0; i < n; i++) {
        ts_buf_reset(&b);
        gen_soup(&b);
        compare((const char *)b.p, b.len);
    }
    ts_buf_fini(&b);
    stop_prometheus();
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    fprintf(stderr, "  compared %d queries: %d mismatches, %d known differences skipped\n",
            compared, mismatches, skipped);
    T_EQ(mismatches, 0);
    T_TRUE(compared > (int)n); /* the comparison really ran */
}

T_MAIN({"against_prometheus", test_against_prometheus})
