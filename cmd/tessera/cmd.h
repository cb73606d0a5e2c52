/* Subcommand entry points: argv[0] is the subcommand name.  Return the exit code. */
#ifndef TS_CMD_CMD_H
#define TS_CMD_CMD_H

int ts_cmd_tsdb(int argc, char **argv);
int ts_cmd_version(int argc, char **argv);

#endif
