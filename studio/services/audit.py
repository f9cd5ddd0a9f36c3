"""The reference audit and curation: plan face scans, judge references, pick them for shots.

Scans are cached per engine id (the engine's name + model + version, reported by the engine
when it loads). Services never load an engine, so the project remembers the id each engine
name last reported (setting `face_engine_ids`): `plan_audit` lists the images lacking a scan
under that id, the job stores each scan under the id the engine actually reports (and updates
the remembered id), and `finish` refreshes the audit from the cached faces alone. A model
upgrade thus shows as references still pending, and the next audit scans them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core import library as lib
from studio.core.errors import StudioError
from studio.core.faces import Face
from studio.core.ids import now_iso
from studio.core.library import (
    AuditInput,
    AuditSummary,
    Calibration,
    FaceFingerprint,
    PickCandidate,
    Picks,
    PoseCoverage,
    ReferenceAudit,
)
from studio.core.records import Persona, Reference
from studio.core.specs import AuditSpec
from studio.core.text import plural
from studio.project import blobs, caches, curation
from studio.project import faces as face_cache
from studio.project import personas as persona_rows
from studio.project import references as reference_rows
from studio.project.settings import get_setting, set_setting
from studio.project.store import Project

# What an edit changed: reference id -> (old value, new value), only for references it changed.
Changes = dict[str, tuple[Any, Any]]

# Eyes at least this far apart (pixels) in the cached thumbnail: the fingerprint is made from
# it; closer, from the image decoded at a size that puts them FINGERPRINT_DECODE_IOD apart.
FINGERPRINT_THUMBNAIL_IOD = 16.0
FINGERPRINT_DECODE_IOD = 32.0

ENGINE_SETTING = "face_engine"
ENGINE_IDS_SETTING = "face_engine_ids"
DEFAULT_ENGINE = "dlib"


@dataclass(frozen=True)
class EngineChoice:
    """A face engine the user can choose, and what to tell them when they do."""

    name: str
    label: str
    note: str = ""


ENGINES = (
    EngineChoice("dlib", "dlib ResNet face descriptor (default; offline, CC0 weights)"),
    EngineChoice(
        "insightface",
        "insightface (buffalo_l or another model pack)",
        "insightface's pretrained models are licensed for non-commercial use only.",
    ),
)


# -- engines ----------------------------------------------------------------------------------


def engine_choices() -> list[EngineChoice]:
    """The face engines the studio offers."""
    return list(ENGINES)


def _check_engine(name: str) -> str:
    names = [e.name for e in ENGINES]
    if name.partition(":")[0] not in names:  # "insightface:<model pack>" names a pack
        raise StudioError(
            f"There is no face engine '{name}'.", hint=f"Choose one of: {', '.join(names)}."
        )
    return name


def default_engine(project: Project) -> str:
    """The name of the project's face engine (dlib unless the user chose another)."""
    name = get_setting(project, ENGINE_SETTING, DEFAULT_ENGINE)
    known = isinstance(name, str) and name.partition(":")[0] in [e.name for e in ENGINES]
    return name if known else DEFAULT_ENGINE


def set_default_engine(project: Project, name: str) -> str:
    """Make `name` the project's face engine; returns the previous one (for undo)."""
    old = default_engine(project)
    set_setting(project, ENGINE_SETTING, _check_engine(name))
    return old


def known_engine_id(project: Project, engine: str) -> str | None:
    """The engine id the named engine last reported in this project, or None if never run."""
    return (get_setting(project, ENGINE_IDS_SETTING, {}) or {}).get(engine)


# -- the audit job ----------------------------------------------------------------------------


def plan_audit(project: Project, persona_key: str, engine: str | None = None) -> AuditSpec:
    """A job spec that scans the persona's images the engine has not seen, then re-judges all."""
    persona = persona_rows.get_persona(project, persona_key)
    name = _check_engine(engine or default_engine(project))
    missing = face_cache.blobs_without_scan(project, known_engine_id(project, name), persona.id)
    n = len(missing)
    title = (
        f"Check {plural(n, 'reference')} of {persona.name}"
        if n
        else f"Refresh the reference audit of {persona.name}"
    )
    return AuditSpec(title=title, persona_id=persona.id, engine=name, blob_shas=tuple(missing))


def store_scan(
    project: Project, blob_sha: str, engine: str, engine_id: str, faces: Sequence[Face]
) -> None:
    """Keep the faces an engine found in an image, and remember the id the engine reported."""
    with project.atomic():
        face_cache.put_scan(project, blob_sha, engine_id, faces)
        ids = dict(get_setting(project, ENGINE_IDS_SETTING, {}) or {})
        if ids.get(engine) != engine_id:
            ids[engine] = engine_id
            set_setting(project, ENGINE_IDS_SETTING, ids)


def refresh_audit(project: Project, persona_key: str, engine_id: str) -> AuditSummary:
    """Re-judge every reference of the persona from the cached faces (no model runs).

    Agreement, flags, suspects and calibration are rewritten in one transaction.
    """
    with project.atomic():
        persona = persona_rows.get_persona(project, persona_key)
        refs = reference_rows.list_references(project, persona.id)
        picks = curation.face_indexes(project, persona.id)
        scans = face_cache.persona_scans(project, persona.id, engine_id)
        items = [AuditInput(r.id, r.status, picks.get(r.id), scans.get(r.blob_sha)) for r in refs]
        verdicts, calibration = lib.audit_persona(persona.id, engine_id, items, now_iso())
        face_cache.replace_audit(project, persona.id, engine_id, verdicts)
        face_cache.put_calibration(project, calibration)
    return AuditSummary(
        persona_id=persona.id,
        engine_id=engine_id,
        references=len(refs),
        audited=len(verdicts),
        suspects=sum(v.suspect for v in verdicts),
        no_face=sum(lib.NO_FACE in v.flags for v in verdicts),
        flagged=sum(bool(set(v.flags) - {lib.NO_FACE}) for v in verdicts),
        calibrated=calibration.calibrated,
        threshold=calibration.threshold,
    )


def finish_audit(project: Project, spec: AuditSpec) -> str:
    """Refresh the audit after the job's scans; the one-line summary for the job panel."""
    persona = persona_rows.get_persona(project, spec.persona_id)
    engine_id = known_engine_id(project, spec.engine)
    if engine_id is None:
        return f"{persona.name} has no references to check"
    text = refresh_audit(project, persona.id, engine_id).message(persona.name)
    left = face_cache.blobs_without_scan(project, engine_id, persona.id)
    if left:
        text += (
            f"; {plural(len(left), 'image')} not yet checked with {engine_id}: run the audit again"
        )
    return text


# -- reading ----------------------------------------------------------------------------------


def _engine_for_reads(project: Project, persona_id: str, engine_id: str | None) -> str | None:
    if engine_id:
        return engine_id
    known = known_engine_id(project, default_engine(project))
    audited = face_cache.audited_engines(project, persona_id)
    if known in audited or not audited:
        return known
    return audited[0]


def _audit_rows(
    project: Project, persona: Persona, engine_id: str | None
) -> tuple[list[ReferenceAudit], Calibration | None]:
    refs = reference_rows.list_references(project, persona.id)
    eid = _engine_for_reads(project, persona.id, engine_id)
    if eid is None:
        rows = [ReferenceAudit(r, lib.display_status(r.status, False, False), None) for r in refs]
        return rows, None
    scans = face_cache.persona_scans(project, persona.id, eid)
    verdicts = face_cache.get_audit(project, persona.id, eid)
    calibration = face_cache.get_calibration(project, persona.id, eid)
    medians = calibration.median_similarity if calibration else {}
    picks = curation.face_indexes(project, persona.id)
    out = []
    for r in refs:
        faces = scans.get(r.blob_sha)
        if faces is None:
            out.append(ReferenceAudit(r, lib.display_status(r.status, False, False), eid))
            continue
        v = verdicts.get(r.id)
        index, face = lib.choose_face(faces, picks.get(r.id))
        suspect = bool(v and v.suspect)
        out.append(
            ReferenceAudit(
                reference=r,
                status=lib.display_status(r.status, v is not None, suspect),
                engine_id=eid,
                face=face,
                face_index=index,
                faces=len(faces),
                agreement=v.agreement if v else None,
                median_similarity=medians.get(r.id),
                flags=v.flags if v else lib.quality_flags(len(faces), face),
                suspect=suspect,
            )
        )
    return out, calibration


def audit_rows(
    project: Project, persona_key: str, engine_id: str | None = None
) -> list[ReferenceAudit]:
    """Every reference of the persona with its face, agreement, flags and display status.

    engine_id None: the project's default engine (or the persona's latest audited one).
    """
    persona = persona_rows.get_persona(project, persona_key)
    return _audit_rows(project, persona, engine_id)[0]


def calibration(
    project: Project, persona_key: str, engine_id: str | None = None
) -> Calibration | None:
    """The persona's genuine-similarity calibration for the engine, or None before an audit."""
    persona = persona_rows.get_persona(project, persona_key)
    eid = _engine_for_reads(project, persona.id, engine_id)
    return face_cache.get_calibration(project, persona.id, eid) if eid else None


def faces_of(project: Project, reference: Reference, engine_id: str | None = None) -> list[Face]:
    """Every face the engine found in a reference's image, largest first ([] before a scan)."""
    eid = _engine_for_reads(project, reference.persona_id, engine_id)
    return (face_cache.get_scan(project, reference.blob_sha, eid) or []) if eid else []


def pose_coverage(project: Project, persona_key: str, engine_id: str | None = None) -> PoseCoverage:
    """Yaw/pitch of the approved and ok references, counted in bins, with the angles missing."""
    usable = [
        a
        for a in audit_rows(project, persona_key, engine_id)
        if a.status in (lib.APPROVED, lib.OK) and a.face is not None
    ]
    return lib.pose_coverage(
        [(a.face.yaw, a.face.pitch) for a in usable], [a.reference.id for a in usable]
    )


def _eligible(a: ReferenceAudit, picked_face: bool) -> bool:
    if a.status not in (lib.APPROVED, lib.OK) or a.face is None or lib.NO_FACE in a.flags:
        return False
    return lib.SEVERAL_FACES not in a.flags or picked_face


def pick_references(
    project: Project,
    persona_key: str,
    target_yaw: float = 0.0,
    target_pitch: float = 0.0,
    count: int = 4,
    engine_id: str | None = None,
) -> Picks:
    """The best approved/ok references for a shot at this head pose: distinct photos (copies of
    one photo count once), diverse among themselves, the ones near the pose first.

    The result's `warnings` (joined in `note`) say why there are fewer than `count` and when
    the picks miss the shot's pose; each pick carries its `pose_gap` in degrees.
    """
    lo, hi = lib.PICK_RANGE
    if not isinstance(count, int) or not lo <= count <= hi:
        raise StudioError(
            f"Pick between {lo} and {hi} references for a shot, not {count}.",
            hint="4 is a good default.",
        )
    for what, angle in (("yaw", target_yaw), ("pitch", target_pitch)):
        if not -90.0 <= float(angle) <= 90.0:
            raise StudioError(f"A target {what} of {angle}° is outside -90..90°.")
    persona = persona_rows.get_persona(project, persona_key)
    rows, cal = _audit_rows(project, persona, engine_id)
    picked_faces = curation.face_indexes(project, persona.id)
    hashes = {r.id: h for r, h in reference_rows.references_with_phash(project, persona.id)}
    candidates = [
        PickCandidate(a.reference, a.face, a.agreement, hashes.get(a.reference.id) or "")
        for a in rows
        if _eligible(a, a.reference.id in picked_faces)
    ]
    if not candidates:
        raise StudioError(
            f"{persona.name} has no references usable for a shot: none is approved or passed"
            " the audit with a single clear face.",
            hint="Run the reference audit, then approve some references first.",
        )
    calibrated = cal is not None and cal.calibrated
    picks = lib.pick(
        candidates,
        count,
        float(target_yaw),
        float(target_pitch),
        cal.threshold if calibrated else None,
        cal.quantiles.get("q50") if calibrated else None,
        cal.agreement_median if calibrated else None,
        fingerprint=_fingerprint_loader(project),
    )
    short = ""
    if len(picks) < count and picks.left_out:
        copy = "a copy" if picks.left_out == 1 else "copies"
        what = f"{copy} of {'it' if len(picks) == 1 else 'a picked one'}"
        short = (
            f"Only {plural(len(picks), 'distinct photo')} of {persona.name} for {count} picks:"
            f" {plural(picks.left_out, 'other usable reference')}"
            f" {'is' if picks.left_out == 1 else 'are'} {what} (mirrored, cropped, resized or"
            f" regraded); import or approve other photos of {persona.name}."
        )
    elif len(picks) < count:
        short = (
            f"Only {plural(len(picks), 'usable reference')} of "
            f"{persona.name} for {count} picks: approve more, or fix the flagged ones."
        )
    return Picks(
        picks,
        warnings=(short, *picks.warnings),
        pose_note=picks.pose_note,
        target=picks.target,
        tolerance=picks.tolerance,
    )


def _fingerprint_loader(project: Project) -> Callable[[PickCandidate], FaceFingerprint | None]:
    def load(c: PickCandidate) -> FaceFingerprint | None:
        return face_fingerprint(project, c.reference, c.face)

    return load


def face_fingerprint(project: Project, reference: Reference, face: Face) -> FaceFingerprint | None:
    """The fingerprint that tells copies of a reference's photo (see `lib.same_photo`).

    Made from the cached thumbnail when the face is large enough there, else from the image
    decoded just large enough; None when neither can be read or the face is too small.
    """
    (x0, y0), (x1, y1) = face.landmarks[0], face.landmarks[1]
    iod = float(np.hypot(x1 - x0, y1 - y0))
    if reference.width <= 0 or iod <= 0:
        return None
    thumbnail = caches.get_thumbnail(project, reference.blob_sha, lib.THUMBNAIL_SIZE)
    if thumbnail is not None:
        grey = _grey(thumbnail)
        if grey is not None and iod * grey.shape[1] / reference.width >= FINGERPRINT_THUMBNAIL_IOD:
            return lib.face_fingerprint(grey, face.landmarks, grey.shape[1] / reference.width)
    try:
        data = blobs.get_blob(project, reference.blob_sha)
    except StudioError:
        return None
    grey = _grey(data, min(1.0, FINGERPRINT_DECODE_IOD / iod))
    if grey is None:
        return None
    return lib.face_fingerprint(grey, face.landmarks, grey.shape[1] / reference.width)


def _grey(data: bytes, scale: float = 1.0) -> np.ndarray | None:
    """An image's bytes as a grey array, EXIF orientation applied; a JPEG is decoded at the
    smallest of its DCT scales that is at least `scale` of its size. None if unreadable."""
    # Pillow only here: the service is imported by the CLI, which must start without it.
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            if scale < 1.0:
                im.draft("L", (max(1, round(im.width * scale)), max(1, round(im.height * scale))))
            return np.asarray(ImageOps.exif_transpose(im).convert("L"))
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None


# -- curation (each one transaction, returning what changed for undo) ------------------------


def refresh_persona(project: Project, persona_key: str) -> list[AuditSummary]:
    """Re-judge the persona under every engine that has audited it (after references moved)."""
    with project.atomic():
        persona = persona_rows.get_persona(project, persona_key)
        return [
            refresh_audit(project, persona.id, eid)
            for eid in face_cache.audited_engines(project, persona.id)
        ]


def _refresh_personas(project: Project, persona_ids: Iterable[str]) -> None:
    for pid in dict.fromkeys(persona_ids):
        refresh_persona(project, pid)


def _write(project: Project, field: str, changes: Changes, refresh: Iterable[str] = ()) -> None:
    curation.update(project, [(rid, field, new) for rid, (_, new) in changes.items()])
    _refresh_personas(project, refresh)


def set_status(project: Project, reference_ids: Iterable[str], status: str) -> Changes:
    """Approve, quarantine or reset (pending) references; the audit of their personas follows.

    Undo: call again per old status with the references that had it.
    """
    if status not in lib.AUTHORED_STATUSES:
        raise StudioError(
            f"'{status}' is not a reference status.",
            hint=f"Use one of: {', '.join(lib.AUTHORED_STATUSES)}.",
        )
    with project.atomic():
        refs = curation.get_references(project, reference_ids)
        changes = {r.id: (r.status, status) for r in refs if r.status != status}
        # Quarantine changes who defines the persona, so everyone's agreement moves.
        moved = [
            r.persona_id for r in refs if r.id in changes and lib.QUARANTINED in (r.status, status)
        ]
        _write(project, "status", changes, moved)
    return changes


def _clean_tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    return list(dict.fromkeys(t.strip() for t in tags if t and t.strip()))


def set_tags(
    project: Project,
    reference_ids: Iterable[str],
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> Changes:
    """Add and remove tags on references; returns old and new tag tuples of the changed ones.

    Undo: `set_tags(ids, add=remove, remove=add)` with the changed ids.
    """
    add, remove = _clean_tags(add), set(_clean_tags(remove))
    with project.atomic():
        changes: Changes = {}
        for r in curation.get_references(project, reference_ids):
            new = [t for t in r.tags if t not in remove]
            new += [t for t in add if t not in new]
            if tuple(new) != tuple(r.tags):
                changes[r.id] = (tuple(r.tags), tuple(new))
        _write(project, "tags", changes)
    return changes


def set_rating(project: Project, reference_ids: Iterable[str], rating: int) -> Changes:
    """Rate references from 0 (unrated) to 5 stars; returns the changed ones."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 0 <= rating <= 5:
        raise StudioError(f"A rating is 0 to 5 stars, not {rating}.")
    with project.atomic():
        refs = curation.get_references(project, reference_ids)
        changes = {r.id: (r.rating, rating) for r in refs if r.rating != rating}
        _write(project, "rating", changes)
    return changes


def set_face(project: Project, reference_id: str, face_index: int | None) -> Changes:
    """Say which face in an image is the persona (None: the largest); the audit follows."""
    with project.atomic():
        (ref,) = curation.get_references(project, [reference_id])
        if face_index is not None:
            eid = known_engine_id(project, default_engine(project))
            faces = face_cache.get_scan(project, ref.blob_sha, eid) if eid else None
            bad = isinstance(face_index, bool) or not isinstance(face_index, int)
            if bad or face_index < 0 or (faces is not None and face_index >= len(faces)):
                found = f"; the image has {len(faces)}" if faces is not None else ""
                raise StudioError(
                    f"There is no face {face_index} in {ref.file_name or ref.id}{found}.",
                    hint="Choose one of the faces drawn on the image.",
                )
        old = curation.face_index(project, ref.id)
        changes: Changes = {} if old == face_index else {ref.id: (old, face_index)}
        _write(project, "face_index", changes, [ref.persona_id] if changes else [])
    return changes


def revert(project: Project, field: str, changes: Changes) -> Changes:
    """Put back the old values of one edit's changes (undo); returns the inverse changes."""
    if field not in curation.EDITABLE:
        raise StudioError(f"'{field}' is not an editable field of a reference.")
    inverse = {rid: (new, old) for rid, (old, new) in changes.items()}
    with project.atomic():
        refs = curation.get_references(project, inverse)
        moved = [
            r.persona_id
            for r in refs
            if field == "face_index" or (field == "status" and lib.QUARANTINED in changes[r.id])
        ]
        _write(project, field, inverse, moved)
    return inverse
