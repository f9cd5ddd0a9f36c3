"""Shots from footage: plan the import, store each shot it read, report; edit the timeline.

Reading and decoding the footage runs off-thread in the engine (the footage job); this module
plans the job and stores each source's frames in the transaction that marks its unit done.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from studio.core.changes import Changes
from studio.core.errors import JobError, StudioError
from studio.core.shots import ImportedFrame, Shot
from studio.core.specs import FootageSpec
from studio.core.text import plural
from studio.project import job_results
from studio.project import jobs as job_rows
from studio.project import personas as persona_rows
from studio.project import shots as rows
from studio.project.store import Project

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".gif", ".avi", ".m4v"})
FRAME_SUFFIXES = frozenset(
    {".png", ".apng", ".jpg", ".jpeg", ".jpe", ".webp", ".tif", ".tiff", ".bmp", ".heic",
     ".heif", ".avif", ".jxl"}
)  # fmt: skip
IMPORTED, REJECTED = "imported", "rejected"

list_shots = rows.list_shots
get_shot = rows.get_shot
frames_of = rows.frames_of


def footage_sources(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Expand what the user gave into shot sources, in order.

    A video file is a source; a folder that holds images directly is one source (a shot of
    numbered images); other folders are searched for videos and folders of images. Anything
    else stays in the list, so the import reports why it is not footage.
    """
    out: list[str] = []
    for given in paths:
        path = os.path.abspath(os.fspath(given))
        if os.path.isdir(path):
            out.extend(_sources_in(path))
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def _sources_in(folder: str) -> list[str]:
    found: list[str] = []
    seen: set[str] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        visible = sorted(n for n in names if not n.startswith("."))
        if any(os.path.splitext(n)[1].lower() in FRAME_SUFFIXES for n in visible):
            found.append(root)  # a folder of numbered images is one shot
        found.extend(
            os.path.join(root, n)
            for n in visible
            if os.path.splitext(n)[1].lower() in VIDEO_SUFFIXES
        )
    return found or [folder]  # an empty folder: the import says so


def plan_footage_import(
    project: Project,
    persona_keys: Sequence[str],
    paths: Iterable[str | os.PathLike],
    *,
    every: int = 1,
    max_frames: int = 1000,
    fps: float | None = None,
    outfits: Sequence[str] = (),
) -> FootageSpec:
    """A job spec importing each video file or folder of images as a new shot.

    outfits: the outfit the shots expect, as "NAME" (every expected persona whose wardrobe has
    an outfit of that name) or "PERSONA=NAME".
    """
    if every < 1:
        raise StudioError("--every must be 1 or more.", hint="Use 1 to keep every frame.")
    if max_frames < 1:
        raise StudioError("The frame cap must be 1 or more.")
    personas = [persona_rows.get_persona(project, key) for key in persona_keys]
    sources = footage_sources(paths)
    if not sources:
        raise StudioError("There is no footage to import.", hint="Choose video files or folders.")
    return FootageSpec(
        title=f"Import {plural(len(sources), 'clip')} as shots",
        persona_ids=tuple(p.id for p in personas),
        sources=tuple(sources),
        every=every,
        max_frames=max_frames,
        fps=float(fps or 0.0),
        outfits=tuple(sorted(expected_outfits(project, personas, outfits).items())),
    )


def outfit_names(project: Project, persona_id: str) -> list[str]:
    """The names of the outfits in a persona's current record."""
    record = persona_rows.get_version(project, persona_id).record
    outfits = (record.get("wardrobe") or {}).get("outfits") or []
    return [str(o["name"]) for o in outfits if isinstance(o, dict) and o.get("name")]


def expected_outfits(project: Project, personas, wanted: Sequence[str]) -> dict[str, str]:
    """Persona id -> outfit from "NAME" or "PERSONA=NAME" values; unknown names are errors."""
    out: dict[str, str] = {}
    for value in wanted:
        who, _, name = value.rpartition("=")
        name = name.strip()
        chosen = personas
        if who:
            chosen = [persona_rows.get_persona(project, who.strip())]
            if chosen[0].id not in {p.id for p in personas}:
                raise StudioError(
                    f"{chosen[0].name} is not expected in these shots.",
                    hint="Name the persona with --persona too.",
                )
        matched = False
        for persona in chosen:
            names = outfit_names(project, persona.id)
            exact = next((n for n in names if n.casefold() == name.casefold()), None)
            if exact:
                out[persona.id], matched = exact, True
            elif who:
                listed = ", ".join(f"'{n}'" for n in names) or "none yet"
                raise StudioError(
                    f"{persona.name} has no outfit '{name}' (outfits: {listed}).",
                    hint="Add it to the wardrobe in the Persona workspace, or name another.",
                )
        if not matched:
            raise StudioError(
                f"No expected persona has an outfit '{name}'.",
                hint="Name an outfit of their wardrobe, or PERSONA=OUTFIT for one of them.",
            )
    return out


def set_outfit(project: Project, shot_key: str, persona_key: str, outfit: str | None) -> str | None:
    """Set the outfit a shot expects a persona in (None: any of hers); returns the old one."""
    shot = rows.get_shot(project, shot_key)
    persona = persona_rows.get_persona(project, persona_key)
    if persona.id not in shot_personas(project, shot) or not shot.persona_ids:
        raise StudioError(
            f"{persona.name} is not expected in '{shot.name}'.",
            hint="Outfits are set for the personas a shot expects.",
        )
    if outfit is not None:
        outfit = expected_outfits(project, [persona], [outfit])[persona.id]
    old = shot.outfit_for(persona.id)
    rows.set_outfit(project, shot.id, persona.id, outfit)
    return old


def shot_name_for(source: str) -> str:
    """A shot's name from its source: the file's or folder's name without extension."""
    base = os.path.basename(os.path.normpath(source))
    return os.path.splitext(base)[0] if os.path.isfile(source) else base


def store_footage(
    project: Project, job_id: str, spec: FootageSpec, source: str, result
) -> Changes | None:
    """Store one source's frames as a shot (returning it as a change), or record why it could
    not be read.

    `result` is {"error": reason} or {"frames": [ImportedFrame], "skipped": [(name, reason)],
    "fps": float | None, "kind": "video" | "images"}. Call inside the unit's transaction.
    """
    with project.atomic():
        if "error" in result:
            job_results.put_unit_result(
                project, job_id, source, REJECTED, {"reason": result["error"]}
            )
            return None
        frames: list[ImportedFrame] = result["frames"]
        skipped = [list(s) for s in result.get("skipped", [])]
        if not frames:
            reason = skipped[0][1] if skipped else "holds no frames"
            job_results.put_unit_result(project, job_id, source, REJECTED, {"reason": reason})
            return None
        shot = rows.add_shot(
            project,
            shot_name_for(source),
            spec.persona_ids,
            frames,
            source_path=source,
            source_kind=result.get("kind", ""),
            fps=result.get("fps"),
            every=spec.every,
            outfits=dict(spec.outfits),
        )
        detail = {"shot": shot.id, "name": shot.name, "frames": len(frames), "skipped": skipped}
        if result.get("capped"):
            detail["capped"] = True
        job_results.put_unit_result(project, job_id, source, IMPORTED, detail)
    return Changes.of(shots=[shot.id])


@dataclass(frozen=True)
class FootageReport:
    """What a footage import did with each source: shots made, frames skipped, sources refused."""

    job_id: str
    imported: tuple[tuple[str, str, int], ...]  # (source, shot name, frames)
    skipped: tuple[tuple[str, str, str], ...]  # (source, frame, reason)
    rejected: tuple[tuple[str, str], ...]  # (source, reason)
    capped: tuple[str, ...] = ()  # sources cut at the frame cap
    pending: tuple[str, ...] = ()

    def summary(self) -> str:
        frames = sum(n for _, _, n in self.imported)
        text = f"{plural(len(self.imported), 'shot')} imported ({plural(frames, 'frame')})"
        if self.skipped:
            text += f", {plural(len(self.skipped), 'frame')} skipped"
        if self.rejected:
            text += f", {plural(len(self.rejected), 'file')} rejected"
        return text

    def lines(self) -> list[str]:
        """The report as lines for a dialog or the terminal: one line per problem."""
        out = [self.summary()]
        out += [
            f"  {os.path.basename(s)} → shot '{n}', {plural(k, 'frame')}"
            for s, n, k in self.imported
        ]
        out += [f"  {os.path.basename(s)}: cut at the frame cap" for s in self.capped]
        out += [f"  {os.path.basename(s)}, {f}: {r}" for s, f, r in self.skipped]
        out += [f"  {s}: {r}" for s, r in self.rejected]
        return out

    def to_dict(self) -> dict:
        return {
            "job": self.job_id,
            "summary": self.summary(),
            "imported": [{"source": s, "shot": n, "frames": k} for s, n, k in self.imported],
            "skipped": [{"source": s, "frame": f, "reason": r} for s, f, r in self.skipped],
            "rejected": [{"source": s, "reason": r} for s, r in self.rejected],
            "capped": list(self.capped),
        }


def footage_report(project: Project, job_id: str) -> FootageReport:
    """What a footage job did with each source, from what it committed."""
    job = job_rows.get_job(project, job_id)
    if job.kind != FootageSpec.kind:
        raise JobError(f"The job '{job.title}' is not a footage import.")
    results = job_results.unit_results(project, job.id)
    imported, skipped, rejected, capped, pending = [], [], [], [], []
    for source in dict.fromkeys(job.spec.get("sources", [])):
        outcome, detail = results.get(source, ("", {}))
        if outcome == IMPORTED:
            imported.append((source, detail.get("name", ""), int(detail.get("frames", 0))))
            skipped += [(source, f, r) for f, r in detail.get("skipped", [])]
            if detail.get("capped"):
                capped.append(source)
        elif outcome == REJECTED:
            rejected.append((source, detail.get("reason", "")))
        else:
            pending.append(source)
    return FootageReport(
        job_id, tuple(imported), tuple(skipped), tuple(rejected), tuple(capped), tuple(pending)
    )


def shot_personas(project: Project, shot: Shot) -> list[str]:
    """The persona ids expected in a shot (every persona of the cast when none is named)."""
    if shot.persona_ids:
        return list(shot.persona_ids)
    return [p.id for p in persona_rows.list_personas(project)]


def expected_personas(project: Project) -> dict[str, list[str]]:
    """Every shot's expected personas by name, in the cast's order (the whole cast where a shot
    names nobody)."""
    cast = {p.id: p.name for p in persona_rows.list_personas(project)}
    out = {}
    for shot in rows.list_shots(project):
        wanted = set(shot.persona_ids or cast)
        out[shot.id] = [name for pid, name in cast.items() if pid in wanted]
    return out
