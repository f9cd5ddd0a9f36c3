"""Immutable specs of the jobs the studio runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.core.jobs import JobSpec
from studio.core.model_specs import HubDownloadSpec, ModelConvertSpec, ModelRegisterSpec
from studio.core.render import RenderSpec
from studio.core.takes import ExportSpec


@dataclass(frozen=True)
class ThumbnailSpec(JobSpec):
    """Make the library's thumbnails for the given image blobs."""

    kind: ClassVar[str] = "thumbnails"
    blob_shas: tuple[str, ...] = ()
    size: int = 256


@dataclass(frozen=True)
class VerifySpec(JobSpec):
    """Re-hash every stored image and model file to prove none has rotted."""

    kind: ClassVar[str] = "verify"
    blob_shas: tuple[str, ...] = ()
    asset_shas: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportSpec(JobSpec):
    """Import image files (already expanded from folders) as references of a persona."""

    kind: ClassVar[str] = "import"
    persona_id: str = ""
    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditSpec(JobSpec):
    """Scan a persona's reference images for faces with one engine, then refresh its audit."""

    kind: ClassVar[str] = "audit"
    persona_id: str = ""
    engine: str = "dlib"  # the engine's name; the scans record the id it reports
    blob_shas: tuple[str, ...] = ()  # the images that engine has not scanned yet


@dataclass(frozen=True)
class ModelDownloadSpec(JobSpec):
    """Download a face model pack into a folder, checked against its published sha256."""

    kind: ClassVar[str] = "model-download"
    pack: str = "buffalo_l"
    dest: str = ""  # the folder of model packs; the pack unpacks into dest/pack
    sha256: str = ""  # expected sha256 of the archive; empty: report the hash only
    url: str = ""  # empty: where insightface publishes the pack


@dataclass(frozen=True)
class FootageSpec(JobSpec):
    """Import video files or folders of numbered images, each as a new shot."""

    kind: ClassVar[str] = "footage"
    persona_ids: tuple[str, ...] = ()  # the personas expected in the new shots
    sources: tuple[str, ...] = ()  # video files and image folders, one shot each
    every: int = 1  # keep every Nth frame
    max_frames: int = 1000  # at most this many frames per shot
    fps: float = 0.0  # the frame rate of image folders (0: unknown)
    outfits: tuple[tuple[str, str], ...] = ()  # (persona id, the outfit the shots expect her in)


@dataclass(frozen=True)
class DriftSpec(JobSpec):
    """Score frames against the personas expected in their shots (faces, looks, drift)."""

    kind: ClassVar[str] = "drift"
    engine: str = "dlib"  # the engine's name
    engine_id: str = ""  # the id it last reported here ("" if never run): whose scans are reused
    frames: tuple[tuple[str, str], ...] = ()  # (frame id, blob sha) to score
    scan: tuple[str, ...] = ()  # blobs the engine has not scanned (or not measured looks of)
    # Reference faces whose look (garment colours, light) is not measured yet:
    # (blob sha, face index, box, landmarks) as the audit's scan found them.
    ref_faces: tuple[tuple, ...] = ()
    # Frames whose faces are known but whose looks are not measured in the current way:
    # (blob sha, ((box, landmarks), ...)), measured again without the face engine.
    relook: tuple[tuple, ...] = ()
    # Search frames the fast detector found no face in with the slow one too (dlib's CNN finds
    # turned and small faces, at about 1.5 s a frame): the "look harder" pass.
    thorough: bool = False


@dataclass(frozen=True)
class ReportSpec(JobSpec):
    """Write the drift report to a file; the HTML report's pictures are made first, one a unit."""

    kind: ClassVar[str] = "report"
    fmt: str = "html"  # html, csv or json
    output: str = ""  # absolute path; written whole (a temporary file renamed) or not at all
    thumbs: tuple[str, ...] = ()  # images the report shows that have no cached thumbnail yet
    size: int = 256  # the thumbnails' longer edge


SPEC_TYPES: dict[str, type[JobSpec]] = {
    s.kind: s
    for s in (
        ThumbnailSpec,
        VerifySpec,
        ImportSpec,
        AuditSpec,
        ModelDownloadSpec,
        FootageSpec,
        DriftSpec,
        ReportSpec,
        RenderSpec,
        ExportSpec,
        ModelRegisterSpec,
        ModelConvertSpec,
        HubDownloadSpec,
    )
}


def spec_from_dict(kind: str, data: dict) -> JobSpec:
    """Rebuild a spec persisted as JSON."""
    cls = SPEC_TYPES[kind]
    if hasattr(cls, "from_dict"):
        return cls.from_dict(data)
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**fields)
