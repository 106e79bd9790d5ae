"""A PNG writer, a confusion-matrix heatmap and a paired bar chart, in the standard library (zlib + struct).

The processing image has no matplotlib. Text is drawn in a tiny built-in 3x5 font: digits, capital
letters (lower case is drawn as capitals) and a few signs.

- The heatmap colours each cell by the row-normalized count (the share of an actual group predicted as
  each group: white 0 to dark blue 1), prints the count in the cell and the two-digit group codes along
  the axes; rows are the actual major group, columns the predicted one (the reports say so in words).
- The paired bar chart draws two distributions over the same labels side by side (the prediction
  report: the model's training titles and an execution's answers, by major group), with a title, a
  legend, percent gridlines and the labels under the bars.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

RGB = tuple[int, int, int]

# 3x5 bitmaps, one string of 15 bits per character, row by row.
_GLYPHS = {
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
    "A": "010101111101101",
    "B": "110101110101110",
    "C": "011100100100011",
    "D": "110101101101110",
    "E": "111100110100111",
    "F": "111100110100100",
    "G": "011100101101011",
    "H": "101101111101101",
    "I": "111010010010111",
    "J": "001001001101010",
    "K": "101101110101101",
    "L": "100100100100111",
    "M": "101111111101101",
    "N": "110101101101101",
    "O": "010101101101010",
    "P": "110101110100100",
    "Q": "010101101110011",
    "R": "110101110101101",
    "S": "011100010001110",
    "T": "111010010010010",
    "U": "101101101101111",
    "V": "101101101101010",
    "W": "101101111111101",
    "X": "101101010101101",
    "Y": "101101010010010",
    "Z": "111001010100111",
    ".": "000000000000010",
    ",": "000000000010100",
    ":": "000010000010000",
    "%": "101001010100101",
    "-": "000000111000000",
    "+": "000010111010000",
    "=": "000111000111000",
    "/": "001001010100100",
    "(": "010100100100010",
    ")": "010001001001010",
    "_": "000000000000111",
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

    def text(self, x: int, y: int, text: str, colour: RGB = BLACK, scale: int = 1) -> None:
        """`text` in the 3x5 font, top-left at (x, y); a character the font lacks (a space) leaves a gap."""
        for index, character in enumerate(text.upper()):
            bitmap = _GLYPHS.get(character)
            if bitmap is None:
                continue
            left = x + index * 4 * scale
            for bit, on in enumerate(bitmap):
                if on == "1":
                    self.fill(left + (bit % 3) * scale, y + (bit // 3) * scale, scale, scale, colour)


def text_width(text: str, scale: int = 1) -> int:
    return max(0, len(text) * 4 * scale - scale)


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


# The paired bar chart's two series: light grey for the reference, dark blue for what is compared with it.
REFERENCE: RGB = (170, 170, 170)
COMPARED: RGB = DARK


def paired_bars(
    labels: Sequence[str],
    reference: Sequence[float],
    compared: Sequence[float],
    names: tuple[str, str],
    title: Sequence[str] = (),
    bar: int = 8,
    height: int = 240,
) -> list[list[RGB]]:
    """Pixels of a bar chart of two shares (0 to 1) per label, side by side: `reference` in grey, `compared`
    in blue, `names` their legend; `title` lines above. The value axis runs to the largest share rounded
    up to 5%, with a gridline and its percent every 5% (every 10% above 50%)."""
    n = len(labels)
    if n == 0 or len(reference) != n or len(compared) != n:
        raise ValueError("a paired bar chart needs one reference and one compared share per label")
    if any(not 0.0 <= share <= 1.0 for share in (*reference, *compared)):
        raise ValueError("shares must be from 0 to 1")
    scale = 2
    line = 7 * scale  # one line of text with its gap
    top = 4 + line * (len(title) + 1) + 4  # title lines, then the legend line
    axis_width = text_width("100%", scale) + 6
    group = 2 * bar + 6  # the two bars and the gap before the next label
    left, plot_height = axis_width + 4, height
    legend_width = sum(5 * scale + 4 + text_width(name, scale) + 12 for name in names)
    width = max(left + n * group + 4, 8 + max((text_width(text, scale) for text in title), default=0), 4 + legend_width)
    bottom = top + plot_height
    canvas = Canvas(width, bottom + 4 + line)
    for number, text in enumerate(title):
        canvas.text(4, 4 + number * line, text, scale=scale)
    legend_y = 4 + len(title) * line
    x = 4
    for colour, name in zip((REFERENCE, COMPARED), names):
        canvas.fill(x, legend_y, 5 * scale, 5 * scale, colour)
        canvas.text(x + 5 * scale + 4, legend_y, name, scale=scale)
        x += 5 * scale + 4 + text_width(name, scale) + 12
    peak = max((*reference, *compared, 0.05))
    top_percent = min(100, -(-int(round(peak * 1000)) // 50) * 5)  # the largest share, rounded up to 5%
    step = 5 if top_percent <= 50 else 10
    for percent in range(0, top_percent + 1, step):
        y = bottom - round(plot_height * percent / top_percent)
        canvas.fill(left, y, n * group, 1, GRID)
        label = f"{percent}%"
        canvas.text(left - 4 - text_width(label, scale), y - 2 * scale, label, scale=scale)
    for index, label in enumerate(labels):
        x = left + index * group + 3
        for offset, (share, colour) in enumerate(((reference[index], REFERENCE), (compared[index], COMPARED))):
            bar_height = round(plot_height * share * 100 / top_percent)
            canvas.fill(x + offset * bar, bottom - bar_height, bar, bar_height, colour)
        canvas.text(x + bar - text_width(label, scale) // 2, bottom + 4, label, scale=scale)
    canvas.fill(left, bottom, n * group, 1, BLACK)
    canvas.fill(left, top, 1, plot_height, BLACK)
    return canvas.pixels
