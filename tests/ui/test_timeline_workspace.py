"""The Timeline workspace driven through its widgets: lanes, reorder, copies, deletes, renders."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QDialog, QToolTip

from studio.core.changes import Changes
from studio.core.render import RenderSettings
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.services import renders, timeline
from studio.ui.timeline_lanes import LANE_H
from studio.ui.timeline_workspace import AddShotDialog
from tests.fixtures.tiny_models import SD15, save_tiny_model
from tests.ui.conftest import open_demo_window, wait_idle

DEMO_SHOTS = ["Hangar walk", "Set visit", "Costume test", "Golden hour", "Cutaways"]


@pytest.fixture
def window(qtbot, tmp_path, demo_path, errors):
    w = open_demo_window(qtbot, tmp_path, demo_path, "timeline")
    yield w
    w.close_project()


@pytest.fixture
def ws(window):
    return window.timeline_workspace


def _lane_names(ws) -> list[str]:
    return [r.name for r in ws.lanes.rows()]


def _stored_names(ws) -> list[str]:
    return [s.name for s in shot_rows.list_shots(ws.project)]


def _png(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, 40, 90)).save(buf, "PNG")
    return buf.getvalue()


def _add_shot(qtbot, ws, monkeypatch, name: str, frames: int = 3) -> None:
    """Add a shot through the dialog, typed into as the artist would."""

    def fill(dialog: AddShotDialog) -> int:
        dialog.name.setText(name)
        dialog.action.setText("waving at the camera")
        dialog.frames.setValue(frames)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(AddShotDialog, "exec", fill)
    ws.add_action.trigger()


def test_demo_shots_are_lanes_in_story_order_with_their_verdicts(window, ws):
    assert window.workspace_names()[3] == "timeline"
    assert window.workspaces.currentWidget() is ws
    assert _lane_names(ws) == DEMO_SHOTS == _stored_names(ws)
    lanes = {r.name: r for r in ws.lanes.rows()}
    assert all(r.kind == "footage" and r.planned == 16 for r in lanes.values())
    assert lanes["Hangar walk"].count(timeline.FLAGGED) == 0
    assert lanes["Set visit"].count(timeline.FLAGGED) == 5
    assert lanes["Cutaways"].count(timeline.UNMEASURABLE) == 4
    ws.lanes.select([lanes["Set visit"].id])
    assert ws.delete_action.isEnabled()
    assert not ws.render_action.isEnabled()  # footage: nothing to render
    assert not ws.duplicate_action.isEnabled()


def test_dragging_a_lane_reorders_the_shots_and_undo_puts_it_back(qtbot, ws):
    lanes = ws.lanes
    start = lanes.header_rect(0).center()
    end = QPoint(start.x(), start.y() + 2 * LANE_H + LANE_H // 2 + 5)  # below the third lane
    qtbot.mousePress(lanes.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(lanes.viewport(), QPoint(start.x(), start.y() + 20))
    qtbot.mouseMove(lanes.viewport(), end)
    qtbot.mouseRelease(lanes.viewport(), Qt.MouseButton.LeftButton, pos=end)
    moved = ["Set visit", "Costume test", "Hangar walk", "Golden hour", "Cutaways"]
    assert _stored_names(ws) == moved == _lane_names(ws)
    assert lanes.selected_ids() == [lanes.rows()[2].id]
    ws.undo_stack.undo()
    assert _stored_names(ws) == DEMO_SHOTS == _lane_names(ws)
    ws.undo_stack.redo()
    assert _stored_names(ws) == moved


def test_add_shot_duplicate_and_undo(qtbot, ws, monkeypatch, errors):
    _add_shot(qtbot, ws, monkeypatch, "Stage left", frames=3)
    assert errors == []
    assert _lane_names(ws) == [*DEMO_SHOTS, "Stage left"]
    added = ws.lanes.rows()[-1]
    assert (added.kind, added.planned, added.rendered) == ("render", 3, 0)
    assert renders.render_settings(ws.project, "Stage left").action == "waving at the camera"
    assert ws.lanes.selected_ids() == [added.id]

    ws.duplicate_action.trigger()
    assert _lane_names(ws) == [*DEMO_SHOTS, "Stage left", "Stage left copy"]
    offsets = [renders.render_settings(ws.project, n).seed_offset for n in _lane_names(ws)[-2:]]
    assert offsets[0] != offsets[1]

    ws.undo_stack.undo()
    ws.undo_stack.undo()
    assert _stored_names(ws) == DEMO_SHOTS == _lane_names(ws)
    ws.undo_stack.redo()
    assert _lane_names(ws)[-1] == "Stage left"
    assert ws.lanes.rows()[-1].id == added.id  # the same shot comes back

    _add_shot(qtbot, ws, monkeypatch, "stage LEFT")
    assert len(errors) == 1 and "already a shot" in errors[0].message
    assert _lane_names(ws)[-1] == "Stage left"


def test_delete_with_undo_brings_back_frames_takes_and_verdicts(qtbot, ws, monkeypatch):
    _add_shot(qtbot, ws, monkeypatch, "Stage left", frames=3)
    shot_id = ws.lanes.rows()[-1].id
    for i in range(2):
        render_rows.store_take(ws.project, shot_id, i, _png(i * 60), {"seed": i})
    render_rows.store_take(ws.project, shot_id, 0, _png(200), {"seed": 9}, choose=False)
    ws.refresh_shot(shot_id)
    assert ws.lanes.rows()[-1].rendered == 2
    before = {r.id: r for r in ws.lanes.rows()}
    takes = render_rows.find_takes(ws.project, shot_id=shot_id)

    set_visit = before and ws.lanes.rows()[1].id
    ws.lanes.select([set_visit, shot_id])
    qtbot.keyClick(ws.lanes, Qt.Key.Key_Delete)
    assert _lane_names(ws) == ["Hangar walk", "Costume test", "Golden hour", "Cutaways"]
    assert render_rows.find_takes(ws.project, shot_id=shot_id) == []

    ws.undo_stack.undo()
    assert _lane_names(ws) == [*DEMO_SHOTS, "Stage left"]
    assert {r.id: r for r in ws.lanes.rows()} == before  # frames and verdicts as they were
    assert render_rows.find_takes(ws.project, shot_id=shot_id) == takes
    assert ws.lanes.rows()[1].count(timeline.FLAGGED) == 5


def test_lanes_paint_frames_from_memory(qtbot, ws):
    lanes = ws.lanes
    lanes.viewport().repaint()
    assert lanes.wait_pictures(20)
    # At least a frame of each lane in view: the pictures load on a thread, as they arrive.
    qtbot.waitUntil(lambda: lanes.pictures_loaded() >= 5, timeout=20000)
    statements: list[str] = []
    ws.project._conn.set_trace_callback(statements.append)
    try:
        lanes.viewport().repaint()
    finally:
        ws.project._conn.set_trace_callback(None)
    assert statements == []


# -- rendering with tiny models on the CPU ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(SD15, tmp_path_factory.mktemp("timeline-models"))


@pytest.fixture
def render_window(qtbot, tmp_path, tiny_model, errors, monkeypatch):
    """A window on a new project with Ada, the tiny model and a 2-frame 32 px shot."""
    from PySide6.QtCore import QSettings

    from studio.jobs.runner import JobRunner
    from studio.services import models as model_service
    from studio.services.projects import new_project
    from studio.ui.main_window import MainWindow

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "cast.pstudio"
    project = new_project(path, "Ada")
    try:
        spec = model_service.plan_register(project, [str(tiny_model.folder)], name="tiny-base")
        assert JobRunner(project).run(spec).state == "done"
        renders.add_render_shot(
            project,
            "Intro",
            ["Ada"],
            RenderSettings(action="waving", frames=2, width=32, height=32, steps=2),
        )
    finally:
        project.close()
    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    assert w.open_project(path)
    w.show_workspace("timeline")
    w.show()
    wait_idle(qtbot, w)
    yield w
    w.close_project()


@pytest.mark.slow
def test_render_lands_frames_in_the_lane_then_the_verdicts(qtbot, render_window, errors):
    ws = render_window.timeline_workspace
    shot_id = ws.lanes.rows()[0].id
    landed: list[int] = []
    original = ws.lanes.replace_row

    def replace_row(row):
        landed.append(row.rendered)
        return original(row)

    ws.lanes.replace_row = replace_row
    records = []
    original_apply = ws.apply_changes

    def apply_changes(changes):
        if changes:
            records.append(changes)
        return original_apply(changes)

    ws.apply_changes = apply_changes
    # The Drift workspace follows from the same records, never re-reading every shot.
    drift_ws = render_window.drift_workspace
    full_reads = []
    drift_ws.reload = lambda: full_reads.append(1)
    ws.lanes.select([shot_id])
    assert ws.render_action.isEnabled()
    qtbot.keyClick(ws.lanes, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert ws._render_jobs, errors

    def verdicts() -> list[str]:
        return [f.verdict for f in ws.lanes.rows()[0].frames]

    qtbot.waitUntil(lambda: verdicts() == [timeline.UNMEASURABLE] * 2, timeout=240_000)
    assert errors == []
    # Each committed frame sent its record as it landed (records close together are read
    # once), and the lane showed frames before their verdicts came.
    rendered = [r for r in records if r.frames and shot_id in r.shots]
    assert len(rendered) >= 4  # two renders and two scores
    assert landed[0] >= 1 and landed[-1] == 2

    def scored_in_drift() -> bool:
        row = next(r for r in drift_ws.rows if r.shot.id == shot_id)
        return len(row.frames) == 2 and all(s is not None for s in row.scores)

    qtbot.waitUntil(scored_in_drift, timeout=5000)
    assert full_reads == []
    row = ws.lanes.rows()[0]
    assert (row.rendered, row.planned) == (2, 2)
    assert len(render_rows.current_takes(ws.project, shot_id)) == 2
    assert "Rendering 2 frames of 1 shot" in ws.log.toPlainText()


def _tip(lanes, pos: QPoint) -> str:
    view = lanes.viewport()
    QApplication.sendEvent(view, QHelpEvent(QEvent.Type.ToolTip, pos, view.mapToGlobal(pos)))
    text = QToolTip.text() if QToolTip.isVisible() else ""
    QToolTip.hideText()
    return text


def test_a_frames_tooltip_gives_its_verdict(ws):
    lanes = ws.lanes
    assert _tip(lanes, lanes.header_rect(0).center()) == ""
    set_visit = lanes.rows()[1]
    drifted = next(f.index for f in set_visit.frames if f.verdict == timeline.FLAGGED)
    assert _tip(lanes, lanes.frame_rect(1, drifted).center()) == (
        f"Set visit, frame {drifted + 1}: flagged"
    )
    assert _tip(lanes, lanes.frame_rect(0, 0).center()) == "Hangar walk, frame 1: ok"


def test_dragging_to_the_bottom_edge_scrolls_the_lanes(qtbot, ws):
    for i in range(8):
        renders.add_render_shot(ws.project, f"Extra {i}", ["Nova Hale"], RenderSettings(frames=2))
    ws.reload()
    lanes, view = ws.lanes, ws.lanes.viewport()
    shown = view.height() // LANE_H
    assert len(lanes.rows()) > shown + 3
    start = lanes.header_rect(0).center()
    bottom = QPoint(start.x(), view.height() - 3)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    for _ in range(20):
        qtbot.mouseMove(view, bottom)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=bottom)
    assert lanes.verticalScrollBar().value() == lanes.verticalScrollBar().maximum()
    names = _stored_names(ws)
    assert names.index("Hangar walk") > shown
    assert names == _lane_names(ws)


def test_the_shot_editor_follows_the_selection_and_its_edits_reach_the_lane(ws, monkeypatch):
    _add_shot(None, ws, monkeypatch, "Stage left", frames=3)
    shot_id = ws.lanes.rows()[-1].id
    assert ws.shot_editor.shot_id == shot_id
    ws.shot_editor.frames_spin.setValue(7)
    assert renders.render_settings(ws.project, shot_id).frames == 7
    assert ws.lanes.rows()[-1].planned == 7
    ws.undo_stack.undo()  # the edit, on the workspace's own undo stack
    assert ws.lanes.rows()[-1].planned == 3
    ws.lanes.select([ws.lanes.rows()[0].id, shot_id])
    assert ws.shot_editor.shot_id is None  # one shot at a time


@pytest.mark.slow
def test_one_flow_add_edit_render_review_and_export_an_mp4(
    qtbot, render_window, monkeypatch, tmp_path, errors
):
    """What a new artist does in one sitting: add a shot, set it up (and undo a slip), render
    it, watch the frames and their verdicts land, open a frame's provenance, export it."""
    import av

    from studio.ui.timeline_export import PNG_SEQUENCE, VIDEO
    from tests.ui.test_take_inspector import _double_click_frame
    from tests.ui.test_timeline_export import _answer

    ws = render_window.timeline_workspace
    _add_shot(qtbot, ws, monkeypatch, "Outro", frames=3)
    assert _lane_names(ws) == ["Intro", "Outro"]
    outro = ws.lanes.rows()[1].id
    ws.lanes.select([outro])
    editor = ws.shot_editor
    editor.width_spin.setValue(32)
    editor.height_spin.setValue(32)
    editor.steps_spin.setValue(2)
    editor.guidance_spin.setValue(12.0)  # a slip, undone
    ws.undo_stack.undo()
    settings = renders.render_settings(ws.project, outro)
    assert (settings.width, settings.height, settings.steps, settings.frames) == (32, 32, 2, 3)
    assert settings.guidance != 12.0

    qtbot.keyClick(ws.lanes, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert ws._render_jobs, errors

    def verdicts() -> list[str]:
        return [f.verdict for f in ws.lanes.rows()[1].frames]

    qtbot.waitUntil(lambda: verdicts() == [timeline.UNMEASURABLE] * 3, timeout=240_000)
    assert ws.lanes.rows()[0].rendered == 0  # only the selected shot was rendered

    inspector = _double_click_frame(qtbot, ws, outro, 1)
    take = inspector.shown_take()
    assert take.width == 32 and take.steps == 2
    assert inspector.field_text("Seed") == str(take.seed)
    assert inspector.field_text("Model").startswith("tiny-base")
    inspector.close()

    video = tmp_path / "outro.mp4"
    _answer(ws, whole=False, kind=VIDEO, output=video)
    ws.export_action.trigger()
    qtbot.waitUntil(lambda: not ws.exporter.busy, timeout=60_000)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(settings_fps(ws, outro))
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape[:2] == (32, 32)

    folder = tmp_path / "pngs"
    folder.mkdir()
    _answer(ws, whole=False, kind=PNG_SEQUENCE, output=folder)
    ws.export_action.trigger()
    qtbot.waitUntil(lambda: not ws.exporter.busy, timeout=60_000)
    assert sorted(p.name for p in folder.iterdir()) == [f"Outro_000{i}.png" for i in (1, 2, 3)]
    assert errors == []


def settings_fps(ws, shot_id: str) -> float:
    return next(r.fps for r in ws.lanes.rows() if r.id == shot_id)


def test_several_selected_shots_say_so_in_the_editor(ws):
    ws.lanes.select([r.id for r in ws.lanes.rows()[:3]])
    assert ws.shot_editor.empty_label.text().startswith("3 shots are selected")
    ws.lanes.select([])
    assert ws.shot_editor.empty_label.text() == "Choose a shot."


@pytest.mark.slow
def test_cancel_from_the_render_bar_keeps_the_frames_done(qtbot, render_window, errors):
    ws = render_window.timeline_workspace
    shot_id = ws.lanes.rows()[0].id
    renders.set_render_settings(ws.project, shot_id, frames=40)
    ws.refresh_shot(shot_id)
    ws.lanes.select([shot_id])
    job_id = ws.render_selection()
    assert ws.render_selection() is None  # rendering already: not queued twice
    assert "The selected shots are rendering already." in ws.log.toPlainText()
    qtbot.waitUntil(lambda: ws.lanes.rows()[0].rendered >= 1, timeout=120_000)
    assert ws.render_bar.isVisible() and ws.render_bar.job_id == job_id
    assert ws.render_bar.bar.text().endswith("of 40 frames")
    qtbot.mouseClick(ws.render_bar.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.render_bar.isVisible(), timeout=60_000)
    assert render_window.runner.wait(job_id).state == "cancelled"
    kept = len(render_rows.current_takes(ws.project, shot_id))
    assert 1 <= kept < 40
    qtbot.waitUntil(lambda: ws.lanes.rows()[0].rendered == kept, timeout=5000)
    assert not ws.preview.isVisible() and errors == []


def test_lanes_show_at_once_and_their_verdicts_follow_from_a_thread(qtbot, ws):
    def verdicts() -> dict[str, list[str]]:
        return {r.name: [f.verdict for f in r.frames] for r in ws.lanes.rows()}

    before = verdicts()
    assert before["Set visit"].count(timeline.FLAGGED) == 5
    ws.reload()
    first = ws._reading
    ws.reload()  # the first read is overtaken: what it brings is dropped
    assert ws.reading_verdicts
    assert {v for vs in verdicts().values() for v in vs} == {timeline.READING}
    every = {f.frame_id: timeline.FLAGGED for r in ws.lanes.rows() for f in r.frames}
    ws._verdicts_came(first, every)
    assert {v for vs in verdicts().values() for v in vs} == {timeline.READING}
    # A lane read since, from a change record, keeps its own verdicts.
    visit = next(r.id for r in ws.lanes.rows() if r.name == "Set visit")
    ws.apply_changes(Changes.of(shots=[visit]))
    ws.apply_pending()
    ws._verdicts_came(ws._reading, every)
    assert verdicts()["Set visit"] == before["Set visit"]
    assert set(verdicts()["Hangar walk"]) == {timeline.FLAGGED}
    ws.reload()
    qtbot.waitUntil(lambda: not ws.reading_verdicts, timeout=20000)
    assert verdicts() == before
