"""The project store: create, open, pragmas, transactions, migrations, copies and backups."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from studio import __version__
from studio.core.errors import ProjectError, ProjectLockedError, ReadOnlyProjectError
from studio.project import migrations
from studio.project.blobs import put_asset, put_blob
from studio.project.store import APP_ID, Project
from tests.project.helpers import add_persona, add_version

AUTHORED = {
    "personas",
    "persona_versions",
    "persona_drafts",
    "blobs",
    "assets",
    "reference_images",
    "shots",
    "shot_personas",
    "frames",
    "frame_reviews",
    "takes",
    "settings",
    "jobs",
    "job_unit_results",
    "models",
    "persona_models",
    "shot_render",
    "job_units",
}


def raw(path, sql):
    """Read a file with plain sqlite3, bypassing the store."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_create_close_reopen_keeps_data(project_path):
    project = Project.create(project_path)
    pid = add_persona(project, "Ada")
    add_version(project, pid, 1, {"look": "red coat"})
    project.close()
    assert not project_path.with_name("film.pstudio-wal").exists()  # checkpointed on close

    with Project.open(project_path) as again:
        assert again.query("select name from personas") == [{"name": "Ada"}]
        rows = again.query("select record from persona_versions where persona_id = ?", (pid,))
        assert rows == [{"record": '{"look": "red coat"}'}]
        assert again.took_over_lock is None
        assert again.read_only is False


def test_file_settings_and_meta(project, project_path):
    assert project.query("pragma journal_mode") == [{"journal_mode": "wal"}]
    assert project.query("pragma foreign_keys") == [{"foreign_keys": 1}]
    assert project.query("pragma synchronous") == [{"synchronous": 2}]  # FULL
    assert project.query("pragma busy_timeout")[0]["timeout"] >= 1000
    assert project.query("pragma application_id")[0]["application_id"] == APP_ID
    assert project.schema_version == len(migrations.MIGRATIONS) >= 1
    assert project.query("pragma user_version")[0]["user_version"] == project.schema_version
    meta = {r["key"]: r["value"] for r in project.query("select * from studio_meta")}
    assert meta["app"] == "Persona Studio"
    assert meta["schema_version"] == str(project.schema_version)
    assert meta["created_by"] == __version__
    assert meta["created_at"].startswith("20")


CACHES = {
    "cache_thumbnails",
    "cache_face_scans",
    "cache_faces",
    "cache_reference_audit",
    "cache_calibration",
    "cache_looks",
    "cache_drift",
    "cache_file_hashes",
}


def test_migrations_create_every_table(project):
    counts = project.counts()
    assert AUTHORED | CACHES | {"studio_meta"} == set(counts)
    assert set(counts.values()) == {0, 4} and counts["studio_meta"] == 4


def test_every_foreign_key_column_leads_an_index(project):
    for table in AUTHORED | CACHES:
        fks = project.query(f"pragma foreign_key_list({table})")
        leading = set()
        for index in project.query(f"pragma index_list({table})"):
            cols = project.query(f"pragma index_info({index['name']})")
            leading.add(cols[0]["name"])
        for fk in fks:
            assert fk["from"] in leading, f"{table}.{fk['from']} has no index"
    for table in CACHES:  # caches can be dropped freely
        assert not project.query(f"pragma foreign_key_list({table})")


def test_foreign_keys_are_enforced_and_cascade(project):
    pid = add_persona(project)
    add_version(project, pid, 1)
    with pytest.raises(sqlite3.IntegrityError):
        add_version(project, "no-such-persona", 1)
    with project.atomic() as db:
        db.execute("delete from personas where id = ?", (pid,))
    assert project.counts()["persona_versions"] == 0


def test_create_refuses_an_existing_file(project_path):
    project_path.write_text("keep me")
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(project_path)
    assert project_path.read_text() == "keep me"
    assert not project_path.with_name("film.pstudio.lock").exists()


def test_create_needs_an_existing_folder(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        Project.create(tmp_path / "nowhere" / "film.pstudio")


def test_close_is_idempotent_and_releases_the_lock(project, project_path):
    lock = project_path.with_name("film.pstudio.lock")
    assert lock.exists()
    project.close()
    project.close()
    assert not lock.exists()
    with pytest.raises(ProjectError, match="closed"):
        project.query("select 1")
    with Project.open(project_path) as again:
        assert again.took_over_lock is None


def test_atomic_commits_or_rolls_back(project):
    with pytest.raises(RuntimeError):
        with project.atomic():
            add_persona(project, "Lost")
            raise RuntimeError("boom")
    assert project.query("select * from personas") == []

    with project.atomic():
        add_persona(project, "Outer")
        with pytest.raises(RuntimeError):
            with project.atomic():
                add_persona(project, "Inner")
                raise RuntimeError("inner only")
        assert project.query("select name from personas") == [{"name": "Outer"}]
    assert project.query("select name from personas") == [{"name": "Outer"}]


def test_query_returns_dicts_and_takes_params(project):
    add_persona(project, "Ada")
    add_persona(project, "Bo")
    rows = project.query("select name from personas where name > ? order by name", ("A",))
    assert rows == [{"name": "Ada"}, {"name": "Bo"}]
    assert project.query("select name from personas where name = :n", {"n": "Bo"}) == [
        {"name": "Bo"}
    ]


def test_writes_from_threads_are_serialised(project):
    pid = add_persona(project)
    errors = []

    def worker(start):
        try:
            for n in range(start, start + 25):
                with project.atomic():
                    add_version(project, pid, n)
                    project.query("select count(*) from persona_versions")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert project.counts()["persona_versions"] == 100


def test_read_only_reads_but_refuses_writes(project, project_path):
    add_persona(project, "Ada")
    project.close()
    with Project.open(project_path, read_only=True) as ro:
        assert ro.read_only
        assert ro.query("select name from personas") == [{"name": "Ada"}]
        assert ro.integrity() == "ok"
        with pytest.raises(ReadOnlyProjectError):
            with ro.atomic():
                pass
        with pytest.raises(ReadOnlyProjectError):
            ro.query("delete from personas")
        with pytest.raises(ReadOnlyProjectError):
            ro.drop_caches()
    assert not project_path.with_name("film.pstudio.lock").exists()
    assert raw(project_path, "select count(*) from personas") == [(1,)]


def test_drop_caches_empties_only_cache_tables(project):
    sha = put_blob(project, b"png bytes", "image/png")
    with project.atomic() as db:
        db["cache_thumbnails"].insert({"blob_sha": sha, "size": 64, "data": b"t"})
        db["cache_thumbnails"].insert({"blob_sha": "gone", "size": 64, "data": b"t"})
    assert project.counts()["cache_thumbnails"] == 2
    project.drop_caches()
    counts = project.counts()
    assert counts["cache_thumbnails"] == 0
    assert counts["blobs"] == 1


# -- migrations ---------------------------------------------------------------------------------


def _add_shot_colour(db):
    db.execute("alter table shots add column colour text default 'grey'")


def test_opening_an_older_file_backs_it_up_then_migrates(project_path, monkeypatch):
    with Project.create(project_path) as old:
        pid = add_persona(old, "Ada")
        add_version(old, pid, 1)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, _add_shot_colour])
    latest = len(migrations.MIGRATIONS)

    with Project.open(project_path) as project:
        assert project.schema_version == latest
        backups = project.backups()
        assert [b.name.split("-", 1)[1] for b in backups] == [
            f"before-migration-to-{latest}.pstudio"
        ]
        assert project.query("select name from personas") == [{"name": "Ada"}]
        assert project.counts()["persona_versions"] == 1
        with project.atomic() as db:
            db["shots"].insert({"id": "s1", "name": "Opening"})
        assert project.query("select colour from shots") == [{"colour": "grey"}]
        assert project.query("select value from studio_meta where key = 'schema_version'") == [
            {"value": str(latest)}
        ]
    # the backup is the file as it was: the old schema, the same data
    assert raw(backups[0], "pragma user_version") == [(latest - 1,)]
    assert raw(backups[0], "select name from personas") == [("Ada",)]
    assert raw(backups[0], "pragma journal_mode") == [("delete",)]


def test_a_version_zero_file_gets_every_migration(project_path, monkeypatch):
    monkeypatch.setattr(migrations, "MIGRATIONS", [])
    with Project.create(project_path) as empty:
        assert empty.schema_version == 0
        assert set(empty.counts()) == {"studio_meta"}
    monkeypatch.undo()
    with Project.open(project_path) as project:
        assert project.schema_version == len(migrations.MIGRATIONS)
        assert "personas" in project.counts()
        assert len(project.backups()) == 1


def test_read_only_never_migrates(project_path, monkeypatch):
    Project.create(project_path).close()
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, _add_shot_colour])
    with pytest.raises(ProjectError, match="Open it for writing once") as info:
        Project.open(project_path, read_only=True)
    assert type(info.value) is ProjectError
    assert raw(project_path, "pragma user_version") == [(len(migrations.MIGRATIONS) - 1,)]
    assert not project_path.with_name("film.pstudio.backups").exists()


def test_a_failing_migration_leaves_the_file_as_it_was(project_path, monkeypatch):
    with Project.create(project_path) as old:
        add_persona(old, "Ada")

    def broken(db):
        db.execute("create table half_done (x)")
        db.execute("insert into no_such_table values (1)")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    with pytest.raises(ProjectError, match="failed") as info:
        Project.open(project_path)
    assert f"before-migration-to-{len(migrations.MIGRATIONS)}" in str(info.value)
    monkeypatch.undo()
    with Project.open(project_path) as project:
        assert project.schema_version == len(migrations.MIGRATIONS)
        assert "half_done" not in project.counts()
        assert project.query("select name from personas") == [{"name": "Ada"}]


# -- copies and backups -------------------------------------------------------------------------


def test_save_copy_writes_an_identical_project_while_open(project, tmp_path):
    pid = add_persona(project, "Ada")
    for n in range(1, 4):
        add_version(project, pid, n)
    put_blob(project, b"\x89PNG" + bytes(range(256)) * 40, "image/png")
    model = tmp_path / "lora.safetensors"
    model.write_bytes(b"weights" * 1000)
    sha = put_asset(project, model, "lora")

    dest = project.save_copy(tmp_path / "copy.pstudio")
    assert dest == tmp_path / "copy.pstudio"
    assert not (tmp_path / "copy.pstudio-wal").exists()  # one self-contained file
    assert project.query("select count(*) as n from personas") == [{"n": 1}]  # still usable
    with Project.open(dest) as copy:
        assert copy.integrity() == "ok"
        assert copy.counts() == project.counts()
        for table in ("personas", "persona_versions", "blobs", "assets", "studio_meta"):
            sql = f"select * from {table} order by 1"
            assert copy.query(sql) == project.query(sql)
        copied = copy.assets_dir / sha[:2] / f"{sha}.safetensors"
        assert copied.read_bytes() == model.read_bytes()

    add_persona(project, "Bo")
    project.save_copy(dest)  # overwriting an earlier, closed copy is fine
    assert raw(dest, "select count(*) from personas") == [(2,)]


def test_save_copy_refuses_the_project_itself_and_open_projects(project, project_path, tmp_path):
    with pytest.raises(ProjectError, match="open project itself"):
        project.save_copy(project_path)
    other_path = tmp_path / "other.pstudio"
    with Project.create(other_path) as other:
        with pytest.raises(ProjectLockedError):
            project.save_copy(other_path)
        assert other.integrity() == "ok"
    assert not list(tmp_path.glob("*.saving"))


def test_backups_rotate_at_five_newest_first(project):
    pid = add_persona(project)
    made = []
    for n in range(1, 8):
        add_version(project, pid, n)
        made.append(project.backup(f"step {n}"))
    kept = project.backups()
    assert kept == made[::-1][:5]
    assert all(b.parent == project.backups_dir for b in kept)
    assert not made[0].exists() and not made[1].exists()
    assert kept[0].name.endswith("-step-7.pstudio")
    with Project.open(kept[0], read_only=True) as newest:
        assert newest.counts()["persona_versions"] == 7
    assert raw(kept[-1], "select count(*) from persona_versions") == [(3,)]
    assert not list(project.backups_dir.glob(".*"))  # no temporary files left


def test_integrity_is_ok_for_a_healthy_file(project):
    add_persona(project)
    assert project.integrity() == "ok"
