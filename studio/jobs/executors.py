"""Where a job kind's work runs: one interface, an executor per place.

The runner hands an executor a `Work` (the kind, its spec, the units still to do) with a
progress sink and a cancel token, and reads back (unit, result) pairs in order. It commits each
result itself through the kind's `commit`; an executor never writes to the project. A kind
names its place with its `executor` attribute and never learns where it ran.

- `ThreadExecutor` runs `kind.work` in the runner's own thread.
- `WorkerProcessExecutor` runs it in a long-lived `python -m studio.jobs.worker` process, so
  what a kind loads (a diffusion pipeline) stays loaded from one job to the next, a crash in
  native code fails one job instead of the studio, and GPU memory is given back when the
  worker ends (on shutdown, when the studio goes, or after `worker.IDLE_TIMEOUT_S` idle).
  They speak JSON lines (see `studio.jobs.worker` for the messages).

A cluster executor (Ray, say) fits the same interface: what crosses to a remote task is what
crosses to the worker today, the kind's name and module, the spec as JSON and the unit names;
blobs and asset files are read through the task's WorkContext by sha (shipped beside the task
or fetched from the runner, never by opening the project file); results come back as
`encode_result` data, progress as `Progress` fields, errors as type name, message and hint
(`error_from_event`). Only the runner, the project's single writer, commits.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from studio.core import errors
from studio.core.errors import Cancelled, JobError, StudioError
from studio.core.jobs import CancelToken, JobSpec, Progress
from studio.jobs.base import JobKind, WorkContext, decode_result
from studio.project.store import Project
from studio.services import library

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often a job waiting on the worker looks at its cancel token
CANCEL_GRACE_S = 15.0  # a worker that has not stopped this long after a cancel is killed
SHUTDOWN_WAIT_S = 15.0  # time a worker has to free what it cached and exit
STDERR_TAIL_BYTES = 16 * 1024  # the worker's last output kept to explain its death
TAIL_SHOWN_CHARS = 800

ProgressSink = Callable[[Progress], None]


@dataclass(frozen=True)
class Work:
    """One job's work for an executor: its kind, its spec and the units still to do."""

    job_id: str
    kind: JobKind
    spec: JobSpec
    units: tuple[str, ...]


class Executor(Protocol):
    """Runs a kind's work somewhere and hands back each finished unit's result, in order."""

    def run(
        self, work: Work, progress: ProgressSink, cancel: CancelToken
    ) -> Iterator[tuple[str, Any]]:
        """Yield (unit, result) as each unit finishes; raise Cancelled or the work's error.

        Progress inside a unit goes to `progress` on the consuming thread. Closing the
        iterator early stops the work.
        """
        ...

    def close(self) -> None:
        """Give back what the executor holds (a process, a connection)."""
        ...


class WorkerError(Exception):
    """An unexpected exception in the worker's work (a fault, not something the user did)."""

    def __init__(self, type_name: str, message: str, traceback_text: str = ""):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback = traceback_text


def error_from_event(event: dict) -> Exception:
    """The exception a worker reported, rebuilt: a StudioError keeps its class and hint."""
    name = str(event.get("type", ""))
    message = str(event.get("message", ""))
    hint = event.get("hint")
    if not event.get("studio"):
        return WorkerError(name, message, str(event.get("traceback", "")))
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, StudioError)):
        return JobError(message, hint=hint)
    try:
        return cls(message, hint=hint)
    except TypeError:  # built from other arguments (InvalidRecordError's issues)
        exc = cls.__new__(cls)
        StudioError.__init__(exc, message, hint=hint)
        return exc


class ThreadExecutor:
    """Runs the work in the runner's thread, reading the project it was given."""

    def __init__(self, project: Project):
        self._project = project

    def run(
        self, work: Work, progress: ProgressSink, cancel: CancelToken
    ) -> Iterator[tuple[str, Any]]:
        """The kind's own work iterator, with a context over this project."""
        project = self._project
        ctx = WorkContext(
            read_blob=lambda sha: library.read_blob(project, sha),
            asset_path=lambda sha: library.asset_path(project, sha),
            cancel=cancel,
            progress=progress,
        )
        return iter(work.kind.work(work.spec, list(work.units), ctx))

    def close(self) -> None:
        """Nothing to give back: the work ran in the caller's thread."""


class WorkerProcessExecutor:
    """Runs the work in one long-lived worker process, started on first use and kept.

    A worker that died (killed, crashed, ended idle) is replaced by a fresh one for the next
    job. One job at a time: a second caller waits for the first job to end.
    """

    def __init__(self, project_path: str | os.PathLike, *, idle_timeout: float | None = None):
        self._project_path = str(Path(project_path).resolve())
        self._idle_timeout = idle_timeout
        self._job_lock = threading.Lock()
        self._start_lock = threading.Lock()
        # A list the finalizer can hold without holding this executor: an abandoned runner's
        # worker is told to go when the executor is collected or the interpreter exits.
        self._current: list[_WorkerProcess] = []
        weakref.finalize(self, _hang_up_all, self._current)

    @property
    def pid(self) -> int | None:
        """The live worker's process id; None while there is none."""
        worker = self._current[0] if self._current else None
        return worker.pid if worker and worker.alive else None

    def run(
        self, work: Work, progress: ProgressSink, cancel: CancelToken
    ) -> Iterator[tuple[str, Any]]:
        """Send the work to the worker and yield its units as they arrive."""
        with self._job_lock:
            yield from self._run(work, progress, cancel)

    def close(self) -> None:
        """Ask the worker to free what its kinds cached and exit; kill it if it does not."""
        with self._start_lock:
            current, self._current[:] = list(self._current), []
        for worker in current:
            worker.stop(SHUTDOWN_WAIT_S)

    # -- internals ----------------------------------------------------------------------------

    def _worker(self) -> _WorkerProcess:
        with self._start_lock:
            if self._current and self._current[0].alive:
                return self._current[0]
            self._current[:] = [_WorkerProcess(self._idle_timeout)]
            return self._current[0]

    def _run(
        self, work: Work, progress: ProgressSink, cancel: CancelToken
    ) -> Iterator[tuple[str, Any]]:
        request = {
            "op": "run",
            "job_id": work.job_id,
            "kind": work.spec.kind,
            "module": type(work.kind).__module__,
            "spec": work.spec.to_dict(),
            "units": list(work.units),
            "project": self._project_path,
        }
        retried = False
        while True:
            worker = self._worker()
            worker.send_quietly(request)  # a worker gone already shows as the end of its events
            started = False
            in_flight = True
            asked_at: float | None = None
            try:
                while True:
                    if cancel.cancelled and asked_at is None:
                        asked_at = time.monotonic()
                        worker.send_quietly({"op": "cancel", "job_id": work.job_id})
                    if asked_at is not None and time.monotonic() - asked_at > CANCEL_GRACE_S:
                        log.warning(
                            "worker %s ignored a cancel for %.0f s", worker.pid, CANCEL_GRACE_S
                        )
                        worker.kill()
                        in_flight = False
                        raise Cancelled()
                    try:
                        event = worker.events.get(timeout=POLL_S)
                    except queue.Empty:
                        continue
                    if event is None:  # the worker's stdout closed: it has ended
                        in_flight = False
                        if cancel.cancelled:
                            raise Cancelled()
                        if not started and not retried:
                            # It ended before taking the job (its idle time ran out as the
                            # request went in): once more, in a fresh worker.
                            break
                        raise _stopped_error(worker)
                    if event.get("job_id") != work.job_id:
                        continue
                    name = event.get("event")
                    if name == "started":
                        started = True
                    elif name == "unit":
                        yield event["unit"], decode_result(event["result"])
                    elif name == "progress":
                        preview = event.get("preview")
                        progress(
                            Progress(
                                int(event.get("done", 0)),
                                int(event.get("total", 0)),
                                str(event.get("message", "")),
                                event.get("eta"),
                                preview=None if preview is None else decode_result(preview),
                                preview_label=str(event.get("preview_label", "")),
                            )
                        )
                    elif name == "finished":
                        in_flight = False
                        return
                    elif name == "cancelled":
                        in_flight = False
                        raise Cancelled()
                    elif name == "error":
                        in_flight = False
                        exc = error_from_event(event)
                        if isinstance(exc, WorkerError) and exc.traceback:
                            log.error(
                                "job %s failed in the worker:\n%s", work.job_id, exc.traceback
                            )
                        raise exc
            finally:
                if in_flight:  # closed early, or the consumer failed: stop the worker's job
                    _settle(worker, work.job_id)
            retried = True


def _settle(worker: _WorkerProcess, job_id: str) -> None:
    """Cancel the job in flight and wait until the worker is done with it (or kill it)."""
    worker.send_quietly({"op": "cancel", "job_id": job_id})
    deadline = time.monotonic() + CANCEL_GRACE_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = worker.events.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if event is None:
            return
        if event.get("job_id") == job_id and event.get("event") in (
            "finished",
            "cancelled",
            "error",
        ):
            return
    log.warning("worker %s did not stop its job; killing it", worker.pid)
    worker.kill()


def _stopped_error(worker: _WorkerProcess) -> JobError:
    how = _describe_exit(worker.returncode)
    tail = worker.tail()
    said = f" Its last output: {tail}" if tail else ""
    return JobError(
        f"The worker process stopped unexpectedly during this job ({how}).{said}",
        hint="Resume the job: finished units are kept and a fresh worker runs the rest.",
    )


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "it closed its output"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _hang_up_all(workers: list[_WorkerProcess]) -> None:
    for worker in workers:
        worker.hang_up()


class _WorkerProcess:
    """One worker process and the two threads that keep its stdout and stderr read."""

    def __init__(self, idle_timeout: float | None):
        # -P: the working folder is not put first on the path, so a folder there named like one
        # of the studio's packages cannot shadow it.
        command = [sys.executable, "-P", "-m", "studio.jobs.worker"]
        if idle_timeout is not None:
            command += ["--idle-timeout", repr(float(idle_timeout))]
        # The worker imports what this process can import (a kind's module may live beside
        # the studio, as tests' kinds do), as multiprocessing's spawn passes sys.path on.
        path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        self.pid = self._proc.pid
        self.events: queue.Queue[dict | None] = queue.Queue()
        self._tail = bytearray()
        self._tail_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stderr = threading.Thread(
            target=self._drain_stderr, name=f"worker-{self.pid}-stderr", daemon=True
        )
        self._stdout = threading.Thread(
            target=self._read_events, name=f"worker-{self.pid}-events", daemon=True
        )
        self._stderr.start()
        self._stdout.start()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    def send_quietly(self, message: dict) -> bool:
        """Write one request line; False when the worker is gone (its pipe is closed)."""
        line = json.dumps(message).encode("utf-8") + b"\n"
        with self._write_lock:
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
                return True
            except (OSError, ValueError):
                return False

    def tail(self) -> str:
        """The end of what the worker wrote to stderr, from a line's start where it can."""
        with self._tail_lock:
            text = self._tail.decode("utf-8", errors="replace")
        text = text.strip()
        if len(text) > TAIL_SHOWN_CHARS:
            text = text[-TAIL_SHOWN_CHARS:]
            cut = text.find("\n")
            text = "…" + (text[cut + 1 :] if 0 <= cut < TAIL_SHOWN_CHARS // 2 else text)
        return text

    def hang_up(self) -> None:
        """Close the worker's stdin: it ends after its job, as if this process had died."""
        with self._write_lock:
            try:
                self._proc.stdin.close()
            except (OSError, ValueError):
                pass

    def kill(self) -> None:
        if self.alive:
            self._proc.kill()
        self._proc.wait()

    def stop(self, wait: float) -> None:
        """Shut the worker down, killing it if it takes longer than `wait` seconds."""
        self.send_quietly({"op": "shutdown"})
        self.hang_up()
        try:
            self._proc.wait(wait)
        except subprocess.TimeoutExpired:
            log.warning("worker %s did not exit in %.0f s; killing it", self.pid, wait)
            self.kill()
        self._stdout.join(5)
        self._stderr.join(5)

    def _read_events(self) -> None:
        try:
            for raw in self._proc.stdout:
                try:
                    event = json.loads(raw)
                except ValueError:
                    log.warning("worker %s wrote a line that is not JSON: %r", self.pid, raw[:200])
                    continue
                if isinstance(event, dict):
                    self.events.put(event)
        finally:
            self._proc.wait()
            # Its stderr ends with it; read to the end so a death's message has the last words.
            self._stderr.join(2)
            self.events.put(None)

    def _drain_stderr(self) -> None:
        # Read whatever arrives, line or not, so a chatty library never fills the pipe.
        stream = self._proc.stderr
        while chunk := stream.read1(65536):
            with self._tail_lock:
                self._tail += chunk
                if len(self._tail) > STDERR_TAIL_BYTES:
                    del self._tail[:-STDERR_TAIL_BYTES]
            if log.isEnabledFor(logging.DEBUG):
                log.debug("worker %s: %s", self.pid, chunk.decode("utf-8", "replace").rstrip())
