"""Rendering a shot end to end on the CPU with tiny models, through the paths users take.

Models are registered by the model manager (detected and hashed), the shot is made with the
render shots' use case, the render is planned from the persona record, and the job runs in
the runner (in its thread, or in the long-lived worker process) committing each frame as a
take with its provenance.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core.jobs import CancelToken
from studio.core.render import RenderSettings, frame_seed
from studio.jobs.runner import JobRunner
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.services import jobs as job_service
from studio.services import models as model_service
from studio.services import personas, rendering
from studio.services import renders as render_service
from studio.services.projects import new_project, open_project
from tests.fixtures.photos import sdist_photos  # noqa: F401, F811  (a fixture)
from tests.fixtures.tiny_models import SD15, save_tiny_lora, save_tiny_model, tiny_sd15_pipeline

pytestmark = pytest.mark.slow

SIZE = 32


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny SD 1.5-shaped model folder and a LoRA for it, written once for this module."""
    root = tmp_path_factory.mktemp("render-models")
    model = save_tiny_model(SD15, root)
    pipe = tiny_sd15_pipeline(root / "tok")
    lora = save_tiny_lora(pipe, root / "ada-look.safetensors", layout="kohya")
    return model, lora


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _register(project, path, **kw):
    spec = model_service.plan_register(project, [str(path)], **kw)
    job = JobRunner(project).run(spec)
    assert job.state == "done", job.message


def _cast(path: Path, tiny) -> Path:
    """A project with Ada, the tiny base, her LoRA and a 4-frame shot."""
    model, lora = tiny
    project = new_project(path, "Ada")
    try:
        _register(project, model.folder, name="tiny-base")
        _register(project, lora, name="ada-look", kind="lora", persona="Ada", weight=0.8)
        render_service.add_render_shot(
            project,
            "Intro",
            ["Ada"],
            RenderSettings(action="waving at the camera", frames=4, width=SIZE, height=SIZE,
                           steps=2, guidance=4.0),
        )  # fmt: skip
    finally:
        project.close()
    return path


@pytest.fixture
def cast(tmp_path, tiny):
    return _cast(tmp_path / "cast.pstudio", tiny)


def _shas(project, shot="Intro") -> dict[int, str]:
    shot = shot_rows.get_shot(project, shot)
    return {f.index: f.blob_sha for f in shot_rows.frames_of(project, shot.id)}


def test_a_shot_renders_as_takes_with_their_provenance(cast):
    with open_project(cast) as project:
        plan = rendering.plan_render(project)
        assert plan.frames == 4 and plan.spec.shots[0].loras[0].weight == 0.8
        events = []
        job = JobRunner(project, events.append).run(plan.spec)
        assert job.state == "done", job.message
        shot = shot_rows.get_shot(project, "Intro")
        takes = render_rows.current_takes(project, shot.id)
        assert sorted(takes) == [0, 1, 2, 3]
        # Each committed frame comes with its change record, for the views to read just it.
        records = [e.changes for e in events if e.changes is not None]
        assert [r.shots for r in records] == [frozenset({shot.id})] * 4
        assert [set(r.frames) for r in records] == [{takes[i].frame_id} for i in range(4)]
        record = personas.rows.get_version(project, shot.persona_ids[0]).record
        settings = render_service.render_settings(project, "Intro")
        for index, take in takes.items():
            assert take.seed == frame_seed(
                record["identity"]["seed_base"], settings.seed_offset, index
            )
            assert (take.width, take.height, take.steps) == (SIZE, SIZE, 2)
            assert take.model_name == "tiny-base" and len(take.model_sha) == 64
            assert [(lo.name, lo.weight) for lo in take.loras] == [("ada-look", 0.8)]
            assert "waving at the camera" in take.prompt and take.job_id == job.id
        assert len(set(_shas(project).values())) == 4  # four seeds, four different frames
        # Queryable provenance: the take of a seed is found by its column.
        found = render_rows.find_takes(project, seed=takes[2].seed)
        assert [t.id for t in found] == [takes[2].id]
        # Nothing is left to render while the takes are current.
        assert rendering.plan_render(project).empty


def test_frames_do_not_depend_on_the_batch_and_a_take_renders_again_exactly(cast):
    with open_project(cast) as project:
        runner = JobRunner(project)
        runner.run(rendering.plan_render(project, batch_size=1).spec)
        alone = _shas(project)
        again = rendering.plan_render(project, force=True, batch_size=4)
        assert again.frames == 4
        runner.run(again.spec)
        assert _shas(project) == alone
        shot = shot_rows.get_shot(project, "Intro")
        take = render_rows.current_takes(project, shot.id)[1]
        spec = rendering.plan_again(project, take.id)
        runner.run(spec)
        frame = shot_rows.frames_of(project, shot.id)[1]
        newest = render_rows.takes_of(project, frame.id)[-1]
        assert newest.id != take.id and newest.blob_sha == take.blob_sha
        assert newest.provenance["again_of"] == take.id


def test_a_changed_setting_renders_its_frames_again(cast):
    with open_project(cast) as project:
        JobRunner(project).run(rendering.plan_render(project).spec)
        render_service.set_render_settings(project, "Intro", guidance=7.0)
        plan = rendering.plan_render(project, frames="2-3")
        assert plan.frames == 2
        assert [i for i, _ in plan.spec.shots[0].seeds] == [1, 2]


def test_the_render_runs_in_the_worker_and_a_cancelled_render_resumes_to_the_same_frames(
    cast, tmp_path, tiny
):
    with open_project(cast) as project:
        JobRunner(project).run(rendering.plan_render(project).spec)
        reference = _shas(project)
    other = _cast(tmp_path / "other.pstudio", tiny)
    with open_project(other) as project:
        runner = JobRunner(project, force_subprocess=True)
        token = CancelToken()

        def stop_after_two(event):
            if event.event == "progress" and event.progress.done >= 2:
                token.cancel()

        runner.add_listener(stop_after_two)
        try:
            job = runner.run(rendering.plan_render(project).spec, cancel=token)
            assert job.state == "cancelled" and 2 <= job.done < 4
            runner._listeners.remove(stop_after_two)
            job = runner.run(job.id)
            assert job.state == "done"
        finally:
            runner.shutdown()
        assert _shas(project) == reference


def test_a_killed_cli_render_resumes_with_the_missing_frames_only(cast, tmp_path):
    with open_project(cast) as project:
        render_service.set_render_settings(project, "Intro", frames=6)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio", "render", str(cast), "--no-analyse", "--batch", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with open_project(cast, read_only=True) as project:
                if len(_shas(project)) >= 2:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker, mid-batch
    finally:
        proc.wait()
    with open_project(cast) as project:
        job = next(j for j in job_service.list_jobs(project) if j.kind == "render")
        before = _shas(project)
        assert 2 <= len(before) < 6
        resumed = JobRunner(project).run(job.id)
        assert resumed.state == "done"
        after = _shas(project)
        assert len(after) == 6 and {i: after[i] for i in before} == before
        # The resumed frames equal an uninterrupted render of the same shot.
        runner = JobRunner(project)
        runner.run(rendering.plan_render(project, force=True).spec)
        assert _shas(project) == after


def test_ip_adapter_renders_with_distinct_library_references_of_the_demo_persona(
    demo_project, tiny, tmp_path
):
    from tests.fixtures.tiny_adapters import save_adapter, save_image_encoder

    project = demo_project
    model, _ = tiny
    encoder = save_image_encoder(tmp_path / "image_encoder")
    pipe = tiny_sd15_pipeline(tmp_path / "tok")
    adapter = save_adapter(tmp_path / "ip-adapter_tiny.safetensors", "plain", pipe.unet)
    _register(project, model.folder, name="tiny-base")
    _register(project, adapter, name="nova-ip", kind="ip-adapter", family="sd15",
              encoder=str(encoder))  # fmt: skip
    persona = personas.list_personas(project)[0]
    render_service.add_render_shot(
        project,
        "Close-up",
        [persona.name],
        RenderSettings(action="smiling", frames=2, width=SIZE, height=SIZE, steps=2,
                       ip_adapters=(("nova-ip", 0.7),), references=4, yaw=30.0),
    )  # fmt: skip
    plan = rendering.plan_render(project, ["Close-up"])
    shot = plan.spec.shots[0]
    # The demo's references are variants (mirrored, cropped, regraded) of one portrait and a
    # stranger: one distinct photo of Nova, and the plan says why there are fewer than asked.
    assert len(shot.references) == 1
    print(plan.notes)
    assert any("30°" in note for note in plan.notes)  # and none of them is turned
    assert shot.adapters[0].model.encoder_path == str(encoder)
    job = JobRunner(project).run(plan.spec)
    assert job.state == "done", job.message
    takes = render_rows.current_takes(project, shot.shot_id)
    assert sorted(takes) == [0, 1]
    assert all(t.reference_shas == shot.references for t in takes.values())
    assert takes[0].adapters[0].name == "nova-ip" and takes[0].adapters[0].scale == 0.7


def test_a_shot_with_her_lora_plain_and_faceid_adapters_renders_from_distinct_photos(
    project,
    tiny,
    tmp_path,
    sdist_photos,  # noqa: F811
):
    """Ada's library holds three photos and a mirrored copy; her references are picked as three
    distinct photos, her LoRA and both adapters apply, FaceID reads her insightface vector."""
    import numpy as np
    from PIL import Image, ImageOps

    from studio.core.faces import Face
    from studio.jobs.library import audit_persona, import_references
    from studio.project import faces as face_rows
    from tests.fixtures.tiny_adapters import save_adapter, save_image_encoder

    folder = tmp_path / "shoot"
    folder.mkdir()
    for name in ("obama", "obama2", "obama3"):
        (folder / f"{name}.jpg").write_bytes(sdist_photos[name].read_bytes())
    ImageOps.mirror(Image.open(sdist_photos["obama"]).convert("RGB")).save(folder / "m.jpg")
    assert len(import_references(project, "Ada", [folder]).imported) == 4
    audit_persona(project, "Ada", "dlib")
    # Her references as insightface saw them: the same faces with 512-value identity vectors.
    engine = "insightface:buffalo_l:w600k_r50-0123456789ab"
    rng = np.random.default_rng(5)
    dlib_id = face_rows.audited_engines(project, personas.get_persona(project, "Ada").id)[0]
    vectors = {}
    for sha, faces in face_rows.scans(
        project, [r.blob_sha for r in personas_refs(project)], dlib_id
    ).items():
        vectors[sha] = rng.standard_normal(512).astype(np.float32)
        vectors[sha] /= np.linalg.norm(vectors[sha])
        face = faces[0]
        face_rows.put_scan(project, sha, engine, [Face(face.box, face.landmarks, 0.9,
                           face.size_px, embedding=vectors[sha])])  # fmt: skip

    model, lora = tiny
    pipe = tiny_sd15_pipeline(tmp_path / "tok")
    encoder = save_image_encoder(tmp_path / "image_encoder")
    plain = save_adapter(tmp_path / "ip-adapter_tiny.safetensors", "plain", pipe.unet)
    faceid = save_adapter(tmp_path / "ip-adapter-faceid_tiny.safetensors", "faceid", pipe.unet)
    _register(project, model.folder, name="tiny-base")
    _register(project, lora, name="ada-look", kind="lora", persona="Ada", weight=0.8)
    _register(project, plain, name="ada-ip", kind="ip-adapter", family="sd15",
              encoder=str(encoder))  # fmt: skip
    _register(project, faceid, name="ada-faceid", kind="ip-adapter", family="sd15")
    render_service.add_render_shot(
        project,
        "Portrait",
        ["Ada"],
        RenderSettings(action="listening", frames=2, width=SIZE, height=SIZE, steps=2,
                       ip_adapters=(("ada-ip", 0.6), ("ada-faceid", 0.5)), references=5),
    )  # fmt: skip
    plan = rendering.plan_render(project)
    shot = plan.spec.shots[0]
    assert len(shot.references) == 3 == len(set(shot.references))
    assert any("Only 3 distinct photos of Ada for 5 picks" in n for n in plan.notes)
    mean = np.mean([vectors[s] for s in shot.references], axis=0)
    assert np.allclose(shot.face_embedding, mean / np.linalg.norm(mean), atol=1e-6)
    assert [(u.model.name, u.model.variant, u.scale) for u in shot.adapters] == [
        ("ada-ip", "plain", 0.6),
        ("ada-faceid", "faceid", 0.5),
    ]
    job = JobRunner(project).run(plan.spec)
    assert job.state == "done", job.message
    takes = render_rows.current_takes(project, shot.shot_id)
    assert sorted(takes) == [0, 1]
    for take in takes.values():
        assert take.reference_shas == shot.references
        assert [(lo.name, lo.weight) for lo in take.loras] == [("ada-look", 0.8)]
        assert {a.name for a in take.adapters} == {"ada-ip", "ada-faceid"}


def personas_refs(project):
    from studio.project import references

    return references.list_references(project, personas.get_persona(project, "Ada").id)
