"""Exporting a shot: plan the job that writes its current frames as a numbered PNG sequence.

Each rendered frame's file carries its take's generation parameters (AUTOMATIC1111's
"parameters" text and the studio's own JSON record); a footage frame is written as a plain PNG.
The files are written by the export job (`studio.jobs.export_kinds`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from studio.core.errors import StudioError
from studio.core.render import parse_frame_range
from studio.core.takes import ExportFrame, ExportSpec, export_file_name, provenance_json
from studio.core.text import plural
from studio.project import models as model_rows
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.project.store import Project


def plan_export(
    project: Project, shot_key: str, folder: str | os.PathLike, frames: str | None = None
) -> ExportSpec:
    """The job writing a shot's current frames to `folder` as `<shot>_0001.png`...

    frames: which ones, as the artist numbers them ("3-9", "1,4,7-8"; from 1); None: all.
    Frames asked for that have no picture yet are listed in the spec, not written.
    """
    shot = shot_rows.get_shot(project, shot_key)
    folder = os.path.abspath(os.fspath(folder))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise StudioError(
            f"{folder} is a file, not a folder.", hint="Give a folder to write the frames into."
        )
    pictures = {f.index: f for f in shot_rows.frames_of(project, shot.id) if f.blob_sha}
    settings = render_rows.get_settings(project, shot.id)
    count = max([settings.frames if settings else 0, *(i + 1 for i in pictures)])
    if not pictures:
        raise StudioError(
            f"'{shot.name}' has no frames to export yet.",
            hint="Render its frames first." if settings else "Import its footage again.",
        )
    wanted = parse_frame_range(frames, count) if frames else tuple(range(count))
    takes = render_rows.current_takes(project, shot.id)
    out, missing, lora_shas = [], [], []
    for index in wanted:
        frame = pictures.get(index)
        if frame is None:
            missing.append(index)
            continue
        take = takes.get(index)
        record = provenance_json(take, shot.name) if take else ""
        if take:
            lora_shas += [lo.sha256 for lo in take.loras if lo.sha256]
        out.append(ExportFrame(index, frame.blob_sha, export_file_name(shot.name, index), record))
    if not out:
        raise StudioError(
            f"Frames {describe_frames(missing)} of '{shot.name}' have no picture yet.",
            hint="Render them first, or choose frames that are rendered.",
        )
    return ExportSpec(
        title=f"Export {plural(len(out), 'frame')} of {shot.name}",
        shot_id=shot.id,
        shot_name=shot.name,
        folder=folder,
        frames=tuple(out),
        lora_files=_model_files(project, lora_shas),
        missing=tuple(missing),
    )


def _model_files(project: Project, shas: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(sha256, path) of the registered models with these hashes."""
    found = (model_rows.find_by_sha(project, sha) for sha in sorted(set(shas)))
    return tuple((m.sha256, m.path) for m in found if m is not None)


def export_message(spec: ExportSpec) -> str:
    """What an export did, in one line."""
    text = f"Wrote {plural(len(spec.frames), 'frame')} of {spec.shot_name} to {spec.folder}"
    if spec.missing:
        text += (
            f"; {plural(len(spec.missing), 'frame')} not rendered yet "
            f"({describe_frames(spec.missing)})"
        )
    return text


def describe_frames(indexes: Sequence[int]) -> str:
    """Frame indexes as the artist numbers them, runs joined: (2, 3, 4, 8) -> "3-5, 9"."""
    runs: list[list[int]] = []
    for i in sorted(set(indexes)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in runs)
