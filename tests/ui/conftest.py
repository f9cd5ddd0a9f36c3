"""Fixtures for the widget tests: a Persona editor on a fresh project or on the demo."""

from __future__ import annotations

import pytest

from studio.ui import dialogs


@pytest.fixture
def errors(monkeypatch) -> list:
    """Errors the UI would have shown in a dialog, in order (no dialog opens)."""
    shown: list = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, exc, *a, **k: shown.append(exc))
    return shown


def _editor(qtbot, project):
    from studio.ui.persona_editor import PersonaEditor

    editor = PersonaEditor()
    qtbot.addWidget(editor)
    editor.resize(1400, 900)
    editor.set_project(project)
    editor.show()
    qtbot.waitExposed(editor)
    return editor


@pytest.fixture
def editor(qtbot, project, errors):
    """The editor on a new project whose only persona is Ada."""
    editor = _editor(qtbot, project)
    yield editor
    editor.set_project(None)


@pytest.fixture
def demo_editor(qtbot, demo_project, errors):
    """The editor on a copy of the demo project (Nova Hale, two versions)."""
    editor = _editor(qtbot, demo_project)
    yield editor
    editor.set_project(None)


def wait_idle(qtbot, window) -> None:
    """Wait until the window's jobs are done and their events delivered."""
    from PySide6.QtWidgets import QApplication

    qtbot.waitUntil(lambda: window.runner is None or not window.runner.busy, timeout=120000)
    # The Timeline reads its verdicts on a thread after the lanes show.
    qtbot.waitUntil(lambda: not window.timeline_workspace.reading_verdicts, timeout=60000)
    for _ in range(3):
        QApplication.processEvents()


def open_demo_window(qtbot, tmp_path, demo_path, workspace: str):
    """The studio window on a copy of the demo project, showing a workspace, jobs settled."""
    from PySide6.QtCore import QSettings

    from studio.ui.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1400, 900)
    assert w.open_project(demo_path)
    w.show_workspace(workspace)
    w.show()
    qtbot.waitExposed(w)
    wait_idle(qtbot, w)
    return w


def drop_files(widget, paths, at=(10, 10)) -> bool:
    """Drag local files onto a widget and drop them; True when the drop was accepted."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(*at)
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    for kind in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(
            widget, kind(pos.toPoint(), Qt.DropAction.CopyAction, md, buttons, mods)
        )
    event = QDropEvent(pos, Qt.DropAction.CopyAction, md, buttons, mods)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()
