"""Reading files for the reference import: check, decode, hash and thumbnail each one.

Runs off the GUI thread and never touches the project: what it returns is committed by the
job runner. Every failure becomes an `ImportedFile` with a one-line `reason`, never an
exception, so one bad file cannot stop an import.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from studio.core.errors import BadImageError
from studio.core.imports import ImportedFile
from studio.core.jobs import CancelToken
from studio.core.takes import PROVENANCE_KEY
from studio.engine import export, images

MAX_FILE_BYTES = 512 * 1024 * 1024


def read_file(path: str, thumb_size: int = 256) -> ImportedFile:
    """Read and check one file; the result carries a `reason` when the file cannot be used."""
    try:
        data = _read(path)
        decoded = images.decode(data, os.path.basename(path), max_side=thumb_size)
        return ImportedFile(
            path=path,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            mime=decoded.mime,
            format=decoded.format,
            width=decoded.width,
            height=decoded.height,
            note=decoded.note,
            phash=images.perceptual_hash(decoded.rgb),
            thumbnail=images.jpeg_bytes(decoded.rgb),
            metadata=_with_studio_record(data, decoded.metadata),
        )
    except BadImageError as exc:
        return ImportedFile(path=path, reason=exc.message)
    except Exception as exc:  # a decoder bug on one odd file must not end the import
        return ImportedFile(path=path, reason=f"could not be read ({type(exc).__name__}: {exc})")


def _with_studio_record(data: bytes, metadata: dict) -> dict:
    """The metadata plus the record of a PNG the studio exported ("persona-studio" chunk)."""
    if not data.startswith(export.PNG_SIGNATURE):
        return metadata
    try:
        text = export.png_texts(data).get(PROVENANCE_KEY)
        record = json.loads(text) if text else None
    except (BadImageError, ValueError):
        return metadata  # a damaged chunk leaves the A1111 parameters read as they are
    if not isinstance(record, dict):
        return metadata
    return {**metadata, "generator": "Persona Studio", "persona_studio": record}


def read_files(
    paths: Iterable[str],
    cancel: CancelToken,
    thumb_size: int = 256,
    workers: int | None = None,
) -> Iterator[tuple[str, ImportedFile]]:
    """Read files on a few threads and yield them in the given order; stops when cancelled."""
    workers = workers or min(4, os.cpu_count() or 1)
    todo = iter(paths)
    if workers <= 1:
        for path in todo:
            cancel.raise_if_cancelled()
            yield path, read_file(path, thumb_size)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="import")
    # A short window keeps the pool busy while bounding how many files sit in memory.
    window: deque[tuple[str, Future[ImportedFile]]] = deque()
    try:
        for path in todo:
            window.append((path, pool.submit(read_file, path, thumb_size)))
            if len(window) >= 2 * workers:
                break
        while window:
            cancel.raise_if_cancelled()
            path, future = window.popleft()
            result = future.result()
            following = next(todo, None)
            if following is not None:
                window.append((following, pool.submit(read_file, following, thumb_size)))
            yield path, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _read(path: str) -> bytes:
    """The file's bytes, or BadImageError saying why they cannot be read."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise BadImageError(
                f"broken symbolic link (it points to {os.readlink(path)}, which does not exist)"
            ) from None
        raise BadImageError("no such file (it was moved or deleted)") from None
    except PermissionError:
        raise BadImageError("cannot read the file: permission denied") from None
    except OSError as exc:
        if os.path.islink(path):
            raise BadImageError(f"unusable symbolic link ({exc.strerror or exc})") from None
        raise BadImageError(f"cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadImageError("a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise BadImageError("not a regular file (a device, pipe or socket)")
    if info.st_size > MAX_FILE_BYTES:
        raise BadImageError(
            f"too large for a reference image ({info.st_size / 2**20:.0f} MB; the limit is "
            f"{MAX_FILE_BYTES // 2**20} MB)"
        )
    try:
        with open(path, "rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise BadImageError("cannot read the file: permission denied") from None
    except OSError as exc:
        raise BadImageError(f"cannot read the file ({exc.strerror or exc})") from None
