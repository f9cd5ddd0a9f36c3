"""The CLI's messages: each says what happened once, in words that fit the verb."""

import json

from studio.__main__ import main
from studio.services.projects import open_project


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_one_version_is_singular(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    code, out, _ = run(capsys, "persona", "list", p)
    assert code == 0 and "(v1, 1 version)" in out


def test_output_to_a_folder_says_it_is_a_folder(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    folder = tmp_path / "out"
    folder.mkdir()
    for args in (("persona", "export", p, "Ada", "-o", folder), ("report", p, "-o", folder)):
        code, _, err = run(capsys, *args)
        assert code == 1, args
        assert "is a folder" in err and "Give a file name" in err, err
        assert "free space" not in err and "Traceback" not in err
        assert err.count("\n") == 1


def test_a_missing_clip_is_named_once_and_exits_1(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    code, out, _ = run(capsys, "shots", "import", p, "--persona", "Ada", tmp_path / "nothere.mp4")
    assert code == 1
    line = next(ln for ln in out.splitlines() if "no such file" in ln)
    assert line.count("nothere.mp4") == 1, line


def test_an_import_that_refuses_every_file_exits_1(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    code, out, _ = run(capsys, "refs", "import", p, "--persona", "Ada", bad, "--no-audit")
    assert code == 1 and "0 imported, 1 rejected" in out
    code, out, _ = run(capsys, "shots", "import", p, "--persona", "Ada", bad)
    assert code == 1 and "1 file rejected" in out


def test_json_errors_print_a_document_on_stdout(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    code, out, err = run(capsys, "persona", "show", p, "Zed", "--json")
    assert code == 1
    doc = json.loads(out)
    assert "no persona 'Zed'" in doc["error"] and "hint" in doc
    assert err.startswith("persona-studio: ") and err.count("\n") == 1


def test_locked_project_suggests_only_what_the_verb_can_do(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    holder = open_project(p)
    try:
        code, _, err = run(capsys, "persona", "add", p, "Bea")
    finally:
        holder.close()
    assert code == 1 and "open for writing" in err
    assert "read-only" not in err and "run this command again" in err


def test_jobs_list_a_refused_import_with_its_reasons_and_clear_finished(capsys, tmp_path):
    p = tmp_path / "cast.pstudio"
    run(capsys, "new", p, "--persona", "Ada")
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    run(capsys, "refs", "import", p, "--persona", "Ada", bad, "--no-audit")
    code, out, _ = run(capsys, "jobs", p)
    assert code == 0 and "problems" in out
    assert "    bad.png: a text file named .png, not an image" in out.splitlines()
    code, out, _ = run(capsys, "jobs", p, "--json")
    assert json.loads(out)["jobs"][0]["problems"] == [
        "bad.png: a text file named .png, not an image"
    ]
    code, out, _ = run(capsys, "jobs", p, "--clear-finished")
    assert code == 0 and out.strip() == "Cleared 1 finished job."
    assert run(capsys, "jobs", p)[1].strip() == "No jobs."


def test_the_progress_line_says_the_extra_work_before_the_first_frame(capsys):
    from studio.cli.common import progress_printer
    from studio.core.jobs import Progress

    show = progress_printer("Analysing")
    show(Progress(0, 80, "Measuring 6 references first"))
    show(Progress(0, 80, "Measuring 5 references first"))
    show(Progress(1, 80, "1 of 80"))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Analysing: Measuring 6 references first"  # once when piped
    assert not any("5 references" in line for line in err)
    assert all("/80" in line for line in err[1:]) and not any("/86" in line for line in err)
