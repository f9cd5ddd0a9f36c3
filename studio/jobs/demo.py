"""Build the demo project: persona, versions, references imported and audited like a user's."""

from __future__ import annotations

import tempfile
from pathlib import Path

from studio.jobs.library import audit_persona, import_references
from studio.services import audit, personas
from studio.services.demo import write_demo, write_reference_files
from studio.services.projects import open_project


def build_demo(path: str | Path, *, overwrite: bool = False) -> Path:
    """The demo project at `path`, its references imported, tagged and checked."""
    p = write_demo(path, overwrite=overwrite)
    with open_project(p) as project, tempfile.TemporaryDirectory() as tmp:
        persona = personas.list_personas(project)[0]
        tags = write_reference_files(Path(tmp))
        report = import_references(project, persona.id, [Path(tmp) / name for name in tags])
        for path_text, reference_id, _ in report.imported:
            audit.set_tags(project, [reference_id], add=tags[Path(path_text).name])
        audit_persona(project, persona.id)
    return p
