"""Human-readable positions of frames: SMPTE-style timecode, clock time, or a frame number."""

from __future__ import annotations

import math

# Frame positions that should land exactly on a frame boundary (k / fps * fps) can come out a
# hair below it in floating point; this much slack keeps them on the right frame.
_EPSILON = 1e-6


def _known(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def format_timecode(seconds: float | None, fps: float | None, index: int) -> str:
    """Where a frame is, as precisely as what is known about it allows.

    - seconds and fps known: "HH:MM:SS:FF", non-drop, with round(fps) frames per second
      (23.976 counts 0..23, 29.97 counts 0..29); FF is the frame within the second.
    - only seconds known: "HH:MM:SS.mmm".
    - neither: "frame N", counted from 1 for people (index 0 is "frame 1").
    Negative times get a leading "-"; hours go past 99 rather than wrapping.
    """
    if not _known(seconds):
        return f"frame {index + 1}"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if _known(fps) and fps > 0:
        nominal = max(1, round(fps))
        # Counting in nominal frames and flooring keeps FF unique for frames of a rate a little
        # under the nominal one (29.97 -> 30), where rounding would give two frames one FF.
        ticks = math.floor(seconds * nominal + _EPSILON)
        whole, ff = divmod(ticks, nominal)
        hh, rest = divmod(whole, 3600)
        mm, ss = divmod(rest, 60)
        return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"
    millis = round(seconds * 1000)
    whole, ms = divmod(millis, 1000)
    hh, rest = divmod(whole, 3600)
    mm, ss = divmod(rest, 60)
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}"
