#include "cmd/tessera/cmd.h"

#include <stdio.h>

int
ts_cmd_promql_test(int argc, char **argv)
{
    fprintf(stderr, "tessera promql-test: not implemented yet\n");
    return 2;
}
