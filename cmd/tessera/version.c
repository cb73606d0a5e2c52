#include "cmd/tessera/cmd.h"

#include <stdio.h>

int
ts_cmd_version(int argc, char **argv)
{
    printf("tessera, version %s\n", TS_VERSION);
    return 0;
}
