/*
 * ULIDs and meta.json.
 *
 * A ULID is 48 bits of milliseconds then 80 random bits, written as 26
 * Crockford base32 characters (the first one carries only 3 bits), so ULIDs
 * sort by creation time as strings, as Prometheus' block directories do.
 *
 * meta.json is Prometheus' format, written by hand:
 *
 *   {
 *     "ulid": "01H...",
 *     "minTime": 1700000000000,
 *     "maxTime": 1700007200000,
 *     "stats": {"numSamples": 480, "numSeries": 1, "numChunks": 4},
 *     "compaction": {"level": 1, "sources": ["01H..."],
 *                    "parents": [{"ulid": "...", "minTime": ..., "maxTime": ...}]},
 *     "version": 1
 *   }
 *
 * and read with libyaml's document API (JSON is YAML flow style).  Unknown
 * keys are ignored, as Prometheus ignores them; a missing ulid/minTime/
 * maxTime, a ulid that differs from the directory name, or a version other
 * than 1 is TS_ECORRUPT naming the file.
 */
#include "pkg/tsdb/block/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <yaml.h>

#include "pkg/util/fs.h"
#include "pkg/util/mem.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void
ts_ulid_new(int64_t ms, char out[TS_ULID_LEN + 1])
{
    uint8_t b[16];
    uint64_t t = (uint64_t)ms & 0xFFFFFFFFFFFFull;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(t >> (40 - 8 * i));
    size_t got = 0;
    while (got < 10) {
        ssize_t r = getrandom(b + 6 + got, 10 - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && errno != EINTR)
            break;
    }
    if (got < 10) { /* no entropy source: fall back to something unique enough */
        uint64_t x = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)ms;
        for (size_t i = got; i < 10; i++, x = x * 6364136223846793005ull + 1)
            b[6 + i] = (uint8_t)(x >> 56);
    }
    /* 128 bits -> 26 chars of 5 bits, the first char holding the top 3 bits. */
    for (int i = 0; i < TS_ULID_LEN; i++) {
        int bit = 130 - 5 * (i + 1); /* lowest bit index of this char in a 130-bit number */
        unsigned v = 0;
        for (int k = 4; k >= 0; k--) {
            int pos = bit + k; /* bit position counted from the least significant */
            unsigned bitv = 0;
            if (pos < 128)
                bitv = (b[15 - pos / 8] >> (pos % 8)) & 1u;
            v = (v << 1) | bitv;
        }
        out[i] = crockford[v];
    }
    out[TS_ULID_LEN] = 0;
}

static bool
ulid_valid(const char *s, size_t n)
{
    if (n != TS_ULID_LEN || s[0] > '7')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(crockford, s[i]) || s[i] == 0)
            return false;
    return true;
}

void
ts_block_meta_fini(ts_block_meta *m)
{
    if (!m)
        return;
    ts_free(m->sources);
    m->sources = NULL;
    m->nsources = 0;
}

int
ts__fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : TS_OK;
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ writing */

int
ts__meta_write(const char *dir, const ts_block_meta *m, const ts_block_meta *const *parents,
               size_t nparents, ts_error *err)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    ts_buf_printf(&b,
                  "{\n\t\"ulid\": \"%s\",\n\t\"minTime\": %" PRId64 ",\n\t\"maxTime\": %" PRId64
                  ",\n\t\"stats\": {\n\t\t\"numSamples\": %" PRIu64 ",\n\t\t\"numSeries\": %" PRIu64
                  ",\n\t\t\"numChunks\": %" PRIu64 "\n\t},\n\t\"compaction\": {\n\t\t\"level\": %d,"
                  "\n\t\t\"sources\": [",
                  m->ulid, m->mint, m->maxt, m->num_samples, m->num_series, m->num_chunks,
                  m->level);
    for (size_t i = 0; i < m->nsources; i++)
        ts_buf_printf(&b, "%s\n\t\t\t\"%s\"", i ? "," : "", m->sources[i]);
    ts_buf_puts(&b, m->nsources ? "\n\t\t]" : "]");
    if (nparents) {
        ts_buf_puts(&b, ",\n\t\t\"parents\": [");
        for (size_t i = 0; i < nparents; i++)
            ts_buf_printf(&b,
                          "%s\n\t\t\t{\n\t\t\t\t\"ulid\": \"%s\",\n\t\t\t\t\"minTime\": %" PRId64
                          ",\n\t\t\t\t\"maxTime\": %" PRId64 "\n\t\t\t}",
                          i ? "," : "", parents[i]->ulid, parents[i]->mint, parents[i]->maxt);
        ts_buf_puts(&b, "\n\t\t]");
    }
    ts_buf_puts(&b, "\n\t},\n\t\"version\": 1\n}\n");

    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : ts_fs_write_all(fd, b.p, b.len);
    if (fd >= 0) {
        if (!rc && fsync(fd) < 0)
            rc = -errno;
        close(fd);
    }
    ts_buf_fini(&b);
    if (rc)
        return ts_error_set(err, rc, "writing %s: %s", path, ts_strerror(rc));
    return TS_OK;
}

/* ------------------------------------------------------------------ reading */

static const char *
scalar(yaml_document_t *doc, yaml_node_t *n, size_t *len)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

static bool
key_is(yaml_document_t *doc, yaml_node_pair_t *p, const char *key)
{
    size_t n;
    const char *s = scalar(doc, yaml_document_get_node(doc, p->key), &n);
    return s && n == strlen(key) && memcmp(s, key, n) == 0;
}

static bool
node_int(yaml_document_t *doc, int key, int64_t *out)
{
    size_t n;
    const char *s = scalar(doc, yaml_document_get_node(doc, key), &n);
    if (!s || n == 0 || n > 24)
        return false;
    char tmp[32];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

int
ts__meta_read(const char *dir, ts_block_meta *m, ts_error *err)
{
    memset(m, 0, sizeof(*m));
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    char *text = NULL;
    size_t len = 0;
    int rc = ts_fs_read_file(path, 16u << 20, &text, &len);
    if (rc)
        return ts_error_set(err, rc == -ENOENT ? TS_ECORRUPT : rc, "reading %s: %s", path,
                            ts_strerror(rc));

    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = ts_error_set(err, TS_ECORRUPT, "%s: not valid JSON: %s at line %zu", path,
                          parser.problem ? parser.problem : "parse error",
                          parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        ts_free(text);
        return rc;
    }
    yaml_parser_delete(&parser);

    bool have_ulid = false, have_mint = false, have_maxt = false;
    int64_t version = 0;
    const char *why = NULL;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        why = "not a JSON object";
        goto done;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *val = yaml_document_get_node(&doc, p->value);
        if (key_is(&doc, p, "ulid")) {
            size_t n;
            const char *s = scalar(&doc, val, &n);
            if (!s || !ulid_valid(s, n)) {
                why = "bad ulid";
                goto done;
            }
            memcpy(m->ulid, s, n);
            m->ulid[n] = 0;
            have_ulid = true;
        } else if (key_is(&doc, p, "minTime")) {
            have_mint = node_int(&doc, p->value, &m->mint);
        } else if (key_is(&doc, p, "maxTime")) {
            have_maxt = node_int(&doc, p->value, &m->maxt);
        } else if (key_is(&doc, p, "version")) {
            if (!node_int(&doc, p->value, &version)) {
                why = "bad version";
                goto done;
            }
        } else if (key_is(&doc, p, "stats") && val && val->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *q = val->data.mapping.pairs.start;
                 q < val->data.mapping.pairs.top; q++) {
                int64_t v = 0;
                if (!node_int(&doc, q->value, &v) || v < 0)
                    continue;
                if (key_is(&doc, q, "numSamples"))
                    m->num_samples = (uint64_t)v;
                else if (key_is(&doc, q, "numSeries"))
                    m->num_series = (uint64_t)v;
                else if (key_is(&doc, q, "numChunks"))
                    m->num_chunks = (uint64_t)v;
            }
        } else if (key_is(&doc, p, "compaction") && val && val->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *q = val->data.mapping.pairs.start;
                 q < val->data.mapping.pairs.top; q++) {
                yaml_node_t *cv = yaml_document_get_node(&doc, q->value);
                if (key_is(&doc, q, "level")) {
                    int64_t v = 0;
                    if (!node_int(&doc, q->value, &v) || v < 0 || v > 1000) {
                        why = "bad compaction level";
                        goto done;
                    }
                    m->level = (int)v;
                } else if (key_is(&doc, q, "sources") && cv && cv->type == YAML_SEQUENCE_NODE) {
                    size_t cnt =
                        (size_t)(cv->data.sequence.items.top - cv->data.sequence.items.start);
                    ts_free(m->sources);
                    m->sources = ts_calloc(cnt ? cnt : 1, sizeof(*m->sources));
                    m->nsources = 0;
                    for (yaml_node_item_t *it = cv->data.sequence.items.start;
                         it < cv->data.sequence.items.top; it++) {
                        size_t n;
                        const char *s = scalar(&doc, yaml_document_get_node(&doc, *it), &n);
                        if (!s || !ulid_valid(s, n)) {
                            why = "bad compaction source";
                            goto done;
                        }
                        memcpy(m->sources[m->nsources], s, n);
                        m->sources[m->nsources][n] = 0;
                        m->nsources++;
                    }
                }
            }
        }
    }
    if (!have_ulid)
        why = "missing or bad ulid";
    else if (!have_mint || !have_maxt)
        why = "missing or bad minTime/maxTime";
    else if (version != 1)
        why = "unsupported version (want 1)";
    else if (m->maxt < m->mint)
        why = "maxTime before minTime";
done:
    yaml_document_delete(&doc);
    ts_free(text);
    if (why) {
        ts_block_meta_fini(m);
        return ts_error_set(err, TS_ECORRUPT, "%s: %s", path, why);
    }
    return TS_OK;
}
