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
