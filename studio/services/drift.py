"""Drift review as use cases: plan the analysis, store each frame's scores, read the matrix.

Scores are stored per frame, persona version and engine; flags are derived from them with the
persona's thresholds when read, so the threshold slider re-flags without analysing again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core import drift as core
from studio.core import library as lib
from studio.core.changes import Changes
from studio.core.colours import hex_to_rgb
from studio.core.errors import StudioError
from studio.core.faces import Face
from studio.core.records import Persona, Reference
from studio.core.shots import REVIEW_STATES, Frame, FrameReview, Shot
from studio.core.specs import DriftSpec
from studio.core.text import plural
from studio.project import curation
from studio.project import drift as drift_cache
from studio.project import faces as face_cache
from studio.project import personas as persona_rows
from studio.project import references as reference_rows
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
    """A job spec scoring the frames whose scores are missing or stale.

    A frame is left out while its score against each persona of its shot was computed from
    the inputs it would be computed from now (see `score_inputs`); images the engine has
    scanned are not scanned again, and looks measured the current way are not measured again.
    thorough: also search the frames where no face was found again, with the engine's slow
    detector (the "look harder" pass).
    """
    name = engine or audit.default_engine(project)
    engine_id = audit.known_engine_id(project, name) or ""
    shots = _shots(project, shot_keys)
    if not shots:
        raise StudioError(
            "There are no shots to analyse.",
            hint="Import footage first: drop clips on the Drift workspace or use "
            "`persona-studio shots import`.",
        )
    models = persona_models(project, engine_id) if engine_id else {}
    stored: dict[str, dict[str, dict[str, str]]] = {}
    todo: list[tuple[str, str]] = []
    for shot in shots:
        wanted = [pid for pid in shot_personas(project, shot) if pid in models or not engine_id]
        if not wanted:
            continue
        current = {}
        for pid in wanted:
            if engine_id:
                if pid not in stored:
                    stored[pid] = drift_cache.stored_inputs(project, pid, engine_id)
                current[pid] = score_inputs(models, pid, shot.outfit_for(pid))
        frames = shot_rows.frames_of(project, shot.id)
        faceless = _faceless(project, frames, engine_id) if thorough and engine_id else set()
        for frame in frames:
            if frame.blob_sha in faceless or not engine_id:
                todo.append((frame.id, frame.blob_sha))
            elif any(stored[pid].get(frame.id) != current[pid] for pid in wanted):
                todo.append((frame.id, frame.blob_sha))
    shas = list(dict.fromkeys(sha for _, sha in todo))
    scan, relook = shas, []
    if engine_id:
        scanned = face_cache.scans(project, shas, engine_id)
        measured = drift_cache.looks(project, shas, engine_id)
        scan = [s for s in shas if s not in scanned or (thorough and not scanned[s])]
        relook = [
            (s, tuple((list(f.box), [list(p) for p in f.landmarks]) for f in scanned[s]))
            for s in shas
            if s in scanned and scanned[s] and s not in scan and not _current(measured.get(s))
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
        relook=tuple(relook),
        thorough=thorough,
    )


def _shots(project: Project, shot_keys: Sequence[str] | None) -> list[Shot]:
    if shot_keys:
        return [shot_rows.get_shot(project, k) for k in shot_keys]
    return shot_rows.list_shots(project)


def _current(looks_by_face: dict[int, dict] | None) -> bool:
    """Whether an image's looks were all measured the current way."""
    return bool(looks_by_face) and all(map(_current_look, looks_by_face.values()))


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
            look = measured.get(a.reference.blob_sha, {}).get(a.face_index)
            if _current_look(look) is None:
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
            look=_current_look(looks.get(a.reference.blob_sha, {}).get(a.face_index)),
            tags=tuple(a.reference.tags),
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
        outfits=_outfits(record),
        target_cct_k=lighting.get("colour_temperature_k"),
        target_key=lighting.get("key_direction"),
    )


def _current_look(look: dict | None) -> dict | None:
    """A stored look when it was measured the current way (an older one is measured again)."""
    from studio.core.looks import LOOK_VERSION

    return look if look and look.get("version") == LOOK_VERSION else None


def _usable(a) -> bool:
    """Approved or agreeing references with a face vector: what frames are compared with."""
    return (
        a.status in (lib.APPROVED, lib.OK)
        and a.face is not None
        and a.face.embedding is not None
        and lib.NO_FACE not in a.flags
    )


def _outfits(record: dict) -> dict[str, list[tuple[float, float, float]]]:
    """Each outfit of the persona's wardrobe record by name, with its garments' Lab colours."""
    from studio.core.looks import srgb_to_lab

    out: dict[str, list[tuple[float, float, float]]] = {}
    for i, outfit in enumerate((record.get("wardrobe") or {}).get("outfits") or []):
        if not isinstance(outfit, dict):
            continue
        colours = out.setdefault(str(outfit.get("name") or f"outfit {i + 1}"), [])
        for garment in outfit.get("garments") or []:
            hex_colour = garment.get("colour") if isinstance(garment, dict) else None
            if isinstance(hex_colour, str) and hex_colour.startswith("#"):
                lab = srgb_to_lab(np.array(hex_to_rgb(hex_colour), np.float32))
                colours.append(tuple(float(v) for v in lab))
    return out


def _digest(value: Any) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()[:16]


def score_inputs(
    models: dict[str, core.PersonaModel], persona_id: str, outfit: str | None
) -> dict[str, str]:
    """A digest of what each dimension of a persona's frame score is computed from.

    identity: the engine and every cast member's references (their face vectors) and
    calibrated threshold, since a face is hers only when closer to her than to the others.
    wardrobe: the face identity chose, the look measure, the outfit and its colours, her
    references' clothes. lighting: the face, the look measure, her key light as set, her
    references' light. The record's other fields are none of these: a new version that
    changes only them keeps every score.
    """
    from studio.core.looks import LOOK_VERSION

    model = models[persona_id]
    identity = _digest(
        [
            core.SCORE_VERSION,
            model.engine_id,
            sorted(
                (
                    m.persona_id,
                    m.identity_threshold,
                    sorted(
                        (r.reference_id, hashlib.sha256(np.asarray(r.embedding).tobytes())
                         .hexdigest()[:16], r.yaw, r.pitch)
                        for r in m.refs
                    ),
                )
                for m in models.values()
            ),
        ]
    )  # fmt: skip
    looks = [(r.reference_id, sorted(r.tags), r.look) for r in model.refs]
    colours = model.outfits.get(outfit) if outfit else model.outfits
    wardrobe = _digest(
        [identity, LOOK_VERSION, outfit, colours, [(i, t, (k or {}).get("garment"),
         (k or {}).get("face_lab")) for i, t, k in looks]]
    )  # fmt: skip
    lighting = _digest(
        [identity, LOOK_VERSION, model.target_key, [(i, {n: (k or {}).get(n) for n in
         ("face_lab", "key_vec", "key_strength")}) for i, _, k in looks]]
    )  # fmt: skip
    return {"identity": identity, "wardrobe": wardrobe, "lighting": lighting}


def stale_dimensions(stored: dict[str, str], current: dict[str, str]) -> tuple[str, ...]:
    """The dimensions whose inputs changed since a score was stored."""
    return tuple(d for d in core.DIMENSIONS if stored.get(d) != current.get(d))


# -- storing a frame's results ----------------------------------------------------------------


@dataclass
class AnalysisContext:
    """What a running analysis keeps between frames: the cast models and each frame's shot."""

    engine_id: str
    models: dict[str, core.PersonaModel]
    shot_of: dict[str, Shot] = field(default_factory=dict)
    frame_shot: dict[str, str] = field(default_factory=dict)
    inputs: dict[tuple[str, str | None], dict[str, str]] = field(default_factory=dict)

    def inputs_for(self, persona_id: str, outfit: str | None) -> dict[str, str]:
        key = (persona_id, outfit)
        if key not in self.inputs:
            self.inputs[key] = score_inputs(self.models, persona_id, outfit)
        return self.inputs[key]


def analysis_context(project: Project, spec: DriftSpec, engine_id: str) -> AnalysisContext:
    """Load the cast and the frames' shots once per analysis."""
    shots = {s.id: s for s in shot_rows.list_shots(project)}
    wanted = {frame_id for frame_id, _ in spec.frames}
    frame_shot = {f.id: f.shot_id for f in shot_rows.all_frames(project) if f.id in wanted}
    return AnalysisContext(engine_id, persona_models(project, engine_id), shots, frame_shot)


def analysed_rows(project: Project, spec: DriftSpec) -> list[DriftRow]:
    """The rows of the shots an analysis scored (every row when it scored no frame)."""
    shots = shot_rows.shots_of_frames(project, [f for f, _ in spec.frames])
    return drift_rows(project, sorted(shots)) if shots else drift_rows(project)


def store_reference_look(
    project: Project, engine_id: str, sha: str, face_index: int, look
) -> Changes:
    """Keep the look measured around a reference's face; every verdict of the personas that
    hold the reference may read differently now (a calibration, a staleness)."""
    existing = drift_cache.looks(project, [sha], engine_id).get(sha, {})
    merged = dict(existing)
    merged[int(face_index)] = look
    size = max(merged) + 1
    drift_cache.put_looks(project, sha, engine_id, [merged.get(i) for i in range(size)])
    return Changes.of(personas=reference_rows.personas_of_blob(project, sha))


def store_frame_scan(
    project: Project, sha: str, engine: str, engine_id: str, faces: list[Face], looks: list
) -> None:
    """Keep the faces an engine found in a frame and the looks measured around them."""
    audit.store_scan(project, sha, engine, engine_id, faces)
    drift_cache.put_looks(project, sha, engine_id, looks)


def store_frame_looks(project: Project, sha: str, engine_id: str, looks: list) -> None:
    """Keep the looks measured again around the faces already found in a frame."""
    drift_cache.put_looks(project, sha, engine_id, looks)


def score_and_store(
    project: Project, ctx: AnalysisContext, frame_id: str, sha: str
) -> Changes | None:
    """Score a frame (from its stored scan and looks) against each persona of its shot; returns
    the change (None when the shot was deleted meanwhile)."""
    faces = face_cache.get_scan(project, sha, ctx.engine_id) or []
    looks = drift_cache.looks(project, [sha], ctx.engine_id).get(sha, {})
    frame_faces = [core.FrameFace(f, looks.get(i)) for i, f in enumerate(faces)]
    shot = ctx.shot_of.get(ctx.frame_shot.get(frame_id, ""))
    if shot is None:
        return None  # the shot was deleted while the analysis ran
    cast = list(ctx.models.values())
    for pid in shot_personas(project, shot):
        model = ctx.models.get(pid)
        if model is None:
            continue
        outfit = shot.outfit_for(pid)
        score = core.score_frame(frame_faces, model, cast, outfit)
        inputs = ctx.inputs_for(pid, outfit)
        drift_cache.put_score(project, frame_id, pid, ctx.engine_id, score, inputs)
    return Changes.of(shots=[shot.id], frames=[frame_id])


# -- thresholds -------------------------------------------------------------------------------


def thresholds(
    project: Project,
    persona_key: str,
    engine_id: str | None = None,
    model: core.PersonaModel | None = None,
) -> core.Thresholds:
    """The persona's drift thresholds: her overrides, else calibrated, else measured defaults.

    Identity is calibrated by the reference audit; wardrobe and lighting from how far her
    references' clothes and light are from each other (`core.drift.calibrate_look`).
    model: the persona as `persona_models` built it, when the caller has it already.
    """
    persona = persona_rows.get_persona(project, persona_key)
    eid = engine_id or _engine_id(project)
    saved = (get_setting(project, THRESHOLDS_SETTING, {}) or {}).get(persona.id, {})
    if model is None and eid:
        model = _persona_model(project, persona, eid)
    values, basis = {}, {}
    for dimension in core.DIMENSIONS:
        if saved.get(dimension) is not None:
            values[dimension], basis[dimension] = float(saved[dimension]), "yours"
            continue
        values[dimension], basis[dimension] = _calibrated(project, persona, model, eid, dimension)
    return core.Thresholds(
        identity=values["identity"],
        wardrobe=values["wardrobe"],
        lighting=values["lighting"],
        enabled=tuple(saved.get("enabled", core.DIMENSIONS)),
        basis=basis,
    )


def _calibrated(
    project: Project, persona: Persona, model: core.PersonaModel | None, eid, dimension: str
) -> tuple[float, str]:
    """A dimension's threshold without the user's override, and where it comes from."""
    if dimension == "identity":
        calibration = face_cache.get_calibration(project, persona.id, eid) if eid else None
        if calibration and calibration.calibrated:
            return float(calibration.threshold), "calibrated from the persona's references"
        return core.uncalibrated_identity(
            eid or "dlib"
        ), "default (too few references to calibrate)"
    default = core.DEFAULT_WARDROBE_DE if dimension == "wardrobe" else core.DEFAULT_LIGHTING
    spreads = core.reference_spreads(model, dimension) if model else []
    value = core.calibrate_look(spreads, default)
    if value is None:
        what = "the clothes" if dimension == "wardrobe" else "the light on the face"
        return default, (f"default (fewer than {core.MIN_CALIBRATION} references show {what})")
    return value, f"calibrated from {plural(len(spreads), 'reference')}"


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


def stale_scores(project: Project, persona_key: str) -> dict[str, int]:
    """How many of a persona's frame scores are out of date, by dimension (after an edit)."""
    persona = persona_rows.get_persona(project, persona_key)
    counts = dict.fromkeys(core.DIMENSIONS, 0)
    for row in drift_rows(project):
        if row.persona_id == persona.id:
            for score in row.scores:
                for dimension in score.stale if score is not None else ():
                    counts[dimension] += 1
    return {d: n for d, n in counts.items() if n}


def stale_message(counts: dict[str, int]) -> str:
    """What an edit did to the drift review, in a sentence ("" when it kept every score)."""
    if not counts:
        return ""
    most = max(counts.values())
    what = " and ".join(counts)
    return (
        f"The {what} scores of {plural(most, 'frame')} are out of date: "
        "Analyse in the Drift workspace updates them from the cached faces."
    )


def threshold_overrides(project: Project, persona_id: str) -> dict:
    """The thresholds the artist set for a persona (the others are calibrated or defaults)."""
    return dict((get_setting(project, THRESHOLDS_SETTING, {}) or {}).get(persona_id, {}))


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
                    np.nan if s is None or s.value(dimension) is None else s.value(dimension)
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

    def missing(self, layer: str) -> np.ndarray:
        """Per frame, why a layer has no value (`core.drift.missing_code`; 0: it has one)."""
        return np.array([core.missing_code(s, layer) for s in self.scores], np.int8)


def drift_rows(project: Project, shot_keys: Sequence[str] | None = None) -> list[DriftRow]:
    """Every shot (in timeline order) against each persona expected in it, with its scores.

    A score whose inputs changed since it was computed (a new reference, another outfit
    colour) is kept and marked stale on exactly the dimensions that depend on the change.
    """
    engine_id = _engine_id(project)
    shots = _shots(project, shot_keys)
    # A few shots (a view following a change) read only their frames' scores and reviews.
    # Beyond a few hundred it is as quick to read them all (and stays within SQLite's limit
    # on bound values).
    only = None if shot_keys is None or len(shots) > 400 else [s.id for s in shots]
    personas = {p.id: p for p in persona_rows.list_personas(project)}
    reviews = shot_rows.reviews(project, shot_ids=only)
    models = persona_models(project, engine_id) if engine_id and shots else {}
    cached: dict[str, dict] = {}
    limits: dict[str, core.Thresholds] = {}
    inputs: dict[tuple[str, str | None], dict[str, str]] = {}
    out = []
    for shot in shots:
        frames = shot_rows.frames_of(project, shot.id)
        for pid in shot_personas(project, shot):
            persona = personas.get(pid)
            if persona is None:
                continue
            if pid not in cached:
                cached[pid] = drift_cache.scores(project, pid, engine_id, only) if engine_id else {}
                limits[pid] = thresholds(project, pid, engine_id, models.get(pid))
            key = (pid, shot.outfit_for(pid))
            if key not in inputs:  # one digest per persona and outfit, not per shot
                inputs[key] = score_inputs(models, *key) if pid in models else {}
            current = inputs[key]
            scores = []
            for f in frames:
                found = cached[pid].get(f.id)
                if found is None:
                    scores.append(None)
                    continue
                score, stored = found
                stale = stale_dimensions(stored, current)
                if score.state != core.MEASURED and "identity" not in stale:
                    stale = ()  # no face to measure: only a change of who she is matters
                scores.append(dataclasses.replace(score, stale=stale) if stale else score)
            out.append(
                DriftRow(
                    shot=shot,
                    persona_id=pid,
                    persona_name=persona.name,
                    frames=frames,
                    scores=scores,
                    reviews={f.id: reviews[f.id] for f in frames if f.id in reviews},
                    thresholds=limits[pid],
                )
            )
    return out


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
        """not analysed, not measurable, flagged, stale (inputs changed; analyse) or ok."""
        if self.score is None:
            return "not analysed"
        if self.score.state == core.UNMEASURABLE:
            return "not measurable"
        if self.flagged:
            return "flagged"
        return "stale" if self.score.stale else "ok"

    @property
    def why(self) -> str:
        """One line: why the frame is flagged, stale or not measurable, or that it is on-model."""
        if self.score is None:
            return "not analysed yet"
        if self.score.state == core.UNMEASURABLE:
            return f"not measurable: {self.score.reason}"
        parts = list(self.reasons)
        if self.score.stale:
            parts.append(stale_text(self.score.stale))
        if parts:
            return "; ".join(parts)
        return "on-model"

    def unchecked(self) -> dict[str, str]:
        """Enabled look dimensions that were not checked, with why."""
        return dict(self.score.unchecked) if self.score else {}


def stale_text(dimensions: Sequence[str]) -> str:
    """What a stale score means to the artist."""
    what = " and ".join(dimensions)
    return f"{what} out of date (what it depends on changed): Analyse to update"


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
    # The references the clothes and the light came closest to, by dimension.
    look_references: dict[str, Reference] = field(default_factory=dict)

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
    look_ids = {
        d: getattr(v.score, f"{d}_reference_id")
        for d in ("wardrobe", "lighting")
        if v.score and getattr(v.score, f"{d}_reference_id")
    }
    known = {r.id: r for r in curation.get_references(project, list(set(look_ids.values())))}
    looks = {d: known[i] for d, i in look_ids.items() if i in known}
    return FrameInspection(v, row.thresholds, faces, reference, ref_face, looks)


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
    stale: int = 0  # analysed frames with a score whose inputs changed since (Analyse updates)


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
        stale=sum(1 for s in scores if s.stale),
    )
