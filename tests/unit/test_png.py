"""png: a valid PNG from the standard library, and the confusion-matrix heatmap."""

from __future__ import annotations

import struct
import zlib

import pytest

from pipeline_steps import png


def decode(data: bytes):
    """(width, height, rows of RGB tuples) of an 8-bit RGB, filter-0 PNG; checks every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        position += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0
        rows.append([tuple(line[1 + 3 * x : 4 + 3 * x]) for x in range(width)])
    return width, height, rows


def test_encode_png_round_trip():
    pixels = [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(1, 2, 3), (4, 5, 6), (7, 8, 9)]]
    width, height, rows = decode(png.encode_png(pixels))
    assert (width, height) == (3, 2) and rows == pixels


@pytest.mark.parametrize("pixels", [[], [[]], [[(0, 0, 0)], [(0, 0, 0), (1, 1, 1)]]])
def test_encode_png_refuses_bad_images(pixels):
    with pytest.raises(ValueError):
        png.encode_png(pixels)


def test_confusion_heatmap(tmp_path):
    matrix = [[8, 2, 0], [0, 5, 5], [1, 0, 0]]
    path = png.write_confusion_png(tmp_path / "cm.png", matrix, ["15", "29", "35"])
    width, height, rows = decode(path.read_bytes())
    assert width == height > 3 * 24
    margin = width - 3 * 24 - 1

    def cell_corner(i, j):  # a pixel inside the cell away from the printed count
        return rows[margin + i * 24 + 2][margin + j * 24 + 2]

    assert cell_corner(0, 2) == png.WHITE  # no rows predicted there
    assert cell_corner(0, 0) == png.shade(0.8)
    assert cell_corner(1, 1) == cell_corner(1, 2) == png.shade(0.5)
    assert cell_corner(2, 2) == png.WHITE  # an actual group with one row, all elsewhere
    assert sum(cell_corner(0, 0)) < sum(cell_corner(0, 1))  # darker is more
    # Labels are drawn: the top margin holds dark pixels.
    assert any(pixel == png.BLACK for row in rows[:margin] for pixel in row)


def test_heatmap_needs_a_square_matrix():
    with pytest.raises(ValueError):
        png.confusion_heatmap([[1, 2]], ["15"])


def test_shade_range():
    assert png.shade(0.0) == png.WHITE and png.shade(1.0) == png.DARK and png.shade(7) == png.DARK
