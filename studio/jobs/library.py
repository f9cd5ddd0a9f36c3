"""Reference library work run to its end in the calling thread (the CLI's way)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from studio.core.errors import JobError
from studio.core.imports import ImportReport
from studio.core.jobs import CancelToken, Progress
from studio.core.states import FAILED
from studio.jobs.runner import JobRunner
from studio.project.store import Project
from studio.services import imports
from studio.services import jobs as job_service


def import_references(
    project: Project,
    persona_key: str,
    paths: Iterable[str | os.PathLike],
    tags: Iterable[str] = (),
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> ImportReport:
    """Import files and folders into a persona's references and report what became of each.

    A cancelled import returns the report so far (its `pending` files, `job_id` to resume).
    """
    spec = imports.plan_import(project, persona_key, paths, tags)
    job = JobRunner(project).run(spec, progress, cancel)
    return _report(project, job.id)


def resume_import(
    project: Project,
    job_id: str,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> ImportReport:
    """Finish a cancelled or interrupted import; files already imported are not read again."""
    imports.import_report(project, job_id)  # JobError now if the job is not an import
    job = JobRunner(project).run(job_id, progress, cancel)
    return _report(project, job.id)


def _report(project: Project, job_id: str) -> ImportReport:
    report = imports.import_report(project, job_id)
    job = job_service.get_job(project, job_id)
    if job.state == FAILED:
        raise JobError(f"The import stopped: {job.message}", hint="Resume it once that is fixed.")
    return report


def audit_persona(
    project: Project,
    persona_key: str,
    engine: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """Check a persona's references with a face engine (only images not yet scanned by it)."""
    from studio.services import audit

    job = JobRunner(project).run(audit.plan_audit(project, persona_key, engine), progress, cancel)
    if job.state == FAILED:
        raise JobError(f"The audit stopped: {job.error or job.message}")
    return job.message
