"""Motion shots end to end on the CPU: a tiny Wan image-to-video model registered by the model
manager animates a keyframe of the persona, rendered as a still, into a clip whose frames are
committed as takes.
"""

from __future__ import annotations

from studio.core import models as m
from studio.jobs.runner import JobRunner
from studio.services import models as model_service
from studio.services.projects import new_project
from tests.fixtures.tiny_video import tiny_wan_i2v  # noqa: F401  (a fixture)


def _register(project, path, **kw):
    job = JobRunner(project).run(model_service.plan_register(project, [str(path)], **kw))
    assert job.state == "done", job.message
    return model_service.registration_report(project, job.id)


def test_a_wan_image_to_video_folder_registers_as_a_video_model(tmp_path, tiny_wan_i2v):  # noqa: F811
    project = new_project(tmp_path / "p.pstudio", "Ada")
    try:
        report = _register(project, tiny_wan_i2v, name="wan")
        assert "Wan image-to-video model (diffusers folder)" in "\n".join(report.lines())
        status = model_service.model_status(project, "wan")
        assert (status.record.kind, status.record.family) == (m.VIDEO, m.WAN_I2V)
        assert status.record.format == m.DIFFUSERS and len(status.record.sha256) == 64
        assert status.present
    finally:
        project.close()
