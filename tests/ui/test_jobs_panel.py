"""The Jobs panel: a job that refused work reads 'Finished with problems' in its own colour, its
reasons one click away; finished jobs can be cleared, interrupted ones stay."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from studio.core.states import INTERRUPTED
from studio.jobs.runner import JobRunner
from studio.services import imports
from studio.services import jobs as job_service
from studio.ui.jobs_panel import STATE_COLOURS, JobsPanel


@pytest.fixture
def panel(qtbot, project, errors):
    runner = JobRunner(project)
    panel = JobsPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 300)
    panel.set_project(project, runner)
    runner.add_listener(panel.on_job_event)  # runner.run reports in this thread
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.set_project(None, None)


def _run_import(project, runner, paths):
    return runner.run(imports.plan_import(project, "Ada", [str(p) for p in paths]))


def _details(qtbot, panel) -> QMessageBox:
    box = None

    def found():
        nonlocal box
        box = panel.findChild(QMessageBox, "jobDetailsBox")
        return box is not None and box.isVisible()

    qtbot.waitUntil(found, timeout=5000)
    return box


def test_an_import_that_imported_nothing_shows_its_problems(qtbot, panel, project, tmp_path):
    bad = [tmp_path / f"bad-{i}.png" for i in range(3)]
    for path in bad:
        path.write_text("not a picture")
    job = _run_import(project, panel._runner, bad)
    item = panel._items[job.id]
    assert item.text(1) == "Finished with problems"
    assert item.foreground(1).color().name() == STATE_COLOURS["problems"]
    assert "finished with problems" in panel.summary.text()

    panel.tree.setCurrentItem(item)
    assert panel.details_button.isEnabled()
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    box = _details(qtbot, panel)
    assert "0 imported, 3 rejected" in box.text()
    reasons = box.informativeText().splitlines()
    assert reasons == [f"bad-{i}.png: a text file named .png, not an image" for i in range(3)]
    box.close()
    qtbot.waitUntil(lambda: panel.findChild(QMessageBox, "jobDetailsBox") is None, timeout=5000)

    # A double-click on the row opens the same details.
    rect = panel.tree.visualItemRect(item)
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert "bad-0.png" in _details(qtbot, panel).informativeText()


def test_an_import_that_rejected_nothing_is_done(qtbot, panel, project, tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (32, 32), (120, 90, 60)).save(good)
    job = _run_import(project, panel._runner, [good])
    item = panel._items[job.id]
    assert item.text(1) == "Done"
    assert item.foreground(1).color() != STATE_COLOURS["problems"]


def test_clear_finished_removes_finished_jobs_and_keeps_interrupted(
    qtbot, panel, project, tmp_path
):
    good = tmp_path / "good.png"
    Image.new("RGB", (32, 32), (120, 90, 60)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    done = _run_import(project, panel._runner, [good])
    troubled = _run_import(project, panel._runner, [bad])
    stopped = job_service.enqueue(project, imports.plan_import(project, "Ada", [str(good)]), 1)
    job_service.set_state(project, stopped.id, INTERRUPTED)
    panel.reload()
    assert set(panel._items) == {done.id, troubled.id, stopped.id}

    assert panel.clear_button.isEnabled()
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert set(panel._items) == {stopped.id} and panel.tree.topLevelItemCount() == 1
    assert [j.id for j in job_service.list_jobs(project)] == [stopped.id]
    assert not panel.clear_button.isEnabled()
