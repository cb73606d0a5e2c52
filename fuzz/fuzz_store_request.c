/*
 * libFuzzer target: store API request frames as the server decodes them (pkg/store/codec.c):
 * type byte + zstd(protobuf) unpacked into an arena with the server's frame bound, then the
 * matchers of a Series/LabelNames/LabelValues request converted as the server does (regexes
 * compiled).  The input is one whole frame.
 */
#include <stdint.h>

#include "pkg/labels/matcher.h"
#include "pkg/store/codec.h"
#include "pkg/util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_error err = {0};
    uint8_t type = 0;
    ProtobufCMessage *m = NULL;
    if (ts_store_frame_unpack(data, size, 1u << 20, &a, &type, &m, &err) == 0) {
        Tessera__Store__V1__LabelMatcher **pbms = NULL;
        size_t n = 0;
        switch (type) {
        case TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_REQUEST: {
            Tessera__Store__V1__SeriesRequest *r = (Tessera__Store__V1__SeriesRequest *)m;
            pbms = r->matchers, n = r->n_matchers;
            break;
        }
        case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_NAMES_REQUEST: {
            Tessera__Store__V1__LabelNamesRequest *r = (Tessera__Store__V1__LabelNamesRequest *)m;
            pbms = r->matchers, n = r->n_matchers;
            break;
        }
        case TESSERA__STORE__V1__FRAME_TYPE__FRAME_LABEL_VALUES_REQUEST: {
            Tessera__Store__V1__LabelValuesRequest *r = (Tessera__Store__V1__LabelValuesRequest *)m;
            pbms = r->matchers, n = r->n_matchers;
            break;
        }
        default: break;
        }
        ts_matcher **ms = NULL;
        if (n > 0 && ts_store_matchers_from_pb(pbms, n, &ms, &err) == 0) {
            for (size_t i = 0; i < n; i++)
                ts_matcher_free(ms[i]);
            ts_free(ms);
        }
    }
    ts_arena_fini(&a);
    return 0;
}
