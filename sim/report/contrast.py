"""Text on coloured cells that every reader can read: WCAG 2.x contrast ratio and the ink
(black or white) that gives the higher one."""

from __future__ import annotations

from collections.abc import Sequence

#: The diverging colour map of scores: ColorBrewer PuOr (purple-orange), readable by readers
#: with any common colour-vision deficiency, unlike red-green scales. Best is purple.
DIVERGING = "PuOr"
BLACK, WHITE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
#: WCAG 2.x level AA for normal text.
AA = 4.5


def luminance(rgb: Sequence[float]) -> float:
    """WCAG relative luminance of an sRGB colour with channels in 0..1."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG contrast ratio of two colours, 1 (none) to 21 (black on white)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ink(background: Sequence[float]) -> tuple[float, float, float]:
    """Black or white, whichever contrasts more with ``background``."""
    return BLACK if contrast(BLACK, background) >= contrast(WHITE, background) else WHITE
