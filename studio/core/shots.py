"""Shots and frames: footage as the drift review sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

REVIEW_STATES = ("reshoot", "approved")  # a frame's review: flagged for a reshoot or approved


@dataclass(frozen=True)
class Shot:
    """An ordered sequence of frames in the project's timeline, with the personas expected in it."""

    id: str
    name: str
    position: int  # order in the timeline
    persona_ids: tuple[str, ...] = ()
    notes: str = ""
    source_path: str = ""
    source_kind: str = ""  # "video" or "images"
    fps: float | None = None
    every: int = 1  # every Nth source frame was kept
    created_at: str = ""
    frame_count: int = 0
    outfits: tuple[tuple[str, str], ...] = ()  # (persona id, the outfit expected on her)

    def outfit_for(self, persona_id: str) -> str | None:
        """The outfit the shot expects a persona in (None: any of hers)."""
        return dict(self.outfits).get(persona_id)


@dataclass(frozen=True)
class Frame:
    """One frame of a shot: an image blob and where it sits in the source."""

    id: str
    shot_id: str
    index: int  # position in the shot
    source_index: int  # frame number in the source
    time_s: float | None
    blob_sha: str
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class FrameReview:
    """The artist's word on a frame: flagged for a reshoot or approved, and a note."""

    frame_id: str
    state: str | None = None
    note: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class ImportedFrame:
    """A decoded frame ready to store (from the footage reader)."""

    index: int
    source_index: int
    time_s: float | None
    data: bytes = field(repr=False)
    mime: str = "image/jpeg"
    width: int = 0
    height: int = 0
