"""Picking references for a shot: copies of one photo count once, and the pose is covered or
the picks say so. Fingerprints are made from real photos with the landmarks moved exactly as
each edit moves them, then disturbed as a detector's would be."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from studio.core import library as lib
from studio.core.faces import Face
from studio.core.records import Reference
from tests.fixtures.photos import demo_photo

# The 5 points the dlib engine finds on the demo's photos (512 x 512 each).
NOVA_POINTS = ((203.5, 102.0), (246.5, 104.5), (224.0, 135.0), (204.7, 153.0), (240.4, 155.0))
OPERATOR_POINTS = ((203.5, 145.0), (238.0, 145.0), (228.0, 174.0), (210.8, 191.4), (239.4, 191.4))
THUMB = 256


def _jpeg(image: Image.Image, quality: int = 90) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _mirror(image, points):
    w = image.width
    flipped = [(w - 1 - x, y) for x, y in points]
    # The image-left eye of the mirror is the other eye; so are the mouth corners.
    return ImageOps.mirror(image), (flipped[1], flipped[0], flipped[2], flipped[4], flipped[3])


def _crop(image, points, box):
    return image.crop(box), tuple((x - box[0], y - box[1]) for x, y in points)


def _resize(image, points, f):
    size = (round(image.width * f), round(image.height * f))
    return image.resize(size, Image.Resampling.BICUBIC), tuple(
        ((x + 0.5) * f - 0.5, (y + 0.5) * f - 0.5) for x, y in points
    )


def _print(image, points, *, scale=1.0, turn=0.0, shift=(0.0, 0.0)):
    """The fingerprint from the image's thumbnail, with the landmarks scaled, turned and
    shifted about the eyes' midpoint (in inter-ocular distances) as a detector might err."""
    pts = np.asarray(points, dtype=float)
    mid = (pts[0] + pts[1]) / 2
    iod = float(np.hypot(*(pts[1] - pts[0])))
    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    rel = (pts - mid) @ np.array([[c, s], [-s, c]]) * scale
    pts = mid + rel + np.asarray(shift) * iod
    thumb = image.copy()
    thumb.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    grey = np.asarray(thumb.convert("L"))
    return lib.face_fingerprint(grey, pts, thumb.width / image.width)


@pytest.fixture(scope="module")
def nova():
    return Image.open(demo_photo("nova-portrait.jpg")).convert("RGB"), NOVA_POINTS


@pytest.fixture(scope="module")
def operator():
    return Image.open(demo_photo("camera-operator.jpg")).convert("RGB"), OPERATOR_POINTS


def _copies(image, points):
    w, h = image.size
    yield "mirrored", _mirror(image, points)
    for frac, corner in ((0.1, "top left"), (0.2, "bottom right"), (0.3, "centre")):
        cw, ch = round(w * (1 - frac)), round(h * (1 - frac))
        x0 = {"top left": 0, "bottom right": w - cw, "centre": (w - cw) // 2}[corner]
        y0 = {"top left": 0, "bottom right": h - ch, "centre": (h - ch) // 2}[corner]
        yield (
            f"cropped {frac:.0%} at the {corner}",
            _crop(image, points, (x0, y0, x0 + cw, y0 + ch)),
        )
    yield "rescaled to 60%", _resize(image, points, 0.6)
    yield "rescaled to 150%", _resize(image, points, 1.5)
    yield "JPEG at quality 40", (_jpeg(image, 40), points)
    yield "brightened 15%", (_jpeg(ImageEnhance.Brightness(image).enhance(1.15)), points)
    mirrored, pts = _mirror(*_crop(image, points, (40, 20, w - 30, h - 60)))
    yield (
        "cropped, mirrored and regraded",
        (
            _jpeg(ImageEnhance.Contrast(mirrored).enhance(0.85), 70),
            pts,
        ),
    )


def test_copies_of_one_photo_are_the_same_photo(nova, operator):
    original = _print(*nova)
    other = _print(*operator)
    for what, (image, points) in _copies(*nova):
        copy = _print(image, points)
        d = lib.fingerprint_distance(original, copy)
        assert d <= lib.SAME_PHOTO_DISTANCE / 2, (what, d)
        assert lib.fingerprint_distance(copy, original) <= lib.SAME_PHOTO_DISTANCE / 2, what
        # Another photo (here of another person) is far, mirrored or not.
        assert lib.fingerprint_distance(copy, other) > 2 * lib.SAME_PHOTO_DISTANCE, what


def test_the_eyes_found_a_little_off_still_match(operator):
    """A turned face's eyes move between copies by up to a fifth of their distance."""
    image, points = operator
    original = _print(image, points)
    for scale, turn, shift in ((1.2, 0, (0, 0)), (0.85, 5, (0.15, -0.1)), (1.1, -6, (-0.2, 0.2))):
        off = _print(*_mirror(image, points), scale=scale, turn=turn, shift=shift)
        d = lib.fingerprint_distance(original, off)
        assert d <= lib.SAME_PHOTO_DISTANCE, (scale, turn, shift, d)


def test_small_faces_and_flat_pictures_cannot_be_compared(nova):
    image, points = nova
    tiny = image.resize((64, 64))
    # Eyes 5 px apart in the picture given: too little to compare.
    assert _print(tiny, tuple((x / 8, y / 8) for x, y in points)) is None
    flat = lib.face_fingerprint(np.full((200, 200), 128, np.uint8), points, 200 / 512)
    assert flat is not None
    assert lib.fingerprint_distance(flat, _print(image, points)) == math.inf


# -- picking ------------------------------------------------------------------------------------


def _ref(i: int) -> Reference:
    return Reference(
        id=f"r{i:02d}",
        persona_id="p",
        blob_sha=f"{i:064x}",
        file_name=f"ref-{i}.jpg",
        source_path=f"/shoot/ref-{i}.jpg",
        width=512,
        height=512,
        status="approved",
        imported_at=f"2026-01-01T00:00:{i:02d}",
    )


def _face(yaw=0.0, pitch=0.0, sharpness=0.8, size=200.0, points=NOVA_POINTS, seed=None):
    rng = np.random.default_rng(seed)
    emb = None if seed is None else rng.normal(size=16)
    return Face(
        box=(0.0, 0.0, size, size),
        landmarks=points,
        score=0.99,
        size_px=size,
        yaw=yaw,
        pitch=pitch,
        sharpness=sharpness,
        exposure=0.5,
        embedding=None if emb is None else (emb / np.linalg.norm(emb)).astype(np.float32),
    )


def _candidates(*faces, phashes=()):
    phashes = list(phashes) + [""] * len(faces)
    return [
        lib.PickCandidate(_ref(i), f, 0.9, phashes[i]) for i, f in enumerate(faces)
    ]  # fmt: skip


def test_a_shot_at_yaw_30_without_turned_references_says_so():
    frontal = [_face(yaw=y, pitch=p, sharpness=1.0) for y, p in ((4, 2), (-3, 0), (1, 9), (2, 1))]
    picks = lib.pick(_candidates(*frontal), 4, 30.0, 0.0, None, None)
    assert len(picks) == 4
    assert [round(p.pose_gap, 1) for p in picks] == sorted(round(p.pose_gap, 1) for p in picks)
    assert all(p.pose_gap > lib.POSE_TOLERANCE_DEG and "from the shot's pose" in p.pose_note
               for p in picks)  # fmt: skip
    assert picks[0].pose_gap == pytest.approx(math.hypot(26, 2))
    assert picks.pose_note == (
        "No reference within 15° of the shot's pose, yaw +30°, pitch 0° (right three-quarter"
        " view): the nearest is 26° away, at yaw +4°, pitch +2° (frontal view); add references"
        " at about yaw +30°, pitch 0°."
    )
    assert picks.warnings == (picks.pose_note,) and picks.note == picks.pose_note


def test_a_reference_near_the_pose_ranks_above_better_ones_that_are_not():
    faces = [_face(yaw=0, sharpness=1.0, size=400) for _ in range(3)]
    faces.append(_face(yaw=27, pitch=-4, sharpness=0.3, size=90))  # soft and small, but turned
    picks = lib.pick(_candidates(*faces), 3, 30.0, 0.0, None, None)
    assert picks[0].reference.id == "r03" and picks[0].pose_note == ""
    assert picks[0].pose_gap == pytest.approx(5.0)
    assert picks.pose_note.startswith(
        "Only 1 of the 3 picks is within 15° of the shot's pose, yaw +30°, pitch 0°"
    )
    assert "2 others are 30° away" in picks.pose_note
    # Within the tolerance everything is covered: no note.
    assert lib.pick(_candidates(*faces), 3, 10.0, 0.0, None, None).pose_note == ""


def test_copies_of_one_photo_count_once_and_the_best_copy_is_kept(nova, operator):
    image, points = nova
    w, h = image.size
    prints = {0: _print(image, points)}
    closeup, close_pts = _crop(image, points, (110, 0, 340, 245))
    closeup, close_pts = _resize(closeup, close_pts, 512 / 230)
    prints[1] = _print(closeup, close_pts)
    prints[2] = _print(*_mirror(image, points))
    prints[3] = _print(*_crop(image, points, (0, 25, w, h)))
    prints[4] = _print(*operator)
    faces = [
        _face(yaw=3, size=88, sharpness=0.7),
        _face(yaw=4, size=216, sharpness=0.9),  # the close-up: the best copy
        _face(yaw=-4, size=88, sharpness=0.7),
        _face(yaw=1, pitch=9, size=73, sharpness=0.6),
        _face(yaw=30, size=80, sharpness=0.7, points=OPERATOR_POINTS),
    ]
    asked = []

    def fingerprint(c):
        asked.append(c.reference.id)
        return prints[int(c.reference.id[1:])]

    picks = lib.pick(_candidates(*faces), 4, 0.0, 0.0, None, None, fingerprint=fingerprint)
    assert [p.reference.id for p in picks] == ["r01", "r04"]
    assert sorted(c.id for c in picks[0].copies) == ["r00", "r02", "r03"]
    assert picks[1].copies == () and picks.left_out == 3
    assert len(asked) == len(set(asked))  # each fingerprint is made once
    # Without a way to compare pictures every reference is a photo of its own.
    assert len(lib.pick(_candidates(*faces), 4, 0.0, 0.0, None, None)) == 4


def test_resized_or_re_encoded_copies_are_found_by_their_whole_image_hash():
    faces = [_face(yaw=0), _face(yaw=1), _face(yaw=-2)]
    hashes = ["f0f0f0f0f0f0f0f0", "f0f0f0f0f0f0f0f3", "0f0f0f0f0f0f0f0f"]  # 2 bits, 64 bits
    picks = lib.pick(_candidates(*faces, phashes=hashes), 3, 0.0, 0.0, None, None)
    assert len(picks) == 2 and picks.left_out == 1
    assert {picks[0].reference.id, *(c.id for c in picks[0].copies)} == {"r00", "r01"}


def test_the_diversity_penalty_still_spreads_distinct_photos():
    twin = _face(yaw=0, seed=1)
    faces = [twin, _face(yaw=1, seed=1), _face(yaw=2, seed=2), _face(yaw=-1, seed=3)]
    picks = lib.pick(_candidates(*faces), 3, 0.0, 0.0, None, 0.2)
    assert {p.reference.id for p in picks} == {"r00", "r02", "r03"}
    assert all(p.copies == () for p in picks)  # resembling is not being a copy
