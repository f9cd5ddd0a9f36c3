"""What every verb shares: output (text or --json), opening a project, jobs with a progress line.

Nothing here imports more than the standard library at start-up: each verb loads what it needs.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from studio.core.errors import StudioError


class UsageError(Exception):
    """Wrong words on the command line: exit status 2."""


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """One JSON document on stdout with --json, else the text (if any)."""
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def check_output_file(path: str, example: str) -> None:
    """Refuse an output path that names a folder, saying to give a file name."""
    import os

    if os.path.isdir(path):
        raise StudioError(
            f"{path} is a folder, not a file.",
            hint=f"Give a file name, for example {os.path.join(path, example)}",
        )


@contextmanager
def open_project(path: str, *, read_only: bool = False) -> Iterator[Any]:
    from studio.services.projects import open_project as open_

    project = open_(path, read_only=read_only)
    try:
        yield project
    finally:
        project.close()


def progress_printer(label: str):
    """A progress sink drawing a bar on a terminal, or a line per tenth when piped."""
    from studio.core.jobs import format_eta

    tty = sys.stderr.isatty()
    state = {"last": -1, "seen": (-1, -1)}

    def show(p) -> None:
        if not p.done and p.total and p.message and p.message not in ("Starting", "Waiting"):
            # Work before the first counted unit (an analysis measuring its references) is
            # said in words, once when piped, so the counter is not seen stuck at 0.
            # (On a terminal the bar's line says it.)
            if not tty and not state.get("said"):
                state["said"] = p.message
                sys.stderr.write(f"{label}: {p.message}\n")
                sys.stderr.flush()
        # Work inside a unit (a frame's denoising steps) is said on the bar's line.
        inside = p.message if p.message and not p.message.startswith(f"{p.done} of ") else ""
        if tty and inside and p.done < p.total and (p.done, p.total) == state["seen"]:
            _draw_bar(label, p, state.get("eta", ""), inside)
            return
        if not p.total or (p.done, p.total) == state["seen"]:
            return  # nothing counted yet, or the job's last word repeats its last unit
        state["seen"] = (p.done, p.total)
        pct = int(100 * p.fraction)
        if tty:
            state["eta"] = format_eta(p.eta_s)
            _draw_bar(label, p, state["eta"], inside)
            if p.done >= p.total:
                sys.stderr.write("\n")
        elif pct // 10 != state["last"] or p.done >= p.total:
            state["last"] = pct // 10
            sys.stderr.write(f"{label}: {p.done}/{p.total} {format_eta(p.eta_s)}".rstrip() + "\n")
        sys.stderr.flush()

    return show


def _draw_bar(label: str, p: Any, eta: str, note: str) -> None:
    import shutil

    pct = int(100 * p.fraction)
    bar = "#" * (pct // 5) + "-" * (20 - pct // 5)
    line = f"{label} [{bar}] {p.done}/{p.total} {eta}".rstrip()
    if note:
        line += f"  {note}"
    width = shutil.get_terminal_size((100, 20)).columns - 1
    sys.stderr.write("\r" + line[:width].ljust(width))


def with_cancel(fn):
    """Run fn(token) with Ctrl-C turned into a cancel of the job in progress."""
    from studio.core.jobs import CancelToken

    token = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: token.cancel())
    try:
        return fn(token)
    finally:
        signal.signal(signal.SIGINT, previous)


def run_job(project: Any, job_or_spec: Any, label: str, *, on_cancel: str | None = None) -> Any:
    """Run a job in this process with a progress line; Ctrl-C cancels it, resumable later.

    on_cancel: what to say when it is cancelled (default: how to resume it).
    """
    from studio.jobs.runner import JobRunner

    runner = JobRunner(project)
    try:
        job = with_cancel(
            lambda token: runner.run(job_or_spec, progress=progress_printer(label), cancel=token)
        )
    finally:
        runner.shutdown()  # ends a worker process now, freeing its GPU memory
    if job.state == "cancelled":
        if on_cancel:
            raise StudioError(on_cancel)
        raise StudioError(
            f"Cancelled after {job.done} of {job.total}.",
            hint=f"Resume with: persona-studio jobs {project.path} --resume {job.id[:10]}",
        )
    if job.state == "failed":
        raise StudioError(job.error or job.message)
    return job
