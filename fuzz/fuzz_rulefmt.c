/*
 * libFuzzer target: rule file loading (pkg/rules/rulefmt): the input is parsed as a rule
 * file (YAML, PromQL expressions, templates checked), in both dialects (a shard's and the ruler's).
 */
#include <stdint.h>

#include "pkg/rules/rulefmt.h"
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
    /* both dialects: Prometheus' (shards) and the ruler's (partial_response_strategy) */
    for (unsigned flags = 0; flags <= TS_RULEFMT_RULER; flags++) {
        ts_rule_file *f = NULL;
        ts_error err = {0};
        if (ts_rule_file_parse_ex((const char *)data, size, "/nonexistent/fuzz/rules.yml", flags,
                                  &f, &err) == 0) {
            (void)ts_rule_file_count(f);
            ts_rule_file_free(f);
        }
    }
    return 0;
}
