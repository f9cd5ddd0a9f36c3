"""Review rules on per-frame arrays: a shot's worst frame, and frame numbers as users type them.

Frames are numbered for people from 1 (the heat map, the inspector, the reshoot list, the report
and the "frame N" timecode all show index + 1); these functions take and give indices from 0.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from studio.core.drift import DIMENSIONS, Thresholds, severity_arrays
from studio.core.errors import StudioError


@dataclass(frozen=True)
class WorstFrame:
    """A shot's most drifted frame and the dimension it is worst on."""

    index: int  # from 0
    dimension: str  # "identity", "wardrobe" or "lighting"
    value: float  # the frame's score on that dimension
    severity: float  # how far past its threshold (0 at the threshold, negative: on-model)
    flagged: bool  # past the threshold of an enabled dimension


def dimension_severities(values: Mapping[str, np.ndarray], t: Thresholds) -> dict[str, np.ndarray]:
    """Each enabled dimension's per-frame severity, scaled as the combined layer scales it.

    With no dimension enabled every dimension is judged, so a shot still has a worst frame.
    """
    dims = [d for d in DIMENSIONS if d in t.enabled] or list(DIMENSIONS)
    n = len(values["identity"])
    out = {}
    for dim in dims:
        alone = replace(t, enabled=(dim,))
        arrays = [values.get(d, np.full(n, np.nan, np.float32)) for d in DIMENSIONS]
        out[dim] = severity_arrays(*arrays, alone)
    return out


def worst_frame(
    values: Mapping[str, np.ndarray], t: Thresholds, flags: np.ndarray | None = None
) -> WorstFrame | None:
    """The frame furthest past a threshold on any enabled dimension (None if none measured).

    values: per-frame scores of each dimension (NaN where not measured); flags: the frames'
    flags under t, when the caller has them. A shot flagged on wardrobe reports its worst
    wardrobe frame, never its lowest identity score.
    """
    per_dim = dimension_severities(values, t)
    dims = list(per_dim)
    stack = np.stack([per_dim[d] for d in dims]).astype(np.float64)
    if stack.size == 0 or np.all(np.isnan(stack)):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        combined = np.nanmax(stack, axis=0)
    index = int(np.nanargmax(combined))
    column = np.where(np.isnan(stack[:, index]), -np.inf, stack[:, index])
    dim = dims[int(np.argmax(column))]
    if flags is not None:
        flagged = bool(flags[index])
    else:  # nothing flags while every check is off
        flagged = bool(combined[index] > 0) and any(d in t.enabled for d in DIMENSIONS)
    return WorstFrame(index, dim, float(values[dim][index]), float(combined[index]), flagged)


def most_drifted(
    rows_values: list[Mapping[str, np.ndarray]],
    thresholds: list[Thresholds],
    flags: list[np.ndarray],
) -> tuple[int, int] | None:
    """(row, frame) of the most drifted flagged frame over several shots; None if none is."""
    best, where = -np.inf, None
    for i, (values, t, f) in enumerate(zip(rows_values, thresholds, flags, strict=True)):
        if not f.any():
            continue
        per_dim = dimension_severities(values, t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            severity = np.nanmax(np.stack(list(per_dim.values())), axis=0)
        severity = np.where(f & ~np.isnan(severity), severity, -np.inf)
        j = int(np.argmax(severity))
        if f[j] and severity[j] > best:
            best, where = float(severity[j]), (i, j)
    return where


_PART = re.compile(r"^\s*(\d+)\s*(?:[-–]\s*(\d+)\s*)?$")


def check_frame_spec(text: str) -> str:
    """`text` if it reads as frame numbers ("3-9", "3,5,7", "all"); else a StudioError."""
    parse_frame_numbers(text, None)
    return text


def parse_frame_numbers(text: str, count: int | None, shot: str = "the shot") -> list[int]:
    """Frame numbers as users type them ("3-9", "3,5,7", "2-4,9", "all") as indices from 0.

    count: frames in the shot; numbers outside 1..count are an error that says the valid range
    (None: check the syntax only). shot: how the error names the shot.
    """
    spec = text.strip().lower()
    if spec == "all":
        return list(range(count or 0))
    wanted: list[int] = []
    for part in spec.split(","):
        m = _PART.match(part)
        if not m:
            raise StudioError(
                f"'{part.strip() or text}' is not a frame number or range.",
                hint="Give frames as 3-9, 3,5,7 or all (counted from 1, as the heat map shows).",
            )
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        if last < first:
            raise StudioError(
                f"The range {first}-{last} runs backwards.", hint=f"Write it as {last}-{first}."
            )
        if count is not None and (first < 1 or last > count):
            bad = first if first < 1 else last
            raise StudioError(
                f"Frame {bad} is outside {shot}, which has frames 1-{count}."
                if count
                else f"{shot[:1].upper()}{shot[1:]} has no frames.",
                hint=f"Choose frames from 1 to {count}." if count else None,
            )
        wanted.extend(range(first - 1, last))
    return list(dict.fromkeys(wanted))
