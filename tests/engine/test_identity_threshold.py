"""The identity threshold used before a persona is calibrated, on real photos of real people."""

from __future__ import annotations

import itertools

import numpy as np
import skimage.data

from studio.core.drift import uncalibrated_identity
from tests.fixtures.photos import load_rgb


def test_the_uncalibrated_threshold_passes_every_genuine_pair_and_no_impostor(
    dlib_engine, sdist_photos, insightface_photos, nova_rgb, camera_operator_rgb
):
    """Obama in three photos and Eileen Collins in two are genuine pairs; Biden, the camera
    operator and the six people of insightface's group photo are impostors to all of them."""
    people = [
        ("obama", load_rgb(sdist_photos["obama"])),
        ("obama", load_rgb(sdist_photos["obama2"])),
        ("obama", load_rgb(sdist_photos["obama3"])),
        ("collins", nova_rgb),
        ("collins", skimage.data.astronaut()),
        ("biden", load_rgb(sdist_photos["biden"])),
        ("operator", camera_operator_rgb),
    ]
    faces = []
    for who, rgb in people:
        found = dlib_engine.analyze(rgb)
        faces.append((who, max(found, key=lambda f: f.size_px).embedding))
    group = dlib_engine.analyze(load_rgb(insightface_photos["t1"]))
    assert len(group) == 6
    faces += [(f"group {i}", f.embedding) for i, f in enumerate(group)]
    threshold = uncalibrated_identity("dlib:resnet_v1")
    assert threshold == 0.92
    genuine, impostor = [], []
    for (a, ea), (b, eb) in itertools.combinations(faces, 2):
        (genuine if a == b else impostor).append(float(np.dot(ea, eb)))
    assert len(genuine) == 4 and len(impostor) == 74
    assert min(genuine) >= threshold > max(impostor)
