"""The Timeline's render bar: frames done, where the render is, time left, and Cancel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.core.jobs import Progress
from studio.jobs.runner import JobEvent
from studio.ui.render_bar import RenderBar


def event(job="j1", kind="progress", done=0, message="", eta=None) -> JobEvent:
    return JobEvent(job, kind, "Render", Progress(done, 10, message, eta))


@pytest.fixture
def bar(qtbot):
    widget = RenderBar()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_it_follows_one_render_and_keeps_its_time_left_between_steps(bar):
    bar.clear()
    assert not bar.isVisible()
    bar.follow(event(kind="started", message="Loading the render engine…"))
    assert bar.isVisible() and bar.job_id == "j1"
    assert bar.bar.text() == "0 of 10 frames" and bar.status.text() == "Loading the render engine…"
    bar.follow(event(done=3, message="3 of 10", eta=42.0))
    bar.follow(event(done=3, message="Intro frame 4: step 2/20"))  # a step: no time of its own
    assert bar.bar.value() == 3 and bar.bar.text() == "3 of 10 frames"
    assert bar.status.text() == "Intro frame 4: step 2/20 · 0:42 left"
    bar.follow(event(job="j2", kind="queued", message="Waiting"))  # a render queued behind
    assert bar.job_id == "j1" and "Intro frame 4" in bar.status.text()
    bar.follow(event(job="j2", kind="done"))
    assert bar.isVisible()
    bar.follow(event(kind="cancelled"))
    assert not bar.isVisible() and bar.job_id is None
    bar.follow(event(job="j2", kind="started"))  # the next one is followed from its start
    assert bar.job_id == "j2"


def test_cancel_asks_once_and_says_what_happens(qtbot, bar):
    bar.follow(event(kind="started"))
    with qtbot.waitSignal(bar.cancel_requested) as asked:
        qtbot.mouseClick(bar.cancel_button, Qt.MouseButton.LeftButton)
    assert asked.args == ["j1"]
    assert not bar.cancel_button.isEnabled() and bar.cancel_button.text() == "Stopping…"
    assert bar.status.text().startswith("Stopping within this step")
    bar.follow(event(done=4, message="4 of 10"))  # progress does not cover what it said
    assert bar.status.text().startswith("Stopping within this step")
