"""The live render preview: shown while a render sends previews, gone when the render ends."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.core.jobs import Progress
from studio.jobs.runner import JobEvent
from studio.ui.render_preview import RenderPreview


def jpeg(width: int, height: int, colour=(200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def step(job="j1", preview=None, label="", done=0) -> JobEvent:
    progress = Progress(done, 4, "Intro frame 1: step 2/30", preview=preview, preview_label=label)
    return JobEvent(job, "progress", "Render", progress)


@pytest.fixture
def preview(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    widget = RenderPreview()
    QVBoxLayout(host).addWidget(widget)
    host.resize(600, 220)
    host.show()
    qtbot.waitExposed(host)
    yield widget  # the host stays referenced while the test runs


@pytest.mark.parametrize("ending", ["done", "failed", "cancelled", "interrupted"])
def test_a_preview_shows_with_its_caption_and_goes_when_the_render_ends(preview, ending):
    assert not preview.isVisible()
    preview.show_event(step())  # a step without a preview shows nothing yet
    assert not preview.isVisible()
    preview.show_event(step(preview=jpeg(16, 9), label="Intro · frame 1 · step 2/30"))
    assert preview.isVisible() and preview.job_id == "j1"
    assert preview.caption.text() == "Intro · frame 1 · step 2/30"
    assert preview.picture.image().size().toTuple() == (16, 9)
    # Scaled to fit its box with the aspect kept.
    rect = preview.picture.picture_rect()
    assert rect.width() == preview.picture.width()
    assert abs(rect.width() / rect.height() - 16 / 9) < 0.05
    # Steps between previews keep the last one.
    preview.show_event(step(done=1))
    assert preview.isVisible() and preview.caption.text() == "Intro · frame 1 · step 2/30"
    preview.show_event(JobEvent("j1", ending, "Render", Progress(1, 4, "over")))
    assert not preview.isVisible() and preview.picture.image() is None


def test_the_newest_preview_wins_and_another_jobs_end_leaves_it(preview):
    preview.show_event(step(preview=jpeg(8, 8), label="Intro · frame 1 · step 1/30"))
    preview.show_event(step(preview=jpeg(8, 8, (10, 200, 30)), label="Intro · frame 1 · step 9/30"))
    assert preview.caption.text() == "Intro · frame 1 · step 9/30"
    pixel = preview.picture.image().pixelColor(4, 4)
    assert pixel.green() > 150 and pixel.red() < 60
    preview.show_event(JobEvent("other", "done", "Render", Progress(1, 1, "done")))
    assert preview.isVisible()
    preview.show_event(step(preview=b"not a picture", label="broken"))
    assert preview.caption.text() == "Intro · frame 1 · step 9/30"  # a bad preview is skipped


def test_a_preview_painted_offscreen_shows_its_colours(preview):
    preview.show_event(
        step(preview=jpeg(32, 32, (30, 90, 220)), label="Intro · frame 3 · step 5/8")
    )
    shot = preview.grab().toImage()
    rect = preview.picture.geometry()
    centre = shot.pixelColor(rect.center())
    assert centre.blue() > 180 and centre.red() < 80
    corner = shot.pixelColor(rect.topLeft())  # outside the square picture in its wide box
    assert not (corner.blue() > 180 and corner.red() < 80)
