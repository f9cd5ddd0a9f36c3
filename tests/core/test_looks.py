"""Colour and lighting maths: Lab, CIEDE2000, colour temperature, key light names, distances."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core import looks
from studio.core.colours import _lab, hex_to_rgb
from studio.core.looks import (
    KEY_DIRECTIONS,
    angle_between,
    cct_from_rgb,
    delta_e2000,
    key_vector_name,
    lighting_distance,
    mired_difference,
    srgb_to_lab,
    wardrobe_distance,
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


def test_wardrobe_distance_is_the_nearest_palette_colour():
    red, blue, green = (
        srgb_to_lab(np.array(hex_to_rgb(h))) for h in ("#c0392b", "#2040c0", "#2a8a3a")
    )
    assert wardrobe_distance(red, [blue, red]) == pytest.approx(0.0, abs=1e-9)
    assert wardrobe_distance(red, [blue, green]) > 30
    near_red = srgb_to_lab(np.array([200, 60, 50]))
    assert wardrobe_distance(near_red, [red]) < wardrobe_distance(near_red, [blue])
    assert wardrobe_distance(None, [red]) is None
    assert wardrobe_distance(red, []) is None


def test_lighting_distance_grows_with_temperature_and_direction_differences():
    same = lighting_distance(5600, (-1, 0), 0.3, 5600, (-1, 0), 0.3)
    assert same == pytest.approx(0.0, abs=1e-9)
    # Warmer and warmer against 5600 K: the distance only grows; 100 mireds is 1.
    ks = [5600, 5000, 4200, 3400, 2700]
    d = [lighting_distance(k, None, 0.0, 5600, None, 0.0) for k in ks]
    assert d == sorted(d) and d[0] == 0.0
    assert lighting_distance(3200, None, 0, 5600, None, 0) == pytest.approx(
        (1e6 / 3200 - 1e6 / 5600) / 100
    )
    # The key turning from the left round to the right.
    turns = [(-1, 0), (-0.7, 0.7), (0, 1), (0.7, 0.7), (1, 0)]
    d = [lighting_distance(5600, v, 0.3, 5600, (-1, 0), 0.3) for v in turns]
    assert all(a < b for a, b in zip(d, d[1:], strict=False))
    assert d[-1] >= 1.5  # opposite hard keys are clearly different lighting
    # Flat light has no direction: only the strength difference counts.
    flat = lighting_distance(5600, (0, 0), 0.0, 5600, (1, 0), 0.4)
    assert flat == pytest.approx(0.4 / 0.35)
    assert lighting_distance(5600, None, 0.02, 5600, None, 0.03) < 0.1
    # Unknown temperatures drop out rather than count as different.
    assert lighting_distance(None, (1, 0), 0.3, 5600, (1, 0), 0.3) == pytest.approx(0.0)


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
