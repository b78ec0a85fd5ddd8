#!/usr/bin/env python3
"""Draws each network's icon: its initials in white on a rounded square of
its colour, as a 128x128 PNG. The bridge uploads it once and shows it as
the network's avatar in m.bridge and as the bot's avatar. Run from the
repository root after changing a network's letters or colour; the output is
committed, so builds need no Python."""
import struct
import zlib

# A 5x7 bitmap font: just the letters the icons use.
FONT = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
    "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"],
    "I": ["11111", "00100", "00100", "00100", "00100", "00100", "11111"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "W": ["10001", "10001", "10001", "10101", "10101", "11011", "10001"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
}

ICONS = {
    "bridges/irc/icon.png": ("IRC", (0x2E, 0x4A, 0x7A)),
    "bridges/xmpp/icon.png": ("XMPP", (0x1F, 0x7A, 0x5C)),
    "bridges/telegram/icon.png": ("TG", (0x22, 0x8B, 0xC8)),
    "crates/testkit/icon.png": ("T", (0x6B, 0x6B, 0x6B)),
}

SIZE = 128


def draw(letters, colour):
    pixels = [[(0, 0, 0, 0)] * SIZE for _ in range(SIZE)]
    radius = 24
    for y in range(SIZE):
        for x in range(SIZE):
            cx = min(max(x, radius), SIZE - 1 - radius)
            cy = min(max(y, radius), SIZE - 1 - radius)
            if (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius:
                pixels[y][x] = colour + (255,)
    scale = max(1, min(14, (SIZE - 32) // (6 * len(letters) - 1)))
    width = (6 * len(letters) - 1) * scale
    left, top = (SIZE - width) // 2, (SIZE - 7 * scale) // 2
    for i, letter in enumerate(letters):
        for row, bits in enumerate(FONT[letter]):
            for col, bit in enumerate(bits):
                if bit == "1":
                    for dy in range(scale):
                        for dx in range(scale):
                            x = left + (6 * i + col) * scale + dx
                            y = top + row * scale + dy
                            pixels[y][x] = (255, 255, 255, 255)
    return pixels


def png(pixels):
    raw = b"".join(b"\0" + bytes(c for p in row for c in p) for row in pixels)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


for path, (letters, colour) in ICONS.items():
    with open(path, "wb") as out:
        out.write(png(draw(letters, colour)))
