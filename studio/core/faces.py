"""Faces as the identity engines report them, and the maths on them that needs no model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Landmark order of every engine's 5 points, as seen in the image (not the person's left/right).
LANDMARKS = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Face:
    """One face found in an image by one engine: where it is, how it looks, who it is."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    landmarks: tuple[tuple[float, float], ...]  # 5 points in LANDMARKS order, image pixels
    score: float  # detector confidence, engine-specific scale
    size_px: float  # the face's size: the longer side of its box
    yaw: float = 0.0  # degrees; positive turns toward the image's right
    pitch: float = 0.0  # degrees; positive looks up
    roll: float = 0.0  # degrees; positive tilts clockwise in the image
    sharpness: float = 0.0  # 0..1, from the variance of the Laplacian on the aligned crop
    exposure: float = 0.0  # 0..1, mean luminance of the face region
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_row(self) -> dict[str, Any]:
        """Plain data for storage (the embedding as float32 bytes)."""
        return {
            "box": list(self.box),
            "landmarks": [list(p) for p in self.landmarks],
            "score": self.score,
            "size_px": self.size_px,
            "yaw": self.yaw,
            "pitch": self.pitch,
            "roll": self.roll,
            "sharpness": self.sharpness,
            "exposure": self.exposure,
            "embedding": None
            if self.embedding is None
            else np.asarray(self.embedding, dtype=np.float32).tobytes(),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Face:
        """Rebuild a face stored with `to_row`."""
        emb = row.get("embedding")
        return cls(
            box=tuple(row["box"]),
            landmarks=tuple(tuple(p) for p in row["landmarks"]),
            score=row["score"],
            size_px=row["size_px"],
            yaw=row["yaw"],
            pitch=row["pitch"],
            roll=row["roll"],
            sharpness=row["sharpness"],
            exposure=row["exposure"],
            embedding=None if emb is None else np.frombuffer(emb, dtype=np.float32).copy(),
        )


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two L2-normalised embeddings (1 = identical)."""
    return float(np.dot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))


def similarity_matrix(embeddings: np.ndarray) -> np.ndarray:
    """All pairwise cosine similarities of a stack of L2-normalised embeddings."""
    e = np.asarray(embeddings, dtype=np.float32)
    return e @ e.T
