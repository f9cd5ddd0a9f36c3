"""Create, open, check, copy and restore project files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio import __version__
from studio.core.errors import ProjectError, StudioError
from studio.core.states import ACTIVE_STATES
from studio.project import store
from studio.project.store import Project

SUFFIX = ".pstudio"


def project_path(path: str | Path) -> Path:
    """The path with the project suffix added when it has none."""
    p = Path(path).expanduser()
    return p if p.suffix else p.with_suffix(SUFFIX)


def new_project(path: str | Path, persona_name: str | None = None) -> Project:
    """Create a project file, with a first persona when a name is given."""
    p = project_path(path)
    if p.exists():
        raise ProjectError(f"{p} already exists.", hint="Choose another file name or open it.")
    if not p.parent.is_dir():
        raise ProjectError(f"The folder {p.parent} does not exist.", hint="Create it first.")
    from studio.core.persona import default_record
    from studio.project import personas as persona_rows

    project = Project.create(p)
    if persona_name:
        try:
            persona_rows.create_persona(
                project, persona_name.strip(), default_record(persona_name.strip()), "Created"
            )
        except BaseException:
            project.close()
            raise
    return project


def open_project(path: str | Path, *, read_only: bool = False) -> Project:
    """Open a project; jobs left running by a crash or quit become interrupted."""
    from studio.project import jobs as job_rows  # not needed by the read-only CLI verbs

    project = Project.open(Path(path).expanduser(), read_only=read_only)
    if not read_only:
        try:
            job_rows.interrupt_active(project)
        except BaseException:
            project.close()
            raise
    return project


def check_project(path: str | Path) -> dict[str, Any]:
    """Integrity, schema version and row counts of a project, read without taking the lock."""
    p = Path(path).expanduser()
    with Project.open(p, read_only=True) as project:
        jobs: dict[str, int] = {}
        for row in project.query("select state, count(*) as n from jobs group by state"):
            jobs[row["state"]] = row["n"]
        return {
            "path": str(p.resolve()),
            "integrity": "ok",  # opening ran quick_check; a damaged file raised already
            "schema_version": project.schema_version,
            "app_version": __version__,
            "counts": project.counts(),
            "jobs": jobs,
            "active_jobs": sum(jobs.get(s, 0) for s in ACTIVE_STATES),
            "backups": [str(b) for b in project.backups()],
        }


def save_copy(project: Project, dest: str | Path) -> Path:
    """Write a consistent copy of the open project (SQLite backup API)."""
    d = project_path(dest)
    if d.resolve() == project.path.resolve():
        raise StudioError("A copy cannot replace the project itself.", hint="Choose another name.")
    return project.save_copy(d)


def restore_project(path: str | Path, backup: str | Path) -> Path:
    """Replace a damaged project with a backup; returns where the damaged file was moved."""
    b = Path(backup).expanduser()
    if not b.is_file():
        raise ProjectError(f"There is no backup file {b}.", hint="Check the path and try again.")
    return store.restore(Path(path).expanduser(), b)
