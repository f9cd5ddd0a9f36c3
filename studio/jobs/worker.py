"""The worker process: `python -m studio.jobs.worker [--idle-timeout SECONDS]`.

It lives from job to job, so what a kind loads (a diffusion pipeline) stays loaded while the
studio keeps sending work. Requests arrive on stdin, one JSON object a line:

    {"op": "run", "job_id", "kind", "module", "spec", "units", "project"}
    {"op": "cancel", "job_id"}       the job stops at its next look at ctx.cancel
    {"op": "shutdown"}

Events leave on stdout, one JSON object a line, each naming its job: "started", "unit" (unit,
result as `encode_result` data), "progress" (done, total, message, eta; with a render step's
preview also preview, its JPEG as `encode_result` data, and preview_label), "error" (type,
message, hint, studio: whether it is a StudioError, traceback), "cancelled", "finished"; and
"exiting" (reason) as the last line. Nothing else reaches stdout: file descriptor 1 is pointed
at stderr, so whatever a library prints lands there, and the protocol writes to a copy of the
original stdout.

The worker exits on "shutdown", at the end of stdin (the studio is gone) and after
IDLE_TIMEOUT_S without a job, first calling `release()` on each kind it ran and giving cached
GPU memory back. It reads the project read-only; the runner commits every result.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import queue
import sys
import threading
import traceback
from collections.abc import Iterable
from typing import Any, BinaryIO, TextIO

from studio.core.errors import Cancelled, StudioError
from studio.core.jobs import CancelToken, Progress
from studio.core.specs import spec_from_dict
from studio.jobs.base import JobKind, WorkContext, encode_result
from studio.jobs.kinds import import_kind
from studio.project.store import Project
from studio.services import library

IDLE_TIMEOUT_S = 600.0  # an idle worker ends so the GPU memory its kinds hold is freed
STOP_GRACE_S = 15.0  # a job that ignores the cancel this long after the studio went is cut off


class _Outbox:
    """The protocol's stdout: whole JSON lines, one writer at a time."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._lock = threading.Lock()

    def say(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}) + "\n"
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (OSError, ValueError):
                pass  # the studio is gone; the end of stdin stops this process


class _Control:
    """The job in flight and its cancel token, shared by the request reader and the jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: str | None = None
        self._token: CancelToken | None = None
        self._early: set[str] = set()  # cancels read before their job began
        # The job that ended last: a cancel for it that crossed its last units on the pipe
        # is about that run, not the next one (a resume has the same id).
        self._ended: str | None = None
        self._closing = False
        self.idle = threading.Event()
        self.idle.set()

    def begin(self, job_id: str) -> CancelToken:
        token = CancelToken()
        with self._lock:
            if self._closing or job_id in self._early:
                token.cancel()
            self._early.clear()
            self._ended = None
            self._job, self._token = job_id, token
            self.idle.clear()
        return token

    def end(self) -> None:
        with self._lock:
            self._ended = self._job
            self._job = self._token = None
            self.idle.set()

    def cancel(self, job_id: str | None) -> None:
        with self._lock:
            if self._token is not None and job_id == self._job:
                self._token.cancel()
            elif job_id and job_id != self._ended:
                self._early.add(job_id)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            if self._token is not None:
                self._token.cancel()


class _OpenProject:
    """The project the last job read, kept open for the next (opening it checks the file)."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._project: Project | None = None

    def get(self, path: str) -> Project:
        if self._project is None or self._path != path:
            self.close()
            self._project = Project.open(path, read_only=True)
            self._path = path
        return self._project

    def close(self) -> None:
        if self._project is not None:
            self._project.close()
        self._project = self._path = None


def _protocol_stream() -> TextIO:
    """A private copy of stdout for the protocol; fd 1 itself now writes to stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "w", encoding="utf-8")


def _read_requests(stdin: BinaryIO, inbox: queue.Queue, control: _Control) -> None:
    reason = "end of input"
    for raw in stdin:
        try:
            message = json.loads(raw)
        except ValueError:
            print(f"worker: not a request: {raw[:80]!r}", file=sys.stderr, flush=True)
            continue
        op = message.get("op") if isinstance(message, dict) else None
        if op == "run":
            inbox.put(message)
        elif op == "cancel":
            control.cancel(message.get("job_id"))
        elif op == "shutdown":
            reason = "shutdown"
            break
    control.close()
    inbox.put(reason)
    if not control.idle.wait(STOP_GRACE_S):
        print("worker: the job did not stop after its cancel; exiting", file=sys.stderr, flush=True)
        os._exit(1)


def _run(
    request: dict, out: _Outbox, control: _Control, used: dict[str, JobKind], opened: _OpenProject
) -> None:
    job_id = str(request.get("job_id", ""))
    token = control.begin(job_id)
    out.say("started", job_id=job_id)
    try:
        kind = import_kind(request["kind"], request.get("module"))
        used[kind.kind] = kind
        spec = spec_from_dict(request["kind"], request["spec"])
        project = opened.get(request["project"])

        def progress(p: Progress) -> None:
            extra = {}
            if p.preview is not None:
                extra = {"preview": encode_result(p.preview), "preview_label": p.preview_label}
            out.say(
                "progress",
                job_id=job_id,
                done=p.done,
                total=p.total,
                message=p.message,
                eta=p.eta_s,
                **extra,
            )

        ctx = WorkContext(
            read_blob=lambda sha: library.read_blob(project, sha),
            asset_path=lambda sha: library.asset_path(project, sha),
            cancel=token,
            progress=progress,
        )
        for unit, result in kind.work(spec, list(request["units"]), ctx):
            out.say("unit", job_id=job_id, unit=unit, result=encode_result(result))
            token.raise_if_cancelled()
        out.say("finished", job_id=job_id)
    except Cancelled:
        out.say("cancelled", job_id=job_id)
    except StudioError as exc:
        out.say(
            "error",
            job_id=job_id,
            type=type(exc).__name__,
            message=exc.message,
            hint=exc.hint,
            studio=True,
        )
    except Exception as exc:
        text = traceback.format_exc()
        sys.stderr.write(text)
        out.say(
            "error",
            job_id=job_id,
            type=type(exc).__name__,
            message=str(exc),
            hint=None,
            studio=False,
            traceback=text,
        )
    finally:
        control.end()


def _release(kinds: Iterable[JobKind]) -> None:
    """Let each kind drop what it cached, then give the GPU memory that held back."""
    for kind in kinds:
        release = getattr(kind, "release", None)
        if release is not None:
            try:
                release()
            except Exception:
                traceback.print_exc()
    gc.collect()
    # The worker never imports torch itself; only if a kind did is its cache handed back.
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            traceback.print_exc()


def main(argv: list[str] | None = None) -> int:
    """Serve jobs from stdin until shutdown, the end of stdin or the idle timeout."""
    parser = argparse.ArgumentParser(prog="python -m studio.jobs.worker")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S)
    args = parser.parse_args(argv)
    out = _Outbox(_protocol_stream())
    inbox: queue.Queue = queue.Queue()
    control = _Control()
    reader = threading.Thread(
        target=_read_requests, args=(sys.stdin.buffer, inbox, control), daemon=True
    )
    reader.start()
    used: dict[str, JobKind] = {}
    opened = _OpenProject()
    reason = "idle"
    try:
        while True:
            try:
                item = inbox.get(timeout=args.idle_timeout)
            except queue.Empty:
                break
            if isinstance(item, str):
                reason = item
                break
            _run(item, out, control, used, opened)
    finally:
        opened.close()
        _release(used.values())
    out.say("exiting", reason=reason)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
