"""How a job ends: done, finished with problems (the reasons kept), cleared from the queue; and
an analysis counter that never runs past the frames its title names."""

from __future__ import annotations

from PIL import Image

from studio.core.states import CANCELLED, DONE, FAILED, INTERRUPTED, PROBLEMS
from studio.jobs.library import import_references
from studio.jobs.runner import JobRunner
from studio.services import drift, imports
from studio.services import jobs as job_service


def _pictures(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"ref-{i}.png"
        Image.new("RGB", (32, 32), (40 * i % 255, 90, 160)).save(path)
        paths.append(str(path))
    return paths


def test_an_import_that_imported_nothing_is_finished_with_problems(project, tmp_path):
    bad = [tmp_path / f"bad-{i}.png" for i in range(3)]
    for path in bad:
        path.write_text("not a picture")
    report = import_references(project, "Ada", [str(p) for p in bad])
    job = job_service.get_job(project, report.job_id)
    assert job.state == PROBLEMS and job.message == "0 imported, 3 rejected"
    reasons = job_service.problems(project, job.id)
    assert reasons == [f"bad-{i}.png: a text file named .png, not an image" for i in range(3)]


def test_an_import_that_rejected_none_is_done(project, tmp_path):
    report = import_references(project, "Ada", _pictures(tmp_path / "in", 2))
    job = job_service.get_job(project, report.job_id)
    assert job.state == DONE and job_service.problems(project, job.id) == []


def test_the_runner_says_a_job_ended_with_problems(project, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    events = []
    runner = JobRunner(project, events.append)
    job = runner.run(imports.plan_import(project, "Ada", [str(bad), *_pictures(tmp_path, 1)]))
    assert job.state == PROBLEMS
    last = events[-1]
    assert last.event == "done" and last.state == PROBLEMS


def test_clear_finished_keeps_interrupted_and_running_jobs(project, tmp_path):
    ids = {}
    for state in (DONE, PROBLEMS, FAILED, CANCELLED, INTERRUPTED, "running"):
        spec = imports.plan_import(project, "Ada", _pictures(tmp_path / state, 1))
        job = job_service.enqueue(project, spec, 1)
        job_service.set_state(project, job.id, state)
        ids[state] = job.id
    assert job_service.clear_finished(project) == 4
    left = {j.id: j.state for j in job_service.list_jobs(project)}
    assert left == {ids[INTERRUPTED]: INTERRUPTED, ids["running"]: "running"}
    assert job_service.done_units(project, ids[DONE]) == set()


def test_the_analysis_counts_frames_and_says_it_measures_references_first(demo_project, tmp_path):
    from tests.jobs.test_drift_job import add_footage

    with demo_project.atomic() as db:
        db.execute("delete from cache_looks")  # the references' looks are to be measured again
    add_footage(demo_project, tmp_path / "footage", 2)
    spec = drift.plan_analysis(demo_project)
    frames, refs = len(spec.frames), len(spec.ref_faces)
    assert frames and refs
    seen = []
    job = JobRunner(demo_project).run(spec, progress=seen.append)
    assert job.state in (DONE, PROBLEMS) and (job.done, job.total) == (frames, frames)
    assert seen and all(p.total == frames and p.done <= frames for p in seen)
    assert any(p.message.startswith("Measuring") and "reference" in p.message for p in seen)
    assert str(frames) in spec.title
