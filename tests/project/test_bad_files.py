"""Bad project files: each gets its own error with a clear message, never a sqlite traceback."""

from __future__ import annotations

import random
import sqlite3

import pytest

from studio.core.errors import (
    DamagedProjectError,
    NewerSchemaError,
    NotAProjectError,
    ProjectError,
    ProjectLockedError,
    StudioError,
)
from studio.project import migrations
from studio.project.store import APP_ID, Project, restore
from tests.project.helpers import add_persona, add_version


def filled_project(path, versions=40):
    """A closed project with one persona and enough versions to span many pages."""
    with Project.create(path) as project:
        pid = add_persona(project, "Ada")
        for n in range(1, versions + 1):
            add_version(project, pid, n, {"n": n, "padding": "x" * 500})
    return pid


def open_error(path, read_only):
    """The error Project.open raises, checked to be a StudioError that leaves no lock behind."""
    try:
        Project.open(path, read_only=read_only).close()
    except BaseException as exc:  # anything else than a StudioError fails the test
        assert isinstance(exc, StudioError), f"{type(exc).__name__}: {exc}"
        assert not path.with_name(path.name + ".lock").exists()
        return exc
    pytest.fail(f"{path.name} opened")


def sqlite_file(path, sql, app_id=0):
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.execute(f"pragma application_id = {app_id}")
    conn.commit()
    conn.close()


def make_text(path):
    path.write_text("name: Ada\nlook: red coat\n")


def make_empty(path):
    path.write_bytes(b"")


def make_random(path):
    path.write_bytes(random.Random(7).randbytes(8192))


def make_other_app(path):
    sqlite_file(
        path,
        "create table notes (id integer primary key, body text);"
        "insert into notes (body) values ('hello');",
    )


def make_ours_without_meta(path):
    sqlite_file(path, "create table personas (id text);", app_id=APP_ID)


def make_half_of_existing(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def make_half(path):
    filled_project(path)
    make_half_of_existing(path)


def make_fifty_bytes(path):
    filled_project(path)
    path.write_bytes(path.read_bytes()[:50])


def make_scribbled(path):
    filled_project(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for p in range(2, len(data) // page, 3):  # b-tree pages, skipping the header page
        data[p * page : p * page + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))


CASES = [
    (make_text, NotAProjectError, "it is a text file"),
    (make_empty, NotAProjectError, "is empty"),
    (make_random, NotAProjectError, "not a SQLite database"),
    (make_other_app, NotAProjectError, "a SQLite database from another application"),
    (make_ours_without_meta, NotAProjectError, "a SQLite database from another application"),
    (make_half, DamagedProjectError, "is damaged"),
    (make_fifty_bytes, DamagedProjectError, "is damaged (it is cut short"),
    (make_scribbled, DamagedProjectError, "is damaged"),
]


@pytest.mark.parametrize("read_only", [False, True], ids=["write", "read"])
@pytest.mark.parametrize(("make", "error", "words"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_file_gets_its_own_error(project_path, make, error, words, read_only):
    make(project_path)
    before = project_path.read_bytes()
    exc = open_error(project_path, read_only)
    assert type(exc) is error
    assert words in str(exc)
    assert exc.hint, "every error says what to do"
    assert "Traceback" not in str(exc) and "sqlite3." not in str(exc)
    assert project_path.read_bytes() == before  # nothing was written to it


def test_damaged_without_backup_says_so(project_path):
    make_half(project_path)
    exc = open_error(project_path, False)
    assert exc.backup is None
    assert "There is no backup" in str(exc)


def test_missing_file(project_path):
    exc = open_error(project_path, False)
    assert type(exc) is ProjectError
    assert "There is no project file at" in str(exc)
    assert not project_path.exists()


def test_folder_instead_of_file(project_path):
    project_path.mkdir()
    exc = open_error(project_path, False)
    assert type(exc) is ProjectError and "is a folder" in str(exc)


def test_newer_schema(project_path):
    Project.create(project_path).close()
    conn = sqlite3.connect(project_path)
    newer = len(migrations.MIGRATIONS) + 1
    conn.execute(f"pragma user_version = {newer}")
    conn.commit()
    conn.close()
    for read_only in (False, True):
        exc = open_error(project_path, read_only)
        assert type(exc) is NewerSchemaError
        latest = len(migrations.MIGRATIONS)
        assert str(exc) == (
            f"film.pstudio was made by a newer Persona Studio (schema {newer}; this version reads"
            f" up to {latest}). Update Persona Studio to open it."
        )


def test_newer_schema_recorded_only_in_meta(project_path):
    Project.create(project_path).close()
    conn = sqlite3.connect(project_path)
    conn.execute("update studio_meta set value = '9' where key = 'schema_version'")
    conn.commit()
    conn.close()
    exc = open_error(project_path, False)
    assert type(exc) is NewerSchemaError and "schema 9" in str(exc)


def test_damaged_file_names_its_newest_backup_and_restore_brings_it_back(project_path):
    filled_project(project_path, versions=10)
    with Project.open(project_path) as project:
        project.backup("older")
        pid = project.query("select id from personas")[0]["id"]
        add_version(project, pid, 11)
        newest = project.backup("manual")
        add_version(project, pid, 12)  # lost with the damage
        for n in range(13, 40):
            add_version(project, pid, n, {"padding": "y" * 500})
    make_half_of_existing(project_path)
    damaged = project_path.read_bytes()

    exc = open_error(project_path, False)
    assert type(exc) is DamagedProjectError
    assert exc.backup == str(newest)
    assert f"The newest backup is {newest}" in str(exc)
    assert f"persona-studio restore {project_path} {newest}" in str(exc)

    aside = restore(project_path, exc.backup)
    assert aside.parent == project_path.parent
    assert aside.name.startswith("film.damaged-") and aside.suffix == ".pstudio"
    assert aside.read_bytes() == damaged
    with Project.open(project_path) as project:
        assert project.integrity() == "ok"
        numbers = [r["number"] for r in project.query("select number from persona_versions")]
        assert sorted(numbers) == list(range(1, 12))
        assert project.query("select name from personas") == [{"name": "Ada"}]


def test_restore_accepts_a_backup_name_and_keeps_the_wal_with_the_damaged_file(project_path):
    filled_project(project_path, versions=3)
    with Project.open(project_path) as project:
        name = project.backup("by-name").name
    project_path.with_name("film.pstudio-wal").write_bytes(b"stale wal")
    aside = restore(project_path, name)
    assert aside.with_name(aside.name + "-wal").read_bytes() == b"stale wal"
    assert not project_path.with_name("film.pstudio-wal").exists()
    with Project.open(project_path) as project:
        assert project.counts()["persona_versions"] == 3


def test_restore_refuses_a_damaged_backup_and_a_held_project(project_path, tmp_path):
    filled_project(project_path, versions=3)
    with Project.open(project_path) as project:
        good = project.backup("good")
        bad = tmp_path / "bad.pstudio"
        bad.write_bytes(good.read_bytes()[:1000])
        with pytest.raises(DamagedProjectError, match="damaged too"):
            restore(project_path, bad)
        with pytest.raises(ProjectLockedError):
            restore(project_path, good)
        assert project.integrity() == "ok"
    with pytest.raises(ProjectError, match="There is no backup file"):
        restore(project_path, tmp_path / "nothing.pstudio")
