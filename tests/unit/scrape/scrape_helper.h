/*
 * Shared by the pkg/scrape unit tests (one test program per source file:
 * target_test.c, http_test.c, parse_test.c, loop_test.c, manager_test.c):
 * a small HTTP server on the test's libuv loop (fixed bodies per path,
 * status codes, gzip, slow answers; it records the request headers), a
 * ts_head as the scrape appender and readers of what landed in it, target
 * listings, and process/port helpers for the tests that run real peers.
 */
#ifndef TS_TESTS_UNIT_SCRAPE_HELPER_H
#define TS_TESTS_UNIT_SCRAPE_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "pkg/config/config.h"
#include "pkg/scrape/scrape.h"
#include "pkg/tsdb/head/head.h"

/* ---- the test HTTP server ---- */

typedef struct route {
    const char *path;
    int status;
    const char *ctype;
    char *body; /* heap */
    size_t len;
    bool gzip;
    int delay_ms;
    char last_req[2048]; /* the last request for this path */
} route;

typedef struct server {
    uv_tcp_t tcp;
    int port;
    route routes[16];
    size_t nroutes;
    char last_req[4096]; /* headers of the last request to /ok */
    int hits;
} server;

/* Serves body (copied; gzip-compressed when gz) with status and content type
 * at path, after delay_ms. */
void route_set(server *s, const char *path, int status, const char *ctype, const char *body,
               size_t len, bool gz, int delay_ms);
/* Listens on a free loopback port (s->port) on loop. */
void server_start(uv_loop_t *loop, server *s);
/* Stops listening (run the loop to let the handles close). */
void server_stop(server *s);
void server_free(server *s);

/* ---- configuration, loop, head ---- */

/* Parses a prometheus.yml text; aborts on error. */
ts_config *parse_cfg(const char *y);
/* ts_scrape_opts.appender over a ts_head (ctx). */
ts_appender *head_appender(void *ctx);
/* Runs loop for ms milliseconds. */
void run_for(uv_loop_t *loop, int ms);
/* Feeds every job's static_configs to the manager, as discovery would. */
void sync_static(ts_scrape_manager *m, const ts_config *c);
/* All samples of the series matching {__name__=name, job=job[, ename=eval]};
 * returns the number of series matched (samples of the first one). */
size_t read_job(ts_head *h, const char *name, const char *job, const char *ename, const char *eval,
                int64_t *ts, double *vs, size_t max, size_t *nsamples, char *lbuf, size_t lsize);
/* Last value of a series (NAN if none; *count gets the sample count). */
double last_value(ts_head *h, const char *name, const char *job, size_t *count);

/* ---- targets and metadata ---- */

typedef struct tinfo {
    char job[32];
    char err[256];
    ts_target_health health;
    char labels[512], discovered[1024];
    bool dropped;
    int64_t interval_ms, timeout_ms;
} tinfo;

typedef struct tlist {
    tinfo t[32];
    size_t n;
} tlist;

/* Looks up one metric's metadata of one job's target: "type|help|unit". */
typedef struct mdq {
    const char *job, *metric;
    char out[512];
    bool found;
} mdq;

/* ts_scrape_manager_targets callback: appends to the tlist ctx. */
void collect(void *ctx, const ts_scrape_target_info *t);
const tinfo *find_target(const tlist *l, const char *job, bool dropped);
/* ts_scrape_manager_metadata callback filling the mdq ctx. */
void md_collect(void *ctx, const ts_scrape_target_info *t, const ts_scrape_metadata *md, size_t n);

/* ---- peers ---- */

/* A loopback TCP port that was free a moment ago. */
int free_port(void);
/* Whether something accepts connections on the loopback port. */
bool port_open(int port);
/* Starts argv (PATH lookup) in dir with stdout/stderr to /dev/null; -1 on error. */
pid_t spawn_in(const char *dir, char *const argv[]);

#endif
