/*
 * libFuzzer target: the OpenMetrics 1.0 text parser (pkg/textparse).  The whole input is the
 * scrape body.
 */
#include "fuzz/textparse_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_textparse_run(TS_TP_OPENMETRICS, data, size, 0);
    return 0;
}
