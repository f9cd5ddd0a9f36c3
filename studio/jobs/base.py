"""What every job kind shares: the work context, the kind protocol, and the face engine codecs.

Job kinds import this module; the registry (`studio.jobs.kinds`) imports the kinds. Nothing here
imports a kind, so the arrows run one way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from studio.core.jobs import CancelToken, Progress
from studio.project.store import Project


@dataclass
class WorkContext:
    """What a job's work may read: stored blobs and asset files. Never the database itself."""

    read_blob: Callable[[str], bytes]
    asset_path: Callable[[str], Path]
    cancel: CancelToken
    # Progress inside one long unit (a download); reported, never committed.
    progress: Callable[[Progress], None] = lambda p: None


class JobKind(Protocol):
    kind: str
    in_subprocess: bool

    def units(self, spec: Any) -> list[str]: ...

    def work(self, spec: Any, units: list[str], ctx: WorkContext) -> Iterator[tuple[str, Any]]: ...

    def commit(
        self, project: Project, job_id: str, spec: Any, unit: str, result: Any, done: int
    ) -> None: ...

    def finish(self, project: Project, job_id: str, spec: Any) -> str: ...


def load_face_engine(name: str, thorough: bool = True) -> Any:
    """Load the named face engine (its models load now, in the job)."""
    from studio.engine.faces import load_engine

    return load_engine(name, thorough=thorough)


def face_result(face: Any) -> dict:
    """A face as JSON-able data (it may cross the subprocess pipe)."""
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
