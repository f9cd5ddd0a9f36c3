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
DEFAULT_WARDROBE_DE = 15.0  # CIEDE2000 between garment colours: beyond it, another garment
DEFAULT_LIGHTING = 1.0  # lighting distance (core.looks): beyond it, clearly different light

# Frame states.
MEASURED = "measured"
UNMEASURABLE = "unmeasurable"


@dataclass(frozen=True)
class RefFace:
    """One usable reference face of a persona: identity vector, pose and (when known) look."""

    reference_id: str
    blob_sha: str
    embedding: np.ndarray = field(compare=False, repr=False)
    yaw: float = 0.0
    pitch: float = 0.0
    look: Mapping[str, Any] | None = None  # a core.looks-style dict (garment_lab, face_cct_k, ...)


@dataclass
class PersonaModel:
    """What a frame is compared with: a persona's references, palette, light and thresholds."""

    persona_id: str
    name: str
    version_id: str
    engine_id: str
    refs: list[RefFace]
    identity_threshold: float | None  # from the calibration (None: not calibrated)
    palette: list[tuple[float, float, float]] = field(default_factory=list)  # garment Lab colours
    target_cct_k: float | None = None  # the record's colour temperature
    target_key: str | None = None  # the record's key-light direction

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
    lo, hi = threshold_range(persona.engine_id)
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
    wardrobe: float | None = None  # ΔE2000 to the nearest wardrobe colour
    lighting: float | None = None  # lighting distance to the nearest target light
    box: tuple[float, float, float, float] | None = None
    cast_scores: dict[str, float] = field(default_factory=dict)  # persona name -> score

    def to_dict(self) -> dict[str, Any]:
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
        )


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
) -> FrameScore:
    """Score a frame against a persona, the rest of the cast considered.

    The persona's face is the face assigned to her (the best-matching one when several are);
    with none assigned, the largest face not assigned to another cast member (so a lone
    stranger's face is drifted, never skipped). Frames whose face is missing, too small or
    weakly detected are not measurable, with the reason.
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
    return FrameScore(
        MEASURED,
        reason,
        identity=m.score,
        identity_centroid=m.centroid,
        best_reference_id=m.best_reference_id,
        matched=bool(mine),
        wardrobe=wardrobe_score(ff.look, persona),
        lighting=lighting_score(ff.look, persona),
        cast_scores={names[pid]: mm.score for pid, mm in matches.items()},
        **base,
    )


def wardrobe_score(look: Mapping[str, Any] | None, persona: PersonaModel) -> float | None:
    """ΔE2000 of the garment below the face to the nearest wardrobe colour (record, references)."""
    from studio.core import looks

    if not look or look.get("garment_lab") is None:
        return None
    palette = list(persona.palette) + [
        tuple(r.look["garment_lab"]) for r in persona.refs if r.look and r.look.get("garment_lab")
    ]
    return looks.wardrobe_distance(tuple(look["garment_lab"]), palette)


def lighting_score(look: Mapping[str, Any] | None, persona: PersonaModel) -> float | None:
    """Distance of the light on the face to the nearest reference's (else the record's)."""
    from studio.core import looks

    if not look or look.get("face_cct_k") is None:
        return None
    # Skin is not white (a light face under daylight reads about 3700 K), so the face is
    # compared with the same face on the references; the record's light only without them.
    targets = [
        (r.look["face_cct_k"], tuple(r.look["key_vec"]), float(r.look["key_strength"]))
        for r in persona.refs
        if r.look and r.look.get("face_cct_k")
    ]
    if not targets and persona.target_cct_k:
        vec = looks.KEY_DIRECTIONS.get(persona.target_key or "front")
        targets.append((persona.target_cct_k, vec or (0.0, 0.0), 1.0 if vec else 0.0))
    if not targets:
        return None
    return min(
        looks.lighting_distance(
            look["face_cct_k"], tuple(look["key_vec"]), float(look["key_strength"]), *t
        )
        for t in targets
    )


# -- thresholds and flags ---------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When a frame counts as drifted, per dimension; each dimension can be switched off."""

    identity: float
    wardrobe: float = DEFAULT_WARDROBE_DE
    lighting: float = DEFAULT_LIGHTING
    enabled: tuple[str, ...] = DIMENSIONS

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "wardrobe": self.wardrobe,
            "lighting": self.lighting,
            "enabled": list(self.enabled),
        }


def flag_reasons(score: FrameScore, t: Thresholds) -> list[str]:
    """Why a measured frame is drifted (empty when it is not, or cannot be measured)."""
    if score.state != MEASURED:
        return []
    out = []
    if "identity" in t.enabled and score.identity is not None and score.identity < t.identity:
        what = f" ({score.reason})" if score.reason else ""
        out.append(f"identity {score.identity:.3f} below {t.identity:.3f}{what}")
    if "wardrobe" in t.enabled and score.wardrobe is not None and score.wardrobe > t.wardrobe:
        out.append(f"wardrobe ΔE {score.wardrobe:.1f} above {t.wardrobe:.1f}")
    if "lighting" in t.enabled and score.lighting is not None and score.lighting > t.lighting:
        out.append(f"lighting {score.lighting:.2f} above {t.lighting:.2f}")
    return out


def severity(score: FrameScore, t: Thresholds) -> float | None:
    """The combined layer: how far past its threshold the worst enabled dimension is.

    Each dimension is scaled so 0 is its threshold and 1 is clearly drifted (identity 0.05
    below, wardrobe and lighting twice their threshold); negative is on-model.
    """
    if score.state != MEASURED:
        return None
    parts = []
    if "identity" in t.enabled and score.identity is not None:
        parts.append((t.identity - score.identity) / 0.05)
    if "wardrobe" in t.enabled and score.wardrobe is not None and t.wardrobe > 0:
        parts.append((score.wardrobe - t.wardrobe) / t.wardrobe)
    if "lighting" in t.enabled and score.lighting is not None and t.lighting > 0:
        parts.append((score.lighting - t.lighting) / t.lighting)
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
