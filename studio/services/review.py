"""Drift review rules and actions shared by the window, the command line and the report.

Each shot's worst frame (on the dimension that flagged it), the frames "flag every drifted
frame" puts on the reshoot list, reviews of frames as users number them, thresholds with where
each comes from, and planning the report job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core import review as rules
from studio.core.drift import DIMENSIONS, MEASURED, FrameScore, Thresholds
from studio.core.errors import NotFoundError, StudioError
from studio.core.records import Reference
from studio.core.shots import Frame
from studio.core.specs import ReportSpec
from studio.core.text import plural
from studio.core.timecode import format_timecode
from studio.project import curation
from studio.project.store import Project
from studio.services import audit, drift, library, personas
from studio.services.drift import DriftRow

REPORT_FORMATS = ("html", "csv", "json")
GALLERY_LIMIT = 200  # flagged frames shown with pictures in the HTML report
UNITS = {"identity": "", "wardrobe": "ΔE ", "lighting": ""}
DIGITS = {"identity": 3, "wardrobe": 1, "lighting": 2}

WorstFrame = rules.WorstFrame


def _values(row: DriftRow) -> dict[str, np.ndarray]:
    return {d: row.array(d) for d in DIMENSIONS}


# -- the worst frame --------------------------------------------------------------------------


def worst(row: DriftRow, t: Thresholds | None = None) -> WorstFrame | None:
    """A shot's most drifted frame against one persona, on the dimension it is worst on.

    Severity is compared across the enabled dimensions (as the combined layer scales them), so
    a shot flagged on wardrobe reports its worst wardrobe frame. None when nothing is measured.
    """
    t = t or row.thresholds
    return rules.worst_frame(_values(row), t, row.flags(t))


def most_drifted(
    rows: Sequence[DriftRow], thresholds: Sequence[Thresholds] | None = None
) -> tuple[int, int] | None:
    """(row, frame) of the most drifted flagged frame of all rows; None when nothing is flagged.

    thresholds: per row, when not the rows' own (the slider's unsaved value).
    """
    ts = list(thresholds) if thresholds is not None else [r.thresholds for r in rows]
    return rules.most_drifted(
        [_values(r) for r in rows], ts, [r.flags(t) for r, t in zip(rows, ts, strict=True)]
    )


def describe_value(dimension: str, value: float) -> str:
    """'identity 0.821', 'wardrobe ΔE 32.1', 'lighting 1.84'."""
    return f"{dimension} {UNITS[dimension]}{value:.{DIGITS[dimension]}f}"


def frame_number(row: DriftRow, index: int) -> int:
    """The frame's number as users see it (from 1)."""
    return index + 1


def timecode(row: DriftRow, index: int) -> str:
    frame = row.frames[index]
    return format_timecode(frame.time_s, row.shot.fps, frame.index)


def describe_worst(row: DriftRow, t: Thresholds | None = None) -> str:
    """'worst wardrobe ΔE 32.1 at 00:00:01:05 (frame 30)', or '' when nothing is measured."""
    w = worst(row, t)
    if w is None:
        return ""
    return (
        f"worst {describe_value(w.dimension, w.value)} at {timecode(row, w.index)} "
        f"(frame {frame_number(row, w.index)})"
    )


# -- what goes on the reshoot list ------------------------------------------------------------


def drifted_unreviewed(
    rows: Sequence[DriftRow], thresholds: Sequence[Thresholds] | None = None
) -> list[str]:
    """Ids of frames past a threshold that nobody has reviewed (flagged or approved) yet.

    What "Flag every drifted frame for reshoot" puts on the list; frames already approved or
    already on the list are left as they are. Timeline order, each frame once.
    """
    ts = list(thresholds) if thresholds is not None else [r.thresholds for r in rows]
    ids: list[str] = []
    for row, t in zip(rows, ts, strict=True):
        for i in np.flatnonzero(row.flags(t)):
            review = row.reviews.get(row.frames[i].id)
            if review is None or review.state is None:
                ids.append(row.frames[i].id)
    return list(dict.fromkeys(ids))


def flag_drifted(project: Project) -> drift.ReviewChanges:
    """Put every drifted frame not reviewed yet on the reshoot list (undo: revert_review)."""
    return drift.set_review(project, drifted_unreviewed(drift.drift_rows(project)), "reshoot")


def gallery(rows: Sequence[DriftRow], limit: int = GALLERY_LIMIT) -> list[tuple[DriftRow, int]]:
    """The flagged frames the report shows with pictures: timeline order, at most `limit`."""
    out = [(row, int(i)) for row in rows for i in np.flatnonzero(row.flags())]
    return out[:limit]


# -- summaries --------------------------------------------------------------------------------


def shot_summary(row: DriftRow, t: Thresholds | None = None) -> dict[str, Any]:
    """A shot against one persona in a few figures: frames analysed, flagged, its worst frame.

    Frames are numbered from 1, as the heat map shows them.
    """
    t = t or row.thresholds
    w = worst(row, t)
    counts = drift.tally([row], [row.flags(t)])
    score = row.scores[w.index] if w is not None else None
    identity = score.identity if score is not None else None
    return {
        "shot": row.shot.name,
        "persona": row.persona_name,
        "notes": row.shot.notes,
        "source": row.shot.source_path,
        "fps": row.shot.fps,
        "frames": counts.frames,
        "analysed": counts.analysed,
        "flagged": counts.flagged,
        "not_measurable": counts.unmeasurable,
        "stale": counts.stale,
        "worst_frame": None if w is None else frame_number(row, w.index),
        "worst_on": None if w is None else w.dimension,
        "worst_value": None if w is None else round(w.value, 4),
        "worst_flagged": None if w is None else w.flagged,
        "worst_identity": None if identity is None else round(float(identity), 4),
        "worst_timecode": None if w is None else timecode(row, w.index),
        "thresholds": t.to_dict(),
    }


def summary_line(rows: Sequence[DriftRow]) -> str:
    """Where the review stands: frames analysed, flagged, not measurable."""
    n = drift.tally(rows)
    line = (
        f"{n.analysed} of {plural(n.frames, 'frame')} analysed: {n.flagged} flagged, "
        f"{n.unmeasurable} not measurable"
    )
    return line + (f", {n.stale} out of date (Analyse updates them)" if n.stale else "")


# -- reviews from the command line ------------------------------------------------------------

ACTIONS = ("reshoot", "approved", "clear")


@dataclass(frozen=True)
class ReviewedFrames:
    """What a review of frames did: the row it was read against, the frames and the changes."""

    row: DriftRow
    indices: tuple[int, ...]
    changes: drift.ReviewChanges

    def frames(self) -> list[dict[str, Any]]:
        out = []
        for i in self.indices:
            frame = self.row.frames[i]
            v = drift.verdict(self.row, i)
            before, after = self.changes.get(frame.id, (None, None))
            review = v.review
            out.append(
                {
                    "frame": frame_number(self.row, i),
                    "timecode": timecode(self.row, i),
                    "state": v.state,
                    "why": v.why,
                    "review": after[0] if after else (review.state if review else None),
                    "note": after[1] if after else (review.note if review else ""),
                    "changed": after is not None,
                    "was": {"review": before[0], "note": before[1]} if before else None,
                }
            )
        return out


def shot_row(project: Project, shot_key: str, persona_key: str | None = None) -> DriftRow:
    """A shot's drift row against the named persona (the first expected one by default)."""
    rows = drift.drift_rows(project, [shot_key])  # an unknown shot's error lists the shots
    if not rows:
        raise StudioError(
            f"No persona is expected in the shot '{shot_key}'.",
            hint="Add a persona to the project first.",
        )
    if persona_key is None:
        return rows[0]
    persona = personas.get_persona(project, persona_key)
    row = next((r for r in rows if r.persona_id == persona.id), None)
    if row is None:
        names = ", ".join(r.persona_name for r in rows)
        raise StudioError(
            f"{persona.name} is not expected in '{rows[0].shot.name}'.",
            hint=f"Personas expected in it: {names}.",
        )
    return row


def review_frames(
    project: Project,
    shot_key: str,
    frames: str,
    action: str | None,
    note: str | None = None,
    persona_key: str | None = None,
) -> ReviewedFrames:
    """Flag frames of a shot for reshoot, approve them or clear their review, and/or note them.

    frames: as users number them ("3-9", "3,5,7", "all"; from 1). action: "reshoot",
    "approved", "clear" or None (only the note changes). Reviews belong to the frame, whichever
    persona's row it is read against.
    """
    if action is not None and action not in ACTIONS:
        raise StudioError(f"A review is one of: {', '.join(ACTIONS)}.")
    if action is None and note is None:
        raise StudioError("Nothing to change.", hint="Say --reshoot, --approve, --clear or --note.")
    row = shot_row(project, shot_key, persona_key)
    indices = rules.parse_frame_numbers(frames, len(row.frames), f"'{row.shot.name}'")
    ids = [row.frames[i].id for i in indices]
    with project.atomic():
        if action == "clear":
            changes = drift.set_review(project, ids, None, None)
            if note is not None:
                changes = _merge(changes, drift.set_review(project, ids, None, note))
        else:
            state = None if action is None else action
            changes = drift.set_review(project, ids, state, note)
    drift.refresh_reviews(project, [row])
    return ReviewedFrames(row, tuple(indices), changes)


def _merge(first: drift.ReviewChanges, then: drift.ReviewChanges) -> drift.ReviewChanges:
    out = dict(first)
    for fid, (before, after) in then.items():
        out[fid] = (first[fid][0] if fid in first else before, after)
    return {fid: (b, a) for fid, (b, a) in out.items() if b != a}


def reshoots(project: Project) -> list[dict[str, Any]]:
    """The reshoot list as plain data: shot, frame (from 1), timecode, why, note."""
    out = []
    for item in drift.reshoot_list(project):
        frame: Frame = item.frame
        out.append(
            {
                "shot": item.shot.name,
                "frame": frame.index + 1,
                "timecode": format_timecode(frame.time_s, item.shot.fps, frame.index),
                "time_s": frame.time_s,
                "why": item.why,
                "note": item.note,
            }
        )
    return out


# -- thresholds -------------------------------------------------------------------------------

OVERRIDE, CALIBRATED, DEFAULT = "override", "calibrated", "default"


@dataclass(frozen=True)
class ThresholdInfo:
    """A persona's thresholds in force and where each comes from."""

    persona: str
    thresholds: Thresholds
    sources: dict[str, str]  # dimension or "enabled" -> override, calibrated or default
    why: dict[str, str]  # dimension -> how it was set, in words (when the service says)
    calibrated_identity: float | None  # the calibration's threshold, when there is one

    def to_dict(self) -> dict[str, Any]:
        t = self.thresholds
        out: dict[str, Any] = {"persona": self.persona}
        for d in DIMENSIONS:
            out[d] = {"value": getattr(t, d), "source": self.sources[d], "why": self.why.get(d)}
        out["enabled"] = {"value": list(t.enabled), "source": self.sources["enabled"]}
        out["calibrated_identity"] = self.calibrated_identity
        return out

    def lines(self) -> list[str]:
        t = self.thresholds
        out = [f"{self.persona}:"]
        for d in DIMENSIONS:
            what = self.sources[d]
            if what != OVERRIDE and self.why.get(d):
                what = self.why[d]
            if what == OVERRIDE and d == "identity" and self.calibrated_identity is not None:
                what += f"; calibrated {self.calibrated_identity:.3f}"
            check = "" if d in t.enabled else ", not checked"
            value = f"{UNITS[d]}{getattr(t, d):.{DIGITS[d]}f}"
            out.append(f"  {d:<9} {value:<9} ({what}{check})")
        checked = ", ".join(t.enabled) or "nothing"
        out.append(f"  checking  {checked} ({self.sources['enabled']})")
        return out


def _overrides(project: Project, persona_id: str) -> dict:
    # The overrides as services.drift stores them (it has no reader of its own for them yet).
    return drift.threshold_overrides(project, persona_id)


def threshold_info(project: Project, persona_key: str) -> ThresholdInfo:
    """A persona's thresholds in force, which are overrides and which calibrated or default."""
    persona = personas.get_persona(project, persona_key)
    saved = _overrides(project, persona.id)
    t = drift.thresholds(project, persona.id)
    basis = dict(getattr(t, "basis", None) or {})  # dimension -> how drift set it, in words
    cal = audit.calibration(project, persona.id)
    calibrated = float(cal.threshold) if cal is not None and cal.calibrated else None
    sources, why = {}, {}
    for d in DIMENSIONS:
        said = basis.get(d) or ""
        if d in saved:
            sources[d] = OVERRIDE
        elif said:
            sources[d] = CALIBRATED if said.startswith("calibrated") else DEFAULT
            why[d] = said
        else:
            sources[d] = CALIBRATED if d == "identity" and calibrated is not None else DEFAULT
    sources["enabled"] = OVERRIDE if "enabled" in saved else DEFAULT
    return ThresholdInfo(persona.name, t, sources, why, calibrated)


def change_thresholds(
    project: Project,
    persona_key: str,
    values: dict[str, float] | None = None,
    *,
    calibrated: bool = False,
    enable: Sequence[str] = (),
    disable: Sequence[str] = (),
) -> tuple[ThresholdInfo, dict]:
    """Override thresholds, put back the calibrated/default ones, switch checks on or off.

    Returns the thresholds now and the previous overrides (for `drift.restore_thresholds`).
    """
    values = {k: v for k, v in (values or {}).items() if v is not None}
    if calibrated and values:
        raise StudioError(
            "Give either new thresholds or --calibrated, not both.",
            hint="--calibrated puts back the calibrated and default thresholds.",
        )
    for dim, value in values.items():
        if dim not in DIMENSIONS:
            raise StudioError(f"Unknown threshold: {dim}.")
        if not 0 < value < (1 if dim == "identity" else 1000):
            raise StudioError(
                f"{value:g} is not a usable {dim} threshold.",
                hint="Identity is a similarity between 0 and 1; wardrobe (ΔE) and lighting are "
                "distances above 0.",
            )
    clash = set(enable) & set(disable)
    if clash:
        raise StudioError(f"Cannot both enable and disable {', '.join(sorted(clash))}.")
    persona = personas.get_persona(project, persona_key)
    change: dict[str, Any] = dict(values)
    if calibrated:
        change.update({d: None for d in DIMENSIONS})
    if enable or disable:
        now = drift.thresholds(project, persona.id).enabled
        enabled = [d for d in DIMENSIONS if (d in now or d in enable) and d not in disable]
        change["enabled"] = None if enabled == list(DIMENSIONS) else enabled
    old = (
        drift.set_thresholds(project, persona.id, **change)
        if change
        else _overrides(project, persona.id)
    )
    return threshold_info(project, persona.id), old


# -- the report -------------------------------------------------------------------------------


def best_references(project: Project, rows: Sequence[DriftRow]) -> dict[str, Reference]:
    """The references the rows' frames came closest to, by id.

    A score can outlive its reference (deleted since the analysis): such ids are left out.
    """
    ids = {s.best_reference_id for row in rows for s in row.scores if s and s.best_reference_id}
    if not ids:
        return {}
    try:
        found = curation.get_references(project, sorted(ids))
    except NotFoundError:
        found = [r for r in library.list_references(project) if r.id in ids]
    return {r.id: r for r in found}


def past_threshold(score: FrameScore | None, t: Thresholds) -> tuple[str, ...]:
    """The enabled dimensions on which a frame's score is past its threshold."""
    if score is None or score.state != MEASURED:
        return ()
    out = []
    for d in DIMENSIONS:
        value = score.value(d)
        if d not in t.enabled or value is None or np.isnan(value):
            continue
        limit = getattr(t, d)
        if (value < limit) if d == "identity" else (value > limit):
            out.append(d)
    return tuple(out)


def report_format(output: str | os.PathLike, fmt: str | None = None) -> str:
    """The report's format: the one asked for, else from the file's suffix."""
    fmt = (fmt or Path(output).suffix.lstrip(".") or "html").lower()
    if fmt not in REPORT_FORMATS:
        raise StudioError(
            f"Cannot tell the report format from '{os.fspath(output)}'.",
            hint="Name the file .html, .csv or .json, or choose the format.",
        )
    return fmt


def _check_writable(path: Path) -> None:
    """Refuse early a report that cannot be written where asked (before a job is queued)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if path.is_dir():
        problem = "it is a folder"
    elif not folder.is_dir():
        problem = f"{folder} is not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = "permission denied"
    else:
        return
    raise StudioError(
        f"Cannot write the report to {path}: {problem}.", hint="Choose a folder you can write to."
    )


def plan_report(
    project: Project,
    fmt: str,
    output: str | os.PathLike,
    size: int = library.THUMBNAIL_SIZE,
) -> ReportSpec:
    """A job spec writing the drift report; the HTML one first makes its pictures' thumbnails.

    Only the pictures with no cached thumbnail are listed: a second report reuses them.
    """
    fmt = report_format(output, fmt)
    path = Path(output).expanduser().absolute()
    _check_writable(path)
    thumbs: list[str] = []
    if fmt == "html":
        rows = drift.drift_rows(project)
        refs = best_references(project, rows)
        for row, i in gallery(rows):
            thumbs.append(row.frames[i].blob_sha)
            score = row.scores[i]
            ref = refs.get(score.best_reference_id) if score else None
            if ref is not None:
                thumbs.append(ref.blob_sha)
        thumbs = [
            s for s in dict.fromkeys(thumbs) if library.get_thumbnail(project, s, size) is None
        ]
    return ReportSpec(
        title=f"Write the drift report {path.name}",
        fmt=fmt,
        output=str(path),
        thumbs=tuple(thumbs),
        size=size,
    )
