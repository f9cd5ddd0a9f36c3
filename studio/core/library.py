"""The reference library's maths: audit verdicts, calibration, pose coverage and shot picks.

Pure functions on faces and embeddings; the services gather the rows and store the results.
Every embedding handled together here comes from one engine id: callers never mix engines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core.faces import Face
from studio.core.records import Reference
from studio.core.text import plural

# Quality flags, in the order they are reported.
NO_FACE = "no_face"
SEVERAL_FACES = "several_faces"
FACE_TOO_SMALL = "face_too_small"
BLURRED = "blurred"
BADLY_EXPOSED = "badly_exposed"
EXTREME_POSE = "extreme_pose"
FLAGS = (NO_FACE, SEVERAL_FACES, FACE_TOO_SMALL, BLURRED, BADLY_EXPOSED, EXTREME_POSE)
FLAG_TEXT = {
    NO_FACE: "no face found",
    SEVERAL_FACES: "several faces",
    FACE_TOO_SMALL: "face too small",
    BLURRED: "blurred",
    BADLY_EXPOSED: "badly exposed",
    EXTREME_POSE: "extreme pose",
}

MIN_FACE_PX = 80.0
MIN_SHARPNESS = 0.25  # engines map the variance of the Laplacian to 0..1
EXPOSURE_RANGE = (0.15, 0.9)
MAX_YAW = 60.0
MAX_PITCH = 40.0

# Display statuses: the authored ones win; otherwise the audit's verdict.
APPROVED, QUARANTINED, PENDING = "approved", "quarantined", "pending"
SUSPECT, OK = "suspect", "ok"
AUTHORED_STATUSES = (APPROVED, QUARANTINED, PENDING)
DISPLAY_STATUSES = (APPROVED, OK, SUSPECT, QUARANTINED, PENDING)

# Calibration and the suspect threshold.
MIN_CALIBRATION_FACES = 3
QUANTILES = {"q01": 0.01, "q05": 0.05, "q10": 0.10, "q50": 0.50}
MAD_TO_SIGMA = 1.4826  # makes the median absolute deviation estimate a normal sigma
MAD_WIDTHS = 3.0
MIN_MARGIN = 0.02  # below the median agreement even when the references are near-identical
MAX_PAIR_FACES = 1500  # genuine pairs are sampled from this many faces at most
# Sane bounds of the suspect threshold on cosine similarity of L2-normalised vectors, per
# engine family. dlib's 0.6 Euclidean rule on its raw (norm ~1.45) descriptors is about 0.91.
THRESHOLD_RANGES = {"dlib": (0.88, 0.93), "insightface": (0.25, 0.50)}
DEFAULT_THRESHOLD_RANGE = (0.20, 0.95)

# Pose bins. Sides are as seen in the image: positive yaw turns toward the image's right.
YAW_BINS = (
    ("left_profile", "left profile"),
    ("left_three_quarter", "left three-quarter view"),
    ("frontal", "frontal view"),
    ("right_three_quarter", "right three-quarter view"),
    ("right_profile", "right profile"),
)
PITCH_BINS = (("up", "looking up"), ("level", "level view"), ("down", "looking down"))
PROFILE_YAW = 45.0
THREE_QUARTER_YAW = 15.0
TILT_PITCH = 15.0

# Picking references for a shot.
PICK_RANGE = (3, 5)
# Identity gates (suspects are never candidates) and saturates at the persona's median
# agreement, so the pose a shot needs decides among references that are clearly the persona.
W_IDENTITY, W_QUALITY, W_POSE = 0.30, 0.20, 0.50
W_REDUNDANCY = 0.5
POSE_SCALE_DEG = 30.0
GOOD_FACE_PX = 256.0


def threshold_range(engine_id: str) -> tuple[float, float]:
    """The sane bounds of a suspect threshold for an engine id (by its family)."""
    e = engine_id.lower()
    if e.startswith("dlib"):
        return THRESHOLD_RANGES["dlib"]
    if any(word in e for word in ("insightface", "arcface", "buffalo", "antelope")):
        return THRESHOLD_RANGES["insightface"]
    return DEFAULT_THRESHOLD_RANGE


@dataclass(frozen=True)
class AuditVerdict:
    """The audit's verdict on one reference for one engine (a `cache_reference_audit` row)."""

    reference_id: str
    engine_id: str
    face_index: int | None
    agreement: float | None
    suspect: bool
    flags: tuple[str, ...] = ()
    median_similarity: float | None = None
    updated_at: str = ""


@dataclass(frozen=True)
class Calibration:
    """A persona's genuine-similarity distribution for one engine and its suspect threshold."""

    persona_id: str
    engine_id: str
    calibrated: bool
    reason: str
    faces: int  # non-quarantined references with a face
    genuine_faces: int = 0  # of those, the ones not suspect: their pairs are the genuine ones
    pairs: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    agreement_median: float | None = None
    agreement_mad: float | None = None
    threshold: float | None = None
    rule: str = ""
    median_similarity: dict[str, float] = field(default_factory=dict)  # per reference id
    updated_at: str = ""

    def describe(self) -> str:
        """One line for the library: the genuine distribution and the suspect threshold."""
        if not self.calibrated:
            return f"Not calibrated: {self.reason}."
        text = f"Calibrated on {self.faces} references"
        if self.pairs and self.mean is not None:
            text += (
                f": genuine pairs {self.mean:.3f} ± {self.std:.3f}"
                f" (5th percentile {self.quantiles.get('q05', float('nan')):.3f})"
            )
        return text + f"; suspect below {self.threshold:.3f}."

    def to_stats(self) -> dict[str, Any]:
        """The JSON-able statistics stored in `cache_calibration`."""
        return {
            "calibrated": self.calibrated,
            "reason": self.reason,
            "faces": self.faces,
            "genuine_faces": self.genuine_faces,
            "pairs": self.pairs,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "quantiles": dict(self.quantiles),
            "agreement_median": self.agreement_median,
            "agreement_mad": self.agreement_mad,
            "threshold": self.threshold,
            "rule": self.rule,
            "median_similarity": dict(self.median_similarity),
        }

    @classmethod
    def from_stats(
        cls, persona_id: str, engine_id: str, stats: dict[str, Any], updated_at: str = ""
    ) -> Calibration:
        """Rebuild a calibration stored with `to_stats`."""
        return cls(
            persona_id=persona_id,
            engine_id=engine_id,
            calibrated=bool(stats.get("calibrated")),
            reason=stats.get("reason", ""),
            faces=int(stats.get("faces", 0)),
            genuine_faces=int(stats.get("genuine_faces", 0)),
            pairs=int(stats.get("pairs", 0)),
            mean=stats.get("mean"),
            std=stats.get("std"),
            min=stats.get("min"),
            max=stats.get("max"),
            quantiles=dict(stats.get("quantiles") or {}),
            agreement_median=stats.get("agreement_median"),
            agreement_mad=stats.get("agreement_mad"),
            threshold=stats.get("threshold"),
            rule=stats.get("rule", ""),
            median_similarity=dict(stats.get("median_similarity") or {}),
            updated_at=updated_at,
        )


@dataclass(frozen=True)
class AuditInput:
    """What the audit knows of one reference: its authored status, chosen face and scan."""

    reference_id: str
    status: str
    face_index: int | None  # the user's pick, or None for the largest face
    faces: Sequence[Face] | None  # None while the image has no scan for the engine


@dataclass(frozen=True)
class ReferenceAudit:
    """One reference as the library shows it: the image, its persona face and the verdict."""

    reference: Reference
    status: str  # approved | quarantined from the user, else suspect | ok, or pending
    engine_id: str | None
    face: Face | None = None
    face_index: int | None = None
    faces: int | None = None  # faces found; None while not scanned
    agreement: float | None = None
    median_similarity: float | None = None
    flags: tuple[str, ...] = ()
    suspect: bool = False

    @property
    def id(self) -> str:
        return self.reference.id

    @property
    def audited(self) -> bool:
        return self.faces is not None


@dataclass(frozen=True)
class AuditSummary:
    """What a refresh of a persona's audit found."""

    persona_id: str
    engine_id: str
    references: int
    audited: int
    suspects: int
    no_face: int
    flagged: int
    calibrated: bool
    threshold: float | None

    def message(self, persona_name: str = "") -> str:
        """One line for the job panel and the CLI."""
        who = f" of {persona_name}" if persona_name else ""
        parts = [f"{self.suspects} suspect", f"{self.no_face} without a face"]
        if self.flagged:
            parts.append(f"{self.flagged} with quality flags")
        text = f"Audited {self.audited} of {self.references} references{who}: " + ", ".join(parts)
        if self.calibrated and self.threshold is not None:
            text += f"; threshold {self.threshold:.3f}"
        elif self.audited:
            text += "; too few faces to calibrate"
        return text


@dataclass(frozen=True)
class PoseCoverage:
    """Head poses of the usable references, counted in bins, and the bins left empty."""

    points: tuple[tuple[float, float], ...]  # (yaw, pitch) in degrees
    reference_ids: tuple[str, ...]  # the reference of each point
    yaw_counts: dict[str, int]  # YAW_BINS keys, in order
    pitch_counts: dict[str, int]  # PITCH_BINS keys, in order
    grid: dict[tuple[str, str], int]  # (yaw bin, pitch bin) -> count
    missing: tuple[str, ...]  # "no left profile", "no looking down"


@dataclass(frozen=True)
class Pick:
    """A reference chosen for a shot and the scores that chose it."""

    reference: Reference
    face: Face
    score: float  # the weighted score less the redundancy penalty it was picked with
    identity: float
    quality: float
    pose: float
    redundancy: float  # the penalty for resembling references picked before it
    why: str


class Picks(list):
    """The picks, best first; `note` says why there are fewer than asked for."""

    def __init__(self, picks: Sequence[Pick] = (), note: str = ""):
        super().__init__(picks)
        self.note = note


# -- per reference ----------------------------------------------------------------------------


def choose_face(faces: Sequence[Face], face_index: int | None) -> tuple[int | None, Face | None]:
    """The persona's face in an image: the user's pick when valid, else the largest."""
    if not faces:
        return None, None
    if face_index is not None and 0 <= face_index < len(faces):
        return face_index, faces[face_index]
    return 0, faces[0]


def quality_flags(faces: int, face: Face | None) -> tuple[str, ...]:
    """The quality flags of an image with `faces` faces whose persona face is `face`."""
    if faces == 0 or face is None:
        return (NO_FACE,)
    flags = []
    if faces > 1:
        flags.append(SEVERAL_FACES)
    if face.size_px < MIN_FACE_PX:
        flags.append(FACE_TOO_SMALL)
    if face.sharpness < MIN_SHARPNESS:
        flags.append(BLURRED)
    if not EXPOSURE_RANGE[0] <= face.exposure <= EXPOSURE_RANGE[1]:
        flags.append(BADLY_EXPOSED)
    if abs(face.yaw) > MAX_YAW or abs(face.pitch) > MAX_PITCH:
        flags.append(EXTREME_POSE)
    return tuple(flags)


def display_status(authored: str, audited: bool, suspect: bool) -> str:
    """What the library shows: the user's approve/quarantine, else the audit's verdict."""
    if authored in (APPROVED, QUARANTINED):
        return authored
    if not audited:
        return PENDING
    return SUSPECT if suspect else OK


# -- identity agreement and calibration -------------------------------------------------------


def _normalise(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def leave_one_out(embeddings: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Each row's similarity to the re-normalised mean of the members other than itself.

    NaN where there is no other member.
    """
    e = _normalise(np.asarray(embeddings, dtype=np.float64))
    members = np.asarray(members, dtype=bool)
    others = e[members].sum(axis=0)[None, :] - e * members[:, None]
    count = int(members.sum()) - members.astype(int)
    norms = np.linalg.norm(others, axis=1)
    ok = (count > 0) & (norms > 1e-9)
    out = np.full(len(e), np.nan)
    out[ok] = np.einsum("ij,ij->i", e[ok], others[ok]) / norms[ok]
    return out


def median_similarity(embeddings: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Each row's median similarity to the members other than itself; NaN where none."""
    e = _normalise(np.asarray(embeddings, dtype=np.float32))
    members = np.asarray(members, dtype=bool)
    index = np.flatnonzero(members)
    out = np.full(len(e), np.nan)
    for start in range(0, len(e), 256):  # bounded memory for thousands of references
        rows = np.arange(start, min(start + 256, len(e)))
        sims = (e[rows] @ e[index].T).astype(np.float64)
        sims[rows[:, None] == index[None, :]] = np.inf  # itself sorts last and is not counted
        for own in (True, False):
            pick = members[rows] == own
            valid = len(index) - int(own)
            if pick.any() and valid > 0:
                lo, hi = (valid - 1) // 2, valid // 2
                part = np.partition(sims[pick], (lo, hi), axis=1)
                out[rows[pick]] = (part[:, lo] + part[:, hi]) / 2.0
    return out


def genuine_pairs(embeddings: np.ndarray, limit: int = MAX_PAIR_FACES) -> np.ndarray:
    """The pairwise similarities of a set of faces (of an even sample of `limit` when more)."""
    e = _normalise(np.asarray(embeddings, dtype=np.float32))
    if len(e) > limit:
        e = e[np.linspace(0, len(e) - 1, limit).round().astype(int)]
    iu = np.triu_indices(len(e), k=1)
    return (e @ e.T)[iu].astype(np.float64)


def _opt(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def audit_persona(
    persona_id: str, engine_id: str, items: Sequence[AuditInput], updated_at: str = ""
) -> tuple[list[AuditVerdict], Calibration]:
    """Agreement, flags and suspects of every scanned reference, and the persona's calibration.

    Members (non-quarantined references with a face) define the persona: each member's
    agreement is its similarity to the mean of the other members (leave-one-out), a quarantined
    reference's to the mean of all members. See `suspect_threshold` for the threshold.
    """
    scanned = [it for it in items if it.faces is not None]
    chosen = [choose_face(it.faces, it.face_index) for it in scanned]
    flags = [quality_flags(len(it.faces), f) for it, (_, f) in zip(scanned, chosen, strict=True)]
    vec_rows = [i for i, (_, f) in enumerate(chosen) if f is not None and f.embedding is not None]
    agreement = np.full(len(scanned), np.nan)
    median = np.full(len(scanned), np.nan)
    member = np.zeros(len(scanned), dtype=bool)
    e = np.zeros((0, 0))
    if vec_rows:
        e = np.stack([np.asarray(chosen[i][1].embedding, np.float64) for i in vec_rows])
        m = np.array([scanned[i].status != QUARANTINED for i in vec_rows])
        member[vec_rows] = m
        agreement[vec_rows] = leave_one_out(e, m)
        median[vec_rows] = median_similarity(e, m)
    n_members = int(member.sum())
    suspect = np.zeros(len(scanned), dtype=bool)
    medians = {scanned[i].reference_id: float(median[i]) for i in vec_rows}
    medians = {k: v for k, v in medians.items() if not math.isnan(v)}
    if n_members < MIN_CALIBRATION_FACES:
        calibration = Calibration(
            persona_id,
            engine_id,
            calibrated=False,
            reason=f"{plural(n_members, 'usable reference')} with a face; "
            f"{MIN_CALIBRATION_FACES} are needed to calibrate, so none is marked suspect",
            faces=n_members,
            median_similarity=medians,
            updated_at=updated_at,
        )
    else:
        member_vecs = e[member[vec_rows]]
        calibration = suspect_threshold(
            persona_id, engine_id, agreement[member], member_vecs, medians, updated_at
        )
        with np.errstate(invalid="ignore"):
            suspect = ~np.isnan(agreement) & (agreement < calibration.threshold)
    verdicts = [
        AuditVerdict(
            reference_id=it.reference_id,
            engine_id=engine_id,
            face_index=idx,
            agreement=_opt(agreement[i]),
            suspect=bool(suspect[i]),
            flags=flags[i],
            median_similarity=_opt(median[i]),
            updated_at=updated_at,
        )
        for i, (it, (idx, _)) in enumerate(zip(scanned, chosen, strict=True))
    ]
    return verdicts, calibration


def suspect_threshold(
    persona_id: str,
    engine_id: str,
    agreements: np.ndarray,
    embeddings: np.ndarray,
    medians: dict[str, float] | None = None,
    updated_at: str = "",
) -> Calibration:
    """Calibrate from the members' leave-one-out agreements and embeddings (3 or more).

    threshold = median - max(3 x 1.4826 x MAD, MIN_MARGIN) of the agreements, clamped to the
    engine's sane range, then lowered to the 5th percentile of the genuine pairs if above it.
    Genuine pairs are the pairs among members at or above the clamped threshold, so an
    impostor does not widen the distribution it is judged by.
    """
    loo = np.asarray(agreements, dtype=np.float64)
    med = float(np.median(loo))
    mad = float(np.median(np.abs(loo - med)))
    raw = med - max(MAD_WIDTHS * MAD_TO_SIGMA * mad, MIN_MARGIN)
    lo, hi = threshold_range(engine_id)
    threshold = min(max(raw, lo), hi)
    rule = (
        f"median agreement {med:.3f} - max(3 x 1.4826 x MAD {mad:.4f}, {MIN_MARGIN})"
        f" = {raw:.3f}, clamped to [{lo}, {hi}]"
    )
    genuine = loo >= threshold
    pairs = genuine_pairs(np.asarray(embeddings)[genuine])
    stats: dict[str, Any] = {}
    if pairs.size:
        q = {k: float(np.quantile(pairs, p)) for k, p in QUANTILES.items()}
        if q["q05"] < threshold:
            threshold = q["q05"]
            rule += f", lowered to the 5th percentile of genuine pairs ({threshold:.3f})"
        stats = {
            "mean": float(pairs.mean()),
            "std": float(pairs.std()),
            "min": float(pairs.min()),
            "max": float(pairs.max()),
            "quantiles": q,
        }
    n = len(loo)
    sampled = f" (sampled from {MAX_PAIR_FACES})" if int(genuine.sum()) > MAX_PAIR_FACES else ""
    return Calibration(
        persona_id,
        engine_id,
        calibrated=True,
        reason=f"{n} usable references with a face; {int(pairs.size)} genuine pairs{sampled}",
        faces=n,
        genuine_faces=int(genuine.sum()),
        pairs=int(pairs.size),
        agreement_median=med,
        agreement_mad=mad,
        threshold=float(threshold),
        rule=rule,
        median_similarity=dict(medians or {}),
        updated_at=updated_at,
        **stats,
    )


# -- pose coverage ----------------------------------------------------------------------------


def yaw_bin(yaw: float) -> str:
    """The YAW_BINS key of a yaw angle in degrees."""
    if yaw < -PROFILE_YAW:
        return "left_profile"
    if yaw < -THREE_QUARTER_YAW:
        return "left_three_quarter"
    if yaw <= THREE_QUARTER_YAW:
        return "frontal"
    if yaw <= PROFILE_YAW:
        return "right_three_quarter"
    return "right_profile"


def pitch_bin(pitch: float) -> str:
    """The PITCH_BINS key of a pitch angle in degrees (positive looks up)."""
    if pitch > TILT_PITCH:
        return "up"
    if pitch < -TILT_PITCH:
        return "down"
    return "level"


def pose_coverage(
    points: Sequence[tuple[float, float]], reference_ids: Sequence[str] = ()
) -> PoseCoverage:
    """Count (yaw, pitch) poses in bins and name the bins that have none."""
    yaw_counts = {key: 0 for key, _ in YAW_BINS}
    pitch_counts = {key: 0 for key, _ in PITCH_BINS}
    grid = {(y, p): 0 for y, _ in YAW_BINS for p, _ in PITCH_BINS}
    for yaw, pitch in points:
        y, p = yaw_bin(yaw), pitch_bin(pitch)
        yaw_counts[y] += 1
        pitch_counts[p] += 1
        grid[(y, p)] += 1
    missing = [f"no {label}" for key, label in YAW_BINS if not yaw_counts[key]]
    missing += [f"no {label}" for key, label in PITCH_BINS if not pitch_counts[key]]
    points = tuple((float(y), float(p)) for y, p in points)
    return PoseCoverage(
        points, tuple(reference_ids), yaw_counts, pitch_counts, grid, tuple(missing)
    )


# -- picking references for a shot ------------------------------------------------------------


@dataclass(frozen=True)
class PickCandidate:
    """An eligible reference with its persona face and audit agreement."""

    reference: Reference
    face: Face
    agreement: float | None


def face_quality(face: Face) -> float:
    """0..1 from sharpness, exposure (best at mid-grey) and face size."""
    sharp = min(max(face.sharpness, 0.0), 1.0)
    exposure = min(max(1.0 - abs(face.exposure - 0.5) / 0.4, 0.0), 1.0)
    size = min(max(face.size_px / GOOD_FACE_PX, 0.0), 1.0)
    return (sharp + exposure + size) / 3.0


def pose_closeness(face: Face, yaw: float, pitch: float) -> float:
    """1 at the target pose, falling off over about POSE_SCALE_DEG degrees."""
    d = math.hypot(face.yaw - yaw, face.pitch - pitch)
    return math.exp(-((d / POSE_SCALE_DEG) ** 2))


def identity_score(
    agreement: float | None, threshold: float | None, typical: float | None = None
) -> float:
    """0..1: from the suspect threshold (0) up to the typical agreement (1) and beyond."""
    if agreement is None:
        return 0.5
    floor = threshold if threshold is not None else 0.0
    top = typical if typical is not None and typical > floor + 1e-6 else 1.0
    if top <= floor:
        return 1.0 if agreement >= floor else 0.0
    return min(max((agreement - floor) / (top - floor), 0.0), 1.0)


def pick(
    candidates: Sequence[PickCandidate],
    count: int,
    target_yaw: float,
    target_pitch: float,
    threshold: float | None,
    typical_similarity: float | None,
    typical_agreement: float | None = None,
) -> list[Pick]:
    """Greedy choice of `count` candidates: best score, penalised for resembling earlier picks.

    `typical_similarity` (the median genuine pair) sets where resemblance starts to count as
    redundancy: at it the penalty is 0, for an identical face it is W_REDUNDANCY.
    `typical_agreement` (the median agreement) is where the identity score reaches 1.
    """
    base = typical_similarity if typical_similarity is not None else 0.5
    base = min(base, 0.999)
    scored = []
    for c in candidates:
        ident = identity_score(c.agreement, threshold, typical_agreement)
        qual = face_quality(c.face)
        pose = pose_closeness(c.face, target_yaw, target_pitch)
        score = W_IDENTITY * ident + W_QUALITY * qual + W_POSE * pose
        emb = None if c.face.embedding is None else _normalise(np.asarray(c.face.embedding, float))
        scored.append((c, ident, qual, pose, score, emb))
    # Deterministic: ties fall to the earlier import, then the id.
    scored.sort(key=lambda s: (s[0].reference.imported_at, s[0].reference.id))
    picked: list[Pick] = []
    picked_embs: list[np.ndarray] = []
    remaining = list(scored)
    while remaining and len(picked) < count:
        best = None
        for s in remaining:
            c, ident, qual, pose, score, emb = s
            penalty = 0.0
            if emb is not None and picked_embs:
                closest = max(float(emb @ p) for p in picked_embs)
                r = min(max((closest - base) / (1.0 - base), 0.0), 1.0)
                penalty = W_REDUNDANCY * r * r
            adjusted = round(score - penalty, 9)
            if best is None or adjusted > best[0]:
                best = (adjusted, penalty, s)
        adjusted, penalty, s = best
        remaining.remove(s)
        c, ident, qual, pose, score, emb = s
        if emb is not None:
            picked_embs.append(emb)
        why = (
            f"identity {ident:.2f}, quality {qual:.2f}, pose {pose:.2f} "
            f"(yaw {c.face.yaw:+.0f}°, pitch {c.face.pitch:+.0f}°)"
        )
        if penalty > 0.005:
            why += f", -{penalty:.2f} for resembling an earlier pick"
        picked.append(Pick(c.reference, c.face, adjusted, ident, qual, pose, penalty, why))
    return picked
