"""The heat map's colour map: the published viridis table, monotonic in lightness."""

from __future__ import annotations

import numpy as np

from studio.core import colormap


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* of sRGB colours (uint8, shape (n, 3)), D65 white."""
    c = rgb.astype(np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    f = np.where(y > (6 / 29) ** 3, np.cbrt(y), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return 116 * f - 16


def test_table_has_256_byte_colours():
    assert colormap.NAME == "viridis"
    assert len(colormap.LUT) == 256
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colormap.LUT)
    arr = colormap.lut_array()
    assert arr.shape == (256, 3) and arr.dtype == np.uint8
    assert [tuple(int(v) for v in row) for row in arr] == list(colormap.LUT)
    assert not arr.flags.writeable


def test_matches_published_viridis():
    # Entries of matplotlib's _viridis_data (floats 0..1): plain rounding, or within 1/255
    # for the few entries nudged to keep lightness rising (94 is one).
    published = {
        0: (0.267004, 0.004874, 0.329415),
        64: (0.229739, 0.322361, 0.545706),
        94: (0.175841, 0.441290, 0.557685),
        128: (0.127568, 0.566949, 0.550556),
        192: (0.369214, 0.788888, 0.382914),
        255: (0.993248, 0.906157, 0.143936),
    }
    for i, rgb in published.items():
        error = np.abs(np.array(colormap.LUT[i]) - np.array(rgb) * 255).max()
        assert error < 1.0 if i == 94 else error <= 0.5
    assert colormap.LUT[64] == (0x3B, 0x52, 0x8B)  # viridis(0.25) as matplotlib prints it
    assert colormap.LUT[128] == (0x21, 0x91, 0x8C)
    assert colormap.LUT[192] == (0x5E, 0xC9, 0x62)
    assert colormap.LUT[0] == (0x44, 0x01, 0x54)
    assert colormap.LUT[255] == (0xFD, 0xE7, 0x25)


def test_lightness_strictly_increases():
    lightness = _lightness(colormap.lut_array())
    assert np.all(np.diff(lightness) > 0.01)
    assert lightness[0] < 20 and lightness[-1] > 85


def test_colour_at_clamps_and_picks_the_nearest_entry():
    assert colormap.colour_at(0.0) == colormap.LUT[0]
    assert colormap.colour_at(1.0) == colormap.LUT[255]
    assert colormap.colour_at(-3.0) == colormap.LUT[0]
    assert colormap.colour_at(7.0) == colormap.LUT[255]
    assert colormap.colour_at(0.5) == colormap.LUT[128]
    assert colormap.colour_at(float("nan")) == colormap.LUT[0]
