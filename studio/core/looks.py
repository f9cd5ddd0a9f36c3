"""Colour and lighting maths for a persona's look: Lab, CIEDE2000, colour temperature, key light.

Directions live in the image plane as the viewer sees it: x grows to the image's right, y grows
up. "left" is the image's left (camera left), which is the subject's right when they face the
camera. A key vector points to where the light comes FROM: a face lit from the image's left
has its left half brighter and a key vector near (-1, 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "FLAT_STRENGTH",
    "KEY_DIRECTIONS",
    "LIGHTING_THRESHOLD",
    "SIDE_STRENGTH",
    "WARDROBE_THRESHOLD",
    "angle_between",
    "cct_from_rgb",
    "delta_e2000",
    "key_vector_name",
    "lighting_distance",
    "mired_difference",
    "srgb_to_lab",
    "srgb_to_linear",
    "wardrobe_distance",
]

# ΔE2000 above this between a frame's garment and the nearest palette colour reads as another
# garment; below about 5 is the same garment under the small shifts of a video generator.
WARDROBE_THRESHOLD = 13.0
# `lighting_distance` above this reads as clearly different lighting.
LIGHTING_THRESHOLD = 1.0
# Key strength (see `studio.engine.looks`) below FLAT_STRENGTH is flat, frontal light; between
# it and SIDE_STRENGTH a horizontal key reads as "front-left"/"front-right", above as a side key.
FLAT_STRENGTH = 0.08
SIDE_STRENGTH = 0.25

# The persona record's `lighting.key_direction` as the image-plane direction the key comes
# from (x right, y up). None: nothing to measure on the face's shading (flat front light, or a
# back light that leaves the face in its own fill). "front-left"/"front-right" share the side
# key's direction; `key_vector_name` tells them apart by strength.
KEY_DIRECTIONS: dict[str, tuple[float, float] | None] = {
    "front": None,
    "front-left": (-1.0, 0.0),
    "left": (-1.0, 0.0),
    "back-left": None,
    "back": None,
    "back-right": None,
    "right": (1.0, 0.0),
    "front-right": (1.0, 0.0),
    "top": (0.0, 1.0),
    "below": (0.0, -1.0),
}

# D65 white and the sRGB (linear) to XYZ matrix, the same as `studio.core.colours`.
_WHITE = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_CCT_RANGE = (1500.0, 25000.0)
_MAX_DUV = 0.05  # off the locus by more than this: no colour temperature


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB values 0..255 (any shape) to linear light 0..1."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of sRGB colours: (..., 3) uint8 or float 0..255 in, (..., 3) float64 out."""
    xyz = srgb_to_linear(rgb) @ _SRGB_TO_XYZ.T / _WHITE
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def delta_e2000(lab1, lab2) -> float | np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of Lab colours; arrays broadcast.

    Two single colours give a float, arrays of colours (..., 3) an array.
    """
    a = np.asarray(lab1, dtype=np.float64)
    b = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = a[..., 0], a[..., 1], a[..., 2]
    L2, a2, b2 = b[..., 0], b[..., 1], b[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    c7 = c_bar**7
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    chroma_zero = (c1p * c2p) == 0

    dL = L2 - L1
    dC = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)

    L_bar = (L1 + L2) / 2
    cp_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180,
        h_sum / 2,
        np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2),
    )
    h_bar = np.where(chroma_zero, h_sum, h_bar)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    cp7 = cp_bar**7
    r_c = 2 * np.sqrt(cp7 / (cp7 + 25.0**7))
    l50 = (L_bar - 50) ** 2
    s_l = 1 + 0.015 * l50 / np.sqrt(20 + l50)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    out = np.sqrt(
        (dL / s_l) ** 2 + (dC / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dC / s_c) * (dH / s_h)
    )
    return float(out) if out.ndim == 0 else out


def cct_from_rgb(rgb_mean: Sequence[float]) -> float | None:
    """Correlated colour temperature (K) of a mean sRGB colour (0..255, gamma-encoded).

    The colour is linearised, taken to XYZ and xy chromaticity, and McCamy's cubic gives the
    temperature, clamped to 1500..25000 K. None for black, or for a colour more than 0.05 in
    CIE 1960 uv off the locus of light colours (a saturated green or magenta), where the cubic
    means nothing. Skin is not white: light skin under daylight reads about 3700 K, so compare
    a face's temperature with the same face's, not with the light's nominal value.
    """
    lin = srgb_to_linear(np.asarray(rgb_mean, dtype=np.float64).reshape(3))
    X, Y, Z = _SRGB_TO_XYZ @ lin
    total = X + Y + Z
    if not np.isfinite(total) or total < 1e-4:
        return None
    x, y = X / total, Y / total
    if y < 0.2:  # below every light's chromaticity, near the cubic's pole at y = 0.1858
        return None
    n = (x - 0.3320) / (0.1858 - y)
    # Beyond n = -1.2 (about 1600 K) the cubic turns back up and means nothing.
    cct = 449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33 if n > -1.2 else _CCT_RANGE[0]
    cct = min(max(cct, _CCT_RANGE[0]), _CCT_RANGE[1])
    # A colour far off the locus of light colours (a green or magenta cast) has no temperature.
    d = X + 15 * Y + 3 * Z
    if abs(_locus_distance(4 * X / d, 6 * Y / d, min(cct, 15000.0))) > _MAX_DUV:
        return None
    return float(cct)


def _locus_distance(u: float, v: float, t: float) -> float:
    """Distance in CIE 1960 uv from (u, v) to the Planckian locus at t K (Krystek's fit)."""
    pu = (0.860117757 + 1.54118254e-4 * t + 1.28641212e-7 * t * t) / (
        1 + 8.42420235e-4 * t + 7.08145163e-7 * t * t
    )
    pv = (0.317398726 + 4.22806245e-5 * t + 4.20481691e-8 * t * t) / (
        1 - 2.89741816e-5 * t + 1.61456053e-7 * t * t
    )
    return math.hypot(u - pu, v - pv)


def mired_difference(k1: float, k2: float) -> float:
    """|1e6/k1 - 1e6/k2|: colour temperatures compared as the eye and gel makers do (mireds)."""
    return abs(1e6 / float(k1) - 1e6 / float(k2))


def angle_between(v1: Sequence[float], v2: Sequence[float]) -> float:
    """The angle between two 2-D vectors in degrees, 0..180 (0 when either is zero)."""
    x1, y1 = float(v1[0]), float(v1[1])
    x2, y2 = float(v2[0]), float(v2[1])
    n = math.hypot(x1, y1) * math.hypot(x2, y2)
    if n < 1e-12:
        return 0.0
    return math.degrees(math.acos(max(-1.0, min(1.0, (x1 * x2 + y1 * y2) / n))))


def key_vector_name(vec: Sequence[float], strength: float) -> str:
    """The persona record's key direction nearest to a measured key vector and strength.

    "front" below FLAT_STRENGTH; otherwise the nearest of left, right, top and below (a tie
    goes to the side), with a horizontal key below SIDE_STRENGTH named front-left/front-right.
    The back directions are never returned: a face does not show them.
    """
    x, y = float(vec[0]), float(vec[1])
    if strength < FLAT_STRENGTH or math.hypot(x, y) < 1e-9:
        return "front"
    if abs(x) >= abs(y):
        side = "left" if x < 0 else "right"
        return side if strength >= SIDE_STRENGTH else f"front-{side}"
    return "top" if y > 0 else "below"


def wardrobe_distance(lab, palette: Sequence) -> float | None:
    """The smallest CIEDE2000 difference from a garment colour to a palette of Lab colours.

    None when the colour is unknown (None) or the palette is empty.
    """
    if lab is None or palette is None or len(palette) == 0:
        return None
    colours = np.asarray(palette, dtype=np.float64).reshape(-1, 3)
    return float(np.min(delta_e2000(np.asarray(lab, dtype=np.float64), colours)))


# Key strength at which a direction counts fully in `lighting_distance`, and the strength
# difference that counts as 1 (flat against a hard side light is about 0.35).
_DIRECTION_FULL = 0.2
_STRENGTH_SCALE = 0.35


def lighting_distance(
    cct_k: float | None,
    key_vec: Sequence[float] | None,
    key_strength: float,
    target_cct_k: float | None,
    target_vec: Sequence[float] | None,
    target_strength: float,
) -> float:
    """How different two lightings are: 0 the same, about 1 clearly different.

    distance = |mireds(cct) - mireds(target)| / 100          (0 when either temperature is None)
             + angle(key, target) / 90 * w(strength) * w(target_strength)
             + |strength - target_strength| / 0.35

    with w(s) = min(1, s / 0.2); the direction term is 0 when either vector is None or zero
    (flat light has no direction). 100 mireds is daylight (5500 K) against a warm 3500 K
    lamp; opposite hard keys give 2; flat light against a hard side key about 1.
    """
    distance = 0.0
    if cct_k and target_cct_k:
        distance += mired_difference(cct_k, target_cct_k) / 100.0
    s1 = max(0.0, float(key_strength or 0.0))
    s2 = max(0.0, float(target_strength or 0.0))
    if key_vec is not None and target_vec is not None:
        weight = min(1.0, s1 / _DIRECTION_FULL) * min(1.0, s2 / _DIRECTION_FULL)
        distance += angle_between(key_vec, target_vec) / 90.0 * weight
    distance += abs(s1 - s2) / _STRENGTH_SCALE
    return float(distance)
