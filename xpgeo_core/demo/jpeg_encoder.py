"""A small colour baseline JPEG encoder (standard library only), for the demo's pictures.

Why: the demo's photos should show a scene a person recognises, and the core may not
depend on Pillow. This is plain ITU-T T.81 baseline: YCbCr with 4:2:0 chroma, the Annex K
quantisation tables scaled to a quality, and the Annex K luminance Huffman tables (which
hold every symbol, so they serve the chroma components too) from
:mod:`xpgeo_core.sample_photos`. :func:`with_pixels` keeps a metadata JPEG's EXIF/XMP
segments and replaces its picture.
"""

from __future__ import annotations

import math
import struct
from operator import mul
from functools import lru_cache
from typing import List, Sequence, Tuple

from xpgeo_core.sample_photos import _DHT_AC, _DHT_DC, _Bits, _huffman_codes, segment

Pixel = Tuple[int, int, int]

_LUMA_Q = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
           14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
           49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)  # T.81 K.1, row order
_CHROMA_Q = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
             47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32  # T.81 K.2
_DC_CODES = _huffman_codes(_DHT_DC)
_AC_CODES = _huffman_codes(_DHT_AC)


def _zigzag() -> List[int]:
    """Row-order index of each zig-zag position."""
    order = []
    for s in range(15):
        rows = range(max(0, s - 7), min(s, 7) + 1)
        for row in (rows if s % 2 else reversed(rows)):
            order.append(row * 8 + (s - row))
    return order


ZIGZAG = _zigzag()
_COS = [[(math.sqrt(0.5) if u == 0 else 1.0) / 2 * math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)]
        for u in range(8)]


@lru_cache(maxsize=8)
def _tables(quality: int) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    def scaled(table):
        return tuple(min(255, max(1, (q * scale + 50) // 100)) for q in table)
    return scaled(_LUMA_Q), scaled(_CHROMA_Q)


def _dct(block: Sequence[float]) -> List[float]:
    """8x8 forward DCT (row order in, row order out), as two passes of the cosine matrix."""
    if max(block) - min(block) < 0.25:  # a flat block (sky, road): only the DC term, 8 x the mean
        return [sum(block) / 8] + [0.0] * 63
    half = [[sum(map(mul, basis, block[8 * y:8 * y + 8])) for basis in _COS] for y in range(8)]  # rows: u
    columns = list(zip(*half))  # columns[u][y]
    return [sum(map(mul, basis, columns[u])) for basis in _COS for u in range(8)]


class _Encoder:
    def __init__(self) -> None:
        self.bits = _Bits()
        self.previous = [0, 0, 0]

    def _value(self, value: int) -> Tuple[int, int]:
        size = abs(value).bit_length()
        return (value if value >= 0 else value + (1 << size) - 1), size

    def block(self, samples: Sequence[float], quant: Sequence[int], component: int) -> None:
        coefficients = _dct(samples)
        zz = [int(round(coefficients[ZIGZAG[k]] / quant[ZIGZAG[k]])) for k in range(64)]
        dc = zz[0] - self.previous[component]
        self.previous[component] = zz[0]
        bits, size = self._value(dc)
        self.bits.put(*_DC_CODES[size])
        if size:
            self.bits.put(bits, size)
        run = 0
        last = max([k for k in range(1, 64) if zz[k]] or [0])
        for k in range(1, last + 1):
            if zz[k] == 0:
                run += 1
                continue
            while run > 15:
                self.bits.put(*_AC_CODES[0xF0])
                run -= 16
            bits, size = self._value(zz[k])
            self.bits.put(*_AC_CODES[(run << 4) | size])
            self.bits.put(bits, size)
            run = 0
        if last < 63:
            self.bits.put(*_AC_CODES[0x00])


def encode(width: int, height: int, pixels: Sequence[Pixel], quality: int = 85) -> bytes:
    """The frame segments and scan (DQT ... EOI, no SOI) of an RGB picture, row by row."""
    luma_q, chroma_q = _tables(quality)
    mw, mh = (width + 15) // 16, (height + 15) // 16
    pw, ph = mw * 16, mh * 16

    def at(x: int, y: int) -> Pixel:  # edge pixels repeat into the padding
        return pixels[min(y, height - 1) * width + min(x, width - 1)]

    y_plane = [0.0] * (pw * ph)
    cb_plane = [0.0] * (pw * ph)
    cr_plane = [0.0] * (pw * ph)
    for y in range(ph):
        for x in range(pw):
            r, g, b = at(x, y)
            k = y * pw + x
            y_plane[k] = 0.299 * r + 0.587 * g + 0.114 * b - 128
            cb_plane[k] = -0.168736 * r - 0.331264 * g + 0.5 * b
            cr_plane[k] = 0.5 * r - 0.418688 * g - 0.081312 * b

    def luma_block(bx: int, by: int) -> List[float]:
        return [y_plane[(by + j) * pw + bx + i] for j in range(8) for i in range(8)]

    def chroma_block(plane: List[float], mx: int, my: int) -> List[float]:  # 16x16 averaged to 8x8
        out = []
        for j in range(8):
            row = (my + 2 * j) * pw + mx
            below = row + pw
            for i in range(8):
                c = 2 * i
                out.append((plane[row + c] + plane[row + c + 1] + plane[below + c] + plane[below + c + 1]) / 4)
        return out

    encoder = _Encoder()
    for my in range(0, ph, 16):
        for mx in range(0, pw, 16):
            for dy, dx in ((0, 0), (0, 8), (8, 0), (8, 8)):
                encoder.block(luma_block(mx + dx, my + dy), luma_q, 0)
            encoder.block(chroma_block(cb_plane, mx, my), chroma_q, 1)
            encoder.block(chroma_block(cr_plane, mx, my), chroma_q, 2)
    dqt = (bytes([0]) + bytes(luma_q[z] for z in ZIGZAG) + bytes([1]) + bytes(chroma_q[z] for z in ZIGZAG))
    sof = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    dht = _DHT_DC + _DHT_AC  # class 0 id 0 and class 1 id 0: one table pair for all three components
    sos = bytes([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0])
    return (segment(0xDB, dqt) + segment(0xC0, sof) + segment(0xC4, dht) + segment(0xDA, sos)
            + encoder.bits.to_bytes() + b"\xff\xd9")


def with_pixels(jpeg: bytes, width: int, height: int, pixels: Sequence[Pixel], quality: int = 85) -> bytes:
    """*jpeg*'s SOI and APPn/COM segments (its metadata), then this picture instead of its own."""
    offset = 2
    while offset + 4 <= len(jpeg) and jpeg[offset] == 0xFF and (0xE0 <= jpeg[offset + 1] <= 0xEF
                                                                 or jpeg[offset + 1] == 0xFE):
        offset += 2 + struct.unpack(">H", jpeg[offset + 2:offset + 4])[0]
    return jpeg[:offset] + encode(width, height, pixels, quality)
