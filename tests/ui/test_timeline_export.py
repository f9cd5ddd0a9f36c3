"""The Timeline's Export…: the selected shot as a PNG folder, the whole timeline as an MP4, and a
read-only project's export, all from the window through its dialog seams."""

from __future__ import annotations

import io

import av
import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog

from studio.core.render import RenderSettings
from studio.project import renders as render_rows
from studio.services import jobs as job_service
from studio.services import renders
from studio.services.projects import new_project
from studio.ui.help_dialogs import shortcut_rows
from studio.ui.main_window import MainWindow
from studio.ui.timeline_export import PNG_SEQUENCE, VIDEO, ExportDialog
from tests.ui.conftest import wait_idle


def _png(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, 40, 90)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def film(tmp_path):
    """A project with two rendered shots: Walk (3 frames) and Run (2 frames)."""
    path = tmp_path / "film.pstudio"
    project = new_project(path, "Ada")
    try:
        for name, frames in (("Walk", 3), ("Run", 2)):
            shot = renders.add_render_shot(project, name, ["Ada"], RenderSettings(frames=frames))
            for i in range(frames):
                render_rows.store_take(
                    project, shot.id, i, _png(60 * i), {"seed": i, "prompt": "ada"}
                )
    finally:
        project.close()
    return path


def _window(qtbot, tmp_path, path, read_only=False):
    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1200, 800)
    assert w.open_project(path, read_only=read_only)
    w.show_workspace("timeline")
    w.show()
    qtbot.waitExposed(w)
    wait_idle(qtbot, w)
    return w


def _answer(ws, whole: bool, kind: str, output) -> list:
    """Answer the export dialog and the file dialog as the artist would; what they were shown."""
    shown: list = []

    def run(dialog: ExportDialog) -> int:
        shown.append([dialog.scope.itemText(i) for i in range(dialog.scope.count())])
        dialog.scope.setCurrentIndex(dialog.scope.findData("timeline" if whole else "shot"))
        dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
        return QDialog.DialogCode.Accepted

    def ask(parent, caption, start) -> str:
        shown.append(caption)
        return str(output)

    ws.exporter.run_dialog = run
    ws.exporter.ask_folder = ask
    ws.exporter.ask_video = ask
    return shown


def _select(ws, name: str) -> None:
    ws.lanes.select([r.id for r in ws.lanes.rows() if r.name == name])


def test_the_selected_shot_exports_as_a_png_folder_through_the_job_queue(
    qtbot, tmp_path, film, errors
):
    w = _window(qtbot, tmp_path, film)
    ws = w.timeline_workspace
    _select(ws, "Walk")
    out = tmp_path / "frames"
    out.mkdir()
    shown = _answer(ws, whole=False, kind=PNG_SEQUENCE, output=out)
    ws.export_action.trigger()
    assert ws.exporter.busy and not ws.export_action.isEnabled()
    wait_idle(qtbot, w)
    qtbot.waitUntil(lambda: not ws.exporter.busy)
    assert shown[0] == ["The selected shot, 'Walk'", "The whole timeline"]
    assert sorted(p.name for p in out.iterdir()) == [f"Walk_000{i}.png" for i in (1, 2, 3)]
    assert f"Wrote 3 frames of Walk to {out}" in ws.log.toPlainText()
    (job,) = [j for j in job_service.list_jobs(w.project) if j.kind == "export"]
    assert job.state == "done"
    tree = w.jobs_panel.tree  # the Jobs panel lists it with its progress
    texts = [
        tree.topLevelItem(i).text(c)
        for i in range(tree.topLevelItemCount())
        for c in range(tree.columnCount())
    ]
    assert any(job.title in t for t in texts)
    assert ws.export_action.isEnabled() and errors == []
    w.close_project()


def test_the_whole_timeline_exports_as_one_mp4(qtbot, tmp_path, film, errors):
    w = _window(qtbot, tmp_path, film)
    ws = w.timeline_workspace
    _select(ws, "Run")
    video = tmp_path / "film.mp4"
    _answer(ws, whole=True, kind=VIDEO, output=video)
    ws.export_action.trigger()
    wait_idle(qtbot, w)
    qtbot.waitUntil(lambda: not ws.exporter.busy)
    assert errors == []
    with av.open(str(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 5  # Walk's three, then Run's two
    assert f"Wrote {video}" in ws.log.toPlainText()
    w.close_project()


def test_a_read_only_project_exports_without_the_job_queue(qtbot, tmp_path, film, errors):
    w = _window(qtbot, tmp_path, film, read_only=True)
    ws = w.timeline_workspace
    assert w.runner is None and ws.export_action.isEnabled()
    out = tmp_path / "all"
    _answer(ws, whole=True, kind=PNG_SEQUENCE, output=out)
    messages: list[str] = []
    ws.status_message.connect(messages.append)
    ws.export_action.trigger()
    qtbot.waitUntil(lambda: not ws.exporter.busy, timeout=20000)
    assert sorted(p.name for p in (out / "Walk").iterdir()) == [
        f"Walk_000{i}.png" for i in (1, 2, 3)
    ]
    assert sorted(p.name for p in (out / "Run").iterdir()) == ["Run_0001.png", "Run_0002.png"]
    assert "Wrote 5 frames of 2 shots" in messages[-1]
    assert errors == []
    w.close_project()


def test_nothing_to_export_says_why_and_the_shortcut_is_listed(qtbot, tmp_path, errors):
    path = tmp_path / "empty.pstudio"
    new_project(path, "Ada").close()
    w = _window(qtbot, tmp_path, path)
    ws = w.timeline_workspace
    _answer(ws, whole=True, kind=PNG_SEQUENCE, output=tmp_path / "out")
    ws.export_action.trigger()
    assert "no shots to export" in errors[0].message and errors[0].hint
    assert not ws.exporter.busy
    rows = shortcut_rows(w.menuBar())
    assert ("Ctrl+E", "Export", "Timeline") in rows
    keys = [k for k, _, _ in rows]
    assert keys.count("Ctrl+E") == 1
    w.close_project()
