"""The `.pstudio` project file: create, open, lock, migrate, check, back up and restore.

One SQLite file in WAL mode with foreign keys on, written through one connection that worker
threads share under a re-entrant lock. Writes go inside `Project.atomic()`; reads through
`Project.query()` (or `project.db` inside an `atomic()` block). Copies are always made with the
SQLite backup API, never by copying a live file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from studio import __version__
from studio.core.errors import (
    DamagedProjectError,
    NewerSchemaError,
    NotAProjectError,
    ProjectError,
    ReadOnlyProjectError,
    StudioError,
)
from studio.core.ids import now_iso
from studio.project import migrations
from studio.project.lock import ProjectLock

if TYPE_CHECKING:
    import sqlite_utils

APP_ID = 0x50535444  # PRAGMA application_id, 'PSTD'
APP_NAME = "Persona Studio"
KEEP_BACKUPS = 5
BUSY_TIMEOUT_MS = 5000
SQLITE_HEADER = b"SQLite format 3\x00"

_SIDE_FILES = ("-wal", "-shm", "-journal")
_BACKUP_NAME = re.compile(r"^\d{8}T\d{9}Z-[A-Za-z0-9._-]+\.pstudio$")
# Primary SQLite result codes that mean something a user can act on.
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 8, 10, 11, 13
_SQLITE_CANTOPEN, _SQLITE_NOTADB, _SQLITE_BUSY, _SQLITE_LOCKED = 14, 26, 5, 6


class Project:
    """An open `.pstudio` project file."""

    path: Path
    read_only: bool
    schema_version: int
    took_over_lock: dict | None

    def __init__(
        self, path: Path, conn: sqlite3.Connection, *, read_only: bool, lock: ProjectLock | None
    ):
        self.path = Path(path)
        self.read_only = read_only
        self._db: sqlite_utils.Database | None = None
        self.schema_version = 0
        self.took_over_lock = lock.took_over if lock else None
        self._conn = conn
        self._file_lock = lock
        self._lock = threading.RLock()
        self._savepoints = itertools.count(1)
        self._closed = False

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the connection, made on first use (its import is slow, so the
        CLI's read-only verbs that only query never pay for it)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self._conn, execute_plugins=False)
        return self._db

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike) -> Project:
        """Create a new, empty project file; ProjectError if something is already there."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise ProjectError(
                f"{path} already exists.", hint="Choose another name, or open the existing project."
            )
        if not path.parent.is_dir():
            raise ProjectError(
                f"The folder {path.parent} does not exist.",
                hint="Create the folder first, or choose another place for the project.",
            )
        try:  # O_EXCL claims the name atomically, so two creators cannot both succeed
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise ProjectError(
                f"{path} already exists.", hint="Choose another name, or open the existing project."
            ) from None
        except OSError as exc:
            raise ProjectError(
                f"Cannot create {path} ({exc.strerror}).",
                hint="Check that the folder is writable and the disk has room.",
            ) from None
        lock = conn = None
        try:
            lock = ProjectLock(path).acquire()
            for suffix in _SIDE_FILES:  # a deleted file's leftovers must not pair with the new one
                _side(path, suffix).unlink(missing_ok=True)
            conn = _connect(path, "rw")
            _set_connection_pragmas(conn)
            _set_writer_pragmas(conn)
            project = cls(path, conn, read_only=False, lock=lock)
            with project.atomic():
                conn.execute(f"pragma application_id = {APP_ID}")
                conn.execute("create table studio_meta (key text primary key not null, value text)")
                conn.executemany(
                    "insert into studio_meta (key, value) values (?, ?)",
                    [
                        ("app", APP_NAME),
                        ("schema_version", "0"),
                        ("created_at", now_iso()),
                        ("created_by", __version__),
                    ],
                )
                conn.execute("pragma user_version = 0")
            for number, migration in enumerate(migrations.MIGRATIONS, start=1):
                project._migrate_to(number, migration, backup=None)
            project.schema_version = len(migrations.MIGRATIONS)
            return project
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if lock is not None:
                lock.release()
            for suffix in ("", *_SIDE_FILES):
                with contextlib.suppress(OSError):
                    _side(path, suffix).unlink(missing_ok=True)
            if isinstance(exc, sqlite3.Error):
                raise _user_error(exc, path) or ProjectError(
                    f"Cannot create {path.name}: {exc}."
                ) from exc
            raise

    @classmethod
    def open(cls, path: str | os.PathLike, *, read_only: bool = False) -> Project:
        """Open a project file, upgrading it first (after a backup) if it is older."""
        path = Path(path)
        _sniff(path)
        lock = None if read_only else ProjectLock(path).acquire()
        conn = None
        try:
            conn = _connect(path, "ro" if read_only else "rw")
            _set_connection_pragmas(conn)
            version = _check_file(conn, path)
            latest = len(migrations.MIGRATIONS)
            if version < latest and read_only:
                raise ProjectError(
                    f"{path.name} was made by an older Persona Studio (schema {version}; this "
                    f"version writes schema {latest}) and must be upgraded before it can be read.",
                    hint="Open it for writing once to upgrade it (a backup is made first).",
                )
            if not read_only:
                _set_writer_pragmas(conn)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if lock is not None:
                lock.release()
            if isinstance(exc, sqlite3.Error):
                raise _user_error(exc, path) or ProjectError(
                    f"Cannot open {path.name}: {exc}."
                ) from exc
            raise
        project = cls(path, conn, read_only=read_only, lock=lock)
        project.schema_version = version
        if version < latest:
            try:
                project._upgrade(version)
            except BaseException:
                project.close()
                raise
        return project

    def close(self) -> None:
        """Checkpoint the WAL, close the file and release the writer's lock; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if not self.read_only:
                    with contextlib.suppress(sqlite3.Error):
                        if self._conn.in_transaction:
                            self._conn.execute("rollback")
                        self._conn.execute("pragma optimize")
                        self._conn.execute("pragma wal_checkpoint(truncate)")
                self._conn.close()
            finally:
                if self._file_lock is not None:
                    self._file_lock.release()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        state = "closed" if self._closed else mode
        return f"<Project {self.path} ({state}, schema {self.schema_version})>"

    # -- reading and writing ------------------------------------------------------------------

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        """One transaction (a savepoint when nested); yields `db`, commits or rolls back."""
        if self.read_only:
            raise ReadOnlyProjectError(
                f"{self.path.name} is open read-only, so this change cannot be saved.",
                hint="Close it and open it for writing (close it in any other Persona Studio "
                "first).",
            )
        with self._lock:
            self._check_open()
            conn = self._conn
            if conn.in_transaction:
                name = f"studio_sp_{next(self._savepoints)}"
                conn.execute(f"savepoint {name}")
                try:
                    yield self.db
                except BaseException:
                    if conn.in_transaction:  # some errors end the whole transaction
                        conn.execute(f"rollback to {name}")
                        conn.execute(f"release {name}")
                    raise
                conn.execute(f"release {name}")
                return
            try:
                # IMMEDIATE takes the write lock now, so the commit cannot fail with BUSY.
                conn.execute("begin immediate")
            except sqlite3.Error as exc:
                raise _user_error(exc, self.path) or exc from None
            try:
                yield self.db
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("rollback")
                if isinstance(exc, sqlite3.Error) and (user := _user_error(exc, self.path)):
                    raise user from exc
                raise
            try:
                conn.execute("commit")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("rollback")
                raise _user_error(exc, self.path) or exc from None

    def query(self, sql: str, params: tuple | list | dict = ()) -> list[dict]:
        """Run one statement and return its rows as dicts."""
        with self._lock:
            self._check_open()
            try:
                cursor = self._conn.execute(sql, params)
                if cursor.description is None:
                    return []
                keys = [d[0] for d in cursor.description]
                return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]
            except sqlite3.Error as exc:
                user = _user_error(exc, self.path, read_only=self.read_only)
                if user is None:
                    raise
                raise user from None

    def integrity(self) -> str:
        """'ok', or the problems PRAGMA quick_check finds."""
        with self._lock:
            self._check_open()
            return _quick_check(self._conn)

    def counts(self) -> dict[str, int]:
        """The number of rows in every table, authored and cache."""
        with self._lock:
            self._check_open()
            return {
                name: self._conn.execute(f'select count(*) from "{name}"').fetchone()[0]
                for name in _table_names(self._conn)
            }

    def drop_caches(self) -> None:
        """Empty every regenerable `cache_*` table."""
        with self.atomic():
            for name in _table_names(self._conn):
                if name.startswith("cache_"):
                    self._conn.execute(f'delete from "{name}"')

    # -- copies and backups -------------------------------------------------------------------

    @property
    def assets_dir(self) -> Path:
        """`<file>.pstudio.assets/` beside the file, holding large model files by hash."""
        folder = _side(self.path, ".assets")
        if not self.read_only:
            folder.mkdir(exist_ok=True)
        return folder

    @property
    def backups_dir(self) -> Path:
        """`<file>.pstudio.backups/` beside the file."""
        return _side(self.path, ".backups")

    def save_copy(self, dest: str | os.PathLike) -> Path:
        """Write a complete copy of the project (and its assets) to `dest`; returns dest."""
        dest = Path(dest)
        if dest.resolve() == self.path.resolve() or (
            dest.exists() and os.path.samefile(dest, self.path)
        ):
            raise ProjectError(
                f"{dest.name} is the open project itself.",
                hint="Choose another name or folder for the copy.",
            )
        if dest.is_dir():
            raise ProjectError(f"{dest} is a folder.", hint="Give a file name for the copy.")
        if not dest.parent.is_dir():
            raise ProjectError(
                f"The folder {dest.parent} does not exist.", hint="Choose another place."
            )
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.saving")
        try:
            self._backup_into(tmp)
            # Hold the destination's writer lock so an open project there is never replaced.
            with ProjectLock(dest):
                for suffix in _SIDE_FILES:  # they belong to the file being replaced
                    _side(dest, suffix).unlink(missing_ok=True)
                os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        self._copy_assets(_side(dest, ".assets"))
        return dest

    def backup(self, reason: str) -> Path:
        """Snapshot the project into the backups folder; keeps the newest five."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", reason).strip("-.")[:60] or "backup"
        folder = self.backups_dir
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise ProjectError(
                f"Cannot create the backups folder {folder} ({exc.strerror}).",
                hint="Check that the project's folder is writable.",
            ) from None
        while (target := folder / f"{_stamp(ms=True)}-{slug}.pstudio").exists():
            time.sleep(0.002)
        tmp = folder / f".{target.name}.tmp"
        try:
            self._backup_into(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        for old in self.backups()[KEEP_BACKUPS:]:
            for suffix in ("", *_SIDE_FILES):
                with contextlib.suppress(OSError):
                    _side(old, suffix).unlink(missing_ok=True)
        return target

    def backups(self) -> list[Path]:
        """Backups of this project, newest first."""
        return _list_backups(self.path)

    # -- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ProjectError(
                f"{self.path.name} has been closed.", hint="Open the project again to use it."
            )

    def _backup_into(self, target: Path) -> None:
        with self._lock:
            self._check_open()
            if self._conn.in_transaction:
                raise ProjectError(
                    "Cannot copy the project in the middle of a change.",
                    hint="Finish the change first.",
                )
            dst = None
            try:
                dst = sqlite3.connect(str(target), isolation_level=None)
                self._conn.backup(dst)
                # A copy is one self-contained file, not a WAL database awaiting its -wal.
                dst.execute("pragma journal_mode = delete")
            except sqlite3.Error as exc:
                raise _user_error(exc, target) or ProjectError(
                    f"Cannot write the copy {target.name}: {exc}."
                ) from exc
            finally:
                if dst is not None:
                    dst.close()

    def _copy_assets(self, dest_folder: Path) -> None:
        rels = [_asset_relpath(r["sha256"], r["file_name"]) for r in self.query(
            "select sha256, file_name from assets"
        )]  # fmt: skip
        if any(c["name"] == "stored" for c in self.query("pragma table_info(blobs)")):
            # Large pictures kept beside the file (rendered frames), by hash under blobs/.
            rels += [
                Path(_BLOBS_FOLDER) / r["sha256"][:2] / r["sha256"]
                for r in self.query("select sha256 from blobs where stored = 'file'")
            ]
        source_folder = _side(self.path, ".assets")
        for rel in rels:
            src, dst = source_folder / rel, dest_folder / rel
            if not src.is_file() or dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)  # assets never change, so sharing the file is safe
            except OSError:
                shutil.copy2(src, dst)

    def _upgrade(self, from_version: int) -> None:
        latest = len(migrations.MIGRATIONS)
        backup = self.backup(f"before-migration-to-{latest}")
        for number in range(from_version + 1, latest + 1):
            self._migrate_to(number, migrations.MIGRATIONS[number - 1], backup=backup)
        self.schema_version = latest

    def _migrate_to(self, number: int, migration, *, backup: Path | None) -> None:
        conn = self._conn
        # Off for the migration so it may rebuild tables; checked explicitly before commit.
        conn.execute("pragma foreign_keys = off")
        try:
            with self.atomic():
                migration(self.db)
                broken = conn.execute("pragma foreign_key_check").fetchall()
                if broken:
                    raise ProjectError(f"{len(broken)} rows break a foreign key: {broken[:3]}")
                conn.execute(f"pragma user_version = {number}")
                conn.execute(
                    "insert or replace into studio_meta (key, value) values ('schema_version', ?)",
                    (str(number),),
                )
        except Exception as exc:
            where = f" A backup made before the upgrade is at {backup}." if backup else ""
            raise ProjectError(
                f"Upgrading {self.path.name} to schema {number} failed ({exc}). The file was "
                f"left at schema {number - 1}.{where}",
                hint="Report this problem; meanwhile use the version of Persona Studio that made "
                "the file.",
            ) from exc
        finally:
            conn.execute("pragma foreign_keys = on")


def restore(path: str | os.PathLike, backup: str | os.PathLike) -> Path | None:
    """Move a damaged project aside and restore `backup` into its place; returns the aside path.

    `backup` may be a path or a file name in the project's backups folder. Returns None when
    there was no file at `path` to move aside.
    """
    path, backup = Path(path), Path(backup)
    if not backup.exists() and not backup.is_absolute():
        in_folder = _side(path, ".backups") / backup
        backup = in_folder if in_folder.exists() else backup
    if not backup.is_file():
        raise ProjectError(
            f"There is no backup file at {backup}.",
            hint=f"Pick one of the backups in {_side(path, '.backups')}.",
        )
    if path.exists() and os.path.samefile(path, backup):
        raise ProjectError(
            "The backup and the project are the same file.", hint="Pick another backup."
        )
    src = _open_backup(backup, path)
    try:
        with ProjectLock(path):
            aside = None
            if path.exists():
                while (aside := _damaged_name(path)).exists():
                    time.sleep(1)
                os.replace(path, aside)
                for suffix in _SIDE_FILES:  # the WAL belongs to the damaged file, not the restore
                    if _side(path, suffix).exists():
                        os.replace(_side(path, suffix), _side(aside, suffix))
            tmp = path.with_name(f".{path.name}.restoring")
            dst = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                src.backup(dst)
                dst.execute("pragma journal_mode = delete")
            except sqlite3.Error as exc:
                raise _user_error(exc, path) or ProjectError(
                    f"Restoring {path.name} failed: {exc}.",
                    hint=f"The damaged file was kept as {aside}." if aside else None,
                ) from exc
            finally:
                dst.close()
            os.replace(tmp, path)
            return aside
    finally:
        src.close()


def _open_backup(backup: Path, path: Path) -> sqlite3.Connection:
    """A read-only connection to a backup that passed every check of a project file."""
    src = None
    try:
        _sniff(backup)
        src = _connect(backup, "ro")
        _check_file(src, backup)
        return src
    except (sqlite3.Error, StudioError) as exc:
        if src is not None:
            src.close()
        error = exc
        if isinstance(exc, sqlite3.Error):
            error = _user_error(exc, backup) or ProjectError(f"Cannot read {backup}: {exc}.")
        if isinstance(error, DamagedProjectError):
            problem = getattr(error, "problem", error.message)
            raise DamagedProjectError(
                f"The backup {backup.name} is damaged too ({problem}).",
                hint=f"Pick an older backup from {_side(path, '.backups')}.",
            ) from None
        raise error from None


# -- module helpers ----------------------------------------------------------------------------


def _side(path: Path, suffix: str) -> Path:
    """A file or folder named after the project: `<file>.pstudio<suffix>`."""
    return path.with_name(path.name + suffix)


_BLOBS_FOLDER = "blobs"  # studio.project.blobs.BLOBS_FOLDER: pictures kept beside the file


def _asset_relpath(sha: str, file_name: str | None) -> Path:
    return Path(sha[:2]) / f"{sha}{Path(file_name or '').suffix.lower()}"


def _stamp(*, ms: bool = False) -> str:
    now = datetime.now(UTC)
    text = now.strftime("%Y%m%dT%H%M%S")
    return f"{text}{now.microsecond // 1000:03d}Z" if ms else f"{text}Z"


def _damaged_name(path: Path) -> Path:
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.damaged-{_stamp()}{path.suffix or '.pstudio'}")


def _list_backups(path: Path) -> list[Path]:
    folder = _side(path, ".backups")
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _BACKUP_NAME.match(p.name) and p.is_file()]
    return sorted(found, key=lambda p: p.name, reverse=True)


def _shell_quote(path: Path) -> str:
    text = str(path)
    if sys.platform == "win32":  # pragma: no cover
        return f'"{text}"' if " " in text else text
    return shlex.quote(text)


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    # A URI so "ro" is enforced and "rw" never creates a missing file.
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    return sqlite3.connect(
        uri,
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
        isolation_level=None,
    )


def _set_connection_pragmas(conn: sqlite3.Connection) -> None:
    conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("pragma foreign_keys = on")


def _set_writer_pragmas(conn: sqlite3.Connection) -> None:
    # Only once the file is known to be ours: WAL mode is persistent and changes the file.
    mode = conn.execute("pragma journal_mode = wal").fetchone()[0]
    if mode.lower() != "wal":
        raise ProjectError(
            f"Cannot switch the project file to WAL mode (it stays in {mode} mode).",
            hint="Move the project to a local disk; network shares often lack WAL support.",
        )
    conn.execute("pragma synchronous = full")


def _sniff(path: Path) -> None:
    """Reject missing files and files that are not SQLite at all, before touching them."""
    if not path.exists():
        raise ProjectError(
            f"There is no project file at {path}.",
            hint="Check the path, or create a new project there.",
        )
    if path.is_dir():
        raise ProjectError(f"{path} is a folder, not a project file.", hint="Pick a .pstudio file.")
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise ProjectError(
            f"Cannot read {path} ({exc.strerror}).", hint="Check the file's permissions."
        ) from None
    hint = "Pick a .pstudio file made by Persona Studio, or create a new project."
    if not head:
        raise NotAProjectError(
            f"{path.name} is empty, so it is not a Persona Studio project.", hint=hint
        )
    is_prefix = len(head) < len(SQLITE_HEADER) and SQLITE_HEADER.startswith(head)
    if not head.startswith(SQLITE_HEADER) and not is_prefix:
        try:
            head.decode("utf-8")
            what = "a text file"
        except UnicodeDecodeError:
            what = "not a SQLite database"
        raise NotAProjectError(
            f"{path.name} is not a Persona Studio project: it is {what}.", hint=hint
        )
    if len(head) < 100:
        raise _damaged(path, f"it is cut short: only {len(head)} bytes long")


def _check_file(conn: sqlite3.Connection, path: Path) -> int:
    """Integrity, identity and schema checks of an open file; returns its schema version."""
    problems = _quick_check(conn)
    if problems != "ok":
        raise _damaged(path, problems)
    app_id = conn.execute("pragma application_id").fetchone()[0]
    has_meta = conn.execute(
        "select 1 from sqlite_master where type = 'table' and name = 'studio_meta'"
    ).fetchone()
    if app_id != APP_ID or not has_meta:
        raise NotAProjectError(
            f"{path.name} is a SQLite database from another application, not a Persona Studio "
            "project.",
            hint="Pick a .pstudio file made by Persona Studio, or create a new project.",
        )
    version = conn.execute("pragma user_version").fetchone()[0]
    row = conn.execute("select value from studio_meta where key = 'schema_version'").fetchone()
    with contextlib.suppress(TypeError, ValueError):
        version = max(version, int(row[0]))
    latest = len(migrations.MIGRATIONS)
    if version > latest:
        raise NewerSchemaError(
            f"{path.name} was made by a newer Persona Studio (schema {version}; this version "
            f"reads up to {latest}).",
            hint="Update Persona Studio to open it.",
        )
    return version


def _quick_check(conn: sqlite3.Connection) -> str:
    rows = [r[0] for r in conn.execute("pragma quick_check").fetchall()]
    return "ok" if rows == ["ok"] else "; ".join(rows[:5]) + (" ..." if len(rows) > 5 else "")


def _table_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        " order by name"
    ).fetchall()
    return [r[0] for r in rows]


def _damaged(path: Path, problem: str) -> DamagedProjectError:
    if len(problem) > 300:
        problem = problem[:300] + " ..."
    message = f"The project file {path.name} is damaged ({problem})."
    found = _list_backups(path)
    if found:
        newest = found[0]
        error = DamagedProjectError(
            message,
            hint=f"The newest backup is {newest}. Restore it with: persona-studio restore "
            f"{_shell_quote(path)} {_shell_quote(newest)}",
            backup=str(newest),
        )
    else:
        error = DamagedProjectError(
            message,
            hint=f"There is no backup of it in {_side(path, '.backups')}. If you saved a copy "
            "elsewhere, restore it with: persona-studio restore PROJECT BACKUP",
        )
    error.problem = problem  # what quick_check or SQLite said, for callers that rephrase
    return error


def _user_error(exc: sqlite3.Error, path: Path, *, read_only: bool = False) -> StudioError | None:
    """The StudioError a user can act on for a SQLite error, or None for a programming error."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text:
        return _damaged(path, text)
    if code == _SQLITE_READONLY:
        if read_only:
            return ReadOnlyProjectError(
                f"{path.name} is open read-only, so this change cannot be saved.",
                hint="Close it and open it for writing.",
            )
        return ProjectError(
            f"{path.name} cannot be written ({text}).",
            hint="Check the file's and folder's permissions, or open it read-only.",
        )
    if code == _SQLITE_FULL:
        return ProjectError(
            f"The disk holding {path.name} is full; the last change was not saved.",
            hint="Free some space and try again.",
        )
    if code == _SQLITE_IOERR:
        return ProjectError(
            f"A disk error occurred while using {path.name} ({text}).",
            hint="Check the disk; if the problem persists, restore a backup.",
        )
    if code == _SQLITE_CANTOPEN:
        return ProjectError(
            f"Cannot open {path.name} ({text}).", hint="Check the file's and folder's permissions."
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return ProjectError(
            f"{path.name} is busy: another program is using the database.",
            hint="Wait for it to finish, or close it, and try again.",
        )
    return None
