"""The Persona workspace, driven through its real widgets; results checked in the project."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QColorDialog, QLineEdit, QToolButton

from studio.core.persona import get_path, record_to_json
from studio.jobs import tokens as job_tokens
from studio.services import personas
from studio.services.projects import new_project, open_project
from studio.ui.persona_editor import DIFF_TINTS, PersonaEditor
from tests.fixtures.records import filled_record


@pytest.fixture
def project(tmp_path):
    """A project whose Ada has every field filled in, as an artist would (version 1)."""
    project = new_project(tmp_path / "cast.pstudio")
    f = tmp_path / "ada.json"
    f.write_text(record_to_json(filled_record("Ada")))
    personas.import_persona(project, f)
    yield project
    project.close()


@pytest.fixture
def new_editor(qtbot, tmp_path, errors):
    """The editor on a project made with a new persona, Ada, whose record holds only who she is."""
    project = new_project(tmp_path / "new.pstudio", "Ada")
    editor = PersonaEditor()
    qtbot.addWidget(editor)
    editor.resize(1400, 900)
    editor.set_project(project)
    editor.show()
    qtbot.waitExposed(editor)
    yield editor
    editor.set_project(None)
    project.close()


def type_into(qtbot, line: QLineEdit, text: str) -> None:
    """Replace a line edit's text by typing, then press Enter (editingFinished)."""
    line.window().activateWindow()
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def click(qtbot, editor: PersonaEditor, widget) -> None:
    """Scroll the form to a widget and click it (clicks land where the widget is on screen)."""
    editor.scroll.ensureWidgetVisible(widget, 50, 50)
    qtbot.wait(1)
    # A check box takes clicks on its box and text only, not the rest of its grid cell.
    pos = (
        QPoint(8, widget.height() // 2) if isinstance(widget, QCheckBox) else widget.rect().center()
    )
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def draft_of(project, name: str) -> dict | None:
    draft = personas.get_draft(project, personas.get_persona(project, name).id)
    return draft[1] if draft else None


def head_of(project, name: str):
    return personas.get_version(project, personas.get_persona(project, name).id)


# -- editing, undo and redo ----------------------------------------------------------------


def test_typing_in_a_field_changes_record_and_draft_and_undoes_in_one_step(qtbot, editor, project):
    line = editor.form.widget("face.nose")
    type_into(qtbot, line, "small upturned")

    assert editor.document.record["face"]["nose"] == "small upturned"
    assert draft_of(project, "Ada")["face"]["nose"] == "small upturned"
    # Every keystroke was one edit, but they merged into one undo step.
    assert editor.undo_stack.count() == 1
    assert editor.undo_stack.undoText() == "Change nose"
    assert "small upturned nose" in editor.positive_view.toPlainText()

    editor.undo_stack.undo()
    assert line.text() == ""
    assert editor.document.record["face"]["nose"] == ""
    assert draft_of(project, "Ada") is None  # back to the head: nothing unsaved

    editor.undo_stack.redo()
    assert line.text() == "small upturned"
    assert draft_of(project, "Ada")["face"]["nose"] == "small upturned"


def test_typing_again_after_leaving_a_field_is_a_new_undo_step(qtbot, editor):
    line = editor.form.widget("face.lips")
    type_into(qtbot, line, "full")
    type_into(qtbot, line, "thin")
    assert editor.undo_stack.count() == 2
    editor.undo_stack.undo()
    assert line.text() == "full"


def test_combo_change_is_one_command_and_undo_restores_the_widget(qtbot, editor, project):
    combo = editor.form.widget("face.eye_colour")
    combo.setFocus()
    combo.setCurrentIndex(combo.findData("brown"))
    qtbot.keyClick(combo, Qt.Key.Key_Down)  # next choice after brown: dark brown
    assert combo.currentData() == "dark brown"
    assert editor.document.record["face"]["eye_colour"] == "dark brown"
    assert draft_of(project, "Ada")["face"]["eye_colour"] == "dark brown"
    assert editor.undo_stack.undoText() == "Change eye colour"

    editor.undo_stack.undo()
    assert combo.currentData() == "brown"
    assert editor.document.record["face"]["eye_colour"] == "brown"
    editor.undo_stack.redo()
    assert combo.currentData() == "dark brown"


def test_number_fields_use_the_schema_range(qtbot, editor, project):
    lens = editor.form.widget("style.lens_mm")
    # One step below the schema's range reads "not set".
    assert (lens.minimum(), lens.maximum()) == (7, 800)
    assert lens.specialValueText() == "not set"
    lens.setValue(50)
    assert editor.document.record["style"]["lens_mm"] == 50

    seed = editor.form.widget("identity.seed_base")
    assert seed.maximum() == 4294967295
    seed.setValue(4294967295)  # beyond a 32-bit QSpinBox
    record = draft_of(project, "Ada")
    assert record["identity"]["seed_base"] == 4294967295
    assert isinstance(record["identity"]["seed_base"], int)

    tilt = editor.form.widget("posture.head_tilt_deg")
    tilt.setValue(-12.5)
    assert editor.document.record["posture"]["head_tilt_deg"] == -12.5


def test_colour_swatch_sets_the_hex_through_the_colour_dialog(qtbot, editor, project, monkeypatch):
    asked = []

    def fake_get_color(initial, parent=None, title=""):
        asked.append((initial.name(), title))
        return QColor("#A1B2C3")

    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(fake_get_color))
    swatch = editor.form.widget("face.hair.colour")
    click(qtbot, editor, swatch)

    assert asked == [("#3b2a20", "Choose the hair colour")]
    assert editor.document.record["face"]["hair"]["colour"] == "#a1b2c3"
    assert draft_of(project, "Ada")["face"]["hair"]["colour"] == "#a1b2c3"
    assert swatch.text() == "#a1b2c3"
    editor.undo_stack.undo()
    assert swatch.text() == "#3b2a20"


def test_cancelled_colour_dialog_changes_nothing(qtbot, editor, monkeypatch):
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor()))
    click(qtbot, editor, editor.form.widget("face.skin_tone.hex"))
    assert editor.undo_stack.count() == 0
    assert not editor.document.is_modified()


def test_add_and_remove_a_garment_with_undo(qtbot, editor, project, monkeypatch):
    garments = "wardrobe.outfits[0].garments"
    assert len(editor.document.value(garments)) == 2
    click(qtbot, editor, editor.form.widget(garments).add_button)

    assert len(editor.document.value(garments)) == 3
    assert editor.undo_stack.undoText() == "Add garment"
    # The new, empty garment is a problem until it is named; its field has focus.
    new_item = editor.form.widget(f"{garments}[2].item")
    assert new_item.property("invalid") is True
    type_into(qtbot, new_item, "scarf")
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor("#aa0000")))
    click(qtbot, editor, editor.form.widget(f"{garments}[2].colour"))
    assert draft_of(project, "Ada")["wardrobe"]["outfits"][0]["garments"][2] == {
        "item": "scarf",
        "colour": "#aa0000",
    }
    assert "dark red" in editor.positive_view.toPlainText() or "scarf" in (
        editor.positive_view.toPlainText()
    )

    # Remove the first garment (the t-shirt) with its row's remove button.
    remove = editor.form.widget(garments).rows[0].findChild(QToolButton, "removeItemButton")
    click(qtbot, editor, remove)
    items = [g["item"] for g in editor.document.value(garments)]
    assert items == ["jeans", "scarf"]
    assert editor.form.widget(f"{garments}[0].item").text() == "jeans"
    assert editor.undo_stack.undoText() == "Remove garment"

    editor.undo_stack.undo()
    assert [g["item"] for g in editor.document.value(garments)] == ["t-shirt", "jeans", "scarf"]
    assert editor.form.widget(f"{garments}[0].item").text() == "t-shirt"
    while editor.undo_stack.canUndo():
        editor.undo_stack.undo()
    assert len(editor.document.value(garments)) == 2
    assert editor.form.widget(f"{garments}[2].item") is None
    assert draft_of(project, "Ada") is None


def test_renaming_the_default_outfit_keeps_it_the_default(qtbot, editor):
    type_into(qtbot, editor.form.widget("wardrobe.outfits[0].name"), "daily")
    wardrobe = editor.document.record["wardrobe"]
    assert (wardrobe["outfits"][0]["name"], wardrobe["default_outfit"]) == ("daily", "daily")
    assert editor.form.widget("wardrobe.default_outfit").currentData() == "daily"
    assert editor.document.issues() == []
    editor.undo_stack.undo()
    assert editor.document.record["wardrobe"]["default_outfit"] == "everyday"


def test_wardrobe_rule_condition_is_shown_only_for_only_with(qtbot, editor):
    rules = editor.form.widget("wardrobe.rules")
    click(qtbot, editor, rules.add_button)
    kind = editor.form.widget("wardrobe.rules[0].kind")
    condition = editor.form.widget("wardrobe.rules[0].object")
    assert kind.currentData() == "always" and not condition.isVisibleTo(editor.form)

    type_into(qtbot, editor.form.widget("wardrobe.rules[0].subject"), "beanie")
    kind.setCurrentIndex(kind.findData("only-with"))
    assert condition.isVisibleTo(editor.form)
    assert condition.property("invalid") is True  # only-with needs its condition
    assert not editor.save_button.isEnabled()
    type_into(qtbot, condition, "jeans")
    assert editor.document.record["wardrobe"]["rules"] == [
        {"kind": "only-with", "subject": "beanie", "object": "jeans"}
    ]
    assert editor.save_button.isEnabled()
    assert "beanie" in editor.positive_view.toPlainText()

    kind.setCurrentIndex(kind.findData("never"))
    assert not condition.isVisibleTo(editor.form)
    assert editor.document.record["wardrobe"]["rules"] == [{"kind": "never", "subject": "beanie"}]
    assert "beanie" in editor.negative_view.toPlainText()


def test_allowed_setups_are_checkable(qtbot, editor):
    frame = editor.form.widget("lighting.allowed_setups")
    boxes = {b.text(): b for b in frame.findChildren(QCheckBox)}
    assert {n for n, b in boxes.items() if b.isChecked()} == {"loop", "window light"}
    click(qtbot, editor, boxes["rim"])
    assert editor.document.record["lighting"]["allowed_setups"] == ["loop", "window light", "rim"]
    click(qtbot, editor, boxes["loop"])
    click(qtbot, editor, boxes["window light"])
    click(qtbot, editor, boxes["rim"])
    assert "allowed_setups" not in editor.document.record["lighting"]  # none ticked: not set
    assert not frame.property("invalid") and editor.document.issues() == []
    assert editor.undo_stack.undoText() == "Clear allowed setups"
    editor.undo_stack.undo()
    assert editor.document.record["lighting"]["allowed_setups"] == ["rim"]
    assert boxes["rim"].isChecked() and not boxes["loop"].isChecked()


def test_clearing_the_aperture_removes_the_optional_field(qtbot, editor):
    line = editor.form.widget("style.aperture")
    line.setFocus()
    line.selectAll()
    qtbot.keyClick(line, Qt.Key.Key_Delete)
    assert "aperture" not in editor.document.record["style"]
    assert editor.document.issues() == []
    editor.undo_stack.undo()
    assert editor.document.record["style"]["aperture"] == "f/2.8"


# -- validation ----------------------------------------------------------------------------


def test_invalid_value_marks_the_widget_and_disables_save(qtbot, editor):
    token = editor.form.widget("identity.trigger_token")
    type_into(qtbot, editor.form.widget("face.nose"), "straight")
    assert editor.save_button.isEnabled()

    type_into(qtbot, token, "X Y")
    assert token.property("invalid") is True
    assert "is not a trigger token" in token.toolTip()
    assert editor.problem_label.text() == "1 problem"
    assert not editor.save_button.isEnabled()
    assert editor.form.invalid_widgets() == [token]
    assert "Fix the 1 problem" in editor.positive_view.toPlainText()

    type_into(qtbot, token, "ohwx_ada_2")
    assert token.property("invalid") is False
    assert "trigger token" not in token.toolTip()
    assert editor.problem_label.text() == ""
    assert editor.save_button.isEnabled()


def test_age_range_problem_is_marked_on_the_lower_bound(qtbot, editor):
    editor.form.widget("face.apparent_age.min").setValue(50)
    assert editor.form.widget("face.apparent_age.min").property("invalid") is True
    assert not editor.save_button.isEnabled()


def test_save_is_disabled_while_unchanged(editor):
    assert not editor.document.is_modified()
    assert not editor.save_button.isEnabled()


# -- versions ------------------------------------------------------------------------------


def test_save_version_adds_a_version_on_the_head_and_lists_it(qtbot, editor, project):
    old_head = head_of(project, "Ada")
    type_into(qtbot, editor.form.widget("face.nose"), "aquiline")
    combo = editor.form.widget("face.eye_colour")
    combo.setCurrentIndex(combo.findData("amber"))
    assert editor.suggested_note() == "Change nose; Change eye colour"
    assert not editor.undo_stack.isClean()

    with qtbot.waitSignal(editor.document.version_saved) as saved:
        number = editor.save_version("Sharper nose, amber eyes")

    assert number == 2 and saved.args == [2]
    head = head_of(project, "Ada")
    assert (head.number, head.parent_id, head.note) == (2, old_head.id, "Sharper nose, amber eyes")
    assert head.record["face"]["nose"] == "aquiline"
    assert head.record["face"]["eye_colour"] == "amber"
    assert draft_of(project, "Ada") is None
    assert editor.undo_stack.isClean()
    assert not editor.save_button.isEnabled()
    rows = [
        editor.history_tree.topLevelItem(i) for i in range(editor.history_tree.topLevelItemCount())
    ]
    assert [r.text(0) for r in rows] == ["v2  (head)", "v1"]
    assert rows[0].text(2) == "Sharper nose, amber eyes"
    assert rows[0].font(0).bold()
    assert "version 2" in editor.state_label.text()


def test_save_shortcut_asks_for_a_note(qtbot, editor, project, monkeypatch):
    from studio.ui import persona_editor

    asked = []

    def fake_get_text(parent, title, label, echo, text):
        asked.append(text)
        return "Blue eyes", True

    monkeypatch.setattr(persona_editor.QInputDialog, "getText", staticmethod(fake_get_text))
    combo = editor.form.widget("face.eye_colour")
    combo.setCurrentIndex(combo.findData("blue"))
    editor.form.widget("face.nose").setFocus()
    qtbot.keyClick(
        editor.form.widget("face.nose"), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier
    )
    assert asked == ["Change eye colour"]
    assert head_of(project, "Ada").note == "Blue eyes"


def test_unchanged_save_is_refused_with_a_message(editor, errors):
    assert editor.save_version("again") is None
    assert len(errors) == 1 and "Nothing changed" in errors[0].message


def test_compare_two_versions_lists_changed_fields(demo_editor):
    ed = demo_editor
    assert ed.compare_a.currentData() == 1 and ed.compare_b.currentData() == 2
    rows = {}
    for i in range(ed.compare_tree.topLevelItemCount()):
        item = ed.compare_tree.topLevelItem(i)
        rows[item.data(0, Qt.ItemDataRole.UserRole)] = item
    length = rows["face.hair.length"]
    assert (length.text(0), length.text(1), length.text(2)) == ("Hair length", "shoulder", "chin")
    assert length.background(1).color() == DIFF_TINTS["changed"]
    assert rows["lighting.allowed_setups[2]"].data(0, Qt.ItemDataRole.UserRole + 1) == "added"
    assert rows["lighting.allowed_setups[2]"].text(2) == "high-key"
    assert ed.compare_tree.headerItem().text(1) == "v1"
    assert ed.compare_summary.text().endswith("differ from v1 to v2.")

    ed.compare_versions(2, 1)  # the other way round: additions become removals
    item = next(
        ed.compare_tree.topLevelItem(i)
        for i in range(ed.compare_tree.topLevelItemCount())
        if ed.compare_tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
        == "lighting.allowed_setups[2]"
    )
    assert item.data(0, Qt.ItemDataRole.UserRole + 1) == "removed"
    assert item.background(0).color() == DIFF_TINTS["removed"]


def test_double_clicking_history_compares_with_the_head(qtbot, demo_editor):
    ed = demo_editor
    ed.compare_versions(2, 2)
    assert ed.compare_tree.topLevelItemCount() == 0
    ed.tabs.setCurrentIndex(0)
    v1 = ed.history_tree.topLevelItem(1)
    rect = ed.history_tree.visualItemRect(v1)
    qtbot.mouseClick(ed.history_tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(ed.history_tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert ed.tabs.currentIndex() == 1
    assert (ed.compare_a.currentData(), ed.compare_b.currentData()) == (1, 2)
    assert ed.compare_tree.topLevelItemCount() > 5


def test_revert_to_an_older_version_is_one_undo_step(demo_editor, demo_project):
    ed = demo_editor
    assert ed.revert_to_version(1)
    assert ed.document.record == personas.get_version(demo_project, "Nova Hale", 1).record
    assert ed.form.widget("face.hair.length").currentData() == "shoulder"
    assert draft_of(demo_project, "Nova Hale") == ed.document.record
    assert ed.undo_stack.count() == 1 and ed.undo_stack.undoText() == "Revert to version 1"
    assert ed.save_button.isEnabled()
    ed.undo_stack.undo()
    assert ed.form.widget("face.hair.length").currentData() == "chin"
    assert draft_of(demo_project, "Nova Hale") is None


# -- the cast and the draft ----------------------------------------------------------------


def test_add_persona_opens_it_with_a_fresh_undo_stack(qtbot, editor, project):
    type_into(qtbot, editor.form.widget("face.nose"), "long")
    assert editor.add_persona("Bea") is not None
    assert editor.document.persona.name == "Bea"
    assert editor.undo_stack.count() == 0
    assert [editor.cast_list.item(i).text() for i in range(editor.cast_list.count())] == [
        "Ada",
        "Bea",
    ]
    assert editor.cast_list.currentItem().text() == "Bea"
    assert editor.form.widget("identity.name").text() == "Bea"
    # Ada's edit stays in her draft and shows as unsaved in the cast.
    assert draft_of(project, "Ada")["face"]["nose"] == "long"
    assert editor.cast_list.item(0).font().italic()

    editor.cast_list.setCurrentRow(0)
    assert editor.document.persona.name == "Ada"
    assert editor.form.widget("face.nose").text() == "long"


def test_add_persona_with_a_taken_name_shows_the_error(editor, errors):
    assert editor.add_persona("ada") is None
    assert "already exists" in errors[0].message
    assert editor.document.persona.name == "Ada"


def test_reopening_restores_the_unsaved_draft(qtbot, tmp_path, errors):
    from studio.services.projects import new_project

    path = tmp_path / "reopen.pstudio"
    project = new_project(path, "Cleo")
    first = PersonaEditor()
    qtbot.addWidget(first)
    first.set_project(project)
    type_into(qtbot, first.form.widget("face.hair.style"), "tight curls")
    first.set_project(None)
    project.close()  # as if the app quit (or crashed) without saving a version

    project = open_project(path)
    try:
        second = PersonaEditor()
        qtbot.addWidget(second)
        with qtbot.waitSignal(second.status_message) as message:
            second.set_project(project)
        assert message.args == ["Unsaved changes from your last session were restored"]
        assert second.form.widget("face.hair.style").text() == "tight curls"
        assert second.document.draft_was_restored
        assert not second.banner.isHidden()
        assert second.save_button.isEnabled()
        assert second.save_version("Curls") == 2
        assert (
            personas.get_version(project, "Cleo").record["face"]["hair"]["style"] == "tight curls"
        )
        second.set_project(None)
    finally:
        project.close()


def test_read_only_project_cannot_be_edited(qtbot, demo_path, errors):
    project = open_project(demo_path, read_only=True)
    try:
        ed = PersonaEditor()
        qtbot.addWidget(ed)
        ed.set_project(project)
        assert not ed.form.isEnabled()
        assert not ed.save_button.isEnabled()
        assert not ed.add_persona_button.isEnabled()
        assert "read-only" in ed.banner_label.text()
        assert ed.compare_tree.topLevelItemCount() > 0  # looking and comparing still work
        ed.set_project(None)
    finally:
        project.close()


def test_no_project_shows_an_empty_workspace(qtbot, errors):
    ed = PersonaEditor()
    qtbot.addWidget(ed)
    ed.set_project(None)
    assert ed.pages.currentIndex() == 0
    assert not ed.save_button.isEnabled()
    assert ed.cast_list.count() == 0 and ed.history_tree.topLevelItemCount() == 0


# -- the form covers the record ------------------------------------------------------------


def _leaf_paths(value, path=""):
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _leaf_paths(sub, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and path != "lighting.allowed_setups":  # one checkable grid
        for i, sub in enumerate(value):
            yield from _leaf_paths(sub, f"{path}[{i}]")
    else:
        yield path


def test_every_field_of_the_record_has_a_widget_showing_its_value(demo_editor):
    record = demo_editor.document.record
    form = demo_editor.form
    leaves = [p for p in _leaf_paths(record) if p != "schema_version"]
    assert len(leaves) > 60
    assert [p for p in leaves if form.widget(p) is None] == []
    assert form.widget("wardrobe.outfits[1].garments[0].item").text() == "bomber jacket"
    assert form.widget("wardrobe.outfits[1].garments[0].colour").text() == "#2f3b52"
    assert form.widget("wardrobe.outfits[1].accessories[0]").text() == "aviator sunglasses"
    assert form.widget("negative_traits[5]").text() == "blurry"
    assert form.widget("posture.expression_range[2]").text() == "quiet amusement"
    assert form.widget("wardrobe.rules[2].object").text() == "neck ring"
    assert form.widget("face.distinguishing_marks[1].kind").currentData() == "freckles"
    assert form.widget("identity.description").toPlainText().startswith("Mission commander")
    assert form.widget("lighting.contrast_ratio").value() == 2.5
    assert form.widget("style.aperture").text() == get_path(record, "style.aperture")


def test_a_refused_edit_shows_the_error_and_puts_the_widget_back(
    qtbot, editor, errors, monkeypatch
):
    from studio.core.errors import StudioError

    def refuse(*args, **kwargs):
        raise StudioError("The project is read-only.", hint="Open it for writing.")

    monkeypatch.setattr(personas, "set_field", refuse)
    combo = editor.form.widget("face.jaw")
    combo.setCurrentIndex(combo.findData("angular"))
    assert [e.message for e in errors] == ["The project is read-only."]
    assert editor.document.record["face"]["jaw"] == "soft"
    assert combo.currentData() == "soft"
    assert editor.undo_stack.count() == 0


def test_prompt_preview_follows_action_outfit_and_edits(qtbot, demo_editor):
    ed = demo_editor
    assert "coral nomex flight suit" in ed.positive_view.toPlainText()
    ed.outfit_combo.setCurrentIndex(ed.outfit_combo.findData("off duty"))
    qtbot.keyClicks(ed.action_edit, "reading a map")
    text = ed.positive_view.toPlainText()
    assert "bomber jacket" in text and "flight suit" not in text
    assert "reading a map" in text
    assert "jewellery" in ed.negative_view.toPlainText()
    type_into(qtbot, ed.form.widget("wardrobe.outfits[1].name"), "weekend")
    assert ed.outfit_combo.currentData() is None  # its outfit is gone: back to the default
    assert [ed.outfit_combo.itemData(i) for i in range(ed.outfit_combo.count())] == [
        None,
        "flight suit",
        "weekend",
    ]


def wait_for_clip_counts(qtbot, editor: PersonaEditor) -> None:
    """Wait until the preview counts with the CLIP tokenizer rather than an estimate."""
    qtbot.waitUntil(
        lambda: editor.prompt is not None and not editor.prompt.estimated, timeout=60000
    )


def test_prompt_preview_counts_clip_tokens_and_lists_what_the_budget_left_out(qtbot, demo_editor):
    ed = demo_editor
    wait_for_clip_counts(qtbot, ed)
    positive, negative = ed.positive_view.toPlainText(), ed.negative_view.toPlainText()
    assert ed.tokens_label.text() == f"{job_tokens.count_tokens(positive)} / 150 tokens"
    assert ed.negative_tokens_label.text() == f"{job_tokens.count_tokens(negative)} tokens"
    assert "75 tokens" in ed.tokens_label.toolTip()
    # Nova's record runs past two windows: the style, which ranks last, is left out first.
    assert ed.dropped_label.isVisible()
    assert ed.dropped_label.text().startswith(
        "Left out to fit 150 tokens: fine grain; shot on medium format; f/4; 85mm lens"
    )
    assert positive.startswith("ohwx_nova, portrait of Nova Hale") and "fine grain" not in positive

    qtbot.keyClicks(ed.action_edit, "pouring coffee at a galley window while the ship turns")
    positive = ed.positive_view.toPlainText()
    # The action outranks lighting, so lighting phrases make room for it.
    assert "pouring coffee at a galley window while the ship turns" in positive
    assert ed.dropped_label.text().endswith("; soft contrast; daylight 4800K light")
    assert "4800K" not in positive
    assert job_tokens.count_tokens(positive) == ed.prompt.tokens <= 150
    ed.action_edit.clear()
    assert "daylight 4800K light" in ed.positive_view.toPlainText()


def test_counts_are_estimates_until_the_tokenizer_has_loaded(qtbot, demo_project, monkeypatch):
    loads: list = []
    monkeypatch.setattr(job_tokens, "tokenizer_loaded", lambda: False)
    monkeypatch.setattr(job_tokens, "load_in_background", loads.append)
    ed = PersonaEditor()
    qtbot.addWidget(ed)
    ed.set_project(demo_project)
    assert len(loads) == 1  # asked once, on a thread: typing never waits for it
    qtbot.keyClicks(ed.action_edit, "waving")
    assert len(loads) == 1 and ed.prompt.estimated
    assert ed.tokens_label.text().startswith("≈ ") and ed.tokens_label.text().endswith(
        " / 150 tokens"
    )
    assert "Estimated while the CLIP tokenizer loads" in ed.tokens_label.toolTip()
    threading.Thread(target=loads[0], args=(None,)).start()  # the loader's thread reports
    qtbot.waitUntil(lambda: not ed.prompt.estimated)
    positive = ed.positive_view.toPlainText()
    assert ed.tokens_label.text() == f"{job_tokens.count_tokens(positive)} / 150 tokens"

    other = PersonaEditor()
    qtbot.addWidget(other)
    other.set_project(demo_project)
    threading.Thread(target=loads[1], args=(ModuleNotFoundError("no transformers"),)).start()
    qtbot.waitUntil(lambda: "could not be loaded" in other.tokens_label.toolTip())
    assert other.prompt.estimated and other.tokens_label.text().startswith("≈ ")
    assert "(no transformers)" in other.tokens_label.toolTip()
    for editor in (ed, other):
        editor.set_project(None)


def test_the_preview_uses_one_lighting_setup_of_the_allowed_ones(qtbot, editor):
    ed = editor
    combo = ed.lighting_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "First (loop)",
        "loop",
        "window light",
    ]
    text = ed.positive_view.toPlainText()
    assert "loop lighting" in text and "window light" not in text
    combo.setCurrentIndex(combo.findData("window light"))
    text = ed.positive_view.toPlainText()
    assert "window light" in text and "loop lighting" not in text
    # The chosen setup is no longer allowed: the shot goes back to the first allowed one.
    boxes = {b.text(): b for b in ed.form.widget("lighting.allowed_setups").findChildren(QCheckBox)}
    click(qtbot, ed, boxes["window light"])
    assert combo.currentData() is None and combo.currentText() == "First (loop)"
    assert "loop lighting" in ed.positive_view.toPlainText()


def test_a_trait_that_contradicts_the_face_is_marked_on_both_fields_and_blocks_saving(
    qtbot, editor
):
    trait = editor.form.widget("negative_traits[0]")
    eyes = editor.form.widget("face.eye_colour")
    type_into(qtbot, trait, "brown eyes")
    assert editor.document.record["negative_traits"][0] == "brown eyes"
    assert trait.property("invalid") is True and eyes.property("invalid") is True
    assert set(editor.form.invalid_widgets()) == {trait, eyes}
    message = "Never show 'brown eyes' contradicts the eye colour 'brown'"
    assert message in trait.toolTip() and message in eyes.toolTip()
    assert editor.problem_label.text() == "2 problems"
    assert message in editor.problem_label.toolTip()
    assert not editor.save_button.isEnabled()
    assert editor.positive_view.toPlainText() == (
        "Fix the 2 problems in the form to see the prompt:\n"
        f"• Eye colour and Never show 1: {message}: the prompt would ask for it and against "
        "it; remove one of them"
    )

    eyes.setCurrentIndex(eyes.findData("green"))  # either fix clears both marks
    assert trait.property("invalid") is False and eyes.property("invalid") is False
    assert editor.problem_label.text() == "" and editor.save_button.isEnabled()
    assert "green eyes" in editor.positive_view.toPlainText()
    assert "brown eyes" in editor.negative_view.toPlainText()


# -- a new persona: unset fields show empty, and can be set and cleared --------------------


def clear_button(editor: PersonaEditor, path: str) -> QToolButton:
    return editor.form.clear_button(path)


def test_a_new_persona_shows_its_unset_fields_empty_with_a_hint(new_editor):
    ed, form = new_editor, new_editor.form
    assert "Empty fields are not set" in form.unset_hint.text()
    for path in ("face.eye_colour", "face.hair.length", "lighting.key_direction", "style.medium"):
        assert form.widget(path).currentIndex() == 0, path
        assert form.widget(path).currentText() == "(not set)", path
    for path in ("face.nose", "face.hair.colour_name", "lighting.mood", "style.aperture"):
        assert form.widget(path).text() == "", path
        assert form.widget(path).placeholderText().startswith("not set — "), path
    for path in ("face.hair.colour", "face.skin_tone.hex"):
        assert form.widget(path).text() == "not set", path
        assert not clear_button(ed, path).isVisible(), path
    for path in ("lighting.colour_temperature_k", "face.apparent_age.min", "style.lens_mm"):
        spin = form.widget(path)
        assert spin.value() == spin.minimum() and spin.text() == "not set", path
    setups = form.widget("lighting.allowed_setups").findChildren(QCheckBox)
    assert setups and not any(b.isChecked() for b in setups)
    assert form.widget("wardrobe.outfits").rows == []
    assert form.widget("wardrobe.default_outfit").currentText() == "(not set)"
    assert ed.outfit_combo.itemText(0) == "No outfit"
    assert ed.positive_view.toPlainText() == "ohwx_ada, portrait of Ada"
    assert ed.negative_view.toPlainText() == ""
    assert ed.problem_label.text() == "" and not ed.document.is_modified()


def test_an_unset_choice_is_set_and_cleared_with_undo(new_editor):
    ed = new_editor
    head = ed.document.base.record
    combo = ed.form.widget("face.eye_colour")
    combo.setCurrentIndex(combo.findData("green"))
    assert ed.document.record["face"] == {"eye_colour": "green"}
    assert ed.undo_stack.undoText() == "Change eye colour"
    assert "green eyes" in ed.positive_view.toPlainText()

    combo.setCurrentIndex(0)  # (not set)
    assert ed.document.record == head  # the face it made goes with it
    assert ed.undo_stack.undoText() == "Clear eye colour"
    assert "eyes" not in ed.positive_view.toPlainText()
    assert not ed.document.is_modified()

    ed.undo_stack.undo()
    assert combo.currentData() == "green" and ed.document.record["face"]["eye_colour"] == "green"
    ed.undo_stack.undo()
    assert combo.currentIndex() == 0 and ed.document.record == head


def test_an_unset_colour_is_set_and_cleared_with_undo(qtbot, new_editor, monkeypatch):
    ed = new_editor
    asked = []

    def fake_get_color(initial, parent=None, title=""):
        asked.append(initial.name())
        return QColor("#b5562c")

    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(fake_get_color))
    swatch = ed.form.widget("face.hair.colour")
    click(qtbot, ed, swatch)
    assert asked == ["#808080"]  # where the dialog starts; nothing is written until chosen
    assert ed.document.record["face"] == {"hair": {"colour": "#b5562c"}}
    assert swatch.text() == "#b5562c" and clear_button(ed, "face.hair.colour").isVisible()
    assert "copper red hair" in ed.positive_view.toPlainText()

    click(qtbot, ed, clear_button(ed, "face.hair.colour"))
    assert "face" not in ed.document.record
    assert swatch.text() == "not set" and not clear_button(ed, "face.hair.colour").isVisible()
    assert ed.undo_stack.undoText() == "Clear hair colour"
    ed.undo_stack.undo()
    assert swatch.text() == "#b5562c"
    assert ed.document.record["face"]["hair"]["colour"] == "#b5562c"


def test_an_unset_number_is_set_and_cleared_with_undo(qtbot, new_editor):
    ed = new_editor
    spin = ed.form.widget("lighting.colour_temperature_k")
    ed.scroll.ensureWidgetVisible(spin)
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_Up)  # up from "not set" lands on a usual value
    assert spin.text() == "5600 K"
    assert ed.document.record["lighting"] == {"colour_temperature_k": 5600}
    assert "daylight 5600K light" in ed.positive_view.toPlainText()
    qtbot.keyClick(spin, Qt.Key.Key_Down)
    assert ed.document.record["lighting"] == {"colour_temperature_k": 5500}
    assert ed.undo_stack.count() == 1  # steps in one go are one edit

    click(qtbot, ed, clear_button(ed, "lighting.colour_temperature_k"))
    assert "lighting" not in ed.document.record and spin.text() == "not set"
    assert "K light" not in ed.positive_view.toPlainText()
    ed.undo_stack.undo()
    assert spin.value() == 5500 and ed.document.record["lighting"]["colour_temperature_k"] == 5500


def test_an_unset_text_is_set_and_cleared_with_undo(qtbot, new_editor):
    ed = new_editor
    line = ed.form.widget("face.nose")
    type_into(qtbot, line, "aquiline")
    assert ed.document.record["face"] == {"nose": "aquiline"}
    line.setFocus()
    line.selectAll()
    qtbot.keyClick(line, Qt.Key.Key_Delete)
    assert "face" not in ed.document.record  # an emptied field is unset, not ""
    assert not ed.document.is_modified()
    ed.undo_stack.undo()
    assert line.text() == "aquiline"


def test_a_new_outfit_names_nothing_nobody_chose(qtbot, new_editor):
    ed = new_editor
    click(qtbot, ed, ed.form.widget("wardrobe.outfits").add_button)
    assert ed.document.record["wardrobe"] == {
        "outfits": [{"name": "outfit 1", "garments": [{"item": ""}]}]
    }
    assert ed.form.widget("wardrobe.outfits[0].garments[0].colour").text() == "not set"
    assert ed.form.widget("wardrobe.default_outfit").currentText() == "(not set)"
    ed.undo_stack.undo()
    assert "wardrobe" not in ed.document.record


def test_saving_says_which_drift_scores_it_made_stale(qtbot, demo_project):
    """A new outfit colour leaves the wardrobe scores out of date, and the save says so."""
    editor = PersonaEditor()
    qtbot.addWidget(editor)
    editor.set_project(demo_project)
    messages: list[str] = []
    editor.status_message.connect(messages.append)
    assert editor.document.apply_field("face.eye_colour", "green")
    editor.save_version("green eyes")
    assert messages[-1] == "Saved version 3 of Nova Hale."  # every score is kept
    assert editor.document.apply_field("wardrobe.outfits[1].garments[0].colour", "#6b1f2a")
    editor.save_version("a burgundy bomber")
    assert messages[-1].startswith("Saved version 4 of Nova Hale. The wardrobe scores of ")
    assert "Analyse in the Drift workspace" in messages[-1]
    editor.set_project(None)
