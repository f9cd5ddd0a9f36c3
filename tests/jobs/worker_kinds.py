"""Job kinds that run in the worker process, for the executor tests; registered on import.

The worker imports this module by name when a request names one of these kinds, so the same
classes run there. What a kind commits lands in COMMITTED, in the runner's process.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from studio.core.errors import Cancelled, ModelMissingError
from studio.core.jobs import JobSpec, Progress
from studio.jobs.kinds import register
from studio.services import jobs as job_service

COMMITTED: dict[str, list[tuple[str, Any]]] = {}  # job id -> (unit, result) as committed
MISSING = "The model 'tiny-sd' is not in the models folder."
MISSING_HINT = "Add it in Settings, Models, then run the job again."

_CACHE: dict[str, Any] = {}  # what Count loaded, kept by the process between jobs
_LOADS: list[str] = []


def results(job_id: str) -> list[tuple[str, Any]]:
    """What a job committed, in order."""
    return COMMITTED.get(job_id, [])


class _Committing:
    """Commits each result to COMMITTED through the job service, as a real kind stores it."""

    executor = "worker"

    def units(self, spec: Any) -> list[str]:
        return list(spec.names)

    def commit(self, project, job_id, spec, unit, result, done) -> None:
        def store() -> None:
            COMMITTED.setdefault(job_id, []).append((unit, result))

        job_service.commit_unit(project, job_id, unit, done, f"{done} units", store)

    def finish(self, project, job_id, spec) -> str:
        return f"{len(results(job_id))} units"


@dataclass(frozen=True)
class CountSpec(JobSpec):
    kind: ClassVar[str] = "test-count"
    names: tuple[str, ...] = ()
    steps: int = 0  # progress reports inside each unit
    marker: str = ""  # the file `release` writes to
    chatter_mb: int = 0  # MiB written to stderr in each unit, besides stray stdout writes


class Count(_Committing):
    """Loads a stand-in model once per process; each unit says where it ran."""

    kind = CountSpec.kind

    def work(self, spec: CountSpec, units: list[str], ctx):
        if "model" not in _CACHE:
            _LOADS.append(spec.marker)
            _CACHE["model"] = object()
            _CACHE["marker"] = spec.marker
        for name in units:
            ctx.cancel.raise_if_cancelled()
            for step in range(1, spec.steps + 1):
                text = f"{name}: step {step} of {spec.steps}"
                ctx.progress(Progress(step, spec.steps, text, float(spec.steps - step)))
            if spec.chatter_mb:
                _chatter(spec.chatter_mb)
            yield (
                name,
                {"pid": os.getpid(), "loads": len(_LOADS), "data": name.encode() + b"\0\xff"},
            )

    def release(self) -> None:
        if _CACHE.get("marker"):
            Path(_CACHE["marker"]).write_text(f"released after {len(_LOADS)} load")
        _CACHE.clear()


def _chatter(mib: int) -> None:
    """What chatty libraries do: stderr by the MiB, stdout with and without Python."""
    line = "x" * 1023 + "\n"
    for _ in range(mib * 1024):
        sys.stderr.write(line)
    sys.stderr.flush()
    # No newline: on the protocol's stream this would spoil the next event line.
    print("progress: 50%", end="", flush=True)
    os.write(1, b"native library banner ")


@dataclass(frozen=True)
class HoldSpec(JobSpec):
    kind: ClassVar[str] = "test-hold"
    names: tuple[str, ...] = ()
    hold: str = ""  # the unit that waits for a cancel (at most 30 s)


class Hold(_Committing):
    """Waits inside one unit until the job is cancelled, as a render waits between steps."""

    kind = HoldSpec.kind

    def work(self, spec: HoldSpec, units: list[str], ctx):
        for name in units:
            ctx.cancel.raise_if_cancelled()
            if name == spec.hold:
                print(f"holding {name}", file=sys.stderr, flush=True)
                ctx.progress(Progress(0, 1, f"holding {name} in {os.getpid()}"))
                deadline = time.monotonic() + 30
                while not ctx.cancel.cancelled and time.monotonic() < deadline:
                    time.sleep(0.002)
                if ctx.cancel.cancelled:
                    ctx.progress(Progress(0, 1, "saw the cancel"))
                    raise Cancelled()
            yield name, {"pid": os.getpid()}


@dataclass(frozen=True)
class FailSpec(JobSpec):
    kind: ClassVar[str] = "test-fail"
    names: tuple[str, ...] = ()
    error: str = "studio"  # "studio": a ModelMissingError; "os": an OSError


class Fail(_Committing):
    """Finishes its first unit, then fails in the second."""

    kind = FailSpec.kind

    def work(self, spec: FailSpec, units: list[str], ctx):
        yield units[0], {"pid": os.getpid()}
        if spec.error == "studio":
            raise ModelMissingError(MISSING, hint=MISSING_HINT)
        raise OSError("disk full")


for _kind, _spec in ((Count(), CountSpec), (Hold(), HoldSpec), (Fail(), FailSpec)):
    register(_kind, _spec)
