#include "pkg/store/codec.h"
#include "pkg/util/mem.h"

#include <pthread.h>
#include <string.h>
#include <zstd.h>

/* Per-thread zstd contexts.  ZSTD_compress and ZSTD_decompress make and
 * free a context on every call (allocating and clearing its tables), which
 * cost more than compressing a small frame: a store request and its reply
 * paid it twice on each side.  A pthread key with a destructor frees a
 * thread's contexts when it exits. */
typedef struct zctx {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
} zctx;

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void
zctx_free(void *p)
{
    zctx *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    ts_free(z);
}

static void
zkey_make(void)
{
    pthread_key_create(&zkey, zctx_free);
}

/* This thread's contexts (made on first use; NULL members if zstd could not
 * allocate them: the callers then fall back to the one-shot functions). */
static zctx *
zctx_get(void)
{
    pthread_once(&zonce, zkey_make);
    zctx *z = pthread_getspecific(zkey);
    if (!z) {
        z = ts_calloc(1, sizeof(*z));
        z->c = ZSTD_createCCtx();
        z->d = ZSTD_createDCtx();
        pthread_setspecific(zkey, z);
    }
    return z;
}

static void *
arena_alloc(void *ctx, size_t n)
{
    return ts_arena_alloc(ctx, n);
}

static void
arena_free(void *ctx, void *p)
{
}

const ProtobufCMessageDescriptor *
ts_store_frame_descriptor(uint8_t type)
{
    switch (type) {
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_REQUEST:
        return &tessera__store__v1__info_request__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST:
        return &tessera__store__v1__series_request__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_NEXT_REQUEST:
        return &tessera__store__v1__series_next_request__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_REQUEST:
        return &tessera__store__v1__label_names_request__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_REQUEST:
        return &tessera__store__v1__label_values_request__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_META_REQUEST:
        return &tessera__store__v1__meta_request__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_META_RESPONSE:
        return &tessera__store__v1__meta_response__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_RESPONSE:
        return &tessera__store__v1__info_response__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_BATCH:
        return &tessera__store__v1__series_batch__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_RESPONSE:
        return &tessera__store__v1__label_names_response__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_RESPONSE:
        return &tessera__store__v1__label_values_response__descriptor;
    case TESSERA__STORE__V1__FRAME_TYPE__FRAME_ERROR: return &tessera__store__v1__error__descriptor;
    }
    return NULL;
}

int
ts_store_frame_pack(ts_buf *out, uint8_t type, const ProtobufCMessage *msg)
{
    size_t plen = protobuf_c_message_get_packed_size(msg);
    uint8_t stack[4096];
    uint8_t *raw = plen <= sizeof(stack) ? stack : ts_malloc(plen);
    protobuf_c_message_pack(msg, raw);
    size_t bound = ZSTD_compressBound(plen);
    int rc = ts_buf_reserve(out, 1 + bound);
    if (rc == TS_OK) {
        out->p[out->len] = type;
        ZSTD_CCtx *cc = zctx_get()->c;
        size_t z = cc ? ZSTD_compressCCtx(cc, out->p + out->len + 1, bound, raw, plen, 1)
                      : ZSTD_compress(out->p + out->len + 1, bound, raw, plen, 1);
        if (ZSTD_isError(z))
            rc = TS_EIO;
        else
            out->len += 1 + z;
    }
    if (raw != stack)
        ts_free(raw);
    return rc;
}

int
ts_store_frame_unpack(const uint8_t *p, size_t n, size_t max, ts_arena *a, uint8_t *type,
                      ProtobufCMessage **msg, ts_error *err)
{
    if (n < 1)
        return ts_error_set(err, TS_ECORRUPT, "empty frame");
    const ProtobufCMessageDescriptor *d = ts_store_frame_descriptor(p[0]);
    if (!d)
        return ts_error_set(err, TS_ECORRUPT, "unknown frame type %u", p[0]);
    unsigned long long size = ZSTD_getFrameContentSize(p + 1, n - 1);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
        return ts_error_set(err, TS_ECORRUPT, "frame body is not a zstd frame");
    if (size > max)
        return ts_error_set(err, TS_ELIMIT, "frame body of %llu bytes exceeds the limit of %zu",
                            size, max);
    uint8_t *raw = ts_arena_alloc(a, (size_t)size + 1);
    ZSTD_DCtx *dc = zctx_get()->d;
    size_t got = dc ? ZSTD_decompressDCtx(dc, raw, (size_t)size, p + 1, n - 1)
                    : ZSTD_decompress(raw, (size_t)size, p + 1, n - 1);
    if (ZSTD_isError(got) || got != size)
        return ts_error_set(err, TS_ECORRUPT, "corrupt zstd frame body");
    ProtobufCAllocator alloc = {arena_alloc, arena_free, a};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &alloc, got, raw);
    if (!m)
        return ts_error_set(err, TS_ECORRUPT, "malformed %s message", d->short_name);
    *type = p[0];
    *msg = m;
    return TS_OK;
}

Tessera__Store__V1__LabelMatcher **
ts_store_matchers_to_pb(ts_arena *a, ts_matcher *const *ms, size_t n)
{
    Tessera__Store__V1__LabelMatcher **out =
        TS_ARENA_ARRAY(a, Tessera__Store__V1__LabelMatcher *, n + 1);
    for (size_t i = 0; i < n; i++) {
        Tessera__Store__V1__LabelMatcher *m = TS_ARENA_NEW(a, Tessera__Store__V1__LabelMatcher);
        tessera__store__v1__label_matcher__init(m);
        m->type = (Tessera__Store__V1__LabelMatcher__Type)ms[i]->type;
        m->name = ms[i]->name;
        m->value = ms[i]->value;
        out[i] = m;
    }
    return out;
}

int
ts_store_matchers_from_pb(Tessera__Store__V1__LabelMatcher *const *pb, size_t n, ts_matcher ***out,
                          ts_error *err)
{
    ts_matcher **ms = ts_calloc(n ? n : 1, sizeof(*ms));
    for (size_t i = 0; i < n; i++) {
        int t = pb[i]->type;
        int rc = TS_EINVAL;
        if (t < 0 || t > 3)
            ts_error_set(err, rc, "unknown matcher type %d", t);
        else
            rc = ts_matcher_new(&ms[i], (ts_match_type)t, pb[i]->name ? pb[i]->name : "",
                                pb[i]->value ? pb[i]->value : "", err);
        if (rc) {
            for (size_t j = 0; j < i; j++)
                ts_matcher_free(ms[j]);
            ts_free(ms);
            return rc;
        }
    }
    *out = ms;
    return TS_OK;
}

Tessera__Store__V1__Label **
ts_store_labels_to_pb(ts_arena *a, const ts_labels *ls)
{
    Tessera__Store__V1__Label **out = TS_ARENA_ARRAY(a, Tessera__Store__V1__Label *, ls->n + 1);
    Tessera__Store__V1__Label *arr = TS_ARENA_ARRAY(a, Tessera__Store__V1__Label, ls->n + 1);
    for (size_t i = 0; i < ls->n; i++) {
        tessera__store__v1__label__init(&arr[i]);
        arr[i].name = (char *)ls->l[i].name;
        arr[i].value = (char *)ls->l[i].value;
        out[i] = &arr[i];
    }
    return out;
}

ts_labels *
ts_store_labels_from_pb(ts_arena *a, Tessera__Store__V1__Label *const *pb, size_t n)
{
    ts_label stack[64];
    ts_label *l = n <= 64 ? stack : ts_malloc(n * sizeof(ts_label));
    for (size_t i = 0; i < n; i++) {
        l[i].name = pb[i]->name ? pb[i]->name : "";
        l[i].value = pb[i]->value ? pb[i]->value : "";
    }
    ts_labels *ls = ts_labels_new_arena(a, l, n);
    if (l != stack)
        ts_free(l);
    return ls;
}
