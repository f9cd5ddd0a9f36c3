"""Timecode, clock time and frame numbers for the frames of a shot."""

from __future__ import annotations

import pytest

from studio.core.timecode import format_timecode


@pytest.mark.parametrize(
    ("seconds", "fps", "index", "expected"),
    [
        (0.0, 24.0, 0, "00:00:00:00"),
        (3.5, 24.0, 84, "00:00:03:12"),
        (3661.0 + 23 / 24, 24.0, 0, "01:01:01:23"),
        (59.96, 25.0, 0, "00:00:59:24"),
        (360000.0, 25.0, 0, "100:00:00:00"),
        (-1.5, 24.0, 0, "-00:00:01:12"),
    ],
)
def test_smpte_when_time_and_rate_are_known(seconds, fps, index, expected):
    assert format_timecode(seconds, fps, index) == expected


@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0, 50.0, 60.0])
def test_every_frame_of_an_integer_rate_gets_its_own_ff(fps):
    n = round(fps)
    for k in range(3 * n):  # k / fps lands a hair under the boundary for many k
        assert format_timecode(k / fps, fps, k) == f"00:00:{k // n:02d}:{k % n:02d}"


@pytest.mark.parametrize(("fps", "nominal"), [(23.976, 24), (29.97, 30), (59.94, 60)])
def test_fractional_rates_count_round_fps_frames_and_never_repeat(fps, nominal):
    codes = [format_timecode(k / fps, fps, k) for k in range(int(fps * 120))]
    assert len(set(codes)) == len(codes)  # non-drop: no two frames share a code
    assert all(0 <= int(c[-2:]) < nominal for c in codes)
    assert {int(c[-2:]) for c in codes[:nominal]} == set(range(nominal))
    # Wall-clock seconds: the frame at 100 s reads 00:01:40, not the frame count / nominal.
    k = round(100 * fps)
    assert format_timecode(k / fps, fps, k).startswith("00:01:40:")


def test_clock_time_when_only_seconds_are_known():
    assert format_timecode(0.0, None, 0) == "00:00:00.000"
    assert format_timecode(3.5, None, 7) == "00:00:03.500"
    assert format_timecode(3723.0404, None, 7) == "01:02:03.040"
    assert format_timecode(59.9996, None, 7) == "00:01:00.000"  # rounding carries
    assert format_timecode(2.0, 0.0, 7) == "00:00:02.000"  # a zero rate is not a rate
    assert format_timecode(2.0, float("nan"), 7) == "00:00:02.000"


def test_frame_number_counts_from_one_otherwise():
    assert format_timecode(None, None, 0) == "frame 1"
    assert format_timecode(None, 24.0, 41) == "frame 42"
    assert format_timecode(float("nan"), 24.0, 9) == "frame 10"
