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


# -- the demo's footage -----------------------------------------------------------------------

FOOTAGE_FPS = 12.0


def _camera(base: Image.Image, t: float, zoom: float = 1.12) -> Image.Image:
    """A frame of a slow push-in and pan across a still: t runs 0..1 along the shot."""
    w, h = base.size
    z = 1.0 + (zoom - 1.0) * t
    cw, ch = w / z, h / z
    x0 = (w - cw) * (0.35 + 0.3 * t)
    y0 = (h - ch) * 0.3
    frame = base.resize((w, h), Image.Resampling.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
    return ImageEnhance.Brightness(frame).enhance(0.97 + 0.06 * ((t * 7) % 1.0))


def recolour_garment(image: Image.Image) -> Image.Image:
    """The flight suit dyed green: orange pixels below the face turned by a third of the wheel."""
    import numpy as np

    hsv = np.asarray(image.convert("HSV")).copy()
    h, s = hsv[..., 0].astype(int), hsv[..., 1]
    rows = np.arange(hsv.shape[0])[:, None] >= int(hsv.shape[0] * 0.5)
    orange = (h >= 4) & (h <= 28) & (s >= 90) & rows
    hsv[..., 0] = np.where(orange, (h + 70) % 256, h).astype(np.uint8)
    return Image.fromarray(hsv, "HSV").convert("RGB")


def relight(image: Image.Image) -> Image.Image:
    """A low, warm sun from the image's left: the scene's light moved from 5600 K to 2700 K (in
    linear light) and a hard key, the right side of the face in shadow."""
    import numpy as np

    from studio.core.looks import linear_to_srgb, relight_matrix, srgb_to_linear

    rgb = np.asarray(image)
    linear = srgb_to_linear(rgb) @ relight_matrix(5600, 2700).T
    x = np.linspace(0.0, 1.0, rgb.shape[1])
    key = np.interp(x, (0.36, 0.5), (1.3, 0.2))[None, :, None]
    return Image.fromarray(linear_to_srgb(linear * key).round().astype(np.uint8))


def write_demo_footage(folder: Path, frames: int = 16) -> list[Path]:
    """Write the demo's shots as folders of numbered frames; returns them in timeline order.

    - "Hangar walk": Nova throughout (a slow push-in on her portrait);
    - "Set visit": Nova, then the camera operator steps in alone, then Nova again;
    - "Costume test": Nova, with the flight suit in the wrong colour in the middle;
    - "Golden hour": Nova, in a low warm sun from the side for the second half;
    - "Cutaways": the flag and the shuttle without a face, then Nova.
    """
    portrait = Image.open(resource_path(PORTRAIT)).convert("RGB")
    stranger = Image.open(resource_path(STRANGER)).convert("RGB")
    mirrored = ImageOps.mirror(portrait)
    n = frames

    def nova(i: int) -> Image.Image:
        return _camera(portrait, i / max(n - 1, 1))

    shots: dict[str, list[Image.Image]] = {
        "Hangar walk": [_camera(mirrored, i / max(n - 1, 1), 1.08) for i in range(n)],
        "Set visit": [
            _camera(stranger, i / max(n - 1, 1)) if n // 3 <= i < 2 * n // 3 else nova(i)
            for i in range(n)
        ],
        "Costume test": [
            recolour_garment(nova(i)) if n // 3 <= i < 3 * n // 4 else nova(i) for i in range(n)
        ],
        "Golden hour": [relight(nova(i)) if i >= n // 2 else nova(i) for i in range(n)],
        "Cutaways": [
            portrait.crop((0, 0, 150, 150)).resize((512, 512)) if i < n // 4 else nova(i)
            for i in range(n)
        ],
    }
    out = []
    for name, images in shots.items():
        shot_folder = folder / name
        shot_folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            image.save(shot_folder / f"frame_{i + 1:04d}.jpg", "JPEG", quality=92)
        out.append(shot_folder)
    return out
