"""Measuring a frame's look: garment colour below the face, light temperature and key direction."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from studio.core.looks import (
    adapt_palette,
    delta_e2000,
    key_vector_name,
    lighting_distance,
    palette_distance,
    srgb_to_lab,
)
from studio.engine.looks import MIN_GARMENT_AREA, Look, garment_mask, measure_look

SKIN = (222, 172, 140)
BACKDROP = (96, 104, 112)
RED, BLUE = (190, 40, 45), (40, 60, 190)
W, H = 320, 400
BOX = (120.0, 50.0, 200.0, 150.0)  # the face ellipse's bounds
LANDMARKS = ((145.0, 85.0), (175.0, 85.0), (160.0, 108.0), (147.0, 128.0), (173.0, 128.0))


def frame(
    garment=RED,
    *,
    face_at: tuple[float, float] = (160, 100),
    gains=(1.0, 1.0, 1.0),
    shade: str | None = None,
    noise: float = 3.0,
) -> np.ndarray:
    """A backdrop, a skin-coloured face ellipse (80x100 px), a neck and a garment below it.

    gains: a white balance applied to the whole frame. shade: "left" or "right" darkens the
    face toward the other side (light from that side of the image).
    """
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    cx, cy = face_at
    img = np.empty((H, W, 3), np.float64)
    img[:] = BACKDROP
    img[(np.abs(xx - cx) < 110) & (yy > cy + 65)] = garment  # shoulders and chest
    img[(np.abs(xx - cx) < 20) & (yy > cy + 40) & (yy <= cy + 65)] = SKIN  # neck
    face = ((xx - cx) / 40) ** 2 + ((yy - cy) / 50) ** 2 <= 1
    img[face] = SKIN
    if shade:
        t = np.clip((xx - (cx - 40)) / 80, 0, 1)  # 0 at the face's left edge, 1 at its right
        lit = 1.0 - 0.6 * (t if shade == "left" else 1 - t)
        img[face] *= lit[face][:, None]
    img *= np.asarray(gains)
    img += np.random.default_rng(7).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def lab(rgb) -> np.ndarray:
    return srgb_to_lab(np.asarray(rgb, dtype=np.float64))


def test_garment_colour_is_recovered():
    look = measure_look(frame(RED), BOX, LANDMARKS)
    assert look.garment_area > 2  # shoulders and chest: several face areas
    assert delta_e2000(look.garment_lab, lab(RED)) < 3
    assert sum(w for _, w in look.garment) == pytest.approx(1.0, abs=1e-3)
    blue = measure_look(frame(BLUE), BOX, LANDMARKS)
    assert delta_e2000(blue.garment_lab, lab(BLUE)) < 3


def test_a_garment_colour_change_moves_the_wardrobe_distance():
    red = measure_look(frame(RED), BOX, LANDMARKS)
    again = measure_look(frame(RED, noise=5.0), BOX, LANDMARKS)
    blue = measure_look(frame(BLUE), BOX, LANDMARKS)
    assert palette_distance(again.garment, red.garment) < 3
    assert palette_distance(blue.garment, red.garment) > 15


def test_the_garment_is_the_person_not_the_backdrop():
    img = frame(RED)
    mask, patch = garment_mask(img, BOX, measure_look(img, BOX, LANDMARKS).face_lab)
    colours = srgb_to_lab(patch.pixels[mask].reshape(-1, 3).astype(np.float64))
    assert mask.sum() > 50
    assert np.median(delta_e2000(colours, lab(RED))) < 5  # red clothes, not grey backdrop
    # Nothing above the chin, nothing beside the shoulders.
    gx, gy = np.meshgrid(patch.xs, patch.ys)
    assert not np.any(mask & (gy < BOX[3]))
    assert not np.any(mask & (np.abs(gx - 160) > 112))


def test_a_face_at_the_bottom_edge_has_no_garment_colour():
    img = frame(RED, face_at=(160, 330))
    box = (120.0, 280.0, 200.0, 380.0)
    look = measure_look(img, box)
    assert look.garment_area < MIN_GARMENT_AREA
    assert look.garment is None and look.garment_lab is None
    assert look.face_lab is not None  # the face itself is still measured
    off = measure_look(img, (120.0, 500.0, 200.0, 600.0))  # a box wholly below the frame
    assert off.garment_area == 0.0 and off.garment is None and off.face_lab is None


def test_a_change_of_light_is_undone_on_the_garment_by_the_skin():
    neutral = measure_look(frame(RED), BOX, LANDMARKS)
    warm = measure_look(frame(RED, gains=(1.0, 0.8, 0.6)), BOX, LANDMARKS)
    raw = palette_distance(warm.garment, neutral.garment)
    adapted = palette_distance(
        adapt_palette(warm.garment, warm.face_lab, neutral.face_lab), neutral.garment
    )
    assert adapted < 3 < raw


def test_white_balance_moves_the_face_colour_temperature():
    neutral = measure_look(frame(), BOX, LANDMARKS)
    warm = measure_look(frame(gains=(1.0, 0.86, 0.68)), BOX, LANDMARKS)
    cool = measure_look(frame(gains=(0.78, 0.88, 1.0)), BOX, LANDMARKS)
    assert None not in (neutral.face_cct_k, warm.face_cct_k, cool.face_cct_k)
    assert warm.face_cct_k < neutral.face_cct_k - 500
    assert cool.face_cct_k > neutral.face_cct_k + 500

    def to_neutral(look: Look) -> float:
        return lighting_distance(
            look.face_lab,
            look.key_vec,
            look.key_strength,
            neutral.face_lab,
            neutral.key_vec,
            neutral.key_strength,
        )

    assert to_neutral(neutral) == pytest.approx(0.0, abs=1e-9)
    # The light itself 1,500 K warmer or cooler (in linear light, as a lamp changes it).
    from tests.fixtures.footage import relight

    for k in (3200, 4100, 7100):
        moved = measure_look(relight(frame(), 5600, k), BOX, LANDMARKS)
        assert to_neutral(moved) > 1, k
    # A grade (more saturation and contrast) is not a change of light.
    from PIL import ImageEnhance

    graded = ImageEnhance.Contrast(ImageEnhance.Color(Image.fromarray(frame())).enhance(1.2))
    assert to_neutral(measure_look(np.asarray(graded.enhance(1.15)), BOX, LANDMARKS)) < 0.5


def test_flat_light_reads_as_front():
    look = measure_look(frame(), BOX, LANDMARKS)
    assert look.key_strength < 0.05
    assert key_vector_name(look.key_vec, look.key_strength) == "front"


@pytest.mark.parametrize("side", ["left", "right"])
def test_side_light_points_to_the_lit_side(side):
    look = measure_look(frame(shade=side), BOX, LANDMARKS)
    sign = -1 if side == "left" else 1
    assert look.key_vec[0] * sign > 0.9 and abs(look.key_vec[1]) < 0.3
    assert look.key_strength > 0.25
    assert key_vector_name(look.key_vec, look.key_strength) == side
    flat = measure_look(frame(), BOX, LANDMARKS)
    args = (flat.face_lab, flat.key_vec, flat.key_strength)
    assert lighting_distance(look.face_lab, look.key_vec, look.key_strength, *args) > 0.5


def test_opposite_keys_are_clearly_different_lighting():
    left = measure_look(frame(shade="left"), BOX, LANDMARKS)
    right = measure_look(frame(shade="right"), BOX, LANDMARKS)
    d = lighting_distance(
        left.face_lab,
        left.key_vec,
        left.key_strength,
        right.face_lab,
        right.key_vec,
        right.key_strength,
    )
    assert d > 1.5


def test_the_eye_line_turns_the_measurement_with_a_tilted_head():
    img = frame(shade="left")
    # The frame turned 90 degrees counter-clockwise: the lit side is now at the bottom. A head
    # lying on its side has its eye line vertical; the key still comes from below in the image.
    turned = np.ascontiguousarray(np.rot90(img))
    # (x, y) in img -> (y, W - 1 - x) in the turned frame
    pts = tuple((y, W - 1 - x) for x, y in LANDMARKS)
    box = (BOX[1], W - 1 - BOX[2], BOX[3], W - 1 - BOX[0])
    look = measure_look(turned, box, pts)
    assert look.key_vec[1] < -0.9
    assert key_vector_name(look.key_vec, look.key_strength) == "below"


def test_look_round_trips_through_json():
    import json

    look = measure_look(frame(shade="right"), BOX, LANDMARKS)
    again = Look.from_dict(json.loads(json.dumps(look.to_dict())))
    assert again == look
    bare = measure_look(frame(face_at=(160, 330)), (120.0, 280.0, 200.0, 380.0))
    assert Look.from_dict(json.loads(json.dumps(bare.to_dict()))) == bare


def test_greyscale_frames_and_empty_boxes_are_handled():
    grey = frame()[:, :, 0]
    look = measure_look(grey, BOX)
    assert look.face_lab is not None and abs(look.face_lab[1]) < 1 and abs(look.face_lab[2]) < 1
    empty = measure_look(frame(), (10.0, 10.0, 10.0, 30.0))
    assert empty == Look(None, 0.0, None, None, (0.0, 0.0), 0.0)


# -- a real photo -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nova_face(nova_rgb, dlib_engine):
    faces = dlib_engine.analyze(nova_rgb)
    assert len(faces) == 1
    return faces[0]


def _hue_rotated(rgb: np.ndarray, region, turn: int = 128) -> np.ndarray:
    """The image with the hue inside region turned by turn/256 of a circle."""
    out = rgb.copy()
    x0, y0, x1, y1 = (max(0, int(v)) for v in region)
    patch = Image.fromarray(out[y0:y1, x0:x1]).convert("HSV")
    hsv = np.asarray(patch).copy()
    hsv[:, :, 0] = (hsv[:, :, 0].astype(np.int32) + turn) % 256
    out[y0:y1, x0:x1] = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))
    return out


def test_the_astronauts_orange_suit_is_her_garment(nova_rgb, nova_face):
    look = measure_look(nova_rgb, nova_face.box, nova_face.landmarks)
    assert look.garment_area > 2
    # The orange suit and the black turtleneck and neck ring at her chest.
    orange = lab((235, 100, 60))
    assert sum(w for c, w in look.garment if delta_e2000(c, orange) < 15) > 0.25
    assert sum(w for c, w in look.garment if c[0] < 25) > 0.25
    assert look.face_cct_k is not None and 2500 < look.face_cct_k < 6000  # skin under studio light


def test_recolouring_the_suit_moves_the_wardrobe_distance(nova_rgb, nova_face):
    look = measure_look(nova_rgb, nova_face.box, nova_face.landmarks)
    buf = io.BytesIO()
    Image.fromarray(nova_rgb).save(buf, "JPEG", quality=80)  # the same frame, re-encoded
    again = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    same = measure_look(again, nova_face.box, nova_face.landmarks)
    assert palette_distance(same.garment, look.garment) < 3
    below = (0, nova_face.box[3], nova_rgb.shape[1], nova_rgb.shape[0])
    recoloured = measure_look(_hue_rotated(nova_rgb, below), nova_face.box, nova_face.landmarks)
    assert palette_distance(recoloured.garment, look.garment) > 15
    # The face above the region is untouched, so its light is too.
    assert recoloured.face_cct_k == pytest.approx(look.face_cct_k)
