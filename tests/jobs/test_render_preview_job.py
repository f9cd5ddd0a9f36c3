"""A render in the worker process sends live previews of its frames over the pipe as JPEGs."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studio.core.render import RenderSettings
from studio.jobs.runner import JobRunner
from studio.services import jobs as job_service
from studio.services import models as model_service
from studio.services import rendering
from studio.services import renders as render_service
from studio.services.projects import new_project
from tests.fixtures.tiny_models import SD15, save_tiny_model

pytestmark = pytest.mark.slow  # a worker process loads torch and a tiny model

SIZE = 32


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def cast(tmp_path):
    """A project with Ada, a tiny SD 1.5-shaped model and a 2-frame shot of 3 steps."""
    model = save_tiny_model(SD15, tmp_path / "models")
    project = new_project(tmp_path / "cast.pstudio", "Ada")
    spec = model_service.plan_register(project, [str(model.folder)], name="tiny-base")
    assert JobRunner(project).run(spec).state == "done"
    render_service.add_render_shot(
        project,
        "Intro",
        ["Ada"],
        RenderSettings(action="waving", frames=2, width=SIZE, height=SIZE, steps=3,
                       guidance=4.0, sampler="ddim"),
    )  # fmt: skip
    yield project
    project.close()


def test_a_worker_render_delivers_step_progress_with_a_decodable_jpeg_preview(cast):
    runner = JobRunner(cast, force_subprocess=True)
    previews, said = [], []
    runner.add_listener(
        lambda e: previews.append(e) if e.event == "progress" and e.progress.preview else None
    )
    runner.add_listener(lambda e: said.append(e.progress.message) if e.event == "progress" else 0)
    try:
        job = runner.run(rendering.plan_render(cast).spec)
    finally:
        runner.shutdown()
    assert job.state == "done", job.message
    # Before the first step it says what it waits for (the libraries, then the model).
    assert said[:2] == ["Loading the render engine…", "Intro: loading tiny-base…"]
    labels = [e.progress.preview_label for e in previews]
    # The first and last step of each frame at least (one frame a batch on the CPU).
    for frame in (1, 2):
        assert f"Intro · frame {frame} · step 1/3" in labels
        assert f"Intro · frame {frame} · step 3/3" in labels
    for event in previews:
        image = Image.open(io.BytesIO(event.progress.preview))
        assert image.format == "JPEG"
        assert image.size == (SIZE // 2, SIZE // 2)  # the tiny VAE halves the side
        assert event.job_id == job.id and event.progress.message.startswith("Intro frame")
    # Previews are shown, not kept: the stored job says where it stands in words.
    stored = job_service.get_job(cast, job.id)
    assert stored.message == "Rendered 2 frames of 1 shot"
