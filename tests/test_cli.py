"""The headless CLI through its real entry point, as a user or a render node calls it."""

import json
import os
import subprocess
import sys

import pytest

from studio.__main__ import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("persona-studio ")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "persona-studio [PROJECT]" in capsys.readouterr().out


def test_new_list_show_and_json(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    assert run(capsys, "new", p, "--persona", "Ada")[0] == 0
    code, out, _ = run(capsys, "persona", "list", p, "--json")
    assert code == 0 and json.loads(out)["personas"][0]["name"] == "Ada"
    code, out, _ = run(capsys, "persona", "show", p, "Ada", "--json")
    data = json.loads(out)
    assert data["version"]["number"] == 1 and data["record"]["identity"]["name"] == "Ada"
    code, out, _ = run(capsys, "persona", "add", p, "Bea", "--json")
    assert code == 0 and json.loads(out)["persona"] == "Bea"


def test_export_edit_import_diff(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    f = tmp_path / "ada.json"
    assert run(capsys, "persona", "export", p, "Ada", "-o", f)[0] == 0
    record = json.loads(f.read_text())
    record["face"] = {"eye_colour": "hazel"}  # a new persona's face is unset
    f.write_text(json.dumps(record))
    code, out, _ = run(capsys, "persona", "import", p, f, "--json")
    assert code == 0 and json.loads(out)["version"]["number"] == 2
    code, out, _ = run(capsys, "persona", "diff", p, "Ada", "1", "2", "--json")
    changes = json.loads(out)["changes"]
    assert changes == [
        {"path": "face", "kind": "added", "old": None, "new": {"eye_colour": "hazel"}}
    ]
    code, out, _ = run(capsys, "persona", "diff", p, "Ada", "1")
    assert '+ face: {"eye_colour": "hazel"}' in out
    code, out, _ = run(capsys, "persona", "show", p, "Ada", "--history")
    assert "v2" in out and "Imported from ada.json" in out


def test_demo_check_and_jobs(capsys, tmp_path):
    p = tmp_path / "demo.pstudio"
    assert run(capsys, "demo", p)[0] == 0
    code, out, _ = run(capsys, "check", p, "--json")
    report = json.loads(out)
    assert code == 0 and report["integrity"] == "ok" and report["counts"]["personas"] == 1
    code, out, err = run(capsys, "check", p, "--deep", "--json")
    blobs = report["counts"]["blobs"]
    assert code == 0 and json.loads(out)["deep"] == f"All {blobs} stored files are intact"
    assert "Verifying" in err
    code, out, _ = run(capsys, "jobs", p, "--json")
    jobs = json.loads(out)["jobs"]
    assert [(j["kind"], j["state"]) for j in jobs] == [
        ("verify", "done"),
        ("drift", "done"),
        ("footage", "done"),
        ("audit", "done"),
        ("import", "done"),
    ]
    code, out, _ = run(capsys, "persona", "prompt", p, "Nova Hale", "laughing", "--json")
    assert "laughing" in json.loads(out)["positive"]


def test_user_errors_exit_1_with_one_line(capsys, tmp_path):
    text = tmp_path / "notes.pstudio"
    text.write_text("shopping list\n" * 50)
    for args in (
        ("check", text),
        ("persona", "list", tmp_path / "missing.pstudio"),
        ("demo", text),
        ("persona", "show", text, "Ada"),
    ):
        code, out, err = run(capsys, *args)
        assert code == 1, args
        assert err.startswith("persona-studio: ") and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_unknown_persona_names_the_cast(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    code, _, err = run(capsys, "persona", "show", p, "Zed")
    assert code == 1 and "no persona 'Zed'" in err and "Ada" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["persona", "frobnicate"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["new"])
    assert exit_.value.code == 2


def test_console_script_runs_headless(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "persona-studio")
    p = tmp_path / "x.pstudio"
    done = subprocess.run(
        [exe, "new", str(p), "--persona", "Ada", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["persona"] == "Ada"
    done = subprocess.run(
        [sys.executable, "-m", "studio", "check", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "integrity: ok" in done.stdout
