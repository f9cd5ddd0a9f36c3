"""What each finished unit of a job came to, kept so a job's report survives a restart."""

from __future__ import annotations

import json
from typing import Any

from studio.project.store import Project


def put_unit_result(
    project: Project, job_id: str, unit: str, outcome: str, detail: dict[str, Any]
) -> None:
    """Record a unit's outcome; call inside the transaction that marks the unit done."""
    with project.atomic() as db:
        db.execute(
            "insert or replace into job_unit_results (job_id, unit, outcome, detail)"
            " values (?, ?, ?, ?)",
            (job_id, unit, outcome, json.dumps(detail)),
        )


def unit_results(project: Project, job_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each recorded unit of the job: unit -> (outcome, detail)."""
    rows = project.query(
        "select unit, outcome, detail from job_unit_results where job_id = ?", (job_id,)
    )
    return {r["unit"]: (r["outcome"], json.loads(r["detail"] or "{}")) for r in rows}
