"""The reference library's maths: audit verdicts, calibration, pose coverage and shot picks.

Pure functions on faces, embeddings and grey pixel arrays; the services gather the rows (and
decode the pictures) and store the results. Every embedding handled together here comes from
one engine id: callers never mix engines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from studio.core.faces import Face
from studio.core.imports import NEAR_DUPLICATE_DISTANCE, hamming
from studio.core.records import Reference
from studio.core.text import plural

# Quality flags, in the order they are reported.
THUMBNAIL_SIZE = 256  # the longer edge of the thumbnails the library caches

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
# A reference covers a shot's pose when its (yaw, pitch) is within this many degrees of it.
# The 5-point estimates of one photo re-read after mirroring, cropping, rescaling or
# re-encoding scatter by 1.6 deg (median), 6.7 deg (95th percentile) and up to 15 deg (a turned,
# small face); the average-head model adds a few degrees per person. Within 15 deg two poses
# cannot be told apart; beyond it the reference is really turned or tilted another way.
POSE_TOLERANCE_DEG = 15.0

# Telling copies of one photo (mirrored, cropped, rescaled, re-encoded, regraded) from other
# photos of the same person, whose embeddings are just as close. A fingerprint samples the grey
# picture around the face on a square grid aligned on the eyes (unit: the inter-ocular
# distance, IOD), at three spacings; two fingerprints are compared by the best correlation of
# one's centre with the other over mirror, scale, turn and shift (the eyes of a turned face
# move between copies by up to a fifth of the IOD). Measured on real photos: copies of one photo
# are at most 0.11 apart (a turned face), other photos of the same person at least 0.40, other
# people at least 0.23.
SAME_PHOTO_DISTANCE = 0.2
FINGERPRINT_MIN_IOD = 12.0  # pixels: closer eyes leave too little of the face to compare
FINGERPRINT_STEPS = (0.5, 0.25, 0.125)  # sample spacings in IOD, coarse to fine
FINGERPRINT_HALF = 4.5  # half the side of the sampled square, in IOD
FINGERPRINT_WINDOW = 3.0  # half the side of the compared centre, in IOD
FINGERPRINT_DROP = 0.45  # the centre sits this far below the eyes, in IOD
FINGERPRINT_MIN_AREA = 4.0  # square IOD two pictures must share: eyes, nose and mouth
# The coarse search: log scale, turn (degrees) and shift (IOD) steps, each way from none.
_SEARCH_SCALE, _SEARCH_TURN, _SEARCH_SHIFT = (0.15, 3), (5.0, 2), (0.3, 2)


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
    pose_gap: float = 0.0  # degrees between its (yaw, pitch) and the shot's
    pose_note: str = ""  # says so when pose_gap is over the tolerance
    copies: tuple[Reference, ...] = ()  # copies of its photo left out for it


class Picks(list):
    """The picks, best first, and what the user should hear about them.

    `warnings`: sentences for the window, the CLI and the render's log (too few distinct
    photos, the shot's pose not covered); `note` joins them. `pose_note` is the pose sentence
    alone ("" when every pick is within `tolerance` degrees of the shot's pose).
    """

    def __init__(
        self,
        picks: Sequence[Pick] = (),
        note: str = "",
        *,
        warnings: Sequence[str] = (),
        pose_note: str = "",
        target: tuple[float, float] = (0.0, 0.0),
        tolerance: float = POSE_TOLERANCE_DEG,
    ):
        super().__init__(picks)
        self.warnings = tuple(w for w in (*warnings, note) if w)
        self.note = " ".join(self.warnings)
        self.pose_note = pose_note
        self.target = target
        self.tolerance = tolerance

    @property
    def left_out(self) -> int:
        """How many references were left out as copies of a picked photo."""
        return sum(len(p.copies) for p in self)


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
    """An eligible reference with its persona face, audit agreement and whole-image hash."""

    reference: Reference
    face: Face
    agreement: float | None
    phash: str = ""  # 16 hex digits, "" when the import made none


def face_quality(face: Face) -> float:
    """0..1 from sharpness, exposure (best at mid-grey) and face size."""
    sharp = min(max(face.sharpness, 0.0), 1.0)
    exposure = min(max(1.0 - abs(face.exposure - 0.5) / 0.4, 0.0), 1.0)
    size = min(max(face.size_px / GOOD_FACE_PX, 0.0), 1.0)
    return (sharp + exposure + size) / 3.0


def pose_gap(face: Face, yaw: float, pitch: float) -> float:
    """Degrees between a face's (yaw, pitch) and a target pose."""
    return math.hypot(face.yaw - yaw, face.pitch - pitch)


def pose_closeness(face: Face, yaw: float, pitch: float) -> float:
    """1 at the target pose, falling off over about POSE_SCALE_DEG degrees."""
    return _closeness(pose_gap(face, yaw, pitch))


def _closeness(gap: float) -> float:
    return math.exp(-((gap / POSE_SCALE_DEG) ** 2))


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


def _degrees(v: float) -> str:
    r = round(v)
    return "0°" if r == 0 else f"{r:+d}°"


def pose_text(yaw: float, pitch: float) -> str:
    """'yaw +30°, pitch 0°'."""
    return f"yaw {_degrees(yaw)}, pitch {_degrees(pitch)}"


def pose_label(yaw: float, pitch: float) -> str:
    """The pose's bins in words: 'frontal view', 'right three-quarter view, looking up'."""
    words = dict(YAW_BINS)[yaw_bin(yaw)]
    tilt = pitch_bin(pitch)
    return words if tilt == "level" else f"{words}, {dict(PITCH_BINS)[tilt]}"


def pose_warning(
    gaps: Sequence[float],
    nearest: Face | None,
    nearest_gap: float,
    target_yaw: float,
    target_pitch: float,
    tolerance: float = POSE_TOLERANCE_DEG,
) -> str:
    """The sentence for picks (their pose gaps, in order) that miss the shot's pose; "" if none.

    nearest: the candidate face closest to the target pose, nearest_gap its gap.
    """
    far = [g for g in gaps if g > tolerance]
    if not far:
        return ""
    shot = f"{pose_text(target_yaw, target_pitch)} ({pose_label(target_yaw, target_pitch)})"
    advice = f"add references at about {pose_text(target_yaw, target_pitch)}"
    if len(far) == len(gaps):
        where = ""
        if nearest is not None:
            at = pose_text(nearest.yaw, nearest.pitch)
            label = pose_label(nearest.yaw, nearest.pitch)
            where = f": the nearest is {nearest_gap:.0f}° away, at {at} ({label})"
        return f"No reference within {tolerance:.0f}° of the shot's pose, {shot}{where}; {advice}."
    spread = f"{min(far):.0f}°"
    if round(max(far)) != round(min(far)):
        spread += f" to {max(far):.0f}°"
    near = len(gaps) - len(far)
    return (
        f"Only {near} of the {len(gaps)} picks {'is' if near == 1 else 'are'} within"
        f" {tolerance:.0f}° of the shot's pose, {shot}; {plural(len(far), 'other')}"
        f" {'is' if len(far) == 1 else 'are'} {spread} away: {advice}."
    )


# -- telling copies of one photo apart ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FaceFingerprint:
    """A face and its surroundings in grey, aligned on the eyes, sampled at FINGERPRINT_STEPS.

    Each level is a square grid 2 x FINGERPRINT_HALF inter-ocular distances wide around the
    face, smoothed to its spacing; NaN where the grid leaves the picture.
    """

    levels: tuple[np.ndarray, ...]


def _box_blur(img: np.ndarray, radius: int) -> np.ndarray:
    if radius < 1:
        return img
    for axis in (0, 1):
        a = np.moveaxis(img, axis, 0)
        padded = np.concatenate([np.repeat(a[:1], radius + 1, 0), a, np.repeat(a[-1:], radius, 0)])
        c = np.cumsum(padded, 0, dtype=np.float64)
        img = np.moveaxis((c[2 * radius + 1 :] - c[: -2 * radius - 1]) / (2 * radius + 1), 0, axis)
    return img


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """img (2 x 2 or larger) sampled at (x, y) in pixel centres; NaN outside it (or next to a
    NaN)."""
    h, w = img.shape
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    valid = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    x = np.where(valid, x, np.float32(0))
    y = np.where(valid, y, np.float32(0))
    # Inside, the corner below-right of (x0, y0) is in the picture too.
    x0 = np.minimum(x.astype(np.int32), w - 2)
    y0 = np.minimum(y.astype(np.int32), h - 2)
    fx, fy = x - x0, y - y0
    flat = np.asarray(img, dtype=np.float32).ravel()
    i = y0 * w + x0
    top = flat[i]
    top += fx * (flat[i + 1] - top)
    bottom = flat[i + w]
    bottom += fx * (flat[i + w + 1] - bottom)
    top += fy * (bottom - top)
    top[~valid] = np.nan
    return top


def face_fingerprint(
    grey: np.ndarray, landmarks: Sequence[Sequence[float]], scale: float = 1.0
) -> FaceFingerprint | None:
    """The fingerprint of a face in a grey picture; None when its eyes are too close to tell.

    landmarks: 5 points in `LANDMARKS` order, in the pixels of the image the face was found
    in; `scale` maps them onto `grey` (a thumbnail's width over the image's).
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2) * scale
    grey = np.asarray(grey)
    if len(pts) < 2 or grey.ndim != 2:
        return None
    across = pts[1] - pts[0]
    iod = float(np.hypot(*across))
    if iod < FINGERPRINT_MIN_IOD:
        return None
    down = np.array([-across[1], across[0]])
    centre = (pts[0] + pts[1]) / 2.0 + FINGERPRINT_DROP * down
    # Only the region the grids reach is smoothed (a turn needs the square's diagonal).
    reach = FINGERPRINT_HALF * iod * 1.5 + 2
    h, w = grey.shape
    x0, x1 = max(0, int(centre[0] - reach)), min(w, int(centre[0] + reach) + 1)
    y0, y1 = max(0, int(centre[1] - reach)), min(h, int(centre[1] + reach) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    region = grey[y0:y1, x0:x1].astype(np.float32)
    cx, cy = centre[0] - x0, centre[1] - y0
    levels = []
    for step in FINGERPRINT_STEPS:
        u = (np.arange(round(2 * FINGERPRINT_HALF / step)) + 0.5) * step - FINGERPRINT_HALF
        uu, vv = np.meshgrid(u, u)
        smooth = _box_blur(region, round(step * iod / 2))
        x = cx + uu * across[0] + vv * down[0]
        y = cy + uu * across[1] + vv * down[1]
        levels.append(_bilinear(smooth, x, y).astype(np.float32))
    if np.isfinite(levels[-1]).sum() * FINGERPRINT_STEPS[-1] ** 2 < FINGERPRINT_MIN_AREA:
        return None
    return FaceFingerprint(tuple(levels))


def _window(step: float) -> tuple[np.ndarray, np.ndarray]:
    u = (np.arange(round(2 * FINGERPRINT_WINDOW / step)) + 0.5) * step - FINGERPRINT_WINDOW
    uu, vv = np.meshgrid(u, u)
    return uu.ravel(), vv.ravel()


_WINDOWS = tuple(_window(step) for step in FINGERPRINT_STEPS)


def _sample(level: np.ndarray, step: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    to_index = FINGERPRINT_HALF / step - 0.5
    return _bilinear(level, u / step + to_index, v / step + to_index)


def _correlations(a: FaceFingerprint, b: FaceFingerprint, k: int, params: np.ndarray) -> np.ndarray:
    """Correlation of a's centre with b moved by each row of params at level k (-1: too little
    in common). A row: mirror (0/1), log scale, turn (radians), shift x and y (IOD)."""
    step = FINGERPRINT_STEPS[k]
    u, v = _WINDOWS[k]
    ours = _sample(a.levels[k], step, u, v)[None, :]
    mirror, log_scale, turn, tx, ty = (params[:, i, None] for i in range(5))
    su = np.where(mirror > 0, -u, u)
    scale, cos, sin = np.exp(log_scale), np.cos(turn), np.sin(turn)
    theirs = _sample(
        b.levels[k], step, scale * (cos * su - sin * v) + tx, scale * (sin * su + cos * v) + ty
    )
    ok = np.isfinite(theirs) & np.isfinite(ours)
    count = ok.sum(axis=1)
    n = np.maximum(count, 1)
    x = np.where(ok, ours, 0.0)
    y = np.where(ok, theirs, 0.0)
    x = np.where(ok, x - (x.sum(axis=1) / n)[:, None], 0.0)
    y = np.where(ok, y - (y.sum(axis=1) / n)[:, None], 0.0)
    den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    enough = (count >= FINGERPRINT_MIN_AREA / step**2) & (den > 1e-6)
    return np.where(enough, (x * y).sum(axis=1) / np.maximum(den, 1e-12), -1.0)


def _grid(*axes: Sequence[float]) -> np.ndarray:
    return np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(axes), -1).T


def _around(centre: np.ndarray, steps: Sequence[float]) -> np.ndarray:
    """Placements one step either way of centre on each axis with a step (mirror is kept)."""
    return _grid(*([c - s, c, c + s] if s else [c] for c, s in zip(centre, steps, strict=True)))


def _coarse_grid() -> np.ndarray:
    axes = [(0.0, 1.0)]
    for (step, n), unit in zip((_SEARCH_SCALE, _SEARCH_TURN), (1.0, math.pi / 180), strict=True):
        axes.append(np.arange(-n, n + 1) * step * unit)
    shift = np.arange(-_SEARCH_SHIFT[1], _SEARCH_SHIFT[1] + 1) * _SEARCH_SHIFT[0]
    return _grid(*axes, shift, shift)


_COARSE = _coarse_grid()
# Refinement steps (mirror, log scale, turn, shift x, shift y): half the coarse ones at the
# middle spacing; at the finest a quarter, the turn kept (searching it there gained nothing).
_REFINE = (
    0.0,
    _SEARCH_SCALE[0] / 2,
    math.radians(_SEARCH_TURN[0]) / 2,
    *[_SEARCH_SHIFT[0] / 2] * 2,
)
_REFINE_FINE = (0.0, _SEARCH_SCALE[0] / 4, 0.0, *[_SEARCH_SHIFT[0] / 4] * 2)


def fingerprint_distance(a: FaceFingerprint, b: FaceFingerprint) -> float:
    """1 - the best correlation of a's centre with b over mirror, scale, turn and shift.

    About 0 for copies of one photo, 0.4 and more for other photos; inf when the two share
    less than FINGERPRINT_MIN_AREA of picture.
    """

    def best(k: int, grid: np.ndarray) -> tuple[float, np.ndarray]:
        r = _correlations(a, b, k, grid)
        i = int(np.argmax(r))
        return float(r[i]), grid[i]

    # Coarse to fine: the three best coarse placements are refined at the middle spacing, the
    # best of those at the finest.
    coarse = _correlations(a, b, 0, _COARSE)
    top = np.argsort(-coarse, kind="stable")[:3]
    _, p = max((best(1, _around(_COARSE[i], _REFINE)) for i in top), key=lambda t: t[0])
    r, _ = best(2, _around(p, _REFINE_FINE))
    return math.inf if r <= -1.0 else 1.0 - r


def same_photo(
    a: PickCandidate,
    b: PickCandidate,
    fingerprint: Callable[[PickCandidate], FaceFingerprint | None] | None = None,
) -> bool:
    """Whether two references are copies of one photo: their whole-image hashes are near
    duplicates, or their face fingerprints are within SAME_PHOTO_DISTANCE."""
    if a.phash and b.phash and hamming(a.phash, b.phash) <= NEAR_DUPLICATE_DISTANCE:
        return True
    if fingerprint is None:
        return False
    fa, fb = fingerprint(a), fingerprint(b)
    return fa is not None and fb is not None and fingerprint_distance(fa, fb) <= SAME_PHOTO_DISTANCE


# -- picking references for a shot ------------------------------------------------------------


class _Scored(NamedTuple):
    candidate: PickCandidate
    identity: float
    quality: float
    pose: float
    gap: float
    score: float
    embedding: np.ndarray | None


def pick(
    candidates: Sequence[PickCandidate],
    count: int,
    target_yaw: float,
    target_pitch: float,
    threshold: float | None,
    typical_similarity: float | None,
    typical_agreement: float | None = None,
    *,
    fingerprint: Callable[[PickCandidate], FaceFingerprint | None] | None = None,
    tolerance: float = POSE_TOLERANCE_DEG,
) -> Picks:
    """Greedy choice of `count` distinct photos: best score, penalised for resembling earlier
    picks; a candidate within `tolerance` degrees of the pose ranks above any that is not.

    A candidate that is a copy of a picked photo (`same_photo`) is left out and listed in that
    pick's `copies`; so each photo is represented by its best-scoring copy.
    `typical_similarity` (the median genuine pair) sets where resemblance starts to count as
    redundancy: at it the penalty is 0, for an identical face it is W_REDUNDANCY.
    `typical_agreement` (the median agreement) is where the identity score reaches 1.
    fingerprint: the face fingerprint of a candidate, asked for only when it is compared.
    """
    base = typical_similarity if typical_similarity is not None else 0.5
    base = min(base, 0.999)
    cache: dict[str, FaceFingerprint | None] = {}

    def cached(c: PickCandidate) -> FaceFingerprint | None:
        if c.reference.id not in cache:
            cache[c.reference.id] = fingerprint(c) if fingerprint is not None else None
        return cache[c.reference.id]

    scored = []
    for c in candidates:
        ident = identity_score(c.agreement, threshold, typical_agreement)
        qual = face_quality(c.face)
        gap = pose_gap(c.face, target_yaw, target_pitch)
        pose = _closeness(gap)
        emb = None if c.face.embedding is None else _normalise(np.asarray(c.face.embedding, float))
        score = W_IDENTITY * ident + W_QUALITY * qual + W_POSE * pose
        scored.append(_Scored(c, ident, qual, pose, gap, score, emb))
    # Deterministic: ties fall to the earlier import, then the id.
    scored.sort(key=lambda s: (s.candidate.reference.imported_at, s.candidate.reference.id))
    chosen: list[tuple[_Scored, float, float]] = []  # with its adjusted score and penalty
    copies: list[list[Reference]] = []
    picked_embs: list[np.ndarray] = []
    remaining = list(scored)
    while remaining and len(chosen) < count:
        best = None
        for i, s in enumerate(remaining):
            penalty = 0.0
            if s.embedding is not None and picked_embs:
                closest = max(float(s.embedding @ p) for p in picked_embs)
                r = min(max((closest - base) / (1.0 - base), 0.0), 1.0)
                penalty = W_REDUNDANCY * r * r
            key = (s.gap <= tolerance, round(s.score - penalty, 9))
            if best is None or key > best[0]:
                best = (key, penalty, i)
        (_, adjusted), penalty, i = best
        s = remaining.pop(i)
        copy_of = next(
            (
                i
                for i, (ch, _, _) in enumerate(chosen)
                if same_photo(ch.candidate, s.candidate, cached)
            ),
            None,
        )
        if copy_of is not None:
            copies[copy_of].append(s.candidate.reference)
            continue
        if s.embedding is not None:
            picked_embs.append(s.embedding)
        chosen.append((s, adjusted, penalty))
        copies.append([])
    picks = []
    for (s, adjusted, penalty), same in zip(chosen, copies, strict=True):
        face = s.candidate.face
        why = (
            f"identity {s.identity:.2f}, quality {s.quality:.2f}, pose {s.pose:.2f} "
            f"({pose_text(face.yaw, face.pitch)})"
        )
        if penalty > 0.005:
            why += f", -{penalty:.2f} for resembling an earlier pick"
        note = f"{s.gap:.0f}° from the shot's pose" if s.gap > tolerance else ""
        if note:
            why += f", {note}"
        picks.append(
            Pick(s.candidate.reference, face, adjusted, s.identity, s.quality, s.pose, penalty,
                 why, s.gap, note, tuple(same))
        )  # fmt: skip
    nearest = min(scored, key=lambda s: s.gap, default=None)
    pose_note = pose_warning(
        [p.pose_gap for p in picks],
        nearest.candidate.face if nearest else None,
        nearest.gap if nearest else 0.0,
        target_yaw,
        target_pitch,
        tolerance,
    )
    return Picks(
        picks,
        warnings=(pose_note,),
        pose_note=pose_note,
        target=(target_yaw, target_pitch),
        tolerance=tolerance,
    )
