#include "pkg/labels/labels.h"
#include "pkg/util/hash.h"
#include "pkg/util/mem.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
label_cmp(const void *a, const void *b)
{
    const ts_label *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static uint64_t
hash_labels(const ts_label *l, size_t n)
{
    /* xxh3 streaming over name \xff value \xff ... ; small sets go through a
     * stack buffer to avoid the streaming state's overhead. */
    char stack[1024];
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(l[i].name) + strlen(l[i].value) + 2;
    char *buf = total <= sizeof(stack) ? stack : ts_malloc(total);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(l[i].name), b = strlen(l[i].value);
        memcpy(buf + off, l[i].name, a);
        off += a;
        buf[off++] = (char)0xff;
        memcpy(buf + off, l[i].value, b);
        off += b;
        buf[off++] = (char)0xff;
    }
    uint64_t h = ts_hash64(buf, off);
    if (buf != stack)
        ts_free(buf);
    return h;
}

/* Lays out sorted labels src[0..n) into one block at mem (size bytes). */
static ts_labels *
layout(void *mem, size_t size, const ts_label *src, size_t n, bool in_arena)
{
    ts_labels *ls = mem;
    ls->n = (uint32_t)n;
    ls->size = (uint32_t)size;
    atomic_init(&ls->refs, in_arena ? 0u : 1u);
    char *s = (char *)&ls->l[n];
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(src[i].name) + 1, b = strlen(src[i].value) + 1;
        memcpy(s, src[i].name, a);
        ls->l[i].name = s;
        s += a;
        memcpy(s, src[i].value, b);
        ls->l[i].value = s;
        s += b;
    }
    ls->hash = hash_labels(ls->l, n);
    return ls;
}

static size_t
needed(const ts_label *ls, size_t n)
{
    size_t size = sizeof(ts_labels) + n * sizeof(ts_label);
    for (size_t i = 0; i < n; i++)
        size += strlen(ls[i].name) + strlen(ls[i].value) + 2;
    return size;
}

static ts_labels *
build(ts_arena *a, const ts_label *in, size_t n)
{
    ts_label stack[32];
    ts_label *tmp = n <= 32 ? stack : ts_malloc(n * sizeof(ts_label));
    if (n)
        memcpy(tmp, in, n * sizeof(ts_label));
    /* already sorted is the common case (decoding from disk, builder) */
    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = strcmp(tmp[i - 1].name, tmp[i].name) < 0;
    if (!sorted)
        qsort(tmp, n, sizeof(ts_label), label_cmp);
    size_t size = needed(tmp, n);
    void *mem = a ? ts_arena_alloc(a, size) : ts_malloc(size);
    ts_labels *ls = layout(mem, size, tmp, n, a != NULL);
    if (tmp != stack)
        ts_free(tmp);
    return ls;
}

ts_labels *
ts_labels_new(const ts_label *ls, size_t n)
{
    return build(NULL, ls, n);
}

ts_labels *
ts_labels_new_arena(ts_arena *a, const ts_label *ls, size_t n)
{
    return build(a, ls, n);
}

ts_labels *
ts_labels_from_strings(size_t nstrings, ...)
{
    ts_label l[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, nstrings);
    for (size_t i = 0; i + 1 < nstrings && n < 64; i += 2, n++) {
        l[n].name = va_arg(ap, const char *);
        l[n].value = va_arg(ap, const char *);
    }
    va_end(ap);
    return build(NULL, l, n);
}

/* A copy of a built set is a byte copy of its block (layout()) with the
 * string pointers moved along; the hash stays valid. */
static ts_labels *
copy_block(ts_arena *a, const ts_labels *ls)
{
    ts_labels *c = a ? ts_arena_alloc(a, ls->size) : ts_malloc(ls->size);
    /* the header field by field: refs may be changing under other threads */
    c->n = ls->n;
    c->size = ls->size;
    c->hash = ls->hash;
    atomic_init(&c->refs, a ? 0u : 1u);
    size_t off = offsetof(ts_labels, l);
    memcpy((char *)c + off, (const char *)ls + off, ls->size - off);
    for (uint32_t i = 0; i < c->n; i++) {
        c->l[i].name = (const char *)c + (ls->l[i].name - (const char *)ls);
        c->l[i].value = (const char *)c + (ls->l[i].value - (const char *)ls);
    }
    return c;
}

ts_labels *
ts_labels_dup(const ts_labels *ls)
{
    return copy_block(NULL, ls);
}

ts_labels *
ts_labels_dup_arena(ts_arena *a, const ts_labels *ls)
{
    return copy_block(a, ls);
}

ts_labels *
ts_labels_share(const ts_labels *ls)
{
    ts_labels *m = (ts_labels *)ls; /* only the count changes: the labels stay immutable */
    if (atomic_load_explicit(&m->refs, memory_order_relaxed) == 0)
        return ts_labels_dup(ls);
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void
ts_labels_free(ts_labels *ls)
{
    if (!ls || atomic_load_explicit(&ls->refs, memory_order_relaxed) == 0)
        return;
    /* release our writes before the free; the freeing side acquires them */
    if (atomic_fetch_sub_explicit(&ls->refs, 1, memory_order_acq_rel) == 1)
        ts_free(ls);
}

static ts_labels empty_set = {0, sizeof(ts_labels), 0, 0};
static pthread_once_t empty_once = PTHREAD_ONCE_INIT;

static void
empty_init(void)
{
    empty_set.hash = hash_labels(NULL, 0);
}

const ts_labels *
ts_labels_empty(void)
{
    pthread_once(&empty_once, empty_init);
    return &empty_set;
}

const char *
ts_labels_get(const ts_labels *ls, const char *name)
{
    size_t lo = 0, hi = ls->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ls->l[mid].name, name);
        if (c == 0)
            return ls->l[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool
ts_labels_has(const ts_labels *ls, const char *name)
{
    return ts_labels_get(ls, name) != NULL;
}

int
ts_labels_cmp(const ts_labels *a, const ts_labels *b)
{
    /* Both string blocks are name\0value\0... in label order (layout()), and
     * no string holds a NUL: comparing the blocks bytewise orders them as
     * comparing the labels pair by pair with strcmp (a string that is a
     * prefix of the other meets the other's larger byte with its NUL), and
     * a block that is a prefix of the other has fewer labels. */
    size_t oa = sizeof(ts_labels) + a->n * sizeof(ts_label);
    size_t ob = sizeof(ts_labels) + b->n * sizeof(ts_label);
    size_t la = a->size - oa, lb = b->size - ob;
    int c = memcmp((const char *)a + oa, (const char *)b + ob, la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

bool
ts_labels_equal(const ts_labels *a, const ts_labels *b)
{
    if (a == b)
        return true;
    if (a->n != b->n || a->hash != b->hash || a->size != b->size)
        return false;
    /* Both are laid out the same way (layout()): the label array, then
     * name\0value\0 for each label in order, exactly size bytes in all.  That
     * encoding is one-to-one, so equal string blocks mean equal labels. */
    size_t off = sizeof(ts_labels) + a->n * sizeof(ts_label);
    return memcmp((const char *)a + off, (const char *)b + off, a->size - off) == 0;
}

static bool
in_list(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

uint64_t
ts_labels_hash_subset(const ts_labels *ls, const char *const *names, size_t nnames, bool include)
{
    ts_label stack[64];
    ts_label *sel = ls->n <= 64 ? stack : ts_malloc(ls->n * sizeof(ts_label));
    size_t k = 0;
    for (size_t i = 0; i < ls->n; i++)
        if (in_list(ls->l[i].name, names, nnames) == include)
            sel[k++] = ls->l[i];
    uint64_t h = hash_labels(sel, k);
    if (sel != stack)
        ts_free(sel);
    return h;
}

/* Appends Go strconv.Quote-style quoted s to buf[off..size); returns new off
 * (may exceed size: callers use it as the needed length). */
static size_t
quote(char *buf, size_t size, size_t off, const char *s)
{
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (off + 1 < size)                                                                        \
            buf[off] = (c);                                                                        \
        off++;                                                                                     \
    } while (0)
    static const char hex[] = "0123456789abcdef";
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        switch (c) {
        case '"':
            PUT('\\');
            PUT('"');
            break;
        case '\\':
            PUT('\\');
            PUT('\\');
            break;
        case '\n':
            PUT('\\');
            PUT('n');
            break;
        case '\t':
            PUT('\\');
            PUT('t');
            break;
        case '\r':
            PUT('\\');
            PUT('r');
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                PUT('\\');
                PUT('x');
                PUT(hex[c >> 4]);
                PUT(hex[c & 15]);
            } else {
                PUT((char)c);
            }
        }
    }
    PUT('"');
#undef PUT
    return off;
}

size_t
ts_labels_format(const ts_labels *ls, char *buf, size_t size)
{
    size_t off = 0;
#define PUTS(str)                                                                                  \
    do {                                                                                           \
        for (const char *q = (str); *q; q++) {                                                     \
            if (off + 1 < size)                                                                    \
                buf[off] = *q;                                                                     \
            off++;                                                                                 \
        }                                                                                          \
    } while (0)
    PUTS("{");
    for (size_t i = 0; i < ls->n; i++) {
        if (i)
            PUTS(", ");
        PUTS(ls->l[i].name);
        PUTS("=");
        off = quote(buf, size, off, ls->l[i].value);
    }
    PUTS("}");
#undef PUTS
    if (size)
        buf[off < size ? off : size - 1] = '\0';
    return off;
}

char *
ts_labels_to_string(ts_arena *a, const ts_labels *ls)
{
    size_t n = ts_labels_format(ls, NULL, 0);
    char *s = ts_arena_alloc(a, n + 1);
    ts_labels_format(ls, s, n + 1);
    return s;
}

void
ts_labels_write_json(ts_jsonw *w, const ts_labels *ls)
{
    ts_jsonw_obj_begin(w);
    for (size_t i = 0; ls && i < ls->n; i++) {
        ts_jsonw_key(w, ls->l[i].name);
        ts_jsonw_str(w, ls->l[i].value);
    }
    ts_jsonw_obj_end(w);
}

static bool
name_valid(const char *s, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool
ts_label_name_valid(const char *s, size_t n)
{
    return name_valid(s, n, false);
}

bool
ts_metric_name_valid(const char *s, size_t n)
{
    return name_valid(s, n, true);
}

/* ---- builder ---- */

void
ts_labels_builder_init(ts_labels_builder *b, const ts_labels *base)
{
    ts_arena_init(&b->arena, 4096);
    b->l = NULL;
    b->n = b->cap = 0;
    ts_labels_builder_reset(b, base);
}

void
ts_labels_builder_fini(ts_labels_builder *b)
{
    ts_arena_fini(&b->arena);
    ts_free(b->l);
    b->l = NULL;
    b->n = b->cap = 0;
}

void
ts_labels_builder_reset(ts_labels_builder *b, const ts_labels *base)
{
    ts_arena_reset(&b->arena);
    b->n = 0;
    if (!base)
        return;
    TS_GROW(b->l, b->cap, base->n);
    /* base strings are borrowed: base must outlive the builder's use of them,
     * or be copied; copy to make the builder self-contained. */
    for (size_t i = 0; i < base->n; i++) {
        b->l[i].name = ts_arena_strdup(&b->arena, base->l[i].name);
        b->l[i].value = ts_arena_strdup(&b->arena, base->l[i].value);
    }
    b->n = base->n;
}

void
ts_labels_builder_set(ts_labels_builder *b, const char *name, const char *value)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->l[i].name, name) == 0) {
            b->l[i].value = ts_arena_strdup(&b->arena, value);
            return;
        }
    }
    TS_GROW(b->l, b->cap, b->n + 1);
    b->l[b->n].name = ts_arena_strdup(&b->arena, name);
    b->l[b->n].value = ts_arena_strdup(&b->arena, value);
    b->n++;
}

void
ts_labels_builder_del(ts_labels_builder *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->l[i].name, name) == 0) {
            b->l[i] = b->l[--b->n];
            return;
        }
    }
}

const char *
ts_labels_builder_get(const ts_labels_builder *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->l[i].name, name) == 0)
            return b->l[i].value[0] ? b->l[i].value : NULL;
    return NULL;
}

void
ts_labels_builder_keep(ts_labels_builder *b, const char *const *names, size_t n, bool include)
{
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (in_list(b->l[i].name, names, n) == include)
            b->l[k++] = b->l[i];
    b->n = k;
}

ts_labels *
ts_labels_builder_build(ts_labels_builder *b, ts_arena *a)
{
    ts_label stack[64];
    ts_label *tmp = b->n <= 64 ? stack : ts_malloc(b->n * sizeof(ts_label));
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->l[i].value[0])
            tmp[k++] = b->l[i];
    ts_labels *ls = build(a, tmp, k);
    if (tmp != stack)
        ts_free(tmp);
    return ls;
}
