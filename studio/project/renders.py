"""Shots made for rendering (their settings) and rendered takes with their provenance.

A take is one rendered picture of a frame. Its provenance is kept twice: as queryable columns
(seed, model hash, persona version...) to find takes, and whole as JSON so nothing is lost.
Rendered pictures are large, so their bytes live in the assets folder beside the file (see
`blobs.put_blob(..., large_outside=True)`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from studio.core.errors import NotFoundError, StudioError
from studio.core.ids import new_id, now_iso
from studio.core.render import SHOT_OFFSET_STEP, RenderSettings
from studio.core.takes import PROVENANCE_COLUMNS, Take, adapters_of, loras_of
from studio.project import blobs
from studio.project.store import Project

RENDER_SOURCE = "render"  # frames.source of a rendered frame

# -- render settings ----------------------------------------------------------------------------


def get_settings(project: Project, shot_id: str) -> RenderSettings | None:
    """A shot's render settings, or None for a shot made from footage."""
    rows = project.query("select settings from shot_render where shot_id = ?", (shot_id,))
    return RenderSettings.from_dict(json.loads(rows[0]["settings"])) if rows else None


def has_settings(project: Project, shot_id: str) -> bool:
    """Whether a shot is made for rendering (it has render settings)."""
    return bool(project.query("select 1 from shot_render where shot_id = ?", (shot_id,)))


def put_render_settings(
    project: Project, shot_id: str, settings: RenderSettings, model_id: str | None
) -> None:
    """Store a shot's render settings (model_id: the registered base model they name, if any)."""
    with project.atomic() as db:
        db.execute(
            "insert into shot_render (shot_id, settings, model_id, frames, seed_offset, updated_at)"
            " values (?, ?, ?, ?, ?, ?) on conflict (shot_id) do update set"
            " settings = excluded.settings, model_id = excluded.model_id,"
            " frames = excluded.frames, seed_offset = excluded.seed_offset,"
            " updated_at = excluded.updated_at",
            (
                shot_id,
                json.dumps(settings.to_dict(), sort_keys=True),
                model_id,
                settings.frames,
                settings.seed_offset,
                now_iso(),
            ),
        )


def next_seed_offset(project: Project, *, except_shot: str | None = None) -> int:
    """The seed offset of a new shot: 1,000 above the highest in use (past a longer shot's end).

    A shot of more than 1,000 frames reaches into the next thousand, so the next offset starts
    after its last seed and no two shots share one.
    """
    rows = project.query(
        "select seed_offset, frames from shot_render where shot_id is not ?", (except_shot,)
    )
    ends = [
        r["seed_offset"] + SHOT_OFFSET_STEP * max(1, math.ceil(r["frames"] / SHOT_OFFSET_STEP))
        for r in rows
    ]
    return max(ends, default=0)


# -- keyframes of motion shots ------------------------------------------------------------------


@dataclass(frozen=True)
class Keyframe:
    """The still a motion shot's clip was animated from: its shot's anchor picture."""

    shot_id: str
    blob_sha: str
    recipe: str  # digest of what it was rendered from: kept while that is unchanged
    provenance: dict


def put_keyframe(
    project: Project, shot_id: str, png: bytes, recipe: str, provenance: Mapping[str, Any]
) -> str:
    """Store a motion shot's keyframe (replacing the last one) and return its blob sha."""
    with project.atomic() as db:
        if not project.query("select 1 from shot_render where shot_id = ?", (shot_id,)):
            raise NotFoundError(
                "The shot this keyframe was rendered for has been deleted.",
                hint="Render the keyframe again for another shot.",
            )
        sha = blobs.put_blob(project, png, "image/png", large_outside=True)
        db.execute(
            "update shot_render set keyframe_sha = ?, keyframe_recipe = ?,"
            " keyframe_provenance = ? where shot_id = ?",
            (sha, recipe, json.dumps(dict(provenance), sort_keys=True), shot_id),
        )
    return sha


def get_keyframe(project: Project, shot_id: str) -> Keyframe | None:
    """A motion shot's stored keyframe, or None before one is rendered."""
    rows = project.query(
        "select keyframe_sha, keyframe_recipe, keyframe_provenance from shot_render"
        " where shot_id = ?",
        (shot_id,),
    )
    if not rows or not rows[0]["keyframe_sha"]:
        return None
    row = rows[0]
    return Keyframe(
        shot_id,
        row["keyframe_sha"],
        row["keyframe_recipe"] or "",
        json.loads(row["keyframe_provenance"] or "{}"),
    )


# -- takes --------------------------------------------------------------------------------------

_TAKE_SELECT = "select t.*, f.shot_id, f.idx from takes t join frames f on f.id = t.frame_id"


def _take(row: dict) -> Take:
    provenance = json.loads(row["provenance"] or "{}")
    return Take(
        id=row["id"],
        frame_id=row["frame_id"],
        shot_id=row["shot_id"],
        frame_index=row["idx"],
        blob_sha=row["blob_sha"] or "",
        chosen=bool(row["chosen"]),
        created_at=row["created_at"] or "",
        job_id=row["job_id"] or "",
        persona_id=row["persona_id"] or "",
        persona_version_id=row["persona_version_id"] or "",
        seed=row["seed"],
        model_sha=row["model_sha"] or "",
        model_name=row["model_name"] or "",
        family=row["family"] or "",
        mode=row["mode"] or "",
        width=row["width"] or 0,
        height=row["height"] or 0,
        steps=row["steps"] or 0,
        guidance=row["guidance"] if row["guidance"] is not None else 0.0,
        sampler=row["sampler"] or "",
        prompt=row["prompt"] or "",
        negative=row["negative"] or "",
        loras=loras_of({"loras": json.loads(row["loras"] or "[]")}),
        adapters=adapters_of({"adapters": json.loads(row["adapters"] or "[]")}),
        reference_shas=tuple(json.loads(row["reference_shas"] or "[]")),
        device=row["device"] or "",
        seconds=row["seconds"],
        provenance=provenance,
    )


_INTS = ("seed", "width", "height", "steps")
_FLOATS = ("guidance", "seconds")
_LISTS = ("loras", "adapters", "reference_shas")


def _columns(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance's queryable columns, typed; StudioError naming a value of the wrong type."""
    out: dict[str, Any] = {}
    for key in PROVENANCE_COLUMNS:
        value = provenance.get(key)
        try:
            if key in _LISTS:
                items = list(value or [])
                if key == "loras":
                    loras_of({"loras": items})  # each names a LoRA, with a numeric weight
                elif key == "adapters":
                    adapters_of({"adapters": items})
                value = json.dumps(items, sort_keys=True)
            elif value is None:
                pass
            elif key in _INTS:
                value = int(value)
            elif key in _FLOATS:
                value = float(value)
            else:
                value = str(value)
        except (TypeError, ValueError, KeyError) as exc:
            raise StudioError(
                f"The take's {key} ({value!r}) cannot be stored ({exc}).",
                hint="Render the frame again.",
            ) from None
        out[key] = value
    return out


def store_take(
    project: Project,
    shot_id: str,
    frame_index: int,
    png: bytes,
    provenance: Mapping[str, Any],
    *,
    choose: bool = True,
) -> str:
    """Store a rendered picture as a take of a frame and return the take's id (one transaction).

    The frame is made when the shot has none at that index. With `choose` (and always for a
    frame that has no picture yet) the take becomes the frame's current picture.
    provenance: what made it; the keys of `PROVENANCE_COLUMNS` become columns, and the whole
    dict (JSON-serialisable) is kept too.
    """
    if frame_index < 0:
        raise ValueError(f"frame index {frame_index} is negative")
    values = _columns(provenance)
    full = json.dumps(dict(provenance), sort_keys=True)
    with project.atomic() as db:
        if not project.query("select 1 from shots where id = ?", (shot_id,)):
            raise NotFoundError(
                "The shot this frame was rendered for has been deleted.",
                hint="Render the frames again into another shot.",
            )
        sha = blobs.put_blob(project, png, "image/png", large_outside=True)
        rows = project.query(
            "select id, blob_sha from frames where shot_id = ? and idx = ?", (shot_id, frame_index)
        )
        if rows:
            frame_id = rows[0]["id"]
            choose = choose or rows[0]["blob_sha"] is None
        else:
            frame_id, choose = new_id(), True
            db.execute(
                "insert into frames (id, shot_id, idx, source_index, blob_sha, source, width,"
                " height) values (?, ?, ?, ?, ?, ?, ?, ?)",
                (frame_id, shot_id, frame_index, frame_index, sha, RENDER_SOURCE,
                 values["width"], values["height"]),
            )  # fmt: skip
        take_id = new_id()
        columns = ["id", "frame_id", "blob_sha", "provenance", "chosen", "created_at", *values]
        db.execute(
            f"insert into takes ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
            (take_id, frame_id, sha, full, 0, now_iso(), *values.values()),
        )
        if choose:
            _make_current(project, frame_id, take_id)
    return take_id


def choose_take(project: Project, take_id: str) -> None:
    """Make a take its frame's current picture."""
    take = get_take(project, take_id)
    with project.atomic():
        _make_current(project, take.frame_id, take.id)


def _make_current(project: Project, frame_id: str, take_id: str) -> None:
    with project.atomic() as db:
        row = project.query(
            "select t.blob_sha, t.width, t.height, f.blob_sha as current from takes t"
            " join frames f on f.id = t.frame_id where t.id = ?",
            (take_id,),
        )[0]
        db.execute("update takes set chosen = (id = ?) where frame_id = ?", (take_id, frame_id))
        db.execute(
            "update frames set blob_sha = ?, width = coalesce(?, width),"
            " height = coalesce(?, height) where id = ?",
            (row["blob_sha"], row["width"], row["height"], frame_id),
        )
        if row["current"] != row["blob_sha"]:
            # The frame's drift scores were measured on the picture it no longer shows.
            db.execute("delete from cache_drift where frame_id = ?", (frame_id,))


def get_take(project: Project, take_id: str) -> Take:
    """A take by id; NotFoundError if there is none."""
    rows = project.query(f"{_TAKE_SELECT} where t.id = ?", (take_id,))
    if not rows:
        raise NotFoundError(
            f"There is no take {take_id[:10]}.", hint="It may have been deleted with its shot."
        )
    return _take(rows[0])


def takes_of(project: Project, frame_id: str) -> list[Take]:
    """A frame's takes, oldest first."""
    rows = project.query(
        f"{_TAKE_SELECT} where t.frame_id = ? order by t.created_at, t.rowid", (frame_id,)
    )
    return [_take(r) for r in rows]


def current_takes(project: Project, shot_id: str) -> dict[int, Take]:
    """Frame index -> the take that is the frame's current picture, for frames that have one."""
    rows = project.query(
        f"{_TAKE_SELECT} where f.shot_id = ? and t.chosen = 1 and t.blob_sha = f.blob_sha",
        (shot_id,),
    )
    return {r["idx"]: _take(r) for r in rows}


def current_recipes(project: Project, shot_id: str) -> dict[int, str]:
    """Frame index -> the digest of what its current take was rendered from ("recipe" in its
    provenance), for frames whose current picture is a take that records one."""
    rows = project.query(
        "select f.idx, json_extract(t.provenance, '$.recipe') as recipe from takes t"
        " join frames f on f.id = t.frame_id"
        " where f.shot_id = ? and t.chosen = 1 and t.blob_sha = f.blob_sha",
        (shot_id,),
    )
    return {r["idx"]: r["recipe"] for r in rows if isinstance(r["recipe"], str)}


def rendered_frames(project: Project, shot_id: str) -> set[int]:
    """The indexes of a shot's frames that have at least one take (a render resumes after them)."""
    rows = project.query(
        "select distinct f.idx from frames f join takes t on t.frame_id = f.id where f.shot_id = ?",
        (shot_id,),
    )
    return {r["idx"] for r in rows}


def find_takes(
    project: Project,
    *,
    seed: int | None = None,
    model_sha: str | None = None,
    persona_version_id: str | None = None,
    persona_id: str | None = None,
    shot_id: str | None = None,
) -> list[Take]:
    """Takes matching every given provenance value, in the order they were made."""
    where, args = [], []
    for column, value in (
        ("t.seed", seed),
        ("t.model_sha", model_sha),
        ("t.persona_version_id", persona_version_id),
        ("t.persona_id", persona_id),
        ("f.shot_id", shot_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = _TAKE_SELECT + (" where " + " and ".join(where) if where else "")
    rows = project.query(sql + " order by t.created_at, t.rowid", args)
    return [_take(r) for r in rows]
