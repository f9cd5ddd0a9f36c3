"""Face attributes: head pose from synthetic landmark layouts, sharpness, exposure, size."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from studio.core.faces import Face
from studio.engine.faces.attributes import (
    NOSE_BASE,
    NOSE_TIP,
    NoseModel,
    describe_face,
    exposure,
    face_size,
    head_pose,
    largest_first,
    sharpness,
)


def project(
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    nose: NoseModel = NOSE_TIP,
    scale: float = 80.0,
    centre: tuple[float, float] = (300.0, 200.0),
) -> list[tuple[float, float]]:
    """5 landmarks of the average head turned by yaw/pitch/roll degrees, seen orthographically.

    Head frame: x to the image's right, y down, z toward the camera; inter-ocular distance 1.
    """
    pts = np.array(
        [
            (-0.5, 0.0, 0.0),
            (0.5, 0.0, 0.0),
            (0.0, nose.drop, nose.depth),
            (-0.42, 1.16, 0.1),
            (0.42, 1.16, 0.1),
        ]
    )
    p, y, r = (math.radians(v) for v in (pitch, yaw, roll))
    # Looking up moves the protruding nose up the image (toward -y).
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    # Turning toward the image's right moves the nose toward +x.
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    # Clockwise on screen (y down).
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    out = pts @ rx.T @ ry.T @ rz.T
    return [(centre[0] + scale * x, centre[1] + scale * y) for x, y, _z in out]


def mirror(landmarks, width: float = 600.0):
    """The landmarks of the horizontally flipped image, back in LANDMARKS order."""
    m = [(width - 1 - x, y) for x, y in landmarks]
    return [m[1], m[0], m[2], m[4], m[3]]


def test_frontal_face_has_no_pose():
    yaw, pitch, roll = head_pose(project())
    assert yaw == pytest.approx(0, abs=0.01)
    assert pitch == pytest.approx(0, abs=0.01)
    assert roll == pytest.approx(0, abs=0.01)


@pytest.mark.parametrize("yaw", [-60, -30, -10, 10, 30, 60])
def test_turned_face_gives_yaw_with_the_sign_of_the_turn(yaw):
    est_yaw, est_pitch, est_roll = head_pose(project(yaw=yaw))
    assert est_yaw == pytest.approx(yaw, abs=0.5)
    assert est_pitch == pytest.approx(0, abs=0.5)
    assert est_roll == pytest.approx(0, abs=0.5)


@pytest.mark.parametrize("pitch", [-20, -10, 10, 25])
def test_nodding_gives_pitch_positive_up(pitch):
    est_yaw, est_pitch, _ = head_pose(project(pitch=pitch))
    assert est_pitch == pytest.approx(pitch, abs=0.5)
    assert est_yaw == pytest.approx(0, abs=0.5)


@pytest.mark.parametrize("roll", [-30, -8, 15, 40])
def test_tilted_face_gives_roll_clockwise_positive(roll):
    est_yaw, est_pitch, est_roll = head_pose(project(roll=roll))
    assert est_roll == pytest.approx(roll, abs=0.01)
    assert est_yaw == pytest.approx(0, abs=0.01)
    assert est_pitch == pytest.approx(0, abs=0.01)


@pytest.mark.parametrize("nose", [NOSE_TIP, NOSE_BASE])
@pytest.mark.parametrize(
    "pose", [(25, 10, -15), (-50, -15, 10), (60, 25, 0), (-40, 20, 30), (80, 5, 0)]
)
def test_combined_pose_is_recovered_for_both_nose_models(nose, pose):
    est = head_pose(project(*pose, nose=nose), nose)
    assert est == pytest.approx(pose, abs=0.1)


def test_pose_does_not_depend_on_scale_or_position():
    a = head_pose(project(yaw=20, pitch=-10, roll=5, scale=20, centre=(30, 40)))
    b = head_pose(project(yaw=20, pitch=-10, roll=5, scale=400, centre=(900, 700)))
    assert a == pytest.approx(b, abs=1e-6)


def test_mirroring_flips_yaw_and_roll_but_not_pitch():
    marks = project(yaw=30, pitch=12, roll=10)
    yaw, pitch, roll = head_pose(marks)
    m_yaw, m_pitch, m_roll = head_pose(mirror(marks))
    assert m_yaw == pytest.approx(-yaw, abs=1e-6)
    assert m_roll == pytest.approx(-roll, abs=1e-6)
    assert m_pitch == pytest.approx(pitch, abs=1e-6)


def test_a_nose_lower_than_the_model_allows_reads_as_looking_further_down():
    pitches = []
    for drop in (0.4, 0.6, 0.7, 0.76, 0.8, 0.9, 1.0, 1.5):
        marks = [(0, 0), (1, 0), (0.5, drop), (0.1, 1.2), (0.9, 1.2)]
        pitches.append(head_pose(marks, NOSE_TIP)[1])
    assert pitches == sorted(pitches, reverse=True)
    assert pitches[0] > 0 > pitches[-1] >= -90
    assert all(
        abs(head_pose([(0, 0), (1, 0), (0.5, d), (0.1, 1.2), (0.9, 1.2)])[0]) < 1e-9
        for d in (0.6, 1.0)
    )


def test_degenerate_landmarks_give_zero_pose():
    assert head_pose([(5, 5)] * 5) == (0.0, 0.0, 0.0)


def _texture() -> np.ndarray:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    # Upscaled noise has edges at several scales, like a face crop's features.
    grey = cv2.resize(base, (112, 112), interpolation=cv2.INTER_CUBIC)
    return np.repeat(grey[:, :, None], 3, axis=2)


def test_sharpness_falls_as_the_crop_blurs():
    crop = _texture()
    values = [sharpness(crop)]
    for sigma in (1, 2, 4):
        values.append(sharpness(cv2.GaussianBlur(crop, (0, 0), sigma)))
    assert values == sorted(values, reverse=True)
    assert values[0] > 0.9
    assert values[-1] < 0.3
    assert all(0.0 <= v <= 1.0 for v in values)


def test_sharpness_does_not_mistake_a_dark_crop_for_a_blurred_one():
    crop = _texture()
    dark = (crop * 0.35).astype(np.uint8)
    assert sharpness(dark) == pytest.approx(sharpness(crop), abs=0.05)


def test_sharpness_of_a_flat_crop_is_zero_and_size_does_not_matter():
    assert sharpness(np.full((150, 150, 3), 90, np.uint8)) == 0.0
    crop = _texture()
    big = cv2.resize(crop, (150, 150), interpolation=cv2.INTER_LINEAR)
    assert sharpness(big) == pytest.approx(sharpness(crop), abs=0.15)
    assert sharpness(crop[:, :, 0]) == pytest.approx(sharpness(crop), abs=1e-6)


def test_exposure_is_mean_luminance_of_the_face_box():
    img = np.zeros((100, 100, 3), np.uint8)
    img[20:60, 30:70] = 255
    assert exposure(img, (30, 20, 70, 60)) == pytest.approx(1.0)
    assert exposure(img, (0, 0, 20, 20)) == pytest.approx(0.0)
    assert exposure(np.full((10, 10, 3), 128, np.uint8), (0, 0, 10, 10)) == pytest.approx(
        128 / 255, abs=1e-3
    )
    # Green weighs more than blue in luminance.
    green = np.zeros((4, 4, 3), np.uint8)
    green[..., 1] = 255
    blue = np.zeros((4, 4, 3), np.uint8)
    blue[..., 2] = 255
    assert exposure(green, (0, 0, 4, 4)) > exposure(blue, (0, 0, 4, 4))


def test_exposure_clips_boxes_to_the_image():
    img = np.full((50, 50, 3), 200, np.uint8)
    assert exposure(img, (-20, -20, 30, 30)) == pytest.approx(200 / 255, abs=1e-3)
    assert exposure(img, (60, 60, 80, 80)) == 0.0


def test_face_size_is_the_longer_side():
    assert face_size((10, 20, 70, 100)) == 80
    assert face_size((0, 0, 50.5, 20)) == 50.5


def test_describe_face_fills_every_attribute():
    img = np.full((300, 400, 3), 120, np.uint8)
    img[100:200, 150:250] = _texture()[:100, :100]
    marks = project(yaw=20, centre=(200, 140), scale=40)
    emb = np.ones(4, np.float32) / 2
    face = describe_face(img, (150, 100, 250, 200), marks, 0.9, _texture(), emb)
    assert isinstance(face, Face)
    assert face.size_px == 100
    assert face.yaw == pytest.approx(20, abs=0.5)
    assert 0 < face.sharpness <= 1
    assert 0 < face.exposure < 1
    assert face.score == pytest.approx(0.9)
    assert len(face.landmarks) == 5
    assert face.embedding is emb


def test_largest_first_orders_by_area_then_score():
    def f(box, score):
        return Face(box=box, landmarks=((0, 0),) * 5, score=score, size_px=face_size(box))

    small, big, big_weak = f((0, 0, 10, 10), 2.0), f((0, 0, 50, 40), 1.0), f((5, 5, 55, 45), 0.5)
    assert largest_first([small, big_weak, big]) == [big, big_weak, small]
