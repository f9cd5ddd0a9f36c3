"""The insightface engine, loaded by insightface's own loader from tiny ONNX models made here."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from studio.core.errors import Cancelled, ModelMissingError
from studio.core.jobs import CancelToken
from studio.engine.faces import FaceEngine, load_engine
from tests.engine.conftest import BOX_HALF, KPS, bright_square, build_arcface, build_scrfd

# insightface 2.1 calls a scikit-image API that 0.26 deprecates; the engine silences it for users.
pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

STRIDE = 32


def _expected_box(at: tuple[int, int]) -> tuple[float, ...]:
    """The tiny detector's box for a white cell whose top-left corner (an anchor) is `at`."""
    x, y = at
    r = BOX_HALF * STRIDE
    return (x - r, y - r, x + r, y + r)


def _expected_landmarks(at: tuple[int, int]) -> np.ndarray:
    return np.array(at, np.float32) + np.array(KPS, np.float32).reshape(5, 2) * STRIDE


def test_loads_through_insightfaces_own_loader(tiny_engine):
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.model_zoo.scrfd import SCRFD

    assert isinstance(tiny_engine, FaceEngine)
    assert isinstance(tiny_engine._det, SCRFD)
    assert isinstance(tiny_engine._rec, ArcFaceONNX)
    assert tiny_engine.input_size == 112
    assert tiny_engine.dimensions == 64


def test_engine_id_names_pack_model_and_hash_and_is_stable(tiny_engine, tiny_pack):
    digest = hashlib.sha256((tiny_pack / "rec_tiny.onnx").read_bytes()).hexdigest()
    assert tiny_engine.engine_id == f"insightface:tiny_pack:rec_tiny-{digest[:12]}"
    assert load_engine("insightface", model_dir=tiny_pack).engine_id == tiny_engine.engine_id


def test_licence_note_says_weights_are_non_commercial(tiny_engine):
    assert "non-commercial" in tiny_engine.licence_note


def test_detect_finds_the_face_with_box_landmarks_and_score(tiny_engine):
    dets = tiny_engine.detect(bright_square(at=(320, 320)))
    assert len(dets) == 1
    det = dets[0]
    assert det.box == pytest.approx(_expected_box((320, 320)), abs=0.5)
    np.testing.assert_allclose(det.points(), _expected_landmarks((320, 320)), atol=0.5)
    assert det.score > 0.9


def test_detect_maps_boxes_back_from_the_detector_input_size(tiny_engine):
    # A 1280 px image is halved to the 640 px detector input; boxes come back doubled.
    dets = tiny_engine.detect(bright_square(side=1280, at=(640, 640), size=64))
    assert len(dets) == 1
    assert dets[0].box == pytest.approx((640 - 192, 640 - 192, 640 + 192, 640 + 192), abs=1)


def test_detect_orders_largest_first_and_finds_nothing_on_black(tiny_engine):
    img = bright_square(at=(64, 64))
    img[448:480, 448:480] = 255
    dets = tiny_engine.detect(img)
    assert len(dets) == 2
    assert dets[0].area >= dets[1].area
    assert tiny_engine.detect(np.zeros((200, 300, 3), np.uint8)) == []


def test_align_and_embed_give_unit_rows_in_batches(tiny_engine):
    img = bright_square(at=(320, 320))
    crop = tiny_engine.align(img, tiny_engine.detect(img)[0])
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(40)]
    vectors = tiny_engine.embed(crops)  # 40 crops: more than one batch of 32
    assert vectors.shape == (40, 64) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tiny_engine.embed(crops[35:36])[0], vectors[35], atol=1e-5)
    assert tiny_engine.embed([]).shape == (0, 64)


def test_analyze_and_analyze_many_agree(tiny_engine):
    images = [
        bright_square(at=(320, 320)),
        np.zeros((100, 100, 3), np.uint8),
        bright_square(at=(96, 160)),
    ]
    reports = []
    many = tiny_engine.analyze_many(images, progress=reports.append)
    assert [len(f) for f in many] == [1, 0, 1]
    for got, img in zip(many, images, strict=True):
        want = tiny_engine.analyze(img)
        for a, b in zip(got, want, strict=True):
            assert a.box == b.box
            np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-6)
    face = many[0][0]
    assert face.size_px == pytest.approx(2 * BOX_HALF * STRIDE)
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    assert 0 <= face.exposure <= 1 and 0 <= face.sharpness <= 1
    assert reports[-1].done == reports[-1].total == 3
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        tiny_engine.analyze_many(images, cancel=token)


def test_separate_detector_and_recognizer_files(tiny_pack):
    from studio.engine.faces.insightface_engine import InsightFaceEngine

    engine = InsightFaceEngine(
        detector=tiny_pack / "det_tiny.onnx", recognizer=tiny_pack / "rec_tiny.onnx"
    )
    assert len(engine.detect(bright_square())) == 1
    with pytest.raises(ModelMissingError, match="not an insightface detection model"):
        InsightFaceEngine(
            detector=tiny_pack / "rec_tiny.onnx", recognizer=tiny_pack / "rec_tiny.onnx"
        )


def test_recognizer_with_a_symbolic_output_size(tmp_path, tiny_pack):
    from studio.engine.faces.insightface_engine import InsightFaceEngine

    rec = build_arcface(tmp_path / "rec_symbolic.onnx", dim=48, symbolic_dim=True)
    engine = InsightFaceEngine(detector=tiny_pack / "det_tiny.onnx", recognizer=rec)
    assert engine.dimensions == 48
    assert engine.embed([]).shape == (0, 48)
    assert engine.engine_id.startswith("insightface:files:rec_symbolic-")


def test_missing_model_folder_names_the_folder_and_the_files(tmp_path):
    folder = tmp_path / "nowhere" / "buffalo_l"
    with pytest.raises(ModelMissingError) as err:
        load_engine("insightface", model_dir=folder)
    message = str(err.value)
    assert str(folder) in message
    assert "det_10g.onnx" in message and "w600k_r50.onnx" in message


def test_empty_model_folder_is_model_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelMissingError, match="holds no ONNX model files") as err:
        load_engine("insightface", model_dir=tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value)


def test_default_pack_is_looked_for_in_the_home_folder():
    # The autouse fixture points HOME at an empty folder: offline and nothing installed.
    with pytest.raises(ModelMissingError) as err:
        load_engine("insightface")
    assert str(Path("~/.insightface/models/buffalo_l").expanduser()) in str(err.value)
    assert "det_10g.onnx" in str(err.value)


def test_incomplete_known_pack_lists_what_is_missing(tmp_path, tiny_pack):
    folder = tmp_path / "buffalo_l"
    folder.mkdir()
    shutil.copy(tiny_pack / "det_tiny.onnx", folder / "det_10g.onnx")
    with pytest.raises(ModelMissingError, match="w600k_r50.onnx missing"):
        load_engine("insightface", model_dir=folder)


def test_folder_without_a_detector_or_recognizer_is_model_missing(tmp_path):
    only_rec = tmp_path / "only_rec"
    only_rec.mkdir()
    build_arcface(only_rec / "rec.onnx")
    with pytest.raises(ModelMissingError, match="No SCRFD face detector"):
        load_engine("insightface", model_dir=only_rec)
    only_det = tmp_path / "only_det"
    only_det.mkdir()
    build_scrfd(only_det / "det.onnx")
    with pytest.raises(ModelMissingError, match="No ArcFace face recognizer"):
        load_engine("insightface", model_dir=only_det)


def test_damaged_model_file_is_model_missing(tmp_path):
    folder = tmp_path / "damaged"
    folder.mkdir()
    (folder / "det.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelMissingError, match="could not be loaded"):
        load_engine("insightface", model_dir=folder)


# -- the padded retry for faces that fill the frame ------------------------------------------------


class StubDetector:
    """Finds the bright region of its input, but misses it when it fills most of the frame."""

    def __init__(self, max_fill: float = 0.6, only_size: int | None = None):
        self.max_fill = max_fill
        self.only_size = only_size
        self.calls: list[tuple[tuple[int, int], int]] = []

    def __call__(self, image: np.ndarray, size: int):
        self.calls.append((image.shape[:2], size))
        ys, xs = np.nonzero(image[..., 0] > 200)
        empty = np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        if not len(xs) or (self.only_size is not None and size != self.only_size):
            return empty
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        if (x1 - x0) > self.max_fill * image.shape[1]:
            return empty
        kps = np.array([[x0, y0], [x1, y0], [(x0 + x1) / 2, (y0 + y1) / 2], [x0, y1], [x1, y1]])
        return np.array([[x0, y0, x1, y1, 0.9]], np.float32), kps[None].astype(np.float32)


def _filled_frame() -> np.ndarray:
    img = np.full((300, 400, 3), 40, np.uint8)
    img[10:290, 20:380] = 230  # the "face": 90% of the width
    return img


def test_a_face_filling_the_frame_is_found_padded_and_mapped_back():
    from studio.engine.faces.insightface_engine import detect_with_retry

    stub = StubDetector()
    dets, kpss = detect_with_retry(stub, _filled_frame(), 640)
    assert [c[0] for c in stub.calls] == [(300, 400), (480, 640)]  # padded to 1.6x
    assert dets[:, :4].tolist() == [[20, 10, 380, 290]]
    np.testing.assert_allclose(kpss[0], [[20, 10], [380, 10], [200, 150], [20, 290], [380, 290]])


def test_retry_at_half_the_detector_size_when_padding_is_not_enough():
    from studio.engine.faces.insightface_engine import detect_with_retry

    stub = StubDetector(only_size=320)
    dets, _ = detect_with_retry(stub, _filled_frame(), 640)
    assert [c[1] for c in stub.calls] == [640, 640, 320]
    assert dets[:, :4].tolist() == [[20, 10, 380, 290]]


def test_no_retry_when_the_first_pass_finds_a_face_and_empty_when_none_does():
    from studio.engine.faces.insightface_engine import detect_with_retry

    img = np.full((300, 400, 3), 40, np.uint8)
    img[100:150, 100:150] = 230
    stub = StubDetector()
    dets, _ = detect_with_retry(stub, img, 640)
    assert len(stub.calls) == 1 and dets[:, :4].tolist() == [[100, 100, 150, 150]]
    dets, kpss = detect_with_retry(StubDetector(), np.zeros((50, 50, 3), np.uint8), 640)
    assert dets.shape == (0, 5) and kpss.shape == (0, 5, 2)


def test_padding_uses_the_border_colour():
    from studio.engine.faces.insightface_engine import pad_with_border

    img = _filled_frame()
    padded = pad_with_border(img, 120, 90)
    assert padded.shape == (480, 640, 3)
    assert (padded[:90] == 40).all() and (padded[:, :120] == 40).all()
    np.testing.assert_array_equal(padded[90:390, 120:520], img)


def test_the_real_detector_path_retries_padded(tiny_engine, monkeypatch):
    calls = []
    real = tiny_engine._run_detector

    def spy(bgr, size):
        calls.append((bgr.shape[:2], size))
        return real(bgr, size)

    monkeypatch.setattr(tiny_engine, "_run_detector", spy)
    assert tiny_engine.detect(np.zeros((100, 100, 3), np.uint8)) == []
    assert calls == [((100, 100), 640), ((160, 160), 640), ((160, 160), 320)]


# -- downloading a model pack ------------------------------------------------------------------


def _zip_pack(tiny_pack: Path, dest: Path, nested: bool) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in tiny_pack.glob("*.onnx"):
            zf.write(f, f"{tiny_pack.name}/{f.name}" if nested else f.name)
    return dest


@pytest.mark.parametrize("nested", [False, True])
def test_download_streams_verifies_and_unpacks_a_pack(tmp_path, tiny_pack, nested):
    from studio.engine.faces.insightface_engine import download_model_pack

    archive = _zip_pack(tiny_pack, tmp_path / "pack.zip", nested)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    models = tmp_path / "models"
    reports = []
    pack = download_model_pack(
        "tiny_pack", models, reports.append, CancelToken(), digest, url=archive.as_uri()
    )
    assert pack.path == models / "tiny_pack" and pack.sha256 == digest
    assert sorted(p.name for p in pack.path.iterdir()) == ["det_tiny.onnx", "rec_tiny.onnx"]
    assert reports and reports[-1].done == reports[-1].total == archive.stat().st_size
    assert sorted(p.name for p in models.iterdir()) == ["tiny_pack"]  # no temporary files left
    engine = load_engine("insightface:tiny_pack", model_dir=pack.path)
    assert len(engine.detect(bright_square())) == 1


def test_download_with_a_wrong_checksum_leaves_nothing(tmp_path, tiny_pack):
    from studio.engine.faces.insightface_engine import ModelDownloadError, download_model_pack

    archive = _zip_pack(tiny_pack, tmp_path / "pack.zip", nested=False)
    models = tmp_path / "models"
    with pytest.raises(ModelDownloadError, match="damaged or not the expected file"):
        download_model_pack("tiny_pack", models, None, None, "0" * 64, url=archive.as_uri())
    assert list(models.iterdir()) == []


def test_download_can_be_cancelled(tmp_path, tiny_pack):
    from studio.engine.faces.insightface_engine import download_model_pack

    archive = _zip_pack(tiny_pack, tmp_path / "pack.zip", nested=False)
    models = tmp_path / "models"
    token = CancelToken()

    def progress(p):
        token.cancel()  # the user presses Cancel after the first chunk

    with pytest.raises(Cancelled):
        download_model_pack("tiny_pack", models, progress, token, None, url=archive.as_uri())
    assert list(models.iterdir()) == []


def test_download_failures_are_clear_errors(tmp_path):
    from studio.engine.faces.insightface_engine import ModelDownloadError, download_model_pack

    models = tmp_path / "models"
    missing = (tmp_path / "no-such.zip").as_uri()
    with pytest.raises(ModelDownloadError, match="Could not download the buffalo_l model pack"):
        download_model_pack("buffalo_l", models, url=missing)
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(ModelDownloadError, match="not a zip archive"):
        download_model_pack("buffalo_l", models, url=not_zip.as_uri())
    no_models = tmp_path / "empty.zip"
    with zipfile.ZipFile(no_models, "w") as zf:
        zf.writestr("README.txt", "hello")
    with pytest.raises(ModelDownloadError, match="holds no ONNX model files"):
        download_model_pack("buffalo_l", models, url=no_models.as_uri())
    assert list(models.iterdir()) == []


def test_default_download_url_comes_from_insightface():
    from studio.engine.faces.insightface_engine import pack_url

    assert pack_url("buffalo_l").endswith("/buffalo_l.zip")
    assert pack_url("buffalo_l").startswith("https://")
