"""Reviewing from the command line: review, thresholds, reshoots, and the report as a job."""

from __future__ import annotations

import json

import pytest

from studio.cli import main
from studio.core.jobs import CancelToken
from studio.jobs.runner import JobRunner
from studio.project import shots as shot_rows
from studio.services import drift, personas, review
from studio.services.projects import open_project


def _run(argv: list[str]) -> int:
    """main's exit status, also for mistakes argparse itself reports (it exits with 2)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def _shots(path, capsys) -> dict[str, dict]:
    assert main(["shots", "list", str(path), "--json"]) == 0
    return {s["shot"]: s for s in _json(capsys)}


def test_review_a_range_numbered_as_the_heat_map_then_clear_it(demo_path, capsys):
    visit = _shots(demo_path, capsys)["Set visit"]
    worst = visit["worst_frame"]  # as shots list shows it: from 1
    first, last = worst - 1, worst + 1
    code = main(
        ["review", str(demo_path), "--shot", "set visit", "--frames", f"{first}-{last}",
         "--reshoot", "--note", "the set photographer", "--json"]
    )  # fmt: skip
    assert code == 0
    data = _json(capsys)
    assert data["shot"] == "Set visit" and data["changed"] == 3
    assert [f["frame"] for f in data["frames"]] == [first, worst, last]
    assert all(f["review"] == "reshoot" and f["changed"] for f in data["frames"])
    shown = next(f for f in data["frames"] if f["frame"] == worst)
    assert shown["timecode"] == visit["worst_timecode"]  # the same frame shots list names
    assert "does not match Nova Hale" in shown["why"]

    assert main(["reshoots", str(demo_path), "--json"]) == 0
    items = _json(capsys)["reshoots"]
    assert [(i["shot"], i["frame"]) for i in items] == [
        ("Set visit", n) for n in (first, worst, last)
    ]
    assert all(i["note"] == "the set photographer" and i["timecode"] for i in items)
    assert main(["reshoots", str(demo_path)]) == 0
    text = capsys.readouterr().out
    assert f"Set visit · frame {worst} · {visit['worst_timecode']}" in text
    assert "note: the set photographer" in text

    assert (
        main(["review", str(demo_path), "--shot", "Set visit", "--frames", "all", "--clear"]) == 0
    )
    assert "Cleared: 16 frames of Set visit (3 changed)" in capsys.readouterr().out
    with open_project(demo_path, read_only=True) as project:
        assert drift.reshoot_list(project) == []
        row = next(r for r in drift.drift_rows(project) if r.shot.name == "Set visit")
        notes = {row.reviews[f.id].note for f in row.frames if f.id in row.reviews}
        assert notes == {"the set photographer"}  # --clear keeps the note


def test_approve_a_list_and_note_only(demo_path, capsys):
    assert main(["review", str(demo_path), "--shot", "Costume test", "--frames", "1,3, 5",
                 "--approve"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["review", str(demo_path), "--shot", "Costume test", "--frames", "3",
                 "--note", "fine in the grade", "--json"]) == 0  # fmt: skip
    frame = _json(capsys)["frames"][0]
    assert frame["review"] == "approved" and frame["note"] == "fine in the grade"
    with open_project(demo_path, read_only=True) as project:
        row = next(r for r in drift.drift_rows(project) if r.shot.name == "Costume test")
        states = {
            i: row.reviews[f.id].state for i, f in enumerate(row.frames) if f.id in row.reviews
        }
    assert states == {0: "approved", 2: "approved", 4: "approved"}


@pytest.mark.parametrize(
    "argv, code, said",
    [
        (["--shot", "Nope", "--frames", "1", "--approve"], 1, "Hangar walk, Set visit"),
        (["--shot", "Set visit", "--frames", "12-17", "--approve"], 1, "frames 1-16"),
        (["--shot", "Set visit", "--frames", "0", "--approve"], 1, "frames 1-16"),
        (["--shot", "Set visit", "--frames", "9-3", "--approve"], 2, "backwards"),
        (["--shot", "Set visit", "--frames", "3-x", "--approve"], 2, "3-9, 3,5,7 or all"),
        (["--shot", "Set visit", "--frames", "3"], 2, "--reshoot, --approve, --clear"),
        (["--shot", "Set visit", "--frames", "3", "--approve", "--reshoot"], 2, "not allowed"),
        (["--shot", "Set visit", "--frames", "3", "--approve", "--persona", "Ada"], 1, "Nova Hale"),
    ],
)
def test_review_errors_say_what_is_valid(demo_path, capsys, argv, code, said):
    assert _run(["review", str(demo_path), *argv]) == code
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and len(err.strip().splitlines()) <= 5
    with open_project(demo_path, read_only=True) as project:
        assert not any(r.reviews for r in drift.drift_rows(project))  # nothing was changed


def test_thresholds_show_their_source_set_overrides_and_go_back(demo_path, capsys):
    path = str(demo_path)
    assert main(["thresholds", path, "--persona", "Nova Hale", "--json"]) == 0
    shown = _json(capsys)
    assert shown["identity"]["source"] == "calibrated" and not shown["changed"]
    with open_project(demo_path, read_only=True) as project:
        wardrobe = drift.thresholds(project, "Nova Hale").wardrobe
    assert shown["wardrobe"]["value"] == wardrobe
    assert shown["wardrobe"]["source"] in ("calibrated", "default")
    calibrated = shown["identity"]["value"]
    assert calibrated == shown["calibrated_identity"]

    assert main(["thresholds", path, "--persona", "nova hale", "--identity", "0.8",
                 "--disable", "lighting"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "0.800" in text and f"override; calibrated {calibrated:.3f}" in text
    assert "not checked" in text and "checking  identity, wardrobe (override)" in text
    assert _shots(demo_path, capsys)["Set visit"]["flagged"] == 0  # 0.82 passes 0.80

    assert main(["thresholds", path, "--persona", "Nova Hale", "--calibrated", "--json"]) == 0
    back = _json(capsys)
    assert (back["identity"]["value"], back["identity"]["source"]) == (calibrated, "calibrated")
    assert back["enabled"] == {"value": ["identity", "wardrobe"], "source": "override"}
    assert main(["thresholds", path, "--persona", "Nova Hale", "--enable", "lighting"]) == 0
    assert "checking  identity, wardrobe, lighting (default)" in capsys.readouterr().out
    assert _shots(demo_path, capsys)["Set visit"]["flagged"] == 5

    assert main(["thresholds", path, "--persona", "Nova Hale", "--identity", "0.9",
                 "--calibrated"]) == 2  # fmt: skip
    assert "--calibrated" in capsys.readouterr().err
    assert main(["thresholds", path, "--persona", "Nova Hale", "--identity", "1.5"]) == 1
    assert "between 0 and 1" in capsys.readouterr().err
    assert main(["thresholds", path, "--persona", "Nobody"]) == 1
    assert "Nova Hale" in capsys.readouterr().err
    assert _run(["thresholds", path, "--persona", "Nova Hale", "--disable", "colour"]) == 2


def test_reshoots_add_drifted_flags_what_the_window_would(demo_path, capsys):
    path = str(demo_path)
    assert main(["reshoots", path]) == 0
    assert "No frames flagged for reshoot" in capsys.readouterr().out
    assert main(["review", path, "--shot", "Golden hour", "--frames", "all", "--approve"]) == 0
    capsys.readouterr()
    assert main(["reshoots", path, "--add-drifted", "--json"]) == 0
    data = _json(capsys)
    assert data["added"] == 12  # 20 drifted, the 8 of Golden hour approved
    assert {i["shot"] for i in data["reshoots"]} == {"Set visit", "Costume test"}
    assert main(["reshoots", path, "--add-drifted", "--json"]) == 0
    assert _json(capsys)["added"] == 0


def test_shots_list_names_the_worst_frame_on_the_check_that_flagged_it(demo_path, capsys):
    shots = _shots(demo_path, capsys)
    costume, visit = shots["Costume test"], shots["Set visit"]
    assert costume["worst_on"] == "wardrobe" and costume["worst_flagged"]
    assert costume["worst_value"] > costume["thresholds"]["wardrobe"]
    assert visit["worst_on"] == "identity" and visit["worst_value"] < 0.9
    assert shots["Golden hour"]["worst_on"] == "lighting"
    assert all(s["expected"] == ["Nova Hale"] for s in shots.values())
    assert main(["shots", "list", str(demo_path)]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.startswith("Costume test (Nova Hale)"))
    assert f"worst wardrobe ΔE {costume['worst_value']:.1f} at" in line
    assert f"(frame {costume['worst_frame']})" in line


def test_report_runs_as_a_job_and_a_second_reuses_its_pictures(demo_path, tmp_path, capsys):
    out = tmp_path / "drift.html"
    assert main(["report", str(demo_path), "-o", str(out), "--json"]) == 0
    said = capsys.readouterr()
    assert json.loads(said.out)["summary"] == "5 shots, 80 frames, 20 flagged"
    assert "Writing the report" in said.err  # the progress line
    assert main(["jobs", str(demo_path), "--json"]) == 0
    jobs = [j for j in _json(capsys)["jobs"] if j["kind"] == "report"]
    assert len(jobs) == 1 and jobs[0]["state"] == "done" and jobs[0]["total"] > 0
    with open_project(demo_path) as project:
        again = review.plan_report(project, "html", tmp_path / "again.html")
        assert again.thumbs == ()  # every picture is in the thumbnail cache now
    assert out.read_text().count("<img alt='frame'") == 20


def test_a_cancelled_report_leaves_no_file(demo_path, tmp_path):
    out = tmp_path / "reports" / "drift.html"
    token = CancelToken()
    with open_project(demo_path) as project:
        spec = review.plan_report(project, "html", out)
        assert len(spec.thumbs) > 1
        # Cancel as the first picture is committed: the runner stops before the next one.
        job = JobRunner(project).run(
            spec, progress=lambda p: p.done and token.cancel(), cancel=token
        )
        assert job.state == "cancelled" and job.done == 1
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no half-written file


def test_report_from_a_project_open_elsewhere_writes_read_only(demo_path, tmp_path, capsys):
    out = tmp_path / "drift.csv"
    with open_project(demo_path):  # the window holds the writer's lock
        assert main(["report", str(demo_path), "-o", str(out)]) == 0
    assert "Wrote" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 81
    assert main(["report", str(demo_path), "-o", str(tmp_path / "r.txt")]) == 1
    assert "format" in capsys.readouterr().err


def test_import_with_two_personas_records_both(project, tmp_path, capsys):
    from PIL import Image

    personas.add_persona(project, "Bea")
    folder = tmp_path / "duet"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 24), (i * 40, 0, 0)).save(folder / f"f{i}.png")
    path = project.path
    project.close()
    code = main(["shots", "import", str(path), "--persona", "Ada", "--persona", "Bea",
                 str(folder), "--json"])  # fmt: skip
    assert code == 0 and _json(capsys)["imported"][0]["shot"] == "duet"
    with open_project(path, read_only=True) as p:
        shot = shot_rows.list_shots(p)[0]
        names = {personas.get_persona(p, pid).name for pid in shot.persona_ids}
    assert names == {"Ada", "Bea"}
    assert main(["shots", "list", str(path), "--json"]) == 0
    entries = _json(capsys)
    assert sorted(e["persona"] for e in entries) == ["Ada", "Bea"]
    assert all(e["expected"] == ["Ada", "Bea"] for e in entries)  # in the cast's order
    assert main(["shots", "list", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "duet (Ada, Bea): 3 frames"
    assert sorted(ln.split(":")[0] for ln in lines[1:]) == ["  Ada", "  Bea"]
    assert all("3 frames, 0 analysed" in ln for ln in lines[1:])
