"""`persona-studio refs ...` as a render node or a script calls it."""

import json
import shutil

from studio.__main__ import main
from studio.core.resources import resource_path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_reports_rejects_and_exits_1(capsys, demo_path, tmp_path):
    shoot = tmp_path / "shoot"
    (shoot / "b").mkdir(parents=True)
    shutil.copy(resource_path("demo/camera-operator.jpg"), shoot / "b" / "op.jpg")
    (shoot / "empty.png").write_bytes(b"")
    code, out, err = run(
        capsys,
        "refs",
        "import",
        demo_path,
        "--persona",
        "Nova Hale",
        shoot,
        "--tag",
        "day 2",
        "--json",
    )
    data = json.loads(out)
    assert code == 1
    assert [(r["path"].endswith("empty.png"), r["reason"]) for r in data["rejected"]] == [
        (True, "empty file (0 bytes)")
    ]
    assert [d["path"].endswith("op.jpg") for d in data["duplicates"]] == [True]  # same bytes
    assert "Importing" in err


def test_list_set_and_pick(capsys, demo_path):
    code, out, _ = run(capsys, "refs", "list", demo_path, "--json")
    refs = json.loads(out)["personas"][0]["references"]
    by_name = {r["file_name"]: r for r in refs}
    stranger = by_name["set-photo-0412.jpg"]
    assert code == 0 and stranger["status"] == "suspect" and stranger["faces"] == 1
    assert by_name["nova-closeup.jpg"]["face"]["size_px"] > 100
    assert json.loads(out)["personas"][0]["calibration"]["calibrated"] is True

    code, out, _ = run(
        capsys,
        "refs",
        "set",
        demo_path,
        stranger["id"][:12],
        "--status",
        "quarantined",
        "--tag",
        "not her",
        "--json",
    )
    changed = json.loads(out)["changed"]
    assert code == 0 and changed["status"][stranger["id"]] == {
        "old": "pending",
        "new": "quarantined",
    }
    code, out, _ = run(capsys, "refs", "list", demo_path, "--persona", "Nova Hale")
    assert "quarantined" in out and "set-photo-0412.jpg" in out

    code, out, _ = run(
        capsys, "refs", "pick", demo_path, "--persona", "Nova Hale", "--count", "3", "--json"
    )
    data = json.loads(out)
    picks = data["picks"]
    # The demo's five references of Nova are one photo: one pick, the rest its copies.
    assert code == 0 and [p["file_name"] for p in picks] == ["nova-closeup.jpg"]
    assert len(picks[0]["copies"]) == 4 and stranger["id"] not in {
        c["id"] for c in picks[0]["copies"]
    }
    assert picks[0]["pose_gap"] < data["tolerance"] == 15.0 and data["pose_note"] == ""
    assert data["warnings"] == [data["note"]] and data["note"].startswith(
        "Only 1 distinct photo of Nova Hale for 3 picks"
    )


def test_pick_prints_each_pick_its_copies_and_the_pose_warning(capsys, demo_path):
    code, out, _ = run(capsys, "refs", "pick", demo_path, "--persona", "Nova Hale", "--yaw", "30")
    lines = out.splitlines()
    assert code == 0 and "nova-closeup.jpg" in lines[0]
    assert lines[0].endswith("° from the shot's pose")
    assert lines[1].split() == [
        "copies",
        "left",
        "out:",
        "nova-medium.jpg,",
        "nova-mirrored.jpg,",
        "nova-portrait.jpg,",
        "nova-warm-grade.jpg",
    ]
    assert lines[2].startswith("warning: Only 1 distinct photo of Nova Hale for 4 picks")
    assert lines[3].startswith("warning: No reference within 15° of the shot's pose, yaw +30°")
    assert len(lines) == 4


def test_unknown_reference_id_is_a_clear_error(capsys, demo_path):
    code, _, err = run(capsys, "refs", "set", demo_path, "zzzz", "--status", "approved")
    assert code == 1 and "No reference has the id 'zzzz'" in err
