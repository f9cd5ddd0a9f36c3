"""Where insightface model packs live, what a pack folder must hold, and the packs' checksums.

Pure facts and a folder check: the services ask it whether an engine can run before a job is
planned (so the user is offered the download instead of a failing check), and the engine asks
it before loading anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import ModelMissingError

DEFAULT_PACK = "buffalo_l"
MODELS_ENV = "PERSONA_STUDIO_MODELS"  # a folder of model packs other than ~/.insightface/models

# The detector and recognizer of the packs insightface publishes (the others in a pack, such
# as gender/age and 3D landmarks, are not loaded).
PACK_FILES = {
    "buffalo_l": ("det_10g.onnx", "w600k_r50.onnx"),
    "buffalo_s": ("det_500m.onnx", "w600k_mbf.onnx"),
    "antelopev2": ("scrfd_10g_bnkps.onnx", "glintr100.onnx"),
}


@dataclass(frozen=True)
class PackArchive:
    """The published zip of a model pack: its sha256 and size in bytes."""

    sha256: str
    size: int


# The archive insightface publishes for its default pack (the same file in its v0.7 and
# model-zoo releases). A download of any other pack reports its hash instead of checking it.
KNOWN_ARCHIVES = {
    "buffalo_l": PackArchive(
        "80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f", 288_621_354
    ),
}


def known_archive(pack: str) -> PackArchive | None:
    """The published checksum and size of a pack's zip, when the studio knows them."""
    return KNOWN_ARCHIVES.get(pack)


def default_models_root() -> Path:
    """Where model packs live: $PERSONA_STUDIO_MODELS, else insightface's ~/.insightface/models."""
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override).expanduser()
    return Path("~/.insightface").expanduser() / "models"


def expected_files_text(pack: str) -> str:
    """A human description of the ONNX files a pack folder must hold."""
    files = PACK_FILES.get(pack)
    if files:
        return f"{files[0]} (face detector) and {files[1]} (face recognizer)"
    return "an SCRFD face detector and an ArcFace face recognizer as .onnx files"


def check_model_folder(folder: str | Path, pack: str = DEFAULT_PACK) -> Path:
    """The folder, if it holds ONNX files (or an insightface manifest); else `ModelMissingError`."""
    folder = Path(folder).expanduser()
    where_hint = (
        f"Put {expected_files_text(pack)} in {folder} (unzip {pack}.zip there), choose another "
        "model folder, or download the pack from the face engine settings."
    )
    if not folder.is_dir():
        raise ModelMissingError(
            f"The insightface model folder {folder} does not exist.", hint=where_hint
        )
    onnx_files = sorted(folder.glob("*.onnx"))
    if not onnx_files and not (folder / "manifest.json").is_file():
        raise ModelMissingError(
            f"The insightface model folder {folder} holds no ONNX model files.", hint=where_hint
        )
    expected = PACK_FILES.get(pack)
    if expected and folder.name == pack:
        missing = [name for name in expected if not (folder / name).is_file()]
        if missing:
            raise ModelMissingError(
                f"The {pack} model pack in {folder} is incomplete: {', '.join(missing)} missing.",
                hint=where_hint,
            )
    return folder


def pack_folder(pack: str = DEFAULT_PACK) -> Path:
    """The folder a pack is loaded from (and downloaded to)."""
    return default_models_root() / pack
