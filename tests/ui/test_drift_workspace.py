"""The Drift workspace driven through its widgets, on the demo's analysed shots."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QHelpEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QToolTip

from studio.services import drift
from studio.services.demo import write_demo_footage
from studio.ui.footage_import import FootageImportDialog
from studio.ui.frame_inspector import IDENTITY
from tests.ui.conftest import drop_files, open_demo_window, wait_idle


@pytest.fixture
def window(qtbot, tmp_path, demo_path, errors):
    w = open_demo_window(qtbot, tmp_path, demo_path, "drift")
    yield w
    w.close_project()


@pytest.fixture
def ws(window):
    return window.drift_workspace


def _row(ws, name: str) -> int:
    return next(i for i, r in enumerate(ws.rows) if r.shot.name == name)


def _flag_counts(ws) -> dict[str, int]:
    return {r.shot.name: int(f.sum()) for r, f in zip(ws.rows, ws._flags(), strict=True)}


def _heat_flags(ws) -> dict[str, int]:
    return {
        r.name: int(f.sum()) for r, f in zip(ws.heatmap.rows(), ws.heatmap._flagged, strict=True)
    }


def _click(qtbot, ws, row: int, frame: int, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(
        ws.heatmap, Qt.MouseButton.LeftButton, modifier, ws.heatmap.frame_rect(row, frame).center()
    )


def _drag(qtbot, ws, row: int, first: int, last: int):
    heat = ws.heatmap
    qtbot.mousePress(heat, Qt.MouseButton.LeftButton, pos=heat.frame_rect(row, first).center())
    end = QPointF(heat.frame_rect(row, last).center())
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        end,
        heat.mapToGlobal(end),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(heat, move)
    qtbot.mouseRelease(heat, Qt.MouseButton.LeftButton, pos=end.toPoint())


def test_opens_on_the_demo_with_real_flags_and_the_worst_frame_inspected(ws):
    assert [r.shot.name for r in ws.rows] == [
        "Hangar walk",
        "Set visit",
        "Costume test",
        "Golden hour",
        "Cutaways",
    ]
    flags = _flag_counts(ws)
    assert flags["Hangar walk"] == 0 and flags["Set visit"] == 5
    assert flags["Costume test"] == 7 and flags["Golden hour"] == 8
    assert _heat_flags(ws) == flags  # what is drawn is what is counted
    assert "80 frames: 80 analysed, 20 flagged, 4 not measurable" in ws.summary_label.text()
    visit = _row(ws, "Set visit")
    assert ws.heatmap.worst_text(visit).startswith("worst 0.8")
    # Opened on the problem: the stranger, inspected, and the trend marks it.
    row, frame = ws._current
    assert ws.rows[row].shot.name == "Set visit"
    assert ws.inspector.state_text() == "flagged"
    assert "does not match Nova Hale" in ws.inspector.why_text()
    assert ws.trend.total() == 80
    assert ws.slider_value() == pytest.approx(ws.rows[0].thresholds.identity)


def test_hover_gives_timecode_scores_and_the_reason(qtbot, ws):
    visit = _row(ws, "Set visit")
    frame = int(np.flatnonzero(ws._flags()[visit])[0])
    pos = ws.heatmap.frame_rect(visit, frame).center()
    with qtbot.waitSignal(ws.heatmap.frame_hovered) as hovered:
        qtbot.mouseMove(ws.heatmap, pos)
    assert hovered.args == [visit, frame]
    QApplication.sendEvent(
        ws.heatmap, QHelpEvent(QEvent.Type.ToolTip, pos, ws.heatmap.mapToGlobal(pos))
    )
    tip = QToolTip.text()
    QToolTip.hideText()
    assert "Set visit" in tip and f"frame {frame + 1}" in tip and "00:00:00:" in tip
    assert "Identity: 0.8" in tip and "does not match Nova Hale" in tip


def test_click_a_frame_opens_it_in_the_inspector(qtbot, ws):
    costume = _row(ws, "Costume test")
    frame = int(np.flatnonzero(ws._flags()[costume])[0])
    _click(qtbot, ws, costume, frame)
    assert ws._current == (costume, frame)
    assert ws.inspector.state_text() == "flagged"
    rows = {name: (value, verdict) for name, value, verdict in ws.inspector.score_rows()}
    wardrobe = next(k for k in rows if k.lower().startswith("wardrobe"))
    assert "✗" in rows[wardrobe][1]
    assert rows[IDENTITY][1] == "✓"
    cut = _row(ws, "Cutaways")
    _click(qtbot, ws, cut, 0)
    assert ws.inspector.state_text() == "not measurable"
    assert "no face" in ws.inspector.why_text()


def test_threshold_slider_reflags_live_saves_on_release_and_undoes(qtbot, ws, window):
    visit = _row(ws, "Set visit")
    stack = ws.undo_stack
    ws.dimension_boxes["lighting"].click()  # the stranger's grey light is flagged too
    assert _flag_counts(ws)["Set visit"] == 5 and _flag_counts(ws)["Golden hour"] == 0
    depth = stack.count()
    ws.slider.setSliderDown(True)
    ws.slider.setValue(ws.slider.value() - 14)  # 0.93 -> 0.79: the stranger's 0.82 passes
    assert ws.slider_value() == pytest.approx(0.79)
    assert _flag_counts(ws)["Set visit"] == 0 and _heat_flags(ws)["Set visit"] == 0
    assert ws.threshold_value.text() == "0.79"
    assert stack.count() == depth  # not saved while the slider is held
    pid = ws.rows[visit].persona_id
    assert drift.thresholds(window.project, pid).identity == pytest.approx(0.93)
    ws.slider.setSliderDown(False)
    ws.slider.sliderReleased.emit()
    assert stack.count() == depth + 1
    assert drift.thresholds(window.project, pid).identity == pytest.approx(0.79)
    assert drift.drift_rows(window.project)[visit].flags().sum() == 0

    window.undo_group.undo()
    assert drift.thresholds(window.project, pid).identity == pytest.approx(0.93)
    assert _heat_flags(ws)["Set visit"] == 5 and ws.slider_value() == pytest.approx(0.93)
    window.undo_group.redo()
    assert _heat_flags(ws)["Set visit"] == 0

    # Keys move the slider too; the value is saved once it keeps still.
    ws.slider.setFocus()
    qtbot.keyClick(ws.slider, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: stack.count() == depth + 2, timeout=3000)
    assert drift.thresholds(window.project, pid).identity == pytest.approx(0.80)


def test_layers_switch_the_slider_and_checks_can_be_switched_off(qtbot, ws, window):
    ws.layer_buttons["wardrobe"].click()
    assert ws.heatmap.layer() == "wardrobe"
    assert ws.threshold_label.text() == "Wardrobe threshold"
    wardrobe = drift.thresholds(window.project, ws.rows[0].persona_id).wardrobe
    assert ws.threshold_value.text() == f"ΔE {wardrobe:.1f}"
    ws.layer_buttons["combined"].click()
    assert ws.heatmap.layer() == "combined" and ws.threshold_label.text() == "Identity threshold"
    assert _heat_flags(ws)["Golden hour"] == 8
    ws.dimension_boxes["lighting"].click()  # stop checking the light
    assert _heat_flags(ws)["Golden hour"] == 0
    pid = ws.rows[0].persona_id
    assert drift.thresholds(window.project, pid).enabled == ("identity", "wardrobe")
    window.undo_group.undo()
    assert _heat_flags(ws)["Golden hour"] == 8 and ws.dimension_boxes["lighting"].isChecked()


def test_flag_a_range_for_reshoot_note_it_and_undo(qtbot, ws, window):
    visit = _row(ws, "Set visit")
    flagged = [int(i) for i in np.flatnonzero(ws._flags()[visit])]
    _drag(qtbot, ws, visit, flagged[0], flagged[-1])
    assert ws.heatmap.selection() == (visit, flagged[0], flagged[-1])
    assert "5 frames" in ws.selection_label.text()
    ws.heatmap.setFocus()
    qtbot.keyClick(ws.heatmap, Qt.Key.Key_R)
    items = drift.reshoot_list(window.project)
    assert [it.frame.index for it in items] == flagged
    assert ws.reshoot_list.count() == 5 and ws.side.tabText(1) == "Reshoot list (5)"
    assert list(ws.heatmap._review[visit][flagged]) == [1] * 5

    ws.note_edit.setText("the camera operator walked into frame")
    ws.note_button.click()
    assert drift.reshoot_list(window.project)[0].note == "the camera operator walked into frame"
    assert "Note: the camera operator" in ws.reshoot_list.item(0).text()

    _click(qtbot, ws, visit, 0)
    ws.approve_button.click()
    assert drift.drift_rows(window.project)[visit].reviews[ws.rows[visit].frames[0].id].state == (
        "approved"
    )
    for _ in range(3):
        window.undo_group.undo()
    assert drift.reshoot_list(window.project) == []
    assert not ws.heatmap._review[visit].any() and ws.reshoot_list.count() == 0


def test_flag_every_drifted_frame_and_jump_from_the_list(qtbot, ws, window):
    ws.side.setCurrentIndex(1)
    ws.flag_all_button.click()
    assert ws.reshoot_list.count() == 20
    item = ws.reshoot_list.item(7)
    ws.reshoot_list.itemClicked.emit(item)
    row, frame = item.data(Qt.ItemDataRole.UserRole)
    assert ws.heatmap.selection() == (row, frame, frame) and ws._current == (row, frame)
    window.undo_group.undo()
    assert ws.reshoot_list.count() == 0


def test_drop_a_clip_imports_and_analyses_it(qtbot, ws, window, tmp_path, errors):
    folder = write_demo_footage(tmp_path / "frames", frames=6)[1]  # Set visit: with the stranger
    clip = tmp_path / "my clip.gif"
    pictures = [Image.open(p).convert("RGB") for p in sorted(folder.iterdir())]
    pictures[0].save(clip, save_all=True, append_images=pictures[1:], duration=80, loop=0)
    assert drop_files(ws, [clip])
    dialog = ws.findChild(FootageImportDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.persona_names() == ["Nova Hale"]  # the persona the workspace shows
    dialog.every.setValue(1)
    dialog.accept()
    qtbot.waitUntil(lambda: any(r.shot.name == "my clip" for r in ws.rows), timeout=60000)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: not ws._analysis_jobs, timeout=120000)
    row = ws.rows[_row(ws, "my clip")]
    assert len(row.frames) == 6 and all(s is not None for s in row.scores)
    # The fast pass finds no face where the camera operator looks into his camera: those
    # frames are not measurable, never passed, and "Look harder" searches them again.
    blind = [i for i, s in enumerate(row.scores) if s.faces == 0]
    assert blind and not row.flags().any()
    assert all(row.scores[i].state == "unmeasurable" for i in blind)
    assert ws.harder_button.isEnabled()
    ws.harder_button.click()
    qtbot.waitUntil(lambda: not ws._analysis_jobs, timeout=120000)
    row = ws.rows[_row(ws, "my clip")]
    assert all(row.flags()[i] for i in blind)  # found: a stranger, flagged
    assert "does not match Nova Hale" in drift.verdict(row, blind[0]).why
    assert ws.heatmap.rows()[-1].name == "my clip"
    assert "6 of 6" not in ws.summary_label.text() and "86 frames: 86 analysed" in (
        ws.summary_label.text()
    )
    assert errors == []


def test_a_file_that_is_not_footage_is_reported_and_the_rest_imported(
    qtbot, ws, window, tmp_path, errors
):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    good = write_demo_footage(tmp_path / "frames", frames=3)[0]
    job = ws.import_footage([str(bad), str(good)], [], analyse=False)
    assert job
    qtbot.waitUntil(lambda: bool(errors), timeout=60000)
    assert "1 shot imported" in errors[0].message and "1 file rejected" in errors[0].message
    assert "notes.mp4" in errors[0].hint
    assert any(r.shot.name == good.name for r in ws.rows)


def test_analyse_when_up_to_date_says_so(qtbot, ws, window):
    with qtbot.waitSignal(ws.status_message) as said:
        ws.analyse_button.click()
    assert said.args == ["Every frame is analysed and up to date."]
    assert not ws._analysis_jobs


def test_export_runs_as_a_job_off_the_gui_thread(qtbot, ws, window, tmp_path, errors):
    (tmp_path / "a file").write_text("in the way")
    assert ws.export_report(tmp_path / "a file" / "drift.html") is None
    assert "Cannot write the report" in errors[-1].message
    done_on = []
    window.runner.add_listener(
        lambda e: e.event == "done" and done_on.append(threading.current_thread())
    )
    with qtbot.waitSignal(ws.status_message, timeout=60000) as said:
        job = ws.export_report(tmp_path / "drift.html", "html")
        assert job and ws.progress.isVisible() and ws.cancel_button.isVisible()
        assert not ws.export_button.isEnabled()  # one report at a time
    assert said.args == [f"Report written to {tmp_path / 'drift.html'}"]
    assert window.runner.wait(job, timeout=60).state == "done"
    assert done_on and done_on[0] is not threading.main_thread()
    assert not ws.progress.isVisible() and ws.export_button.isEnabled()
    text = (tmp_path / "drift.html").read_text(encoding="utf-8")
    assert "Drift report" in text and "data:image/png;base64," in text
    assert "http://" not in text and "https://" not in text  # one self-contained file
    assert text.count("<img alt='frame'") == 20
    assert (
        "<b>wardrobe</b> ΔE" in text
    )  # the costume shot's worst frame, on the check that flagged it
    with qtbot.waitSignal(ws.status_message, timeout=60000):
        json_job = ws.export_report(tmp_path / "drift.json")  # the format from the suffix
    assert window.runner.wait(json_job, timeout=60).state == "done"
    data = json.loads((tmp_path / "drift.json").read_text())
    assert len(data["frames"]) == 80 and data["frames"][0]["frame"] == 1
    assert errors[-1].message.startswith("Cannot write the report to")  # no new error


def test_cancel_the_report_from_the_bar_leaves_no_file(qtbot, ws, window, tmp_path):
    reached, release, ended = threading.Event(), threading.Event(), threading.Event()
    outcome: list[str] = []

    def hold(event) -> None:  # runs in the runner's thread, between two units
        if event.event == "progress" and not reached.is_set():
            reached.set()
            release.wait(30)  # the first picture is in; wait for the user's Cancel
        elif event.event in ("done", "failed", "cancelled"):
            outcome.append(event.event)
            ended.set()

    window.runner.add_listener(hold)
    out = tmp_path / "reports" / "drift.html"
    job = ws.export_report(out)
    assert reached.wait(30)
    ws.cancel_button.click()
    assert ws.progress.format() == "Stopping after this picture…"
    release.set()
    assert ended.wait(30) and outcome == ["cancelled"]
    qtbot.waitUntil(lambda: job not in ws._report_jobs, timeout=10000)
    assert not ws.progress.isVisible() and ws.export_button.isEnabled()
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))
    assert window.runner.wait(job).state == "cancelled"


def test_two_random_frames(qtbot, ws):
    ws.pair_button.click()
    dialog = ws._pair_dialog
    assert dialog is not None and dialog.isVisible()
    a, b = dialog.shown_frame_ids()
    assert a != b


def test_import_dialog_takes_several_cast_members(qtbot, ws, window, tmp_path):
    from studio.services import personas
    from studio.services import shots as shot_service

    personas.add_persona(window.project, "Ada")
    folder = write_demo_footage(tmp_path / "frames", frames=3)[0]
    dialog = ws.ask_import([folder])
    assert dialog.persona_names() == ["Nova Hale"]
    assert sorted(dialog.cast.item(i).text() for i in range(dialog.cast.count())) == [
        "Ada",
        "Nova Hale",
    ]
    nova = next(i for i in range(dialog.cast.count()) if dialog.cast.item(i).text() == "Nova Hale")
    ada = 1 - nova
    dialog.cast.setFocus()
    dialog.cast.setCurrentRow(nova)
    qtbot.keyClick(dialog.cast, Qt.Key.Key_Space)  # Nova Hale off: nobody is expected
    assert dialog.persona_names() == [] and not dialog.import_button.isEnabled()
    assert dialog.cast_hint.isVisibleTo(dialog)
    for row in (ada, nova):
        dialog.cast.setCurrentRow(row)
        qtbot.keyClick(dialog.cast, Qt.Key.Key_Space)
    assert sorted(dialog.persona_names()) == ["Ada", "Nova Hale"]
    assert dialog.import_button.isEnabled()
    # Nova's outfits are offered (Ada has none yet); the shot expects her in the one chosen.
    offered = [dialog.outfit.itemText(i) for i in range(dialog.outfit.count())]
    assert offered == ["Any of theirs", "flight suit", "off duty"]
    dialog.outfit.setCurrentIndex(offered.index("off duty"))
    dialog.analyse.setChecked(False)
    before = len(shot_service.list_shots(window.project))
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len({r.shot.id for r in ws.rows}) == before + 1, timeout=60000)
    shot = shot_service.list_shots(window.project)[-1]  # the new shot, last in the timeline
    names = {personas.get_persona(window.project, pid).name for pid in shot.persona_ids}
    assert names == {"Ada", "Nova Hale"}
    nova_id = personas.get_persona(window.project, "Nova Hale").id
    assert dict(shot.outfits) == {nova_id: "off duty"}
    assert {r.persona_name for r in ws.rows if r.shot.id == shot.id} == {"Ada", "Nova Hale"}


def test_import_footage_from_the_file_menu_opens_the_workspace(
    qtbot, window, monkeypatch, tmp_path
):
    from PySide6.QtWidgets import QFileDialog

    window.show_workspace("persona")
    clip = write_demo_footage(tmp_path / "frames", frames=2)[0]
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(clip)], ""))
    )
    window.footage_action.trigger()
    assert window.workspaces.currentWidget() is window.drift_workspace
    dialog = window.drift_workspace.findChild(FootageImportDialog)
    assert dialog is not None and dialog.sources == [str(clip)]
    dialog.reject()


def test_clicking_the_trend_line_selects_and_inspects_that_frame(qtbot, ws):
    golden = _row(ws, "Golden hour")
    x = ws.trend.x_of(golden, 12)
    qtbot.mouseClick(
        ws.trend, Qt.MouseButton.LeftButton, pos=QPointF(x, ws.trend.height() / 2).toPoint()
    )
    assert ws.heatmap.selection() == (golden, 12, 12) and ws._current == (golden, 12)
    assert ws.inspector.state_text() == "flagged"
    assert "light" in ws.inspector.why_text().lower()


def test_export_from_the_file_menu_writes_the_report_as_a_job(qtbot, window, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    window.show_workspace("persona")
    out = tmp_path / "menu.csv"
    monkeypatch.setattr(
        QFileDialog,
        "getSaveFileName",
        staticmethod(lambda *a, **k: (str(out), "CSV table (*.csv)")),
    )
    ws = window.drift_workspace
    with qtbot.waitSignal(ws.status_message, timeout=60000):
        window.report_action.trigger()
        assert window.workspaces.currentWidget() is ws
        assert ws._report_jobs  # a job, not a write on the GUI thread
    assert len(out.read_text().splitlines()) == 81


def test_a_read_only_window_writes_the_report_off_the_gui_thread(qtbot, tmp_path, demo_path):
    from PySide6.QtCore import QSettings

    from studio.ui.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    assert w.open_project(demo_path, read_only=True) and w.runner is None
    ws = w.drift_workspace
    out = tmp_path / "read-only.json"
    with qtbot.waitSignal(ws.status_message, timeout=60000) as said:
        job = ws.export_report(out)
        assert job in ws._local_reports and ws.progress.isVisibleTo(ws)
    assert said.args == [f"Report written to {out}"]
    assert len(json.loads(out.read_text())["frames"]) == 80
    assert not ws.progress.isVisibleTo(ws) and not ws._report_jobs
    w.close_project()


def test_stale_scores_say_so_and_analyse_brings_them_up_to_date(qtbot, ws, window):
    """After a new outfit colour the wardrobe scores are stale, and say so; Analyse updates them."""
    from studio.services import personas

    nova = personas.get_persona(window.project, "Nova Hale")
    record = personas.get_version(window.project, nova.id).record
    record["wardrobe"]["outfits"][0]["garments"][0]["colour"] = "#2b6be8"
    personas.save_version(window.project, nova.id, record, "a blue flight suit")
    ws.reload()
    summary = ws.summary_label.text()
    assert "out of date" in summary and "bring them up to date" in summary
    row = _row(ws, "Hangar walk")
    tip = ws._tooltip(row, 3)
    assert "Wardrobe: out of date" in tip and "wardrobe out of date" in tip
    assert ws.heatmap.rows()[row].absent["wardrobe"][3] == 3  # drawn as stale
    ws.analyse()
    qtbot.waitUntil(lambda: not ws._analysis_jobs, timeout=60000)
    assert "out of date" not in ws.summary_label.text()
    assert "Wardrobe: out of date" not in ws._tooltip(row, 3)


def test_import_image_sequence_picks_a_folder_of_numbered_frames(
    qtbot, window, monkeypatch, tmp_path
):
    from PySide6.QtWidgets import QFileDialog

    window.show_workspace("persona")
    folder = write_demo_footage(tmp_path / "frames", frames=2)[0]
    assert folder.is_dir()
    asked = []
    monkeypatch.setattr(
        QFileDialog,
        "getExistingDirectory",
        staticmethod(lambda *a, **k: asked.append(a) or str(folder)),
    )
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: pytest.fail("a file dialog"))
    )
    assert "Sequence" in window.sequence_action.text() and window.sequence_action.isEnabled()
    window.sequence_action.trigger()
    assert asked and window.workspaces.currentWidget() is window.drift_workspace
    dialog = window.drift_workspace.findChild(FootageImportDialog)
    assert dialog is not None and dialog.sources == [str(folder)]
    dialog.reject()


def test_switching_persona_moves_slider_legend_and_trend_together(qtbot, ws, window):
    from studio.services import personas

    nova = personas.get_persona(window.project, "Nova Hale").id
    ada = personas.add_persona(window.project, "Ada").persona_id
    drift.set_thresholds(window.project, nova, identity=0.91)
    drift.set_thresholds(window.project, ada, identity=0.93)
    ws.refresh_cast()  # what the window does when the Persona workspace adds her
    ws.thresholds_changed()
    combo = ws.persona_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["Ada", "Nova Hale"]

    def shown() -> tuple[str, str, float | None]:
        legend = ws.heatmap._legend_parts()[3]  # the hint after the gradient
        return ws.threshold_value.text(), legend, ws.trend.threshold

    for name, value in (("Nova Hale", 0.91), ("Ada", 0.93), ("Nova Hale", 0.91)):
        combo.setCurrentIndex(combo.findText(name))
        slider, legend, trend = shown()
        assert slider == f"{value:.2f}" and f"threshold {value:.2f}" in legend, (name, shown())
        assert trend == pytest.approx(value), name


def _menus(monkeypatch) -> list:
    """Capture menus instead of showing them (exec would block the test)."""
    from studio.ui import drift_menus

    shown = []
    monkeypatch.setattr(drift_menus, "popup", lambda menu, at: shown.append(menu))
    return shown


def _act(menu, starts: str):
    return next(a for a in menu.actions() if a.text().startswith(starts))


def test_heat_map_context_menu_flags_approves_notes_and_undoes(qtbot, ws, window, monkeypatch):
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QInputDialog

    shown = _menus(monkeypatch)
    visit = _row(ws, "Set visit")
    flagged = [int(i) for i in np.flatnonzero(ws._flags()[visit])]
    _drag(qtbot, ws, visit, flagged[0], flagged[-1])
    at = ws.heatmap.frame_rect(visit, flagged[1]).center()
    event = QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, at, ws.heatmap.mapToGlobal(at), Qt.KeyboardModifier(0)
    )
    QApplication.sendEvent(ws.heatmap, event)
    assert shown, "no menu for a right-click on a frame"
    menu = shown[-1]
    assert ws.heatmap.selection() == (visit, flagged[0], flagged[-1])  # the range stays
    _act(menu, "Flag 5 Frames for Reshoot").trigger()
    assert [it.frame.index for it in drift.reshoot_list(window.project)] == flagged
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("too wide", True)))
    _act(menu, "Note").trigger()
    assert drift.reshoot_list(window.project)[0].note == "too wide"

    # a right-click outside the selection acts on that frame alone
    ws.heatmap.context_menu_requested.emit(visit, 0, at)
    assert ws.heatmap.selection() == (visit, 0, 0) and ws._current == (visit, 0)
    _act(shown[-1], "Approve Frame").trigger()
    assert drift.drift_rows(window.project)[visit].reviews[ws.rows[visit].frames[0].id].state == (
        "approved"
    )
    for _ in range(3):
        window.undo_group.undo()
    assert drift.reshoot_list(window.project) == [] and ws.reshoot_list.count() == 0


def test_reshoot_list_context_menu_inspects_and_clears(qtbot, ws, window, monkeypatch):
    shown = _menus(monkeypatch)
    ws.side.setCurrentIndex(1)
    ws.flag_all_button.click()
    assert ws.reshoot_list.count() == 20
    item = ws.reshoot_list.item(3)
    row, frame = item.data(Qt.ItemDataRole.UserRole)
    pos = ws.reshoot_list.visualItemRect(item).center()
    ws.reshoot_list.customContextMenuRequested.emit(pos)
    assert shown and ws.heatmap.selection() == (row, frame, frame)
    _act(shown[-1], "Inspect").trigger()
    assert ws._current == (row, frame)
    _act(shown[-1], "Clear Review of Frame").trigger()
    assert ws.reshoot_list.count() == 19
    window.undo_group.undo()
    assert ws.reshoot_list.count() == 20
