"""Message boxes for user errors: what happened, what to do, never a traceback."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from studio.core.errors import StudioError


def show_error(
    parent: QWidget | None, error: StudioError | str, title: str = "Persona Studio"
) -> None:
    """Show a user error as a warning dialog (message, then the hint on its own line)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    if isinstance(error, StudioError):
        box.setText(error.message)
        if error.hint:
            box.setInformativeText(error.hint)
    else:
        box.setText(str(error))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("studioErrorBox")
    box.open()  # window-modal without blocking the event loop (jobs keep reporting)
