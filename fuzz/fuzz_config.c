/*
 * libFuzzer target: prometheus.yml loading (pkg/config): the input is parsed as a
 * configuration file and, when it loads, printed back with secrets masked (what
 * /api/v1/status/config serves).
 */
#include <stdint.h>

#include "pkg/config/config.h"
#include "pkg/util/arena.h"
#include "pkg/util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)ts_log_set_level("error");
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    ts_config *c = NULL;
    ts_error err = {0};
    if (ts_config_parse((const char *)data, size, "/nonexistent/fuzz/prometheus.yml", &c, &err) ==
        0) {
        ts_arena a;
        ts_arena_init(&a, 4096);
        (void)ts_config_masked_text(c, &a);
        ts_arena_fini(&a);
        ts_config_free(c);
    }
    return 0;
}
