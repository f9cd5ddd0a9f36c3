"""The Drift workspace's undo commands: each edit calls one service and tells the workspace."""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtGui import QUndoCommand

from studio.services import drift


class DriftView(Protocol):
    """What a command needs of the view it edits: the project, and where to say what changed."""

    project: Any

    def reviews_changed(self) -> None: ...

    def thresholds_changed(self, persona_id: str | None = None) -> None: ...


class ReviewCommand(QUndoCommand):
    """Flag frames for a reshoot, approve them, clear them or note them: one undo step."""

    def __init__(self, workspace: DriftView, text: str, frame_ids, state, note):
        super().__init__(text)
        self.workspace, self.frame_ids, self.state, self.note = workspace, frame_ids, state, note
        self.changes: dict | None = None

    def redo(self) -> None:
        project = self.workspace.project
        if self.changes is None:
            self.changes = drift.set_review(project, self.frame_ids, self.state, self.note)
            if not self.changes:
                self.setObsolete(True)  # nothing changed: keep it off the stack
                return
        else:
            drift.reapply_review(project, self.changes)
        self.workspace.reviews_changed()

    def undo(self) -> None:
        drift.revert_review(self.workspace.project, self.changes or {})
        self.workspace.reviews_changed()


class ThresholdCommand(QUndoCommand):
    """Change a persona's drift thresholds (None puts back the calibrated one)."""

    def __init__(self, workspace: DriftView, text: str, persona_id: str, values: dict):
        super().__init__(text)
        self.workspace, self.persona_id, self.values = workspace, persona_id, values
        self.old: dict = {}

    def redo(self) -> None:
        self.old = drift.set_thresholds(self.workspace.project, self.persona_id, **self.values)
        self.workspace.thresholds_changed(self.persona_id)

    def undo(self) -> None:
        drift.restore_thresholds(self.workspace.project, self.persona_id, self.old)
        self.workspace.thresholds_changed(self.persona_id)
