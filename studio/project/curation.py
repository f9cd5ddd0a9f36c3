"""The user's curation of references: status, tags, rating and which face is the persona."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from studio.core.errors import NotFoundError
from studio.core.records import Reference
from studio.project.references import _reference as reference_from_row
from studio.project.store import Project

EDITABLE = ("status", "tags", "rating", "face_index", "persona_id")


def get_references(project: Project, reference_ids: Iterable[str]) -> list[Reference]:
    """The references with these ids, in the order given; NotFoundError names any missing."""
    ids = list(dict.fromkeys(reference_ids))
    found: dict[str, Reference] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for row in project.query(f"select * from reference_images where id in ({marks})", chunk):
            found[row["id"]] = reference_from_row(row)
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(
            f"There is no reference {missing[0]}"
            + (f" (and {len(missing) - 1} more missing)." if len(missing) > 1 else "."),
            hint="List the references to see their ids.",
        )
    return [found[i] for i in ids]


def face_indexes(project: Project, persona_id: str) -> dict[str, int]:
    """Reference id -> the face the user picked as the persona, for references with a pick."""
    rows = project.query(
        "select id, face_index from reference_images where persona_id = ?"
        " and face_index is not null",
        (persona_id,),
    )
    return {r["id"]: int(r["face_index"]) for r in rows}


def face_index(project: Project, reference_id: str) -> int | None:
    """The face the user picked in one reference, or None for the largest."""
    rows = project.query("select face_index from reference_images where id = ?", (reference_id,))
    return rows[0]["face_index"] if rows else None


def update(project: Project, changes: Sequence[tuple[str, str, object]]) -> None:
    """Write (reference id, field, value) changes in one transaction."""
    with project.atomic() as db:
        for reference_id, field, value in changes:
            if field not in EDITABLE:
                raise ValueError(f"not an editable reference field: {field}")
            if field == "tags":
                value = json.dumps(list(value))
            db.execute(
                f"update reference_images set {field} = ? where id = ?", [value, reference_id]
            )
