"""Shots, their frames and the artist's frame reviews (authored data)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from studio.core.errors import NotFoundError
from studio.core.ids import new_id, now_iso
from studio.core.shots import Frame, FrameReview, ImportedFrame, Shot
from studio.project import blobs
from studio.project.store import Project

_SHOT_COLUMNS = (
    "s.id, s.name, s.position, s.notes, s.source, s.source_kind, s.fps, s.every, s.created_at,"
    " (select count(*) from frames f where f.shot_id = s.id) as n,"
    " (select json_group_array(sp.persona_id) from shot_personas sp where sp.shot_id = s.id)"
    " as persona_ids,"
    " (select json_group_object(sp.persona_id, sp.outfit) from shot_personas sp"
    " where sp.shot_id = s.id and sp.outfit is not null) as outfits"
)


def _shot(row: dict) -> Shot:
    return Shot(
        id=row["id"],
        name=row["name"],
        position=row["position"],
        persona_ids=tuple(json.loads(row["persona_ids"] or "[]")),
        notes=row["notes"] or "",
        source_path=row["source"] or "",
        source_kind=row["source_kind"] or "",
        fps=row["fps"],
        every=row["every"] or 1,
        created_at=row["created_at"] or "",
        frame_count=row["n"],
        outfits=tuple(sorted(json.loads(row["outfits"] or "{}").items())),
    )


def _frame(row: dict) -> Frame:
    return Frame(
        id=row["id"],
        shot_id=row["shot_id"],
        index=row["idx"],
        source_index=row["idx"] if row["source_index"] is None else row["source_index"],
        time_s=row["timecode_s"],
        blob_sha=row["blob_sha"],
        width=row["width"] or 0,
        height=row["height"] or 0,
    )


def list_shots(project: Project) -> list[Shot]:
    """Every shot in timeline order."""
    rows = project.query(f"select {_SHOT_COLUMNS} from shots s order by s.position, s.name")
    return [_shot(r) for r in rows]


def get_shot(project: Project, key: str) -> Shot:
    """A shot by id or name (case-insensitive); NotFoundError names the known shots."""
    rows = project.query(
        f"select {_SHOT_COLUMNS} from shots s where s.id = ? or s.name = ? collate nocase",
        (key, key),
    )
    if not rows:
        known = ", ".join(s.name for s in list_shots(project)) or "none yet"
        raise NotFoundError(f"There is no shot '{key}'.", hint=f"Shots in this project: {known}.")
    return _shot(rows[0])


def unique_shot_name(project: Project, wanted: str) -> str:
    """`wanted`, or `wanted 2`, `wanted 3`… if a shot already has that name."""
    taken = {r["name"].lower() for r in project.query("select name from shots")}
    name, n = wanted, 1
    while name.lower() in taken:
        n += 1
        name = f"{wanted} {n}"
    return name


def add_shot(
    project: Project,
    name: str,
    persona_ids: Sequence[str],
    frames: Iterable[ImportedFrame],
    *,
    source_path: str = "",
    source_kind: str = "",
    fps: float | None = None,
    every: int = 1,
    outfits: Mapping[str, str] | None = None,
) -> Shot:
    """Store a shot at the end of the timeline with its frames (one transaction).

    outfits: persona id -> the outfit the shot expects her in.
    """
    with project.atomic() as db:
        shot_id = new_id()
        position = project.query("select coalesce(max(position), -1) + 1 as p from shots")[0]["p"]
        db["shots"].insert(
            {
                "id": shot_id,
                "name": unique_shot_name(project, name),
                "notes": "",
                "position": position,
                "source": source_path,
                "source_kind": source_kind,
                "fps": fps,
                "every": every,
                "created_at": now_iso(),
            }
        )
        _set_personas(project, shot_id, persona_ids, outfits)
        rows = []
        for f in frames:
            sha = blobs.put_blob(project, f.data, f.mime)
            rows.append(
                {
                    "id": new_id(),
                    "shot_id": shot_id,
                    "idx": f.index,
                    "source_index": f.source_index,
                    "timecode_s": f.time_s,
                    "source": source_path,
                    "blob_sha": sha,
                    "width": f.width,
                    "height": f.height,
                }
            )
        if rows:
            db["frames"].insert_all(rows)
    return get_shot(project, shot_id)


def _set_personas(
    project: Project,
    shot_id: str,
    persona_ids: Sequence[str],
    outfits: Mapping[str, str] | None = None,
) -> None:
    outfits = outfits or {}
    with project.atomic() as db:
        db.execute("delete from shot_personas where shot_id = ?", [shot_id])
        for pid in dict.fromkeys(persona_ids):
            db.execute(
                "insert into shot_personas (shot_id, persona_id, outfit) values (?, ?, ?)",
                [shot_id, pid, outfits.get(pid) or None],
            )


def set_outfit(project: Project, shot_id: str, persona_id: str, outfit: str | None) -> None:
    """Set the outfit a shot expects a persona in (None: any of hers); she must be in the shot."""
    with project.atomic() as db:
        db.execute(
            "update shot_personas set outfit = ? where shot_id = ? and persona_id = ?",
            [outfit or None, shot_id, persona_id],
        )


def set_fps(project: Project, shot_id: str, fps: float | None) -> None:
    """A shot's frame rate (None: the default)."""
    with project.atomic() as db:
        db.execute("update shots set fps = ? where id = ?", (fps, shot_id))


def delete_shot(project: Project, shot_id: str) -> None:
    """Remove a shot and its frames (their blobs stay until garbage-collected)."""
    with project.atomic() as db:
        db.execute("delete from shots where id = ?", [shot_id])


def frames_of(project: Project, shot_id: str) -> list[Frame]:
    """A shot's frames in order."""
    rows = project.query("select * from frames where shot_id = ? order by idx", (shot_id,))
    return [_frame(r) for r in rows]


def shots_of_frames(project: Project, frame_ids: Sequence[str]) -> set[str]:
    """The ids of the shots these frames belong to (frames deleted since are left out)."""
    found: set[str] = set()
    ids = list(dict.fromkeys(frame_ids))
    for start in range(0, len(ids), 500):  # within SQLite's limit on bound values
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = project.query(f"select distinct shot_id from frames where id in ({marks})", chunk)
        found.update(r["shot_id"] for r in rows)
    return found


def all_frames(project: Project, shot_ids: Sequence[str] | None = None) -> list[Frame]:
    """Frames of the given shots (all shots when None), in timeline then frame order."""
    sql = "select f.* from frames f join shots s on s.id = f.shot_id"
    args: list = []
    if shot_ids is not None:
        sql += f" where f.shot_id in ({', '.join('?' * len(shot_ids))})"
        args = list(shot_ids)
    rows = project.query(sql + " order by s.position, f.idx", args)
    return [_frame(r) for r in rows]


def reviews(
    project: Project,
    frame_ids: Iterable[str] | None = None,
    shot_ids: Sequence[str] | None = None,
) -> dict[str, FrameReview]:
    """Frame id -> review, for frames with a review state or a note (of these frames, of the
    frames of these shots, or all)."""
    if shot_ids is None:
        rows = project.query("select * from frame_reviews")
    else:
        marks = ",".join("?" * len(shot_ids))
        rows = project.query(
            "select * from frame_reviews where frame_id in"
            f" (select id from frames where shot_id in ({marks}))",
            list(shot_ids),
        )
    wanted = None if frame_ids is None else set(frame_ids)
    return {
        r["frame_id"]: FrameReview(r["frame_id"], r["state"], r["note"] or "", r["updated_at"])
        for r in rows
        if wanted is None or r["frame_id"] in wanted
    }


def put_reviews(project: Project, values: dict[str, tuple[str | None, str]]) -> None:
    """Set frame id -> (state, note); a frame with neither has its review row removed."""
    with project.atomic() as db:
        for frame_id, (state, note) in values.items():
            if state is None and not note:
                db.execute("delete from frame_reviews where frame_id = ?", [frame_id])
            else:
                db.execute(
                    "insert or replace into frame_reviews (frame_id, state, note, updated_at)"
                    " values (?, ?, ?, ?)",
                    [frame_id, state, note, now_iso()],
                )
