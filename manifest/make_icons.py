"""Draw the two Teams app icons (color.png 192x192, outline.png 32x32).

Run by hand only, and only when the design changes: the PNGs are committed and
`manifest.build` packages them as they are, so neither the bot nor its tests
need Pillow. Pillow is deliberately not a project dependency; use a throwaway
environment:

    python3 -m venv /tmp/iconvenv && /tmp/iconvenv/bin/pip install pillow
    /tmp/iconvenv/bin/python manifest/make_icons.py

The glyph is drawn from geometry rather than a font so the result does not
depend on which fonts the machine has. It is drawn at 8x and downsampled, which
gives clean anti-aliased edges at 32 px where a direct drawing would be jagged.

Design, following Microsoft's Teams icon guidance:
- color: a full-bleed NHS blue square (Teams applies its own corner mask, so
  rounding it ourselves would leave blue corners showing inside Teams' mask)
  with a white ice crystal kept inside the central 120x120 safe area;
- outline: the same crystal, white on a transparent background (Teams tints
  it), thick enough to read at 32 px; no background shape, as the guidance asks.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent
NHS_BLUE = (0, 94, 184, 255)  # #005EB8, also the manifest's accentColor
WHITE = (255, 255, 255, 255)
SCALE = 8


def _crystal(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, width: float, branches: bool
) -> None:
    """Six arms, each with one pair of short branches: reads as 'ice' even at 32 px."""
    w = max(1, round(width))

    def line(x0: float, y0: float, x1: float, y1: float) -> None:
        draw.line((x0, y0, x1, y1), fill=WHITE, width=w)
        # round caps, so arms meet cleanly in the middle and end softly
        for x, y in ((x0, y0), (x1, y1)):
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=WHITE)

    for i in range(6):
        a = math.radians(90 + 60 * i)
        ex, ey = cx + radius * math.cos(a), cy - radius * math.sin(a)
        line(cx, cy, ex, ey)
        if branches:
            bx, by = cx + 0.55 * radius * math.cos(a), cy - 0.55 * radius * math.sin(a)
            for turn in (-45, 45):
                b = a + math.radians(turn)
                length = 0.33 * radius
                line(bx, by, bx + length * math.cos(b), by - length * math.sin(b))


def color_icon() -> Image.Image:
    size = 192 * SCALE
    img = Image.new("RGBA", (size, size), NHS_BLUE)
    _crystal(
        ImageDraw.Draw(img), size / 2, size / 2, radius=58 * SCALE, width=11 * SCALE, branches=True
    )
    return img.resize((192, 192), Image.Resampling.LANCZOS)


def outline_icon() -> Image.Image:
    size = 32 * SCALE
    img = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    _crystal(
        ImageDraw.Draw(img),
        size / 2,
        size / 2,
        radius=13.5 * SCALE,
        width=2.6 * SCALE,
        branches=True,
    )
    small = img.resize((32, 32), Image.Resampling.LANCZOS)
    # Resampling blends colour into transparent pixels; Teams wants pure white
    # with alpha only, so keep the coverage and force the colour.
    alpha = small.getchannel("A")
    out = Image.new("RGBA", (32, 32), (255, 255, 255, 0))
    out.putalpha(alpha)
    return out


def main() -> None:
    color_icon().save(HERE / "color.png", optimize=True)
    outline_icon().save(HERE / "outline.png", optimize=True)
    print(f"wrote {HERE / 'color.png'} and {HERE / 'outline.png'}")


if __name__ == "__main__":
    main()
