#include "cmd/tessera/cmd.h"

#include <stdio.h>

int
ts_cmd_tsdb(int argc, char **argv)
{
    fprintf(stderr, "tessera tsdb: not implemented yet\n");
    return 2;
}
