"""The audit job: incremental scans, cancel and resume, unreadable images, engine changes,
and the real dlib engine on the demo persona's photos."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from studio.core.jobs import CancelToken
from studio.core.resources import resource_path
from studio.jobs import base, library_kinds
from studio.jobs.runner import JobRunner
from studio.project import faces as face_cache
from studio.services import audit, library, personas
from studio.services import jobs as job_service
from tests.services.audit_helpers import ADA_SEED, FakeEngine, add_refs, face, identity, photo_of

ADA = identity(ADA_SEED)


def _ada(project):
    return personas.get_persona(project, "Ada").id


def _faces(keys):
    return {k: [face(photo_of(ADA, k))] for k in keys}


def test_a_second_audit_analyses_only_new_images(project, monkeypatch):
    faces = _faces(range(1, 6))
    add_refs(project, _ada(project), range(1, 4))
    engine = FakeEngine(faces).install(monkeypatch)
    runner = JobRunner(project)

    first = runner.run(audit.plan_audit(project, "Ada"))
    assert first.state == "done" and (first.done, first.total) == (3, 3)
    assert sorted(engine.analysed) == [1, 2, 3] and engine.loads == 1
    assert "Audited 3 of 3 references" in first.message

    add_refs(project, _ada(project), [4, 5])
    spec = audit.plan_audit(project, "Ada")
    assert len(spec.blob_shas) == 2 and spec.title == "Check 2 references of Ada"
    second = runner.run(spec)
    assert second.state == "done" and sorted(engine.analysed) == [1, 2, 3, 4, 5]

    third_spec = audit.plan_audit(project, "Ada")
    assert third_spec.blob_shas == () and third_spec.title.startswith("Refresh")
    third = runner.run(third_spec)
    assert third.state == "done" and third.total == 0
    assert len(engine.analysed) == 5 and engine.loads == 2  # no model loaded, none called
    assert "Audited 5 of 5 references" in third.message
    assert {a.status for a in audit.audit_rows(project, "Ada")} == {"ok"}


class PerImageEngine(FakeEngine):
    analyze_many = None  # the job then calls analyze image by image


def test_cancel_then_resume_analyses_each_image_once(project, monkeypatch):
    faces = _faces(range(1, 6))
    add_refs(project, _ada(project), faces)
    engine = PerImageEngine(faces).install(monkeypatch)
    gate = threading.Event()
    real = engine.analyze

    def slow(rgb):
        out = real(rgb)
        if len(engine.analysed) == 2:
            gate.set()
            time.sleep(0.3)
        return out

    engine.analyze = slow
    runner = JobRunner(project)
    job = runner.submit(audit.plan_audit(project, "Ada"))
    assert gate.wait(30)
    runner.cancel(job.id)
    stopped = runner.wait(job.id, timeout=30)
    assert stopped.state == "cancelled" and stopped.done == 2
    assert len(face_cache.blobs_without_scan(project, "fake-v1", _ada(project))) == 3
    rows = audit.audit_rows(project, "Ada")
    assert sum(r.faces is not None for r in rows) == 2  # scanned, awaiting the verdict
    assert all(r.status == "pending" for r in rows)

    resumed = runner.wait(runner.resume(job.id).id, timeout=30)
    assert resumed.state == "done" and resumed.done == 5
    assert sorted(engine.analysed) == [1, 2, 3, 4, 5]  # none twice
    assert {a.status for a in audit.audit_rows(project, "Ada")} == {"ok"}


def test_an_unreadable_image_is_reported_and_the_rest_audited(project, monkeypatch):
    add_refs(project, _ada(project), range(1, 5))
    bad = library.add_reference_bytes(
        project, _ada(project), b"this is not a picture", mime="image/png",
        file_name="broken.png", source_path="/photos/broken.png", width=8, height=8,
    )  # fmt: skip
    FakeEngine(_faces(range(1, 5))).install(monkeypatch)
    job = JobRunner(project).run(audit.plan_audit(project, "Ada"))
    assert job.state == "problems" and "1 image could not be read" in job.message
    assert bad.blob_sha[:12] in job.error
    rows = {a.reference.id: a for a in audit.audit_rows(project, "Ada")}
    assert rows[bad.id].status == "pending"
    assert sum(a.status == "ok" for a in rows.values()) == 4
    assert audit.plan_audit(project, "Ada").blob_shas == (bad.blob_sha,)  # retried next time


def test_an_engine_with_a_new_model_id_is_never_compared_with_the_old(project, monkeypatch):
    faces = _faces(range(1, 6))
    add_refs(project, _ada(project), range(1, 4))
    FakeEngine(faces, "fake-v1").install(monkeypatch)
    runner = JobRunner(project)
    runner.run(audit.plan_audit(project, "Ada"))

    upgraded = FakeEngine(faces, "fake-v2").install(monkeypatch)
    add_refs(project, _ada(project), [4])
    job = runner.run(audit.plan_audit(project, "Ada"))
    assert upgraded.analysed == [4]
    assert "3 images not yet checked with fake-v2: run the audit again" in job.message
    rows = audit.audit_rows(project, "Ada")
    assert [r.status for r in rows] == ["pending", "pending", "pending", "ok"]
    assert audit.calibration(project, "Ada").faces == 1  # v1 faces are not counted

    runner.run(audit.plan_audit(project, "Ada"))
    assert sorted(upgraded.analysed) == [1, 2, 3, 4]
    assert {r.status for r in audit.audit_rows(project, "Ada")} == {"ok"}
    assert audit.calibration(project, "Ada", "fake-v1").faces == 3  # the old cache, apart


def test_work_results_are_plain_json(project, monkeypatch):
    add_refs(project, _ada(project), [1, 2])
    FakeEngine({1: [face(photo_of(ADA, 1))], 2: []}).install(monkeypatch)
    spec = audit.plan_audit(project, "Ada")
    ctx = base.WorkContext(
        read_blob=lambda sha: library.read_blob(project, sha),
        asset_path=lambda sha: library.asset_path(project, sha),
        cancel=CancelToken(),
    )
    results = dict(library_kinds.Audit().work(spec, list(spec.blob_shas), ctx))
    back = json.loads(json.dumps(results))  # it could cross the worker's pipe
    faces = [base.face_from_result(f) for r in back.values() for f in r["faces"]]
    assert len(faces) == 1 and faces[0] == face(photo_of(ADA, 1))
    assert faces[0].embedding.tolist() == pytest.approx(photo_of(ADA, 1).tolist())


def _real_engine_or_skip():
    try:
        from studio.engine.faces import load_engine  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"studio.engine.faces does not import: {exc}")


@pytest.mark.slow
def test_real_dlib_engine_finds_the_camera_operator_suspect_in_the_demo(demo_project):
    _real_engine_or_skip()
    from PIL import Image

    project = demo_project
    nova = personas.list_personas(project)[0]
    im = Image.open(resource_path("demo/camera-operator.jpg")).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92)
    operator = library.add_reference_bytes(
        project, nova.id, buf.getvalue(), mime="image/jpeg", file_name="camera-operator.jpg",
        source_path="resources/demo/camera-operator.jpg", width=im.width, height=im.height,
    )  # fmt: skip
    job = JobRunner(project).run(audit.plan_audit(project, nova.id, "dlib"))
    assert job.state == "done", job.error
    rows = {a.reference.file_name: a for a in audit.audit_rows(project, nova.id)}
    cal = audit.calibration(project, nova.id)
    summary = {n: (a.status, a.faces, a.agreement, a.flags) for n, a in rows.items()}
    assert cal.calibrated, (cal.reason, summary)
    assert rows[operator.file_name].status == "suspect", (cal.rule, summary)
    nova_rows = [a for n, a in rows.items() if n.startswith("nova-")]
    assert len(nova_rows) == 5
    assert all(a.status == "ok" and a.agreement > cal.threshold for a in nova_rows), summary
    assert audit.pick_references(project, nova.id, count=3)
    assert job_service.get_job(project, job.id).state == "done"
