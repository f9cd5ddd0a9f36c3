"""Review rules on arrays: the worst frame across checks, frame numbers as users type them."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.drift import Thresholds
from studio.core.errors import StudioError
from studio.core.review import check_frame_spec, parse_frame_numbers, worst_frame

NAN = np.nan


def _values(identity, wardrobe, lighting):
    return {
        "identity": np.array(identity, np.float32),
        "wardrobe": np.array(wardrobe, np.float32),
        "lighting": np.array(lighting, np.float32),
    }


def test_worst_frame_is_judged_on_the_check_that_flags_it():
    t = Thresholds(identity=0.9, wardrobe=10.0, lighting=1.0)
    # Frame 0 has the lowest identity but passes; frame 2 is far off on wardrobe.
    values = _values([0.91, 0.95, 0.99], [2.0, 11.0, 30.0], [0.2, 0.2, 0.2])
    w = worst_frame(values, t)
    assert (w.index, w.dimension, w.flagged) == (2, "wardrobe", True)
    assert w.value == pytest.approx(30.0) and w.severity == pytest.approx(2.0)
    w = worst_frame(values, Thresholds(identity=0.9, wardrobe=10.0, enabled=("identity",)))
    assert (w.index, w.dimension, w.flagged) == (0, "identity", False)


def test_worst_frame_skips_frames_not_measured():
    t = Thresholds(identity=0.9)
    assert worst_frame(_values([NAN, NAN], [NAN, NAN], [NAN, NAN]), t) is None
    w = worst_frame(_values([NAN, 0.7], [NAN, NAN], [NAN, NAN]), t)
    assert (w.index, w.dimension, w.flagged) == (1, "identity", True)


@pytest.mark.parametrize(
    "text, count, indices",
    [
        ("3-9", 10, [2, 3, 4, 5, 6, 7, 8]),
        ("3,5,7", 10, [2, 4, 6]),
        ("2-4, 9, 3", 10, [1, 2, 3, 8]),
        ("all", 4, [0, 1, 2, 3]),
        (" 1 – 2 ", 2, [0, 1]),
    ],
)
def test_frame_numbers_count_from_one(text, count, indices):
    assert parse_frame_numbers(text, count) == indices


@pytest.mark.parametrize(
    "text, count, said",
    [
        ("0", 5, "frames 1-5"),
        ("4-6", 5, "frames 1-5"),
        ("5-3", 5, "backwards"),
        ("three", 5, "3-9, 3,5,7 or all"),
        ("1,,2", 5, "not a frame number"),
        ("1", 0, "has no frames"),
    ],
)
def test_bad_frame_numbers_say_what_is_valid(text, count, said):
    with pytest.raises(StudioError, match=said):
        parse_frame_numbers(text, count, "'Take 1'")


def test_the_syntax_is_checked_without_a_shot():
    assert check_frame_spec("3-9") == "3-9"
    with pytest.raises(StudioError):
        check_frame_spec("3-x")
