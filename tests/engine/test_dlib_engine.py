"""The dlib engine on real faces: detection at both ends of the size range, identity, attributes."""

from __future__ import annotations

import io
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from studio.core.errors import Cancelled, ModelMissingError, StudioError
from studio.core.faces import Face, similarity
from studio.core.jobs import CancelToken
from studio.engine.faces import Detection, FaceEngine, engine_names, load_engine
from tests.fixtures.photos import load_rgb

# Where dlib finds the astronaut's face in the 512 px demo portrait.
NOVA_BOX = (179, 83, 267, 171)


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def _variants(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The photo and augmented copies: mirrored, brighter, darker, rotated, re-encoded."""
    im = Image.fromarray(rgb)
    out = {
        "orig": im,
        "flip": im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "bright": ImageEnhance.Brightness(im).enhance(1.35),
        "dark": ImageEnhance.Brightness(im).enhance(0.6),
        "rot": im.rotate(8, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128)),
    }
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=25)
    out["jpeg"] = Image.open(io.BytesIO(buf.getvalue()))
    return {k: np.asarray(v.convert("RGB")) for k, v in out.items()}


@pytest.fixture(scope="session")
def obama_faces(dlib_engine, sdist_photos) -> dict[str, Face]:
    """The largest face of each obama photo and of each augmented copy, by "photo-variant"."""
    faces = {}
    for stem in ("obama", "obama2", "obama3"):
        for kind, rgb in _variants(load_rgb(sdist_photos[stem])).items():
            found = dlib_engine.analyze(rgb)
            assert found, f"no face in {stem} ({kind})"
            faces[f"{stem}-{kind}"] = found[0]
    return faces


@pytest.fixture(scope="session")
def other_faces(dlib_engine, sdist_photos, nova_rgb, camera_operator_rgb) -> dict[str, Face]:
    """The largest face of each photo of other people."""
    photos = {
        "biden": load_rgb(sdist_photos["biden"]),
        "astronaut": nova_rgb,
        "camera operator": camera_operator_rgb,
    }
    faces = {}
    for name, rgb in photos.items():
        found = dlib_engine.analyze(rgb)
        assert found, f"no face in {name}"
        faces[name] = found[0]
    return faces


def test_engine_id_names_model_and_version_and_is_stable(dlib_engine):
    assert dlib_engine.engine_id.startswith("dlib:resnet_v1:frm-")
    assert dlib_engine.engine_id == "dlib:resnet_v1:frm-0.3.0"
    assert load_engine("dlib").engine_id == dlib_engine.engine_id
    assert "CC0" in dlib_engine.licence_note


def test_the_engine_meets_the_interface(dlib_engine):
    assert isinstance(dlib_engine, FaceEngine)
    assert engine_names() == ["dlib", "insightface"]


def test_unknown_engine_is_a_user_error():
    with pytest.raises(StudioError, match="no face engine called 'deepface'"):
        load_engine("deepface")


def test_importing_the_package_loads_no_engine_library():
    code = (
        "import sys, studio.engine.faces, studio.engine.faces.attributes\n"
        "heavy = {'dlib', 'insightface', 'onnxruntime', 'onnx'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_missing_model_files_raise_model_missing_with_the_folder(monkeypatch):
    from studio.engine.faces import dlib_engine as module

    monkeypatch.setitem(module.MODEL_FILES, "shape", "no_such_predictor.dat")
    with pytest.raises(ModelMissingError) as err:
        module.DlibEngine()
    assert "no_such_predictor.dat" in str(err.value)
    assert "face_recognition_models" in str(err.value)


def test_detects_the_astronaut_in_the_full_portrait(dlib_engine, nova_rgb):
    dets = dlib_engine.detect(nova_rgb)
    assert len(dets) == 1, "the mission patch must not count as a face"
    det = dets[0]
    assert isinstance(det, Detection)
    assert _iou(det.box, NOVA_BOX) > 0.8
    x0, y0, x1, y1 = det.box
    eye_l, eye_r, nose, mouth_l, mouth_r = det.landmarks
    assert x0 < eye_l[0] < eye_r[0] < x1
    assert eye_l[1] < nose[1] < mouth_l[1] < y1 + 0.2 * (y1 - y0)
    assert mouth_l[0] < mouth_r[0]


@pytest.mark.parametrize("fill", [0.8, 0.9])
@pytest.mark.parametrize("side", [160, 900])
def test_detects_a_face_that_fills_the_frame(dlib_engine, nova_rgb, fill, side):
    x0, y0, x1, y1 = NOVA_BOX
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2 + 5, (x1 - x0) / fill / 2
    crop = Image.fromarray(nova_rgb).crop((cx - half, cy - half, cx + half, cy + half))
    rgb = np.asarray(crop.resize((side, side), Image.Resampling.LANCZOS))
    faces = dlib_engine.analyze(rgb)
    assert len(faces) == 1
    assert faces[0].size_px >= 0.65 * side
    reference = dlib_engine.analyze(nova_rgb)[0]
    assert similarity(faces[0].embedding, reference.embedding) > 0.95


def test_detects_a_60_px_face_in_a_large_textured_canvas(dlib_engine, nova_rgb):
    scale = 60 / (NOVA_BOX[2] - NOVA_BOX[0])
    side = round(512 * scale)
    small = Image.fromarray(nova_rgb).resize((side, side), Image.Resampling.LANCZOS)
    rng = np.random.default_rng(7)
    canvas = Image.fromarray(rng.integers(60, 200, (1024, 1280, 3), dtype=np.uint8))
    at = (700, 420)
    canvas.paste(small, at)
    faces = dlib_engine.analyze(np.asarray(canvas))
    assert len(faces) == 1
    face = faces[0]
    expected = (
        at[0] + NOVA_BOX[0] * scale,
        at[1] + NOVA_BOX[1] * scale,
        at[0] + NOVA_BOX[2] * scale,
        at[1] + NOVA_BOX[3] * scale,
    )
    assert _iou(face.box, expected) > 0.5
    assert 45 <= face.size_px <= 80
    reference = dlib_engine.analyze(nova_rgb)[0]
    assert similarity(face.embedding, reference.embedding) > 0.95


def test_detects_a_40_px_face_by_upsampling(dlib_engine, nova_rgb):
    side = round(512 * 40 / (NOVA_BOX[2] - NOVA_BOX[0]))
    small = Image.fromarray(nova_rgb).resize((side, side), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (800, 600), (200, 200, 190))
    canvas.paste(small, (100, 300))
    faces = dlib_engine.analyze(np.asarray(canvas))
    assert len(faces) == 1
    assert 30 <= faces[0].size_px <= 60


def test_finds_no_face_where_there_is_none(dlib_engine):
    rng = np.random.default_rng(1)
    assert dlib_engine.analyze(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) == []
    assert dlib_engine.analyze(np.full((200, 200, 3), 128, np.uint8)) == []


def test_turned_face_is_found_by_the_cnn_fallback(other_faces):
    face = other_faces["camera operator"]
    # He faces the image's right, in profile.
    assert face.yaw > 20
    assert 150 < (face.box[0] + face.box[2]) / 2 < 300


def test_embeddings_are_unit_length_float32(dlib_engine, obama_faces, other_faces):
    for face in [*obama_faces.values(), *other_faces.values()]:
        assert face.embedding.dtype == np.float32
        assert face.embedding.shape == (128,)
        assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)


def test_same_person_scores_clearly_higher_than_different_people(obama_faces, other_faces):
    genuine = np.stack([f.embedding for f in obama_faces.values()])
    impostors = np.stack([f.embedding for f in other_faces.values()])
    same = genuine @ genuine.T
    min_genuine = same[np.triu_indices(len(genuine), 1)].min()
    max_impostor = (genuine @ impostors.T).max()
    # Measured: genuine pairs 0.94-1.00 (cross-photo and augmented), impostors up to 0.89.
    assert min_genuine > max_impostor + 0.03, (min_genuine, max_impostor)
    biden, astronaut = other_faces["biden"].embedding, other_faces["astronaut"].embedding
    assert similarity(biden, astronaut) < min_genuine


def test_embed_batches_and_keeps_order(dlib_engine, nova_rgb, sdist_photos):
    rgb_b = load_rgb(sdist_photos["biden"])
    crop_a = dlib_engine.align(nova_rgb, dlib_engine.detect(nova_rgb)[0])
    crop_b = dlib_engine.align(rgb_b, dlib_engine.detect(rgb_b)[0])
    assert crop_a.shape == (150, 150, 3) and crop_a.dtype == np.uint8
    both = dlib_engine.embed([crop_a, crop_b, crop_a])
    assert both.shape == (3, 128) and both.dtype == np.float32
    np.testing.assert_allclose(both[0], dlib_engine.embed([crop_a])[0], atol=1e-5)
    np.testing.assert_allclose(both[1], dlib_engine.embed([crop_b])[0], atol=1e-5)
    np.testing.assert_allclose(both[2], both[0], atol=1e-6)
    assert dlib_engine.embed([]).shape == (0, 128)


def test_analyze_orders_largest_first_and_fills_attributes(dlib_engine, insightface_photos):
    faces = dlib_engine.analyze(load_rgb(insightface_photos["t1"]))
    assert len(faces) >= 5
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)
    for f in faces:
        assert f.size_px == pytest.approx(max(f.box[2] - f.box[0], f.box[3] - f.box[1]))
        assert len(f.landmarks) == 5 and f.score > 0
        assert 0 < f.sharpness <= 1 and 0 < f.exposure < 1
        assert -90 <= f.yaw <= 90 and -90 <= f.pitch <= 90 and -90 <= f.roll <= 90


def test_mirrored_photo_flips_yaw_and_roll(obama_faces):
    turned, mirrored = obama_faces["obama2-orig"], obama_faces["obama2-flip"]
    # obama2 turns toward the image's left.
    assert turned.yaw < -10
    assert mirrored.yaw > 10
    assert mirrored.yaw == pytest.approx(-turned.yaw, abs=5)
    assert mirrored.roll == pytest.approx(-turned.roll, abs=2)


def test_rotating_the_photo_counter_clockwise_lowers_roll(obama_faces):
    # PIL rotates counter-clockwise by 8 degrees; roll is positive clockwise.
    for stem in ("obama", "obama2", "obama3"):
        before, after = obama_faces[f"{stem}-orig"].roll, obama_faces[f"{stem}-rot"].roll
        assert after - before == pytest.approx(-8, abs=2.5)


def test_looking_up_reads_as_positive_pitch(obama_faces):
    # obama3 was photographed from below, chin raised; obama looks straight ahead.
    assert obama_faces["obama3-orig"].pitch > 10
    assert abs(obama_faces["obama-orig"].pitch) < 10


def test_greyscale_and_rgba_input_are_accepted(dlib_engine, nova_rgb):
    grey = np.asarray(Image.fromarray(nova_rgb).convert("L"))
    rgba = np.asarray(Image.fromarray(nova_rgb).convert("RGBA"))
    assert len(dlib_engine.detect(grey)) == 1
    assert len(dlib_engine.detect(rgba)) == 1


def test_threads_sharing_one_engine_get_the_same_answers(dlib_engine, nova_rgb, sdist_photos):
    images = [nova_rgb, load_rgb(sdist_photos["obama"])]
    expected = [dlib_engine.analyze(im)[0].embedding for im in images]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = dlib_engine.analyze(images[i % 2])[0].embedding

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, emb in results.items():
        np.testing.assert_allclose(emb, expected[i % 2], atol=1e-6)


def test_analyze_many_in_worker_processes_matches_analyze(nova_rgb, sdist_photos):
    from studio.engine.faces.dlib_engine import DlibEngine

    images = [nova_rgb, load_rgb(sdist_photos["biden"]), np.full((64, 64, 3), 90, np.uint8)] * 2
    engine = DlibEngine(workers=2)
    reports = []
    try:
        many = engine.analyze_many(images, progress=reports.append)
        assert engine._pool is not None, "six images on two workers go to the pool"
        single = [engine.analyze(im) for im in images]
    finally:
        engine.close()
    assert [len(f) for f in many] == [1, 1, 0, 1, 1, 0]
    for got, want in zip(many, single, strict=True):
        for a, b in zip(got, want, strict=True):
            assert a.box == pytest.approx(b.box)
            np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)
    assert reports[-1].done == reports[-1].total == 6


def test_analyze_many_honours_cancel(dlib_engine, nova_rgb):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        dlib_engine.analyze_many([nova_rgb], cancel=token)
    assert dlib_engine.analyze_many([]) == []
