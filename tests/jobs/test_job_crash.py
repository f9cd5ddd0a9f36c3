"""A process killed mid-job: the job comes back interrupted and resumes without redoing work."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from studio.jobs.runner import JobRunner
from studio.services import jobs as job_service
from studio.services.projects import open_project

CHILD = Path(__file__).with_name("job_child.py")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_job_resumes_with_no_unit_done_twice(demo_path, monkeypatch):
    from studio.project.store import Project

    with Project.open(demo_path) as project:
        project.drop_caches()  # so the thumbnail job has work
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(demo_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        job_id = child.stdout.readline().split()[1]
        committed = [int(child.stdout.readline()) for _ in range(2)]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert committed == [1, 2]

    project = open_project(demo_path)  # takes over the dead process's lock
    try:
        assert project.took_over_lock is not None
        job = job_service.get_job(project, job_id)
        assert job.state == "interrupted" and job.done >= 2
        already = job_service.done_units(project, job_id)

        from studio.engine import images

        redone = []
        real = images.thumbnail
        monkeypatch.setattr(images, "thumbnail", lambda d, s: redone.append(d) or real(d, s))
        finished = JobRunner(project).run(job_id)
        assert finished.state == "done" and finished.done == 6
        assert len(redone) == 6 - len(already)
    finally:
        project.close()
