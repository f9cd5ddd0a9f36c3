"""Registered models, the hash cache of model files, and personas' own models.

`models` is authored data (what the artist registered, where it is, its sha256);
`cache_file_hashes` is regenerable (a file's sha256 while its size and mtime are unchanged);
`persona_models` links a persona to her DreamBooth model and LoRAs with their weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

from studio.core.errors import NotFoundError
from studio.core.ids import new_id, now_iso
from studio.core.models import ModelRecord
from studio.project.store import Project

_COLUMNS = (
    "id, name, kind, family, variant, format, path, sha256, size, source, encoder_id, meta,"
    " added_at"
)


def _record(row: dict) -> ModelRecord:
    try:
        meta = json.loads(row["meta"] or "{}")
    except ValueError:
        meta = {}
    return ModelRecord(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        family=row["family"] or "",
        format=row["format"],
        path=row["path"],
        sha256=row["sha256"],
        size=row["size"] or 0,
        variant=row["variant"] or "",
        source=row["source"] or "",
        encoder_id=row["encoder_id"],
        meta=meta,
        added_at=row["added_at"] or "",
    )


def list_models(project: Project) -> list[ModelRecord]:
    """Every registered model, by kind then name."""
    rows = project.query(f"select {_COLUMNS} from models order by kind, name collate nocase")
    return [_record(r) for r in rows]


def get_model(project: Project, key: str) -> ModelRecord:
    """A model by id or name (any case); NotFoundError names the registered models."""
    rows = project.query(
        f"select {_COLUMNS} from models where id = ? or name = ? collate nocase limit 1",
        (key, key),
    )
    if not rows:
        names = ", ".join(r.name for r in list_models(project)) or "none yet"
        raise NotFoundError(
            f"There is no model '{key}' in this project (models: {names}).",
            hint="Register it first: persona-studio models add PROJECT PATH",
        )
    return _record(rows[0])


def get_model_by_id(project: Project, model_id: str) -> ModelRecord:
    """A model by its id."""
    rows = project.query(f"select {_COLUMNS} from models where id = ?", (model_id,))
    if not rows:
        raise NotFoundError(f"No model has the id {model_id}.")
    return _record(rows[0])


def get_model_by_sha(project: Project, sha256: str) -> ModelRecord:
    """The model whose file or folder has this sha256."""
    rows = project.query(
        f"select {_COLUMNS} from models where sha256 = ? order by added_at limit 1", (sha256,)
    )
    if not rows:
        raise NotFoundError(f"No registered model has the sha256 {sha256[:12]}….")
    return _record(rows[0])


def find_by_path(project: Project, path: str) -> ModelRecord | None:
    """The model registered at this path, if any."""
    rows = project.query(f"select {_COLUMNS} from models where path = ?", (path,))
    return _record(rows[0]) if rows else None


def find_by_sha(project: Project, sha256: str) -> ModelRecord | None:
    """The model with this sha256, if any."""
    rows = project.query(f"select {_COLUMNS} from models where sha256 = ? limit 1", (sha256,))
    return _record(rows[0]) if rows else None


def model_names(project: Project) -> list[str]:
    """The names taken by registered models."""
    return [r["name"] for r in project.query("select name from models")]


def add_model(
    project: Project,
    *,
    name: str,
    kind: str,
    family: str,
    format: str,
    path: str,
    sha256: str,
    size: int,
    variant: str = "",
    source: str = "",
    encoder_id: str | None = None,
    meta: dict | None = None,
    model_id: str | None = None,
    added_at: str | None = None,
) -> ModelRecord:
    """Register a model (a new id unless one is given, as when a removal is undone)."""
    row = {
        "id": model_id or new_id(),
        "name": name,
        "kind": kind,
        "family": family,
        "variant": variant,
        "format": format,
        "path": path,
        "sha256": sha256,
        "size": int(size),
        "source": source,
        "encoder_id": encoder_id,
        "meta": json.dumps(meta or {}, sort_keys=True),
        "added_at": added_at or now_iso(),
    }
    with project.atomic() as db:
        db["models"].insert(row)
    return get_model_by_id(project, row["id"])


def set_kind(project: Project, model_id: str, kind: str) -> None:
    """Change what a model is used as (a base model given to a persona becomes her DreamBooth)."""
    with project.atomic() as db:
        db.execute("update models set kind = ? where id = ?", (kind, model_id))


def set_encoder(project: Project, model_id: str, encoder_id: str | None) -> None:
    """Link an IP-Adapter to its image encoder (None unlinks)."""
    with project.atomic() as db:
        db.execute("update models set encoder_id = ? where id = ?", (encoder_id, model_id))


def adapters_of(project: Project, encoder_id: str) -> list[ModelRecord]:
    """The IP-Adapters that read references with this image encoder."""
    rows = project.query(
        f"select {_COLUMNS} from models where encoder_id = ? order by name", (encoder_id,)
    )
    return [_record(r) for r in rows]


def delete_model(project: Project, model_id: str) -> None:
    """Remove a model's row; its persona links go with it, adapters lose it as encoder."""
    with project.atomic() as db:
        db.execute("delete from models where id = ?", (model_id,))


# -- the hash cache ----------------------------------------------------------------------------


def known_hashes(project: Project, paths: Iterable[str]) -> list[tuple[str, int, int, str]]:
    """(path, size, mtime_ns, sha256) of cached files at these paths or inside these folders."""
    out: dict[str, tuple[str, int, int, str]] = {}
    for path in dict.fromkeys(paths):
        rows = project.query(
            "select path, size, mtime_ns, sha256 from cache_file_hashes"
            " where path = ? or path like ? escape '\\'",
            (path, _escape_like(path.rstrip("/\\") + os.sep) + "%"),
        )
        for r in rows:
            out[r["path"]] = (r["path"], r["size"], r["mtime_ns"], r["sha256"])
    return list(out.values())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def put_file_hashes(project: Project, rows: Iterable[tuple[str, int, int, str]]) -> None:
    """Remember files' hashes with the size and mtime they had when hashed."""
    stamp = now_iso()
    with project.atomic() as db:
        db["cache_file_hashes"].upsert_all(
            [
                {"path": p, "size": int(s), "mtime_ns": int(t), "sha256": h, "hashed_at": stamp}
                for p, s, t, h in rows
            ],
            pk="path",
        )


def file_hash(project: Project, path: str) -> tuple[int, int, str] | None:
    """(size, mtime_ns, sha256) the cache holds for a file, if any."""
    rows = project.query(
        "select size, mtime_ns, sha256 from cache_file_hashes where path = ?", (path,)
    )
    return (rows[0]["size"], rows[0]["mtime_ns"], rows[0]["sha256"]) if rows else None


# -- personas' models --------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaLink:
    """A persona's use of a model: as her DreamBooth base or as a LoRA with a weight."""

    persona_id: str
    persona_name: str
    model_id: str
    role: str
    weight: float


def persona_models(project: Project, persona_id: str) -> list[tuple[ModelRecord, str, float]]:
    """A persona's own models as (model, role, weight), DreamBooth first."""
    rows = project.query(
        f"select {', '.join('m.' + c.strip() for c in _COLUMNS.split(','))},"
        " pm.role as pm_role, pm.weight as pm_weight"
        " from persona_models pm join models m on m.id = pm.model_id"
        " where pm.persona_id = ? order by pm.role, m.name collate nocase",
        (persona_id,),
    )
    return [(_record(r), r["pm_role"], float(r["pm_weight"])) for r in rows]


def model_links(project: Project, model_id: str | None = None) -> list[PersonaLink]:
    """Which personas use a model (every model's links when model_id is None)."""
    where, params = ("where pm.model_id = ?", (model_id,)) if model_id else ("", ())
    rows = project.query(
        "select pm.persona_id, p.name, pm.model_id, pm.role, pm.weight from persona_models pm"
        f" join personas p on p.id = pm.persona_id {where} order by p.name collate nocase",
        params,
    )
    return [
        PersonaLink(r["persona_id"], r["name"], r["model_id"], r["role"], float(r["weight"]))
        for r in rows
    ]


def link_persona(
    project: Project, persona_id: str, model_id: str, role: str, weight: float = 1.0
) -> None:
    """Give a persona a model in a role (replacing her link to the same model)."""
    with project.atomic() as db:
        db.execute(
            "insert or replace into persona_models (persona_id, model_id, role, weight)"
            " values (?, ?, ?, ?)",
            (persona_id, model_id, role, float(weight)),
        )


def unlink_persona(project: Project, persona_id: str, model_id: str) -> bool:
    """Take a model from a persona; False if she did not have it."""
    with project.atomic() as db:
        cursor = db.execute(
            "delete from persona_models where persona_id = ? and model_id = ?",
            (persona_id, model_id),
        )
        return cursor.rowcount > 0


# -- shots that render with a model -----------------------------------------------------------


def shots_using(project: Project, model: ModelRecord) -> list[str]:
    """Names of the shots whose render settings use a model (base, LoRA, IP-Adapter, motion)."""
    rows = project.query(
        "select s.name, r.model_id, r.settings from shot_render r join shots s on s.id = r.shot_id"
        " order by s.position, s.name"
    )
    name = model.name.lower()
    out = []
    for r in rows:
        if r["model_id"] == model.id:
            out.append(r["name"])
            continue
        try:
            settings = json.loads(r["settings"] or "{}")
        except ValueError:
            continue
        named = [str(settings.get("model") or ""), str(settings.get("motion") or "")]
        for key in ("loras", "ip_adapters"):
            named += [str(pair[0]) for pair in settings.get(key) or () if pair]
        if name in (n.lower() for n in named):
            out.append(r["name"])
    return out
