"""Drift maths: is the face in a frame the persona, and how far have her wardrobe and light moved.

Everything here is pure: the faces, looks and references come in as data, scores go out. The
services store the scores; flags are derived from the scores and the persona's thresholds when
read, so moving a threshold re-flags every frame without analysing anything again.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core.faces import Face
from studio.core.library import threshold_range

DIMENSIONS = ("identity", "wardrobe", "lighting")
LAYERS = (*DIMENSIONS, "combined")

MIN_FACE_PX = 60.0  # smaller faces give unreliable identity vectors
MIN_DETECTOR_SCORE = {"dlib": 0.0, "insightface": 0.5}  # dlib's HOG score can be near 0
POSE_NEIGHBOURS = 5  # references nearest in head pose that the pose-aware match looks among
CAST_MARGIN = 0.02  # a face is a cast member only when closer to them than to anyone else by this
# Measured defaults, used until a persona has enough references to calibrate (see README,
# "How thresholds are chosen"). On clips made from real photos with zooms and pans, the same
# clothes stayed within 7.8 of their reference and dyed ones were 15 or more apart; the same
# light stayed within 0.6 and a change of 1,500 K or a key on the other side gave 1.1 or more.
DEFAULT_WARDROBE_DE = 11.0  # palette distance (core.looks): beyond it, other clothes
DEFAULT_LIGHTING = 1.0  # lighting distance (core.looks): beyond it, clearly different light
# Identity without a calibration: on the dlib descriptor, 0.92 lets no impostor pair of a public
# face-verification set through while every genuine pair passes (0.905 let 5 of 262 through).
UNCALIBRATED_IDENTITY = {"dlib": 0.92}
MIN_CALIBRATION = 3  # references with the look in view needed to calibrate a look threshold
CALIBRATION_SPREAD = 1.5  # a look threshold: this times the references' spread's upper quartile
CALIBRATION_CEILING = 2.5  # ... and at most this times the default
RECORD_KEY_UNIT = 0.2  # a named key direction is vague: its key difference counts 1 at this

# Frame states.
MEASURED = "measured"
UNMEASURABLE = "unmeasurable"
# The way frames are scored; scores made another way are stale and scored again from the cache.
SCORE_VERSION = 2

# Why a frame has no value on a dimension: four different things to the artist.
MISSING_UNMEASURABLE, MISSING_UNANALYSED, MISSING_STALE, MISSING_UNCHECKED = 1, 2, 3, 4


def missing_code(score: FrameScore | None, dimension: str) -> int:
    """Why a score has no value on a dimension (0 when it has one); "combined": on all three."""
    if score is None:
        return MISSING_UNANALYSED
    if score.state != MEASURED:
        return MISSING_UNMEASURABLE
    dims = DIMENSIONS if dimension == "combined" else (dimension,)
    if any(score.value(d) is not None for d in dims):
        return 0
    if any(d in score.stale for d in dims):
        return MISSING_STALE
    return MISSING_UNCHECKED if any(d in score.unchecked for d in dims) else MISSING_UNMEASURABLE


@dataclass(frozen=True)
class RefFace:
    """One usable reference face of a persona: identity vector, pose and (when known) look."""

    reference_id: str
    blob_sha: str
    embedding: np.ndarray = field(compare=False, repr=False)
    yaw: float = 0.0
    pitch: float = 0.0
    look: Mapping[str, Any] | None = None  # an engine.looks.Look as a dict (garment, face_lab..)
    tags: tuple[str, ...] = ()  # the reference's tags: an outfit's name says she wears it here


@dataclass
class PersonaModel:
    """What a frame is compared with: a persona's references, palette, light and thresholds."""

    persona_id: str
    name: str
    version_id: str
    engine_id: str
    refs: list[RefFace]
    identity_threshold: float | None  # from the calibration (None: not calibrated)
    outfits: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)  # Lab
    target_cct_k: float | None = None  # the record's colour temperature (None: not set)
    target_key: str | None = None  # the record's key-light direction (None: not set)

    def __post_init__(self) -> None:
        if self.refs:
            e = np.stack([np.asarray(r.embedding, np.float32) for r in self.refs])
            self.embeddings = e
            centroid = e.mean(axis=0)
            norm = float(np.linalg.norm(centroid))
            self.centroid = centroid / norm if norm else centroid
            self.poses = np.array([[r.yaw, r.pitch] for r in self.refs], np.float32)
        else:
            self.embeddings = np.zeros((0, 0), np.float32)
            self.centroid = None
            self.poses = np.zeros((0, 2), np.float32)


@dataclass(frozen=True)
class IdentityMatch:
    """A face against one persona: pose-aware best match, centroid score, best reference."""

    score: float  # the pose-aware best match: best similarity among the references nearest in pose
    centroid: float  # similarity to the mean of the references
    best_overall: float  # best similarity among all references
    best_reference_id: str | None


def identity_match(face: Face, persona: PersonaModel) -> IdentityMatch | None:
    """How closely a face matches a persona's references (None without references or vector)."""
    if face.embedding is None or persona.centroid is None:
        return None
    sims = persona.embeddings @ np.asarray(face.embedding, np.float32)
    d = np.hypot(persona.poses[:, 0] - face.yaw, persona.poses[:, 1] - face.pitch)
    near = np.argsort(d, kind="stable")[:POSE_NEIGHBOURS]
    best_near = int(near[np.argmax(sims[near])])
    return IdentityMatch(
        score=float(sims[best_near]),
        centroid=float(persona.centroid @ np.asarray(face.embedding, np.float32)),
        best_overall=float(sims.max()),
        best_reference_id=persona.refs[best_near].reference_id,
    )


def identity_threshold(persona: PersonaModel, override: float | None = None) -> float:
    """The similarity below which a frame is drifted: the user's, else the calibration's."""
    if override is not None:
        return float(override)
    if persona.identity_threshold is not None:
        return float(persona.identity_threshold)
    return uncalibrated_identity(persona.engine_id)


def uncalibrated_identity(engine_id: str) -> float:
    """The identity threshold for an engine before a persona's references calibrate it."""
    family = engine_id.split(":", 1)[0].lower()
    if family in UNCALIBRATED_IDENTITY:
        return UNCALIBRATED_IDENTITY[family]
    lo, hi = threshold_range(engine_id)
    return (lo + hi) / 2


def detector_floor(engine_id: str) -> float:
    """The lowest detector score a measurable face may have for this engine."""
    family = engine_id.split(":", 1)[0].lower()
    return MIN_DETECTOR_SCORE.get(family, 0.5)


@dataclass(frozen=True)
class FrameFace:
    """A face found in a frame, with its look measured around it (or None)."""

    face: Face
    look: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FrameScore:
    """A frame against one persona: every score, the face used, and why it may not be measurable."""

    state: str  # MEASURED or UNMEASURABLE
    reason: str = ""  # why not measurable, or what the face is (e.g. "matches Ada Stone")
    face_index: int | None = None
    faces: int = 0
    identity: float | None = None  # pose-aware best match
    identity_centroid: float | None = None
    best_reference_id: str | None = None
    matched: bool = False  # the face was assigned to this persona among the cast
    wardrobe: float | None = None  # palette distance to the nearest reference or record colours
    lighting: float | None = None  # lighting distance to the nearest reference or record light
    box: tuple[float, float, float, float] | None = None
    cast_scores: dict[str, float] = field(default_factory=dict)  # persona name -> score
    wardrobe_reference_id: str | None = None  # the reference the clothes were closest to
    lighting_reference_id: str | None = None  # the reference the light was closest to
    unchecked: dict[str, str] = field(default_factory=dict)  # dimension -> why not checked
    details: dict[str, str] = field(default_factory=dict)  # dimension -> what differs, in words
    stale: tuple[str, ...] = ()  # dimensions whose inputs changed since (set when read)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (staleness is not stored: it is worked out when read)."""
        return {
            "state": self.state,
            "reason": self.reason,
            "face_index": self.face_index,
            "faces": self.faces,
            "identity": self.identity,
            "identity_centroid": self.identity_centroid,
            "best_reference_id": self.best_reference_id,
            "matched": self.matched,
            "wardrobe": self.wardrobe,
            "lighting": self.lighting,
            "box": list(self.box) if self.box else None,
            "cast_scores": dict(self.cast_scores),
            "wardrobe_reference_id": self.wardrobe_reference_id,
            "lighting_reference_id": self.lighting_reference_id,
            "unchecked": dict(self.unchecked),
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FrameScore:
        box = d.get("box")
        return cls(
            state=d["state"],
            reason=d.get("reason", ""),
            face_index=d.get("face_index"),
            faces=int(d.get("faces", 0)),
            identity=d.get("identity"),
            identity_centroid=d.get("identity_centroid"),
            best_reference_id=d.get("best_reference_id"),
            matched=bool(d.get("matched", False)),
            wardrobe=d.get("wardrobe"),
            lighting=d.get("lighting"),
            box=tuple(box) if box else None,
            cast_scores=dict(d.get("cast_scores") or {}),
            wardrobe_reference_id=d.get("wardrobe_reference_id"),
            lighting_reference_id=d.get("lighting_reference_id"),
            unchecked=dict(d.get("unchecked") or {}),
            details=dict(d.get("details") or {}),
        )

    def value(self, dimension: str) -> float | None:
        """A dimension's score, None when it was not measured, not checked or is stale."""
        if dimension in self.stale:
            return None
        return getattr(self, dimension)


def assign_cast(
    faces: Sequence[FrameFace], cast: Sequence[PersonaModel], margin: float = CAST_MARGIN
) -> dict[int, tuple[str, dict[str, IdentityMatch]]]:
    """Face index -> (persona id it is, or "", and every cast member's match).

    A face is a cast member only when it passes that member's threshold and is closer to them
    than to every other cast member by `margin`.
    """
    out: dict[int, tuple[str, dict[str, IdentityMatch]]] = {}
    for i, ff in enumerate(faces):
        matches = {p.persona_id: m for p in cast if (m := identity_match(ff.face, p)) is not None}
        who = ""
        if matches:
            ranked = sorted(matches.items(), key=lambda kv: kv[1].score, reverse=True)
            pid, best = ranked[0]
            persona = next(p for p in cast if p.persona_id == pid)
            runner_up = ranked[1][1].score if len(ranked) > 1 else -math.inf
            if best.score >= identity_threshold(persona) and best.score - runner_up >= margin:
                who = pid
        out[i] = (who, matches)
    return out


def score_frame(
    faces: Sequence[FrameFace],
    persona: PersonaModel,
    cast: Sequence[PersonaModel] = (),
    outfit: str | None = None,
) -> FrameScore:
    """Score a frame against a persona, the rest of the cast considered.

    The persona's face is the face assigned to her (the best-matching one when several are);
    with none assigned, the largest face not assigned to another cast member (so a lone
    stranger's face is drifted, never skipped). Frames whose face is missing, too small or
    weakly detected are not measurable, with the reason. outfit: the outfit the shot expects
    her in (None: any of hers).
    """
    cast = list(cast) or [persona]
    if all(p.persona_id != persona.persona_id for p in cast):
        cast = [persona, *cast]
    names = {p.persona_id: p.name for p in cast}
    if not faces:
        return FrameScore(UNMEASURABLE, "no face found")
    assigned = assign_cast(faces, cast)
    mine = [i for i, (who, _) in assigned.items() if who == persona.persona_id]
    others = {i: who for i, (who, _) in assigned.items() if who and who != persona.persona_id}
    if mine:
        index = max(mine, key=lambda i: assigned[i][1][persona.persona_id].score)
        reason = ""
    else:
        free = [i for i in range(len(faces)) if i not in others]
        if not free:
            who = sorted({names[w] for w in others.values()})
            return FrameScore(
                UNMEASURABLE,
                f"only {', '.join(who)} in frame, not {persona.name}",
                faces=len(faces),
            )
        index = max(free, key=lambda i: faces[i].face.size_px)
        reason = (
            "the face does not match anyone in the cast"
            if len(cast) > 1
            else f"the face does not match {persona.name}"
        )
    ff = faces[index]
    face = ff.face
    base = {
        "face_index": index,
        "faces": len(faces),
        "box": tuple(float(v) for v in face.box),
    }
    if face.size_px < MIN_FACE_PX:
        return FrameScore(
            UNMEASURABLE,
            f"face too small ({face.size_px:.0f} px; at least {MIN_FACE_PX:.0f} px needed)",
            **base,
        )
    floor = detector_floor(persona.engine_id)
    if face.score < floor:
        return FrameScore(
            UNMEASURABLE, f"face detected too weakly (score {face.score:.2f} < {floor})", **base
        )
    matches = assigned[index][1]
    m = matches.get(persona.persona_id)
    if m is None:
        return FrameScore(UNMEASURABLE, f"{persona.name} has no usable references", **base)
    wardrobe = wardrobe_check(ff.look, persona, outfit)
    lighting = lighting_check(ff.look, persona, face)
    unchecked = {
        dimension: check.reason
        for dimension, check in (("wardrobe", wardrobe), ("lighting", lighting))
        if check.value is None
    }
    return FrameScore(
        MEASURED,
        reason,
        identity=m.score,
        identity_centroid=m.centroid,
        best_reference_id=m.best_reference_id,
        matched=bool(mine),
        wardrobe=wardrobe.value,
        lighting=lighting.value,
        cast_scores={names[pid]: mm.score for pid, mm in matches.items()},
        wardrobe_reference_id=wardrobe.reference_id,
        lighting_reference_id=lighting.reference_id,
        unchecked=unchecked,
        details={
            dimension: check.detail
            for dimension, check in (("wardrobe", wardrobe), ("lighting", lighting))
            if check.detail
        },
        **base,
    )


@dataclass(frozen=True)
class Check:
    """One look dimension of a frame: its score and what it was compared with, or why not."""

    value: float | None
    reference_id: str | None = None  # the reference it came closest to (None: the record)
    reason: str = ""  # why there is no value
    detail: str = ""  # what differs most from the closest, in words


def _palette(look: Mapping[str, Any] | None):
    garment = (look or {}).get("garment")
    return [(tuple(lab), float(w)) for lab, w in garment] if garment else None


def outfit_references(persona: PersonaModel, outfit: str | None) -> list[RefFace]:
    """The references that show her in an outfit (every reference when outfit is None).

    A reference shows an outfit when it is tagged with the outfit's name. While none of her
    references is tagged with any outfit's name, each one counts for every outfit.
    """
    if not outfit:
        return list(persona.refs)
    names = {name.casefold() for name in persona.outfits}
    tagged = [r for r in persona.refs if names & {t.casefold() for t in r.tags}]
    if not tagged:
        return list(persona.refs)
    return [r for r in persona.refs if outfit.casefold() in {t.casefold() for t in r.tags}]


def _outfit_colours(persona: PersonaModel, outfit: str | None) -> list:
    """The record's garment colours of an outfit (of every outfit when outfit is None)."""
    if outfit:
        return list(persona.outfits.get(outfit, []))
    return [c for colours in persona.outfits.values() for c in colours]


def wardrobe_basis(persona: PersonaModel, outfit: str | None = None) -> str:
    """Why a persona's wardrobe cannot be checked in an outfit, or "" when it can."""
    refs = [r for r in outfit_references(persona, outfit) if _palette(r.look)]
    if refs or _outfit_colours(persona, outfit):
        return ""
    if outfit:
        return f"no reference shows {persona.name} in '{outfit}' and it has no colours set"
    return f"no reference shows {persona.name}'s clothes and no wardrobe colours are set"


def wardrobe_check(
    look: Mapping[str, Any] | None, persona: PersonaModel, outfit: str | None = None
) -> Check:
    """How far the clothes in a frame are from her references' (or the record's colours).

    The frame's garment palette is compared with each reference of the outfit, seen under that
    reference's light (her skin's colour shift undoes the light's), and with the record's
    garment colours; the smallest distance counts.
    """
    from studio.core import looks

    basis = wardrobe_basis(persona, outfit)
    if basis:
        return Check(None, reason=basis)
    frame = _palette(look)
    if frame is None:
        return Check(None, reason="too little of the clothes in frame")
    face_lab = look.get("face_lab")
    best: tuple[float, str | None, list, list] | None = None
    for ref in outfit_references(persona, outfit):
        target = _palette(ref.look)
        if not target:
            continue
        adapted = looks.adapt_palette(frame, face_lab, ref.look.get("face_lab"))
        d = looks.palette_distance(adapted, target)
        if d is not None and (best is None or d < best[0]):
            best = (d, ref.reference_id, adapted, target)
    colours = _outfit_colours(persona, outfit)
    if colours:
        target = [(c, 1.0) for c in colours]
        d = looks.palette_distance(frame, target)
        if d is not None and (best is None or d < best[0]):
            best = (d, None, frame, target)
    if best is None:
        return Check(None, reason="too little of the clothes in frame")
    return Check(round(best[0], 4), best[1], detail=_odd_colour(best[2], best[3]))


def _odd_colour(frame, target) -> str:
    """The frame's clothes colour that the outfit explains least, weighed by its share."""
    from studio.core import looks

    targets = np.array([c for c, _ in target], np.float64).reshape(-1, 3)
    worst = max(frame, key=lambda cw: cw[1] * float(np.min(looks.delta_e2000(cw[0], targets))))
    d = float(np.min(looks.delta_e2000(worst[0], targets)))
    if d < 5:
        return ""
    rgb = looks.linear_to_srgb(looks.lab_to_linear(worst[0])).round().astype(int)
    colour = "#" + "".join(f"{int(v):02x}" for v in rgb)
    return f"{worst[1]:.0%} of them are {colour}, {d:.0f} from the outfit's nearest colour"


def _light_refs(persona: PersonaModel) -> list[RefFace]:
    return [r for r in persona.refs if r.look and r.look.get("face_lab")]


def lighting_basis(persona: PersonaModel) -> str:
    """Why a persona's light cannot be checked, or "" when it can."""
    from studio.core import looks

    if _light_refs(persona):
        return ""
    if persona.target_key == "front" or looks.KEY_DIRECTIONS.get(persona.target_key or ""):
        return ""
    if persona.target_key:
        return (
            f"{persona.name}'s key light is set as '{persona.target_key}', which a face does "
            "not show, and no reference shows the light"
        )
    return f"no reference shows {persona.name}'s face and no key light is set"


def lighting_check(
    look: Mapping[str, Any] | None, persona: PersonaModel, face: Face | None = None
) -> Check:
    """How far the light on the face is from her references' (else the record's key direction).

    Among the references nearest in head pose (a turned face shades differently), the one
    whose light is closest counts. Skin is not white, so the record's colour temperature is
    never compared with a face's: without references only the key's side is checked.
    """
    from studio.core import looks

    basis = lighting_basis(persona)
    if basis:
        return Check(None, reason=basis)
    if not look or look.get("face_lab") is None:
        return Check(None, reason="the light on the face could not be measured")
    key, strength = tuple(look["key_vec"]), float(look["key_strength"])
    refs = _light_refs(persona)
    if refs:
        if face is not None:
            refs.sort(key=lambda r: math.hypot(r.yaw - face.yaw, r.pitch - face.pitch))
            refs = refs[:POSE_NEIGHBOURS]
        best = min(
            (
                looks.lighting_distance(
                    look["face_lab"],
                    key,
                    strength,
                    r.look["face_lab"],
                    tuple(r.look["key_vec"]),
                    float(r.look["key_strength"]),
                ),
                i,
            )
            for i, r in enumerate(refs)
        )
        ref = refs[best[1]]
        return Check(round(best[0], 4), ref.reference_id, detail=_light_change(look, ref.look))
    target = looks.KEY_DIRECTIONS.get(persona.target_key or "front") or (0.0, 0.0)
    d = looks.key_difference(key, strength, target, looks.TYPICAL_KEY if any(target) else 0.0)
    return Check(round(d / RECORD_KEY_UNIT, 4), None)


def _light_change(look: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    """How the light on the face differs from a reference's, in words ("" when alike)."""
    from studio.core import looks

    parts = []
    turned = looks.hue_difference(look["face_lab"], ref["face_lab"])
    if turned is not None and abs(turned) > looks.HUE_SLACK + looks.HUE_UNIT / 2:
        warmer = "yellower (a warmer light)" if turned > 0 else "pinker or bluer (a cooler light)"
        parts.append(f"the skin is {abs(turned):.0f}° {warmer}")
    s1, s2 = float(look["key_strength"]), float(ref["key_strength"])
    v1 = np.asarray(look["key_vec"], np.float64) * s1
    v2 = np.asarray(ref["key_vec"], np.float64) * s2
    if min(s1, s2) >= looks.FLAT_STRENGTH and float(v1 @ v2) < 0:
        parts.append("the key light is on the other side")
    elif s1 > s2 * looks.KEY_STRENGTH_RATIO and s1 >= looks.FLAT_STRENGTH:
        parts.append("the key light is harder")
    elif s2 > s1 * looks.KEY_STRENGTH_RATIO and s2 >= looks.FLAT_STRENGTH:
        parts.append("the key light is softer")
    return "; ".join(parts)


def calibrate_look(spreads: Sequence[float], default: float) -> float | None:
    """A look threshold from how far a persona's references are from each other, or None.

    spreads: each reference's distance to the nearest other reference (leave one out). The
    threshold is CALIBRATION_SPREAD times their upper quartile (references from several shoots
    widen it; one odd reference, such as a mirrored copy, does not), never below the measured
    default (references of one shoot agree more closely than frames of a clip do) and at most
    CALIBRATION_CEILING times it. None with fewer than MIN_CALIBRATION spreads.
    """
    values = [float(v) for v in spreads if v is not None and math.isfinite(v)]
    if len(values) < MIN_CALIBRATION:
        return None
    spread = float(np.percentile(values, 75))
    return round(min(CALIBRATION_CEILING * default, max(default, CALIBRATION_SPREAD * spread)), 3)


def reference_spreads(persona: PersonaModel, dimension: str) -> list[float]:
    """Each reference's wardrobe or lighting distance to the nearest of the others.

    For the wardrobe, a reference tagged with an outfit is compared with that outfit's
    references only: two outfits apart are not a spread.
    """
    outfit_names = {name.casefold(): name for name in persona.outfits}
    out = []
    for i, ref in enumerate(persona.refs):
        if not ref.look:
            continue
        others = PersonaModel(
            persona.persona_id,
            persona.name,
            persona.version_id,
            persona.engine_id,
            [r for j, r in enumerate(persona.refs) if j != i],
            persona.identity_threshold,
            outfits={name: [] for name in persona.outfits},  # names only: no record colours
        )
        if dimension == "wardrobe":
            outfit = next((outfit_names[t.casefold()] for t in ref.tags if t.casefold() in
                           outfit_names), None)  # fmt: skip
            if not _palette(ref.look) or wardrobe_basis(others, outfit):
                continue
            check = wardrobe_check(ref.look, others, outfit)
        else:
            if not _light_refs(others) or not ref.look.get("face_lab"):
                continue
            check = lighting_check(ref.look, others)
        if check.value is not None:
            out.append(check.value)
    return out


# -- thresholds and flags ---------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When a frame counts as drifted, per dimension; each dimension can be switched off."""

    identity: float
    wardrobe: float = DEFAULT_WARDROBE_DE
    lighting: float = DEFAULT_LIGHTING
    enabled: tuple[str, ...] = DIMENSIONS
    # dimension -> where its value comes from: "yours", "calibrated from N references", "default"
    basis: Mapping[str, str] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "wardrobe": self.wardrobe,
            "lighting": self.lighting,
            "enabled": list(self.enabled),
            "basis": dict(self.basis),
        }


def flag_reasons(score: FrameScore, t: Thresholds) -> list[str]:
    """Why a measured frame is drifted (empty when it is not, or cannot be measured)."""
    if score.state != MEASURED:
        return []
    out = []
    identity, wardrobe, lighting = (score.value(d) for d in DIMENSIONS)
    if "identity" in t.enabled and identity is not None and identity < t.identity:
        what = f" ({score.reason})" if score.reason else ""
        out.append(f"identity {identity:.3f} below {t.identity:.3f}{what}")
    if "wardrobe" in t.enabled and wardrobe is not None and wardrobe > t.wardrobe:
        out.append(f"wardrobe {wardrobe:.1f} above {t.wardrobe:.1f}")
    if "lighting" in t.enabled and lighting is not None and lighting > t.lighting:
        out.append(f"lighting {lighting:.2f} above {t.lighting:.2f}")
    return out


def severity(score: FrameScore, t: Thresholds) -> float | None:
    """The combined layer: how far past its threshold the worst enabled dimension is.

    Each dimension is scaled so 0 is its threshold and 1 is clearly drifted (identity 0.05
    below, wardrobe and lighting twice their threshold); negative is on-model.
    """
    if score.state != MEASURED:
        return None
    parts = []
    identity, wardrobe, lighting = (score.value(d) for d in DIMENSIONS)
    if "identity" in t.enabled and identity is not None:
        parts.append((t.identity - identity) / 0.05)
    if "wardrobe" in t.enabled and wardrobe is not None and t.wardrobe > 0:
        parts.append((wardrobe - t.wardrobe) / t.wardrobe)
    if "lighting" in t.enabled and lighting is not None and t.lighting > 0:
        parts.append((lighting - t.lighting) / t.lighting)
    return max(parts) if parts else None


def flag_arrays(
    identity: np.ndarray, wardrobe: np.ndarray, lighting: np.ndarray, t: Thresholds
) -> np.ndarray:
    """Vectorised flags of many frames (NaN = not measured on that dimension): the slider's path."""
    flagged = np.zeros(identity.shape, bool)
    with np.errstate(invalid="ignore"):
        if "identity" in t.enabled:
            flagged |= identity < t.identity
        if "wardrobe" in t.enabled:
            flagged |= wardrobe > t.wardrobe
        if "lighting" in t.enabled:
            flagged |= lighting > t.lighting
    return flagged


def severity_arrays(
    identity: np.ndarray, wardrobe: np.ndarray, lighting: np.ndarray, t: Thresholds
) -> np.ndarray:
    """Vectorised `severity` (NaN where no enabled dimension was measured)."""
    parts = []
    if "identity" in t.enabled:
        parts.append((t.identity - identity) / 0.05)
    if "wardrobe" in t.enabled and t.wardrobe > 0:
        parts.append((wardrobe - t.wardrobe) / t.wardrobe)
    if "lighting" in t.enabled and t.lighting > 0:
        parts.append((lighting - t.lighting) / t.lighting)
    if not parts:
        return np.full(identity.shape, np.nan, np.float32)
    stack = np.stack(parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.nanmax(stack, axis=0).astype(np.float32)


IDENTITY_SPAN = 0.15  # the colour scale runs from this far below the threshold to a perfect match


def layer_range(layer: str, t: Thresholds) -> tuple[float, float, bool]:
    """How a layer's values map onto a colour scale: (low, high, higher is better).

    Each range puts the threshold where the eye sees the change: identity from a little below
    the threshold to 1, distances from 0 to twice the threshold, the combined layer from
    clearly on-model (-1) to clearly drifted (1) with the threshold at 0.
    """
    if layer == "identity":
        return t.identity - IDENTITY_SPAN, 1.0, True
    if layer == "wardrobe":
        return 0.0, 2 * t.wardrobe, False
    if layer == "lighting":
        return 0.0, 2 * t.lighting, False
    if layer == "combined":
        return -1.0, 1.0, False
    raise ValueError(f"Unknown drift layer {layer!r} (one of {', '.join(LAYERS)}).")
