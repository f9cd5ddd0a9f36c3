"""What every workspace tab of the window has: a name, a title, messages and its undo stack."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QWidget


class Workspace(QWidget):
    """One capability over the open project; the window switches the undo group to its stack."""

    name = ""  # for --workspace and the saved state
    title = ""  # the tab's text
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.project = None
        self.runner = None
        self._undo = QUndoStack(self)

    @property
    def undo_stack(self) -> QUndoStack:
        return self._undo

    def set_project(self, project) -> None:
        raise NotImplementedError

    def set_runner(self, runner) -> None:
        """The job runner of the open project (None when it is closed or read-only)."""
        self.runner = runner
        self._update_actions()

    def _update_actions(self) -> None:
        """Enable what can be done now; workspaces with actions override it."""
