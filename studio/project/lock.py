"""One writer per project: an OS lock held on `<file>.pstudio.lock` while the project is open.

The lock file holds JSON naming the holder (pid, host, user, started_at, app_version) so a
refused second writer can say who has the project. Exclusion comes from the OS lock, not from
the file's existence: the OS drops it when the holder exits or is killed, so a lock file whose
OS lock is free is stale and is taken over.
"""

from __future__ import annotations

import errno
import getpass
import json
import os
import sys
from pathlib import Path

from studio import __version__
from studio.core.errors import ProjectError, ProjectLockedError
from studio.core.ids import now_iso

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

# Windows locks are mandatory, so lock a byte well past the JSON to keep the JSON readable.
_WIN_LOCK_OFFSET = 1 << 16
_BUSY_ERRNOS = {errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK}


def lock_path_for(project_path: Path) -> Path:
    """The lock file of a project: `<file>.pstudio.lock` beside it."""
    return project_path.with_name(project_path.name + ".lock")


def holder_info() -> dict:
    """What this process writes into a lock file it holds."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment (some containers, services)
        user = "unknown"
    return {
        "pid": os.getpid(),
        "host": _host(),
        "user": user,
        "started_at": now_iso(),
        "app_version": __version__,
    }


def describe_holder(holder: dict) -> str:
    """A short human description of a lock holder."""
    if not holder:
        return "another process (it left no details)"
    pid = holder.get("pid", "?")
    host = holder.get("host", "?")
    user = holder.get("user", "?")
    since = holder.get("started_at", "?")
    return f"process {pid} on {host} (user {user}, since {since})"


def _try_lock(fd: int) -> bool:
    try:
        if sys.platform == "win32":  # pragma: no cover
            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _BUSY_ERRNOS:
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    try:
        if sys.platform == "win32":  # pragma: no cover
            os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass  # closing the descriptor releases it anyway


def _read_info(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 8192)
        info = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _write_info(fd: int, info: dict) -> None:
    data = json.dumps(info).encode("utf-8")
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.ftruncate(fd, len(data))
    os.fsync(fd)


class ProjectLock:
    """The writer's lock on one project, held from `acquire()` until `release()`."""

    def __init__(self, project_path: Path):
        self.project_path = Path(project_path)
        self.path = lock_path_for(self.project_path)
        self.info: dict = {}
        self.took_over: dict | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> ProjectLock:
        """Take the lock or raise ProjectLockedError naming the holder; takes over stale locks."""
        if self._fd is not None:
            return self
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ProjectError(
                    f"Cannot create the lock file {self.path} ({exc.strerror}).",
                    hint="Check that the project's folder is writable, or open the project "
                    "read-only.",
                ) from None
            if not _try_lock(fd):
                holder = _read_info(fd)
                os.close(fd)
                raise ProjectLockedError(
                    f"{self.project_path.name} is open for writing in another Persona Studio: "
                    f"{describe_holder(holder)}.",
                    hint="Close it there, or open this project read-only.",
                    holder=holder,
                )
            # A closing holder unlinks the file while still holding it; if we locked such an
            # orphan, the path now names another file (or none), so start again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                _unlock(fd)
                os.close(fd)
                continue
            previous = _read_info(fd)
            me = holder_info()
            if previous.get("pid") is not None and (
                previous.get("pid") != me["pid"] or previous.get("host") != me["host"]
            ):
                self.took_over = previous
            try:
                _write_info(fd, me)
            except OSError as exc:
                _unlock(fd)
                os.close(fd)
                raise ProjectError(
                    f"Cannot write the lock file {self.path} ({exc.strerror}).",
                    hint="Check the free disk space and the folder's permissions.",
                ) from None
            self._fd = fd
            self.info = me
            return self
        raise ProjectError(  # pragma: no cover - needs a pathological race
            f"Could not take the lock on {self.project_path.name}: the lock file keeps changing.",
            hint="Another program may be opening and closing the project; try again.",
        )

    def release(self) -> None:
        """Drop the lock and remove the lock file; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform != "win32":
            # Unlink while still locked so nobody can lock the old file and believe it current.
            try:
                os.unlink(self.path)
            except OSError:
                pass
        _unlock(fd)
        os.close(fd)
        if sys.platform == "win32":  # pragma: no cover
            try:
                os.unlink(self.path)
            except OSError:
                pass  # another process has it open; it will take it over

    def __enter__(self) -> ProjectLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _host() -> str:
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # Windows only; elsewhere uname avoids the import on every start

    return socket.gethostname()
