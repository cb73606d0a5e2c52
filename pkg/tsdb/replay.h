/*
 * WAL replay into the head, shared by db.c (which opens the WAL) and
 * replay.c (which applies its records).  Internal to pkg/tsdb: not part of
 * the public API (db.h).
 *
 * Use: ts__replay_new before ts_wal_open, pass ts__replay_record and the
 * replay as its record callback and context, then ts__replay_finish
 * whatever ts_wal_open returned.  Not thread-safe: one thread drives a
 * replay (it starts its own sample workers).
 */
#ifndef TS_TSDB_REPLAY_H
#define TS_TSDB_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "pkg/tsdb/head/head.h"

typedef struct ts__replay ts__replay;

/* What a finished replay saw, for the open log and ts_db_stats. */
typedef struct ts__replay_stats {
    uint64_t series;          /* series records' entries */
    uint64_t samples;         /* samples records' entries */
    uint64_t samples_dropped; /* older than min_t, unknown ref, or refused by the head */
    size_t workers;           /* sample workers used (0: serial) */
} ts__replay_stats;

/* A replay into head (borrowed, must outlive the replay) that skips samples
 * older than min_t (they are already in a block).  workers: sample appliers
 * beside the reading thread; 0 = one per CPU, < 0 = replay serially. */
ts__replay *ts__replay_new(ts_head *head, int64_t min_t, int workers);

/* The ts_wal_open record callback: ctx is a ts__replay.  Always returns
 * TS_OK (undecodable records are logged and skipped). */
int ts__replay_record(void *ctx, const uint8_t *rec, size_t n);

/* Waits for the workers to apply everything, stops them, fills *st (may be
 * NULL) and frees r.  Accepts NULL.  Does not call ts_head_replay_end. */
void ts__replay_finish(ts__replay *r, ts__replay_stats *st);

#endif
