"""Message boxes for user errors: what happened, what to do, never a traceback."""

from __future__ import annotations

from collections.abc import Callable

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


def ask(
    parent: QWidget | None,
    title: str,
    question: str,
    details: str,
    accept_label: str,
    on_accept: Callable[[], None],
) -> QMessageBox:
    """Ask a yes/no question without blocking; `on_accept` runs only when the user agrees."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(question)
    box.setInformativeText(details)
    yes = box.addButton(accept_label, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(yes)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setObjectName("studioQuestionBox")

    def answered(button) -> None:
        if button is yes:
            on_accept()

    box.buttonClicked.connect(answered)
    box.open()
    return box
