"""The bundled demo project: a complete persona with two versions and its references."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from studio.core.errors import ProjectError
from studio.core.persona import check_record
from studio.core.resources import load_json, resource_path
from studio.project import personas as persona_rows
from studio.services.projects import new_project, project_path

PORTRAIT = "demo/nova-portrait.jpg"
# Another person, filed under Nova by mistake: the audit marks it suspect.
STRANGER = "demo/camera-operator.jpg"


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


def write_reference_files(folder: Path) -> dict[str, tuple[str, ...]]:
    """Write the demo's reference images into a folder; returns file name -> tags."""
    folder.mkdir(parents=True, exist_ok=True)
    tags: dict[str, tuple[str, ...]] = {}
    for name, image, image_tags in _variants(resource_path(PORTRAIT)):
        image.save(folder / name, "JPEG", quality=90)
        tags[name] = image_tags
    # The stranger keeps a camera-roll name, as a mistaken pick from a shoot would.
    (folder / "set-photo-0412.jpg").write_bytes(resource_path(STRANGER).read_bytes())
    tags["set-photo-0412.jpg"] = ("set photo",)
    return tags


def write_demo(path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the demo project (persona and versions; references come by import) to `path`."""
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
    return p
