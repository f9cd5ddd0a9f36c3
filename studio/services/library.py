"""Reference images: adding them, their thumbnails, and proving stored files intact."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from studio.core import library as lib
from studio.core.library import ReferenceAudit
from studio.core.records import Reference
from studio.core.specs import ThumbnailSpec, VerifySpec
from studio.core.text import plural
from studio.project import blobs, caches
from studio.project import references as rows
from studio.project.store import Project

THUMBNAIL_SIZE = lib.THUMBNAIL_SIZE

list_references = rows.list_references
get_thumbnail = caches.get_thumbnail
read_blob = blobs.get_blob


def add_reference_bytes(
    project: Project,
    persona_id: str,
    data: bytes,
    *,
    mime: str,
    file_name: str,
    source_path: str,
    width: int,
    height: int,
    tags: tuple[str, ...] = (),
) -> Reference:
    """Store an already-decoded image's bytes and list it as a reference of the persona."""
    with project.atomic():
        sha = blobs.put_blob(project, data, mime)
        return rows.add_reference(
            project,
            persona_id,
            sha,
            file_name=file_name,
            source_path=source_path,
            width=width,
            height=height,
            tags=tags,
        )


def plan_thumbnails(project: Project, size: int = THUMBNAIL_SIZE) -> ThumbnailSpec | None:
    """A job spec for the references that have no thumbnail yet, or None when all have one."""
    missing = caches.blobs_without_thumbnail(project, size)
    if not missing:
        return None
    n = len(missing)
    return ThumbnailSpec(
        title=f"Thumbnails for {plural(n, 'reference')}",
        blob_shas=tuple(missing),
        size=size,
    )


def store_thumbnail(project: Project, blob_sha: str, size: int, data: bytes) -> None:
    """Keep a finished thumbnail in the cache."""
    caches.put_thumbnail(project, blob_sha, size, data)


def plan_verify(project: Project) -> VerifySpec:
    """A job spec that re-hashes every blob and asset file."""
    blob_shas = tuple(r["sha256"] for r in project.query("select sha256 from blobs order by 1"))
    asset_shas = tuple(r["sha256"] for r in project.query("select sha256 from assets order by 1"))
    return VerifySpec(title="Verify stored files", blob_shas=blob_shas, asset_shas=asset_shas)


def asset_path(project: Project, sha: str) -> Path:
    """Where a large model file lives beside the project."""
    return blobs.asset_path(project, sha)


# Which references may stand for a persona in the cast, best first; suspect and quarantined
# ones only when nothing else is there.
PORTRAIT_STATUS_RANK = {
    lib.APPROVED: 0,
    lib.OK: 1,
    lib.PENDING: 2,
    lib.SUSPECT: 3,
    lib.QUARANTINED: 4,
}


def best_portrait(audits: list[ReferenceAudit]) -> Reference | None:
    """The reference that best shows the persona: approved, then ok, then unchecked; suspect or
    quarantined only when nothing else is there. Ties: highest agreement, then sharpest face,
    then the earliest imported."""

    def rank(item: tuple[int, ReferenceAudit]):
        i, a = item
        agreement = a.agreement if a.agreement is not None else -2.0
        sharpness = a.face.sharpness if a.face is not None else -1.0
        return (
            PORTRAIT_STATUS_RANK.get(a.status, PORTRAIT_STATUS_RANK[lib.PENDING]),
            -agreement,
            -sharpness,
            i,
        )

    if not audits:
        return None
    return min(enumerate(audits), key=rank)[1].reference


def portrait_reference(project: Project, persona_id: str) -> Reference | None:
    """The reference the cast shows for a persona (see `best_portrait`)."""
    from studio.services import audit

    return best_portrait(audit.audit_rows(project, persona_id))


def portrait(project: Project, persona_id: str, size: int = THUMBNAIL_SIZE) -> bytes | None:
    """The cached thumbnail of the persona's best reference, or None while none is made."""
    ref = portrait_reference(project, persona_id)
    return caches.get_thumbnail(project, ref.blob_sha, size) if ref else None


def move_references(project: Project, reference_ids: list[str], persona_id: str) -> dict:
    """Move references to another persona of the cast; returns {id: (old, new persona)}."""
    from studio.project import curation
    from studio.project import personas as persona_rows

    with project.atomic():
        target = persona_rows.get_persona(project, persona_id)
        refs = curation.get_references(project, reference_ids)
        changes = {r.id: (r.persona_id, target.id) for r in refs if r.persona_id != target.id}
        _apply_move(project, {rid: new for rid, (_, new) in changes.items()})
    return changes


def revert_move(project: Project, changes: dict) -> dict:
    """Put moved references back with their old personas (undo of `move_references`)."""
    with project.atomic():
        _apply_move(project, {rid: old for rid, (old, _) in changes.items()})
    return {rid: (new, old) for rid, (old, new) in changes.items()}


def _apply_move(project: Project, targets: dict[str, str]) -> None:
    from studio.project import curation
    from studio.services import audit

    before = {r.id: r.persona_id for r in curation.get_references(project, list(targets))}
    curation.update(project, [(rid, "persona_id", pid) for rid, pid in targets.items()])
    # Both casts' agreement and calibration change with who is in them.
    for pid in set(before.values()) | set(targets.values()):
        audit.refresh_persona(project, pid)


@dataclass(frozen=True)
class DeletedReferences:
    """What a delete removed: the references, and their rows as stored, for undo."""

    references: tuple[Reference, ...]
    rows: tuple[dict, ...]


def delete_references(project: Project, reference_ids: list[str]) -> DeletedReferences:
    """Remove references from their personas (the images stay stored until garbage collection).

    Returns what `restore_references` needs to put them back with their tags, status and rating.
    """
    from studio.project import curation
    from studio.services import audit

    with project.atomic():
        refs = curation.get_references(project, reference_ids)  # NotFoundError names a stranger
        removed = rows.delete_references(project, [r.id for r in refs])
        for pid in dict.fromkeys(r.persona_id for r in refs):
            audit.refresh_persona(project, pid)  # agreement and calibration change without them
    return DeletedReferences(references=tuple(refs), rows=tuple(removed))


def restore_references(project: Project, deleted: DeletedReferences) -> list[Reference]:
    """Put deleted references back exactly as they were (undo of `delete_references`)."""
    from studio.services import audit

    with project.atomic():
        rows.restore_references(project, [dict(r) for r in deleted.rows])
        for pid in dict.fromkeys(r.persona_id for r in deleted.references):
            audit.refresh_persona(project, pid)
    return list(deleted.references)


def export_original(project: Project, reference: Reference, folder: Path) -> Path:
    """Write a reference's original bytes into a folder under its file name (for drag out)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(reference.file_name or f"{reference.blob_sha[:12]}.img").name
    dest = folder / name
    stem, suffix, n = dest.stem, dest.suffix, 1
    while dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() != reference.blob_sha:
        n += 1
        dest = folder / f"{stem} ({n}){suffix}"
    if not dest.exists():
        dest.write_bytes(blobs.get_blob(project, reference.blob_sha))
    return dest
