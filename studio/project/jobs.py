"""The persisted job queue: specs, states, progress and the units each job has finished."""

from __future__ import annotations

import json
from typing import Any

from studio.core.errors import NotFoundError
from studio.core.ids import new_id, now_iso
from studio.core.records import JobRecord
from studio.core.states import ACTIVE_STATES, INTERRUPTED
from studio.project.store import Project


def _job(row: dict) -> JobRecord:
    return JobRecord(
        id=row["id"],
        kind=row["kind"],
        title=row["title"] or row["kind"],
        spec=json.loads(row["spec"] or "{}"),
        state=row["state"],
        done=row["done"] or 0,
        total=row["total"] or 0,
        message=row["message"] or "",
        error=row["error"] or "",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def insert_job(
    project: Project, kind: str, title: str, spec: dict[str, Any], total: int
) -> JobRecord:
    """Persist a new queued job."""
    now = now_iso()
    row = {
        "id": new_id(),
        "kind": kind,
        "title": title,
        "spec": json.dumps(spec),
        "state": "queued",
        "done": 0,
        "total": total,
        "message": "",
        "error": "",
        "created_at": now,
        "started_at": None,
        "updated_at": now,
        "finished_at": None,
    }
    with project.atomic():
        project.db["jobs"].insert(row)
    return _job(row)


def get_job(project: Project, job_id: str) -> JobRecord:
    """A job by id (a unique prefix of it is enough)."""
    rows = project.query("select * from jobs where id like ? order by created_at", (job_id + "%",))
    if len(rows) != 1:
        raise NotFoundError(
            f"There is no job '{job_id}' in this project."
            if not rows
            else f"'{job_id}' matches several jobs; give more of the id."
        )
    return _job(rows[0])


def list_jobs(project: Project, limit: int = 200) -> list[JobRecord]:
    """Jobs, newest first."""
    return [
        _job(r)
        for r in project.query("select * from jobs order by created_at desc limit ?", (limit,))
    ]


def update_job(project: Project, job_id: str, **fields: Any) -> None:
    """Set state, progress or message fields of a job."""
    fields["updated_at"] = now_iso()
    with project.atomic():
        project.db["jobs"].update(job_id, fields)


def mark_unit_done(project: Project, job_id: str, unit: str, done: int, message: str = "") -> None:
    """Record a finished unit; call inside the transaction that stores the unit's result."""
    with project.atomic():
        project.db["job_units"].insert(
            {"job_id": job_id, "unit": unit, "finished_at": now_iso()}, replace=True
        )
        project.db["jobs"].update(
            job_id, {"done": done, "message": message, "updated_at": now_iso()}
        )


def done_units(project: Project, job_id: str) -> set[str]:
    """Units of the job already committed."""
    return {
        r["unit"] for r in project.query("select unit from job_units where job_id = ?", (job_id,))
    }


def interrupt_active(project: Project) -> int:
    """Mark jobs left queued or running by a crashed or closed session as interrupted."""
    marks = ",".join("?" for _ in ACTIVE_STATES)
    rows = project.query(f"select id from jobs where state in ({marks})", ACTIVE_STATES)
    with project.atomic():
        for r in rows:
            project.db["jobs"].update(
                r["id"], {"state": INTERRUPTED, "message": "Interrupted", "updated_at": now_iso()}
            )
    return len(rows)


def delete_jobs(project: Project, states: tuple[str, ...]) -> int:
    """Remove the jobs in these states with their units and unit results; how many went."""
    marks = ",".join("?" for _ in states)
    with project.atomic() as db:
        cursor = db.execute(f"delete from jobs where state in ({marks})", states)
    return cursor.rowcount
