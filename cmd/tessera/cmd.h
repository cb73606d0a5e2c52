/* Subcommand entry points: argv[0] is the subcommand name.  Return the exit code. */
#ifndef TS_CMD_CMD_H
#define TS_CMD_CMD_H

int ts_cmd_tsdb(int argc, char **argv);        /* tsdb.c */
int ts_cmd_promql_test(int argc, char **argv); /* promql_test.c */
int ts_cmd_version(int argc, char **argv);     /* version.c */
int ts_cmd_check(int argc, char **argv);       /* check.c */
int ts_cmd_shard(int argc, char **argv);       /* shard.c */
int ts_cmd_query(int argc, char **argv);       /* query.c */
int ts_cmd_rule(int argc, char **argv);        /* rule.c */
int ts_cmd_bench(int argc, char **argv);       /* bench.c */

#endif
