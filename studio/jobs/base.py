"""What every job kind shares: the work context, the kind protocol, the result codec and the
face engine codecs.

Job kinds import this module; the registry (`studio.jobs.kinds`) imports the kinds. Nothing here
imports a kind, so the arrows run one way.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from studio.core.changes import Changes
from studio.core.jobs import CancelToken, Progress
from studio.project.store import Project

# Where a kind's work runs: in the runner's thread, or in the long-lived worker process (GPU
# work: its pipelines stay loaded between jobs and a crash cannot take the studio down).
ExecutorName = Literal["thread", "worker"]


@dataclass
class WorkContext:
    """What a job's work may read: stored blobs and asset files. Never the database itself."""

    read_blob: Callable[[str], bytes]
    asset_path: Callable[[str], Path]
    cancel: CancelToken
    # Progress inside one long unit (a download, a render's steps); reported, never committed.
    progress: Callable[[Progress], None] = lambda p: None


class JobKind(Protocol):
    """What a kind of job does: its units, the work per unit, and how a result is committed.

    `work` runs where `executor` says and sees only its spec, its units and a WorkContext, so
    in the worker its results must be JSON data (bytes allowed, see `encode_result`);
    `commit` and `finish` always run in the runner, the project's one writer; `commit` returns
    the change record of what it stored (None when no view shows it). Optional hooks:
    `extra_units(spec)` and `describe_extra(left)` (work the progress counter does not count)
    and `release()` (free what the kind cached, called before a worker process exits).
    """

    kind: str
    executor: ExecutorName

    def units(self, spec: Any) -> list[str]: ...

    def work(self, spec: Any, units: list[str], ctx: WorkContext) -> Iterator[tuple[str, Any]]: ...

    def commit(
        self, project: Project, job_id: str, spec: Any, unit: str, result: Any, done: int
    ) -> Changes | None: ...

    def finish(self, project: Project, job_id: str, spec: Any) -> str: ...


def encode_result(value: Any) -> Any:
    """A unit's result as JSON data: bytes, also inside lists and dicts, travel as base64."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: encode_result(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_result(v) for v in value]
    return value


def decode_result(value: Any) -> Any:
    """A result back from `encode_result`'s data (tuples come back as lists)."""
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: decode_result(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_result(v) for v in value]
    return value


def load_face_engine(name: str, thorough: bool = True) -> Any:
    """Load the named face engine (its models load now, in the job)."""
    from studio.engine.faces import load_engine

    return load_engine(name, thorough=thorough)


def face_result(face: Any) -> dict:
    """A face as JSON-able data (it may cross the worker's pipe)."""
    row = face.to_row()
    if face.embedding is not None:
        row["embedding"] = face.embedding.astype("float32").tolist()
    return row


def face_from_result(row: dict) -> Any:
    """A face back from `face_result`'s data."""
    import numpy as np

    from studio.core.faces import Face

    emb = row.get("embedding")
    data = dict(row, embedding=None if emb is None else np.asarray(emb, np.float32).tobytes())
    return Face.from_row(data)
