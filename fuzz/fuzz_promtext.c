/*
 * libFuzzer target: the Prometheus text format 0.0.4 parser (pkg/textparse), eager and lazy
 * label parsing (the first input byte picks which; the rest is the scrape body).
 */
#include "fuzz/textparse_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fuzz_textparse_run(TS_TP_PROMTEXT, data + 1, size - 1, data[0] & 1);
    return 0;
}
