"""Timeline smoothness with a long film, against a one-screen timeline.

Builds two projects in a temporary folder: a large one (100 shots of 100 frames by default)
and a small one (5 shots of 16 frames, about one screen). Every frame has its own picture and
a drift score (a tenth of them flagged, a tenth not measurable). The Timeline workspace then
opens each project offscreen at 1440x900 and
- times the open on the GUI thread (every lane and its frames; the verdicts are read on a
  thread, timed until they are marked) and moving the first shot to the end (one undo step,
  the lanes following);
- scrolls the lanes from top to bottom a page at a time, then the film strips from left to
  right, painting the viewport synchronously at each position, first before the pictures
  arrive (placeholders) and then again once they were decoded off-thread;
- counts the database statements run on the GUI thread while painting (the lanes must paint
  from memory: the target is 0).
Prints the paint times per scroll step (target under 30 ms) and the ratio of the large
timeline's mean paint to the small one's (target about 1: painting does not grow with the film).
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_timeline.py [--shots N --frames N]
"""

from __future__ import annotations

import argparse
import io
import json
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

from studio.core.shots import ImportedFrame  # noqa: E402
from studio.project import shots as shot_rows  # noqa: E402
from studio.project.settings import set_setting  # noqa: E402
from studio.services import audit, drift, personas  # noqa: E402
from studio.services.projects import new_project  # noqa: E402


def _picture(i: int) -> bytes:
    im = Image.new("RGB", (160, 90), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    ImageDraw.Draw(im).ellipse((60, 15, 100, 75), fill=(230, 190, 160))
    ImageDraw.Draw(im).text((4, 4), f"{i:05d}", fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def build(path: Path, shots: int, frames: int) -> None:
    """A project with `shots` footage shots of `frames` frames, each frame scored for drift."""
    project = new_project(path, "Nova Hale")
    persona = personas.get_persona(project, "Nova Hale")
    # As if the face engine had run here: the verdicts read scores of this engine's id.
    engine = "dlib:bench"
    set_setting(project, audit.ENGINE_IDS_SETTING, {audit.default_engine(project): engine})
    models = drift.persona_models(project, engine)
    inputs = json.dumps(drift.score_inputs(models, persona.id, None) if models else {})
    n = 0
    with project.atomic() as db:
        for s in range(shots):
            data = []
            for k in range(frames):
                data.append(ImportedFrame(k, k, k / 24, _picture(n), "image/jpeg", 160, 90))
                n += 1
            shot = shot_rows.add_shot(
                project, f"Shot {s + 1:03d}", [persona.id], data, source_kind="video", fps=24.0
            )
            for k, frame in enumerate(shot_rows.frames_of(project, shot.id)):
                measured = k % 10 != 9
                identity = 0.5 if k % 10 == 3 else 0.99  # a tenth drifts from her
                score = {"state": "measured" if measured else "unmeasurable", "faces": 1}
                if measured:
                    score["identity"] = identity
                else:
                    score["reason"] = "no face found"
                db.execute(
                    "insert into cache_drift (frame_id, persona_id, engine_id, state, identity,"
                    " inputs, score, created_at) values (?, ?, ?, ?, ?, ?, ?, '')",
                    (frame.id, persona.id, engine, score["state"],
                     identity if measured else None, inputs, json.dumps(score)),
                )  # fmt: skip
    project.close()


def measure(app: QApplication, path: Path, settings: Path) -> dict:
    from studio.ui.main_window import MainWindow

    window = MainWindow(QSettings(str(settings), QSettings.Format.IniFormat))
    window.resize(1440, 900)
    window.show()
    assert window.open_project(path)
    window.show_workspace("timeline")
    ws = window.timeline_workspace
    lanes = ws.lanes
    app.processEvents()
    while ws.reading_verdicts:  # the open's own read
        app.processEvents()
    t0 = time.perf_counter()
    ws.reload()  # the lanes at once; their verdicts on a thread
    open_ms = (time.perf_counter() - t0) * 1000
    while ws.reading_verdicts:
        app.processEvents()
        time.sleep(0.002)
    verdicts_ms = (time.perf_counter() - t0) * 1000
    flagged = sum(r.count("flagged") for r in lanes.rows())
    first = lanes.rows()[0].id
    t0 = time.perf_counter()
    ws.move_shot(first, len(lanes.rows()) - 1)  # one undo step: the edit and the lanes following
    move_ms = (time.perf_counter() - t0) * 1000
    assert lanes.rows()[-1].id == first

    # Statements run on the GUI thread inside a paint (other work between paints, such as the
    # Drift workspace following the move, is not painting).
    gui = threading.get_ident()
    statements: list[str] = []
    painting = [False]
    window.project._conn.set_trace_callback(
        lambda sql: statements.append(sql) if painting[0] and threading.get_ident() == gui else None
    )
    viewport = lanes.viewport()

    def sweep(bar) -> list[float]:
        times = []
        for value in range(bar.minimum(), bar.maximum() + bar.pageStep(), bar.pageStep()):
            bar.setValue(min(value, bar.maximum()))
            painting[0] = True
            t = time.perf_counter()
            viewport.repaint()
            times.append((time.perf_counter() - t) * 1000)
            painting[0] = False
            app.processEvents()
        return times

    def both() -> list[float]:
        v, h = lanes.verticalScrollBar(), lanes.horizontalScrollBar()
        v.setValue(0)
        h.setValue(0)
        times = sweep(v)
        v.setValue(0)
        return times + sweep(h)

    cold = both()  # placeholders: pictures are requested while painting
    lanes.wait_pictures(120)
    app.processEvents()
    warm = both()  # pictures in memory where they were asked for; the rest asked now
    gui_statements = len(statements)
    window.project._conn.set_trace_callback(None)
    result = {
        "open_ms": open_ms,
        "verdicts_ms": verdicts_ms,
        "move_ms": move_ms,
        "lanes": len(lanes.rows()),
        "flagged": flagged,
        "steps": len(cold),
        "cold_mean": statistics.mean(cold),
        "cold_max": max(cold),
        "warm_mean": statistics.mean(warm),
        "warm_max": max(warm),
        "gui_statements": gui_statements,
        "pictures_held": lanes.pictures_loaded(),
    }
    window.close_project()
    window.close()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=100)
    ap.add_argument("--frames", type=int, default=100)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as tmp:
        folder = Path(tmp)
        os.environ["HOME"] = str(folder)  # the window's settings and recent files stay here
        t = time.perf_counter()
        build(folder / "large.pstudio", args.shots, args.frames)
        build(folder / "small.pstudio", 5, 16)
        print(f"built {args.shots}x{args.frames} + 5x16 frames in {time.perf_counter() - t:.1f} s")
        small = measure(app, folder / "small.pstudio", folder / "s1.ini")
        large = measure(app, folder / "large.pstudio", folder / "s2.ini")
    for name, r in (("small (5x16)", small), (f"large ({args.shots}x{args.frames})", large)):
        print(
            f"{name:>16}: open {r['open_ms']:.0f} ms on the GUI thread, verdicts marked after "
            f"{r['verdicts_ms']:.0f} ms ({r['lanes']} lanes, {r['flagged']} flagged "
            f"frames), move a shot {r['move_ms']:.0f} ms; {r['steps']} scroll steps, paint "
            f"mean {r['cold_mean']:.1f} ms, max "
            f"{r['cold_max']:.1f} ms; with pictures mean {r['warm_mean']:.1f} ms, max "
            f"{r['warm_max']:.1f} ms; {r['gui_statements']} database statements on the GUI "
            f"thread while painting; {r['pictures_held']} pictures in memory"
        )
    cold = large["cold_mean"] / small["cold_mean"]
    warm = large["warm_mean"] / small["warm_mean"]
    print(
        f"paint time, large / small timeline: {cold:.2f}x before the pictures, {warm:.2f}x with "
        "them (target about 1; under 30 ms a paint)"
    )
    return 0 if large["gui_statements"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
