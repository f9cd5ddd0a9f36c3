"""Personas, their immutable versions and the working draft, read and written as core types."""

from __future__ import annotations

import json
from typing import Any

from studio.core.errors import DamagedProjectError, NotFoundError, StudioError
from studio.core.ids import new_id, now_iso
from studio.core.records import Persona, PersonaVersion
from studio.project.store import Project


def _persona(row: dict) -> Persona:
    return Persona(
        id=row["id"],
        name=row["name"],
        head_version_id=row["head_version_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _version(row: dict, persona_name: str | None = None) -> PersonaVersion:
    try:
        record = json.loads(row["record"])
    except (TypeError, ValueError) as exc:
        who = f"persona '{persona_name}'" if persona_name else "a persona"
        raise DamagedProjectError(
            f"Version {row['number']} of {who} is damaged: its record is not valid JSON ({exc}).",
            hint="Open another version from the history, or restore the project from a backup.",
        ) from None
    return PersonaVersion(
        id=row["id"],
        persona_id=row["persona_id"],
        number=row["number"],
        parent_id=row["parent_id"],
        record=record,
        note=row["note"] or "",
        created_at=row["created_at"],
    )


def list_personas(project: Project) -> list[Persona]:
    """Every persona in the project, by name."""
    return [
        _persona(r) for r in project.query("select * from personas order by name collate nocase")
    ]


def get_persona(project: Project, key: str) -> Persona:
    """A persona by id or (case-insensitive) name."""
    rows = project.query(
        "select * from personas where id = ? or name = ? collate nocase limit 1", (key, key)
    )
    if not rows:
        names = ", ".join(p.name for p in list_personas(project)) or "none yet"
        raise NotFoundError(f"There is no persona '{key}' in this project (personas: {names}).")
    return _persona(rows[0])


def create_persona(
    project: Project, name: str, record: dict[str, Any], note: str
) -> PersonaVersion:
    """Create a persona with its first version; returns that version."""
    if project.query("select 1 from personas where name = ? collate nocase", (name,)):
        raise StudioError(
            f"A persona named '{name}' already exists in this project.",
            hint="Choose another name.",
        )
    now = now_iso()
    pid = new_id()
    with project.atomic():
        project.db["personas"].insert(
            {"id": pid, "name": name, "head_version_id": None, "created_at": now, "updated_at": now}
        )
        return add_version(project, pid, record, note, parent_id=None)


def add_version(
    project: Project, persona_id: str, record: dict[str, Any], note: str, parent_id: str | None
) -> PersonaVersion:
    """Append an immutable version and make it the persona's head; clears the draft."""
    now = now_iso()
    with project.atomic():
        number = project.query(
            "select coalesce(max(number), 0) + 1 as n from persona_versions where persona_id = ?",
            (persona_id,),
        )[0]["n"]
        row = {
            "id": new_id(),
            "persona_id": persona_id,
            "number": number,
            "parent_id": parent_id,
            "record": json.dumps(record, ensure_ascii=False),
            "note": note,
            "created_at": now,
        }
        project.db["persona_versions"].insert(row)
        name = record.get("identity", {}).get("name")
        update = {"head_version_id": row["id"], "updated_at": now}
        if name:
            update["name"] = name
        project.db["personas"].update(persona_id, update)
        project.db["persona_drafts"].delete_where("persona_id = ?", [persona_id])
    return _version(row)


def history(project: Project, persona_id: str) -> list[PersonaVersion]:
    """All versions of a persona, newest first."""
    persona = get_persona(project, persona_id)
    rows = project.query(
        "select * from persona_versions where persona_id = ? order by number desc", (persona.id,)
    )
    return [_version(r, persona.name) for r in rows]


def version_numbers(project: Project, persona_id: str) -> list[dict]:
    """Number, note and date of every version, newest first, without parsing records."""
    persona_id = get_persona(project, persona_id).id
    return project.query(
        "select id, number, parent_id, note, created_at from persona_versions"
        " where persona_id = ? order by number desc",
        (persona_id,),
    )


def get_version(project: Project, persona_id: str, number: int | None = None) -> PersonaVersion:
    """A version by number, or the head version when number is None."""
    persona = get_persona(project, persona_id)
    if number is None:
        rows = project.query(
            "select * from persona_versions where id = ?", (persona.head_version_id,)
        )
    else:
        rows = project.query(
            "select * from persona_versions where persona_id = ? and number = ?",
            (persona.id, int(number)),
        )
    if not rows:
        raise NotFoundError(
            f"Persona '{persona.name}' has no version {number}.",
            hint="List the versions with 'persona-studio persona show PROJECT NAME --history'.",
        )
    return _version(rows[0], persona.name)


def save_draft(project: Project, persona_id: str, base_version_id: str, record: dict) -> None:
    """Keep the unsaved working record so no edit is lost to a crash."""
    with project.atomic():
        project.db["persona_drafts"].upsert(
            {
                "persona_id": persona_id,
                "base_version_id": base_version_id,
                "record": json.dumps(record, ensure_ascii=False),
                "updated_at": now_iso(),
            },
            pk="persona_id",
        )


def get_draft(project: Project, persona_id: str) -> tuple[str, dict] | None:
    """(base version id, record) of the unsaved draft, or None."""
    rows = project.query("select * from persona_drafts where persona_id = ?", (persona_id,))
    if not rows:
        return None
    try:
        return rows[0]["base_version_id"], json.loads(rows[0]["record"])
    except (TypeError, ValueError):
        return None  # a damaged draft is only a lost convenience; the versions are intact


def discard_draft(project: Project, persona_id: str) -> None:
    """Forget the unsaved draft."""
    with project.atomic():
        project.db["persona_drafts"].delete_where("persona_id = ?", [persona_id])
