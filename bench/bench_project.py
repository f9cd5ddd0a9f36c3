"""Project file at scale: open time, history load, and CLI start-up against `python -c pass`.

Builds a project with 1,000 personas x 10 versions and 100,000 frame rows, then prints:
- time to open it (target under 0.2 s),
- time to load one persona's history,
- `persona-studio --version` and `persona-studio check` start-up as a ratio to a bare
  `python -c pass` measured in the same run (target under 5x).
Run: .venv/bin/python bench/bench_project.py [--personas N] [--frames N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio.core.ids import new_id, now_iso
from studio.core.persona import default_record, set_path
from studio.project import personas as persona_rows
from studio.services import personas
from studio.services.projects import new_project, open_project


def build(path: Path, n_personas: int, n_versions: int, n_frames: int) -> None:
    with new_project(path) as project:
        with project.atomic():
            for i in range(n_personas):
                record = default_record(f"Persona {i:04d}")
                v = persona_rows.create_persona(project, f"Persona {i:04d}", record, "Created")
                parent = v.id
                for k in range(1, n_versions):
                    record = set_path(record, "lighting.colour_temperature_k", 3000 + k * 100)
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--personas", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
