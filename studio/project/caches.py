"""Regenerable caches (thumbnails now): safe to drop, rebuilt on demand."""

from __future__ import annotations

from studio.core.ids import now_iso
from studio.project.store import Project


def put_thumbnail(project: Project, blob_sha: str, size: int, data: bytes) -> None:
    """Store an encoded thumbnail of a blob at a given edge size."""
    with project.atomic():
        project.db["cache_thumbnails"].insert(
            {"blob_sha": blob_sha, "size": size, "data": data, "created_at": now_iso()},
            replace=True,
        )


def get_thumbnail(project: Project, blob_sha: str, size: int) -> bytes | None:
    """The cached thumbnail, or None."""
    rows = project.query(
        "select data from cache_thumbnails where blob_sha = ? and size = ?", (blob_sha, size)
    )
    return rows[0]["data"] if rows else None


def blobs_without_thumbnail(project: Project, size: int) -> list[str]:
    """Reference blobs that have no thumbnail of this size yet."""
    rows = project.query(
        "select distinct r.blob_sha from reference_images r left join cache_thumbnails t"
        " on t.blob_sha = r.blob_sha and t.size = ? where t.blob_sha is null order by r.blob_sha",
        (size,),
    )
    return [r["blob_sha"] for r in rows]
