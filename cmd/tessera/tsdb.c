/*
 * tessera tsdb import openmetrics [-r|--human-readable] [-q|--quiet] FILE DIR
 * tessera tsdb inspect DIR
 * tessera tsdb dump DIR       every sample of every block, as `promtool tsdb dump`
 *                             prints them ("{labels} value ts", Go's %g)
 *
 * Import does what `promtool tsdb create-blocks-from openmetrics FILE DIR`
 * does: it reads an OpenMetrics file whose samples all carry timestamps,
 * cuts them into blocks aligned to 2h windows (floor(t / 2h) * 2h), writes
 * one block per window that has samples (meta minTime/maxTime are the first
 * sample and the last sample + 1 ms, as promtool's are), and prints the
 * blocks it wrote in promtool's table.
 *
 * How:
 *  1. Validate pass.  The whole file is parsed once before anything is
 *     written, so bad input leaves DIR untouched.  Every error is reported
 *     as FILE:LINE: message.  Besides syntax (pkg/textparse), a sample
 *     without a timestamp, a sample older than the previous one of its series
 *     ("out of order sample") and a second value for a series' timestamp
 *     ("duplicate sample for timestamp") are errors.  (promtool silently
 *     drops the latter two when they fall into one append batch and fails
 *     otherwise; failing always is more predictable.)  Order is per window,
 *     as promtool's is: a series may jump back into an earlier window, and
 *     then that window's head checks the order in pass 2 (the one case where
 *     an order error surfaces after blocks of an earlier group may have been
 *     written).  An exact repeat of the previous sample is ignored, as the
 *     head ignores it.  This pass also counts the samples of every window.
 *  2. Append passes.  Windows are taken in time order in groups of at most
 *     GROUP_SAMPLES samples; for each group the file is parsed again and each
 *     sample goes into an in-memory head (no WAL) for its window.  As promtool
 *     does, each head's chunk range is twice the window, so its appendable
 *     window (maxt - range/2) never rejects a sample of its own window.
 *     Then each window's head is written with ts_block_write from a sorted
 *     series set of a head querier, and freed.  Blocks are atomic (written
 *     as <ULID>.tmp, then renamed).
 *
 * Lines of one series are recognised by their raw series text (the parser's
 * zero-copy slice), so the label-set lookup runs once per run of lines of
 * the same series, not once per sample.
 */
#include "cmd/tessera/cmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pkg/labels/matcher.h"
#include "pkg/textparse/textparse.h"
#include "pkg/tsdb/block/block.h"
#include "pkg/tsdb/head/head.h"
#include "pkg/util/arena.h"
#include "pkg/util/floatfmt.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"

#define WINDOW_MS (2 * 3600 * 1000LL)     /* promtool's default max block duration */
#define GROUP_SAMPLES (64u * 1000 * 1000) /* samples held in heads at once */
#define COMMIT_EVERY 10000                /* samples per appender batch */

/* --------------------------------------------------------- formatting */

/* Go's time.Duration.String() for a whole number of milliseconds. */
static char *
go_duration(int64_t ms, char *buf, size_t n)
{
    if (ms == 0) {
        snprintf(buf, n, "0s");
        return buf;
    }
    const char *sign = ms < 0 ? "-" : "";
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (u < 1000) {
        snprintf(buf, n, "%s%" PRIu64 "ms", sign, u);
        return buf;
    }
    uint64_t h = u / 3600000, m = u / 60000 % 60, s = u / 1000 % 60, frac = u % 1000;
    char secs[32];
    if (frac) {
        snprintf(secs, sizeof(secs), "%" PRIu64 ".%03" PRIu64, s, frac);
        size_t l = strlen(secs);
        while (secs[l - 1] == '0')
            secs[--l] = '\0';
    } else {
        snprintf(secs, sizeof(secs), "%" PRIu64, s);
    }
    if (h)
        snprintf(buf, n, "%s%" PRIu64 "h%" PRIu64 "m%ss", sign, h, m, secs);
    else if (m)
        snprintf(buf, n, "%s%" PRIu64 "m%ss", sign, m, secs);
    else
        snprintf(buf, n, "%s%ss", sign, secs);
    return buf;
}

static char *
rfc3339(int64_t ms, char *buf, size_t n)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t l = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(buf + l, n - l, ".%03dZ", frac);
    else
        snprintf(buf + l, n - l, "Z");
    return buf;
}

/* promtool's --human-readable time: time.Unix(ms/1000, 0).UTC().String(). */
static char *
human_time(int64_t ms, char *buf, size_t n)
{
    time_t secs = (time_t)(ms / 1000); /* Go's integer division truncates too */
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    return buf;
}

/* promtool's --human-readable size: units.Base2Bytes(n).String(), which
 * spells every non-zero base-1024 digit ("1MiB183KiB382B", "952B"). */
static char *
base2bytes(int64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    char parts[7][24];
    int np = 0;
    for (int i = 0; i < 7; i++) {
        if (n % 1024 != 0 || (i == 0 && n == 0))
            snprintf(parts[np++], sizeof(parts[0]), "%" PRId64 "%s", n % 1024, units[i]);
        n /= 1024;
        if (n == 0)
            break;
    }
    size_t o = 0;
    buf[0] = '\0';
    for (int i = np - 1; i >= 0; i--)
        o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "%s", parts[i]);
    return buf;
}

/* A table printed like Go's tabwriter(minwidth 13, padding 2), as promtool's.
 * table_print(t, NULL) only frees it. */
typedef struct table {
    size_t ncols, nrows;
    char **cells; /* nrows * ncols, heap strings */
} table;

static void
table_add(table *t, const char *const *row)
{
    t->cells = ts_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    for (size_t c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = ts_strdup(row[c]);
    t->nrows++;
}

static void
table_print(table *t, FILE *f)
{
    size_t width[16] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t l = strlen(t->cells[r * t->ncols + c]) + 2;
            if (l > width[c])
                width[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (!f)
                continue;
            if (c + 1 == t->ncols)
                fprintf(f, "%s\n", s);
            else
                fprintf(f, "%-*s", (int)(width[c] < 13 ? 13 : width[c]), s);
        }
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        ts_free(t->cells[i]);
    ts_free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}

/* ------------------------------------------------------------ import */

/* One series of the file. */
typedef struct iseries {
    ts_labels *ls;
    struct iseries *next; /* hash chain */
    int64_t last_t;       /* validate pass */
    uint64_t last_vbits;
    bool has_last;
    int64_t ref_win; /* append passes: head ref in window ref_win */
    uint64_t ref;
} iseries;

/* One 2h window with samples. */
typedef struct window {
    int64_t idx; /* floor(t / WINDOW_MS) */
    uint64_t nsamples;
    int64_t mint, maxt; /* first and last sample */
    ts_head *head;      /* during its group's append pass */
    ts_appender *app;
    uint64_t pending; /* samples in app since the last commit */
} window;

typedef struct importer {
    const char *file, *dir;
    bool human; /* -r: RFC 3339 times in the table, as promtool's --human-readable */
    const char *buf;
    size_t len;
    iseries **tab;
    size_t tabsize, nseries;
    window *win;
    size_t nwin, capwin;
    ts_arena scratch;
    /* the series of the previous line, by its raw text */
    ts_str prev_text;
    iseries *prev;
} importer;

static int64_t
window_of(int64_t t)
{
    int64_t q = t / WINDOW_MS;
    if (t % WINDOW_MS != 0 && t < 0)
        q--;
    return q;
}

/* Finds (or, with create, adds) the window with index idx; windows stay sorted. */
static window *
find_window(importer *im, int64_t idx, bool create)
{
    size_t lo = 0, hi = im->nwin;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (im->win[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < im->nwin && im->win[lo].idx == idx)
        return &im->win[lo];
    if (!create)
        return NULL;
    TS_GROW(im->win, im->capwin, im->nwin + 1);
    memmove(&im->win[lo + 1], &im->win[lo], (im->nwin - lo) * sizeof(window));
    im->nwin++;
    window *w = &im->win[lo];
    memset(w, 0, sizeof(*w));
    w->idx = idx;
    w->mint = INT64_MAX;
    w->maxt = INT64_MIN;
    return w;
}

static void
grow_table(importer *im)
{
    size_t nsize = im->tabsize ? im->tabsize * 2 : 1024;
    iseries **ntab = ts_calloc(nsize, sizeof(*ntab));
    for (size_t i = 0; i < im->tabsize; i++) {
        iseries *s = im->tab[i];
        while (s) {
            iseries *next = s->next;
            size_t b = ts_labels_hash(s->ls) & (nsize - 1);
            s->next = ntab[b];
            ntab[b] = s;
            s = next;
        }
    }
    ts_free(im->tab);
    im->tab = ntab;
    im->tabsize = nsize;
}

/* The series of the parser's current SERIES entry (created if new). */
static iseries *
lookup_series(importer *im, ts_textparse *p)
{
    ts_str text = ts_textparse_series_text(p);
    if (im->prev && ts_str_eq(text, im->prev_text))
        return im->prev;
    ts_arena_reset(&im->scratch);
    ts_labels *ls = ts_textparse_build_labels(p, &im->scratch);
    if (!im->tabsize || im->nseries * 4 >= im->tabsize * 3)
        grow_table(im);
    size_t b = ts_labels_hash(ls) & (im->tabsize - 1);
    iseries *s = im->tab[b];
    while (s && !ts_labels_equal(s->ls, ls))
        s = s->next;
    if (!s) {
        s = ts_calloc(1, sizeof(*s));
        s->ls = ts_labels_dup(ls);
        s->ref_win = INT64_MIN;
        s->next = im->tab[b];
        im->tab[b] = s;
        im->nseries++;
    }
    im->prev = s;
    im->prev_text = text;
    return s;
}

static void
importer_fini(importer *im)
{
    for (size_t i = 0; i < im->tabsize; i++) {
        iseries *s = im->tab[i];
        while (s) {
            iseries *next = s->next;
            ts_labels_free(s->ls);
            ts_free(s);
            s = next;
        }
    }
    ts_free(im->tab);
    for (size_t i = 0; i < im->nwin; i++) {
        if (im->win[i].app)
            im->win[i].app->ops->rollback(im->win[i].app);
        ts_head_free(im->win[i].head);
    }
    ts_free(im->win);
    ts_arena_fini(&im->scratch);
}

static int fail_at(const importer *im, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_at(const importer *im, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: ", im->file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int
parse_error(const importer *im, ts_textparse *p)
{
    const ts_error *e = ts_textparse_error(p);
    return fail_at(im, e->line, "%s", e->msg);
}

/* Pass 1: validate everything, count samples per window.  0 or exit code. */
static int
validate(importer *im, uint64_t *nsamples)
{
    ts_textparse *p;
    ts_textparse_new(&p, TS_TP_OPENMETRICS, im->buf, im->len, NULL);
    int rc = 0;
    *nsamples = 0;
    for (;;) {
        ts_tp_entry e = ts_textparse_next(p);
        if (e == TS_TP_EOF)
            break;
        if (e == TS_TP_ERROR) {
            rc = parse_error(im, p);
            break;
        }
        if (e != TS_TP_SERIES)
            continue;
        int64_t t;
        if (!ts_textparse_timestamp(p, &t)) {
            rc = fail_at(im, ts_textparse_line(p), "expected timestamp for series got none");
            break;
        }
        double v = ts_textparse_value(p);
        uint64_t vbits;
        memcpy(&vbits, &v, sizeof(v));
        iseries *s = lookup_series(im, p);
        /* Order is checked per window, as promtool appends each window into
         * its own head: a series may jump back into an earlier window (that
         * window's head checks the order there, in the append pass). */
        if (s->has_last && t <= s->last_t &&
            (t == s->last_t || window_of(t) == window_of(s->last_t))) {
            if (t == s->last_t && vbits == s->last_vbits)
                continue; /* an exact repeat: ignored, as the head does */
            char lbuf[200];
            ts_labels_format(s->ls, lbuf, sizeof(lbuf));
            if (t == s->last_t)
                rc = fail_at(im, ts_textparse_line(p),
                             "duplicate sample for timestamp %" PRId64 " of series %s "
                             "with another value",
                             t, lbuf);
            else
                rc = fail_at(im, ts_textparse_line(p),
                             "out of order sample: timestamp %" PRId64 " is before %" PRId64
                             ", the previous one of series %s",
                             t, s->last_t, lbuf);
            break;
        }
        s->has_last = true;
        s->last_t = t;
        s->last_vbits = vbits;
        window *w = find_window(im, window_of(t), true);
        w->nsamples++;
        if (t < w->mint)
            w->mint = t;
        if (t > w->maxt)
            w->maxt = t;
        (*nsamples)++;
    }
    ts_textparse_free(p);
    return rc;
}

/* Pass 2 for windows [first, last]: parse again, append into their heads. */
static int
append_group(importer *im, size_t first, size_t last)
{
    for (size_t i = first; i <= last; i++) {
        ts_head_opts ho = {.chunk_range_ms = 2 * WINDOW_MS, .log = NULL};
        if (ts_head_new(&im->win[i].head, &ho) != TS_OK) {
            fprintf(stderr, "tessera tsdb import: cannot create a head\n");
            return 1;
        }
        im->win[i].app = ts_head_appender(im->win[i].head);
    }
    int64_t lo = im->win[first].idx, hi = im->win[last].idx;
    ts_textparse *p;
    ts_textparse_new(&p, TS_TP_OPENMETRICS, im->buf, im->len, NULL);
    im->prev = NULL;
    int rc = 0;
    for (;;) {
        ts_tp_entry e = ts_textparse_next(p);
        if (e == TS_TP_EOF)
            break;
        if (e == TS_TP_ERROR) { /* validated already; only if the file changed */
            rc = parse_error(im, p);
            break;
        }
        if (e != TS_TP_SERIES)
            continue;
        int64_t t = 0;
        ts_textparse_timestamp(p, &t);
        int64_t idx = window_of(t);
        if (idx < lo || idx > hi)
            continue;
        window *w = find_window(im, idx, false);
        iseries *s = lookup_series(im, p);
        uint64_t ref = s->ref_win == idx ? s->ref : 0, ref_out = 0;
        int arc = w->app->ops->append(w->app, ref, s->ls, t, ts_textparse_value(p), &ref_out);
        if (arc < 0) {
            /* only reachable after a series jumped back into an earlier window */
            char lbuf[200];
            ts_labels_format(s->ls, lbuf, sizeof(lbuf));
            rc = fail_at(im, ts_textparse_line(p), "%s: timestamp %" PRId64 " of series %s",
                         arc == TS_EOOO         ? "out of order sample"
                         : arc == TS_EDUPSAMPLE ? "duplicate sample for timestamp"
                                                : ts_strerror(arc),
                         t, lbuf);
            break;
        }
        s->ref_win = idx;
        s->ref = ref_out;
        if (++w->pending >= COMMIT_EVERY) {
            int crc = w->app->ops->commit(w->app);
            w->app = ts_head_appender(w->head);
            w->pending = 0;
            if (crc != TS_OK) {
                rc = fail_at(im, ts_textparse_line(p), "commit: %s", ts_strerror(crc));
                break;
            }
        }
    }
    ts_textparse_free(p);
    for (size_t i = first; i <= last; i++) {
        window *w = &im->win[i];
        int crc = w->app->ops->commit(w->app);
        w->app = NULL;
        if (crc != TS_OK && !rc) {
            fprintf(stderr, "tessera tsdb import: commit: %s\n", ts_strerror(crc));
            rc = 1;
        }
    }
    return rc;
}

static void
add_block_row(table *t, const ts_block_meta *m, bool human)
{
    char mint[40], maxt[40], dur[40], ns[24], nc[24], nser[24], size[32];
    if (human) {
        human_time(m->mint, mint, sizeof(mint));
        human_time(m->maxt, maxt, sizeof(maxt));
    } else {
        snprintf(mint, sizeof(mint), "%" PRId64, m->mint);
        snprintf(maxt, sizeof(maxt), "%" PRId64, m->maxt);
    }
    go_duration(m->maxt - m->mint, dur, sizeof(dur));
    snprintf(ns, sizeof(ns), "%" PRIu64, m->num_samples);
    snprintf(nc, sizeof(nc), "%" PRIu64, m->num_chunks);
    snprintf(nser, sizeof(nser), "%" PRIu64, m->num_series);
    if (human)
        base2bytes(m->size_bytes, size, sizeof(size));
    else
        snprintf(size, sizeof(size), "%" PRId64, m->size_bytes);
    const char *row[] = {m->ulid, mint, maxt, dur, ns, nc, nser, size};
    table_add(t, row);
}

/* Writes window w's head as a block; prints nothing. */
static int
write_window(importer *im, window *w, table *tab)
{
    ts_querier *q = NULL;
    ts_matcher *m = NULL;
    ts_series_set *set = NULL;
    ts_error err;
    ts_error_clear(&err);
    int rc = ts_head_querier(w->head, w->mint, w->maxt, &q);
    if (rc == TS_OK)
        rc = ts_matcher_new(&m, TS_MATCH_RE, TS_METRIC_NAME, ".+", &err);
    if (rc == TS_OK)
        rc = q->ops->select(q, true, NULL, &m, 1, &set, &err);
    ts_block_meta meta;
    memset(&meta, 0, sizeof(meta));
    if (rc == TS_OK) {
        rc = ts_block_write(im->dir, set, w->mint, w->maxt + 1, 0, NULL, 0, &meta, &err);
        set = NULL; /* owned by ts_block_write */
    }
    if (rc != TS_OK) {
        fprintf(stderr, "tessera tsdb import: writing block [%" PRId64 ", %" PRId64 "]: %s\n",
                w->mint, w->maxt, err.msg[0] ? err.msg : ts_strerror(rc));
    } else if (meta.ulid[0]) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", im->dir, meta.ulid);
        meta.size_bytes = ts_fs_dir_size(path);
        add_block_row(tab, &meta, im->human);
    }
    ts_block_meta_fini(&meta);
    ts_ss_free(set);
    ts_matcher_free(m);
    ts_querier_close(q);
    ts_head_free(w->head);
    w->head = NULL;
    return rc == TS_OK ? 0 : 1;
}

static int
map_file(const char *path, const char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *len = (size_t)st.st_size;
    *buf = NULL;
    if (*len > 0) {
        void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = -errno;
            close(fd);
            return e;
        }
        madvise(p, *len, MADV_SEQUENTIAL);
        *buf = p;
    }
    close(fd);
    return 0;
}

static int
cmd_import(const char *file, const char *dir, bool human, bool quiet)
{
    importer im;
    memset(&im, 0, sizeof(im));
    im.file = file;
    im.dir = dir;
    im.human = human;
    ts_arena_init(&im.scratch, 0);
    int rc = map_file(file, &im.buf, &im.len);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", file, ts_strerror(rc));
        ts_arena_fini(&im.scratch);
        return 1;
    }
    uint64_t total = 0;
    rc = validate(&im, &total);
    if (rc == 0 && (rc = ts_fs_mkdir_all(dir, 0777)) != 0) {
        fprintf(stderr, "%s: %s\n", dir, ts_strerror(rc));
        rc = 1;
    }
    table tab = {.ncols = 8};
    if (rc == 0 && im.nwin > 0) {
        const char *hdr[] = {"BLOCK ULID",  "MIN TIME",   "MAX TIME",   "DURATION",
                             "NUM SAMPLES", "NUM CHUNKS", "NUM SERIES", "SIZE"};
        table_add(&tab, hdr);
    }
    for (size_t first = 0; rc == 0 && first < im.nwin;) {
        size_t last = first;
        uint64_t n = im.win[first].nsamples;
        while (last + 1 < im.nwin && n + im.win[last + 1].nsamples <= GROUP_SAMPLES)
            n += im.win[++last].nsamples;
        rc = append_group(&im, first, last);
        for (size_t i = first; rc == 0 && i <= last; i++)
            rc = write_window(&im, &im.win[i], &tab);
        first = last + 1;
    }
    if (tab.nrows > 1 && !quiet) /* the blocks written, even if a later group failed */
        table_print(&tab, stdout);
    else
        table_print(&tab, NULL); /* frees the header */
    if (im.buf)
        munmap((void *)im.buf, im.len);
    importer_fini(&im);
    return rc;
}

/* ------------------------------------------------------------ inspect */

static int
cmp_meta(const void *a, const void *b)
{
    const ts_block_meta *x = ts_block_get_meta(*(ts_block *const *)a);
    const ts_block_meta *y = ts_block_get_meta(*(ts_block *const *)b);
    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    return strcmp(x->ulid, y->ulid);
}

static bool
is_ulid(const char *s)
{
    if (strlen(s) != TS_ULID_LEN)
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z')))
            return false;
    return true;
}

/* Opens every block directory (a ULID name) under dir, sorted by min time.
 * Returns 0, or 1 after printing why something could not be opened (the
 * blocks that could be opened are still returned). */
static int
open_blocks(const char *dir, ts_block ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return 1;
    }
    ts_block **blocks = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_ulid(de->d_name))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        ts_block *b;
        ts_error err;
        ts_error_clear(&err);
        if (ts_block_open(path, &b, &err) != TS_OK) {
            fprintf(stderr, "%s: %s\n", path, err.msg[0] ? err.msg : "cannot open block");
            rc = 1;
            continue;
        }
        TS_GROW(blocks, cap, n + 1);
        blocks[n++] = b;
    }
    closedir(d);
    if (n)
        qsort(blocks, n, sizeof(*blocks), cmp_meta);
    *out = blocks;
    *nout = n;
    return rc;
}

static void
close_blocks(ts_block **blocks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ts_block_unref(blocks[i]);
    ts_free(blocks);
}

static int dump_block(ts_block *b); /* below */

static int
cmd_dump(const char *dir)
{
    ts_block **blocks;
    size_t n;
    int rc = open_blocks(dir, &blocks, &n);
    for (size_t i = 0; i < n; i++)
        rc |= dump_block(blocks[i]);
    close_blocks(blocks, n);
    return rc;
}

static int
cmd_inspect(const char *dir)
{
    ts_block **blocks;
    size_t n;
    int rc = open_blocks(dir, &blocks, &n);
    if (!blocks && rc)
        return rc;

    table tab = {.ncols = 11};
    const char *hdr[] = {"BLOCK ULID",    "MIN TIME", "MAX TIME",    "MIN TIME (ms)",
                         "MAX TIME (ms)", "DURATION", "SERIES",      "SAMPLES",
                         "CHUNKS",        "BYTES",    "BYTES/SAMPLE"};
    table_add(&tab, hdr);
    uint64_t ts = 0, tser = 0, tch = 0;
    int64_t tbytes = 0, gmin = INT64_MAX, gmax = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const ts_block_meta *m = ts_block_get_meta(blocks[i]);
        char a[40], b[40], c[24], e[24], dur[40], ser[24], smp[24], ch[24], by[24], bps[24];
        rfc3339(m->mint, a, sizeof(a));
        rfc3339(m->maxt, b, sizeof(b));
        snprintf(c, sizeof(c), "%" PRId64, m->mint);
        snprintf(e, sizeof(e), "%" PRId64, m->maxt);
        go_duration(m->maxt - m->mint, dur, sizeof(dur));
        snprintf(ser, sizeof(ser), "%" PRIu64, m->num_series);
        snprintf(smp, sizeof(smp), "%" PRIu64, m->num_samples);
        snprintf(ch, sizeof(ch), "%" PRIu64, m->num_chunks);
        snprintf(by, sizeof(by), "%" PRId64, m->size_bytes);
        if (m->num_samples)
            snprintf(bps, sizeof(bps), "%.3f", (double)m->size_bytes / (double)m->num_samples);
        else
            snprintf(bps, sizeof(bps), "-");
        const char *row[] = {m->ulid, a, b, c, e, dur, ser, smp, ch, by, bps};
        table_add(&tab, row);
        ts += m->num_samples;
        tser += m->num_series;
        tch += m->num_chunks;
        tbytes += m->size_bytes;
        if (m->mint < gmin)
            gmin = m->mint;
        if (m->maxt > gmax)
            gmax = m->maxt;
    }
    if (n) {
        char a[40], b[40], c[24], e[24], dur[40], ser[24], smp[24], ch[24], by[24], bps[24];
        rfc3339(gmin, a, sizeof(a));
        rfc3339(gmax, b, sizeof(b));
        snprintf(c, sizeof(c), "%" PRId64, gmin);
        snprintf(e, sizeof(e), "%" PRId64, gmax);
        go_duration(gmax - gmin, dur, sizeof(dur));
        snprintf(ser, sizeof(ser), "%" PRIu64, tser);
        snprintf(smp, sizeof(smp), "%" PRIu64, ts);
        snprintf(ch, sizeof(ch), "%" PRIu64, tch);
        snprintf(by, sizeof(by), "%" PRId64, tbytes);
        if (ts)
            snprintf(bps, sizeof(bps), "%.3f", (double)tbytes / (double)ts);
        else
            snprintf(bps, sizeof(bps), "-");
        char total[32];
        snprintf(total, sizeof(total), "TOTAL (%zu blocks)", n);
        const char *row[] = {total, a, b, c, e, dur, ser, smp, ch, by, bps};
        table_add(&tab, row);
    }
    table_print(&tab, stdout);
    if (!n)
        printf("no blocks in %s\n", dir);
    char wal[4096];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    if (ts_fs_exists(wal) > 0)
        printf("WAL: %s, %" PRId64 " bytes\n", wal, ts_fs_dir_size(wal));
    close_blocks(blocks, n);
    return rc;
}

/* --------------------------------------------------------------- dump */

static int
dump_block(ts_block *b)
{
    ts_querier *q = NULL;
    ts_matcher *m = NULL;
    ts_series_set *set = NULL;
    ts_error err;
    ts_error_clear(&err);
    int rc = ts_block_querier(b, INT64_MIN, INT64_MAX, &q);
    if (rc == TS_OK)
        rc = ts_matcher_new(&m, TS_MATCH_RE, TS_METRIC_NAME, ".*", &err);
    if (rc == TS_OK)
        rc = q->ops->select(q, true, NULL, &m, 1, &set, &err);
    char *lbuf = NULL;
    size_t lcap = 0;
    while (rc == TS_OK && ts_ss_next(set)) {
        ts_series *s = ts_ss_at(set);
        size_t need = ts_labels_format(s->labels, NULL, 0) + 1;
        if (need > lcap) {
            ts_free(lbuf);
            lbuf = ts_malloc(need);
            lcap = need;
        }
        ts_labels_format(s->labels, lbuf, lcap);
        ts_iterator *it = s->ops->iterator(s);
        while (ts_it_next(it) == TS_VAL_FLOAT) {
            int64_t t;
            double v;
            char vb[64];
            ts_it_at(it, &t, &v);
            ts_format_float_go(v, 'g', vb, sizeof(vb)); /* Go's %g, as promtool prints */
            printf("%s %s %" PRId64 "\n", lbuf, vb, t);
        }
        rc = ts_it_err(it);
        ts_it_free(it);
    }
    if (rc == TS_OK && set && set->error.code)
        rc = set->error.code, err = set->error;
    if (rc != TS_OK)
        fprintf(stderr, "%s: %s\n", ts_block_dir(b), err.msg[0] ? err.msg : ts_strerror(rc));
    ts_free(lbuf);
    ts_ss_free(set);
    ts_matcher_free(m);
    ts_querier_close(q);
    return rc == TS_OK ? 0 : 1;
}

/* ---------------------------------------------------------- dispatch */

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: tessera tsdb import openmetrics [-r|--human-readable] [-q|--quiet] FILE DIR\n"
            "       tessera tsdb inspect DIR\n"
            "       tessera tsdb dump DIR\n");
}

int
ts_cmd_tsdb(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "import") == 0 && strcmp(argv[2], "openmetrics") == 0) {
        /* promtool's flags: -r/--human-readable, -q/--quiet */
        const char *pos[2];
        int npos = 0;
        bool human = false, quiet = false;
        for (int i = 3; i < argc; i++) {
            if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--human-readable") == 0)
                human = true;
            else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
                quiet = true;
            else if (argv[i][0] == '-' && argv[i][1] != '\0') {
                fprintf(stderr, "tessera tsdb import: unknown flag '%s'\n", argv[i]);
                return 2;
            } else if (npos < 2)
                pos[npos++] = argv[i];
            else
                npos = 3;
        }
        if (npos == 2)
            return cmd_import(pos[0], pos[1], human, quiet);
    }
    if (argc == 3 && strcmp(argv[1], "inspect") == 0)
        return cmd_inspect(argv[2]);
    if (argc == 3 && strcmp(argv[1], "dump") == 0)
        return cmd_dump(argv[2]);
    usage(stderr);
    return 2;
}
