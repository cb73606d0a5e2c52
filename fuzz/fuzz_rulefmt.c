/*
 * libFuzzer target: rule file loading (pkg/rules/rulefmt): the input is parsed as a rule
 * file (YAML, PromQL expressions, templates checked).
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
    ts_rule_file *f = NULL;
    ts_error err = {0};
    if (ts_rule_file_parse((const char *)data, size, "/nonexistent/fuzz/rules.yml", &f, &err) ==
        0) {
        (void)ts_rule_file_count(f);
        ts_rule_file_free(f);
    }
    return 0;
}
