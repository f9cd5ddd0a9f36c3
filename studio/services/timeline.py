"""The timeline: every shot in story order with its frames and their drift verdicts; moving,
copying, deleting and restoring shots.

Verdicts come from the drift review's own rules (`drift.drift_rows` and `drift.verdict`), so the
timeline and the heat map cannot disagree about a frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from studio.core.errors import StudioError
from studio.core.shots import Shot
from studio.project import personas as persona_rows
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.project import timeline as rows
from studio.project.store import Project
from studio.services import drift
from studio.services.renders import RENDER_KIND

FOOTAGE_KIND = "footage"
DEFAULT_FPS = 24.0  # a render shot plays at film rate

FLAGGED, STALE, OK, UNMEASURABLE, NOT_ANALYSED = (
    "flagged",
    "stale",
    "ok",
    "not measurable",
    "not analysed",
)
READING = "verdict being read"  # a lane shown before its verdicts (`frame_verdicts`) are read
# A frame seen by several personas shows the most telling of their verdicts.
_PRIORITY = {FLAGGED: 0, STALE: 1, OK: 2, UNMEASURABLE: 3, NOT_ANALYSED: 4}


@dataclass(frozen=True)
class TimelineFrame:
    """One frame of a lane: its picture and the drift review's verdict on it."""

    frame_id: str
    index: int
    blob_sha: str
    verdict: str = NOT_ANALYSED


@dataclass(frozen=True)
class TimelineRow:
    """One shot as its lane shows it."""

    shot: Shot
    kind: str  # RENDER_KIND or FOOTAGE_KIND
    persona_ids: tuple[str, ...]
    persona_names: tuple[str, ...]
    planned: int  # frames the shot should have
    fps: float
    frames: tuple[TimelineFrame, ...]
    motion: str = ""  # a motion shot's video model: its frames are a clip animated from a keyframe

    @property
    def id(self) -> str:
        return self.shot.id

    @property
    def name(self) -> str:
        return self.shot.name

    @property
    def rendered(self) -> int:
        """Frames that have a picture."""
        return sum(1 for f in self.frames if f.blob_sha)

    @property
    def duration_s(self) -> float:
        return self.planned / self.fps if self.fps else 0.0

    def count(self, verdict: str) -> int:
        """How many frames have this verdict."""
        return sum(1 for f in self.frames if f.verdict == verdict)


def timeline_rows(
    project: Project, shot_keys: Sequence[str] | None = None, *, verdicts: bool = True
) -> list[TimelineRow]:
    """Every shot (or the named ones) in timeline order, with its frames and their verdicts.

    verdicts False: every frame's verdict is READING, for a view that shows the lanes at once
    and reads the verdicts (the costly part) off its thread with `frame_verdicts`.
    """
    shots = shot_rows.list_shots(project)
    if shot_keys is not None:
        wanted = {shot_rows.get_shot(project, key).id for key in shot_keys}
        shots = [s for s in shots if s.id in wanted]
    if not shots:
        return []
    ids = [s.id for s in shots]
    settings = rows.render_settings_of_all(project)
    names = {p.id: p.name for p in persona_rows.list_personas(project)}
    frames: dict[str, list] = {s: [] for s in ids}
    for frame in shot_rows.all_frames(project, ids):
        frames[frame.shot_id].append(frame)
    judged = frame_verdicts(project, None if shot_keys is None else ids) if verdicts else {}
    unknown = NOT_ANALYSED if verdicts else READING
    out = []
    for shot in shots:
        render = settings.get(shot.id)
        motion = ""
        if render is not None:
            kind, planned, fps = RENDER_KIND, render.frames, shot.fps or DEFAULT_FPS
            motion = render.motion or ""
        else:
            kind, planned = FOOTAGE_KIND, shot.frame_count
            fps = (shot.fps / max(1, shot.every)) if shot.fps else DEFAULT_FPS
        out.append(
            TimelineRow(
                shot=shot,
                kind=kind,
                persona_ids=shot.persona_ids,
                persona_names=tuple(names.get(p, "") for p in shot.persona_ids),
                planned=max(planned, len(frames[shot.id])),
                fps=fps,
                frames=tuple(
                    TimelineFrame(f.id, f.index, f.blob_sha or "", judged.get(f.id, unknown))
                    for f in frames[shot.id]
                ),
                motion=motion,
            )
        )
    return out


def frame_verdicts(project: Project, shot_ids: Sequence[str] | None = None) -> dict[str, str]:
    """Frame id -> the drift review's verdict, of every frame scored (of these shots, or all);
    a frame seen by several personas gets the most telling of theirs."""
    verdicts: dict[str, str] = {}
    if shot_ids is not None and not shot_ids:
        return verdicts
    for row in drift.drift_rows(project, shot_ids):
        for i, frame in enumerate(row.frames):
            state = drift.verdict(row, i).state
            old = verdicts.get(frame.id)
            if old is None or _PRIORITY[state] < _PRIORITY[old]:
                verdicts[frame.id] = state
    return verdicts


def with_verdicts(row: TimelineRow, verdicts: Mapping[str, str]) -> TimelineRow:
    """A lane shown before its verdicts were read, with them (NOT_ANALYSED where none)."""
    frames = tuple(
        replace(f, verdict=verdicts.get(f.frame_id, NOT_ANALYSED)) if f.verdict == READING else f
        for f in row.frames
    )
    return replace(row, frames=frames)


def shot_order(project: Project) -> list[str]:
    """Shot ids in timeline order (cheap: to follow an edit without reading every lane)."""
    return rows.shot_order(project)


def move_shot(project: Project, shot_key: str, position: int) -> int:
    """Move a shot to a place in the timeline (0: first); returns the place it had."""
    shot = shot_rows.get_shot(project, shot_key)
    with project.atomic():
        order = rows.shot_order(project)
        old = order.index(shot.id)
        order.remove(shot.id)
        order.insert(max(0, min(position, len(order))), shot.id)
        rows.set_shot_order(project, order)
    return old


def duplicate_shot(project: Project, shot_key: str) -> Shot:
    """A copy of a render shot right after it: same settings and cast, its own seed offset, no
    takes (one transaction)."""
    shot = shot_rows.get_shot(project, shot_key)
    settings = render_rows.get_settings(project, shot.id)
    if settings is None:
        raise StudioError(
            f"'{shot.name}' was made from footage, so there is nothing to render a copy from.",
            hint="Duplicate a shot made for rendering, or add a new one.",
        )
    with project.atomic():
        name = shot_rows.unique_shot_name(project, f"{shot.name} copy")
        offset = render_rows.next_seed_offset(project)
        copy_id = rows.copy_shot(project, shot.id, name, settings.with_changes(seed_offset=offset))
    return shot_rows.get_shot(project, copy_id)


@dataclass(frozen=True)
class DeletedShot:
    """What a delete removed, for `restore_shot`: the shot, its place and its rows as stored."""

    shot: Shot
    position: int
    rows: dict[str, list[dict[str, Any]]]

    @property
    def frames(self) -> int:
        return len(self.rows.get("frames", []))

    @property
    def takes(self) -> int:
        return len(self.rows.get("takes", []))


def delete_shot(project: Project, shot_key: str) -> DeletedShot:
    """Remove a shot with its frames, takes and reviews (one transaction); the pictures stay
    stored. Returns what `restore_shot` needs to put it back."""
    shot = shot_rows.get_shot(project, shot_key)
    with project.atomic():
        position = rows.shot_order(project).index(shot.id)
        removed = rows.remove_shot(project, shot.id)
    return DeletedShot(shot, position, removed)


def restore_shot(project: Project, deleted: DeletedShot) -> Shot:
    """Put a deleted shot back where it was, with its frames, takes and reviews (undo)."""
    with project.atomic():
        rows.put_back_shot(project, deleted.rows)
        order = [s for s in rows.shot_order(project) if s != deleted.shot.id]
        order.insert(min(deleted.position, len(order)), deleted.shot.id)
        rows.set_shot_order(project, order)
    return shot_rows.get_shot(project, deleted.shot.id)
