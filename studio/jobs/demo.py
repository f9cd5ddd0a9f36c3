"""Build the demo project: persona, versions, references and footage imported and checked
like a user's."""

from __future__ import annotations

import tempfile
from pathlib import Path

from studio.jobs.library import audit_persona, import_references
from studio.jobs.runner import JobRunner
from studio.services import audit, drift, personas, shots
from studio.services.demo import (
    FOOTAGE_FPS,
    write_demo,
    write_demo_footage,
    write_reference_files,
)
from studio.services.projects import open_project


def build_demo(path: str | Path, *, overwrite: bool = False) -> Path:
    """The demo project at `path`: references imported, tagged and checked; footage imported
    as shots and analysed for drift."""
    p = write_demo(path, overwrite=overwrite)
    with open_project(p) as project, tempfile.TemporaryDirectory() as tmp:
        persona = personas.list_personas(project)[0]
        tags = write_reference_files(Path(tmp))
        report = import_references(project, persona.id, [Path(tmp) / name for name in tags])
        for path_text, reference_id, _ in report.imported:
            audit.set_tags(project, [reference_id], add=tags[Path(path_text).name])
        audit_persona(project, persona.id)
        footage = write_demo_footage(Path(tmp) / "footage")
        runner = JobRunner(project)
        runner.run(shots.plan_footage_import(project, [persona.id], footage, fps=FOOTAGE_FPS))
        runner.run(drift.plan_analysis(project, thorough=True))
    return p
