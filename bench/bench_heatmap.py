"""Drift heat map painting: 100 shots x 1,000 frames, against drawing a ready-made image.

Times, offscreen, with the widget sized so the whole matrix is on screen at one pixel a frame:
- building the cache (the colour image and the overlay runs, from set_rows);
- a repaint from the cache (what hover and scrolling cost: nothing is rebuilt);
- update_flags with new flags (what a threshold slider costs per move, repaint included);
- a compressed view (0.5 pixels a frame: every column the worst of two frames), build + paint;
- the baseline: QPainter drawing a pre-made QImage of the widget's size onto another.
Prints medians in ms, the ratio of each to the baseline, and each against the 30 ms target.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_heatmap.py [--shots N --frames N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio.ui.drift_heatmap import DriftHeatmap, HeatRow, LayerScale  # noqa: E402

TARGET_MS = 30.0
SCALES = {
    "identity": LayerScale("identity", "Identity (similarity to references)", 0.4, 1.0, True, 0.7),
    "wardrobe": LayerScale("wardrobe", "Wardrobe (distance)", 0.0, 0.6, False, 0.35),
}


def make_rows(shots: int, frames: int, seed: int = 0) -> list[HeatRow]:
    """Shots of `frames` frames with drifted runs, unmeasurable runs, flags and reviews."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(shots):
        ident = (0.88 + 0.03 * np.sin(np.arange(frames) / 17 + i)).astype(np.float32)
        ident += rng.normal(0, 0.015, frames).astype(np.float32)
        for _ in range(3):
            a = int(rng.integers(0, frames - 40))
            ident[a : a + int(rng.integers(5, 40))] -= 0.3
        a = int(rng.integers(0, frames - 30))
        ident[a : a + 25] = np.nan
        review = np.zeros(frames, np.int8)
        review[: frames // 5] = 2
        review[frames // 2 : frames // 2 + 20] = 1
        rows.append(
            HeatRow(
                f"s{i}",
                f"Shot {i:03d}",
                24.0,
                np.arange(frames) / 24.0,
                {"identity": ident, "wardrobe": rng.random(frames).astype(np.float32) * 0.5},
                ident < 0.7,
                review,
                rng.random(frames) < 0.002,
            )
        )
    return rows


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    rows = make_rows(args.shots, args.frames)

    w = DriftHeatmap()
    w.set_scales(SCALES)
    w.set_rows(rows)
    w.set_zoom(1)
    m = w.matrix_rect()
    w.resize(m.x() + args.frames + 40, m.y() + args.shots * 20 + 40)
    w.show()
    app.processEvents()
    assert not w.hbar.isVisible() and not w.vbar.isVisible(), "the matrix must fit on screen"
    target = QImage(w.size(), QImage.Format.Format_ARGB32_Premultiplied)

    def paint() -> None:
        w.render(target)

    def build() -> None:
        w.set_rows(rows)  # drops the cache
        w._ensure_image()

    flag_sets = [[r.values["identity"] < t for r in rows] for t in (0.6, 0.7, 0.8)]
    k = iter(range(10**9))

    def flags_and_paint() -> None:
        w.update_flags(flag_sets[next(k) % 3])
        paint()

    def flags_only() -> None:
        w.update_flags(flag_sets[next(k) % 3])

    picture = QImage(w.size(), QImage.Format.Format_ARGB32_Premultiplied)
    picture.fill(0xFF336699)

    def baseline() -> None:
        p = QPainter(target)
        p.drawImage(0, 0, picture)
        p.end()

    paint()
    baseline()
    base = median_ms(baseline, args.repeat)
    figures = [("build the cache", median_ms(build, args.repeat))]
    paint()
    builds = w.colour_builds
    figures.append(("repaint from the cache", median_ms(paint, args.repeat)))
    assert w.colour_builds == builds, "a repaint must not rebuild the colours"
    figures.append(("update_flags alone", median_ms(flags_only, args.repeat)))
    figures.append(("update_flags + repaint", median_ms(flags_and_paint, args.repeat)))
    assert w.colour_builds == builds, "update_flags must not rebuild the colours"

    def compressed() -> None:
        w.set_zoom(0.5)
        w._ensure_image()
        paint()
        w.set_zoom(1)

    figures.append(("zoom 0.5 (compressed): build + paint", median_ms(compressed, args.repeat)))

    print(
        f"{args.shots} shots x {args.frames} frames, widget {w.width()}x{w.height()} px, "
        f"{args.repeat} runs each, medians"
    )
    print(f"  {'baseline: drawImage of a ready image':40s} {base:7.2f} ms")
    for name, ms in figures:
        verdict = "ok" if ms < TARGET_MS else "OVER"
        print(
            f"  {name:40s} {ms:7.2f} ms  {ms / base:6.1f}x baseline  "
            f"{ms / TARGET_MS:5.0%} of the {TARGET_MS:.0f} ms target ({verdict})"
        )


if __name__ == "__main__":
    main()
