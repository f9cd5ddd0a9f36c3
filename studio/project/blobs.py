"""Content-addressed storage: small blobs (images) inside the file, large assets beside it.

Both are keyed by the sha256 of their bytes, so the same content is stored once. Assets
(model files) live in `<file>.pstudio.assets/<sha[:2]>/<sha><suffix>` and are listed in the
`assets` table; each is written under a temporary name and renamed into place, so a crash
never leaves a half-written file under a hash name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from studio.core.errors import NotFoundError, ProjectError, ReadOnlyProjectError
from studio.core.ids import now_iso
from studio.project.store import Project, _asset_relpath

_CHUNK = 1 << 20
# Pictures larger than this, when the caller allows it (rendered frames), are kept as files in
# the assets folder: a project of ten thousand 1024px renders stays quick to open and to back
# up (bench/bench_project.py measures it), and the files, named by hash, never change.
LARGE_BLOB = 128 * 1024
BLOBS_FOLDER = "blobs"


def put_blob(project: Project, data: bytes, mime: str, *, large_outside: bool = False) -> str:
    """Store bytes once and return their sha256 hex digest.

    large_outside: keep bytes over LARGE_BLOB in the assets folder instead of the file.
    """
    sha = hashlib.sha256(data).hexdigest()
    outside = large_outside and len(data) > LARGE_BLOB
    if outside and not has_blob(project, sha):
        _write_blob_file(project, sha, data)
    with project.atomic() as db:
        db.execute(
            "insert or ignore into blobs (sha256, size, mime, data, created_at, stored)"
            " values (?, ?, ?, ?, ?, ?)",
            (sha, len(data), mime, b"" if outside else bytes(data), now_iso(),
             "file" if outside else "inline"),
        )  # fmt: skip
    return sha


def blob_file(project: Project, sha: str) -> Path:
    """Where a blob kept outside the file lives."""
    return project.path.with_name(project.path.name + ".assets") / BLOBS_FOLDER / sha[:2] / sha


def _write_blob_file(project: Project, sha: str, data: bytes) -> None:
    target = blob_file(project, sha)
    if target.is_file() and target.stat().st_size == len(data):
        return
    if project.read_only:
        raise ReadOnlyProjectError(
            f"{project.path.name} is open read-only, so the picture cannot be stored.",
            hint="Open the project for writing.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "wb") as writer:
            writer.write(data)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(tmp, target)  # the file is whole under its hash name before its row exists
        _fsync_dir(target.parent)
    except OSError as exc:
        raise ProjectError(
            f"Cannot write a picture into {target.parent} ({exc.strerror}).",
            hint="Check the free disk space and that the project's folder is writable.",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def has_blob(project: Project, sha: str) -> bool:
    """Whether a blob with this hash is stored."""
    return bool(project.query("select 1 from blobs where sha256 = ?", (sha,)))


def get_blob(project: Project, sha: str) -> bytes:
    """The bytes of a blob; NotFoundError if it is not stored."""
    rows = project.query("select data, stored from blobs where sha256 = ?", (sha,))
    if not rows:
        raise NotFoundError(
            f"Image data {sha[:12]} is missing from {project.path.name}.",
            hint="Import the image again, or restore the project from a backup.",
        )
    if rows[0]["stored"] == "file":
        path = blob_file(project, sha)
        try:
            return path.read_bytes()
        except OSError:
            raise NotFoundError(
                f"The picture {sha[:12]} is missing from {path.parent.parent.parent}.",
                hint="Keep the project's .assets folder beside it, or restore it from a backup.",
            ) from None
    return bytes(rows[0]["data"])


def verify_blob(project: Project, sha: str) -> bool:
    """Whether the stored bytes still hash to `sha`; NotFoundError if it is not stored."""
    return hashlib.sha256(get_blob(project, sha)).hexdigest() == sha


def put_asset(project: Project, src: str | os.PathLike, kind: str) -> str:
    """Copy a (large) file into the assets folder by hash, list it, and return its sha256."""
    src = Path(src)
    if project.read_only:
        raise ReadOnlyProjectError(
            f"{project.path.name} is open read-only, so the file cannot be added.",
            hint="Open the project for writing.",
        )
    if not src.exists():
        raise NotFoundError(f"There is no file at {src}.", hint="Check the path.")
    if not src.is_file():
        raise ProjectError(f"{src} is not a file.", hint="Add the files it contains one by one.")
    folder = project.assets_dir
    tmp = folder / f".{uuid.uuid4().hex}.part"
    try:
        digest, size = hashlib.sha256(), 0
        try:
            with open(src, "rb") as reader, open(tmp, "wb") as writer:
                while chunk := reader.read(_CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
                    size += len(chunk)
                writer.flush()
                os.fsync(writer.fileno())
        except OSError as exc:
            raise ProjectError(
                f"Cannot copy {src.name} into {folder} ({exc.strerror}).",
                hint="Check the free disk space and that the file is readable.",
            ) from None
        sha = digest.hexdigest()
        rows = project.query("select file_name from assets where sha256 = ?", (sha,))
        # An asset already listed keeps its first name, so its path never changes.
        target = folder / _asset_relpath(sha, rows[0]["file_name"] if rows else src.name)
        if not (target.is_file() and target.stat().st_size == size):
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        # The file is in place before its row exists, so a listed asset always has its file.
        with project.atomic() as db:
            db.execute(
                "insert or ignore into assets (sha256, kind, file_name, size, added_at)"
                " values (?, ?, ?, ?, ?)",
                (sha, kind, src.name, size, now_iso()),
            )
        return sha
    finally:
        tmp.unlink(missing_ok=True)


def asset_path(project: Project, sha: str) -> Path:
    """Where an asset's file lives; NotFoundError if it is not listed or its file is gone."""
    path = _listed_asset(project, sha)
    if not path.is_file():
        raise NotFoundError(
            f"The file of asset {sha[:12]} is missing from {path.parent.parent}.",
            hint="Add the model file to the project again.",
        )
    return path


def verify_asset(project: Project, sha: str) -> bool:
    """Whether the asset's file exists and still hashes to `sha`."""
    path = _listed_asset(project, sha)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == sha


def _listed_asset(project: Project, sha: str) -> Path:
    rows = project.query("select file_name from assets where sha256 = ?", (sha,))
    if not rows:
        raise NotFoundError(
            f"There is no asset {sha[:12]} in {project.path.name}.",
            hint="Add the model file to the project.",
        )
    return project.path.with_name(project.path.name + ".assets") / _asset_relpath(
        sha, rows[0]["file_name"]
    )


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # directories cannot be opened for fsync on Windows; NTFS journals renames
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
