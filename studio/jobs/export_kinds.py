"""The export job: a numbered PNG sequence (one file a unit) or one H.264 video (one unit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from studio.core.jobs import CancelToken, Progress
from studio.core.takes import EXPORT_VIDEO, ExportSpec
from studio.jobs.base import WorkContext
from studio.project.store import Project
from studio.services import export, library
from studio.services import jobs as job_service


class Export:
    """Each frame's PNG is written whole (a temporary file renamed), so a resumed export
    rewrites only the files it had not finished. A video is one unit written whole: an
    interrupted video export starts over, as a partial MP4 is useless."""

    kind = ExportSpec.kind
    executor = "thread"

    def units(self, spec: ExportSpec) -> list[str]:
        if spec.output == EXPORT_VIDEO:
            return [spec.path]
        return [f.unit for f in spec.frames]

    def work(self, spec: ExportSpec, units: list[str], ctx: WorkContext):
        from studio.engine import export as writer  # Pillow and PyAV load when the job runs

        if spec.output == EXPORT_VIDEO:
            if units:
                yield spec.path, str(_write_video(spec, ctx))
            return
        frames = {f.unit: f for f in spec.frames}
        hashes = writer.lora_hashes(spec.lora_files) if units else {}
        for unit in units:
            ctx.cancel.raise_if_cancelled()
            frame = frames[unit]
            png = writer.frame_png(frame, ctx.read_blob(frame.blob_sha), hashes)
            folder = f"{spec.folder}/{frame.folder}" if frame.folder else spec.folder
            yield unit, str(writer.write_file(folder, frame.file_name, png))

    def commit(self, project, job_id, spec: ExportSpec, unit, result: str, done):
        said = "video written" if spec.output == EXPORT_VIDEO else f"{done} of {len(spec.frames)}"
        job_service.commit_unit(project, job_id, unit, done, said, lambda: None)

    def finish(self, project, job_id, spec: ExportSpec) -> str:
        return export.export_message(spec)


def _write_video(spec: ExportSpec, ctx: WorkContext):
    from studio.engine import export as writer
    from studio.engine import images

    def pictures() -> Iterator[np.ndarray]:
        for frame in spec.frames:
            rgb = images.decode(ctx.read_blob(frame.blob_sha)).rgb
            for _ in range(frame.repeat):
                yield rgb

    return writer.write_video(
        spec.path,
        pictures(),
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        title=spec.shot_name,
        comment=spec.comment,
        total=spec.video_frames,
        progress=ctx.progress,
        cancel=ctx.cancel,
    )


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
        progress=progress or (lambda p: None),
    )
    kind = Export()
    units = kind.units(spec)
    for done, _ in enumerate(kind.work(spec, units, ctx), 1):
        if progress and spec.output != EXPORT_VIDEO:  # a video reports each frame itself
            progress(Progress(done, len(units), f"{done} of {len(units)} frames"))
    return export.export_message(spec)
