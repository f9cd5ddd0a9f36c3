"""Library grid smoothness with thousands of references, against a one-screen library.

Builds two projects in a temporary folder: a large one (N references, default 5,000) and a
small one (48 references, about one screen). Each reference has its own image and a cached
256-px thumbnail, as after an import. The Library workspace then opens each project offscreen
at 1440x900 and
- times the load (reading the references and their audit once);
- scrolls the grid from top to bottom a page at a time, painting the viewport synchronously at
  each position, first before the pictures arrive (placeholders) and then after they were
  decoded off-thread;
- counts the database statements run on the GUI thread while painting and scrolling (the
  tiles must paint from memory: the target is 0) and the pictures held in memory.
Prints the paint times and the ratio of the large library's mean paint to the small one's
(the target is about 1: painting does not grow with the library).
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_grid.py [--count N]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image, ImageDraw  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio.engine.images import thumbnail  # noqa: E402
from studio.services import library, personas  # noqa: E402
from studio.services.projects import new_project  # noqa: E402


def build(path: Path, count: int) -> None:
    """A project whose persona has `count` references, each with a cached thumbnail."""
    project = new_project(path, "Nova Hale")
    persona = personas.get_persona(project, "Nova Hale")
    with project.atomic():
        for i in range(count):
            im = Image.new("RGB", (320, 320), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
            ImageDraw.Draw(im).ellipse((80, 60, 240, 260), fill=(230, 190, 160))
            ImageDraw.Draw(im).text((10, 10), f"{i:05d}", fill=(255, 255, 255))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
            data = buf.getvalue()
            ref = library.add_reference_bytes(
                project,
                persona.id,
                data,
                mime="image/jpeg",
                file_name=f"ref-{i:05d}.jpg",
                source_path=f"/shoot/ref-{i:05d}.jpg",
                width=320,
                height=320,
            )
            library.store_thumbnail(
                project,
                ref.blob_sha,
                library.THUMBNAIL_SIZE,
                thumbnail(data, library.THUMBNAIL_SIZE),
            )
    project.close()


def measure(app: QApplication, path: Path, settings: Path) -> dict:
    from studio.ui.main_window import MainWindow

    window = MainWindow(QSettings(str(settings), QSettings.Format.IniFormat))
    window.resize(1440, 900)
    window.show()
    assert window.open_project(path)
    window.show_workspace("library")
    lib = window.library_browser
    t0 = time.perf_counter()
    lib.reload_rows(reset=True)
    load_ms = (time.perf_counter() - t0) * 1000
    bar = lib.grid.verticalScrollBar()
    t0 = time.perf_counter()
    last, since = -1, time.perf_counter()
    while time.perf_counter() - since < 0.3:  # tiles are laid out in batches between events
        app.processEvents()
        if bar.maximum() != last:
            last, since = bar.maximum(), time.perf_counter()
    layout_ms = (since - t0) * 1000

    gui = threading.get_ident()
    statements = []
    window.project._conn.set_trace_callback(
        lambda sql: statements.append(sql) if threading.get_ident() == gui else None
    )
    viewport = lib.grid.viewport()

    def sweep() -> list[float]:
        times = []
        for value in range(bar.minimum(), bar.maximum() + bar.pageStep(), bar.pageStep()):
            bar.setValue(min(value, bar.maximum()))
            t = time.perf_counter()
            viewport.repaint()
            times.append((time.perf_counter() - t) * 1000)
            app.processEvents()
        return times

    cold = sweep()  # placeholders: pictures are requested while painting
    gui_statements = len(statements)
    bar.setValue(bar.minimum())
    lib.model.wait_for_thumbnails(60000)
    app.processEvents()
    t = time.perf_counter()
    viewport.repaint()
    top_ms = (time.perf_counter() - t) * 1000
    held = len(lib.model._pixmaps)
    window.project._conn.set_trace_callback(None)
    result = {
        "load_ms": load_ms,
        "layout_ms": layout_ms,
        "pages": len(cold),
        "cold_mean": statistics.mean(cold),
        "cold_max": max(cold),
        "warm_top": top_ms,
        "gui_statements": gui_statements,
        "pictures_held": held,
    }
    window.close_project()
    window.close()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5000)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        folder = Path(tmp)
        os.environ["HOME"] = str(folder)  # the window's settings and recent files stay here
        t = time.perf_counter()
        build(folder / "large.pstudio", args.count)
        build(folder / "small.pstudio", 48)
        print(f"built {args.count} + 48 references in {time.perf_counter() - t:.1f} s")
        small = measure(app, folder / "small.pstudio", folder / "s1.ini")
        large = measure(app, folder / "large.pstudio", folder / "s2.ini")
    for name, r in (("small (48)", small), (f"large ({args.count})", large)):
        print(
            f"{name:>14}: load {r['load_ms']:.0f} ms, layout {r['layout_ms']:.0f} ms; "
            f"{r['pages']} pages scrolled, paint "
            f"mean {r['cold_mean']:.1f} ms, max {r['cold_max']:.1f} ms; with pictures "
            f"{r['warm_top']:.1f} ms; {r['gui_statements']} database statements on the GUI "
            f"thread while painting; {r['pictures_held']} pictures in memory"
        )
    ratio = large["cold_mean"] / small["cold_mean"]
    print(f"paint time, large / small library: {ratio:.2f}x (target about 1)")
    return 0 if large["gui_statements"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
