"""The import as a job: progress, cancel and resume, and a report that survives a restart."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.errors import JobError
from studio.core.jobs import CancelToken
from studio.engine import ingest
from studio.jobs.library import import_references, resume_import
from studio.jobs.runner import JobRunner
from studio.services import imports, library
from studio.services import jobs as job_service
from studio.services.projects import open_project


def _files(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(100 + i)
        im = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((96, 96))
        path = folder / f"img-{i:02d}.jpg"
        im.save(path, "JPEG", quality=90)
        out.append(str(path))
    (folder / "zz-bad.png").write_text("not an image")
    return out + [str(folder / "zz-bad.png")]


def _count_reads(monkeypatch) -> collections.Counter:
    reads: collections.Counter = collections.Counter()
    real = ingest.read_file

    def counting(path, thumb_size=256):
        reads[path] += 1
        return real(path, thumb_size)

    monkeypatch.setattr(ingest, "read_file", counting)
    return reads


def test_cancel_then_resume_imports_every_file_once(project, tmp_path, monkeypatch):
    files = _files(tmp_path / "in", 9)
    reads = _count_reads(monkeypatch)
    events = []
    runner = JobRunner(project, events.append)

    def cancel_at_three(event):
        if event.event == "progress" and event.progress.done == 3:
            runner.cancel(event.job_id)

    runner.add_listener(cancel_at_three)
    job = runner.submit(imports.plan_import(project, "Ada", [tmp_path / "in"]))
    stopped = runner.wait(job.id, timeout=60)
    assert stopped.state == "cancelled" and stopped.done == 3
    partial = imports.import_report(project, job.id)
    assert [p for p, _, _ in partial.imported] == files[:3]
    assert partial.pending == tuple(files[3:]) and not partial.complete
    assert "7 not yet imported" in partial.summary()

    resumed = runner.wait(runner.resume(job.id).id, timeout=60)
    # Some imported, one refused: finished, with its problem one click away.
    assert resumed.state == "problems" and resumed.done == 10
    assert resumed.message == "9 imported, 1 rejected"
    assert job_service.problems(project, job.id) == [
        f"{os.path.basename(files[9])}: a text file named .png, not an image"
    ]
    report = imports.import_report(project, job.id)
    assert [p for p, _, _ in report.imported] == files[:9] and report.complete
    assert report.rejected == ((files[9], "a text file named .png, not an image"),)
    refs = library.list_references(project)
    assert sorted(r.source_path for r in refs) == files[:9]  # none twice
    assert all(reads[p] >= 1 for p in files)
    assert all(reads[p] == 1 for p in files[:3])  # committed files are never read again
    progress = [e.progress.done for e in events if e.event == "progress"]
    assert progress[:3] == [1, 2, 3] and progress[-1] == 10


def test_convenience_import_cancels_and_resumes(project, tmp_path):
    files = _files(tmp_path / "in", 6)
    token = CancelToken()
    seen = []

    def progress(p):
        seen.append(p.done)
        if p.done == 2:
            token.cancel()

    first = import_references(project, "Ada", files, progress=progress, cancel=token)
    assert len(first.imported) == 2 and len(first.pending) == 5
    job = job_service.get_job(project, first.job_id)
    assert job.state == "cancelled"

    rest = resume_import(project, first.job_id)
    assert rest.complete and len(rest.imported) == 6 and len(rest.rejected) == 1
    assert len(library.list_references(project)) == 6

    with pytest.raises(JobError, match="not an import"):
        resume_import(project, JobRunner(project).submit(library.plan_verify(project)).id)


def test_report_is_rebuilt_after_reopening_the_project(tmp_path):
    from studio.services.projects import new_project

    files = _files(tmp_path / "in", 3)
    dup = tmp_path / "in" / "again.jpg"
    dup.write_bytes(Path(files[0]).read_bytes())
    path = tmp_path / "cast.pstudio"
    with new_project(path, "Ada") as project:
        report = import_references(project, "Ada", [*files, str(dup)])
        assert report.duplicates == ((str(dup), files[0]),)
    with open_project(path) as project:
        assert imports.import_report(project, report.job_id) == report
        job = job_service.get_job(project, report.job_id)
        assert job.state == "problems" and job.message == report.summary()  # zz-bad.png


def test_an_import_interrupted_by_a_crash_resumes_after_reopening(tmp_path, monkeypatch):
    from studio.services.projects import new_project

    files = _files(tmp_path / "in", 4)
    path = tmp_path / "cast.pstudio"
    with new_project(path, "Ada") as project:
        spec = imports.plan_import(project, "Ada", files)
        job = job_service.enqueue(project, spec, len(spec.paths))
        job_service.set_state(project, job.id, "running")  # the process died here
    with open_project(path) as project:
        assert job_service.get_job(project, job.id).state == "interrupted"
        report = resume_import(project, job.id)
        assert report.complete and len(report.imported) == 4
