"""The export job: a shot's frames written as a numbered PNG sequence, one file a unit."""

from __future__ import annotations

from collections.abc import Callable

from studio.core.jobs import CancelToken, Progress
from studio.core.takes import ExportSpec
from studio.jobs.base import WorkContext
from studio.project.store import Project
from studio.services import export, library
from studio.services import jobs as job_service


class Export:
    """Each frame's PNG is written whole (a temporary file renamed), so a resumed export
    rewrites only the files it had not finished."""

    kind = ExportSpec.kind
    executor = "thread"

    def units(self, spec: ExportSpec) -> list[str]:
        return [f.file_name for f in spec.frames]

    def work(self, spec: ExportSpec, units: list[str], ctx: WorkContext):
        from studio.engine import export as writer  # Pillow loads when the job runs

        frames = {f.file_name: f for f in spec.frames}
        hashes = writer.lora_hashes(spec.lora_files) if units else {}
        for unit in units:
            ctx.cancel.raise_if_cancelled()
            frame = frames[unit]
            png = writer.frame_png(frame, ctx.read_blob(frame.blob_sha), hashes)
            yield unit, str(writer.write_file(spec.folder, unit, png))

    def commit(self, project, job_id, spec: ExportSpec, unit, result: str, done):
        job_service.commit_unit(
            project, job_id, unit, done, f"{done} of {len(spec.frames)} frames", lambda: None
        )

    def finish(self, project, job_id, spec: ExportSpec) -> str:
        return export.export_message(spec)


def run_export(
    project: Project,
    spec: ExportSpec,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """Run an export here without the job queue (a project open read-only); its message."""
    cancel = cancel or CancelToken()
    ctx = WorkContext(
        read_blob=lambda sha: library.read_blob(project, sha),
        asset_path=lambda sha: library.asset_path(project, sha),
        cancel=cancel,
    )
    kind = Export()
    units = kind.units(spec)
    for done, _ in enumerate(kind.work(spec, units, ctx), 1):
        if progress:
            progress(Progress(done, len(units), f"{done} of {len(units)} frames"))
    return export.export_message(spec)
