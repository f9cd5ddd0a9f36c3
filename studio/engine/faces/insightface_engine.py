"""The insightface engine: an SCRFD detector and an ArcFace recognizer from a model pack.

Model packs are folders of ONNX files (buffalo_l by default, in ~/.insightface/models/) loaded
through insightface's own loader with only the detection and recognition modules. The studio
checks the folder itself first, so a missing pack is a clear `ModelMissingError` that says where
to put the files, never a download attempt or an assertion inside insightface.

insightface works on BGR images (OpenCV order); this engine takes and returns RGB like every
engine and converts at the edge. onnxruntime sessions may be run from several threads.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np

from studio.core.errors import ModelMissingError
from studio.core.faces import Face
from studio.core.jobs import CancelToken, EtaEstimator, Progress, ProgressSink
from studio.core.model_packs import (  # noqa: F401  (re-exported: the engine's public surface)
    DEFAULT_PACK,
    PACK_FILES,
    check_model_folder,
    default_models_root,
    expected_files_text,
    known_archive,
)
from studio.engine.faces import Detection, as_rgb, l2_normalise
from studio.engine.faces.attributes import NOSE_TIP, describe_face, largest_first

PAD_FACTOR = 1.6  # SCRFD misses faces filling most of the frame; padding shrinks them
EMBED_BATCH = 32
_DOWNLOAD_CHUNK = 1 << 20
MIB = 2**20


class ModelDownloadError(ModelMissingError):
    """A model pack could not be downloaded, failed its checksum or is not a valid pack."""


@dataclass(frozen=True)
class ModelPack:
    """A model pack on disk and the sha256 of the archive it came from."""

    path: Path
    sha256: str


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # part of the cache key: a replaced file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a model file, cached while the file is unchanged."""
    st = os.stat(path)
    return _file_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def _import_insightface():
    try:
        import insightface  # noqa: F401
        from insightface.app import FaceAnalysis
        from insightface.model_zoo import get_model
        from insightface.utils import face_align
    except ImportError as exc:
        raise ModelMissingError(
            f"The insightface library cannot be loaded ({exc}), so its face engine cannot run.",
            hint="Install it with `pip install --no-deps insightface==2.1` (`make` does), "
            "plus onnx, onnxruntime and scikit-image.",
        ) from exc
    # insightface 2.1 calls a scikit-image API that 0.26 deprecates; the warning is noise to users.
    warnings.filterwarnings("ignore", message="`estimate` is deprecated", category=FutureWarning)
    return FaceAnalysis, get_model, face_align


class InsightFaceEngine:
    """insightface SCRFD detection + ArcFace recognition from a model pack (CPU by default)."""

    licence_note = (
        "insightface's pretrained model packs (buffalo_l and the others) are licensed for "
        "non-commercial research use only. The insightface code is MIT; using the weights "
        "commercially needs a licence from insightface."
    )

    def __init__(
        self,
        pack: str = DEFAULT_PACK,
        *,
        model_dir: str | Path | None = None,
        detector: str | Path | None = None,
        recognizer: str | Path | None = None,
        det_size: int = 640,
        det_thresh: float = 0.5,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ):
        """Load a pack folder (default ~/.insightface/models/<pack>) or two explicit ONNX files.

        detector, recognizer: separate SCRFD and ArcFace .onnx files instead of a folder.
        det_size: the detector's square input size (each image is scaled to fit it).
        """
        FaceAnalysis, get_model, self._face_align = _import_insightface()
        self.det_size = int(det_size)
        providers = list(providers)
        if detector is not None or recognizer is not None:
            det_model, rec_model = self._load_files(get_model, detector, recognizer, providers)
            label = "files"
        else:
            folder = check_model_folder(
                Path(model_dir) if model_dir is not None else default_models_root() / pack, pack
            )
            det_model, rec_model = self._load_folder(FaceAnalysis, folder, providers)
            label = folder.name
        self._det = det_model
        self._rec = rec_model
        self._det.prepare(0, input_size=(self.det_size, self.det_size), det_thresh=det_thresh)
        self._rec.prepare(0)
        self.input_size = int(self._rec.input_size[0])
        width = self._rec.output_shape[-1]
        if not isinstance(width, int):  # a symbolic output size: ask the model
            blank = np.zeros((self.input_size, self.input_size, 3), np.uint8)
            width = int(np.asarray(self._rec.get_feat([blank])).reshape(1, -1).shape[1])
        self.dimensions = width
        rec_file = Path(self._rec.model_file)
        self.engine_id = f"insightface:{label}:{rec_file.stem}-{file_sha256(rec_file)[:12]}"

    @staticmethod
    def _load_folder(FaceAnalysis, folder: Path, providers):
        try:
            app = FaceAnalysis(
                name=str(folder),
                root=str(folder.parent),
                allowed_modules=["detection", "recognition"],
                providers=providers,
            )
        except AssertionError as exc:
            # insightface asserts that a detector was found.
            raise ModelMissingError(
                f"No SCRFD face detector among the ONNX files in {folder}.",
                hint=f"Put {expected_files_text(folder.name)} there.",
            ) from exc
        except Exception as exc:  # a damaged or foreign ONNX file, at the loader's boundary
            raise ModelMissingError(
                f"The insightface models in {folder} could not be loaded: {exc}",
                hint="Download the model pack again or choose another folder.",
            ) from exc
        if "recognition" not in app.models:
            raise ModelMissingError(
                f"No ArcFace face recognizer among the ONNX files in {folder}.",
                hint=f"Put {expected_files_text(folder.name)} there.",
            )
        InsightFaceEngine._check_detector(app.models["detection"], folder)
        return app.models["detection"], app.models["recognition"]

    @staticmethod
    def _load_files(get_model, detector, recognizer, providers):
        models = []
        for path, task in ((detector, "detection"), (recognizer, "recognition")):
            if path is None or not Path(path).is_file():
                raise ModelMissingError(
                    f"The insightface {task} model file {path} does not exist.",
                    hint="Choose an existing SCRFD detector and ArcFace recognizer .onnx file.",
                )
            try:
                model = get_model(str(path), providers=providers)
            except Exception as exc:  # a damaged or foreign ONNX file
                raise ModelMissingError(
                    f"The insightface model {path} could not be loaded: {exc}",
                    hint="Choose another file or download it again.",
                ) from exc
            if model is None or model.taskname != task:
                raise ModelMissingError(
                    f"{path} is not an insightface {task} model.",
                    hint="Choose an SCRFD detector and an ArcFace recognizer .onnx file.",
                )
            models.append(model)
        InsightFaceEngine._check_detector(models[0], Path(detector))
        return models[0], models[1]

    @staticmethod
    def _check_detector(det_model, where: Path) -> None:
        if not getattr(det_model, "use_kps", False):
            raise ModelMissingError(
                f"The face detector in {where} gives no landmarks, which alignment needs.",
                hint="Use an SCRFD model with keypoints (names with 'kps', or det_10g.onnx).",
            )

    # -- the interface -------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB image, largest first."""
        bgr = np.ascontiguousarray(as_rgb(rgb)[:, :, ::-1])
        dets, kpss = detect_with_retry(self._run_detector, bgr, self.det_size)
        out = [
            Detection(
                box=tuple(float(v) for v in d[:4]),
                landmarks=tuple((float(x), float(y)) for x, y in k),
                score=float(d[4]),
            )
            for d, k in zip(dets, kpss, strict=True)
        ]
        out.sort(key=lambda d: (-d.area, -d.score))
        return out

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The RGB crop ArcFace wants (usually 112x112), aligned on the 5 landmarks."""
        return self._face_align.norm_crop(
            as_rgb(rgb), landmark=det.points(), image_size=self.input_size
        )

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, D) float32 unit vectors for aligned RGB crops, run in batches."""
        if not crops:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        rows = []
        for start in range(0, len(crops), EMBED_BATCH):
            # ArcFace's preprocessing swaps BGR to RGB, so hand it BGR.
            batch = [
                np.ascontiguousarray(as_rgb(c)[:, :, ::-1])
                for c in crops[start : start + EMBED_BATCH]
            ]
            rows.append(
                np.asarray(self._rec.get_feat(batch), dtype=np.float32).reshape(len(batch), -1)
            )
        return l2_normalise(np.concatenate(rows))

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        """Every face in the image with its attributes and embedding, largest first."""
        return self.analyze_many([rgb])[0]

    def analyze_many(
        self,
        images: Sequence[np.ndarray],
        *,
        progress: ProgressSink | None = None,
        cancel: CancelToken | None = None,
    ) -> list[list[Face]]:
        """`analyze` for many images; the recognizer runs on batches across images."""
        images = [as_rgb(im) for im in images]
        total = len(images)
        eta = EtaEstimator(total)
        results: list[list[Face]] = []
        # onnxruntime already uses every core inside one run, so images go one after another
        # and only the recognizer's input is batched across them.
        for start in range(0, total, EMBED_BATCH):
            chunk = images[start : start + EMBED_BATCH]
            found = []
            for i, rgb in enumerate(chunk):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                for det in self.detect(rgb):
                    found.append((i, det, self.align(rgb, det)))
            vectors = self.embed([crop for _i, _d, crop in found])
            faces: list[list[Face]] = [[] for _ in chunk]
            for (i, det, crop), vec in zip(found, vectors, strict=True):
                faces[i].append(
                    describe_face(chunk[i], det.box, det.landmarks, det.score, crop, vec, NOSE_TIP)
                )
            results.extend(largest_first(f) for f in faces)
            if progress is not None:
                done = len(results)
                progress(Progress(done, total, "Analysing faces", eta.eta(done)))
        return results

    def _run_detector(self, bgr: np.ndarray, size: int):
        return self._det.detect(bgr, input_size=(size, size), max_num=0)


DetectFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray | None]]


def detect_with_retry(
    detect: DetectFn, image: np.ndarray, det_size: int, *, pad_factor: float = PAD_FACTOR
) -> tuple[np.ndarray, np.ndarray]:
    """Run `detect(image, size)`; when it finds nothing, retry padded and at half the size.

    SCRFD's anchors top out below a face that fills the frame. Padding the image to
    `pad_factor` times its size with its border colour shrinks the face in the detector's input;
    halving the input size does the same at another scale. Boxes and landmarks from a padded
    pass are mapped back to the original image. Returns (N x 5 boxes with scores, N x 5 x 2).
    """
    h, w = image.shape[:2]
    pad_x, pad_y = round(w * (pad_factor - 1) / 2), round(h * (pad_factor - 1) / 2)
    padded = None
    for size, pad in ((det_size, False), (det_size, True), (max(32, det_size // 2), True)):
        if pad and padded is None:
            padded = pad_with_border(image, pad_x, pad_y)
        dets, kpss = detect(padded if pad else image, size)
        dets = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
        if len(dets):
            kpss = (
                np.zeros((len(dets), 5, 2), dtype=np.float32)
                if kpss is None
                else np.asarray(kpss, dtype=np.float32).reshape(-1, 5, 2)
            )
            if pad:
                dets = dets.copy()
                dets[:, [0, 2]] -= pad_x
                dets[:, [1, 3]] -= pad_y
                kpss = kpss - np.array([pad_x, pad_y], dtype=np.float32)
            return dets, kpss
    return np.zeros((0, 5), dtype=np.float32), np.zeros((0, 5, 2), dtype=np.float32)


def pad_with_border(image: np.ndarray, pad_x: int, pad_y: int) -> np.ndarray:
    """The image framed by pad_x / pad_y pixels of its median border colour."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]], axis=0).reshape(
        -1, image.shape[2] if image.ndim == 3 else 1
    )
    colour = np.median(border, axis=0).astype(image.dtype)
    h, w = image.shape[:2]
    out = np.empty((h + 2 * pad_y, w + 2 * pad_x) + image.shape[2:], dtype=image.dtype)
    out[...] = colour.reshape((1, 1) + image.shape[2:]) if image.ndim == 3 else colour[0]
    out[pad_y : pad_y + h, pad_x : pad_x + w] = image
    return out


# -- downloading a pack on the user's confirmation -----------------------------------------------


def pack_url(name: str) -> str:
    """The URL insightface publishes a model pack's zip at."""
    try:
        from insightface.utils.storage import model_zoo_download_url
    except ImportError as exc:
        raise ModelMissingError(
            "The insightface library is not installed, so its model packs cannot be found.",
            hint="Install it with `pip install --no-deps insightface==2.1` (`make` does).",
        ) from exc
    return model_zoo_download_url(f"{name}.zip")


def download_model_pack(
    name: str,
    dest: str | Path,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
    expected_sha256: str | None = None,
    *,
    url: str | None = None,
    timeout: float = 30.0,
) -> ModelPack:
    """Download `name`.zip, verify its sha256, unzip it to dest/name; returns where and the hash.

    Call only on the user's confirmation. The archive streams to a temporary file beside the
    destination (progress per MiB, cancel between chunks); nothing is left behind on failure,
    cancel or checksum mismatch. Without `expected_sha256` the hash is only reported.
    """
    dest = Path(dest).expanduser()
    target = dest / name
    url = url or pack_url(name)
    manual_hint = f"Check the connection, or download {url} yourself and unzip it into {target}."
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip.part", dir=dest)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                eta = EtaEstimator(total)
                done = 0
                while True:
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    chunk = resp.read(_DOWNLOAD_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        size = f"{done / MIB:.0f} of {total / MIB:.0f} MiB" if total else ""
                        text = f"Downloading {name}: {size or f'{done / MIB:.0f} MiB'}"
                        progress(Progress(done, total, text, eta.eta(done)))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ModelDownloadError(
                f"Could not download the {name} model pack: {exc}.", hint=manual_hint
            ) from exc
        sha = digest.hexdigest()
        if expected_sha256 and sha != expected_sha256.strip().lower():
            raise ModelDownloadError(
                f"The downloaded {name} model pack is damaged or not the expected file "
                f"(sha256 {sha}, expected {expected_sha256}).",
                hint=manual_hint,
            )
        _unpack(tmp, target, name)
        return ModelPack(target, sha)
    finally:
        tmp.unlink(missing_ok=True)


def _unpack(archive: Path, target: Path, name: str) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    parts = PurePosixPath(member).parts
                    if member.startswith("/") or ".." in parts:
                        raise ModelDownloadError(
                            f"The {name} model pack holds an unsafe path: {member}.",
                            hint="Download it again from a trusted source.",
                        )
                zf.extractall(staging)
        except zipfile.BadZipFile as exc:
            raise ModelDownloadError(
                f"The downloaded {name} model pack is not a zip archive.",
                hint="Download it again.",
            ) from exc
        # Some packs zip their files at the top, others inside a folder named after the pack.
        root = staging
        entries = [p for p in staging.iterdir() if not p.name.startswith("__MACOSX")]
        if not list(staging.glob("*.onnx")) and len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        if not list(root.glob("*.onnx")):
            raise ModelDownloadError(
                f"The downloaded {name} model pack holds no ONNX model files.",
                hint="Check that the name is an insightface model pack.",
            )
        if target.exists():
            shutil.rmtree(target)
        root.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
