/*
 * tessera: one binary, subcommands (as Thanos registers its components).
 * main() only dispatches; each subcommand wires components in its own file
 * (cmd/tessera/<name>.c).
 */
#include "cmd/tessera/cmd.h"
#include "cmd/tessera/serve.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"shard", ts_cmd_shard,
     "run a shard: scrape, store, serve the Prometheus API and the store API"},
    {"query", ts_cmd_query,
     "run the global querier over store APIs (merge, dedup, PromQL, HTTP API)"},
    {"rule", ts_cmd_rule,
     "run a global ruler: rules over all stores (dedup), results in its own TSDB and store API"},
    {"tsdb", ts_cmd_tsdb, "tsdb import openmetrics FILE DIR | tsdb inspect DIR"},
    {"check", ts_cmd_check, "check config|rules|web-config FILE...: validate like promtool"},
    {"promql-test", ts_cmd_promql_test, "run Prometheus PromQL test files: promql-test FILE..."},
    {"bench", ts_cmd_bench,
     "bench targets --listen=ADDR --targets=T --series=S: synthetic scrape targets"},
    {"version", ts_cmd_version, "print the version"},
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: tessera <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return ts_cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            ts_serve_component = commands[i].name;
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "tessera: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
