import threading
import time

import pytest

from studio.core.jobs import CancelToken
from studio.jobs.runner import JobRunner
from studio.services import jobs as job_service
from studio.services import library
from studio.services.projects import open_project


@pytest.fixture
def demo_project(demo_project):
    """The demo without its thumbnails (caches can be dropped), so the thumbnail job has work."""
    demo_project.drop_caches()
    return demo_project


@pytest.fixture
def demo_path(demo_path):
    from studio.project.store import Project

    with Project.open(demo_path) as project:
        project.drop_caches()
    return demo_path


def _thumbs(project):
    return {
        sha
        for sha in {r.blob_sha for r in library.list_references(project)}
        if library.get_thumbnail(project, sha, library.THUMBNAIL_SIZE)
    }


def test_thumbnail_job_commits_every_unit_and_reports_progress(demo_project):
    events = []
    runner = JobRunner(demo_project, events.append)
    job = runner.submit(library.plan_thumbnails(demo_project))
    done = runner.wait(job.id, timeout=60)
    assert done.state == "done" and (done.done, done.total) == (6, 6)
    assert len(_thumbs(demo_project)) == 6
    kinds = [e.event for e in events]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "done"
    progress = [e.progress.done for e in events if e.event == "progress"]
    assert progress == [1, 2, 3, 4, 5, 6]
    assert library.plan_thumbnails(demo_project) is None  # nothing left to plan


def test_cancel_then_resume_redoes_nothing_already_committed(demo_project, monkeypatch):
    from studio.engine import images

    calls: list[int] = []
    gate = threading.Event()
    real = images.thumbnail

    def slow(data, size):
        calls.append(len(data))
        if len(calls) == 2:
            gate.set()
            time.sleep(0.3)
        return real(data, size)

    monkeypatch.setattr(images, "thumbnail", slow)
    runner = JobRunner(demo_project)
    job = runner.submit(library.plan_thumbnails(demo_project))
    assert gate.wait(30)
    runner.cancel(job.id)
    stopped = runner.wait(job.id, timeout=30)
    assert stopped.state == "cancelled" and stopped.done == 2
    assert len(job_service.done_units(demo_project, job.id)) == 2

    resumed = runner.wait(runner.resume(job.id).id, timeout=30)
    assert resumed.state == "done" and resumed.done == 6
    assert len(calls) == 6  # two before the cancel, four after: none twice
    assert len(_thumbs(demo_project)) == 6


def test_unfinished_jobs_reappear_interrupted_after_reopening(demo_path):
    project = open_project(demo_path)
    spec = library.plan_thumbnails(project)
    job = job_service.enqueue(project, spec, len(spec.blob_shas))
    job_service.set_state(project, job.id, "running")
    project.close()  # as if the process died mid-job

    project = open_project(demo_path)
    try:
        assert job_service.get_job(project, job.id).state == "interrupted"
        finished = JobRunner(project).run(job.id)
        assert finished.state == "done" and len(_thumbs(project)) == 6
    finally:
        project.close()


def test_subprocess_execution_gives_the_same_results(demo_project):
    runner = JobRunner(demo_project, force_subprocess=True)
    job = runner.run(library.plan_thumbnails(demo_project))
    assert job.state == "done" and len(_thumbs(demo_project)) == 6


def test_cancel_reaches_a_subprocess_worker(demo_project):
    token = CancelToken()
    seen = []

    def progress(p):
        seen.append(p.done)
        if p.done >= 1:
            token.cancel()

    runner = JobRunner(demo_project, force_subprocess=True)
    job = runner.run(library.plan_thumbnails(demo_project), progress=progress, cancel=token)
    assert job.state == "cancelled"
    assert 1 <= job.done < 6 and len(_thumbs(demo_project)) == job.done


def test_verify_job_finds_a_rotten_blob(demo_project):
    runner = JobRunner(demo_project)
    ok = runner.run(library.plan_verify(demo_project))
    stored = demo_project.counts()["blobs"]
    assert ok.state == "done" and ok.message == f"All {stored} stored files are intact"
    sha = library.list_references(demo_project)[0].blob_sha
    with demo_project.atomic():
        demo_project.db.execute("update blobs set data = ? where sha256 = ?", [b"rot", sha])
    bad = runner.run(library.plan_verify(demo_project))
    assert bad.state == "failed" and sha[:12] in bad.error


def test_a_failing_unit_fails_the_job_with_its_message(demo_project, monkeypatch):
    from studio.engine import images

    def broken(data, size):
        raise OSError("disk full")

    monkeypatch.setattr(images, "thumbnail", broken)
    job = JobRunner(demo_project).run(library.plan_thumbnails(demo_project))
    assert job.state == "failed" and "disk full" in job.error


def test_resume_refuses_a_finished_job(demo_project):
    from studio.core.errors import JobError

    runner = JobRunner(demo_project)
    job = runner.run(library.plan_thumbnails(demo_project))
    with pytest.raises(JobError, match="only stopped jobs"):
        runner.resume(job.id)
