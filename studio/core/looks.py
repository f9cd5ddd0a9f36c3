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
    "HUE_SLACK",
    "HUE_UNIT",
    "KEY_UNIT",
    "LOOK_VERSION",
    "SIDE_STRENGTH",
    "adapt_palette",
    "angle_between",
    "cct_from_linear",
    "cct_from_rgb",
    "delta_e2000",
    "hue_difference",
    "key_difference",
    "key_vector_name",
    "lab_to_linear",
    "lighting_distance",
    "linear_to_srgb",
    "mired_difference",
    "palette_distance",
    "planckian_xyz",
    "relight_matrix",
    "srgb_to_lab",
    "srgb_to_linear",
]

# The way `studio.engine.looks` measures a look; looks stored with another are measured again.
LOOK_VERSION = 2
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


_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)


def planckian_xyz(kelvin: float) -> np.ndarray:
    """XYZ (Y = 1) of a black-body light at 1667..25000 K (Kim et al.'s cubic fit)."""
    t = min(max(float(kelvin), 1667.0), 25000.0)
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return np.array([x / y, 1.0, (1 - x - y) / y])


def relight_matrix(from_k: float, to_k: float) -> np.ndarray:
    """The 3x3 matrix on linear sRGB that moves a scene's light from from_k to to_k (Bradford)."""
    source, target = _BRADFORD @ planckian_xyz(from_k), _BRADFORD @ planckian_xyz(to_k)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(target / source) @ _BRADFORD
    return np.linalg.inv(_SRGB_TO_XYZ) @ adapt @ _SRGB_TO_XYZ


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


Palette = Sequence[tuple[Sequence[float], float]]  # (Lab colour, weight) pairs

# Trimmed from a frame's palette before it is compared: its least-explained colours up to this
# share, so a hand, a microphone or a strip of background in the garment region does not count.
PALETTE_TRIM = 0.12
# Skin colour gains outside this range are not a change of light but another face or a bad box.
_GAIN_RANGE = (0.5, 2.0)
_BRIGHTNESS_RANGE = (0.67, 1.5)


def lab_to_linear(lab) -> np.ndarray:
    """Linear sRGB 0..1 (unclipped) of CIE L*a*b* (D65) colours, (..., 3)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    delta = 6 / 29
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f > delta, f**3, 3 * delta**2 * (f - 4 / 29)) * _WHITE
    return xyz @ np.linalg.inv(_SRGB_TO_XYZ).T


def linear_to_srgb(linear) -> np.ndarray:
    """Linear sRGB 0..1 to gamma-encoded sRGB 0..255 (float, clipped)."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055) * 255.0


def cct_from_linear(linear_mean: Sequence[float]) -> float | None:
    """`cct_from_rgb` of a mean colour already in linear light (0..1)."""
    return cct_from_rgb(linear_to_srgb(np.asarray(linear_mean, dtype=np.float64).reshape(3)))


def adapt_palette(palette: Palette, face_lab, target_face_lab) -> list[tuple[tuple, float]]:
    """A palette seen under the light that made `face_lab` look like `target_face_lab`.

    Her skin is the one colour known to be the same in both pictures, so the change of its
    colour is the change of the light: the palette's linear colours are scaled by the skin's
    per-channel gains (von Kries); a change of brightness is undone up to 1.5 times. Unchanged
    when either face colour is unknown or the light's colour change is implausible.
    """
    colours = [(tuple(float(c) for c in lab), float(w)) for lab, w in palette]
    if face_lab is None or target_face_lab is None or not colours:
        return colours
    source, target = lab_to_linear(face_lab), lab_to_linear(target_face_lab)
    if np.any(source <= 1e-4) or np.any(target <= 1e-4):
        return colours
    gains = target / source
    brightness = float(gains @ _SRGB_TO_XYZ[1])
    gains = gains / brightness  # the light's colour ...
    if np.any(gains < _GAIN_RANGE[0]) or np.any(gains > _GAIN_RANGE[1]):
        return colours
    # ... and, within reason, its brightness (a face in shade is not the clothes' colour).
    gains *= min(max(brightness, _BRIGHTNESS_RANGE[0]), _BRIGHTNESS_RANGE[1])
    linear = lab_to_linear(np.array([lab for lab, _ in colours])) * gains
    adapted = srgb_to_lab(linear_to_srgb(linear))
    return [(tuple(float(c) for c in lab), w) for lab, (_, w) in zip(adapted, colours, strict=True)]


def palette_distance(
    frame: Palette, reference: Palette, trim: float = PALETTE_TRIM
) -> float | None:
    """How far a frame's garment colours are from a reference's: a weighted mean CIEDE2000.

    Each of the frame's colours is matched with the nearest of the reference's, and the
    differences are averaged by the frame's weights, after its least-explained colours up to
    `trim` of the weight are left out (a hand, a microphone, background). Only the frame's
    colours must be explained: a close-up shows part of an outfit that the reference shows
    whole. None when either palette is empty.
    """
    if not frame or not reference:
        return None
    colours = np.array([lab for lab, _ in frame], dtype=np.float64).reshape(-1, 3)
    weights = np.array([w for _, w in frame], dtype=np.float64)
    targets = np.array([lab for lab, _ in reference], dtype=np.float64).reshape(-1, 3)
    nearest = np.array([float(np.min(delta_e2000(c, targets))) for c in colours])
    left = trim * weights.sum()
    for i in np.argsort(-nearest, kind="stable"):
        if weights[i] > left:
            break
        left -= weights[i]
        weights[i] = 0.0
    if weights.sum() <= 0:
        return float(nearest.min())
    return float((nearest * weights).sum() / weights.sum())


# The light's colour is read from the hue of her skin. A change of the light's colour temperature
# turns the skin's hue (1,500 K warmer or cooler turned it by 4 to 27 degrees on real photos)
# while a grade (saturation, contrast, exposure) scales its chroma and leaves the hue within
# about a degree; the skin's colour temperature moves with both, so it is shown, not compared.
# In `lighting_distance` a hue difference counts (degrees - HUE_SLACK) / HUE_UNIT: HUE_SLACK is
# what a grade or a GIF's palette turns a skin by (up to about 2.8 degrees, which counts 0.9),
# so 3 degrees count 1. A key vector difference of KEY_UNIT counts 1: the same light on a moving
# face stays within about 0.03; a key moved to the other side changes it by 0.15 or more.
HUE_SLACK = 1.0
HUE_UNIT = 2.0
MIN_SKIN_CHROMA = 6.0  # below this the skin shows no hue (a greyscale or washed-out frame)
KEY_UNIT = 0.08
_VERTICAL_WEIGHT = 0.5  # brow and chin shade the face's halves unevenly whatever the light
TYPICAL_KEY = 0.2  # the key strength a named side key is taken to have (record-only light)
KEY_STRENGTH_RATIO = 1.5  # keys this much stronger or weaker than each other are the same key


def hue_difference(lab1, lab2) -> float | None:
    """The difference of two colours' hue angles in degrees (-180..180), None when either is
    too grey to have one."""
    a1, b1 = float(lab1[1]), float(lab1[2])
    a2, b2 = float(lab2[1]), float(lab2[2])
    if math.hypot(a1, b1) < MIN_SKIN_CHROMA or math.hypot(a2, b2) < MIN_SKIN_CHROMA:
        return None
    d = math.degrees(math.atan2(b1, a1) - math.atan2(b2, a2))
    return (d + 180.0) % 360.0 - 180.0


def key_difference(key_vec, key_strength, target_vec, target_strength) -> float:
    """How far two keys are apart: the difference of their vectors (direction times strength).

    A grade's contrast scales a key's strength without moving the light, so strengths within
    KEY_STRENGTH_RATIO of each other count as the same; only direction and larger changes of
    strength count.
    """
    s1 = max(0.0, float(key_strength or 0.0))
    s2 = max(0.0, float(target_strength or 0.0))
    matched = min(max(s1, s2 / KEY_STRENGTH_RATIO), s2 * KEY_STRENGTH_RATIO)
    a = np.asarray(key_vec, dtype=np.float64) * s1
    b = np.asarray(target_vec, dtype=np.float64) * matched
    dx, dy = a - b
    return float(math.hypot(dx, _VERTICAL_WEIGHT * dy))


def lighting_distance(
    face_lab: Sequence[float] | None,
    key_vec: Sequence[float] | None,
    key_strength: float,
    target_face_lab: Sequence[float] | None,
    target_vec: Sequence[float] | None,
    target_strength: float,
) -> float:
    """How different two lightings of one face are: below 1 the same light, above it another.

    The larger of the skin's hue difference less HUE_SLACK, / HUE_UNIT (the light's colour; 0
    when either skin colour is unknown or grey) and the key vectors' difference / KEY_UNIT (0
    when either key is unknown).
    """
    colour = 0.0
    if face_lab is not None and target_face_lab is not None:
        turned = hue_difference(face_lab, target_face_lab)
        colour = 0.0 if turned is None else max(0.0, abs(turned) - HUE_SLACK) / HUE_UNIT
    key = 0.0
    if key_vec is not None and target_vec is not None:
        key = key_difference(key_vec, key_strength, target_vec, target_strength) / KEY_UNIT
    return float(max(colour, key))
