"""The bundled demo project: a complete persona with two versions and its references."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from studio.core.errors import ProjectError
from studio.core.persona import check_record
from studio.core.resources import load_json, resource_path
from studio.project import personas as persona_rows
from studio.services import library
from studio.services.projects import new_project, project_path

PORTRAIT = "demo/nova-portrait.jpg"


def _variants(source: Path) -> list[tuple[str, Image.Image, tuple[str, ...]]]:
    """Reference frames derived from the public-domain portrait: crops, a mirror, regrades."""
    base = Image.open(source).convert("RGB")
    w, h = base.size
    face = base.crop((int(w * 0.22), 0, int(w * 0.66), int(h * 0.48)))
    return [
        ("nova-portrait.jpg", base, ("portrait", "studio")),
        (
            "nova-closeup.jpg",
            face.resize((512, int(512 * face.height / face.width))),
            ("close-up",),
        ),
        ("nova-mirrored.jpg", ImageOps.mirror(base), ("portrait", "mirrored")),
        (
            "nova-warm-grade.jpg",
            ImageEnhance.Color(base).enhance(1.25).point(lambda v: min(255, int(v * 1.04))),
            ("warm",),
        ),
        ("nova-medium.jpg", base.crop((0, int(h * 0.05), w, h)).resize((448, 403)), ("medium",)),
    ]


def write_demo(path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the demo project to `path` and return its path."""
    p = project_path(path)
    if p.exists():
        if not overwrite:
            raise ProjectError(f"{p} already exists.", hint="Pass --force to replace it.")
        for extra in (p, Path(f"{p}-wal"), Path(f"{p}-shm")):
            extra.unlink(missing_ok=True)
    v1 = check_record(load_json("demo/nova.v1.json"), source="demo v1")
    v2 = check_record(load_json("demo/nova.v2.json"), source="demo v2")
    with new_project(p) as project:
        first = persona_rows.create_persona(
            project, v1["identity"]["name"], v1, "First pass from the character brief"
        )
        persona_rows.add_version(
            project,
            first.persona_id,
            v2,
            "Matched to the approved portrait: shorter hair, warmer key light",
            first.id,
        )
        for name, image, tags in _variants(resource_path(PORTRAIT)):
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=90)
            library.add_reference_bytes(
                project,
                first.persona_id,
                buf.getvalue(),
                mime="image/jpeg",
                file_name=name,
                source_path=f"resources/{PORTRAIT}",
                width=image.width,
                height=image.height,
                tags=tags,
            )
    return p
