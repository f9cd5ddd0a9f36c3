"""Reference images: adding them, their thumbnails, and proving stored files intact."""

from __future__ import annotations

import hashlib
from pathlib import Path

from studio.core.records import Reference
from studio.core.specs import ThumbnailSpec, VerifySpec
from studio.core.text import plural
from studio.project import blobs, caches
from studio.project import references as rows
from studio.project.store import Project

THUMBNAIL_SIZE = 256

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


def portrait(project: Project, persona_id: str, size: int = THUMBNAIL_SIZE) -> bytes | None:
    """The cached thumbnail of the persona's first usable reference, or None while none is made."""
    ref = rows.first_usable_reference(project, persona_id)
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
