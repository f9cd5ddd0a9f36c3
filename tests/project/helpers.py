"""Helpers for the project-file tests: rows to write and child processes to run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studio.core.ids import new_id, now_iso
from studio.project.store import Project

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def add_persona(project: Project, name: str = "Ada") -> str:
    """Insert a bare persona row and return its id."""
    pid = new_id()
    with project.atomic() as db:
        db["personas"].insert(
            {
                "id": pid,
                "name": name,
                "head_version_id": None,
                "created_at": now_iso(),
                "updated_at": now_iso(),
            }
        )
    return pid


def add_version(project: Project, persona_id: str, number: int, record: dict | None = None) -> str:
    """Insert a persona version row and return its id."""
    vid = new_id()
    with project.atomic() as db:
        db["persona_versions"].insert(
            {
                "id": vid,
                "persona_id": persona_id,
                "number": number,
                "parent_id": None,
                "record": json.dumps(record or {"n": number}),
                "note": "",
                "created_at": now_iso(),
            }
        )
    return vid


def spawn(script: str, *args: object) -> subprocess.Popen:
    """Start one of the helper scripts in this folder as a child Python process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def run_child(script: str, *args: object, timeout: float = 30) -> dict:
    """Run a helper script to completion and return the JSON object it prints last."""
    proc = spawn(script, *args)
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.strip()]
    assert proc.returncode == 0 and lines, f"child failed ({proc.returncode}): {err}"
    return json.loads(lines[-1])
