/*
 * Per-thread PCRE2 scratch.  pcre2_match needs match data it may write to,
 * so concurrent matches need one each; allocating per match would cost more
 * than the match.  A pthread key with a destructor frees a thread's scratch
 * when it exits (a plain _Thread_local pointer would leak it).
 */
#include "pkg/labels/internal.h"
#include "pkg/util/mem.h"

#include <pthread.h>

typedef struct scratch {
    pcre2_match_data *md;
    pcre2_match_context *mc;
} scratch;

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
destroy(void *p)
{
    scratch *s = p;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mc);
    ts_free(s);
}

static void
make_key(void)
{
    pthread_key_create(&key, destroy);
}

void
ts__re_scratch(pcre2_match_data **md, pcre2_match_context **mc)
{
    pthread_once(&once, make_key);
    scratch *s = pthread_getspecific(key);
    if (!s) {
        s = ts_malloc(sizeof(*s));
        s->md = pcre2_match_data_create(32, NULL);
        s->mc = pcre2_match_context_create(NULL);
        pcre2_set_match_limit(s->mc, 1000000);
        pthread_setspecific(key, s);
    }
    *md = s->md;
    *mc = s->mc;
}
