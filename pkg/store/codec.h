/*
 * Store API frames: one type byte (tessera.store.v1.FrameType), then the
 * zstd-compressed protobuf body of the message for that type.
 *
 * This is the only file that packs and unpacks protobuf; server.c and
 * client.c build and read the generated message structs (proto/store.proto)
 * but never touch bytes.  Unpacked messages are allocated in an arena
 * (protobuf-c allocator backed by ts_arena), so a whole reply dies with it.
 */
#ifndef TS_STORE_CODEC_H
#define TS_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "pkg/labels/labels.h"
#include "pkg/labels/matcher.h"
#include "pkg/util/arena.h"
#include "pkg/util/buf.h"
#include "pkg/util/err.h"
#include "proto/store.pb-c.h"

/* Default bound on a decompressed frame body. */
#define TS_STORE_MAX_FRAME (64u << 20)

/* Appends type + zstd(pack(msg)) to out. */
int ts_store_frame_pack(ts_buf *out, uint8_t type, const ProtobufCMessage *msg);

/* Parses a frame: checks the type byte is a known FrameType, decompresses
 * (bounded by max), unpacks into arena a.  Errors: TS_ECORRUPT (bad type,
 * bad zstd, bad protobuf), TS_ELIMIT (too big), with a message in err. */
int ts_store_frame_unpack(const uint8_t *p, size_t n, size_t max, ts_arena *a, uint8_t *type,
                          ProtobufCMessage **msg, ts_error *err);

/* The message descriptor for a frame type, NULL if unknown. */
const ProtobufCMessageDescriptor *ts_store_frame_descriptor(uint8_t type);

/* Conversions between internal and wire types (wire side arena-allocated). */
Tessera__Store__V1__LabelMatcher **ts_store_matchers_to_pb(ts_arena *a, ts_matcher *const *ms,
                                                           size_t n);
/* Builds heap matchers (caller frees each with ts_matcher_free and the array
 * with ts_free); TS_EPARSE on a bad regex. */
int ts_store_matchers_from_pb(Tessera__Store__V1__LabelMatcher *const *pb, size_t n,
                              ts_matcher ***out, ts_error *err);
Tessera__Store__V1__Label **ts_store_labels_to_pb(ts_arena *a, const ts_labels *ls);
ts_labels *ts_store_labels_from_pb(ts_arena *a, Tessera__Store__V1__Label *const *pb, size_t n);

#endif
