"""The timeline's order of shots, copies of a shot's setup, and removing a shot so it can return.

A shot's authored rows live in several tables (the shot, who is expected in it, its render
settings, its frames, their takes and reviews); removing it returns all of them so that
`put_back_shot` restores it exactly, frame and take ids included.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from studio.core.ids import new_id, now_iso
from studio.core.render import RenderSettings
from studio.project.store import Project

# A shot's rows, in the order they are put back (each table's rows point at the one before).
_TABLES = (
    ("shots", "select * from shots where id = ?"),
    ("shot_personas", "select * from shot_personas where shot_id = ?"),
    ("shot_render", "select * from shot_render where shot_id = ?"),
    ("frames", "select * from frames where shot_id = ? order by idx"),
    (
        "takes",
        "select t.* from takes t join frames f on f.id = t.frame_id where f.shot_id = ?"
        " order by t.rowid",
    ),
    (
        "frame_reviews",
        "select r.* from frame_reviews r join frames f on f.id = r.frame_id where f.shot_id = ?",
    ),
)


def shot_order(project: Project) -> list[str]:
    """Shot ids in timeline order."""
    return [r["id"] for r in project.query("select id from shots order by position, name")]


def set_shot_order(project: Project, shot_ids: Sequence[str]) -> None:
    """Number the shots 0, 1, 2… in the given order (shots not named keep their order after)."""
    known = shot_order(project)
    wanted = [s for s in dict.fromkeys(shot_ids) if s in set(known)]
    rest = [s for s in known if s not in set(wanted)]
    with project.atomic() as db:
        for position, shot_id in enumerate(wanted + rest):
            db.execute("update shots set position = ? where id = ?", (position, shot_id))


def render_settings_of_all(project: Project) -> dict[str, RenderSettings]:
    """Shot id -> render settings, for every shot made for rendering."""
    rows = project.query("select shot_id, settings from shot_render")
    return {r["shot_id"]: RenderSettings.from_dict(json.loads(r["settings"])) for r in rows}


def copy_shot(project: Project, shot_id: str, name: str, settings: RenderSettings) -> str:
    """A new shot with another shot's personas, outfits and render model, given settings and
    no frames, placed right after it; returns its id."""
    with project.atomic() as db:
        source = project.query("select * from shots where id = ?", (shot_id,))[0]
        copy_id = new_id()
        db.execute(
            "update shots set position = position + 1 where position > ?", (source["position"],)
        )
        row = dict(source, id=copy_id, name=name, position=source["position"] + 1)
        row["created_at"] = now_iso()
        _insert(db, "shots", row)
        for cast in project.query("select * from shot_personas where shot_id = ?", (shot_id,)):
            _insert(db, "shot_personas", dict(cast, shot_id=copy_id))
        render = project.query("select model_id from shot_render where shot_id = ?", (shot_id,))
        db.execute(
            "insert into shot_render (shot_id, settings, model_id, frames, seed_offset,"
            " updated_at) values (?, ?, ?, ?, ?, ?)",
            (
                copy_id,
                json.dumps(settings.to_dict(), sort_keys=True),
                render[0]["model_id"] if render else None,
                settings.frames,
                settings.seed_offset,
                now_iso(),
            ),
        )
    return copy_id


def remove_shot(project: Project, shot_id: str) -> dict[str, list[dict[str, Any]]]:
    """Delete a shot with its frames, takes and reviews; returns their rows as stored (table ->
    rows) for `put_back_shot`. The pictures stay stored."""
    with project.atomic() as db:
        removed = {
            table: [dict(r) for r in project.query(sql, (shot_id,))] for table, sql in _TABLES
        }
        db.execute("delete from shots where id = ?", (shot_id,))
    return removed


def put_back_shot(project: Project, removed: dict[str, list[dict[str, Any]]]) -> None:
    """Insert the rows `remove_shot` returned, exactly as they were.

    A persona or model deleted since is left out: the shot returns without her, or with its
    settings but no registered model.
    """
    with project.atomic() as db:
        personas = {r["id"] for r in project.query("select id from personas")}
        models = {r["id"] for r in project.query("select id from models")}
        for table, _ in _TABLES:
            for row in removed.get(table, []):
                if table == "shot_personas" and row["persona_id"] not in personas:
                    continue
                if table == "shot_render" and row.get("model_id") not in models:
                    row = dict(row, model_id=None)
                _insert(db, table, row)


def _insert(db, table: str, row: dict[str, Any]) -> None:
    db.execute(
        f"insert into {table} ({', '.join(row)}) values ({', '.join('?' * len(row))})",
        tuple(row.values()),
    )
