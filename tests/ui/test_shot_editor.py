"""The shot settings editor: each edit is one undo command through the renders service, refused
edits store nothing, the prompt follows the action text, the references show the picks."""

from __future__ import annotations

import hashlib

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack

from studio.core.persona import set_path
from studio.core.render import RenderSettings
from studio.project import models as model_rows
from studio.project import shots as shot_rows
from studio.services import audit, personas, renders
from studio.ui.shot_editor import FOOTAGE_TEXT, ShotEditor


def _register(project, name, kind, family="sd15"):
    return model_rows.add_model(
        project,
        name=name,
        kind=kind,
        family=family,
        format="safetensors",
        path=f"/models/{name}.safetensors",
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        size=1,
    )


@pytest.fixture
def ada(project):
    """Ada allows two lighting setups and has a red coat in her wardrobe."""
    record = personas.get_version(project, "Ada").record
    record = set_path(record, "lighting.allowed_setups", ["rembrandt", "loop"], create=True)
    coat = {"name": "Red coat", "garments": [{"item": "coat", "colour": "#b01c1c"}]}
    record = set_path(record, "wardrobe.outfits", [coat], create=True)
    personas.save_version(project, "Ada", record, "lighting and wardrobe")
    return project


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


def _choose(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))


def _row(table, name: str) -> int:
    return next(
        r
        for r in range(table.rowCount())
        if table.item(r, 0).data(Qt.ItemDataRole.UserRole) == name
    )


def test_each_edit_is_stored_and_undo_redo_restore_it(qtbot, ada, errors):
    _register(ada, "grain", "lora")
    shot = renders.add_render_shot(ada, "Street", ["Ada"], RenderSettings())
    editor, stack = _open(qtbot, ada, shot.id)
    stored = lambda: renders.render_settings(ada, shot.id)  # noqa: E731

    with qtbot.waitSignal(editor.settings_changed) as changed:
        editor.steps_spin.setValue(30)
    assert changed.args == [shot.id]
    _choose(editor.lighting_combo, "loop")
    _choose(editor.outfit_combo, "Red coat")
    editor.width_spin.setValue(640)
    row = _row(editor.lora_table, "grain")
    editor.lora_table.cellWidget(row, 1).setValue(0.5)  # unticked: waits for the tick
    editor.lora_table.item(row, 0).setCheckState(Qt.CheckState.Checked)

    after = stored()
    assert (after.steps, after.lighting_setup, after.width, after.loras) == (
        30,
        "loop",
        640,
        (("grain", 0.5),),
    )
    assert shots_outfit(ada, shot.id) == "Red coat"
    assert stack.count() == 5 and stack.undoText() == "Change LoRA weights"

    for _ in range(5):
        stack.undo()
    before = stored()
    assert (before.steps, before.lighting_setup, before.width, before.loras) == (25, "", 0, ())
    assert shots_outfit(ada, shot.id) is None
    assert editor.steps_spin.value() == 25 and editor.lighting_combo.currentData() == ""
    assert editor.lora_table.item(row, 0).checkState() == Qt.CheckState.Unchecked

    for _ in range(5):
        stack.redo()
    assert stored() == after and shots_outfit(ada, shot.id) == "Red coat"
    assert editor.outfit_combo.currentData() == "Red coat"
    assert errors == []


def shots_outfit(project, shot_id):
    shot = shot_rows.get_shot(project, shot_id)
    return shot.outfit_for(shot.persona_ids[0])


def test_a_setup_her_record_no_longer_allows_is_refused_and_nothing_changes(qtbot, ada, errors):
    shot = renders.add_render_shot(ada, "Street", ["Ada"], RenderSettings(steps=20))
    editor, stack = _open(qtbot, ada, shot.id)
    record = personas.get_version(ada, "Ada").record
    record = set_path(record, "lighting.allowed_setups", ["rembrandt"])
    personas.save_version(ada, "Ada", record, "rembrandt only")

    _choose(editor.lighting_combo, "loop")  # still offered: the editor read her old record

    assert "does not allow loop lighting" in errors[0].message
    assert "does not allow loop lighting" in editor.error_label.text()
    assert renders.render_settings(ada, shot.id).lighting_setup == ""
    assert stack.count() == 0
    assert [editor.lighting_combo.itemData(i) for i in range(editor.lighting_combo.count())] == [
        "",
        "rembrandt",
    ]
    editor.steps_spin.setValue(21)  # the next edit that goes through clears the message
    assert editor.error_label.text() == "" and stack.count() == 1


def test_a_lora_that_no_longer_exists_is_refused_and_nothing_is_stored(qtbot, ada, errors):
    grain = _register(ada, "grain", "lora")
    _register(ada, "sharp", "lora")
    shot = renders.add_render_shot(ada, "Street", ["Ada"], RenderSettings(loras=(("sharp", 0.8),)))
    editor, stack = _open(qtbot, ada, shot.id)
    model_rows.delete_model(ada, grain.id)

    editor.lora_table.item(_row(editor.lora_table, "grain"), 0).setCheckState(Qt.CheckState.Checked)

    assert "There is no LoRA 'grain' registered" in errors[0].message
    assert "no LoRA 'grain'" in editor.error_label.text()
    assert renders.render_settings(ada, shot.id).loras == (("sharp", 0.8),)
    assert stack.count() == 0
    names = [editor.lora_table.item(r, 0).text() for r in range(editor.lora_table.rowCount())]
    assert names == ["sharp"]


def test_the_prompt_follows_the_action_text_as_it_is_typed(qtbot, ada, errors):
    shot = renders.add_render_shot(
        ada, "Street", ["Ada"], RenderSettings(framing="close-up", camera="85mm")
    )
    editor, stack = _open(qtbot, ada, shot.id)
    assert "feeding pigeons" not in editor.positive_view.toPlainText()

    editor.action_edit.setFocus()
    qtbot.keyClicks(editor.action_edit, "feeding pigeons")

    text = editor.positive_view.toPlainText()
    assert "close-up, feeding pigeons, 85mm" in text
    assert editor.prompt is not None and editor.prompt.positive == text
    assert "tokens" in editor.tokens_label.text()
    assert renders.render_settings(ada, shot.id).action == ""  # typing alone stores nothing

    qtbot.keyClick(editor.action_edit, Qt.Key.Key_Return)
    assert renders.render_settings(ada, shot.id).action == "feeding pigeons"
    assert stack.count() == 1
    stack.undo()
    assert "feeding pigeons" not in editor.positive_view.toPlainText()
    assert editor.action_edit.text() == ""


def test_the_references_list_shows_the_picks_and_their_warnings(qtbot, demo_project, errors):
    nova = personas.list_personas(demo_project)[0]
    shot = renders.add_render_shot(demo_project, "Cockpit", [nova.id], RenderSettings())
    editor, stack = _open(qtbot, demo_project, shot.id)
    picks = audit.pick_references(demo_project, nova.id, 0.0, 0.0, 4)

    assert len(picks) == editor.reference_list.count() >= 1
    for i, pick in enumerate(picks):
        text = editor.reference_list.item(i).text()
        assert pick.reference.file_name in text
        assert f"pose gap {pick.pose_gap:.0f}°" in text
    assert picks.warnings and editor.reference_warnings.text() == "\n".join(picks.warnings)

    editor.yaw_spin.setValue(40.0)  # the picks follow the head pose the shot asks for
    assert renders.render_settings(demo_project, shot.id).yaw == 40.0
    again = audit.pick_references(demo_project, nova.id, 40.0, 0.0, 4)
    gaps = [editor.reference_list.item(i).text() for i in range(editor.reference_list.count())]
    assert gaps == [f"{p.reference.file_name}\npose gap {p.pose_gap:.0f}°" for p in again]
    assert "pose gap 4°" not in gaps[0]
    assert errors == []


def test_a_footage_shot_shows_that_there_is_nothing_to_set(qtbot, ada, errors):
    footage = shot_rows.add_shot(ada, "Imported", [], [], source_kind="video")
    rendered = renders.add_render_shot(ada, "Street", ["Ada"], RenderSettings())
    editor, stack = _open(qtbot, ada, rendered.id)
    assert editor.pages.currentWidget() is not editor.footage_label

    editor.set_shot(footage.id)

    assert editor.pages.currentWidget() is editor.footage_label
    assert FOOTAGE_TEXT in editor.footage_label.text()
    assert not editor.steps_spin.isVisible() and editor.settings is None
    assert stack.count() == 0 and errors == []


def test_the_model_menu_sets_the_native_size_and_her_own_lora_is_shown(qtbot, ada, errors):
    _register(ada, "base15", "base")
    _register(ada, "basexl", "base", family="sdxl")
    own = _register(ada, "ada-face", "lora")
    ada_id = personas.get_persona(ada, "Ada").id
    model_rows.link_persona(ada, ada_id, own.id, "lora", 0.8)
    shot = renders.add_render_shot(ada, "Street", ["Ada"], RenderSettings())
    editor, stack = _open(qtbot, ada, shot.id)
    combo = editor.model_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["", "base15", "basexl"]
    assert editor.width_spin.text() == "native"  # two bases: the render asks which one

    _choose(combo, "basexl")

    assert renders.render_settings(ada, shot.id).model == "basexl"
    assert (editor.width_spin.text(), editor.height_spin.text()) == ("native (1024)",) * 2
    row = _row(editor.lora_table, "ada-face")
    assert "hers at 0.8, applied" in editor.lora_table.item(row, 2).text()
    assert editor.lora_table.cellWidget(row, 1).value() == 0.8
    stack.undo()
    assert renders.render_settings(ada, shot.id).model == ""
    assert combo.currentData() == "" and errors == []


def _wheel(widget) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_scrolling_over_a_field_changes_it_only_once_it_has_focus(qtbot, ada, errors):
    shot = renders.add_render_shot(ada, "Street", ["Ada"], RenderSettings())
    editor, stack = _open(qtbot, ada, shot.id)
    editor.action_edit.setFocus()

    _wheel(editor.steps_spin)
    assert renders.render_settings(ada, shot.id).steps == 25 and stack.count() == 0

    editor.steps_spin.setFocus()
    qtbot.waitUntil(editor.steps_spin.hasFocus)
    _wheel(editor.steps_spin)
    assert renders.render_settings(ada, shot.id).steps == 26 and stack.count() == 1


def test_choosing_a_video_model_makes_a_motion_shot_and_undo_a_still_again(qtbot, ada, errors):
    _register(ada, "wan", "video", family="wan-i2v")
    _register(ada, "Base", "base")
    shot = renders.add_render_shot(
        ada, "Turn", ["Ada"], RenderSettings(action="turning", frames=9, model="Base")
    )
    editor, stack = _open(qtbot, ada, shot.id)
    combo = editor.motion_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["", "wan"]
    _choose(combo, "wan")
    stored = renders.render_settings(ada, "Turn")
    assert (stored.motion, stored.clip_frames, stored.frames) == ("wan", 9, 9)
    stack.undo()
    stored = renders.render_settings(ada, "Turn")
    assert (stored.motion, stored.clip_frames) == ("", 0)
    assert combo.currentData() == ""
    assert errors == []
