"""A fake face engine and designed faces for the audit tests.

Each test image is a tiny PNG whose first pixel encodes a key; the fake engine looks the key up
to answer with the faces a test designed, and counts how many images it analysed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from studio.core.faces import Face
from studio.jobs import library_kinds
from studio.services import library

DIM = 32
ADA_SEED = 1


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def identity(seed: int) -> np.ndarray:
    """A random direction: one person."""
    return unit(np.random.default_rng(seed).normal(size=DIM))


def photo_of(person: np.ndarray, seed: int, noise: float = 0.25) -> np.ndarray:
    """Another photo of the same person: the identity plus a little noise."""
    n = np.random.default_rng(seed).normal(size=DIM)
    n = n / np.linalg.norm(n)
    return unit(person + noise * n)


def face(
    embedding=None,
    *,
    size_px: float = 200.0,
    yaw: float = 0.0,
    pitch: float = 0.0,
    sharpness: float = 0.8,
    exposure: float = 0.5,
) -> Face:
    x0, y0 = 10.0, 10.0
    return Face(
        box=(x0, y0, x0 + size_px, y0 + size_px),
        landmarks=tuple((x0 + i, y0 + i) for i in range(5)),
        score=0.99,
        size_px=size_px,
        yaw=yaw,
        pitch=pitch,
        sharpness=sharpness,
        exposure=exposure,
        embedding=None if embedding is None else np.asarray(embedding, np.float32),
    )


def key_png(key: int) -> bytes:
    """A distinct tiny image whose first pixel says which designed faces it has."""
    im = Image.new("RGB", (8, 8), (key % 256, key // 256 % 256, 7))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


class FakeEngine:
    """Answers each image with the faces designed for its key; counts the images analysed."""

    def __init__(self, faces: dict[int, list[Face]], engine_id: str = "fake-v1"):
        self.faces = faces
        self.engine_id = engine_id
        self.analysed: list[int] = []
        self.loads = 0

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        key = int(rgb[0, 0, 0]) + 256 * int(rgb[0, 0, 1])
        self.analysed.append(key)
        return list(self.faces.get(key, []))

    def analyze_many(self, images) -> list[list[Face]]:
        return [self.analyze(rgb) for rgb in images]

    def install(self, monkeypatch) -> FakeEngine:
        def load(name: str, thorough: bool = True) -> FakeEngine:
            self.loads += 1
            return self

        monkeypatch.setattr(library_kinds, "_load_face_engine", load)
        return self


def add_refs(project, persona_id: str, keys, prefix: str = "ref") -> dict[int, str]:
    """Add one reference per key; key -> reference id."""
    out = {}
    for key in keys:
        ref = library.add_reference_bytes(
            project,
            persona_id,
            key_png(key),
            mime="image/png",
            file_name=f"{prefix}-{key}.png",
            source_path=f"/photos/{prefix}-{key}.png",
            width=8,
            height=8,
        )
        out[key] = ref.id
    return out
