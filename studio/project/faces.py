"""Regenerable face caches: scans of images per engine, audit verdicts and calibrations.

Every read and write names an engine id, so vectors from different engines never meet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from studio.core.faces import Face
from studio.core.ids import now_iso
from studio.core.library import AuditVerdict, Calibration
from studio.project.store import Project

_FACE_COLUMNS = (
    "face_index, box, landmarks, score, size_px, yaw, pitch, roll, sharpness, exposure, embedding"
)


def _face(row: dict) -> Face:
    data = dict(row)
    data["box"] = json.loads(row["box"])
    data["landmarks"] = json.loads(row["landmarks"])
    for key in ("score", "size_px", "yaw", "pitch", "roll", "sharpness", "exposure"):
        data[key] = float(row[key] or 0.0)
    return Face.from_row(data)


def put_scan(project: Project, blob_sha: str, engine_id: str, faces: Sequence[Face]) -> None:
    """Store the faces one engine found in an image (replacing an earlier scan), even none."""
    rows = []
    for i, face in enumerate(faces):
        row = face.to_row()
        row.update(
            blob_sha=blob_sha,
            engine_id=engine_id,
            face_index=i,
            box=json.dumps(row["box"]),
            landmarks=json.dumps(row["landmarks"]),
        )
        rows.append(row)
    with project.atomic() as db:
        db.execute(
            "delete from cache_faces where blob_sha = ? and engine_id = ?", [blob_sha, engine_id]
        )
        db.execute(
            "insert or replace into cache_face_scans (blob_sha, engine_id, faces, created_at)"
            " values (?, ?, ?, ?)",
            [blob_sha, engine_id, len(rows), now_iso()],
        )
        if rows:
            db["cache_faces"].insert_all(rows)


def get_scan(project: Project, blob_sha: str, engine_id: str) -> list[Face] | None:
    """The faces an engine found in an image, largest first; None when it has not looked."""
    return scans(project, [blob_sha], engine_id).get(blob_sha)


def scans(project: Project, blob_shas: Iterable[str], engine_id: str) -> dict[str, list[Face]]:
    """Blob sha -> faces found by the engine, for those of the blobs it has scanned."""
    shas = list(dict.fromkeys(blob_shas))
    out: dict[str, list[Face]] = {}
    for start in range(0, len(shas), 500):  # stay under SQLite's host-parameter limit
        chunk = shas[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for r in project.query(
            f"select blob_sha from cache_face_scans where engine_id = ? and blob_sha in ({marks})",
            [engine_id, *chunk],
        ):
            out[r["blob_sha"]] = []
        for r in project.query(
            f"select blob_sha, {_FACE_COLUMNS} from cache_faces where engine_id = ?"
            f" and blob_sha in ({marks}) order by blob_sha, face_index",
            [engine_id, *chunk],
        ):
            out.setdefault(r["blob_sha"], []).append(_face(r))
    return out


def persona_scans(project: Project, persona_id: str, engine_id: str) -> dict[str, list[Face]]:
    """Blob sha -> faces, for the persona's reference images that the engine has scanned."""
    faces: dict[str, list[Face]] = {
        r["blob_sha"]: []
        for r in project.query(
            "select distinct s.blob_sha from cache_face_scans s join reference_images r"
            " on r.blob_sha = s.blob_sha where r.persona_id = ? and s.engine_id = ?",
            (persona_id, engine_id),
        )
    }
    for r in project.query(
        f"select distinct f.blob_sha, {', '.join('f.' + c for c in _FACE_COLUMNS.split(', '))}"
        " from cache_faces f join reference_images r on r.blob_sha = f.blob_sha"
        " where r.persona_id = ? and f.engine_id = ? order by f.blob_sha, f.face_index",
        (persona_id, engine_id),
    ):
        faces.setdefault(r["blob_sha"], []).append(_face(r))
    return faces


def blobs_without_scan(
    project: Project, engine_id: str | None, persona_id: str | None = None
) -> list[str]:
    """Reference images (of one persona, or all) that the engine has not scanned yet.

    engine_id None means an engine never run on this project: every image lacks a scan.
    """
    where = "where r.blob_sha is not null"
    params: list = [engine_id or ""]
    if persona_id is not None:
        where += " and r.persona_id = ?"
        params.append(persona_id)
    rows = project.query(
        "select r.blob_sha, min(r.imported_at) as first from reference_images r"
        " left join cache_face_scans s on s.blob_sha = r.blob_sha and s.engine_id = ?"
        f" {where} and s.blob_sha is null group by r.blob_sha order by first, r.blob_sha",
        params,
    )
    return [r["blob_sha"] for r in rows]


def replace_audit(
    project: Project, persona_id: str, engine_id: str, verdicts: Sequence[AuditVerdict]
) -> None:
    """Replace the persona's audit verdicts for one engine."""
    rows = [
        {
            "reference_id": v.reference_id,
            "engine_id": engine_id,
            "face_index": v.face_index,
            "agreement": v.agreement,
            "suspect": int(v.suspect),
            "flags": json.dumps(list(v.flags)),
            "updated_at": v.updated_at or now_iso(),
        }
        for v in verdicts
    ]
    with project.atomic() as db:
        db.execute(
            "delete from cache_reference_audit where engine_id = ? and reference_id in"
            " (select id from reference_images where persona_id = ?)",
            [engine_id, persona_id],
        )
        if rows:
            db["cache_reference_audit"].insert_all(rows, replace=True)


def get_audit(project: Project, persona_id: str, engine_id: str) -> dict[str, AuditVerdict]:
    """Reference id -> the audit's verdict, for the persona's audited references."""
    rows = project.query(
        "select a.* from cache_reference_audit a join reference_images r on r.id = a.reference_id"
        " where r.persona_id = ? and a.engine_id = ?",
        (persona_id, engine_id),
    )
    return {
        r["reference_id"]: AuditVerdict(
            reference_id=r["reference_id"],
            engine_id=r["engine_id"],
            face_index=r["face_index"],
            agreement=r["agreement"],
            suspect=bool(r["suspect"]),
            flags=tuple(json.loads(r["flags"] or "[]")),
            updated_at=r["updated_at"] or "",
        )
        for r in rows
    }


def scanning_engines(project: Project, blob_shas: Sequence[str]) -> list[str]:
    """Engine ids that scanned every one of these images, the most recent scan first."""
    if not blob_shas:
        return []
    marks = ", ".join("?" * len(blob_shas))
    rows = project.query(
        f"select engine_id, max(created_at) as last from cache_face_scans where blob_sha in"
        f" ({marks}) group by engine_id having count(distinct blob_sha) = ?"
        " order by last desc, engine_id",
        (*blob_shas, len(set(blob_shas))),
    )
    return [r["engine_id"] for r in rows]


def audited_engines(project: Project, persona_id: str) -> list[str]:
    """Engine ids with an audit of the persona, the most recently audited first."""
    rows = project.query(
        "select a.engine_id, max(a.updated_at) as last from cache_reference_audit a"
        " join reference_images r on r.id = a.reference_id where r.persona_id = ?"
        " group by a.engine_id order by last desc, a.engine_id",
        (persona_id,),
    )
    return [r["engine_id"] for r in rows]


def put_calibration(project: Project, calibration: Calibration) -> None:
    """Store a persona's calibration for one engine (replacing the earlier one)."""
    with project.atomic() as db:
        db.execute(
            "insert or replace into cache_calibration (persona_id, engine_id, stats, updated_at)"
            " values (?, ?, ?, ?)",
            [
                calibration.persona_id,
                calibration.engine_id,
                json.dumps(calibration.to_stats()),
                calibration.updated_at or now_iso(),
            ],
        )


def get_calibration(project: Project, persona_id: str, engine_id: str) -> Calibration | None:
    """The persona's stored calibration for the engine, or None."""
    rows = project.query(
        "select stats, updated_at from cache_calibration where persona_id = ? and engine_id = ?",
        (persona_id, engine_id),
    )
    if not rows:
        return None
    stats = json.loads(rows[0]["stats"])
    return Calibration.from_stats(persona_id, engine_id, stats, rows[0]["updated_at"] or "")
