"""What each kind of job does: its units, the work per unit, and how a result is committed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from studio.core.errors import JobError
from studio.core.jobs import CancelToken, JobSpec
from studio.core.specs import ThumbnailSpec, VerifySpec
from studio.project.store import Project
from studio.services import jobs as job_service
from studio.services import library


@dataclass
class WorkContext:
    """What a job's work may read: stored blobs and asset files. Never the database itself."""

    read_blob: Callable[[str], bytes]
    asset_path: Callable[[str], Path]
    cancel: CancelToken


class JobKind(Protocol):
    kind: str
    in_subprocess: bool

    def units(self, spec: Any) -> list[str]: ...

    def work(self, spec: Any, units: list[str], ctx: WorkContext) -> Iterator[tuple[str, Any]]: ...

    def commit(
        self, project: Project, job_id: str, spec: Any, unit: str, result: Any, done: int
    ) -> None: ...

    def finish(self, project: Project, job_id: str, spec: Any) -> str: ...


class Thumbnails:
    kind = ThumbnailSpec.kind
    in_subprocess = False

    def units(self, spec: ThumbnailSpec) -> list[str]:
        return list(spec.blob_shas)

    def work(self, spec: ThumbnailSpec, units: list[str], ctx: WorkContext):
        from studio.engine import images  # Pillow loads when the first job needs it

        for sha in units:
            ctx.cancel.raise_if_cancelled()
            yield sha, images.thumbnail(ctx.read_blob(sha), spec.size)

    def commit(self, project, job_id, spec: ThumbnailSpec, unit, result: bytes, done):
        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{done} of {len(spec.blob_shas)} thumbnails",
            lambda: library.store_thumbnail(project, unit, spec.size, result),
        )

    def finish(self, project, job_id, spec: ThumbnailSpec) -> str:
        return f"{len(spec.blob_shas)} thumbnails ready"


class Verify:
    kind = VerifySpec.kind
    in_subprocess = False

    def units(self, spec: VerifySpec) -> list[str]:
        return [f"blob:{s}" for s in spec.blob_shas] + [f"asset:{s}" for s in spec.asset_shas]

    def work(self, spec: VerifySpec, units: list[str], ctx: WorkContext):
        for unit in units:
            ctx.cancel.raise_if_cancelled()
            what, sha = unit.split(":", 1)
            h = hashlib.sha256()
            try:
                if what == "blob":
                    h.update(ctx.read_blob(sha))
                else:
                    with open(ctx.asset_path(sha), "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                ok = h.hexdigest() == sha
            except Exception:
                ok = False
            yield unit, ok

    def commit(self, project, job_id, spec: VerifySpec, unit, result: bool, done):
        def store() -> None:
            if not result:
                job_service.add_problem(project, job_id, unit)

        total = len(spec.blob_shas) + len(spec.asset_shas)
        job_service.commit_unit(project, job_id, unit, done, f"{done} of {total} checked", store)

    def finish(self, project, job_id, spec: VerifySpec) -> str:
        bad = [b for b in job_service.get_job(project, job_id).error.split("\n") if b]
        total = len(spec.blob_shas) + len(spec.asset_shas)
        if bad:
            raise JobError(
                f"{len(bad)} of {total} stored files are damaged: {', '.join(bad[:5])}.",
                hint="Restore the project from a backup, or re-import the damaged images.",
            )
        return f"All {total} stored files are intact"


KINDS: dict[str, JobKind] = {k.kind: k for k in (Thumbnails(), Verify())}


def kind_of(spec: JobSpec) -> JobKind:
    """The handler of a spec's kind."""
    try:
        return KINDS[spec.kind]
    except KeyError:
        raise JobError(f"Unknown kind of job '{spec.kind}'.") from None
