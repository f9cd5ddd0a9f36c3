"""Project file at scale: open time, history load, CLI start-up, and where rendered pictures live.

Builds a project with 1,000 personas x 10 versions and 100,000 frame rows, then prints:
- time to open it (target under 0.2 s),
- time to load one persona's history,
- `persona-studio --version` and `persona-studio check` start-up as a ratio to a bare
  `python -c pass` measured in the same run (target under 5x).

Then stores rendered 1024x1024 takes (PNG-sized payloads of 1.2-1.6 MB) twice, through the
same `store_take` the render job uses: once with the pictures inside the .pstudio file, once
with them beside it in the assets folder (what the studio does), and prints for each the time
to store them, to open the project (target under 0.2 s), the size of the .pstudio file and of
the assets, and the time of a backup (the snapshot made before a migration). The default is
1,000 takes with the figures extrapolated to 10,000; --full-takes stores 10,000 (about 14 GB
per layout, 28 GB of free disk at the peak).
Run: .venv/bin/python bench/bench_project.py [--personas N] [--frames N] [--takes N]
     [--full-takes] [--skip-base]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio.core.ids import new_id, now_iso
from studio.core.persona import default_record, set_path
from studio.core.render import RenderSettings
from studio.project import blobs
from studio.project import personas as persona_rows
from studio.project import renders as render_rows
from studio.services import personas, renders
from studio.services.projects import new_project, open_project

TAKE_SIDE = 1024
TAKE_BYTES = (1_200_000, 1_600_000)  # what a 1024x1024 rendered PNG weighs
FULL_TAKES = 10_000


def build(path: Path, n_personas: int, n_versions: int, n_frames: int) -> None:
    with new_project(path) as project:
        with project.atomic():
            for i in range(n_personas):
                record = default_record(f"Persona {i:04d}")
                v = persona_rows.create_persona(project, f"Persona {i:04d}", record, "Created")
                parent = v.id
                for k in range(1, n_versions):
                    record = set_path(
                        record, "lighting.colour_temperature_k", 3000 + k * 100, create=True
                    )
                    parent = persona_rows.add_version(
                        project, v.persona_id, record, f"v{k + 1}", parent
                    ).id
            shot_id = new_id()
            project.db["shots"].insert(
                {
                    "id": shot_id,
                    "name": "Long shot",
                    "notes": "",
                    "position": 0,
                    "fps": 24.0,
                    "source": "bench",
                    "created_at": now_iso(),
                }
            )
            project.db["frames"].insert_all(
                (
                    {
                        "id": new_id(),
                        "shot_id": shot_id,
                        "idx": i,
                        "blob_sha": None,
                        "timecode_s": i / 24.0,
                        "source": "bench",
                    }
                    for i in range(n_frames)
                ),
                batch_size=5000,
            )


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# As a user's machine runs them: with cached bytecode (the first, untimed run writes it).
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_cmd(args: list[str]) -> None:
    subprocess.run(
        args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=USER_ENV
    )


# -- rendered takes ---------------------------------------------------------------------------


@contextlib.contextmanager
def pictures_inside():
    """Store every picture inside the .pstudio file, as the studio did before it kept large
    ones beside it, to measure what that choice costs."""
    real = blobs.put_blob

    def inside(project, data, mime, *, large_outside=False):
        return real(project, data, mime)

    blobs.put_blob = inside
    try:
        yield
    finally:
        blobs.put_blob = real


def payloads(n: int):
    """n distinct PNG-sized payloads, made quickly: slices of one random pool, each stamped."""
    rng = random.Random(0)
    pool = os.urandom(TAKE_BYTES[1] + 4096)
    for i in range(n):
        size = rng.randint(*TAKE_BYTES)
        start = rng.randrange(4096)
        yield b"\x89PNG\r\n\x1a\n" + i.to_bytes(8, "big") + pool[start : start + size - 16]


def provenance(i: int, persona) -> dict:
    return {
        "persona_id": persona.persona_id,
        "persona_version_id": persona.id,
        "seed": 1_000_000 + i,
        "model_sha": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
        "model_name": "sdxl-base",
        "family": "sdxl",
        "mode": "txt2img",
        "width": TAKE_SIDE,
        "height": TAKE_SIDE,
        "steps": 30,
        "guidance": 6.0,
        "sampler": "DPM++ 2M Karras",
        "prompt": "photo of ada, 34-year-old woman, auburn bob, walking through rain at night, "
        "neon signs, 85mm, eye level, medium shot, rembrandt lighting, film grain",
        "negative": "blurry, lowres, extra fingers, watermark",
        "loras": [{"name": "ada-v3", "sha256": "1" * 64, "weight": 0.8}],
        "adapters": [{"name": "ip-plus-face", "sha256": "2" * 64, "scale": 0.6}],
        "reference_shas": [f"{k}" * 64 for k in "345"],
        "device": "cuda:0",
        "seconds": 3.2,
    }


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_takes(folder: Path, n: int, inside: bool, repeat: int) -> dict:
    """Store n takes in a new project and measure it; the files are deleted afterwards.

    Open and backup times are measured on the empty project too, so the figures extrapolate
    as a fixed cost plus a cost per take.
    """
    path = folder / ("inside.pstudio" if inside else "beside.pstudio")

    def open_close():
        open_project(path).close()

    def measure() -> tuple[float, float]:
        open_close()  # the first open after writing pays for nothing the user would not
        open_s = min(timed(open_close, repeat))  # the least disturbed by other work
        with open_project(path) as project:
            t0 = time.perf_counter()
            project.backup("bench").unlink()
            return open_s, time.perf_counter() - t0

    with new_project(path, "Ada") as project:
        version = personas.get_version(project, "Ada")
        shot = renders.add_render_shot(
            project, "Long take", ["Ada"], RenderSettings(frames=min(n, 10_000))
        )
    empty_open_s, empty_backup_s = measure()
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if inside:
            stack.enter_context(pictures_inside())
        with open_project(path) as project:
            for i, data in enumerate(payloads(n)):
                render_rows.store_take(project, shot.id, i, data, provenance(i, version))
    store_s = time.perf_counter() - t0
    db_bytes = path.stat().st_size
    assets = path.with_name(path.name + ".assets")
    asset_bytes = folder_bytes(assets) if assets.exists() else 0
    open_s, backup_s = measure()
    for leftover in (path.with_name(path.name + s) for s in (".assets", ".backups")):
        shutil.rmtree(leftover, ignore_errors=True)
    path.unlink()
    return {
        "store_s": store_s,
        "open_s": open_s,
        "empty_open_s": empty_open_s,
        "db_bytes": db_bytes,
        "asset_bytes": asset_bytes,
        "backup_s": backup_s,
        "empty_backup_s": empty_backup_s,
    }


def _at(r: dict, key: str, scale: float) -> float:
    """A figure at `scale` times the takes: its fixed part plus its per-take part scaled."""
    fixed = r.get(f"empty_{key}", 0.0)
    return fixed + max(0.0, r[key] - fixed) * scale


def print_takes(n: int, results: dict[str, dict]) -> None:
    scale = FULL_TAKES / n
    note = "" if n >= FULL_TAKES else f" (measured with {n:,}; x{scale:g} extrapolated)"
    print(f"\n{n:,} rendered {TAKE_SIDE}x{TAKE_SIDE} takes{note}")
    head = f"{'pictures':<24}{'store':>10}{'open':>10}{'.pstudio':>11}{'assets':>11}{'backup':>10}"
    print(head)
    for name, r in results.items():
        print(
            f"{name:<24}{r['store_s']:>9.1f}s{r['open_s'] * 1000:>8.1f}ms"
            f"{r['db_bytes'] / 1e9:>9.2f}GB{r['asset_bytes'] / 1e9:>9.2f}GB{r['backup_s']:>9.2f}s"
        )
        if n < FULL_TAKES:
            # Opening runs a quick_check over the whole file: it grows with the file's size.
            label = f"  at {FULL_TAKES:,}"
            print(
                f"{label:<24}{r['store_s'] * scale:>9.1f}s"
                f"{_at(r, 'open_s', scale) * 1000:>8.1f}ms{r['db_bytes'] * scale / 1e9:>9.2f}GB"
                f"{r['asset_bytes'] * scale / 1e9:>9.2f}GB{_at(r, 'backup_s', scale):>9.2f}s"
            )
    inside, beside = results["inside the file"], results["beside it (assets)"]
    print(
        f"beside vs inside: open {inside['open_s'] / beside['open_s']:.0f}x faster, "
        f"backup {inside['backup_s'] / beside['backup_s']:.0f}x faster, "
        f".pstudio {inside['db_bytes'] / beside['db_bytes']:.0f}x smaller"
    )
    meets = _at(beside, "open_s", scale) < 0.2
    verdict = "beside the file" if meets else "beside the file, though it opens over 0.2 s"
    print(f"choice: rendered pictures over {blobs.LARGE_BLOB // 1024} KB live {verdict}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--personas", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--takes", type=int, default=1000, help="rendered takes per layout (0: none)")
    ap.add_argument("--full-takes", action="store_true", help=f"store {FULL_TAKES:,} takes")
    ap.add_argument("--skip-base", action="store_true", help="only the rendered takes")
    a = ap.parse_args()
    takes = FULL_TAKES if a.full_takes else a.takes

    if not a.skip_base:
        bench_base(a)
    if takes:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
            results = {
                "inside the file": bench_takes(Path(tmp), takes, True, min(a.repeat, 3)),
                "beside it (assets)": bench_takes(Path(tmp), takes, False, a.repeat),
            }
        print_takes(takes, results)
    return 0


def bench_base(a: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.pstudio"
        t0 = time.perf_counter()
        build(path, a.personas, a.versions, a.frames)
        print(
            f"built {a.personas} personas x {a.versions} versions + {a.frames} frames "
            f"in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.1f} MB)"
        )

        def open_close():
            open_project(path).close()

        open_s = statistics.median(timed(open_close, a.repeat))
        with open_project(path, read_only=True) as project:
            target = personas.get_persona(project, f"Persona {a.personas // 2:04d}")
            hist_s = statistics.median(
                timed(lambda: personas.history(project, target.id), a.repeat)
            )
        print(f"open project:          {open_s * 1000:7.1f} ms  (target < 200 ms)")
        print(f"load persona history:  {hist_s * 1000:7.1f} ms  ({a.versions} versions)")

        exe = str(Path(sys.executable).with_name("persona-studio"))
        for warm in ([sys.executable, "-c", "pass"], [exe, "--version"], [exe, "check", str(path)]):
            run_cmd(warm)
        base = statistics.median(timed(lambda: run_cmd([sys.executable, "-c", "pass"]), a.repeat))
        ver = statistics.median(timed(lambda: run_cmd([exe, "--version"]), a.repeat))
        chk = statistics.median(timed(lambda: run_cmd([exe, "check", str(path)]), a.repeat))
        print(f"python -c pass:        {base * 1000:7.1f} ms  (baseline)")
        print(
            f"persona-studio --version {ver * 1000:7.1f} ms  ratio {ver / base:4.1f}x (target < 5x)"
        )
        print(
            f"persona-studio check   {chk * 1000:7.1f} ms  ratio {chk / base:4.1f}x (target < 5x)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
