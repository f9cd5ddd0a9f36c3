"""Pinning references in the shot editor: a library drag pins them, Delete and "Use the
library's picks" remove them, each change is one undo step, and the render plan uses them."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import QApplication

from studio.core.render import RenderSettings
from studio.services import library, personas, rendering, renders
from studio.ui.library_browser import REF_MIME
from studio.ui.shot_editor import ShotEditor
from tests.services.test_pinned_references import add_adapter, add_library


def _open(qtbot, project, shot_id):
    stack = QUndoStack()
    editor = ShotEditor(stack)
    qtbot.addWidget(editor)
    editor.resize(1200, 800)
    editor.set_project(project)
    editor.set_shot(shot_id)
    editor.show()
    qtbot.waitExposed(editor)
    return editor, stack


def _drop(view, reference_ids) -> bool:
    """Drag references as the library grid does and drop them on a list; True if accepted."""
    md = QMimeData()
    md.setData(REF_MIME, "\n".join(reference_ids).encode())
    target = view.viewport()
    pos = QPointF(20, 20)
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    for kind in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(
            target, kind(pos.toPoint(), Qt.DropAction.CopyAction, md, buttons, mods)
        )
    event = QDropEvent(pos, Qt.DropAction.CopyAction, md, buttons, mods)
    QApplication.sendEvent(target, event)
    return event.isAccepted()


def _listed(editor) -> list[str]:
    items = [editor.reference_list.item(i) for i in range(editor.reference_list.count())]
    return [i.data(Qt.ItemDataRole.UserRole) for i in items]


def test_a_dropped_library_reference_is_pinned_and_undo_unpins_it(qtbot, project, errors):
    refs = add_library(project)
    add_adapter(project)
    settings = RenderSettings(frames=1, ip_adapters=(("ip", 0.6),), references=3)
    shot = renders.add_render_shot(project, "Intro", ["Ada"], settings)
    editor, stack = _open(qtbot, project, shot.id)
    assert len(_listed(editor)) == 3  # the library's picks
    assert not editor.library_picks_button.isEnabled()

    turned = refs["ada-3.png"]
    with qtbot.waitSignal(editor.settings_changed):
        assert _drop(editor.reference_list, [turned])
    assert renders.render_settings(project, shot.id).pinned_references == (turned,)
    assert _listed(editor) == [turned]
    assert "pinned" in editor.reference_note.text()
    assert "60°" in editor.reference_warnings.text()  # far from a frontal head, as picks say
    assert stack.count() == 1 and stack.undoText() == "Pin a reference"

    # The render plan feeds IP-Adapter the pinned reference alone.
    sha = {r.id: r.blob_sha for r in library.list_references(project)}[turned]
    assert rendering.plan_render(project, [shot.id]).spec.shots[0].references == (sha,)

    stack.undo()
    assert renders.render_settings(project, shot.id).pinned_references == ()
    assert len(_listed(editor)) == 3
    stack.redo()
    assert _listed(editor) == [turned]
    assert errors == []


def test_delete_unpins_the_selected_and_the_library_picks_come_back(qtbot, project, errors):
    refs = add_library(project)
    shot = renders.add_render_shot(project, "Intro", ["Ada"], RenderSettings(references=3))
    editor, stack = _open(qtbot, project, shot.id)
    pins = [refs["ada-1.png"], refs["ada-2.png"], refs["ada-0.png"]]
    assert _drop(editor.reference_list, pins[:2])
    assert _drop(editor.reference_list, pins[2:] + pins[:1])  # one already pinned stays once
    assert renders.render_settings(project, shot.id).pinned_references == tuple(pins)
    assert stack.count() == 2

    editor.reference_list.item(1).setSelected(True)
    qtbot.keyClick(editor.reference_list, Qt.Key.Key_Delete)
    assert renders.render_settings(project, shot.id).pinned_references == (pins[0], pins[2])
    assert stack.undoText() == "Unpin a reference"

    editor.library_picks_button.click()
    assert renders.render_settings(project, shot.id).pinned_references == ()
    assert stack.undoText() == "Use the library's picks"
    assert len(_listed(editor)) == 3 and not editor.library_picks_button.isEnabled()
    stack.undo()
    assert _listed(editor) == [pins[0], pins[2]]
    assert errors == []


def test_another_personas_reference_is_refused_and_nothing_is_stored(qtbot, project, errors):
    add_library(project)
    personas.add_persona(project, "Bea")
    bea = add_library(project, "Bea")
    shot = renders.add_render_shot(project, "Intro", ["Ada"], RenderSettings())
    editor, stack = _open(qtbot, project, shot.id)
    _drop(editor.reference_list, [bea["bea-0.png"]])
    assert renders.render_settings(project, shot.id).pinned_references == ()
    assert stack.count() == 0
    assert "not one of Ada's references" in errors[0].message
    assert "not one of Ada's references" in editor.error_label.text()


def test_other_drags_are_not_taken(qtbot, project, errors):
    add_library(project)
    shot = renders.add_render_shot(project, "Intro", ["Ada"], RenderSettings())
    editor, _ = _open(qtbot, project, shot.id)
    md = QMimeData()
    md.setText("a photo")
    event = QDropEvent(
        QPointF(20, 20), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(editor.reference_list.viewport(), event)
    assert not event.isAccepted()
    assert renders.render_settings(project, shot.id).pinned_references == ()
