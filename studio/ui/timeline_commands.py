"""The Timeline workspace's undo commands: each edit calls one service and tells the view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtGui import QUndoCommand

from studio.core.render import RenderSettings
from studio.services import renders, timeline


class TimelineView(Protocol):
    """What a command needs of the view it edits: the project, and where to say what changed."""

    project: Any

    def shots_changed(self, select: str | None = None) -> None: ...


class MoveShotCommand(QUndoCommand):
    """Move a shot to another place in the timeline."""

    def __init__(self, view: TimelineView, shot_id: str, name: str, position: int):
        super().__init__(f"Move '{name}'")
        self.view, self.shot_id, self.position = view, shot_id, position
        self.old: int | None = None

    def redo(self) -> None:
        self.old = timeline.move_shot(self.view.project, self.shot_id, self.position)
        if self.old == self.position:
            self.setObsolete(True)  # dropped where it was: keep it off the stack
        self.view.shots_changed(self.shot_id)

    def undo(self) -> None:
        timeline.move_shot(self.view.project, self.shot_id, self.old or 0)
        self.view.shots_changed(self.shot_id)


class _CreateShotCommand(QUndoCommand):
    """A shot made when the command is made (so a refusal raises before it is pushed); undo
    deletes it and redo puts the same shot back."""

    def __init__(self, view: TimelineView, text: str, create: Callable[[], str]):
        super().__init__(text)
        self.view = view
        self.shot_id = create()
        self.deleted: timeline.DeletedShot | None = None

    def redo(self) -> None:
        if self.deleted is not None:
            timeline.restore_shot(self.view.project, self.deleted)
        self.view.shots_changed(self.shot_id)

    def undo(self) -> None:
        self.deleted = timeline.delete_shot(self.view.project, self.shot_id)
        self.view.shots_changed(None)


class DuplicateShotCommand(_CreateShotCommand):
    """A copy of a render shot right after it (own seed offset, no takes)."""

    def __init__(self, view: TimelineView, shot_id: str, name: str):
        super().__init__(
            view,
            f"Duplicate '{name}'",
            lambda: timeline.duplicate_shot(view.project, shot_id).id,
        )


class AddShotCommand(_CreateShotCommand):
    """A new render shot at the end of the timeline."""

    def __init__(self, view: TimelineView, name: str, persona_id: str, settings: RenderSettings):
        super().__init__(
            view,
            f"Add shot '{name}'",
            lambda: renders.add_render_shot(view.project, name, [persona_id], settings).id,
        )


class DeleteShotsCommand(QUndoCommand):
    """Delete shots with their frames and takes; undo puts them back where they were."""

    def __init__(self, view: TimelineView, shot_ids: list[str], text: str):
        super().__init__(text)
        self.view, self.shot_ids = view, list(shot_ids)
        self.deleted: list[timeline.DeletedShot] = []

    def redo(self) -> None:
        self.deleted = [timeline.delete_shot(self.view.project, s) for s in self.shot_ids]
        self.view.shots_changed(None)

    def undo(self) -> None:
        for deleted in reversed(self.deleted):  # the last removed first: each returns to its place
            timeline.restore_shot(self.view.project, deleted)
        self.view.shots_changed(self.shot_ids[0] if self.shot_ids else None)
