/*
 * The storage acceptance suite (Thanos' testStoreAPIsAcceptance idea): one
 * set of checks run against every implementation of pkg/storage's
 * ts_queryable: the head, the TSDB, the store client talking to a store
 * server, and (later) the querier's merged view.
 *
 * acc_load() appends the fixture through an appender; acc_run() checks that
 * the queryable answers exactly what the fixture implies.  ext, when not
 * NULL, are labels the implementation adds to every series (a store's
 * external labels).
 */
#ifndef TS_TESTS_ACCEPTANCE_H
#define TS_TESTS_ACCEPTANCE_H

#include "pkg/storage/storage.h"

/* Appends the fixture (series x samples, base time t0) and commits. */
int acc_load(ts_appender *app, int64_t t0);
/* Runs every check; returns the number of failed checks (details on stderr). */
int acc_run(ts_queryable *qb, int64_t t0, const ts_labels *ext);

#endif
