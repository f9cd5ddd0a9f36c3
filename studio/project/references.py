"""Reference images of personas, as core types."""

from __future__ import annotations

import json
from typing import Any

from studio.core.ids import new_id, now_iso
from studio.core.records import Reference
from studio.project.store import Project


def _reference(row: dict) -> Reference:
    return Reference(
        id=row["id"],
        persona_id=row["persona_id"],
        blob_sha=row["blob_sha"],
        file_name=row["file_name"] or "",
        source_path=row["source_path"] or "",
        width=row["width"] or 0,
        height=row["height"] or 0,
        status=row["status"] or "pending",
        tags=tuple(json.loads(row["tags"] or "[]")),
        rating=row["rating"] or 0,
        meta=json.loads(row["meta"] or "{}"),
        imported_at=row["imported_at"] or "",
    )


def add_reference(
    project: Project,
    persona_id: str,
    blob_sha: str,
    *,
    file_name: str,
    source_path: str,
    width: int,
    height: int,
    tags: tuple[str, ...] = (),
    meta: dict[str, Any] | None = None,
) -> Reference:
    """Add an image (already stored as a blob) to a persona's references."""
    row = {
        "id": new_id(),
        "persona_id": persona_id,
        "blob_sha": blob_sha,
        "file_name": file_name,
        "source_path": source_path,
        "width": width,
        "height": height,
        "status": "pending",
        "tags": json.dumps(list(tags)),
        "rating": 0,
        "meta": json.dumps(meta or {}),
        "imported_at": now_iso(),
    }
    with project.atomic():
        project.db["reference_images"].insert(row)
    return _reference(row)


def list_references(project: Project, persona_id: str | None = None) -> list[Reference]:
    """References, of one persona or all, in import order."""
    if persona_id is None:
        rows = project.query("select * from reference_images order by imported_at, id")
    else:
        rows = project.query(
            "select * from reference_images where persona_id = ? order by imported_at, id",
            (persona_id,),
        )
    return [_reference(r) for r in rows]


def first_usable_reference(project: Project, persona_id: str) -> Reference | None:
    """The persona's earliest reference that is not quarantined."""
    rows = project.query(
        "select * from reference_images where persona_id = ? and status != 'quarantined'"
        " order by imported_at, id limit 1",
        (persona_id,),
    )
    return _reference(rows[0]) if rows else None
