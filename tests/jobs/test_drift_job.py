"""The drift analysis with the real dlib engine on the demo's footage: who passes, what is
flagged and why, incremental re-analysis, and a killed analysis resumed."""

from __future__ import annotations

import io
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.core.shots import ImportedFrame
from studio.jobs import drift_kinds
from studio.jobs.runner import JobRunner
from studio.project import shots as shot_rows
from studio.services import drift, personas
from studio.services import jobs as job_service
from studio.services.demo import write_demo_footage
from studio.services.projects import open_project

FRAMES = 16  # the demo's shots
CHILD = Path(__file__).with_name("drift_child.py")


def add_footage(project, folder: Path, frames: int = FRAMES) -> None:
    """The demo's footage as shots of Nova (stored directly; the footage job is tested apart)."""
    nova = personas.list_personas(project)[0]
    for shot_folder in write_demo_footage(folder, frames):
        stored = []
        for i, path in enumerate(sorted(shot_folder.iterdir())):
            data = path.read_bytes()
            w, h = Image.open(io.BytesIO(data)).size
            stored.append(ImportedFrame(i, i, i / 12.0, data, "image/jpeg", w, h))
        shot_rows.add_shot(project, shot_folder.name, [nova.id], stored, fps=12.0)


@pytest.fixture(scope="module")
def analysed(demo_file, tmp_path_factory):
    """A copy of the demo, whose footage the demo build imported and analysed (read-only)."""
    path = tmp_path_factory.mktemp("drift") / "demo.pstudio"
    shutil.copyfile(demo_file, path)
    with open_project(path) as project:
        assert [s.name for s in shot_rows.list_shots(project)][:2] == ["Hangar walk", "Set visit"]
        assert drift.plan_analysis(project).frames == ()  # the demo comes analysed
    project = open_project(path, read_only=True)
    yield project
    project.close()


def _row(project, name):
    return next(r for r in drift.drift_rows(project) if r.shot.name == name)


def test_frames_of_the_persona_pass(analysed):
    row = _row(analysed, "Hangar walk")
    assert all(s is not None and s.state == "measured" and s.matched for s in row.scores)
    assert not row.flags().any()
    ident = row.array("identity")
    assert ident.min() >= row.thresholds.identity
    assert all(s.best_reference_id for s in row.scores)


def test_frames_of_another_person_are_flagged_with_the_reason(analysed):
    row = _row(analysed, "Set visit")
    stranger = range(FRAMES // 3, 2 * FRAMES // 3)
    flags = row.flags()
    assert flags[list(stranger)].all()
    assert not flags[[i for i in range(FRAMES) if i not in stranger]].any()
    v = drift.verdict(row, FRAMES // 2)
    assert v.state == "flagged" and "does not match Nova Hale" in v.why
    assert "identity" in v.reasons[0]


def test_a_frame_without_a_face_is_not_measurable(analysed):
    row = _row(analysed, "Cutaways")
    v = drift.verdict(row, 0)
    assert v.state == "not measurable" and "no face found" in v.why
    assert not v.flagged and np.isnan(row.array("identity")[0])


def test_a_changed_outfit_colour_moves_the_wardrobe_score_past_its_threshold(analysed):
    row = _row(analysed, "Costume test")
    wardrobe = row.array("wardrobe")
    dyed = list(range(FRAMES // 3, 3 * FRAMES // 4))
    kept = [i for i in range(FRAMES) if i not in dyed]
    t = row.thresholds.wardrobe
    assert (wardrobe[dyed] > t).all(), wardrobe
    assert (wardrobe[kept] < t).all(), wardrobe
    assert any("wardrobe" in r for r in drift.verdict(row, dyed[0]).reasons)


def test_a_lighting_change_moves_the_lighting_score(analysed):
    row = _row(analysed, "Golden hour")
    light = row.array("lighting")
    relit, kept = light[FRAMES // 2 :], light[: FRAMES // 2]
    assert relit.min() > kept.max(), light
    assert (relit > row.thresholds.lighting).all(), light
    assert (kept < row.thresholds.lighting).all(), light


def test_the_threshold_moves_the_flags_without_analysing_again(analysed):
    row = _row(analysed, "Hangar walk")
    ident = row.array("identity")
    strict = drift.core.Thresholds(identity=float(np.median(ident)))
    assert row.flags(strict).tolist() == (ident < np.median(ident)).tolist()
    assert 0 < row.flags(strict).sum() < FRAMES
    assert not row.flags().any()


def test_re_analysis_of_unchanged_frames_calls_no_model(analysed, tmp_path, monkeypatch):
    path = tmp_path / "again.pstudio"
    shutil.copyfile(analysed.path, path)
    monkeypatch.setattr(
        drift_kinds, "_load_face_engine", lambda *a: pytest.fail("a model was loaded")
    )
    with open_project(path) as project:
        spec = drift.plan_analysis(project)
        assert spec.frames == () and spec.scan == ()
        job = JobRunner(project).run(spec)
        assert job.state == "done" and "already analysed" in job.message


def _scores(project):
    return {(r.shot.name, i): s for r in drift.drift_rows(project) for i, s in enumerate(r.scores)}


def test_a_new_version_keeps_every_score_whose_inputs_it_does_not_change(
    analysed, tmp_path, monkeypatch
):
    path = tmp_path / "eyes.pstudio"
    shutil.copyfile(analysed.path, path)
    with open_project(path) as project:
        before = _scores(project)
        nova = personas.list_personas(project)[0]
        record = personas.get_version(project, nova.id).record
        record["face"]["eye_colour"] = "green"
        record["lighting"]["colour_temperature_k"] = 3200  # skin is never compared with it
        record["style"] = {"medium": "oil painting"}
        personas.save_version(project, nova.id, record, "green eyes, a painting")
        assert _scores(project) == before
        assert not any(s.stale for s in before.values() if s)
        assert drift.stale_scores(project, nova.id) == {} and drift.stale_message({}) == ""
        assert drift.plan_analysis(project).frames == ()


def test_an_outfit_colour_marks_only_wardrobe_scores_stale_and_analyse_updates_them(
    analysed, tmp_path, monkeypatch
):
    path = tmp_path / "dyed.pstudio"
    shutil.copyfile(analysed.path, path)
    monkeypatch.setattr(
        drift_kinds, "_load_face_engine", lambda *a: pytest.fail("a model was loaded")
    )
    with open_project(path) as project:
        before = _scores(project)
        nova = personas.list_personas(project)[0]
        record = personas.get_version(project, nova.id).record
        record["wardrobe"]["outfits"][1]["garments"][0]["colour"] = "#6b1f2a"
        personas.save_version(project, nova.id, record, "a burgundy bomber")
        after = _scores(project)
        measured = [k for k, s in before.items() if s and s.state == "measured"]
        assert measured and all(after[k].stale == ("wardrobe",) for k in measured)
        assert all(after[k].identity == before[k].identity for k in measured)
        assert all(after[k].value("lighting") == before[k].lighting for k in measured)
        assert all(after[k].value("wardrobe") is None for k in measured)
        counts = drift.stale_scores(project, "Nova Hale")
        assert counts == {"wardrobe": len(measured)}
        assert drift.stale_message(counts).startswith(f"The wardrobe scores of {len(measured)} fr")
        row = _row(project, "Hangar walk")
        assert drift.verdict(row, 0).state == "stale"
        assert "wardrobe out of date" in drift.verdict(row, 0).why
        spec = drift.plan_analysis(project)
        assert len(spec.frames) == 5 * FRAMES and spec.scan == () and spec.relook == ()
        events = []
        assert JobRunner(project, events.append).run(spec).state == "done"
        # Each scored frame comes with its change record: its shot and itself.
        frame_shot = {f.id: f.shot_id for r in drift.drift_rows(project) for f in r.frames}
        records = [e.changes for e in events if e.changes is not None]
        assert sorted(next(iter(r.frames)) for r in records) == sorted(f for f, _ in spec.frames)
        assert all(r.shots == {frame_shot[next(iter(r.frames))]} for r in records)
        updated = _scores(project)
        assert not any(s.stale for s in updated.values())
        assert all(updated[k].identity == before[k].identity for k in measured)


def test_a_killed_analysis_resumes_with_no_frame_analysed_twice(project, tmp_path, monkeypatch):
    # A project of its own: none of these frames was scanned before.
    demo_path = project.path
    add_footage(project, tmp_path / "footage", 4)
    project.close()
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(demo_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        job_id = child.stdout.readline().split()[1]
        committed = [int(child.stdout.readline()) for _ in range(8)]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert committed == list(range(1, 9))
    project = open_project(demo_path)
    try:
        job = job_service.get_job(project, job_id)
        assert job.state == "interrupted"
        already = [u for u in job_service.done_units(project, job_id) if not u.startswith("ref:")]
        assert already  # some frames were committed before the kill
        analysed: list[int] = []
        real = drift_kinds._load_face_engine

        def counting(name, *options):
            engine = real(name, *options)
            many = engine.analyze_many
            engine.analyze_many = lambda images: analysed.append(len(images)) or many(images)
            return engine

        monkeypatch.setattr(drift_kinds, "_load_face_engine", counting)
        finished = JobRunner(project).run(job_id)
        assert finished.state == "done", finished.error
        assert sum(analysed) == 20 - len(already)
        assert all(s is not None for r in drift.drift_rows(project) for s in r.scores)
    finally:
        project.close()
