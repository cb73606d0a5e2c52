/*
 * Command-line flags in Prometheus/Thanos style (kingpin): --name=value or
 * --name value; booleans as --name, --name=true|false, or --no-name;
 * repeatable flags collect every value.  Unknown flags are errors that say
 * which flag, as kingpin does ("unknown long flag '--foo'").
 */
#ifndef TS_CMD_FLAGS_H
#define TS_CMD_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum ts_flag_kind { TS_FLAG_STRING, TS_FLAG_BOOL, TS_FLAG_LIST } ts_flag_kind;

typedef struct ts_flag {
    const char *name; /* without the leading "--" */
    ts_flag_kind kind;
    const char *def; /* default as text ("" for none) */
    const char *help;
    /* results */
    const char *value;   /* STRING: the value (def if not given) */
    bool on;             /* BOOL */
    const char **values; /* LIST: heap array of borrowed argv strings */
    size_t nvalues;
    bool set; /* given on the command line */
} ts_flag;

/* Parses argv[1..argc) into flags[0..n).  Positional arguments are not
 * accepted.  On error prints a message to stderr and returns non-zero;
 * --help prints usage and returns 1 with *help = true. */
int ts_flags_parse(ts_flag *flags, size_t n, int argc, char **argv, const char *cmd, bool *help);
void ts_flags_free(ts_flag *flags, size_t n);
ts_flag *ts_flags_get(ts_flag *flags, size_t n, const char *name);

#endif
