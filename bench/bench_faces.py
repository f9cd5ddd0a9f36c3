"""Face analysis throughput of the dlib engine against dlib called directly in a plain loop.

Builds N 768x768 frames from the real photos (the demo portraits, plus the face_recognition
test photos when `make` has fetched them) by flipping, scaling and shifting, then prints images/s:
- baseline: dlib's HOG detector, 5-point predictor, face chip and descriptor, one image at a time,
- `analyze` in a loop (the engine in this process: the same work plus attributes),
- `analyze_many` (worker processes, one per core; the pool is started before timing),
and each as a ratio to the baseline measured in the same run.
Run: .venv/bin/python bench/bench_faces.py [--images N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import tarfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from studio.engine.faces.dlib_engine import DlibEngine, model_paths

REPO = Path(__file__).resolve().parents[1]
SIDE = 768


def source_photos() -> list[Image.Image]:
    photos = [
        Image.open(REPO / "resources/demo" / n).convert("RGB") for n in ("nova-portrait.jpg",)
    ]
    sdist = REPO / ".venv/test-data/face_recognition-1.3.0.tar.gz"
    if sdist.is_file():
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                if "/test_images/" in m.name and m.name.endswith(("obama.jpg", "biden.jpg")):
                    photos.append(Image.open(BytesIO(tar.extractfile(m).read())).convert("RGB"))
    return photos


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    photos = source_photos()
    out = []
    for i in range(n):
        im = photos[i % len(photos)]
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
        scale = rng.uniform(0.8, 1.2) * SIDE / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)))
        canvas = Image.new("RGB", (SIDE, SIDE), tuple(int(v) for v in rng.integers(0, 255, 3)))
        canvas.paste(im, (int(rng.integers(-40, 40)), int(rng.integers(-40, 40))))
        out.append(np.asarray(canvas))
    return out


def baseline(images: list[np.ndarray], min_score: float) -> int:
    """dlib's models called directly, one image at a time (the engine's HOG threshold)."""
    import dlib

    paths = model_paths()
    hog = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(str(paths["shape"]))
    rec = dlib.face_recognition_model_v1(str(paths["recognition"]))
    found = 0
    for img in images:
        rects, _scores, _kinds = hog.run(img, 0, min_score)
        for rect in rects:
            chip = dlib.get_face_chip(img, shape(img, rect), size=150, padding=0.25)
            rec.compute_face_descriptor(chip)
            found += 1
    return found


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    images = frames(args.images)
    n = len(images)
    print(f"{n} frames of {SIDE}x{SIDE}, {os.cpu_count()} CPU cores, {args.workers} workers")

    engine = DlibEngine(workers=args.workers)
    t_base, faces_base = timed(baseline, images, engine.min_score)
    print(f"baseline (dlib directly, plain loop): {n / t_base:6.2f} images/s, {faces_base} faces")

    t_loop, res_loop = timed(lambda: [engine.analyze(im) for im in images])
    faces_loop = sum(len(r) for r in res_loop)
    print(
        f"engine.analyze in a loop:            {n / t_loop:6.2f} images/s, {faces_loop} faces, "
        f"{t_base / t_loop:.2f}x baseline"
    )

    t_start, _ = timed(engine.analyze_many, images[: 2 * args.workers])  # starts the pool
    t_many, res_many = timed(engine.analyze_many, images)
    faces_many = sum(len(r) for r in res_many)
    print(f"(worker pool start-up and first {2 * args.workers} images: {t_start:.2f} s)")
    print(
        f"engine.analyze_many:                 {n / t_many:6.2f} images/s, {faces_many} faces, "
        f"{t_base / t_many:.2f}x baseline (target 1.5x)"
    )
    engine.close()


if __name__ == "__main__":
    main()
