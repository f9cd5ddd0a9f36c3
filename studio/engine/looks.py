"""A frame's look around a detected face: the garment's colour, and the light on the face.

Regions scale with the face box (x0, y0, x1, y1, as the face engines report it):

* Garment: below the face, horizontally centred on it, `GARMENT_WIDTH` face widths wide, from
  `GARMENT_GAP` face heights below the box's bottom down `GARMENT_DEPTH` face heights (the
  chest and shoulders on a head-and-shoulders shot). Its colour is the centre of the largest
  of three k-means clusters in Lab, after dropping skin-coloured pixels (the neck) and
  merging clusters less than `_MERGE_DE` apart (the lit and shaded sides of one garment).
* Light: the inner `FACE_INNER` of the box around the landmarks' centre (skin, no hair or
  background), turned with the eye line. Its mean colour gives a colour temperature, and the
  linear-luminance differences of its halves give the key light's direction and strength:
  dx = (right - left) / (right + left), dy = (top - bottom) / (top + bottom), strength =
  |(dx, dy)|, direction = (dx, dy) / strength taken back to the image plane (x right, y up),
  pointing where the light comes from. A 2:1 key-to-fill ratio across the face gives about
  0.3; flat light 0 to 0.08 (a face's own relief).

Everything is measured on small copies (at most 64 px a side), so a call takes one or two
milliseconds whatever the frame's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from studio.core.looks import cct_from_rgb, delta_e2000, srgb_to_lab, srgb_to_linear

__all__ = [
    "FACE_INNER",
    "GARMENT_DEPTH",
    "GARMENT_GAP",
    "GARMENT_WIDTH",
    "Look",
    "MIN_GARMENT_COVERAGE",
    "garment_region",
    "measure_look",
]

# A face box's width is about 0.4 of the shoulders'; half a face height below the chin skips
# most of the neck and a collar, and the region ends mid-chest on a head-and-shoulders shot.
GARMENT_WIDTH = 2.5  # face widths
GARMENT_GAP = 0.5  # face heights between the box's bottom and the garment region
GARMENT_DEPTH = 1.5  # face heights
MIN_GARMENT_COVERAGE = 0.25  # below this much of the region in frame, no garment colour
FACE_INNER = 0.6  # the central part of the box whose light is measured

_GARMENT_SIDE = 64
_FACE_SIDE = 48
_SKIN_DE = 12.0  # garment pixels this close (Lab distance) to the face's colour are skin
_KMEANS_STEPS = 8
_MERGE_DE = 10.0  # clusters closer than this (CIEDE2000) are one garment in light and shade
_Y = np.array([0.2126729, 0.7151522, 0.0721750])  # linear sRGB to luminance


@dataclass(frozen=True)
class Look:
    """What a frame shows of a persona's look around one face (see the module doc)."""

    garment_lab: tuple[float, float, float] | None  # None when too little of it is in frame
    garment_coverage: float  # fraction of the garment region inside the frame
    face_lab: tuple[float, float, float] | None  # mean Lab of the inner face
    face_cct_k: float | None  # colour temperature of the inner face's mean colour
    key_vec: tuple[float, float]  # where the key light comes from (x right, y up); (0, 0) flat
    key_strength: float  # 0 flat; (lit - shadow) / (lit + shadow) across the face

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (tuples become lists)."""
        return {
            "garment_lab": None if self.garment_lab is None else list(self.garment_lab),
            "garment_coverage": self.garment_coverage,
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

        cct = d.get("face_cct_k")
        return cls(
            garment_lab=triple(d.get("garment_lab")),
            garment_coverage=float(d.get("garment_coverage", 0.0)),
            face_lab=triple(d.get("face_lab")),
            face_cct_k=None if cct is None else float(cct),
            key_vec=tuple(float(x) for x in d.get("key_vec", (0.0, 0.0))),
            key_strength=float(d.get("key_strength", 0.0)),
        )


def garment_region(box: Sequence[float]) -> tuple[float, float, float, float]:
    """The garment region (x0, y0, x1, y1) in pixels for a face box, before clipping."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    top = y1 + GARMENT_GAP * h
    return cx - GARMENT_WIDTH * w / 2, top, cx + GARMENT_WIDTH * w / 2, top + GARMENT_DEPTH * h


def measure_look(
    rgb: np.ndarray,
    box: Sequence[float],
    landmarks: Sequence[Sequence[float]] | None = None,
) -> Look:
    """Measure the garment colour and the light on one face of an RGB frame.

    rgb: HxWx3 uint8. box: the face's (x0, y0, x1, y1) in pixels. landmarks: its 5 points in
    `studio.core.faces.LANDMARKS` order; they centre the face region and give the eye line's
    roll (without them the box's centre and no roll are used).
    """
    img = _as_rgb(rgb)
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 - x0 > 1 and y1 - y0 > 1):
        return Look(None, 0.0, None, None, (0.0, 0.0), 0.0)
    face_lab, face_cct, key_vec, key_strength = _measure_face(img, (x0, y0, x1, y1), landmarks)
    garment_lab, coverage = _measure_garment(img, (x0, y0, x1, y1), face_lab)
    return Look(garment_lab, coverage, face_lab, face_cct, key_vec, key_strength)


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    img = np.asarray(rgb)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    img = img[:, :, :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


def _shrink(crop: np.ndarray, side: int) -> np.ndarray:
    """The crop no larger than side x side (area averaging), as float RGB."""
    h, w = crop.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        crop = cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)
    return crop.astype(np.float64)


# -- garment ------------------------------------------------------------------------------------


def _measure_garment(
    img: np.ndarray, box: tuple[float, float, float, float], face_lab
) -> tuple[tuple[float, float, float] | None, float]:
    height, width = img.shape[:2]
    gx0, gy0, gx1, gy1 = garment_region(box)
    full = (gx1 - gx0) * (gy1 - gy0)
    cx0, cy0 = max(gx0, 0.0), max(gy0, 0.0)
    cx1, cy1 = min(gx1, float(width)), min(gy1, float(height))
    inside = max(0.0, cx1 - cx0) * max(0.0, cy1 - cy0)
    coverage = float(inside / full) if full > 0 else 0.0
    ix0, iy0, ix1, iy1 = int(cx0), int(cy0), int(math.ceil(cx1)), int(math.ceil(cy1))
    if coverage < MIN_GARMENT_COVERAGE or ix1 - ix0 < 2 or iy1 - iy0 < 2:
        return None, coverage
    small = _shrink(img[iy0:iy1, ix0:ix1], _GARMENT_SIDE)
    lab = srgb_to_lab(small.reshape(-1, 3))
    if face_lab is not None:
        # The neck and a low neckline show skin; drop it unless it is most of the region.
        clothed = np.linalg.norm(lab - np.asarray(face_lab), axis=1) > _SKIN_DE
        if clothed.sum() >= 0.25 * len(lab):
            lab = lab[clothed]
    centre = _dominant(lab)
    return tuple(round(float(v), 3) for v in centre), round(coverage, 4)


def _dominant(lab: np.ndarray, k: int = 3) -> np.ndarray:
    """The centre of the largest of k clusters (k-means, farthest-point start: deterministic)."""
    if len(lab) <= k:
        return lab.mean(axis=0)
    centres = [np.median(lab, axis=0)]
    nearest = np.sum((lab - centres[0]) ** 2, axis=1)
    for _ in range(k - 1):
        centres.append(lab[int(np.argmax(nearest))])
        nearest = np.minimum(nearest, np.sum((lab - centres[-1]) ** 2, axis=1))
    c = np.array(centres)
    norms = np.sum(lab * lab, axis=1)
    labels = np.zeros(len(lab), dtype=np.intp)
    for _ in range(_KMEANS_STEPS):
        d = norms[:, None] - 2.0 * (lab @ c.T) + np.sum(c * c, axis=1)[None, :]
        labels = np.argmin(d, axis=1)
        sizes = np.bincount(labels, minlength=k)
        for ch in range(3):
            sums = np.bincount(labels, weights=lab[:, ch], minlength=k)
            c[:, ch] = np.where(sizes > 0, sums / np.maximum(sizes, 1), c[:, ch])
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    # Fold each cluster into a larger one close to it, largest first, so folds and shading
    # of one garment do not lose to a smaller patch of something else.
    order = [int(j) for j in np.argsort(-counts, kind="stable")]
    groups: list[list[int]] = []
    for j in order:
        for group in groups:
            if delta_e2000(c[group[0]], c[j]) < _MERGE_DE:
                group.append(j)
                break
        else:
            groups.append([j])
    best = max(groups, key=lambda g: counts[g].sum())
    return c[best[0]]


# -- light on the face --------------------------------------------------------------------------


def _measure_face(
    img: np.ndarray,
    box: tuple[float, float, float, float],
    landmarks: Sequence[Sequence[float]] | None,
):
    height, width = img.shape[:2]
    x0, y0, x1, y1 = box
    hw, hh = FACE_INNER * (x1 - x0) / 2, FACE_INNER * (y1 - y0) / 2
    roll = 0.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    pts = None if landmarks is None else np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if pts is not None and len(pts) >= 3 and np.all(np.isfinite(pts)):
        cx, cy = (float(v) for v in pts.mean(axis=0))
        d = pts[1] - pts[0]
        if np.hypot(*d) > 1e-6:
            roll = math.atan2(d[1], d[0])
    reach = math.hypot(hw, hh) if roll else max(hw, hh)
    ix0, iy0 = max(0, int(cx - reach)), max(0, int(cy - reach))
    ix1, iy1 = min(width, int(math.ceil(cx + reach))), min(height, int(math.ceil(cy + reach)))
    nothing = (None, None, (0.0, 0.0), 0.0)
    if ix1 - ix0 < 2 or iy1 - iy0 < 2:
        return nothing
    small = _shrink(img[iy0:iy1, ix0:ix1], _FACE_SIDE)
    sh, sw = small.shape[:2]
    # Sample centres back in image pixels, then in the face's own frame (u along the eye line
    # to the image's right, v down the face).
    xs = ix0 + (np.arange(sw) + 0.5) * (ix1 - ix0) / sw - cx
    ys = iy0 + (np.arange(sh) + 0.5) * (iy1 - iy0) / sh - cy
    gx, gy = np.meshgrid(xs, ys)
    cos, sin = math.cos(roll), math.sin(roll)
    u = gx * cos + gy * sin
    v = -gx * sin + gy * cos
    inside = (np.abs(u) <= hw) & (np.abs(v) <= hh)
    if inside.sum() < 8:
        return nothing
    pixels = small[inside]
    u, v = u[inside], v[inside]
    luminance = srgb_to_linear(pixels) @ _Y
    # Specular highlights, pupils and nostrils say little about the light's colour.
    lo, hi = np.percentile(luminance, (5, 95))
    body = pixels[(luminance >= lo) & (luminance <= hi)]
    if len(body) < 4:
        body = pixels
    face_lab = tuple(round(float(c), 3) for c in srgb_to_lab(pixels).mean(axis=0))
    cct = cct_from_rgb(tuple(body.mean(axis=0)))
    dx = _contrast(luminance[u > 0], luminance[u < 0])
    dy = _contrast(luminance[v < 0], luminance[v > 0])
    strength = math.hypot(dx, dy)
    if strength < 1e-9:
        return face_lab, cct, (0.0, 0.0), 0.0
    # Back to the image plane: the face's right axis is (cos, sin) and its down axis
    # (-sin, cos) in image pixels (y down); the result flips y to point up.
    fx, fy = dx / strength, dy / strength
    ix = fx * cos + (-fy) * (-sin)
    iy = fx * sin + (-fy) * cos
    key_vec = (round(ix, 6), round(-iy, 6))
    return face_lab, cct, key_vec, round(strength, 6)


def _contrast(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a - mean b) / (mean a + mean b); 0 when either side is empty or black."""
    if not len(a) or not len(b):
        return 0.0
    ma, mb = float(a.mean()), float(b.mean())
    return (ma - mb) / (ma + mb) if ma + mb > 1e-9 else 0.0
