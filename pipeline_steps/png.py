"""A PNG writer and a confusion-matrix heatmap in the standard library (zlib + struct).

The processing image has no matplotlib. The heatmap colours each cell by the row-normalized count
(the share of an actual group predicted as each group: white 0 to dark blue 1), prints the count
in the cell and the two-digit group codes along the axes in a tiny built-in digit font; rows are
the actual major group, columns the predicted one (the reports say so in words).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

RGB = tuple[int, int, int]

# 3x5 bitmaps of the digits, one string of 15 bits per digit, row by row.
_DIGITS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
}
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
GRID: RGB = (200, 200, 200)
DARK: RGB = (8, 48, 107)


def encode_png(pixels: Sequence[Sequence[RGB]]) -> bytes:
    """PNG bytes of an RGB image given as rows of (r, g, b) tuples (all rows the same length)."""
    height = len(pixels)
    width = len(pixels[0]) if height else 0
    if not height or not width:
        raise ValueError("an image needs at least one pixel")
    raw = bytearray()
    for row in pixels:
        if len(row) != width:
            raise ValueError("all rows of an image must have the same length")
        raw.append(0)  # filter type 0: none
        for r, g, b in row:
            raw.extend((r, g, b))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def write_png(path, pixels: Sequence[Sequence[RGB]]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(encode_png(pixels))
    return target


class Canvas:
    def __init__(self, width: int, height: int, background: RGB = WHITE):
        self.width, self.height = width, height
        self.pixels: list[list[RGB]] = [[background] * width for _ in range(height)]

    def fill(self, x: int, y: int, w: int, h: int, colour: RGB) -> None:
        for row in range(max(0, y), min(self.height, y + h)):
            line = self.pixels[row]
            for column in range(max(0, x), min(self.width, x + w)):
                line[column] = colour

    def text(self, x: int, y: int, digits: str, colour: RGB = BLACK, scale: int = 1) -> None:
        """Digits only (other characters leave a gap), top-left at (x, y)."""
        for index, character in enumerate(digits):
            bitmap = _DIGITS.get(character)
            if bitmap is None:
                continue
            left = x + index * 4 * scale
            for bit, on in enumerate(bitmap):
                if on == "1":
                    self.fill(left + (bit % 3) * scale, y + (bit // 3) * scale, scale, scale, colour)


def text_width(digits: str, scale: int = 1) -> int:
    return max(0, len(digits) * 4 * scale - scale)


def shade(share: float) -> RGB:
    share = min(1.0, max(0.0, share))
    return tuple(int(round(w + (d - w) * share)) for w, d in zip(WHITE, DARK))  # type: ignore[return-value]


def confusion_heatmap(matrix: Sequence[Sequence[int]], labels: Sequence[str], cell: int = 24) -> list[list[RGB]]:
    """Pixels of a heatmap of `matrix` (rows: actual, columns: predicted, in `labels` order)."""
    n = len(labels)
    if n == 0 or len(matrix) != n or any(len(row) != n for row in matrix):
        raise ValueError("confusion matrix must be square with one row and column per label")
    label_scale = 2
    margin = text_width("00", label_scale) + 8
    size = margin + n * cell + 1
    canvas = Canvas(size, size)
    for i, label in enumerate(labels):
        offset = margin + i * cell + (cell - 5 * label_scale) // 2
        centre = margin + i * cell + (cell - text_width(label, label_scale)) // 2
        canvas.text(2, offset, label, scale=label_scale)  # row labels (actual)
        canvas.text(centre, 2, label, scale=label_scale)  # column labels (predicted)
    for i, row in enumerate(matrix):
        total = sum(row)
        for j, count in enumerate(row):
            share = count / total if total else 0.0
            x, y = margin + j * cell, margin + i * cell
            canvas.fill(x, y, cell, cell, shade(share))
            digits = str(count)
            if count and text_width(digits) <= cell - 2:  # counts too wide for the cell stay colour only
                canvas.text(
                    x + (cell - text_width(digits)) // 2,
                    y + (cell - 5) // 2,
                    digits,
                    WHITE if share > 0.5 else BLACK,
                )
    for k in range(n + 1):  # grid lines
        canvas.fill(margin + k * cell, margin, 1, n * cell, GRID)
        canvas.fill(margin, margin + k * cell, n * cell + 1, 1, GRID)
    return canvas.pixels


def write_confusion_png(path, matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Path:
    return write_png(path, confusion_heatmap(matrix, labels))
