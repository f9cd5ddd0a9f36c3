"""Colour and lighting maths: Lab, CIEDE2000, colour temperature, key light names, distances."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core import looks
from studio.core.colours import _lab, hex_to_rgb
from studio.core.looks import (
    KEY_DIRECTIONS,
    adapt_palette,
    angle_between,
    cct_from_rgb,
    delta_e2000,
    key_difference,
    key_vector_name,
    lab_to_linear,
    lighting_distance,
    linear_to_srgb,
    mired_difference,
    palette_distance,
    srgb_to_lab,
    srgb_to_linear,
)

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data": pairs 1, 2, 3, 7, 12, 13, 17, 19, 25 and 34.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_ciede2000_matches_the_published_pairs(lab1, lab2, expected):
    assert delta_e2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert delta_e2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)  # symmetric


def test_ciede2000_works_on_arrays_and_is_zero_for_equal_colours():
    a = np.array([p[0] for p in SHARMA_PAIRS])
    b = np.array([p[1] for p in SHARMA_PAIRS])
    out = delta_e2000(a, b)
    assert isinstance(out, np.ndarray) and out.shape == (len(SHARMA_PAIRS),)
    np.testing.assert_allclose(out, [p[2] for p in SHARMA_PAIRS], atol=1e-4)
    assert delta_e2000((40.0, 20.0, -5.0), (40.0, 20.0, -5.0)) == 0.0
    assert isinstance(delta_e2000((40.0, 20.0, -5.0), (41.0, 20.0, -5.0)), float)


def test_srgb_to_lab_agrees_with_the_colours_module_and_keeps_shape():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(4, 5, 3)).astype(np.uint8)
    lab = srgb_to_lab(rgb)
    assert lab.shape == (4, 5, 3)
    for y in range(4):
        for x in range(5):
            np.testing.assert_allclose(lab[y, x], _lab(tuple(int(v) for v in rgb[y, x])), atol=1e-6)
    np.testing.assert_allclose(srgb_to_lab(np.array([255.0, 255.0, 255.0])), (100, 0, 0), atol=1e-3)
    np.testing.assert_allclose(srgb_to_lab(np.zeros(3)), (0, 0, 0), atol=1e-9)


def test_colour_temperature_of_white_warm_and_cool_light():
    assert cct_from_rgb((255, 255, 255)) == pytest.approx(6504, abs=30)  # D65
    assert cct_from_rgb((128, 128, 128)) == pytest.approx(6504, abs=30)  # any grey is D65
    warm = cct_from_rgb((255, 180, 110))
    assert warm is not None and 2000 < warm < 4000
    cool = cct_from_rgb((180, 200, 255))
    assert cool is not None and cool > 8000
    assert cct_from_rgb((255, 200, 150)) > warm  # less orange, less warm


def test_colour_temperature_is_none_without_a_light_colour_and_stays_in_range():
    assert cct_from_rgb((0, 0, 0)) is None
    assert cct_from_rgb((0, 255, 0)) is None  # far off the locus of light colours
    assert cct_from_rgb((255, 0, 255)) is None
    assert cct_from_rgb((0, 0, 255)) is None
    for rgb in [(255, 100, 0), (120, 160, 255), (90, 120, 255), (255, 140, 60)]:
        k = cct_from_rgb(rgb)
        assert k is None or 1500 <= k <= 25000


def test_mireds_and_angles():
    assert mired_difference(5000, 2500) == pytest.approx(200.0)
    assert mired_difference(2500, 5000) == pytest.approx(200.0)
    assert angle_between((1, 0), (0, 1)) == pytest.approx(90.0)
    assert angle_between((1, 0), (-2, 0)) == pytest.approx(180.0)
    assert angle_between((1, 1), (3, 3)) == pytest.approx(0.0, abs=1e-6)
    assert angle_between((0, 0), (1, 0)) == 0.0


def test_key_directions_cover_the_persona_enum():
    import json

    from studio.core.resources import resource_path

    schema = json.loads(resource_path("persona.schema.json").read_text())
    enum = schema["properties"]["lighting"]["properties"]["key_direction"]["enum"]
    assert set(KEY_DIRECTIONS) == set(enum)
    assert KEY_DIRECTIONS["front"] is None
    assert all(KEY_DIRECTIONS[n] is None for n in ("back", "back-left", "back-right"))
    # Left is the image's left, as the viewer sees it; y points up.
    assert KEY_DIRECTIONS["left"] == (-1.0, 0.0) and KEY_DIRECTIONS["right"] == (1.0, 0.0)
    assert KEY_DIRECTIONS["top"] == (0.0, 1.0) and KEY_DIRECTIONS["below"] == (0.0, -1.0)


@pytest.mark.parametrize(
    ("vec", "strength", "name"),
    [
        ((-1.0, 0.0), 0.4, "left"),
        ((0.95, 0.2), 0.4, "right"),
        ((-1.0, 0.1), 0.15, "front-left"),
        ((1.0, -0.1), 0.15, "front-right"),
        ((0.2, 1.0), 0.3, "top"),
        ((0.1, -0.9), 0.3, "below"),
        ((1.0, 0.0), 0.02, "front"),
        ((0.0, 0.0), 0.5, "front"),
    ],
)
def test_key_vector_names(vec, strength, name):
    assert key_vector_name(vec, strength) == name


def test_each_measurable_direction_names_itself():
    for name, vec in KEY_DIRECTIONS.items():
        if vec is not None:
            strength = 0.15 if name.startswith("front-") else 0.4
            assert key_vector_name(vec, strength) == name


def lab_of(hex_colour: str) -> tuple:
    return tuple(srgb_to_lab(np.array(hex_to_rgb(hex_colour), np.float64)))


def test_lab_and_linear_round_trip():
    rgb = np.array([[12, 200, 90], [250, 250, 250], [0, 0, 0], [128, 64, 32]], np.float64)
    back = linear_to_srgb(lab_to_linear(srgb_to_lab(rgb)))
    assert np.allclose(back, rgb, atol=1e-6)
    assert np.allclose(linear_to_srgb(srgb_to_linear(rgb)), rgb, atol=1e-6)


def test_palette_distance_explains_the_frame_by_the_reference():
    suit, shirt, tie = lab_of("#1c2230"), lab_of("#f2f2f0"), lab_of("#2050b0")
    reference = [(suit, 0.7), (shirt, 0.2), (tie, 0.1)]
    assert palette_distance(reference, reference) == pytest.approx(0.0, abs=1e-9)
    # A close-up shows the shirt and the tie: part of the outfit, fully explained.
    assert palette_distance([(shirt, 0.6), (tie, 0.4)], reference) == pytest.approx(0, abs=1e-9)
    # A microphone or a hand (a tenth of the region) is trimmed away.
    mic = lab_of("#8a8a8a")
    assert palette_distance([(suit, 0.6), (shirt, 0.3), (mic, 0.1)], reference) < 1e-9
    # Another suit colour is not explained, however the shirt still is.
    green = lab_of("#1f5a2c")
    assert palette_distance([(green, 0.7), (shirt, 0.3)], reference) > 15
    assert palette_distance([], reference) is None and palette_distance(reference, []) is None


def test_adapting_a_palette_undoes_a_change_of_light_seen_on_the_skin():
    skin, shirt = np.array(hex_to_rgb("#c89070"), np.float64), np.array([170, 190, 225], float)
    warm_gain = np.array([1.0, 0.85, 0.62])  # a warmer light, in linear light

    def under_warm(rgb):
        return srgb_to_lab(linear_to_srgb(srgb_to_linear(rgb) * warm_gain))

    frame = [(tuple(under_warm(shirt)), 1.0)]
    reference = [(tuple(srgb_to_lab(shirt)), 1.0)]
    assert palette_distance(frame, reference) > 8
    adapted = adapt_palette(frame, under_warm(skin), srgb_to_lab(skin))
    assert palette_distance(adapted, reference) < 2.5
    # Without both skin colours, or with an implausible shift, the palette is left alone.
    assert adapt_palette(frame, None, srgb_to_lab(skin)) == frame
    green_skin = srgb_to_lab(np.array([40, 200, 40], np.float64))
    assert adapt_palette(frame, green_skin, srgb_to_lab(skin)) == frame


def _skin(hue_deg: float, chroma: float = 28.0, lightness: float = 65.0) -> tuple:
    h = np.radians(hue_deg)
    return (lightness, chroma * np.cos(h), chroma * np.sin(h))


def test_hue_difference_ignores_chroma_and_greys():
    assert looks.hue_difference(_skin(60), _skin(50)) == pytest.approx(10.0)
    assert looks.hue_difference(_skin(50, 40.0), _skin(50, 20.0)) == pytest.approx(0.0, abs=1e-9)
    assert looks.hue_difference(_skin(175), _skin(-175)) == pytest.approx(-10.0)
    assert looks.hue_difference(_skin(50, 2.0), _skin(50)) is None  # a grey face has no hue


def _hue_units(degrees: float) -> float:
    return max(0.0, degrees - looks.HUE_SLACK) / looks.HUE_UNIT


def test_lighting_distance_is_the_larger_of_skin_hue_and_key():
    skin = _skin(52)
    same = lighting_distance(skin, (-1, 0), 0.3, skin, (-1, 0), 0.3)
    assert same == pytest.approx(0.0, abs=1e-9)
    # The skin's hue turning further and further: the distance only grows, past the slack.
    d = [lighting_distance(_skin(52 + t), None, 0.0, skin, None, 0.0) for t in (0, 2, 5, 9, 20)]
    assert d == sorted(d) and d[0] == 0.0 and d[2] > 1
    assert lighting_distance(_skin(57), None, 0, skin, None, 0) == pytest.approx(_hue_units(5))
    assert lighting_distance(_skin(52.8), None, 0, skin, None, 0) == 0.0  # within the slack
    # A grade scales the skin's chroma and keeps its hue: the same light.
    assert lighting_distance(_skin(52, 40.0), None, 0, skin, None, 0) == pytest.approx(0, abs=1e-9)
    # The key turning from the left round to the right.
    turns = [(-1, 0), (-0.7, 0.7), (0, 1), (0.7, 0.7), (1, 0)]
    d = [lighting_distance(skin, v, 0.3, skin, (-1, 0), 0.3) for v in turns]
    assert all(a < b for a, b in zip(d, d[1:], strict=False))
    assert d[-1] >= 5  # opposite hard keys are clearly different lighting
    # Flat light against a side key: the side key counts as weak as 1.5x allows.
    flat = lighting_distance(skin, (0, 0), 0.0, skin, (1, 0), 0.2)
    assert flat == pytest.approx(0.2 / looks.KEY_STRENGTH_RATIO / looks.KEY_UNIT)
    assert flat > 1
    # A grade's contrast makes a key stronger or weaker without moving it.
    assert key_difference((1, 0), 0.28, (1, 0), 0.2) == pytest.approx(0.0)
    assert key_difference((0, 1), 0.2, (0, 0), 0.0) == pytest.approx(0.1)  # vertical: half
    # Unknown skin colours drop out rather than count as different.
    assert lighting_distance(None, (1, 0), 0.3, skin, (1, 0), 0.3) == pytest.approx(0.0)
    # Both terms: the larger counts.
    both = lighting_distance(_skin(60), (-1, 0), 0.3, skin, (1, 0), 0.3)
    assert both == pytest.approx(max(_hue_units(8), 0.6 / looks.KEY_UNIT))


def test_module_imports_nothing_outside_stdlib_and_numpy():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(looks))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "math", "collections", "numpy"}
