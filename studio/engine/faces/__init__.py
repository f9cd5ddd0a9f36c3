"""Face identity engines: detect, align and embed faces, one small interface for every engine.

Engines load lazily: importing this package imports neither dlib nor insightface. Vectors are
tagged with the engine's `engine_id`; vectors with different ids are never compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from studio.core.errors import StudioError
from studio.core.faces import Face

_ENGINES = ("dlib", "insightface")


class UnknownEngineError(StudioError):
    """A face engine name that the studio does not know."""


@dataclass(frozen=True)
class Detection:
    """One detected face: box, 5 landmarks in `studio.core.faces.LANDMARKS` order, score."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    landmarks: tuple[tuple[float, float], ...]  # 5 points, image pixels
    score: float  # detector confidence, engine-specific scale

    def points(self) -> np.ndarray:
        """The landmarks as a (5, 2) float32 array."""
        return np.asarray(self.landmarks, dtype=np.float32).reshape(-1, 2)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@runtime_checkable
class FaceEngine(Protocol):
    """What every face engine offers. Images are HxWx3 uint8 RGB arrays."""

    engine_id: str  # engine + model + version, e.g. "dlib:resnet_v1:frm-0.3.0"
    licence_note: str  # shown where the engine is chosen

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray: ...

    def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...

    def analyze(self, rgb: np.ndarray) -> list[Face]: ...

    def analyze_many(self, images: list[np.ndarray]) -> list[list[Face]]: ...


def engine_names() -> list[str]:
    """Names `load_engine` accepts (insightface also as "insightface:<model pack>")."""
    return list(_ENGINES)


def load_engine(
    name: str = "dlib",
    *,
    model_dir: str | Path | None = None,
    det_size: int = 640,
    thorough: bool = True,
) -> FaceEngine:
    """Load a face engine by name; a missing library or model raises `ModelMissingError`.

    model_dir: insightface only, a model-pack folder (default ~/.insightface/models/buffalo_l).
    det_size: insightface only, the detector's input size.
    thorough: dlib only; False skips the slow CNN detector where the HOG passes find no face
    (footage is full of frames with nobody in them, and the CNN spends about 1.5 s on each).
    """
    kind, _, pack = name.partition(":")
    if kind == "dlib":
        from studio.engine.faces.dlib_engine import DlibEngine

        return DlibEngine(cnn_fallback=thorough)
    if kind == "insightface":
        from studio.engine.faces.insightface_engine import DEFAULT_PACK, InsightFaceEngine

        return InsightFaceEngine(pack=pack or DEFAULT_PACK, model_dir=model_dir, det_size=det_size)
    raise UnknownEngineError(
        f"There is no face engine called {name!r}.",
        hint=f"Choose one of: {', '.join(_ENGINES)}.",
    )


def as_rgb(image: np.ndarray) -> np.ndarray:
    """The image as a contiguous HxWx3 uint8 array (grey is repeated, alpha dropped)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"face engines take uint8 images, not {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"face engines take HxWx3 RGB images, not shape {a.shape}")
    return np.ascontiguousarray(a)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (a zero row stays zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1.0)).astype(np.float32)
