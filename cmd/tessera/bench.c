/*
 * tessera bench targets --listen=ADDR --targets=T --series=S [--churn=F]
 *                       [--churn-interval=10m] [--seed=N] [--no-gzip]
 *
 * Serves T synthetic scrape targets of S series each (pkg/bench) until
 * SIGINT or SIGTERM.  Prints "listening on HOST:PORT" on stdout once the
 * socket is bound, so scripts can start it with port 0 and wait for the line.
 */
#include "cmd/tessera/cmd.h"
#include "cmd/tessera/flags.h"
#include "pkg/bench/bench.h"
#include "pkg/util/log.h"
#include "pkg/util/time.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
    ts_bench_server *server;
    uv_signal_t sigint, sigterm;
} run;

static void
on_signal(uv_signal_t *h, int signum)
{
    run *r = h->data;
    TS_LOG(TS_LOG_INFO, "bench", "stopping", "signal=%d", signum);
    if (r->server) {
        ts_bench_server_stop(r->server);
        r->server = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&r->sigint))
        uv_close((uv_handle_t *)&r->sigint, NULL);
    if (!uv_is_closing((uv_handle_t *)&r->sigterm))
        uv_close((uv_handle_t *)&r->sigterm, NULL);
}

/* Parses a whole non-negative decimal number. */
static int
parse_count(const char *flag, const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "tessera bench targets: error: --%s: not a number: \"%s\"\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Splits "HOST:PORT" (HOST may be "[v6]") into host and port. */
static int
parse_listen(const char *s, char *host, size_t hostsz, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    const char *h = s, *he = colon;
    if (*h == '[' && he > h && he[-1] == ']')
        h++, he--;
    if (he == h || (size_t)(he - h) >= hostsz)
        return -1;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    unsigned long long p;
    char *end;
    errno = 0;
    p = strtoull(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static int
bench_targets(int argc, char **argv)
{
    ts_flag flags[] = {
        {"listen", TS_FLAG_STRING, "127.0.0.1:0", "address to listen on (port 0: any free port)"},
        {"targets", TS_FLAG_STRING, "10", "number of targets (/metrics/0 .. /metrics/T-1)"},
        {"series", TS_FLAG_STRING, "1000", "series per target"},
        {"churn", TS_FLAG_STRING, "0", "fraction of series that get new label values"},
        {"churn-interval", TS_FLAG_STRING, "10m", "how often churning series change labels"},
        {"seed", TS_FLAG_STRING, "1", "seed of names and values"},
        {"gzip", TS_FLAG_BOOL, "true", "gzip responses when the client accepts it"},
        {"log.level", TS_FLAG_STRING, "info", "debug, info, warn or error"},
    };
    size_t nflags = sizeof(flags) / sizeof(flags[0]);
    bool help;
    int rc = ts_flags_parse(flags, nflags, argc, argv, "bench targets", &help);
    if (rc)
        return help ? 0 : 2;
    rc = 2;
    ts_bench_opts o = {0};
    unsigned long long v;
    char host[256];
    int port;
    if (ts_log_set_level(ts_flags_get(flags, nflags, "log.level")->value) != 0) {
        fprintf(stderr, "tessera bench targets: error: bad --log.level\n");
        goto out;
    }
    if (parse_count("targets", ts_flags_get(flags, nflags, "targets")->value, &v))
        goto out;
    o.targets = (size_t)v;
    if (parse_count("series", ts_flags_get(flags, nflags, "series")->value, &v))
        goto out;
    o.series = (size_t)v;
    if (parse_count("seed", ts_flags_get(flags, nflags, "seed")->value, &v))
        goto out;
    o.seed = v;
    const char *churn = ts_flags_get(flags, nflags, "churn")->value;
    char *end;
    o.churn = strtod(churn, &end);
    if (end == churn || *end) {
        fprintf(stderr, "tessera bench targets: error: --churn: not a number: \"%s\"\n", churn);
        goto out;
    }
    const char *ci = ts_flags_get(flags, nflags, "churn-interval")->value;
    if (ts_duration_parse(ci, strlen(ci), &o.churn_interval_ms) != 0 || o.churn_interval_ms <= 0) {
        fprintf(stderr, "tessera bench targets: error: --churn-interval: bad duration \"%s\"\n",
                ci);
        goto out;
    }
    const char *listen = ts_flags_get(flags, nflags, "listen")->value;
    if (parse_listen(listen, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "tessera bench targets: error: --listen: want HOST:PORT, got \"%s\"\n",
                listen);
        goto out;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_bench_gen *g;
    if (ts_bench_gen_new(&o, &g, &err) != TS_OK) {
        fprintf(stderr, "tessera bench targets: error: %s\n", err.msg);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r = {0};
    if (ts_bench_server_start(&loop, g, host, port, &r.server, &err) != TS_OK) {
        fprintf(stderr, "tessera bench targets: error: %s\n", err.msg);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        ts_bench_gen_free(g);
        rc = 1;
        goto out;
    }
    ts_bench_server_set_gzip(r.server, ts_flags_get(flags, nflags, "gzip")->on);
    if (strchr(host, ':'))
        printf("listening on [%s]:%d\n", host, ts_bench_server_port(r.server));
    else
        printf("listening on %s:%d\n", host, ts_bench_server_port(r.server));
    fflush(stdout);
    uv_signal_init(&loop, &r.sigint);
    uv_signal_init(&loop, &r.sigterm);
    r.sigint.data = r.sigterm.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ts_bench_gen_free(g);
    rc = 0;
out:
    ts_flags_free(flags, nflags);
    return rc;
}

int
ts_cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "targets") == 0)
        return bench_targets(argc - 1, argv + 1);
    fprintf(stderr, "usage: tessera bench targets --listen=HOST:PORT --targets=T --series=S "
                    "[--churn=F] [--churn-interval=10m] [--seed=N] [--no-gzip]\n");
    return 2;
}
