"""The Timeline's frame inspector: a frame's provenance, its takes, its parameters, its drift."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from studio.core.render import RenderSettings
from studio.core.takes import a1111_parameters
from studio.project import renders as render_rows
from studio.services import library, personas, renders, timeline
from studio.ui.take_inspector import FOOTAGE_TIP, TakeInspector
from tests.fixtures.tiny_models import SD15, save_tiny_model
from tests.ui.conftest import open_demo_window, wait_idle


@pytest.fixture
def window(qtbot, tmp_path, demo_path, errors):
    w = open_demo_window(qtbot, tmp_path, demo_path, "timeline")
    yield w
    w.close_project()


@pytest.fixture
def ws(window):
    return window.timeline_workspace


def _png(shade: int, size: tuple[int, int] = (48, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (shade, 40, 90)).save(buf, "PNG")
    return buf.getvalue()


def _provenance(ws, seed: int, **more) -> dict:
    nova = personas.get_persona(ws.project, "Nova Hale")
    refs = library.list_references(ws.project, nova.id)[:2]
    values = {
        "persona_id": nova.id,
        "persona_version_id": personas.get_version(ws.project, nova.id).id,
        "seed": seed,
        "model_sha": "ab12cd34ef" + "0" * 54,
        "model_name": "dreamshaper-8",
        "family": "sd15",
        "mode": "txt2img",
        "width": 48,
        "height": 32,
        "steps": 25,
        "guidance": 6.5,
        "sampler": "dpmpp_2m_karras",
        "prompt": "nova hale walking through the hangar",
        "negative": "blurry",
        "loras": [{"name": "nova-lora", "sha256": "b" * 64, "weight": 0.8}],
        "adapters": [{"name": "face-plus", "sha256": "c" * 64, "scale": 0.5, "variant": "plus"}],
        "reference_shas": [r.blob_sha for r in refs],
        "device": "cuda:0",
        "seconds": 2.5,
    }
    values.update(more)
    return values


@pytest.fixture
def rendered(ws):
    """A render shot of Nova whose first frame has two takes (the second current)."""
    shot = renders.add_render_shot(
        ws.project, "Stage left", ["Nova Hale"], RenderSettings(action="walking", frames=2)
    )
    first = render_rows.store_take(ws.project, shot.id, 0, _png(10), _provenance(ws, 1000))
    second = render_rows.store_take(ws.project, shot.id, 0, _png(200), _provenance(ws, 1001))
    ws.reload()
    return shot.id, first, second


def _double_click_frame(qtbot, ws, shot_id: str, frame: int) -> TakeInspector:
    lanes = ws.lanes
    cell = lanes.frame_rect(lanes.row_of(shot_id), frame)
    lanes.ensure_visible(lanes.row_of(shot_id))
    cell = lanes.frame_rect(lanes.row_of(shot_id), frame)
    qtbot.mouseDClick(lanes.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    assert ws.inspector is not None and ws.inspector.isVisible()
    return ws.inspector


def test_double_clicking_a_rendered_frame_shows_its_provenance(qtbot, ws, rendered, errors):
    shot_id, _, second = rendered
    inspector = _double_click_frame(qtbot, ws, shot_id, 0)
    assert errors == []
    assert inspector.shown_take().id == second
    version = personas.get_version(ws.project, "Nova Hale").number
    assert inspector.field_text("Persona") == f"Nova Hale, version {version}"
    assert inspector.field_text("Model") == "dreamshaper-8 [ab12cd34ef]"
    assert inspector.field_text("LoRAs") == "nova-lora × 0.8"
    assert inspector.field_text("IP-Adapters") == "face-plus (plus) × 0.5"
    assert inspector.field_text("Seed") == "1001"
    assert inspector.field_text("Size") == "48 × 32"
    assert inspector.field_text("Sampler") == "DPM++ 2M Karras"
    assert inspector.field_text("Device") == "cuda:0 in 2.5 s"
    assert "walking through the hangar" in inspector.prompt.toPlainText()
    assert "Negative: blurry" in inspector.prompt.toPlainText()
    assert inspector.picture.image().size().width() == 48
    assert "take 2 of 2" in inspector.caption.text()
    shown = inspector.references_box.findChildren(type(inspector.caption), "takeReference")
    assert len(shown) == 2 and all(label.pixmap() is not None for label in shown)
    assert not shown[0].pixmap().isNull()
    assert "Nova Hale: not analysed" in inspector.drift_text()
    assert inspector.drift_button.isEnabled()


def test_copy_parameters_puts_the_a1111_text_on_the_clipboard(qtbot, ws, rendered):
    shot_id, _, second = rendered
    inspector = ws.open_frame(shot_id, 0)
    QApplication.clipboard().clear()
    qtbot.mouseClick(inspector.copy_button, Qt.MouseButton.LeftButton)
    text = QApplication.clipboard().text()
    assert text == a1111_parameters(render_rows.get_take(ws.project, second).provenance)
    assert text.startswith("nova hale walking through the hangar, <lora:nova-lora:0.8>")
    assert "Sampler: DPM++ 2M Karras" in text and "Seed: 1001" in text
    assert "Model hash: ab12cd34ef" in text


def test_choosing_another_take_is_one_undo_step(qtbot, ws, rendered):
    shot_id, first, second = rendered
    inspector = ws.open_frame(shot_id, 0)
    assert not inspector.use_button.isEnabled()  # the current take is shown
    inspector.show_take(first)
    assert inspector.field_text("Seed") == "1000"
    assert "take 1 of 2" in inspector.caption.text()
    assert inspector.use_button.isEnabled()
    qtbot.mouseClick(inspector.use_button, Qt.MouseButton.LeftButton)

    def lane_sha() -> str:
        return ws.lanes.rows()[ws.lanes.row_of(shot_id)].frames[0].blob_sha

    first_sha = render_rows.get_take(ws.project, first).blob_sha
    assert render_rows.current_takes(ws.project, shot_id)[0].id == first
    assert lane_sha() == first_sha
    assert "(current)" in inspector.take_combo.itemText(0)
    assert not inspector.use_button.isEnabled()

    ws.undo_stack.undo()
    assert render_rows.current_takes(ws.project, shot_id)[0].id == second
    assert lane_sha() == render_rows.get_take(ws.project, second).blob_sha
    assert "(current)" in inspector.take_combo.itemText(1)
    ws.undo_stack.redo()
    assert render_rows.current_takes(ws.project, shot_id)[0].id == first


def test_a_footage_frame_shows_its_source_and_cannot_be_rendered_again(qtbot, ws, errors):
    hangar = ws.lanes.rows()[0]
    inspector = _double_click_frame(qtbot, ws, hangar.id, 3)
    assert errors == []
    assert inspector.shown_take() is None
    assert inspector.source_box.isVisibleTo(inspector)
    assert not inspector.provenance_box.isVisibleTo(inspector)
    assert "source frame" in inspector.source.text()
    assert not inspector.again_button.isEnabled()
    assert inspector.again_button.toolTip() == FOOTAGE_TIP
    assert not inspector.copy_button.isEnabled()
    assert inspector.render_again() is None
    assert "Nova Hale: ok" in inspector.drift_text()
    assert "Identity (best match)" in inspector.drift_text()


def test_open_in_drift_shows_the_frame_in_the_drift_inspector(qtbot, window, ws):
    set_visit = ws.lanes.rows()[1]
    drifted = next(f for f in set_visit.frames if f.verdict == timeline.FLAGGED)
    inspector = ws.open_frame(set_visit.id, drifted.index)
    assert "Nova Hale: flagged" in inspector.drift_text()
    assert "✗" in inspector.drift_text()
    qtbot.mouseClick(inspector.drift_button, Qt.MouseButton.LeftButton)
    drift_ws = window.drift_workspace
    assert window.workspaces.currentWidget() is drift_ws
    seen = drift_ws.inspector.inspection()
    assert seen is not None and seen.verdict.frame.id == drifted.frame_id


def test_open_frame_from_the_frames_context_menu(qtbot, ws, rendered):
    shot_id, _, second = rendered
    lanes = ws.lanes
    assert lanes.frame_menu(lanes.frame_rect(lanes.row_of(shot_id), 1).center()) is None
    menu = lanes.frame_menu(lanes.frame_rect(lanes.row_of(shot_id), 0).center())
    assert [a.text() for a in menu.actions()] == ["&Open Frame"]
    menu.actions()[0].trigger()
    assert ws.inspector.isVisible() and ws.inspector.shown_take().id == second


def test_an_empty_cell_opens_nothing(qtbot, ws, rendered):
    shot_id, _, _ = rendered
    lanes = ws.lanes
    cell = lanes.frame_rect(lanes.row_of(shot_id), 1)  # frame 2 is not rendered yet
    qtbot.mouseDClick(lanes.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    assert ws.inspector is None
    assert lanes.frame_at(QPoint(5, 5)) is None  # the header is not a frame


# -- rendering again with a tiny model on the CPU -----------------------------------------------


@pytest.fixture
def render_window(qtbot, tmp_path, errors, monkeypatch):
    """A window on a new project with Ada, a tiny model and a 1-frame 32 px shot."""
    from PySide6.QtCore import QSettings

    from studio.jobs.runner import JobRunner
    from studio.services import models as model_service
    from studio.services.projects import new_project
    from studio.ui.main_window import MainWindow

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tiny = save_tiny_model(SD15, tmp_path / "models")
    path = tmp_path / "cast.pstudio"
    project = new_project(path, "Ada")
    try:
        spec = model_service.plan_register(project, [str(tiny.folder)], name="tiny-base")
        assert JobRunner(project).run(spec).state == "done"
        renders.add_render_shot(
            project,
            "Intro",
            ["Ada"],
            RenderSettings(action="waving", frames=1, width=32, height=32, steps=2),
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
def test_render_again_lands_a_new_current_take(qtbot, render_window, errors):
    ws = render_window.timeline_workspace
    shot_id = ws.lanes.rows()[0].id
    ws.lanes.select([shot_id])
    assert ws.render_selection() is not None, errors
    qtbot.waitUntil(lambda: ws.lanes.rows()[0].rendered == 1, timeout=240_000)
    wait_idle(qtbot, render_window)
    inspector = ws.open_frame(shot_id, 0)
    first = inspector.shown_take()
    assert first is not None and inspector.field_text("Model").startswith("tiny-base [")
    assert inspector.again_button.isEnabled(), inspector.again_button.toolTip()
    qtbot.mouseClick(inspector.again_button, Qt.MouseButton.LeftButton)
    assert errors == []
    qtbot.waitUntil(lambda: len(inspector.detail.takes) == 2, timeout=240_000)
    wait_idle(qtbot, render_window)
    again = inspector.shown_take()
    assert again.id != first.id and again.provenance["again_of"] == first.id
    assert inspector.detail.current.id == again.id
    assert again.seed == first.seed
    assert "take 2 of 2" in inspector.caption.text()
    assert ws.lanes.rows()[0].frames[0].blob_sha == again.blob_sha
    assert "again" in ws.log.toPlainText()
