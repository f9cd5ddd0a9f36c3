"""Per-face attributes every engine reports: size, head pose, sharpness and exposure.

Head pose comes from the eyes and the nose alone, so it works with any 5-point detector.
The method (weak perspective, one average head):

* roll is the angle of the line from the image-left eye to the image-right eye; positive
  when the image-right eye is lower, i.e. the head is tilted clockwise on screen.
* The points are rotated by -roll about the eyes' midpoint. In that frame the nose point
  sits ``drop`` inter-ocular distances (IOD) below the eye line and ``depth`` IOD in front
  of the eyes' plane on a frontal face (`NoseModel`).
* Nodding (pitch) by p moves the nose vertically to IOD*(drop*cos(p) - depth*sin(p)) and
  brings it out to reach = drop*sin(p) + depth*cos(p) in front of the eyes. Positive looks up.
  The vertical offset peaks at p = -atan(depth/drop); a nose found lower still (a bowed head,
  or a long nose) reads as looking further down, continuing smoothly.
* A turn (yaw) by t then shortens the projected IOD to IOD*cos(t) and moves the nose sideways
  by reach*IOD*sin(t): nose offset / projected IOD = reach*tan(t). Positive yaw turns the face
  toward the image's right (the nose moves right).
* The two equations couple through cos(t) and reach; a bisection over the pitch solves them
  exactly for a head that nods, then turns, then tilts.

The average head's proportions make the absolute angles approximate (a long or short nose
reads as a few degrees of pitch), but the signs and the ordering of poses are reliable, which
is what pose coverage and "extreme pose" flags need. Mouth corners are not used: the dlib
engine's 5-point model has none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from studio.core.faces import Face

# Sharpness is 1 - exp(-v / SHARPNESS_SCALE) for the variance v of the Laplacian of the aligned
# grey crop, resized to SHARPNESS_SIZE and its contrast set to a standard deviation of
# SHARPNESS_STD grey levels (so a dark or flat-lit face is not called blurred: exposure says
# that). Sharp real face crops give v of 160-1000 (0.8-1.0); the same blurred by a Gaussian of
# sigma 2 px of the 150 px crop give 30-90 (0.25-0.6), sigma 3 px 15-50 (0.15-0.4).
SHARPNESS_SIZE = 112
SHARPNESS_STD = 50.0
SHARPNESS_SCALE = 100.0
MIN_CONTRAST_STD = 2.0  # below this a crop is flat: nothing to be sharp


@dataclass(frozen=True)
class NoseModel:
    """Where an engine's nose point sits on an average frontal head, in inter-ocular distances."""

    drop: float  # below the eye line
    depth: float  # in front of the plane of the eyes


# insightface (SCRFD) marks the tip of the nose; dlib's 5-point model the base of the nose,
# which sits lower and protrudes less. Drops are those of each engine's frontal template.
NOSE_TIP = NoseModel(drop=0.57, depth=0.50)
NOSE_BASE = NoseModel(drop=0.74, depth=0.35)


def face_size(box: Sequence[float]) -> float:
    """The face's size in pixels: the longer side of its box."""
    x0, y0, x1, y1 = box
    return float(max(x1 - x0, y1 - y0))


def head_pose(
    landmarks: Sequence[Sequence[float]], nose: NoseModel = NOSE_TIP
) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees from 5 landmarks in `LANDMARKS` order (see module doc)."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    eye_l, eye_r, tip = pts[0], pts[1], pts[2]
    d = eye_r - eye_l
    iod = float(np.hypot(*d))
    if iod < 1e-6:
        return 0.0, 0.0, 0.0
    roll = math.atan2(d[1], d[0])
    c, s = math.cos(-roll), math.sin(-roll)
    rel = tip - (eye_l + eye_r) / 2.0
    nx = c * rel[0] - s * rel[1]
    ny = s * rel[0] + c * rel[1]
    r, w = nx / iod, ny / iod  # both in projected inter-ocular distances
    min_reach = nose.depth / 4

    def turn(pitch: float) -> float:
        # How far the nose stands out after the nod; never below a quarter of the frontal
        # depth, where the turn would become unobservable.
        reach = max(nose.drop * math.sin(pitch) + nose.depth * math.cos(pitch), min_reach)
        return math.atan(r / reach)

    def excess(pitch: float) -> float:
        # Model drop minus observed drop (the observed one is rescaled by the turn's cos).
        drop = nose.drop * math.cos(pitch) - nose.depth * math.sin(pitch)
        return drop - w * math.cos(turn(pitch))

    # On [-alpha, 90 deg] the model's drop falls as the head looks up, so `excess` falls too
    # and bisection finds the one pose that explains the nose.
    alpha = math.atan2(nose.depth, nose.drop)
    lo, hi = -alpha, math.pi / 2
    if excess(lo) < 0:
        # Lower than the average head allows at any pitch: a long nose or a head bowed past
        # -alpha. Keep going down smoothly instead of piling such faces up at -alpha.
        yaw = turn(lo)
        beyond = w * math.cos(yaw) - math.hypot(nose.drop, nose.depth)
        pitch = -alpha - (math.pi / 2 - alpha) * min(1.0, beyond / nose.depth)
    elif excess(hi) > 0:
        pitch = hi
        yaw = turn(hi)
    else:
        for _ in range(50):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
        pitch = (lo + hi) / 2
        yaw = turn(pitch)
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def sharpness(crop: np.ndarray) -> float:
    """0..1 from the variance of the Laplacian of an aligned face crop (RGB or grey)."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    if grey.shape[:2] != (SHARPNESS_SIZE, SHARPNESS_SIZE):
        # A fixed size makes crops of different engines (150 px, 112 px) comparable.
        grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    grey = grey.astype(np.float64)
    std = float(grey.std())
    if std < MIN_CONTRAST_STD:
        return 0.0
    grey = (grey - grey.mean()) * (SHARPNESS_STD / std)
    var = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return float(1.0 - math.exp(-var / SHARPNESS_SCALE))


def exposure(rgb: np.ndarray, box: Sequence[float]) -> float:
    """Mean luminance (0..1, Rec. 601 luma of the sRGB values) of the face box in the image."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    x0, x1 = max(0, int(math.floor(x0))), min(w, int(math.ceil(x1)))
    y0, y1 = max(0, int(math.floor(y0))), min(h, int(math.ceil(y1)))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    region = rgb[y0:y1, x0:x1].astype(np.float32)
    if region.ndim == 2:
        return float(region.mean() / 255.0)
    luma = region[..., 0] * 0.299 + region[..., 1] * 0.587 + region[..., 2] * 0.114
    return float(luma.mean() / 255.0)


def describe_face(
    rgb: np.ndarray,
    box: Sequence[float],
    landmarks: Sequence[Sequence[float]],
    score: float,
    crop: np.ndarray,
    embedding: np.ndarray | None,
    nose: NoseModel = NOSE_TIP,
) -> Face:
    """A `Face` with every attribute computed from the image, the detection and the aligned crop."""
    yaw, pitch, roll = head_pose(landmarks, nose)
    return Face(
        box=tuple(float(v) for v in box),
        landmarks=tuple((float(x), float(y)) for x, y in landmarks),
        score=float(score),
        size_px=face_size(box),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        sharpness=sharpness(crop),
        exposure=exposure(rgb, box),
        embedding=embedding,
    )


def largest_first(faces: list[Face]) -> list[Face]:
    """Faces ordered by box area, largest first; ties by detector score."""

    def key(f: Face) -> tuple[float, float]:
        x0, y0, x1, y1 = f.box
        return (-(x1 - x0) * (y1 - y0), -f.score)

    return sorted(faces, key=key)
