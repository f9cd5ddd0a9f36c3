"""What every workspace tab of the window has: a name, a title, messages and its undo stack."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QWidget

from studio.core.changes import NOTHING, Changes

# Change records arriving this close together are read as one (a batch of frames landing).
CHANGES_DELAY_MS = 250


class Workspace(QWidget):
    """One capability over the open project; the window switches the undo group to its stack."""

    name = ""  # for --workspace and the saved state
    title = ""  # the tab's text
    status_message = Signal(str)
    cast_changed = Signal()  # this workspace changed the personas or their references
    activation_requested = Signal()  # one of its actions was chosen: the window shows it
    # An edit here changed what other workspaces show (a `Changes` record): the window hands it
    # to the others' `apply_changes`.
    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.project = None
        self.runner = None
        self._undo = QUndoStack(self)
        self._menu_actions: list[QAction] = []
        self._pending = NOTHING  # change records not shown yet
        self._changes_timer = QTimer(self)
        self._changes_timer.setSingleShot(True)
        self._changes_timer.setInterval(CHANGES_DELAY_MS)
        self._changes_timer.timeout.connect(self.apply_pending)

    @property
    def undo_stack(self) -> QUndoStack:
        return self._undo

    def set_project(self, project) -> None:
        raise NotImplementedError

    def set_runner(self, runner) -> None:
        """The job runner of the open project (None when it is closed or read-only)."""
        self.runner = runner
        self._update_actions()

    def refresh_cast(self) -> None:
        """Another workspace changed the cast: show who is in it now. Workspaces with a cast
        list override it."""

    def apply_changes(self, changes: Changes | None) -> None:
        """A job's commit or another workspace's edit changed these shots, frames or personas:
        merge the record; `apply_pending` shows them a moment later, so a burst of frames is
        read once."""
        if self.project is None or not changes:
            return
        self._pending = self._pending | changes
        if not self._changes_timer.isActive():
            self._changes_timer.start()

    def apply_pending(self) -> None:
        """Show what the merged change records name; workspaces that show shots override it."""
        self.take_pending()

    def take_pending(self) -> Changes:
        """The merged change records not shown yet, forgotten here."""
        self._changes_timer.stop()
        changes, self._pending = self._pending, NOTHING
        return changes

    def _update_actions(self) -> None:
        """Enable what can be done now; workspaces with actions override it."""

    # -- actions and their shortcuts ------------------------------------------------------------

    def workspace_action(
        self, text: str, shortcut, slot: Callable[[], object], tip: str = ""
    ) -> QAction:
        """An action of this workspace, listed in its menu of the window; its shortcut works
        wherever in the window the focus is while the workspace is shown (see `set_active`)."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

        def triggered(_checked: bool = False) -> None:
            self.activation_requested.emit()  # chosen from the menu while another tab is shown
            slot()

        action.triggered.connect(triggered)
        self.addAction(action)
        self._menu_actions.append(action)
        return action

    def menu_actions(self) -> list[QAction]:
        """The workspace's own actions, in the order its menu lists them."""
        return list(self._menu_actions)

    def set_active(self, active: bool) -> None:
        """The window shows this workspace (True) or another. While shown, its shortcuts work
        wherever the focus is (a menu just closed, the tab bar); while hidden, never."""
        context = (
            Qt.ShortcutContext.WindowShortcut
            if active
            else Qt.ShortcutContext.WidgetWithChildrenShortcut
        )
        for action in self._menu_actions:
            action.setShortcutContext(context)
