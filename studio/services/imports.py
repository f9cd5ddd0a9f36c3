"""Importing reference images: plan the job, store each file it read, report what happened.

The job's work (reading and decoding files) runs off-thread in the engine; this module plans
the job and commits each file's result in the transaction that marks its unit done, so the
report can be rebuilt from the project at any time, even after a crash or a restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from studio.core.errors import JobError, NotFoundError, StudioError
from studio.core.imports import (
    DUPLICATE,
    IMPORTED,
    NEAR_DUPLICATE_DISTANCE,
    REJECTED,
    ImportedFile,
    ImportReport,
)
from studio.core.records import Reference
from studio.core.specs import ImportSpec
from studio.core.text import plural
from studio.project import blobs, caches, job_results
from studio.project import jobs as job_rows
from studio.project import personas as persona_rows
from studio.project import references as rows
from studio.project.store import Project
from studio.services.library import THUMBNAIL_SIZE


def plan_import(
    project: Project,
    persona_key: str,
    paths: Iterable[str | os.PathLike],
    tags: Iterable[str] = (),
) -> ImportSpec:
    """A job spec importing files and folders (walked recursively, sorted) into a persona.

    Symbolic links are followed; broken ones, missing paths and unreadable files stay in the
    list so the import reports them. Hidden files inside folders are left out, as a file
    manager does; a hidden file named on its own is imported.
    """
    persona = persona_rows.get_persona(project, persona_key)
    files: list[str] = []
    for given in paths:
        path = os.path.abspath(os.fspath(given))
        if os.path.isdir(path):
            files.extend(_walk(path))
        else:
            files.append(path)
    files = list(dict.fromkeys(files))
    if not files:
        raise StudioError(
            "There are no files to import: the folders given are empty.",
            hint="Choose image files, or folders that contain them.",
        )
    clean_tags = tuple(dict.fromkeys(t.strip() for t in tags if t and t.strip()))
    n = len(files)
    return ImportSpec(
        title=f"Import {plural(n, 'file')} into {persona.name}",
        persona_id=persona.id,
        paths=tuple(files),
        tags=clean_tags,
    )


def _walk(folder: str) -> list[str]:
    """Every non-hidden file under a folder, sorted, following links to folders once."""
    out: list[str] = []
    seen: set[str] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree would loop forever
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith("."))
    return out


def store_imported(project: Project, job_id: str, spec: ImportSpec, result: ImportedFile) -> None:
    """Store one file the import read (blob, reference, thumbnail) or record why it was not.

    Call inside the transaction that marks the file's unit done.
    """
    with project.atomic():
        if not project.query("select 1 from personas where id = ?", (spec.persona_id,)):
            raise NotFoundError(
                "The persona this import was adding to has been deleted.",
                hint="Import the files again into another persona.",
            )
        if not result.ok:
            job_results.put_unit_result(
                project, job_id, result.path, REJECTED, {"reason": result.reason}
            )
            return
        existing = rows.find_by_blob(project, spec.persona_id, result.sha256)
        if existing is not None:
            job_results.put_unit_result(
                project,
                job_id,
                result.path,
                DUPLICATE,
                {"of": existing.source_path or existing.file_name, "reference": existing.id},
            )
            return
        near = _nearest(project, spec.persona_id, result.phash)
        sha = blobs.put_blob(project, result.data, result.mime)
        meta = {"format": result.format, "bytes": len(result.data)}
        if result.metadata:
            meta["generation"] = result.metadata
        ref = rows.add_reference(
            project,
            spec.persona_id,
            sha,
            file_name=os.path.basename(result.path),
            source_path=result.path,
            width=result.width,
            height=result.height,
            phash=result.phash,
            import_note=result.note,
            tags=spec.tags,
            meta=meta,
        )
        if result.thumbnail:
            caches.put_thumbnail(project, sha, THUMBNAIL_SIZE, result.thumbnail)
        detail = {"reference": ref.id, "note": result.note}
        if near is not None:
            detail.update(near_of=near[1], near_reference=near[0], distance=near[2])
        job_results.put_unit_result(project, job_id, result.path, IMPORTED, detail)


def _nearest(project: Project, persona_id: str, phash: str) -> tuple[str, str, int] | None:
    """The persona's reference that looks most like this hash, within the near-duplicate
    distance: (reference id, its path, distance), or None."""
    if not phash:
        return None
    hashes = rows.phash_values(project, persona_id)
    if not hashes.size:
        return None
    distances = _popcount(hashes ^ np.uint64(int(phash, 16)))
    best = int(np.argmin(distances))
    if int(distances[best]) > NEAR_DUPLICATE_DISTANCE:
        return None
    ref = rows.find_by_phash(project, persona_id, f"{int(hashes[best]):016x}")
    if ref is None:
        return None
    return ref.id, ref.source_path or ref.file_name, int(distances[best])


def import_report(project: Project, job_id: str) -> ImportReport:
    """What an import job did with each of its files, from what it committed."""
    job = job_rows.get_job(project, job_id)
    if job.kind != ImportSpec.kind:
        raise JobError(f"The job '{job.title}' is not an import.")
    results = job_results.unit_results(project, job.id)
    imported, duplicates, near, rejected, pending = [], [], [], [], []
    for path in dict.fromkeys(job.spec.get("paths", [])):
        outcome, detail = results.get(path, ("", {}))
        if outcome == IMPORTED:
            imported.append((path, detail.get("reference", ""), detail.get("note", "")))
            if detail.get("near_of"):
                near.append((path, detail["near_of"]))
        elif outcome == DUPLICATE:
            duplicates.append((path, detail.get("of", "")))
        elif outcome == REJECTED:
            rejected.append((path, detail.get("reason", "")))
        else:
            pending.append(path)
    return ImportReport(
        job_id=job.id,
        imported=tuple(imported),
        duplicates=tuple(duplicates),
        near_duplicates=tuple(near),
        rejected=tuple(rejected),
        pending=tuple(pending),
    )


def near_duplicate_groups(project: Project, persona_id: str) -> list[list[Reference]]:
    """The persona's references that are the same picture resized or re-encoded, grouped.

    Only references with a perceptual hash (those imported by the import job) are compared.
    Groups hold two or more references in import order; groups are ordered by their first.
    """
    refs = rows.references_with_phash(project, persona_id)
    n = len(refs)
    if n < 2:
        return []
    hashes = np.array([int(h, 16) for _, h in refs], dtype=np.uint64)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, n, 1024):  # in blocks, so 10,000 references need little memory
        block = hashes[start : start + 1024]
        close = _popcount(block[:, None] ^ hashes[None, :]) <= NEAR_DUPLICATE_DISTANCE
        for i, j in zip(*np.nonzero(close), strict=True):
            a, b = root(start + int(i)), root(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[Reference]] = {}
    for i, (ref, _) in enumerate(refs):
        groups.setdefault(root(i), []).append(ref)
    return [g for _, g in sorted(groups.items()) if len(g) > 1]


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy 2
        return np.bitwise_count(x)
    bytes_ = x[..., None].view(np.uint8)
    return np.unpackbits(bytes_, axis=-1).sum(axis=-1)
