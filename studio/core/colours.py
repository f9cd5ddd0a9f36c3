"""Hex colours and the plain colour words a prompt can use instead of them."""

from __future__ import annotations

import math
import re
from functools import lru_cache

_HEX = re.compile(r"#[0-9a-fA-F]{6}")

# Words a diffusion model knows, spread over the colours clothes, hair and skin come in.
# Order matters only for ties, which go to the earlier entry.
NAMED_COLOURS: tuple[tuple[str, str], ...] = (
    ("black", "#000000"),
    ("charcoal", "#36454f"),
    ("slate grey", "#708090"),
    ("grey", "#808080"),
    ("silver", "#c0c0c0"),
    ("white", "#ffffff"),
    ("ivory", "#fffff0"),
    ("cream", "#fffdd0"),
    ("beige", "#f5f5dc"),
    ("tan", "#d2b48c"),
    ("camel", "#c19a6b"),
    ("khaki", "#c3b091"),
    ("chocolate brown", "#7b3f00"),
    ("dark brown", "#3d2b1f"),
    ("chestnut brown", "#954535"),
    ("copper red", "#cb6d51"),
    ("rust orange", "#b7410e"),
    ("red", "#ff0000"),
    ("crimson", "#dc143c"),
    ("brick red", "#b22222"),
    ("burgundy", "#800020"),
    ("pink", "#ffc0cb"),
    ("hot pink", "#ff69b4"),
    ("dusty rose", "#c08081"),
    ("coral", "#ff7f50"),
    ("orange", "#ffa500"),
    ("peach", "#ffe5b4"),
    ("mustard yellow", "#e1ad01"),
    ("yellow", "#ffff00"),
    ("gold", "#d4af37"),
    ("green", "#008000"),
    ("lime green", "#32cd32"),
    ("olive green", "#6b8e23"),
    ("sage green", "#9dc183"),
    ("mint green", "#98ff98"),
    ("emerald green", "#50c878"),
    ("forest green", "#228b22"),
    ("bottle green", "#006a4e"),
    ("teal", "#008080"),
    ("turquoise", "#40e0d0"),
    ("sky blue", "#87ceeb"),
    ("steel blue", "#4682b4"),
    ("denim blue", "#1560bd"),
    ("blue", "#0000ff"),
    ("navy blue", "#000080"),
    ("midnight blue", "#191970"),
    ("lavender", "#b57edc"),
    ("plum", "#8e4585"),
    ("purple", "#800080"),
    ("magenta", "#ff00ff"),
)

# D65 reference white, the white point sRGB is defined against.
_WHITE = (0.95047, 1.0, 1.08883)
_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)


def is_hex(value: object) -> bool:
    """Whether value is a colour written like #a1b2c3."""
    return isinstance(value, str) and _HEX.fullmatch(value) is not None


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    """The 0-255 red, green and blue of a colour written like #a1b2c3."""
    if not is_hex(value):
        raise ValueError(f"{value!r} is not a colour like #a1b2c3")
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def _lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIE L*a*b* of an sRGB colour given as 0-255 values."""
    # Plain math rather than numpy: this module loads on every CLI start.
    c = [v / 255.0 for v in rgb]
    linear = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
    xyz = [
        sum(m * x for m, x in zip(row, linear, strict=True)) / w
        for row, w in zip(_SRGB_TO_XYZ, _WHITE, strict=True)
    ]
    delta = 6 / 29
    f = [t ** (1 / 3) if t > delta**3 else t / (3 * delta**2) + 4 / 29 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


_TABLE_LAB = [_lab(hex_to_rgb(h)) for _, h in NAMED_COLOURS]


@lru_cache(maxsize=1024)
def _nearest(rgb: tuple[int, int, int]) -> str:
    lab = _lab(rgb)
    distances = [math.dist(lab, entry) for entry in _TABLE_LAB]
    return NAMED_COLOURS[distances.index(min(distances))][0]


def colour_name(hex: str) -> str:
    """The nearest common colour word for a colour like #a1b2c3 (CIE Lab distance)."""
    return _nearest(hex_to_rgb(hex))
