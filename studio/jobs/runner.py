"""The job runner: one queue per open project, worked through on a background thread.

Each finished unit is committed at once through its kind's `commit`, so a crash or a cancel
loses at most the unit in flight, and a resumed job redoes only what is not yet committed.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from studio.core.changes import Changes
from studio.core.errors import Cancelled, JobError, StudioError
from studio.core.jobs import CancelToken, EtaEstimator, JobSpec, Progress
from studio.core.records import JobRecord
from studio.core.states import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    PROBLEMS,
    QUEUED,
    RESUMABLE_STATES,
    RUNNING,
)
from studio.jobs.base import JobKind
from studio.jobs.executors import Executor, ThreadExecutor, Work, WorkerError, WorkerProcessExecutor
from studio.jobs.kinds import kind_of
from studio.project.store import Project
from studio.services import jobs as job_service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobEvent:
    """A job was queued, started, progressed, finished, failed, was cancelled or interrupted."""

    job_id: str
    event: str
    title: str
    progress: Progress
    message: str = ""
    # The state the job is left in; a "done" event may leave it "problems" (work refused).
    state: str = ""
    # On a unit's "progress" event: what its commit changed, for views to read just that.
    changes: Changes | None = None


Listener = Callable[[JobEvent], None]

ENDED = ("done", "failed", "cancelled", "interrupted")  # a job's last event is one of these

EXECUTORS = ("thread", "worker")


class JobRunner:
    """Runs the project's jobs one after another off the calling thread.

    Each kind's work runs where `executor_name` says; the runner owns those executors (the
    worker process is started on first use and kept) and closes them in `shutdown`.
    force_subprocess: run every kind in the worker process.
    """

    def __init__(
        self, project: Project, listener: Listener | None = None, *, force_subprocess: bool = False
    ):
        self._project = project
        self._listeners: list[Listener] = [listener] if listener else []
        self._force_subprocess = force_subprocess
        self._executors: dict[str, Executor] = {}
        self._lock = threading.Condition()
        self._queue: deque[str] = deque()
        self._tokens: dict[str, CancelToken] = {}
        self._current: str | None = None
        self._closing = False
        self._thread: threading.Thread | None = None

    # -- public surface -----------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def submit(self, spec: JobSpec) -> JobRecord:
        """Persist a spec as a job and queue it."""
        kind = kind_of(spec)
        job = job_service.enqueue(self._project, spec, _counted_total(kind, spec))
        self._enqueue(job)
        return job

    def resume(self, job_id: str) -> JobRecord:
        """Queue an interrupted, cancelled or failed job again; finished units are kept."""
        job = job_service.get_job(self._project, job_id)
        if job.state not in RESUMABLE_STATES:
            raise JobError(f"The job '{job.title}' is {job.state}; only stopped jobs can resume.")
        job_service.set_state(self._project, job.id, QUEUED, message="Waiting")
        job = job_service.get_job(self._project, job.id)
        self._enqueue(job)
        return job

    def cancel(self, job_id: str) -> None:
        """Ask a queued or running job to stop after the unit in flight."""
        with self._lock:
            token = self._tokens.get(job_id)
            queued = job_id in self._queue
            if queued:
                self._queue.remove(job_id)
                self._tokens.pop(job_id, None)
        if token:
            token.cancel()
        if queued:
            job = job_service.get_job(self._project, job_id)
            job_service.set_state(self._project, job_id, CANCELLED, message="Cancelled")
            self._emit(job_id, "cancelled", job.title, Progress(job.done, job.total, "Cancelled"))

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Block until the job is no longer queued or running."""
        with self._lock:
            self._lock.wait_for(
                lambda: job_id not in self._queue and self._current != job_id, timeout
            )
        return job_service.get_job(self._project, job_id)

    def run(
        self,
        job_or_spec: JobSpec | str,
        progress: Callable[[Progress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> JobRecord:
        """Run one job to its end in the calling thread (the CLI's way)."""
        if isinstance(job_or_spec, str):
            job = job_service.get_job(self._project, job_or_spec)
            if job.state not in RESUMABLE_STATES + (QUEUED,):
                raise JobError(
                    f"The job '{job.title}' is {job.state}; only stopped jobs can resume."
                )
        else:
            kind = kind_of(job_or_spec)
            job = job_service.enqueue(self._project, job_or_spec, _counted_total(kind, job_or_spec))

        def forward(event: JobEvent) -> None:
            if progress and event.job_id == job.id:
                progress(event.progress)

        self._listeners.append(forward)
        try:
            self._execute(job.id, cancel or CancelToken())
        finally:
            self._listeners.remove(forward)
        return job_service.get_job(self._project, job.id)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._queue)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop taking work; a running job stops after its unit and is left interrupted.

        Then the executors are closed: the worker process frees what it loaded and exits.
        """
        with self._lock:
            self._closing = True
            pending = list(self._queue)
            self._queue.clear()
            for token in self._tokens.values():
                token.cancel()
            self._lock.notify_all()
        for job_id in pending:
            job_service.set_state(self._project, job_id, INTERRUPTED, message="Interrupted")
        if self._thread:
            self._thread.join(timeout)
        with self._lock:
            executors = list(self._executors.values())
            self._executors.clear()
        for executor in executors:
            executor.close()

    # -- internals ----------------------------------------------------------------------------

    def _enqueue(self, job: JobRecord) -> None:
        with self._lock:
            if self._closing:
                raise JobError("The project is closing; the job was saved and can be resumed.")
            self._queue.append(job.id)
            self._tokens[job.id] = CancelToken()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="jobs", daemon=True)
                self._thread.start()
            self._lock.notify_all()
        self._emit(job.id, "queued", job.title, Progress(job.done, job.total, "Waiting"))

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closing or not self._queue:
                    self._current = None
                    self._lock.notify_all()
                    return
                job_id = self._queue.popleft()
                self._current = job_id
                token = self._tokens[job_id]
            try:
                self._execute(job_id, token)
            except Exception:  # the job is already marked failed; keep the queue going
                log.exception("job %s failed", job_id)
            finally:
                with self._lock:
                    self._tokens.pop(job_id, None)
                    self._current = None
                    self._lock.notify_all()

    def _emit(
        self,
        job_id: str,
        event: str,
        title: str,
        progress: Progress,
        message: str = "",
        state: str = "",
        changes: Changes | None = None,
    ) -> None:
        ev = JobEvent(job_id, event, title, progress, message or progress.message, state, changes)
        for listener in list(self._listeners):
            try:
                listener(ev)
            except Exception:
                log.exception("job listener failed")

    def _execute(self, job_id: str, token: CancelToken) -> None:
        project = self._project
        job = job_service.get_job(project, job_id)
        spec = job_service.spec_of(job)
        kind = kind_of(spec)
        units = kind.units(spec)
        finished = job_service.done_units(project, job_id)
        todo = [u for u in units if u not in finished]
        # Extra units (an analysis's reference looks) are work the title does not count: the
        # counter runs over what the user asked for and the message says what else is done.
        extra = set(_extra_units(kind, spec)) & set(units)
        extra_left = sum(1 for u in todo if u in extra)
        total = len(units) - len(extra)
        done = total - sum(1 for u in todo if u not in extra)
        eta = EtaEstimator(total, start_done=done)
        first = kind.describe_extra(extra_left) if extra_left else "Starting"
        job_service.set_state(project, job_id, RUNNING, done=done, total=total, message=first)
        self._emit(job_id, "started", job.title, Progress(done, total, first))
        results: Iterator[tuple[str, Any]] = iter(())
        try:
            results = self._work(job_id, job.title, kind, spec, todo, token)
            for unit, result in results:
                if unit in extra:
                    extra_left -= 1
                    text = kind.describe_extra(extra_left) if extra_left else f"{done} of {total}"
                else:
                    done += 1
                    text = f"{done} of {total}"
                changes = kind.commit(project, job_id, spec, unit, result, done)
                self._emit(
                    job_id,
                    "progress",
                    job.title,
                    Progress(done, total, text, None if unit in extra else eta.eta(done)),
                    changes=changes or None,
                )
                if token.cancelled:
                    raise Cancelled()
            token.raise_if_cancelled()
            message = kind.finish(project, job_id, spec)
        except Cancelled:
            state = INTERRUPTED if self._closing else CANCELLED
            text = "Interrupted" if self._closing else "Cancelled"
            job_service.set_state(project, job_id, state, message=text)
            self._emit(job_id, state, job.title, Progress(done, total, text))
            return
        except StudioError as exc:
            job_service.set_state(project, job_id, FAILED, message=exc.message, error=str(exc))
            self._emit(job_id, "failed", job.title, Progress(done, total, exc.message), str(exc))
            return
        except WorkerError as exc:  # its traceback was logged where it arrived
            text = f"Unexpected error: {exc}"
            job_service.set_state(project, job_id, FAILED, message=text, error=text)
            self._emit(job_id, "failed", job.title, Progress(done, total, text), text)
            return
        except Exception as exc:
            log.exception("job %s crashed", job_id)
            text = f"Unexpected error: {type(exc).__name__}: {exc}"
            job_service.set_state(project, job_id, FAILED, message=text, error=text)
            self._emit(job_id, "failed", job.title, Progress(done, total, text), text)
            return
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # work cut short (cancel, a failed commit) stops where it runs now
        # Work refused along the way (files rejected, pictures unreadable) leaves the job
        # finished with problems rather than done; listeners still hear "done" (it ended).
        state = PROBLEMS if job_service.problems(project, job_id) else DONE
        job_service.set_state(project, job_id, state, message=message)
        self._emit(job_id, "done", job.title, Progress(total, total, message), state=state)

    def _work(
        self,
        job_id: str,
        title: str,
        kind: JobKind,
        spec: JobSpec,
        todo: list[str],
        token: CancelToken,
    ) -> Iterator[tuple[str, Any]]:
        if not todo:
            return iter(())
        executor = self._executor(executor_name(kind, force_worker=self._force_subprocess))
        return executor.run(
            Work(job_id, kind, spec, tuple(todo)),
            lambda p: self._emit(job_id, "progress", title, p),
            token,
        )

    def _executor(self, name: str) -> Executor:
        with self._lock:
            executor = self._executors.get(name)
            if executor is None:
                if name == "worker":
                    executor = WorkerProcessExecutor(self._project.path)
                else:
                    executor = ThreadExecutor(self._project)
                self._executors[name] = executor
            return executor


def executor_name(kind: JobKind, *, force_worker: bool = False) -> str:
    """Where a kind's work runs: "thread" or "worker", as the kind says unless forced."""
    name = "worker" if force_worker else kind.executor
    if name not in EXECUTORS:
        raise ValueError(f"The job kind '{kind.kind}' names an unknown executor '{name}'.")
    return name


def _extra_units(kind: JobKind, spec: JobSpec) -> list[str]:
    """Units a kind does besides those its title counts (none for most kinds)."""
    extra = getattr(kind, "extra_units", None)
    return list(extra(spec)) if extra else []


def _counted_total(kind: JobKind, spec: JobSpec) -> int:
    """How many units the progress counter runs over: the kind's units less its extra ones."""
    units = kind.units(spec)
    return len(units) - len(set(_extra_units(kind, spec)) & set(units))
