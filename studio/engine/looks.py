"""A frame's look around a detected face: the colours of the clothes worn, the light on the face.

Garment: the person is separated from the background with OpenCV's GrabCut, seeded by the face
box (the face and a patch of the chest are the person; what lies beside the head above the chin
is background). The garment is the part of that person below the chin and inside a torso that
widens with depth, less the pixels of her own skin (neck, hands). Its colours are summarised as
a palette of up to `PALETTE_SIZE` Lab colours with their weights (k-means), so a white shirt under
a dark suit, a tie or a logo are all kept, each with its share. Too little garment in frame (a
close-up that ends at the chin) gives no palette, with the reason.

Light: the skin between the eyes, cheeks and nose tip, an ellipse placed by the landmarks and
turned with the eye line (no hair, no background, above a microphone or a hand at the mouth);
pixels off the skin's own chroma (glasses, stubble, a specular glint) are left out. Their mean
linear colour gives the skin's colour temperature, and the luminance of the face's halves
either side of the nose line gives the key light: dx = (right - left) / (right + left),
dy = (top - bottom) / (top + bottom), strength = |(dx, dy)|, direction taken back to the image
plane (x right, y up), pointing where the light comes from.

Everything is measured on small copies, so a call takes a few milliseconds whatever the frame's
size. `LOOK_VERSION` names this way of measuring; looks stored by another are measured again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from studio.core.looks import (
    LOOK_VERSION,
    cct_from_linear,
    linear_to_srgb,
    srgb_to_lab,
    srgb_to_linear,
)

__all__ = [
    "LOOK_VERSION",
    "MIN_GARMENT_AREA",
    "PALETTE_SIZE",
    "Look",
    "garment_mask",
    "measure_look",
]

PALETTE_SIZE = 6  # colours kept of a garment
MIN_PALETTE_WEIGHT = 0.01  # a colour with a smaller share is noise
MIN_GARMENT_AREA = 0.4  # garment pixels, in face-box areas, below which there is no palette
_GARMENT_SIDE = 64
_GRABCUT_STEPS = 1
_FACE_SIDE = 48
_SKIN_DE = 12.0  # garment pixels this close to the face's colour (L weighted a third) are skin
_SKIN_CHROMA = 12.0  # face pixels further than this from the face's median chroma are not skin
_CLIPPED = 250  # a pixel with a channel this bright is clipped
_Y = np.array([0.2126729, 0.7151522, 0.0721750])  # linear sRGB to luminance


@dataclass(frozen=True)
class Look:
    """What a frame shows of a persona's look around one face (see the module doc)."""

    garment: tuple[tuple[tuple[float, float, float], float], ...] | None  # (Lab, weight), by weight
    garment_area: float  # garment pixels found, in face-box areas
    face_lab: tuple[float, float, float] | None  # Lab of the skin's mean linear colour
    face_cct_k: float | None  # colour temperature of that colour
    key_vec: tuple[float, float]  # where the key light comes from (x right, y up); (0, 0) flat
    key_strength: float  # 0 flat; (lit - shadow) / (lit + shadow) across the face
    version: int = LOOK_VERSION

    @property
    def garment_lab(self) -> tuple[float, float, float] | None:
        """The garment's main colour (the palette's heaviest)."""
        return self.garment[0][0] if self.garment else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (tuples become lists)."""
        return {
            "version": self.version,
            "garment": None
            if self.garment is None
            else [[list(lab), weight] for lab, weight in self.garment],
            "garment_area": self.garment_area,
            "face_lab": None if self.face_lab is None else list(self.face_lab),
            "face_cct_k": self.face_cct_k,
            "key_vec": list(self.key_vec),
            "key_strength": self.key_strength,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Look:
        """Rebuild a look stored with `to_dict`."""

        def triple(v):
            return None if v is None else tuple(float(x) for x in v)

        garment = d.get("garment")
        cct = d.get("face_cct_k")
        return cls(
            garment=None
            if garment is None
            else tuple((triple(lab), float(weight)) for lab, weight in garment),
            garment_area=float(d.get("garment_area", 0.0)),
            face_lab=triple(d.get("face_lab")),
            face_cct_k=None if cct is None else float(cct),
            key_vec=tuple(float(x) for x in d.get("key_vec", (0.0, 0.0))),
            key_strength=float(d.get("key_strength", 0.0)),
            version=int(d.get("version", 1)),
        )


def measure_look(
    rgb: np.ndarray,
    box: Sequence[float],
    landmarks: Sequence[Sequence[float]] | None = None,
) -> Look:
    """Measure the garment's colours and the light on one face of an RGB frame.

    rgb: HxWx3 uint8. box: the face's (x0, y0, x1, y1) in pixels. landmarks: its 5 points in
    `studio.core.faces.LANDMARKS` order; they place the skin region and give the eye line's
    roll (without them the box's centre and no roll are used).
    """
    img = _as_rgb(rgb)
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 - x0 > 1 and y1 - y0 > 1):
        return Look(None, 0.0, None, None, (0.0, 0.0), 0.0)
    face_lab, cct, key_vec, strength = _measure_face(img, (x0, y0, x1, y1), landmarks)
    garment, area = _measure_garment(img, (x0, y0, x1, y1), face_lab)
    return Look(garment, area, face_lab, cct, key_vec, strength)


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    img = np.asarray(rgb)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


@dataclass(frozen=True)
class _Patch:
    """A region of the frame shrunk to at most `side` px: pixels and their centres' coordinates."""

    pixels: np.ndarray  # h x w x 3 uint8
    xs: np.ndarray  # image x of each column's centre
    ys: np.ndarray  # image y of each row's centre
    pixel_area: float  # image pixels per patch pixel


def _patch(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, side: int) -> _Patch | None:
    height, width = img.shape[:2]
    ix0, iy0 = max(0, int(x0)), max(0, int(y0))
    ix1, iy1 = min(width, int(math.ceil(x1))), min(height, int(math.ceil(y1)))
    if ix1 - ix0 < 2 or iy1 - iy0 < 2:
        return None
    crop = img[iy0:iy1, ix0:ix1]
    h, w = crop.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        crop = cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)
    sx, sy = (ix1 - ix0) / crop.shape[1], (iy1 - iy0) / crop.shape[0]
    return _Patch(
        np.ascontiguousarray(crop),
        ix0 + (np.arange(crop.shape[1]) + 0.5) * sx,
        iy0 + (np.arange(crop.shape[0]) + 0.5) * sy,
        sx * sy,
    )


# -- garment ------------------------------------------------------------------------------------


def garment_mask(
    rgb: np.ndarray, box: Sequence[float], face_lab: Sequence[float] | None = None
) -> tuple[np.ndarray, _Patch] | None:
    """The garment's pixels around a face: a mask over a shrunk copy of the region, and the copy.

    The patch's xs and ys give each column's and row's centre in the frame's pixels. None when
    the region around the face is not in frame.
    """
    img = _as_rgb(rgb)
    x0, y0, x1, y1 = (float(v) for v in box)
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    patch = _patch(img, cx - 3.0 * fw, y0 - 0.3 * fh, cx + 3.0 * fw, y1 + 3.5 * fh, _GARMENT_SIDE)
    if patch is None or min(patch.pixels.shape[:2]) < 8:
        return None
    gx, gy = np.meshgrid(patch.xs, patch.ys)
    u = (gx - cx) / fw  # face widths right of the face's centre
    v = (gy - y1) / fh  # face heights below the chin
    # Shoulders are about 2.5 face widths across and the torso widens a little below them.
    torso = (v > 0) & (np.abs(u) < 0.9 + 0.45 * np.clip(v, 0, 2))
    mask = np.full(u.shape, cv2.GC_PR_BGD, np.uint8)
    mask[torso] = cv2.GC_PR_FGD
    mask[(np.abs(u) < 0.25) & (gy > y0 + 0.25 * fh) & (gy < y1 - 0.15 * fh)] = cv2.GC_FGD
    mask[(v > 0.25) & (v < 0.8) & (np.abs(u) < 0.3)] = cv2.GC_FGD
    mask[(gy < y1 - 0.2 * fh) & (np.abs(u) > 1.4)] = cv2.GC_BGD  # beside the head
    person = torso
    if np.count_nonzero((mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)) >= 16:
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        try:
            cv2.grabCut(patch.pixels, mask, None, bgd, fgd, _GRABCUT_STEPS, cv2.GC_INIT_WITH_MASK)
            person = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        except cv2.error:  # a flat region GrabCut cannot model: keep the torso
            person = torso
    garment = person & torso & (v > 0.15)
    if face_lab is not None and garment.any():
        lab = srgb_to_lab(patch.pixels[garment].reshape(-1, 3))
        f = np.asarray(face_lab, dtype=np.float64)
        d = np.sqrt(((lab[:, 0] - f[0]) / 3) ** 2 + np.sum((lab[:, 1:] - f[1:]) ** 2, axis=1))
        keep = garment.copy()
        keep[garment] = d > _SKIN_DE
        garment = keep
    return garment, patch


def _measure_garment(img: np.ndarray, box, face_lab):
    found = garment_mask(img, box, face_lab)
    if found is None:
        return None, 0.0
    garment, patch = found
    x0, y0, x1, y1 = box
    area = float(np.count_nonzero(garment) * patch.pixel_area / ((x1 - x0) * (y1 - y0)))
    if area < MIN_GARMENT_AREA:
        return None, round(area, 4)
    # The chest counts most: what the segmentation lets through at the torso's sides and far
    # below the chin is more often background, an arm or a prop than the garment.
    gx, gy = np.meshgrid(patch.xs, patch.ys)
    u, v = (gx - (x0 + x1) / 2) / (x1 - x0), (gy - y1) / (y1 - y0)
    weight = np.exp(-0.5 * u**2) * np.exp(-0.5 * (np.maximum(v - 0.5, 0) / 0.8) ** 2)
    lab = srgb_to_lab(patch.pixels[garment].reshape(-1, 3))
    return _palette(lab, weight[garment]), round(area, 4)


def _palette(
    lab: np.ndarray, weight: np.ndarray | None = None
) -> tuple[tuple[tuple[float, float, float], float], ...] | None:
    """Up to PALETTE_SIZE colours with their weighted shares (k-means++, a fixed seed)."""
    k = min(PALETTE_SIZE, len(lab))
    if k < 1:
        return None
    cv2.setRNGSeed(7)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centres = cv2.kmeans(
        lab.astype(np.float32), k, None, criteria, 2, cv2.KMEANS_PP_CENTERS
    )
    weights = np.bincount(labels.ravel(), weights=weight, minlength=k)
    weights = weights / weights.sum()
    keep = weights >= MIN_PALETTE_WEIGHT
    kept = sorted(
        zip(centres[keep].astype(np.float64), weights[keep] / weights[keep].sum(), strict=True),
        key=lambda cw: -cw[1],
    )
    return tuple((tuple(round(float(c), 2) for c in lab_), round(float(w), 4)) for lab_, w in kept)


# -- light on the face --------------------------------------------------------------------------


def _measure_face(img: np.ndarray, box, landmarks):
    nothing = (None, None, (0.0, 0.0), 0.0)
    x0, y0, x1, y1 = box
    pts = None if landmarks is None else np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if pts is not None and len(pts) >= 3 and np.all(np.isfinite(pts)):
        left, right, nose = pts[0], pts[1], pts[2]
    else:  # where the landmarks would be on a frontal face in this box
        w, h = x1 - x0, y1 - y0
        left = np.array([x0 + 0.3 * w, y0 + 0.38 * h])
        right = np.array([x0 + 0.7 * w, y0 + 0.38 * h])
        nose = np.array([x0 + 0.5 * w, y0 + 0.6 * h])
    eyes = (left + right) / 2
    spacing = float(np.hypot(*(right - left)))
    if spacing < 4:
        return nothing
    roll = math.atan2(right[1] - left[1], right[0] - left[0])
    across = np.array([math.cos(roll), math.sin(roll)])  # along the eye line, to the image right
    down = np.array([-math.sin(roll), math.cos(roll)])  # down the face
    centre = eyes + (nose - eyes) * 0.6
    half_w, half_h = 1.05 * spacing, 0.85 * spacing
    reach = max(half_w, half_h)
    patch = _patch(
        img, centre[0] - reach, centre[1] - reach, centre[0] + reach, centre[1] + reach, _FACE_SIDE
    )
    if patch is None:
        return nothing
    gx, gy = np.meshgrid(patch.xs - centre[0], patch.ys - centre[1])
    u = gx * across[0] + gy * across[1]
    v = gx * down[0] + gy * down[1]
    # The cheeks, nose and eyes; not the mouth and chin, where a hand or microphone often is.
    inside = ((u / half_w) ** 2 + (v / half_h) ** 2 <= 1) & (v < 0.55 * spacing)
    if np.count_nonzero(inside) < 12:
        return nothing
    pixels = patch.pixels[inside].astype(np.float64)
    u = u[inside] - float((nose - centre) @ across)  # the nose line splits the face's halves
    v = v[inside]
    lab = srgb_to_lab(pixels)
    a_med, b_med = np.median(lab[:, 1]), np.median(lab[:, 2])
    linear = srgb_to_linear(pixels)
    luminance = linear @ _Y
    lo, hi = np.percentile(luminance, (5, 97))
    # A channel at its ceiling has lost the light's colour: an overexposed cheek turns paler
    # and yellower whatever the light.
    # Its brightness still tells where the key is.
    skin = (
        (np.hypot(lab[:, 1] - a_med, lab[:, 2] - b_med) < _SKIN_CHROMA)
        & (luminance >= lo)
        & (luminance <= hi)
    )
    if np.count_nonzero(skin) < 8:
        skin = np.ones(len(pixels), bool)
    coloured = skin & (pixels.max(axis=1) < _CLIPPED)
    if np.count_nonzero(coloured) < 8:
        coloured = skin
    mean_linear = linear[coloured].mean(axis=0)
    face_lab = tuple(round(float(c), 3) for c in srgb_to_lab(linear_to_srgb(mean_linear)))
    cct = cct_from_linear(mean_linear)
    lum, u, v = luminance[skin], u[skin], v[skin]
    margin = 0.1 * spacing  # the nose's ridge belongs to neither side
    dx = _contrast(lum[u > margin], lum[u < -margin])
    dy = _contrast(lum[v < -margin], lum[v > margin])
    strength = math.hypot(dx, dy)
    if strength < 1e-9:
        return face_lab, cct, (0.0, 0.0), 0.0
    # Back to the image plane (y down), then y flipped to point up.
    fx, fy = dx / strength, dy / strength
    ix = fx * across[0] - fy * down[0]
    iy = fx * across[1] - fy * down[1]
    return face_lab, cct, (round(float(ix), 6), round(float(-iy), 6)), round(strength, 6)


def _contrast(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a - mean b) / (mean a + mean b); 0 when either side is empty or black."""
    if not len(a) or not len(b):
        return 0.0
    ma, mb = float(a.mean()), float(b.mean())
    return (ma - mb) / (ma + mb) if ma + mb > 1e-9 else 0.0
