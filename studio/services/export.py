"""Exporting: plan the job that writes a shot's, or the whole timeline's, current frames.

The output's name chooses what is written: a folder gets a numbered PNG sequence (the whole
timeline: one folder a shot), a `.mp4` file one H.264 video. Each rendered frame's PNG carries
its take's generation parameters (AUTOMATIC1111's "parameters" text and the studio's own JSON
record); a footage frame is written as a plain PNG. A video plays each shot at its frame rate
and names the shot, personas and models in its metadata. The files are written by the export
job (`studio.jobs.export_kinds`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from studio.core.errors import StudioError
from studio.core.render import parse_frame_range
from studio.core.shots import Shot
from studio.core.takes import (
    EXPORT_PNG,
    EXPORT_VIDEO,
    ExportFrame,
    ExportSpec,
    export_file_name,
    provenance_json,
    retime,
)
from studio.core.text import plural
from studio.project import models as model_rows
from studio.project import personas as persona_rows
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.project.store import Project

DEFAULT_FPS = 24.0  # a render shot's rate until the artist sets one
VIDEO_SUFFIXES = (".mp4",)


def shot_rate(shot: Shot) -> float:
    """The frames per second a shot plays at: footage's kept frames, else its own, else 24."""
    if shot.fps and shot.fps > 0:
        return shot.fps / max(1, shot.every)
    return DEFAULT_FPS


def output_kind(output: str | os.PathLike) -> str:
    """EXPORT_VIDEO for a `.mp4` file, EXPORT_PNG for a folder; StudioError for anything else."""
    path = os.path.abspath(os.fspath(output))
    suffix = os.path.splitext(path)[1].lower()
    if suffix in VIDEO_SUFFIXES:
        if os.path.isdir(path):
            raise StudioError(
                f"{path} is a folder, not a video file.",
                hint="Give a file name ending in .mp4 that is not a folder.",
            )
        return EXPORT_VIDEO
    if os.path.isdir(path):
        return EXPORT_PNG
    if os.path.exists(path):
        raise StudioError(
            f"{path} is a file, not a folder.", hint="Give a folder to write the frames into."
        )
    if suffix:
        raise StudioError(
            f"Cannot export to '{suffix}' files ({path}).",
            hint="End the name with .mp4 for a video, or give a folder (no suffix) for PNGs.",
        )
    return EXPORT_PNG


@dataclass(frozen=True)
class _ShotFrames:
    shot: Shot
    frames: tuple[ExportFrame, ...]
    missing: tuple[int, ...]
    model_names: tuple[str, ...]
    lora_shas: tuple[str, ...]


def plan_export(
    project: Project,
    shot_key: str | None,
    output: str | os.PathLike,
    frames: str | None = None,
) -> ExportSpec:
    """The job writing a shot's current frames (shot_key None: the whole timeline's) to `output`.

    output: a folder for `<shot>_0001.png`... (the whole timeline: `<shot>/<shot>_0001.png`),
    or a `.mp4` file for one video. frames: which ones, as the artist numbers them ("3-9",
    "1,4,7-8"; from 1); None: all; only with a shot. Frames asked for that have no picture
    yet are listed in the spec, not written.
    """
    kind = output_kind(output)
    path = os.path.abspath(os.fspath(output))
    if shot_key is None:
        if frames:
            raise StudioError(
                "Frames can be chosen only in one shot.",
                hint="Name the shot with --shot, or leave out --frames to export every frame.",
            )
        shots = shot_rows.list_shots(project)
        if not shots:
            raise StudioError("The project has no shots to export.", hint="Add a shot first.")
        parts = [_shot_frames(project, s, None, required=False) for s in shots]
        title = project.path.stem
    else:
        parts = [_shot_frames(project, shot_rows.get_shot(project, shot_key), frames)]
        title = parts[0].shot.name
    notes = [f"'{p.shot.name}' has no frames yet and is left out" for p in parts if not p.frames]
    parts = [p for p in parts if p.frames]
    if not parts:
        raise StudioError(
            "No shot of the timeline has frames to export yet.",
            hint="Render or import the shots' frames first.",
        )
    single = shot_key is not None
    if kind == EXPORT_VIDEO:
        return _video_spec(project, parts, path, title, single, notes)
    out = []
    taken: set[str] = set()
    for part in parts:
        folder = "" if single else _unique(_stem(part.shot.name), taken)
        out += [replace(f, folder=folder) for f in part.frames]
    what = f"{plural(len(out), 'frame')} of {title}"
    return ExportSpec(
        title=f"Export {what}",
        shot_id=parts[0].shot.id if single else "",
        shot_name=title,
        folder=path,
        frames=tuple(out),
        lora_files=_model_files(project, [sha for p in parts for sha in p.lora_shas]),
        missing=parts[0].missing if single else (),
        output=EXPORT_PNG,
        shots=tuple(p.shot.name for p in parts),
        notes=tuple(notes),
    )


def _video_spec(
    project: Project,
    parts: list[_ShotFrames],
    path: str,
    title: str,
    single: bool,
    notes: list[str],
) -> ExportSpec:
    rate = shot_rate(parts[0].shot)
    rates = {shot_rate(p.shot) for p in parts}
    if len(rates) > 1:
        listed = ", ".join(f"{_number(r)}" for r in sorted(rates))
        notes.append(
            f"the shots run at different rates ({listed} fps): the video runs at the first "
            f"shot's {_number(rate)} fps, the others' frames repeated or dropped to keep time"
        )
    out = []
    for part in parts:
        counts = retime(len(part.frames), shot_rate(part.shot), rate)
        out += [replace(f, repeat=n) for f, n in zip(part.frames, counts, strict=True) if n]
    width, height = out[0].width, out[0].height
    if width and height:
        if any((f.width, f.height) != (width, height) for f in out if f.width and f.height):
            notes.append(f"frames of other sizes are scaled to {width}x{height}, letterboxed")
        if width % 2 or height % 2:
            even = f"{width - width % 2}x{height - height % 2}"
            notes.append(f"the video is {even} (H.264 needs an even width and height)")
    missing = parts[0].missing if single else ()
    if missing:
        notes.append(
            f"{plural(len(missing), 'frame')} not rendered yet ({describe_frames(missing)}) "
            "are left out"
        )
    personas = _persona_names(project, [p.shot for p in parts])
    models = sorted({m for p in parts for m in p.model_names})
    comment = "; ".join(
        x
        for x in (
            f"persona: {', '.join(personas)}" if personas else "",
            f"model: {', '.join(models)}" if models else "",
            "made with Persona Studio",
        )
        if x
    )
    return ExportSpec(
        title=f"Export {title} as a video",
        shot_id=parts[0].shot.id if single else "",
        shot_name=title,
        folder=os.path.dirname(path),
        frames=tuple(out),
        missing=missing,
        output=EXPORT_VIDEO,
        path=path,
        fps=rate,
        width=width,
        height=height,
        comment=comment,
        shots=tuple(p.shot.name for p in parts),
        notes=tuple(notes),
    )


def _shot_frames(
    project: Project, shot: Shot, frames: str | None, *, required: bool = True
) -> _ShotFrames:
    pictures = {f.index: f for f in shot_rows.frames_of(project, shot.id) if f.blob_sha}
    settings = render_rows.get_settings(project, shot.id)
    count = max([settings.frames if settings else 0, *(i + 1 for i in pictures)])
    if not pictures:
        if not required:
            return _ShotFrames(shot, (), (), (), ())
        raise StudioError(
            f"'{shot.name}' has no frames to export yet.",
            hint="Render its frames first." if settings else "Import its footage again.",
        )
    wanted = parse_frame_range(frames, count) if frames else tuple(range(count))
    takes = render_rows.current_takes(project, shot.id)
    out, missing, lora_shas, models = [], [], [], set()
    for index in wanted:
        frame = pictures.get(index)
        if frame is None:
            missing.append(index)
            continue
        take = takes.get(index)
        record = provenance_json(take, shot.name) if take else ""
        if take:
            lora_shas += [lo.sha256 for lo in take.loras if lo.sha256]
            if take.model_name:
                models.add(take.model_name)
            motion = take.provenance.get("motion") or {}
            if motion.get("model_name"):  # a clip's frames: the video model that animated it
                models.add(motion["model_name"])
        out.append(
            ExportFrame(
                index,
                frame.blob_sha,
                export_file_name(shot.name, index),
                record,
                width=frame.width,
                height=frame.height,
            )
        )
    if not out and required:
        raise StudioError(
            f"Frames {describe_frames(missing)} of '{shot.name}' have no picture yet.",
            hint="Render them first, or choose frames that are rendered.",
        )
    return _ShotFrames(shot, tuple(out), tuple(missing), tuple(sorted(models)), tuple(lora_shas))


def _stem(shot_name: str) -> str:
    return export_file_name(shot_name, 0).rsplit("_", 1)[0]


def _unique(stem: str, taken: set[str]) -> str:
    name, n = stem, 1
    while name.casefold() in taken:
        n += 1
        name = f"{stem}_{n}"
    taken.add(name.casefold())
    return name


def _persona_names(project: Project, shots: Sequence[Shot]) -> list[str]:
    ids = list(dict.fromkeys(pid for s in shots for pid in s.persona_ids))
    return [persona_rows.get_persona(project, pid).name for pid in ids]


def _model_files(project: Project, shas: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(sha256, path) of the registered models with these hashes."""
    found = (model_rows.find_by_sha(project, sha) for sha in sorted(set(shas)))
    return tuple((m.sha256, m.path) for m in found if m is not None)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def export_message(spec: ExportSpec) -> str:
    """What an export did, in one line."""
    if spec.output == EXPORT_VIDEO:
        seconds = spec.video_frames / spec.fps if spec.fps else 0.0
        what = spec.shot_name if spec.shot_id else plural(len(spec.shots), "shot")
        text = (
            f"Wrote {spec.path}: {what}, {plural(spec.video_frames, 'frame')} at "
            f"{_number(spec.fps)} fps ({seconds:.1f} s)"
        )
        return text + "".join(f"; {note}" for note in spec.notes)
    if spec.shot_id:
        text = f"Wrote {plural(len(spec.frames), 'frame')} of {spec.shot_name} to {spec.folder}"
    else:
        text = (
            f"Wrote {plural(len(spec.frames), 'frame')} of {plural(len(spec.shots), 'shot')} "
            f"to {spec.folder}, a folder for each shot"
        )
    if spec.missing:
        text += (
            f"; {plural(len(spec.missing), 'frame')} not rendered yet "
            f"({describe_frames(spec.missing)})"
        )
    return text + "".join(f"; {note}" for note in spec.notes)


def describe_frames(indexes: Sequence[int]) -> str:
    """Frame indexes as the artist numbers them, runs joined: (2, 3, 4, 8) -> "3-5, 9"."""
    runs: list[list[int]] = []
    for i in sorted(set(indexes)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in runs)
