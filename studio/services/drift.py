"""Drift review as use cases: plan the analysis, store each frame's scores, read the matrix.

Scores are stored per frame, persona version and engine; flags are derived from them with the
persona's thresholds when read, so the threshold slider re-flags without analysing again.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core import drift as core
from studio.core import library as lib
from studio.core.colours import hex_to_rgb
from studio.core.errors import StudioError
from studio.core.faces import Face
from studio.core.records import Persona, Reference
from studio.core.shots import REVIEW_STATES, Frame, FrameReview, Shot
from studio.core.specs import DriftSpec
from studio.core.text import plural
from studio.core.timecode import format_timecode
from studio.project import curation
from studio.project import drift as drift_cache
from studio.project import faces as face_cache
from studio.project import personas as persona_rows
from studio.project import shots as shot_rows
from studio.project.settings import get_setting, set_setting
from studio.project.store import Project
from studio.services import audit
from studio.services.shots import shot_personas

THRESHOLDS_SETTING = "drift_thresholds"  # persona id -> the user's threshold overrides

# What a review edit changed: frame id -> ((old state, old note), (new state, new note)).
ReviewChanges = dict[str, tuple[tuple[str | None, str], tuple[str | None, str]]]


# -- planning ---------------------------------------------------------------------------------


def plan_analysis(
    project: Project,
    shot_keys: Sequence[str] | None = None,
    engine: str | None = None,
    *,
    thorough: bool = False,
) -> DriftSpec:
    """A job spec scoring the frames not yet scored against their personas' current versions.

    Frames already scored with the same engine and persona version are left out, and images
    the engine has scanned are not scanned again. thorough: also search the frames where no
    face was found again, with the engine's slow detector (the "look harder" pass).
    """
    name = engine or audit.default_engine(project)
    engine_id = audit.known_engine_id(project, name) or ""
    shots = (
        [shot_rows.get_shot(project, k) for k in shot_keys]
        if shot_keys
        else shot_rows.list_shots(project)
    )
    if not shots:
        raise StudioError(
            "There are no shots to analyse.",
            hint="Import footage first: drop clips on the Drift workspace or use "
            "`persona-studio shots import`.",
        )
    heads = {p.id: p.head_version_id for p in persona_rows.list_personas(project)}
    todo: list[tuple[str, str]] = []
    for shot in shots:
        wanted = [(pid, heads.get(pid)) for pid in shot_personas(project, shot) if heads.get(pid)]
        if not wanted:
            continue
        done = [
            drift_cache.scored_frames(project, pid, vid, engine_id) if engine_id else set()
            for pid, vid in wanted
        ]
        frames = shot_rows.frames_of(project, shot.id)
        faceless = _faceless(project, frames, engine_id) if thorough and engine_id else set()
        for frame in frames:
            if frame.blob_sha in faceless or not all(frame.id in d for d in done):
                todo.append((frame.id, frame.blob_sha))
    shas = list(dict.fromkeys(sha for _, sha in todo))
    scan = shas
    if engine_id:
        scanned = face_cache.scans(project, shas, engine_id)
        measured = set(drift_cache.looks(project, shas, engine_id))
        scan = [
            s
            for s in shas
            if s not in scanned
            or (scanned[s] and s not in measured)
            or (thorough and not scanned[s])
        ]
    ref_faces = _reference_faces_without_looks(project, engine_id) if engine_id else []
    n = len(todo)
    if thorough:
        title = f"Analyse {plural(n, 'frame')} for drift, looking harder for faces"
    elif n:
        title = f"Analyse {plural(n, 'frame')} for drift"
    else:
        title = "Drift analysis: every frame is up to date"
    return DriftSpec(
        title=title,
        engine=name,
        engine_id=engine_id,
        frames=tuple(todo),
        scan=tuple(scan),
        ref_faces=tuple(ref_faces),
        thorough=thorough,
    )


def _faceless(project: Project, frames: Sequence[Frame], engine_id: str) -> set[str]:
    """The images among these frames the engine scanned and found no face in."""
    scanned = face_cache.scans(project, [f.blob_sha for f in frames], engine_id)
    return {sha for sha, faces in scanned.items() if not faces}


def _reference_faces_without_looks(project: Project, engine_id: str) -> list[tuple]:
    out = []
    for persona in persona_rows.list_personas(project):
        rows = [a for a in audit.audit_rows(project, persona.id, engine_id) if a.face is not None]
        measured = drift_cache.looks(project, [a.reference.blob_sha for a in rows], engine_id)
        for a in rows:
            if a.face_index not in measured.get(a.reference.blob_sha, {}):
                f = a.face
                out.append(
                    (
                        a.reference.blob_sha,
                        a.face_index,
                        list(f.box),
                        [list(p) for p in f.landmarks],
                    )
                )
    return list({(r[0], r[1]): r for r in out}.values())


# -- the personas frames are compared with ----------------------------------------------------


def persona_models(project: Project, engine_id: str) -> dict[str, core.PersonaModel]:
    """Every persona of the cast as the analysis compares frames with it (one engine)."""
    out = {}
    for persona in persona_rows.list_personas(project):
        out[persona.id] = _persona_model(project, persona, engine_id)
    return out


def _persona_model(project: Project, persona: Persona, engine_id: str) -> core.PersonaModel:
    version = persona_rows.get_version(project, persona.id)
    rows = audit.audit_rows(project, persona.id, engine_id)
    usable = [a for a in rows if _usable(a)]
    looks = drift_cache.looks(project, [a.reference.blob_sha for a in usable], engine_id)
    refs = [
        core.RefFace(
            reference_id=a.reference.id,
            blob_sha=a.reference.blob_sha,
            embedding=a.face.embedding,
            yaw=a.face.yaw,
            pitch=a.face.pitch,
            look=looks.get(a.reference.blob_sha, {}).get(a.face_index),
        )
        for a in usable
    ]
    calibration = face_cache.get_calibration(project, persona.id, engine_id)
    record = version.record
    lighting = record.get("lighting") or {}
    return core.PersonaModel(
        persona_id=persona.id,
        name=persona.name,
        version_id=version.id,
        engine_id=engine_id,
        refs=refs,
        identity_threshold=calibration.threshold
        if calibration and calibration.calibrated
        else None,
        palette=_palette(record),
        target_cct_k=lighting.get("colour_temperature_k"),
        target_key=lighting.get("key_direction"),
    )


def _usable(a) -> bool:
    """Approved or agreeing references with a face vector: what frames are compared with."""
    return (
        a.status in (lib.APPROVED, lib.OK)
        and a.face is not None
        and a.face.embedding is not None
        and lib.NO_FACE not in a.flags
    )


def _palette(record: dict) -> list[tuple[float, float, float]]:
    """The Lab colours of every garment in the persona's wardrobe record."""
    from studio.core.looks import srgb_to_lab

    colours = []
    for outfit in (record.get("wardrobe") or {}).get("outfits") or []:
        for garment in outfit.get("garments") or []:
            hex_colour = garment.get("colour")
            if isinstance(hex_colour, str) and hex_colour.startswith("#"):
                lab = srgb_to_lab(np.array(hex_to_rgb(hex_colour), np.float32))
                colours.append(tuple(float(v) for v in lab))
    return colours


# -- storing a frame's results ----------------------------------------------------------------


@dataclass
class AnalysisContext:
    """What a running analysis keeps between frames: the cast models and each frame's shot."""

    engine_id: str
    models: dict[str, core.PersonaModel]
    shot_of: dict[str, Shot] = field(default_factory=dict)
    frame_shot: dict[str, str] = field(default_factory=dict)


def analysis_context(project: Project, spec: DriftSpec, engine_id: str) -> AnalysisContext:
    """Load the cast and the frames' shots once per analysis."""
    shots = {s.id: s for s in shot_rows.list_shots(project)}
    wanted = {frame_id for frame_id, _ in spec.frames}
    frame_shot = {f.id: f.shot_id for f in shot_rows.all_frames(project) if f.id in wanted}
    return AnalysisContext(engine_id, persona_models(project, engine_id), shots, frame_shot)


def store_reference_look(project: Project, engine_id: str, sha: str, face_index: int, look) -> None:
    """Keep the look measured around a reference's face."""
    existing = drift_cache.looks(project, [sha], engine_id).get(sha, {})
    merged = dict(existing)
    merged[int(face_index)] = look
    size = max(merged) + 1
    drift_cache.put_looks(project, sha, engine_id, [merged.get(i) for i in range(size)])


def store_frame_scan(
    project: Project, sha: str, engine: str, engine_id: str, faces: list[Face], looks: list
) -> None:
    """Keep the faces an engine found in a frame and the looks measured around them."""
    audit.store_scan(project, sha, engine, engine_id, faces)
    drift_cache.put_looks(project, sha, engine_id, looks)


def score_and_store(project: Project, ctx: AnalysisContext, frame_id: str, sha: str) -> None:
    """Score a frame (from its stored scan and looks) against each persona of its shot."""
    faces = face_cache.get_scan(project, sha, ctx.engine_id) or []
    looks = drift_cache.looks(project, [sha], ctx.engine_id).get(sha, {})
    frame_faces = [core.FrameFace(f, looks.get(i)) for i, f in enumerate(faces)]
    shot = ctx.shot_of.get(ctx.frame_shot.get(frame_id, ""))
    if shot is None:
        return  # the shot was deleted while the analysis ran
    cast = list(ctx.models.values())
    for pid in shot_personas(project, shot):
        model = ctx.models.get(pid)
        if model is None:
            continue
        score = core.score_frame(frame_faces, model, cast)
        drift_cache.put_score(project, frame_id, pid, model.version_id, ctx.engine_id, score)


# -- thresholds -------------------------------------------------------------------------------


def thresholds(project: Project, persona_key: str, engine_id: str | None = None) -> core.Thresholds:
    """The persona's drift thresholds: the user's overrides, else calibrated and defaults."""
    persona = persona_rows.get_persona(project, persona_key)
    eid = engine_id or _engine_id(project)
    saved = (get_setting(project, THRESHOLDS_SETTING, {}) or {}).get(persona.id, {})
    identity = saved.get("identity")
    if identity is None:
        calibration = face_cache.get_calibration(project, persona.id, eid) if eid else None
        identity = core.identity_threshold(
            core.PersonaModel(
                persona.id,
                persona.name,
                "",
                eid or "dlib",
                [],
                calibration.threshold if calibration and calibration.calibrated else None,
            )
        )
    return core.Thresholds(
        identity=float(identity),
        wardrobe=float(saved.get("wardrobe", core.DEFAULT_WARDROBE_DE)),
        lighting=float(saved.get("lighting", core.DEFAULT_LIGHTING)),
        enabled=tuple(saved.get("enabled", core.DIMENSIONS)),
    )


def set_thresholds(project: Project, persona_key: str, **values: Any) -> dict:
    """Override some of a persona's thresholds (None restores the calibrated/default one).

    Returns the previous overrides (for undo with `restore_thresholds`).
    """
    persona = persona_rows.get_persona(project, persona_key)
    allowed = {"identity", "wardrobe", "lighting", "enabled"}
    unknown = set(values) - allowed
    if unknown:
        raise StudioError(f"Unknown threshold: {', '.join(sorted(unknown))}.")
    all_saved = dict(get_setting(project, THRESHOLDS_SETTING, {}) or {})
    old = dict(all_saved.get(persona.id, {}))
    new = dict(old)
    for key, value in values.items():
        if value is None:
            new.pop(key, None)
        elif key == "enabled":
            bad = set(value) - set(core.DIMENSIONS)
            if bad:
                raise StudioError(f"Unknown drift dimension: {', '.join(sorted(bad))}.")
            new[key] = list(value)
        else:
            new[key] = float(value)
    restore_thresholds(project, persona.id, new)
    return old


def restore_thresholds(project: Project, persona_id: str, overrides: dict) -> None:
    """Put back a persona's overrides as `set_thresholds` returned them."""
    all_saved = dict(get_setting(project, THRESHOLDS_SETTING, {}) or {})
    if overrides:
        all_saved[persona_id] = overrides
    else:
        all_saved.pop(persona_id, None)
    set_setting(project, THRESHOLDS_SETTING, all_saved)


def _engine_id(project: Project) -> str | None:
    return audit.known_engine_id(project, audit.default_engine(project))


# -- reading the results ----------------------------------------------------------------------


@dataclass
class DriftRow:
    """One shot against one persona: every frame's scores, for the heatmap and the report."""

    shot: Shot
    persona_id: str
    persona_name: str
    frames: list[Frame]
    scores: list[core.FrameScore | None]  # None: not analysed yet
    reviews: dict[str, FrameReview]
    thresholds: core.Thresholds
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        return self.shot.name

    def array(self, dimension: str) -> np.ndarray:
        """Per-frame values of a dimension (NaN where not measured); read-only, built once."""
        values = self._arrays.get(dimension)
        if values is None:
            values = np.array(
                [
                    np.nan if s is None or getattr(s, dimension) is None else getattr(s, dimension)
                    for s in self.scores
                ],
                np.float32,
            )
            values.flags.writeable = False  # shared by every caller: the slider re-flags from it
            self._arrays[dimension] = values
        return values

    def times(self) -> np.ndarray:
        return np.array([np.nan if f.time_s is None else f.time_s for f in self.frames], np.float64)

    def flags(self, t: core.Thresholds | None = None) -> np.ndarray:
        t = t or self.thresholds
        return core.flag_arrays(
            self.array("identity"), self.array("wardrobe"), self.array("lighting"), t
        )

    def severity(self, t: core.Thresholds | None = None) -> np.ndarray:
        t = t or self.thresholds
        return core.severity_arrays(
            self.array("identity"), self.array("wardrobe"), self.array("lighting"), t
        )

    def worst(self) -> int | None:
        """The index of the frame with the lowest identity score (None if none measured)."""
        ident = self.array("identity")
        if np.all(np.isnan(ident)):
            return None
        return int(np.nanargmin(ident))


def drift_rows(project: Project, shot_keys: Sequence[str] | None = None) -> list[DriftRow]:
    """Every shot (in timeline order) against each persona expected in it, with its scores."""
    engine_id = _engine_id(project)
    shots = (
        [shot_rows.get_shot(project, k) for k in shot_keys]
        if shot_keys
        else shot_rows.list_shots(project)
    )
    personas = {p.id: p for p in persona_rows.list_personas(project)}
    reviews = shot_rows.reviews(project)
    cached: dict[str, dict] = {}
    out = []
    for shot in shots:
        frames = shot_rows.frames_of(project, shot.id)
        for pid in shot_personas(project, shot):
            persona = personas.get(pid)
            if persona is None:
                continue
            if pid not in cached:
                cached[pid] = (
                    drift_cache.scores(project, pid, persona.head_version_id, engine_id)
                    if engine_id
                    else {}
                )
            scores = cached[pid]
            out.append(
                DriftRow(
                    shot=shot,
                    persona_id=pid,
                    persona_name=persona.name,
                    frames=frames,
                    scores=[scores.get(f.id) for f in frames],
                    reviews={f.id: reviews[f.id] for f in frames if f.id in reviews},
                    thresholds=thresholds(project, pid, engine_id),
                )
            )
    return out


def shot_summary(row: DriftRow) -> dict[str, Any]:
    """A shot against one persona in a few figures: frames analysed, flagged, its worst frame."""
    worst = row.worst()
    counts = tally([row])
    frame = row.frames[worst] if worst is not None else None
    identity = row.scores[worst].identity if worst is not None else None
    return {
        "shot": row.shot.name,
        "persona": row.persona_name,
        "notes": row.shot.notes,
        "source": row.shot.source_path,
        "fps": row.shot.fps,
        "frames": counts.frames,
        "analysed": counts.analysed,
        "flagged": counts.flagged,
        "not_measurable": counts.unmeasurable,
        "worst_frame": worst,
        "worst_identity": None if identity is None else round(float(identity), 4),
        "worst_timecode": None
        if frame is None
        else format_timecode(frame.time_s, row.shot.fps, frame.index),
        "thresholds": row.thresholds.to_dict(),
    }


@dataclass(frozen=True)
class FrameVerdict:
    """A frame as the review reads it: state, every score, the flag's reasons and the review."""

    frame: Frame
    shot: Shot
    persona_id: str
    persona_name: str
    score: core.FrameScore | None
    flagged: bool
    reasons: tuple[str, ...]
    review: FrameReview | None

    @property
    def state(self) -> str:
        if self.score is None:
            return "not analysed"
        if self.score.state == core.UNMEASURABLE:
            return "not measurable"
        return "flagged" if self.flagged else "ok"

    @property
    def why(self) -> str:
        """One line: why the frame is flagged or not measurable, or that it is on-model."""
        if self.score is None:
            return "not analysed yet"
        if self.score.state == core.UNMEASURABLE:
            return f"not measurable: {self.score.reason}"
        if self.reasons:
            return "; ".join(self.reasons)
        return "on-model"


def verdict(row: DriftRow, index: int, t: core.Thresholds | None = None) -> FrameVerdict:
    """The verdict on one frame of a row."""
    t = t or row.thresholds
    score = row.scores[index]
    reasons = tuple(core.flag_reasons(score, t)) if score else ()
    frame = row.frames[index]
    return FrameVerdict(
        frame,
        row.shot,
        row.persona_id,
        row.persona_name,
        score,
        bool(reasons),
        reasons,
        row.reviews.get(frame.id),
    )


@dataclass(frozen=True)
class FrameInspection:
    """What the frame inspector shows: the verdict, every face in the frame, the best reference."""

    verdict: FrameVerdict
    thresholds: core.Thresholds
    faces: tuple[Face, ...]  # every face the engine found in the frame, largest first
    reference: Reference | None  # the persona's best-matching reference
    reference_face: Face | None  # the persona's face in that reference

    @property
    def face(self) -> Face | None:
        """The face the scores are about (None when no face was used)."""
        s = self.verdict.score
        if s is None or s.face_index is None or not 0 <= s.face_index < len(self.faces):
            return None
        return self.faces[s.face_index]


def inspect_frame(project: Project, row: DriftRow, index: int) -> FrameInspection:
    """Everything the inspector needs about one frame of a row."""
    v = verdict(row, index)
    eid = _engine_id(project)
    faces = tuple(face_cache.get_scan(project, v.frame.blob_sha, eid) or []) if eid else ()
    reference = ref_face = None
    ref_id = v.score.best_reference_id if v.score else None
    if ref_id:
        found = curation.get_references(project, [ref_id])
        reference = found[0] if found else None
    if reference is not None and eid:
        ref_faces = face_cache.get_scan(project, reference.blob_sha, eid) or []
        ref_face = lib.choose_face(ref_faces, curation.face_index(project, reference.id))[1]
    return FrameInspection(v, row.thresholds, faces, reference, ref_face)


def random_pair(
    project: Project, persona_key: str, seed: int | None = None
) -> tuple[FrameVerdict, FrameVerdict] | None:
    """Two random frames where the persona's face was measured (the artist's quick check)."""
    persona = persona_rows.get_persona(project, persona_key)
    candidates = [
        (row, i)
        for row in drift_rows(project)
        if row.persona_id == persona.id
        for i, s in enumerate(row.scores)
        if s is not None and s.state == core.MEASURED
    ]
    if len(candidates) < 2:
        return None
    rng = random.Random(seed)
    a, b = rng.sample(candidates, 2)
    return verdict(a[0], a[1]), verdict(b[0], b[1])


# -- review actions ---------------------------------------------------------------------------


def set_review(
    project: Project, frame_ids: Iterable[str], state: str | None = None, note: str | None = None
) -> ReviewChanges:
    """Flag frames for a reshoot, approve them or clear their state, and/or set their note.

    state None with note None clears the state; note None leaves notes as they are.
    """
    if state is not None and state not in REVIEW_STATES:
        raise StudioError(f"A frame's review is one of: {', '.join(REVIEW_STATES)}.")
    ids = list(dict.fromkeys(frame_ids))
    current = shot_rows.reviews(project, ids)
    changes: ReviewChanges = {}
    for frame_id in ids:
        old = current.get(frame_id)
        before = (old.state, old.note) if old else (None, "")
        after_state = before[0] if state is None and note is not None else state
        after = (after_state, before[1] if note is None else note)
        if after != before:
            changes[frame_id] = (before, after)
    shot_rows.put_reviews(project, {fid: new for fid, (_, new) in changes.items()})
    return changes


def revert_review(project: Project, changes: ReviewChanges) -> None:
    """Undo a review edit."""
    shot_rows.put_reviews(project, {fid: old for fid, (old, _) in changes.items()})


def reapply_review(project: Project, changes: ReviewChanges) -> None:
    """Redo a review edit."""
    shot_rows.put_reviews(project, {fid: new for fid, (_, new) in changes.items()})


def refresh_reviews(project: Project, rows: Sequence[DriftRow]) -> None:
    """Re-read the reviews of these rows' frames (after a review edit or its undo)."""
    current = shot_rows.reviews(project)
    for row in rows:
        row.reviews = {f.id: current[f.id] for f in row.frames if f.id in current}


def refresh_thresholds(project: Project, rows: Sequence[DriftRow]) -> None:
    """Re-read each row's thresholds (after a threshold edit or its undo)."""
    eid = _engine_id(project)
    known: dict[str, core.Thresholds] = {}
    for row in rows:
        if row.persona_id not in known:
            known[row.persona_id] = thresholds(project, row.persona_id, eid)
        row.thresholds = known[row.persona_id]


@dataclass(frozen=True)
class ReshootItem:
    """A frame flagged for a reshoot: where it is and why."""

    shot: Shot
    frame: Frame
    note: str
    why: str


def reshoot_list(project: Project, rows: Sequence[DriftRow] | None = None) -> list[ReshootItem]:
    """Every frame flagged for a reshoot, in timeline order (what a render will redo).

    rows: the rows already read (the workspace's), instead of reading them again.
    """
    out = []
    for row in drift_rows(project) if rows is None else rows:
        for i, frame in enumerate(row.frames):
            review = row.reviews.get(frame.id)
            if review and review.state == "reshoot":
                v = verdict(row, i)
                out.append(ReshootItem(row.shot, frame, review.note, v.why))
    seen: set[str] = set()
    return [r for r in out if not (r.frame.id in seen or seen.add(r.frame.id))]


@dataclass(frozen=True)
class Tally:
    """Rows counted: shots, frames, and how many were analysed, flagged, not measurable."""

    shots: int
    frames: int
    analysed: int
    flagged: int
    unmeasurable: int
    faceless: int  # analysed frames where no face was found (what "look harder" searches)


def tally(rows: Sequence[DriftRow], flags: Sequence[np.ndarray] | None = None) -> Tally:
    """Count rows' frames; flags: per row, when not the rows' own thresholds' (the slider's)."""
    scores = [s for r in rows for s in r.scores if s is not None]
    flagged = flags if flags is not None else [r.flags() for r in rows]
    return Tally(
        shots=len({r.shot.id for r in rows}),
        frames=sum(len(r.frames) for r in rows),
        analysed=len(scores),
        flagged=int(sum(int(f.sum()) for f in flagged)),
        unmeasurable=sum(1 for s in scores if s.state == core.UNMEASURABLE),
        faceless=sum(1 for s in scores if s.faces == 0),
    )


def summary(project: Project) -> str:
    """One line on where the review stands: frames analysed, flagged, not measurable."""
    n = tally(drift_rows(project))
    return (
        f"{n.analysed} of {plural(n.frames, 'frame')} analysed: {n.flagged} flagged, "
        f"{n.unmeasurable} not measurable"
    )
