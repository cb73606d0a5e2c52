/*
 * libFuzzer target: store API response frames as the querier's client decodes them
 * (pkg/store/codec.c): the frame unpacked with the client's bound, then a SeriesBatch's label
 * sets converted and every chunk iterated with the XOR decoder, as the client's series set
 * does; InfoResponse external labels converted.  The input is one whole frame.
 */
#include <stdint.h>

#include "pkg/store/codec.h"
#include "pkg/tsdb/chunkenc/xor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_sink; /* unsigned: sums wrap without UB */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_arena a;
    ts_arena_init(&a, 4096);
    ts_error err = {0};
    uint8_t type = 0;
    ProtobufCMessage *m = NULL;
    if (ts_store_frame_unpack(data, size, 1u << 20, &a, &type, &m, &err) == 0) {
        if (type == TESSERA__STORE__V1__FRAME_TYPE__FRAME_SERIES_BATCH) {
            Tessera__Store__V1__SeriesBatch *b = (Tessera__Store__V1__SeriesBatch *)m;
            for (size_t i = 0; i < b->n_series; i++) {
                Tessera__Store__V1__Series *s = b->series[i];
                ts_labels *ls = ts_store_labels_from_pb(&a, s->labels, s->n_labels);
                fuzz_sink += ls != NULL;
                for (size_t k = 0; k < s->n_chunks; k++) {
                    ts_xor_iter it;
                    ts_xor_iter_init(&it, s->chunks[k]->data.data, s->chunks[k]->data.len);
                    fuzz_sink +=
                        ts_xor_bytes_count(s->chunks[k]->data.data, s->chunks[k]->data.len);
                    while (ts_it_next(&it.base) == TS_VAL_FLOAT) {
                        int64_t t;
                        double v;
                        ts_it_at(&it.base, &t, &v);
                        fuzz_sink += (uint64_t)t;
                    }
                    fuzz_sink += (uint64_t)ts_it_err(&it.base);
                }
            }
        } else if (type == TESSERA__STORE__V1__FRAME_TYPE__FRAME_INFO_RESPONSE) {
            Tessera__Store__V1__InfoResponse *r = (Tessera__Store__V1__InfoResponse *)m;
            for (size_t i = 0; i < r->n_label_sets; i++) {
                ts_labels *ls = ts_store_labels_from_pb(&a, r->label_sets[i]->labels,
                                                        r->label_sets[i]->n_labels);
                fuzz_sink += ls != NULL;
            }
        }
    }
    ts_arena_fini(&a);
    return 0;
}
