#!/usr/bin/env python3
"""Seeds of fuzz_block from blocks written by Tessera (fuzz/fuzz_block.c has the input format).

    make_block_seeds.py BLOCK_DIR OUT_PREFIX

writes OUT_PREFIX-raw (mode 0: the block's index and chunks/000001 as they are) and
OUT_PREFIX-sealed (mode 1: every frame's zstd data replaced by its raw bytes, in the layout the
target seals: be32 raw_len, 4 + 9 bytes it fills in, the raw bytes, 4 bytes of CRC it fills in;
the offsets in the TOC, the series table and the label table moved to the new frame starts).
Needs the zstd command.  The corpus was made with:

    printf '%s\\n' 'up{job="a",instance="x"} 1 1700000000' ... '# EOF' >om.txt
    tessera tsdb import openmetrics om.txt DIR   # one block under DIR
"""
import struct
import subprocess
import sys

HDR, TOC = 8, 28


def uvarint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return x, i


def put_uvarint(x):
    out = bytearray()
    while x >= 0x80:
        out.append(x & 0x7F | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def frames(buf, end):
    """[(offset, raw bytes)] of the frames in buf[HDR:end]."""
    out, pos = [], HDR
    while pos < end:
        raw_len, clen = struct.unpack(">II", buf[pos:pos + 8])
        z = buf[pos + 8:pos + 8 + clen]
        raw = subprocess.run(["zstd", "-d", "-c", "-q"], input=z, capture_output=True, check=True).stdout
        assert len(raw) == raw_len, (pos, len(raw), raw_len)
        out.append((pos, raw))
        pos += 12 + clen
    return out


def seal_layout(hdr, fs, rewrite):
    """The file with frames in the target's sealed layout; rewrite(offset, raw, moved) may
    change a frame's raw bytes given the old -> new offset map."""
    moved, pos = {}, HDR
    for off, raw in fs:
        moved[off] = pos
        pos += 12 + 9 + len(raw)
    out = bytearray(hdr)
    for off, raw in fs:
        raw = rewrite(off, raw, moved)
        out += struct.pack(">I", len(raw)) + bytes(4 + 9) + raw + bytes(4)
    return out, moved


def main():
    blk, prefix = sys.argv[1], sys.argv[2]
    index = open(blk + "/index", "rb").read()
    chunks = open(blk + "/chunks/000001", "rb").read()
    with open(prefix + "-raw", "wb") as f:
        f.write(b"\0" + struct.pack(">I", len(index)) + index + chunks)
    toc = index[-TOC:]
    sym_off, ser_off, lab_off = struct.unpack(">QQQ", toc[:24])
    seg, chunk_moved = seal_layout(chunks[:HDR], frames(chunks, len(chunks)), lambda o, r, m: r)
    group_offs = set()

    def series_group(raw):  # entries: labels, chunk times, group_ref (segment << 32 | offset), offset
        out, i = b"", 0
        while i < len(raw):
            n, i = uvarint(raw, i)
            vals = []
            for _ in range(2 * n):
                v, i = uvarint(raw, i)
                vals.append(v)
            nc, i = uvarint(raw, i)
            for _ in range(2 * nc):
                v, i = uvarint(raw, i)
                vals.append(v)
            ref, i = uvarint(raw, i)
            oig, i = uvarint(raw, i)
            ref = (ref >> 32) << 32 | chunk_moved[ref & 0xFFFFFFFF]
            out += put_uvarint(n) + b"".join(put_uvarint(v) for v in vals[:2 * n]) + put_uvarint(nc)
            out += b"".join(put_uvarint(v) for v in vals[2 * n:]) + put_uvarint(ref) + put_uvarint(oig)
        return out

    def rewrite(off, raw, moved):
        if off in group_offs:
            return series_group(raw)
        if off == ser_off:  # nseries, group_size, ngroups, ngroups x group frame offset
            i, head = 0, []
            for _ in range(3):
                v, i = uvarint(raw, i)
                head.append(v)
            out = b"".join(put_uvarint(v) for v in head)
            for _ in range(head[2]):
                v, i = uvarint(raw, i)
                out += put_uvarint(moved[v])
            return out
        if off == lab_off:  # nnames, then name_ref, postings frame offset, nvalues
            n, i = uvarint(raw, 0)
            out = put_uvarint(n)
            for _ in range(n):
                name, i = uvarint(raw, i)
                o, i = uvarint(raw, i)
                nv, i = uvarint(raw, i)
                out += put_uvarint(name) + put_uvarint(moved[o]) + put_uvarint(nv)
            return out
        return raw

    # table offsets change with the sizes of the frames before them, and the tables' own sizes
    # with the offsets: iterate until the layout is stable
    fs = frames(index, len(index) - TOC)
    ser_raw = dict(fs)[ser_off]
    i, head = 0, []
    for _ in range(3):
        v, i = uvarint(ser_raw, i)
        head.append(v)
    for _ in range(head[2]):
        v, i = uvarint(ser_raw, i)
        group_offs.add(v)
    sealed, moved = seal_layout(index[:HDR], fs, rewrite)
    for _ in range(5):
        fs2 = [(o, rewrite(o, r, moved)) for o, r in fs]
        sizes = {o: len(r) for o, r in fs2}
        pos, moved2 = HDR, {}
        for o, _ in fs:
            moved2[o] = pos
            pos += 12 + 9 + sizes[o]
        if moved2 == moved:
            break
        moved = moved2
    sealed, _ = seal_layout(index[:HDR], fs, lambda o, r, _m: rewrite(o, r, moved))
    sealed += struct.pack(">QQQ", moved[sym_off], moved[ser_off], moved[lab_off]) + bytes(4)
    with open(prefix + "-sealed", "wb") as f:
        f.write(b"\1" + struct.pack(">I", len(sealed)) + sealed + seg)


if __name__ == "__main__":
    main()
