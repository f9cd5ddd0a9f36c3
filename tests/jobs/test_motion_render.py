"""Motion shots end to end on the CPU: a tiny Wan image-to-video model registered by the model
manager animates a keyframe of the persona, rendered as a still, into a clip whose frames are
committed as takes with their provenance.
"""

from __future__ import annotations

import json

import pytest

from studio.__main__ import main
from studio.core import models as m
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken
from studio.core.render import RenderSettings, frame_seed
from studio.jobs.runner import JobRunner
from studio.project import blobs
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.services import export as export_service
from studio.services import models as model_service
from studio.services import personas, rendering, timeline
from studio.services import renders as render_service
from studio.services.projects import new_project, open_project
from tests.fixtures.tiny_models import SD15, save_tiny_model
from tests.fixtures.tiny_video import tiny_wan_i2v  # noqa: F401  (a fixture)

SIZE = 32
CLIP = 5  # the tiny Wan VAE packs 4 frames in one: 5, 9, 13... frames


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return save_tiny_model(SD15, tmp_path_factory.mktemp("motion-models")).folder


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _register(project, path, **kw):
    job = JobRunner(project).run(model_service.plan_register(project, [str(path)], **kw))
    assert job.state == "done", job.message
    return model_service.registration_report(project, job.id)


def _cast(path, tiny_base, wan):
    """A project with Ada, the tiny base, the tiny Wan model and a 5-frame motion shot."""
    project = new_project(path, "Ada")
    try:
        _register(project, tiny_base, name="tiny-base")
        _register(project, wan, name="wan")
        render_service.add_render_shot(
            project,
            "Walk",
            ["Ada"],
            RenderSettings(action="a slow walk", width=SIZE, height=SIZE, steps=2, guidance=1.0,
                           motion="wan", clip_frames=CLIP),
        )  # fmt: skip
    finally:
        project.close()
    return path


@pytest.fixture
def cast(tmp_path, tiny_base, tiny_wan_i2v):  # noqa: F811
    return _cast(tmp_path / "cast.pstudio", tiny_base, tiny_wan_i2v)


def _shas(project, shot="Walk") -> dict[int, str]:
    shot = shot_rows.get_shot(project, shot)
    return {f.index: f.blob_sha for f in shot_rows.frames_of(project, shot.id)}


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


def test_a_motion_shot_is_as_long_as_its_clip_and_names_a_video_model(cast):
    with open_project(cast) as project:
        settings = render_service.render_settings(project, "Walk")
        assert (settings.motion, settings.clip_frames, settings.frames) == ("wan", CLIP, CLIP)
        (lane,) = timeline.timeline_rows(project, ["Walk"])
        assert (lane.motion, lane.planned) == ("wan", CLIP)  # its lane says it is a clip
        settings = render_service.set_render_settings(project, "Walk", frames=9)
        assert (settings.clip_frames, settings.frames) == (9, 9)
        with pytest.raises(StudioError, match="not a video model"):
            render_service.set_render_settings(project, "Walk", motion="tiny-base")
        still = render_service.set_render_settings(project, "Walk", motion="")
        assert (still.motion, still.clip_frames, still.frames) == ("", 0, 9)


def test_shots_add_and_set_take_the_motion_options(cast, capsys):
    code = main(["shots", "add", str(cast), "Turn", "--persona", "Ada", "--motion", "WAN",
                 "--clip-frames", "9", "--size", "32x32", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    settings = json.loads(out)["settings"]
    assert (settings["motion"], settings["clip_frames"], settings["frames"]) == ("wan", 9, 9)
    assert main(["shots", "set", str(cast), "Turn", "--clip-frames", "13"]) == 0
    out, _ = capsys.readouterr()
    assert "wan, a clip of 13 frames" in out
    assert main(["shots", "set", str(cast), "Turn", "--motion", "tiny-base"]) != 0
    assert "not a video model" in capsys.readouterr().err


@pytest.mark.slow
def test_a_motion_shot_renders_its_keyframe_and_clip_as_takes(cast):
    with open_project(cast) as project:
        plan = rendering.plan_render(project)
        assert plan.spec.units()[0].endswith("/key") and plan.frames == CLIP
        job = JobRunner(project).run(plan.spec)
        assert job.state == "done", job.message
        assert job.message == f"Rendered {CLIP} frames and 1 keyframe of 1 shot"
        shot = shot_rows.get_shot(project, "Walk")
        keyframe = render_rows.get_keyframe(project, shot.id)
        assert keyframe is not None and blobs.get_blob(project, keyframe.blob_sha)
        record = personas.rows.get_version(project, shot.persona_ids[0]).record
        settings = render_service.render_settings(project, "Walk")
        seed = frame_seed(record["identity"]["seed_base"], settings.seed_offset, 0)
        assert keyframe.provenance["seed"] == seed
        assert keyframe.provenance["model_name"] == "tiny-base"
        takes = render_rows.current_takes(project, shot.id)
        assert sorted(takes) == list(range(CLIP))
        wan = model_service.model_status(project, "wan").record
        for take in takes.values():
            assert take.seed == seed and (take.width, take.height) == (SIZE, SIZE)
            motion = take.provenance["motion"]
            assert (motion["model_name"], motion["model_sha"]) == ("wan", wan.sha256)
            assert motion["keyframe_sha"] == keyframe.blob_sha
            assert (motion["clip_seed"], motion["clip_frames"]) == (seed, CLIP)
            assert "a slow walk" in take.prompt and take.job_id == job.id
        first = _shas(project)
        assert len(set(first.values())) > 1  # the clip moves
        # Its video names both models that made it.
        video = export_service.plan_export(project, "Walk", project.path.with_suffix(".mp4"))
        assert "model: tiny-base, wan" in video.comment
        # Nothing is left while the keyframe and the clip are current.
        assert rendering.plan_render(project).empty
        # The same seed animates the same clip again.
        again = rendering.plan_render(project, force=True)
        assert again.frames == CLIP
        assert JobRunner(project).run(again.spec).state == "done"
        assert _shas(project) == first
        assert render_rows.get_keyframe(project, shot.id).blob_sha == keyframe.blob_sha
        # A clip take renders again exactly, from the keyframe it was animated from.
        take = render_rows.current_takes(project, shot.id)[3]
        spec = rendering.plan_again(project, take.id)
        assert spec.shots[0].keyframe == keyframe.blob_sha and len(spec.units()) == 1
        assert JobRunner(project).run(spec).state == "done"
        frame = shot_rows.frames_of(project, shot.id)[3]
        newest = render_rows.takes_of(project, frame.id)[-1]
        assert newest.id != take.id and newest.blob_sha == take.blob_sha
        assert newest.provenance["again_of"] == take.id


@pytest.mark.slow
def test_a_changed_clip_setting_keeps_the_keyframe(cast):
    with open_project(cast) as project:
        JobRunner(project).run(rendering.plan_render(project).spec)
        shot = shot_rows.get_shot(project, "Walk")
        kept = render_rows.get_keyframe(project, shot.id)
        render_service.set_render_settings(project, "Walk", clip_frames=9, frames=9)
        plan = rendering.plan_render(project)
        render = plan.spec.shots[0]
        # The still's settings are unchanged, so its keyframe is reused, not rendered again.
        assert render.keyframe == kept.blob_sha and plan.frames == 9
        assert not any(u.endswith("/key") for u in plan.spec.units())
        render_service.set_render_settings(project, "Walk", action="a wave")
        assert rendering.plan_render(project).spec.shots[0].keyframe == ""


@pytest.mark.slow
def test_a_clip_cancelled_after_two_frames_resumes_to_the_same_frames(
    cast,
    tmp_path,
    tiny_base,
    tiny_wan_i2v,  # noqa: F811
):
    with open_project(cast) as project:
        JobRunner(project).run(rendering.plan_render(project).spec)
        reference = _shas(project)
    other = _cast(tmp_path / "other.pstudio", tiny_base, tiny_wan_i2v)
    with open_project(other) as project:
        shot = shot_rows.get_shot(project, "Walk")
        runner = JobRunner(project)
        token = CancelToken()

        def stop_after_two_clip_frames(event):
            if event.event == "progress" and event.progress.done >= 3:  # the keyframe and two
                token.cancel()

        runner.add_listener(stop_after_two_clip_frames)
        job = runner.run(rendering.plan_render(project).spec, cancel=token)
        assert job.state == "cancelled" and job.done == 3
        assert render_rows.rendered_frames(project, shot.id) == {0, 1}
        runner.shutdown()
        # Resumed as after a restart of the studio, in a fresh worker.
        job = JobRunner(project).run(job.id)
        assert job.state == "done", job.message
        assert _shas(project) == reference


@pytest.mark.slow
def test_a_clip_length_the_model_cannot_animate_fails_before_the_keyframe(cast):
    with open_project(cast) as project:
        render_service.set_render_settings(project, "Walk", clip_frames=6, frames=6)
        job = JobRunner(project).run(rendering.plan_render(project).spec)
        assert job.state == "failed"
        assert "5, 9, 13" in job.message and "Use 5 frames" in (job.error or "")
        shot = shot_rows.get_shot(project, "Walk")
        assert render_rows.get_keyframe(project, shot.id) is None
