"""The job queue as use cases: enqueue specs, commit finished units, read the queue."""

from __future__ import annotations

import os
from collections.abc import Callable

from studio.core.changes import Changes
from studio.core.ids import now_iso
from studio.core.jobs import JobSpec
from studio.core.records import JobRecord
from studio.core.specs import spec_from_dict
from studio.core.states import FINISHED_STATES, STOPPED_STATES
from studio.project import job_results
from studio.project import jobs as rows
from studio.project.store import Project

list_jobs = rows.list_jobs
get_job = rows.get_job
done_units = rows.done_units
interrupt_active = rows.interrupt_active


def enqueue(project: Project, spec: JobSpec, total: int) -> JobRecord:
    """Persist a spec as a queued job."""
    return rows.insert_job(project, spec.kind, spec.title or spec.kind, spec.to_dict(), total)


def spec_of(job: JobRecord) -> JobSpec:
    """The immutable spec a persisted job was planned with."""
    return spec_from_dict(job.kind, job.spec)


def commit_unit(
    project: Project,
    job_id: str,
    unit: str,
    done: int,
    message: str,
    store: Callable[[], Changes | None],
) -> Changes | None:
    """Store one unit's result and mark it finished in the same transaction; returns the change
    record `store` returned (None: nothing a view shows changed)."""
    with project.atomic():
        changed = store()
        rows.mark_unit_done(project, job_id, unit, done, message)
    return changed


def set_state(project: Project, job_id: str, state: str, **fields) -> None:
    """Move a job to a new state, stamping start and finish times."""
    if state == "running":
        fields.setdefault("started_at", now_iso())
        fields.setdefault("finished_at", None)
        fields.setdefault("error", "")
    elif state in STOPPED_STATES:
        fields.setdefault("finished_at", now_iso())
    rows.update_job(project, job_id, state=state, **fields)


def add_problem(project: Project, job_id: str, problem: str) -> None:
    """Append one line to a job's list of problems found so far."""
    job = rows.get_job(project, job_id)
    lines = [line for line in job.error.split("\n") if line] + [problem]
    rows.update_job(project, job_id, error="\n".join(lines))


def problems(project: Project, job_id: str) -> list[str]:
    """Why parts of a job were refused or failed, a line each: its problems, then refused units."""
    job = rows.get_job(project, job_id)
    lines = [line for line in job.error.split("\n") if line]
    for unit, (outcome, detail) in job_results.unit_results(project, job.id).items():
        if outcome == "rejected":
            name = os.path.basename(unit)
            reason = detail.get("reason", "") or "refused"
            if reason.startswith(name + ": "):  # some readers name the file themselves
                reason = reason[len(name) + 2 :]
            lines.append(f"{name}: {reason}")
    return lines


def clear_finished(project: Project) -> int:
    """Remove finished, failed and cancelled jobs from the queue; interrupted ones stay."""
    return rows.delete_jobs(project, FINISHED_STATES)
