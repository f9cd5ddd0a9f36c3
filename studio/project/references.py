"""Reference images of personas, as core types."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

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
    phash: str | None = None,
    import_note: str = "",
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
        "phash": phash or None,
        "import_note": import_note,
    }
    with project.atomic() as db:
        # A plain insert: sqlite-utils' table checks cost more than the row on a hot import.
        db.execute(
            f"insert into reference_images ({', '.join(row)}) values ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
    return _reference(row)


def find_by_blob(project: Project, persona_id: str, blob_sha: str) -> Reference | None:
    """The persona's (earliest) reference whose image has these bytes, or None."""
    rows = project.query(
        "select * from reference_images where blob_sha = ? and persona_id = ?"
        " order by imported_at, id limit 1",
        (blob_sha, persona_id),
    )
    return _reference(rows[0]) if rows else None


def personas_of_blob(project: Project, blob_sha: str) -> set[str]:
    """The personas that hold a picture among their references."""
    rows = project.query(
        "select distinct persona_id from reference_images where blob_sha = ?", (blob_sha,)
    )
    return {r["persona_id"] for r in rows}


def phash_values(project: Project, persona_id: str) -> np.ndarray:
    """The perceptual hashes of the persona's references as 64-bit integers, in no order."""
    # One concatenated string rather than a row per reference: this runs once per imported
    # file, so it must stay cheap for personas with thousands of references.
    rows = project.query(
        "select group_concat(phash, '') as h from reference_images"
        " where persona_id = ? and length(phash) = 16",
        (persona_id,),
    )
    text = rows[0]["h"] if rows else None
    return np.frombuffer(bytes.fromhex(text), dtype=">u8").astype(np.uint64) if text else _NONE


_NONE = np.zeros(0, dtype=np.uint64)


def find_by_phash(project: Project, persona_id: str, phash: str) -> Reference | None:
    """The persona's earliest reference with exactly this perceptual hash, or None."""
    rows = project.query(
        "select * from reference_images where persona_id = ? and phash = ?"
        " order by imported_at, id limit 1",
        (persona_id, phash),
    )
    return _reference(rows[0]) if rows else None


def references_with_phash(project: Project, persona_id: str) -> list[tuple[Reference, str]]:
    """The persona's references that have a perceptual hash, with it, in import order."""
    rows = project.query(
        "select * from reference_images where persona_id = ? and phash is not null"
        " order by imported_at, id",
        (persona_id,),
    )
    return [(_reference(r), r["phash"]) for r in rows]


def import_notes(project: Project, persona_id: str) -> dict[str, str]:
    """Reference id -> what the import changed in its image, for the persona's noted refs."""
    rows = project.query(
        "select id, import_note from reference_images where persona_id = ?"
        " and coalesce(import_note, '') != ''",
        (persona_id,),
    )
    return {r["id"]: r["import_note"] for r in rows}


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


def delete_references(project: Project, reference_ids: list[str]) -> list[dict[str, Any]]:
    """Remove references; returns their whole rows (tags, status, hash, picked face) so that
    `restore_references` can put them back. Their blobs stay until garbage collection."""
    ids = list(dict.fromkeys(reference_ids))
    removed: list[dict[str, Any]] = []
    with project.atomic() as db:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            removed += project.query(f"select * from reference_images where id in ({marks})", chunk)
            db.execute(f"delete from reference_images where id in ({marks})", chunk)
    order = {rid: i for i, rid in enumerate(ids)}
    return sorted((dict(r) for r in removed), key=lambda r: order[r["id"]])


def restore_references(project: Project, removed: list[dict[str, Any]]) -> None:
    """Put back rows that `delete_references` returned, exactly as they were."""
    with project.atomic() as db:
        for row in removed:
            db.execute(
                f"insert into reference_images ({', '.join(row)})"
                f" values ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
