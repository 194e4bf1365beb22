"""A dependency-free 8-bit PNG codec for grey/RGB images: edit thumbnails and report tiles."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from latentops.errors import InvalidInputError


def png_bytes(image: np.ndarray, level: int = 6) -> bytes:
    """Encode one image (C, H, W) in [0, 1] (C = 1 grey or 3 RGB) as 8-bit PNG bytes.

    ``level`` is zlib's: 6 for thumbnails written per edit, 9 where size matters more.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise InvalidInputError(
            f"image has shape {image.shape}; PNG images need (C, H, W) with C = 1 or 3"
        )
    c, h, w = image.shape
    pixels = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)  # (C, H, W)
    rows = np.ascontiguousarray(pixels.transpose(1, 2, 0)).reshape(h, w * c)  # (H, W*C)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, level))
        + chunk(b"IEND", b"")
    )


def png_array(data: bytes) -> np.ndarray:
    """Decode a thumbnail written by ``png_bytes`` back to (C, H, W) float32 in [0, 1]."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise InvalidInputError("not PNG bytes; pass a value of the edits table's png column")
    pos, idat, header = 8, b"", None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    if header is None or header[2] != 8 or header[3] not in (0, 2) or header[6] != 0:
        raise InvalidInputError(
            "only 8-bit grey/RGB PNGs without interlace (png_bytes output) are read"
        )
    w, h, c = header[0], header[1], 1 if header[3] == 0 else 3
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * c)
    if (raw[:, 0] != 0).any():
        raise InvalidInputError(
            "PNG rows use a filter other than 0; it was not written by png_bytes"
        )
    return raw[:, 1:].reshape(h, w, c).transpose(2, 0, 1).astype(np.float32) / 255.0
