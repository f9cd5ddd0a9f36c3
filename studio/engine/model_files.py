"""Model files on disk: read what they are, hash them, convert pickles, download, find them.

Nothing here loads weights. A .safetensors file is read up to its JSON header (tensor names,
shapes, dtypes, metadata); a diffusers folder by its file list and JSON configs; what they are
is decided by the pure rules of `studio.core.models`. Pickle files (.ckpt .pt .pth .bin) are
refused, or converted by `python -m studio.engine.convert_pickle` in a separate process that
loads tensors only, so nothing in one can run in the studio's process.

Models stay where the artist keeps them: the Hugging Face cache, a ComfyUI or AUTOMATIC1111
`models/` folder, anywhere. `scan` finds them there; `hash_model` hashes a file or a folder's
weights with progress and cancel, reusing the hashes a project already knows.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core import models as m
from studio.core.errors import Cancelled, ModelMissingError
from studio.core.jobs import CancelToken, EtaEstimator, Progress

ProgressSink = Callable[[Progress], None]

HASH_CHUNK = 8 << 20
MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header
MIB = 2**20
# Folders a scan never enters: caches, version control, the hub's content-addressed blobs.
_SKIP_DIRS = {"__pycache__", "blobs", ".locks", "refs", ".git", "node_modules", ".cache", "venv"}
# Folders of ComfyUI and AUTOMATIC1111 that hold models the renderer never uses (upscalers, face
# restorers, detectors, embeddings): a scan does not list their files.
_NOT_RENDER_DIRS = {
    "ESRGAN", "RealESRGAN", "GFPGAN", "Codeformer", "codeformer", "SwinIR", "ScuNET", "LDSR",
    "BLIP", "deepbooru", "torch_deepdanbooru", "insightface", "karlo", "VAE-approx",
    "upscale_models", "facerestore_models", "facedetection", "embeddings", "vae_approx",
    "annotator", "ultralytics", "sams", "clip", "text_encoders", "unet", "style_models",
    "gligen", "hypernetworks", "photomaker", "diffusion_models", "vae", "VAE",
}  # fmt: skip
HUB = "https://huggingface.co"


# -- reading what a file is ---------------------------------------------------------------------


@dataclass(frozen=True)
class SafetensorsHeader:
    """A .safetensors file's header: tensors (name -> dtype, shape, offsets) and metadata."""

    tensors: dict[str, dict]
    metadata: dict[str, str]
    header_bytes: int
    data_bytes: int  # the bytes of tensor data the header describes


def read_header(path: str | os.PathLike) -> SafetensorsHeader:
    """Read a .safetensors header without loading a tensor; check the file is whole.

    The header's largest data offset must equal the bytes after the header: a shorter file
    is a cut-off download or copy (IncompleteModelError), anything else unreadable is a
    ModelFileError.
    """
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise m.ModelFileError(
                    f"{name} is not a safetensors file (it is only {size} bytes long).",
                    hint="Download or copy it again.",
                )
            (length,) = struct.unpack("<Q", head)
            if length > MAX_HEADER or length == 0:
                raise m.ModelFileError(
                    f"{name} is not a safetensors file (its first bytes are not a header length).",
                    hint="Check that the file is the model you meant; download it again if so.",
                )
            if 8 + length > size:
                raise m.IncompleteModelError(
                    f"{name} is incomplete: it ends inside its own header ({size:,} bytes).",
                    hint="The download or copy was cut off: download or copy it again.",
                )
            raw = f.read(length)
    except OSError as exc:
        raise m.ModelFileError(f"{name} cannot be read: {exc.strerror or exc}.") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise m.ModelFileError(
            f"{name} is not a safetensors file (its header is not JSON).",
            hint="Download or copy it again.",
        ) from None
    if not isinstance(header, dict):
        raise m.ModelFileError(f"{name} is not a safetensors file (its header is not a table).")
    metadata = header.pop("__metadata__", None) or {}
    end = 0
    for tensor, info in header.items():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not offsets or len(offsets) != 2:
            raise m.ModelFileError(f"{name} has a damaged header (tensor {tensor} has no offsets).")
        end = max(end, int(offsets[1]))
    data = size - 8 - length
    if data < end:
        raise m.IncompleteModelError(
            f"{name} is incomplete: its header describes {m.size_text(end)} of tensors but the"
            f" file holds {m.size_text(data)} after it.",
            hint="The download or copy was cut off: download or copy it again.",
        )
    if data > end:
        raise m.ModelFileError(
            f"{name} is damaged: it holds {data - end:,} bytes more than its header describes.",
            hint="Download or copy it again.",
        )
    return SafetensorsHeader(header, {str(k): str(v) for k, v in metadata.items()}, length, end)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _folder_listing(folder: Path) -> tuple[list[str], dict[str, Any]]:
    """Relative paths of a model folder's files (two levels deep) and its parsed configs."""
    files: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            for inner in sorted(entry.iterdir()):
                if inner.is_file() and not inner.name.startswith("."):
                    files.append(f"{entry.name}/{inner.name}")
        elif entry.is_file():
            files.append(entry.name)
    configs = {
        rel: _read_json(folder / rel)
        for rel in files
        if rel in ("model_index.json", "config.json") or rel.endswith("/config.json")
    }
    return files, configs


def is_model_folder(folder: str | os.PathLike) -> bool:
    """Whether a folder is itself a model (model_index.json, or a config.json with weights)."""
    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        return True
    return (folder / "config.json").is_file() and any(
        p.suffix == ".safetensors" or m.is_pickle(p.name) for p in folder.iterdir() if p.is_file()
    )


def inspect(path: str | os.PathLike) -> m.Detection:
    """What a file or folder is (kind, family, variant, layout) and why, reading no weights.

    Raises PickleRefusedError for pickle files, IncompleteModelError for cut-off files and
    ModelFileError for what cannot be read; a readable file that is not a model the studio
    renders with comes back as a Detection with its `problem`.
    """
    path = Path(path)
    if not path.exists():
        raise m.ModelFileError(
            f"{path} does not exist.", hint="Check the path (a file or a model's folder)."
        )
    if path.is_dir():
        files, configs = _folder_listing(path)
        return m.detect_folder(files, configs)
    m.refuse_pickle(path.name)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return m.Detection(
            format=m.ONNX,
            problem="an ONNX model; the renderer loads Stable Diffusion from .safetensors files"
            " and diffusers folders (ONNX models are the face engines')",
            hint="Set up face models from the face engine settings instead.",
        )
    if suffix != ".safetensors":
        raise m.ModelFileError(
            f"{path.name} is not a model file the studio reads.",
            hint="Choose a .safetensors file or a diffusers folder (with model_index.json).",
        )
    header = read_header(path)
    return m.detect_safetensors(header.tensors, header.metadata, path.name)


# -- hashing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileHash:
    """One weights file of a model: where, how big, when changed, its sha256, whether reused."""

    path: str  # absolute
    rel: str  # relative to the model's folder ('' for a single-file model)
    size: int
    mtime_ns: int
    sha256: str
    cached: bool = False


@dataclass(frozen=True)
class ModelHash:
    """A model's hash: the file's sha256, or the folder's over its weights' paths and hashes."""

    sha256: str
    size: int
    files: tuple[FileHash, ...] = field(default=())

    @property
    def hashed(self) -> int:
        """How many files were read now (the others came from the hash cache)."""
        return sum(1 for f in self.files if not f.cached)


def weight_files(folder: str | os.PathLike) -> list[str]:
    """A model folder's weights files (what its hash covers), relative, sorted, with '/'."""
    folder = Path(folder)
    out = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if m.is_weight_file(name) and not name.startswith("."):
                out.append(Path(root, name).relative_to(folder).as_posix())
    return sorted(out)


def hash_file(
    path: str | os.PathLike,
    progress: Callable[[int], None] | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """The sha256 of a file, read in chunks; `progress(bytes)` after each, cancel between."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = f.read(HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return h.hexdigest()


def hash_model(
    path: str | os.PathLike,
    known: Mapping[str, tuple[int, int, str]] | Iterable[Sequence] = (),
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
    label: str = "",
) -> ModelHash:
    """Hash a model file, or a folder's weights files, with progress by bytes and cancel.

    known: path -> (size, mtime_ns, sha256) (or (path, size, mtime_ns, sha256) rows) of files
    hashed before: a file whose size and mtime are unchanged is not read again.
    """
    if not isinstance(known, Mapping):
        known = {str(row[0]): (int(row[1]), int(row[2]), str(row[3])) for row in known}
    path = Path(path)
    folder = path.is_dir()
    rels = weight_files(path) if folder else [""]
    if folder and not rels:
        raise m.ModelFileError(f"{path.name} holds no weights files (.safetensors) to hash.")
    stats = []
    for rel in rels:
        file = path / rel if rel else path
        try:
            st = file.stat()
        except OSError as exc:
            raise m.ModelFileError(f"{file} cannot be read: {exc.strerror or exc}.") from None
        stats.append((rel, str(file), st.st_size, st.st_mtime_ns))
    todo = sum(size for rel, file, size, mtime in stats if known.get(file, ())[:2] != (size, mtime))
    eta = EtaEstimator(todo)
    done = 0
    name = label or path.name
    last = [0.0]

    def advance(n: int) -> None:
        nonlocal done
        done += n
        now = time.monotonic()
        if progress is not None and (now - last[0] > 0.2 or done >= todo):
            last[0] = now
            text = f"Hashing {name}: {m.size_text(done)} of {m.size_text(todo)}"
            progress(Progress(done, todo, text, eta.eta(done)))

    files = []
    for rel, file, size, mtime in stats:
        before = known.get(file)
        if before is not None and tuple(before[:2]) == (size, mtime):
            files.append(FileHash(file, rel, size, mtime, before[2], cached=True))
            continue
        sha = hash_file(file, advance, cancel)
        after = os.stat(file)
        if (after.st_size, after.st_mtime_ns) != (size, mtime):
            raise m.ModelFileError(
                f"{Path(file).name} changed while it was being hashed.",
                hint="Wait until the download or copy has finished, then register it again.",
            )
        files.append(FileHash(file, rel, size, mtime, sha))
    total = sum(f.size for f in files)
    if not folder:
        return ModelHash(files[0].sha256, total, tuple(files))
    return ModelHash(m.folder_sha256((f.rel, f.sha256) for f in files), total, tuple(files))


# -- converting pickles ------------------------------------------------------------------------


def convert_pickle(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
    timeout: float | None = None,
) -> Path:
    """Convert a pickle weights file to .safetensors in a separate process; returns dest.

    The child (`python -m studio.engine.convert_pickle SRC DEST`) loads with
    `torch.load(weights_only=True)`, which refuses anything but tensors and plain containers,
    so a file that would run code is refused there and nothing of it runs here. Cancel kills
    the child; dest appears whole or not at all.
    """
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise m.ModelFileError(f"{src} does not exist.", hint="Check the path of the file.")
    if dest.suffix != ".safetensors":
        raise m.ModelFileError(
            f"{dest.name} is not a .safetensors file name.",
            hint="Name the converted file *.safetensors.",
        )
    if dest.exists():
        raise m.ModelFileError(
            f"{dest} already exists.",
            hint="Register that file instead, or move it away and convert again.",
        )
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "studio.engine.convert_pickle", str(src), str(dest)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    events: list[dict] = []
    started = time.monotonic()
    try:

        def read() -> None:
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                events.append(event)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        seen = 0
        while True:
            while seen < len(events):
                event = events[seen]
                seen += 1
                if event.get("event") == "stage" and progress is not None:
                    progress(Progress(int(event["step"]), 2, event["message"]))
            if proc.poll() is not None:
                reader.join(5)
                break
            if cancel is not None and cancel.cancelled:
                proc.kill()
                proc.wait()
                raise Cancelled()
            if timeout is not None and time.monotonic() - started > timeout:
                proc.kill()
                proc.wait()
                raise m.ModelFileError(f"Converting {src.name} took longer than {timeout:.0f} s.")
            time.sleep(0.05)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        Path(str(dest) + ".part").unlink(missing_ok=True)
    for event in events:
        if event.get("event") == "error":
            raise m.ModelFileError(event["message"], hint=event.get("hint") or None)
    if proc.returncode != 0 or not dest.is_file():
        tail = stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise m.ModelFileError(
            f"Converting {src.name} failed: {tail[0]}",
            hint="Check that the file is a PyTorch weights file and that the disk has room.",
        )
    if progress is not None:
        progress(Progress(2, 2, f"Converted {src.name}"))
    return dest


# -- downloading from the Hugging Face hub ----------------------------------------------------


def hub_url(repo_id: str, file: str, revision: str = "", endpoint: str = "") -> str:
    """Where a file of a hub repository is downloaded from."""
    return f"{(endpoint or HUB).rstrip('/')}/{repo_id}/resolve/{revision or 'main'}/{file}"


def _place_hint(repo_id: str, files: Sequence[str], dest: str, revision: str, endpoint: str) -> str:
    where = Path(dest).expanduser() if dest else Path("~/Models").expanduser() / repo_id
    lines = [f"{hub_url(repo_id, f, revision, endpoint)} -> {where / f}" for f in files]
    return (
        "On a machine with a connection, download "
        + "; ".join(lines)
        + f", then register it here: persona-studio models add PROJECT {where}"
        + (f"/{files[0]}" if len(files) == 1 else "")
    )


def _progress_bar(report: Callable[[int, int | None], None], cancel: CancelToken | None):
    """A tqdm class the hub drives: it reports bytes and stops the download on cancel."""
    from tqdm.auto import tqdm

    class StudioBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any):
            kwargs.pop("name", None)
            kwargs["disable"] = True  # the studio draws its own progress
            self._studio_done = int(kwargs.get("initial") or 0)
            self._studio_total = kwargs.get("total")
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            self._studio_done += int(n or 0)
            report(self._studio_done, self._studio_total)
            return super().update(n)

    return StudioBar


def download_file(
    repo_id: str,
    file: str,
    dest: str = "",
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
    *,
    revision: str = "",
    endpoint: str = "",
) -> Path:
    """Download one file of a hub repository (into the Hugging Face cache, or into `dest`).

    Call only on the user's word. Progress is by bytes, cancel stops between chunks (a later
    download resumes the partial file). Without a connection: ModelMissingError saying which
    file to put where.
    """
    if m.is_pickle(file):
        raise m.PickleRefusedError(
            f"{file} in {repo_id} is a pickle file, which the studio never loads.",
            hint="Download the .safetensors file of the same weights instead.",
        )
    try:
        import huggingface_hub
        from huggingface_hub import constants
    except ImportError:
        raise ModelMissingError(
            "Downloading needs the huggingface_hub package, which is not installed.",
            hint=_place_hint(repo_id, [file], dest, revision, endpoint),
        ) from None
    eta: dict[str, EtaEstimator] = {}

    def report(done: int, total: int | None) -> None:
        if progress is None:
            return
        total = int(total or 0)
        est = eta.setdefault("e", EtaEstimator(total or 1))
        size = f"{m.size_text(done)} of {m.size_text(total)}" if total else m.size_text(done)
        progress(Progress(done, total, f"Downloading {file}: {size}", est.eta(done)))

    # Plain HTTP, so the bar's update (between chunks) is where a cancel lands.
    constants.HF_HUB_DISABLE_XET = True
    local_dir = str(Path(dest).expanduser()) if dest else None
    where = {"revision": revision or None, "local_dir": local_dir, "endpoint": endpoint or None}

    def refused(exc: Exception) -> ModelMissingError:
        return ModelMissingError(
            f"Could not download {file} from {repo_id}: {_download_reason(exc)}",
            hint=_place_hint(repo_id, [file], dest, revision, endpoint),
        )

    try:
        # One quick look first: the hub's own download retries an unreachable server for
        # half a minute before it gives up.
        huggingface_hub.get_hf_file_metadata(
            hub_url(repo_id, file, revision, endpoint), timeout=10, endpoint=endpoint or None
        )
    except Exception as exc:
        if _answered(exc):
            raise refused(exc) from None
        try:  # offline, but perhaps downloaded before
            return Path(
                huggingface_hub.hf_hub_download(repo_id, file, local_files_only=True, **where)
            )
        except Exception:
            raise refused(exc) from None
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id, file, tqdm_class=_progress_bar(report, cancel), **where
        )
    except Cancelled:
        raise
    except Exception as exc:  # the connection dropped, the disk is full
        raise refused(exc) from None
    return Path(path)


def _answered(exc: Exception) -> bool:
    """Whether the hub answered (a missing file, a gated repository) rather than not at all."""
    return getattr(exc, "response", None) is not None


def _download_reason(exc: Exception) -> str:
    name = type(exc).__name__
    if name in ("LocalEntryNotFoundError", "OfflineModeIsEnabled") or "connect" in str(exc).lower():
        return "the Hugging Face hub cannot be reached (offline?)."
    if name in ("RepositoryNotFoundError", "GatedRepoError"):
        return "the repository does not exist or needs a login."
    if name in ("EntryNotFoundError", "RemoteEntryNotFoundError"):
        return "the repository has no such file."
    return f"{str(exc).splitlines()[0] if str(exc) else name}."


def pipeline_files(repo_id: str, *, revision: str = "", endpoint: str = "") -> list[str]:
    """The files a diffusers pipeline repository needs: configs, tokenizers, .safetensors
    weights (not their pickle twins, not the fp16 copies when full ones exist)."""
    try:
        import huggingface_hub

        # One quick look first (the hub client retries an unreachable server for half a
        # minute): is the repository there, and is it a pipeline?
        huggingface_hub.get_hf_file_metadata(
            hub_url(repo_id, "model_index.json", revision, endpoint),
            timeout=10,
            endpoint=endpoint or None,
        )
        api = huggingface_hub.HfApi(endpoint=endpoint or None)
        files = api.list_repo_files(repo_id, revision=revision or None)
    except Exception as exc:
        if "EntryNotFound" in type(exc).__name__:
            raise m.ModelFileError(
                f"{repo_id} is not a diffusers pipeline (it has no model_index.json).",
                hint="Name the files to download with --file.",
            ) from None
        raise ModelMissingError(
            f"Could not list the files of {repo_id}: {_download_reason(exc)}",
            hint="Name the files to download with --file, or download the model folder yourself"
            " and register it: persona-studio models add PROJECT FOLDER",
        ) from None
    return choose_pipeline_files(files, repo_id)


def choose_pipeline_files(files: Sequence[str], repo_id: str = "") -> list[str]:
    """From a repository's file list, the ones a diffusers pipeline is loaded from."""
    if "model_index.json" not in files:
        weights = [f for f in files if f.endswith(".safetensors")]
        raise m.ModelFileError(
            f"{repo_id or 'The repository'} is not a diffusers pipeline (no model_index.json).",
            hint="Name the files to download with --file"
            + (f", for example --file {weights[0]}" if weights else "")
            + ".",
        )
    keep = []
    for f in files:
        if "/" in f and f.split("/", 1)[0] not in m.PIPELINE_COMPONENTS[m.SDXL] + (
            "safety_checker",
            "feature_extractor",
        ):
            continue
        if f.endswith((".json", ".txt", ".model")):
            keep.append(f)
    by_folder: dict[str, list[str]] = {}
    for f in files:
        if f.endswith(".safetensors") and "/" in f:
            by_folder.setdefault(f.rsplit("/", 1)[0], []).append(f)
    for folder, weights in by_folder.items():
        if folder not in m.WEIGHTED_COMPONENTS:
            continue
        full = [w for w in weights if "." not in Path(w).stem]
        keep.extend(full or sorted(weights)[:1])
    return sorted(dict.fromkeys(keep))


# -- finding models where they are -----------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A file or folder a scan found, what it is, and the image encoder found for it."""

    path: str
    detection: m.Detection
    source: str  # hf-cache, comfyui, a1111, file
    encoder_path: str = ""
    error: str = ""  # why it could not be read (a pickle, a cut-off file)

    @property
    def usable(self) -> bool:
        return not self.error and self.detection.ok


_COMFY_DIRS = {"checkpoints", "loras", "ipadapter", "clip_vision", "diffusers", "vae", "controlnet"}
_A1111_DIRS = {"Stable-diffusion", "Lora", "ControlNet", "VAE", "ipadapter"}


def root_kind(folder: str | os.PathLike) -> str:
    """What a folder is: 'hf-cache', 'comfyui', 'a1111' (their models/ folders or roots), 'file'."""
    folder = Path(folder)
    if folder.name.startswith("models--") or m.hf_cache_repo(str(folder / "x" / "y")):
        return "hf-cache"
    try:
        names = {p.name for p in folder.iterdir() if p.is_dir()}
    except OSError:
        return "file"
    if (
        any(n.startswith("models--") for n in names)
        or (folder / "hub").is_dir()
        and any(p.name.startswith("models--") for p in (folder / "hub").iterdir())
    ):
        return "hf-cache"
    if "models" in names:
        inner = {p.name for p in (folder / "models").iterdir() if p.is_dir()}
        names |= {f"models/{n}" for n in inner}
        if inner & _A1111_DIRS or "extensions" in names:
            return "a1111" if inner & {"Stable-diffusion", "Lora"} else "comfyui"
        if inner & _COMFY_DIRS:
            return "comfyui"
    if names & {"Stable-diffusion", "Lora"}:
        return "a1111"
    if names & _COMFY_DIRS:
        return "comfyui"
    return "file"


def _hub_snapshots(folder: Path) -> list[Path]:
    """The snapshot of each cached model repository under a hub folder (refs/main's, else the
    newest), so one revision of each is listed."""
    repos = [folder] if folder.name.startswith("models--") else []
    if not repos:
        hub = folder / "hub" if (folder / "hub").is_dir() else folder
        repos = sorted(p for p in hub.iterdir() if p.is_dir() and p.name.startswith("models--"))
    out = []
    for repo in repos:
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        main = repo / "refs" / "main"
        rev = main.read_text().strip() if main.is_file() else ""
        if rev and (snapshots / rev).is_dir():
            out.append(snapshots / rev)
            continue
        revs = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        if revs:
            out.append(revs[0])
    return out


def _walk(top: Path) -> Iterable[Path]:
    """Candidate paths under a folder: model folders (not entered) and weights files."""
    if is_model_folder(top):
        yield top
        return
    try:
        entries = sorted(top.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
            continue
        if entry.is_dir() and entry.name in _NOT_RENDER_DIRS and top.name in ("models", "Models"):
            continue
        if entry.is_dir():
            yield from _walk(entry)
        elif entry.suffix.lower() == ".safetensors" or m.is_pickle(entry.name):
            yield entry


def scan(
    folder: str | os.PathLike,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> list[Candidate]:
    """The models under a folder (the Hugging Face cache, a ComfyUI or AUTOMATIC1111 models
    folder, any folder), each with what it is; IP-Adapters paired with a fitting image encoder
    found beside them. Reads headers only; encoders come first, so they register first."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise m.ModelFileError(f"{folder} is not a folder.", hint="Choose a folder to scan.")
    source = root_kind(folder)
    if source == "hf-cache":
        inside = m.hf_cache_repo(str(folder / "x" / "y")) is not None
        tops = [folder] if inside else _hub_snapshots(folder)
    elif source in ("comfyui", "a1111") and (folder / "models").is_dir():
        # An application's own folder: its models, and (A1111) its extensions' models.
        tops = [folder / "models"]
        if (folder / "extensions").is_dir():
            tops += sorted(p / "models" for p in (folder / "extensions").iterdir())
    else:
        tops = [folder]
    paths = [p for top in tops if top.is_dir() for p in _walk(top)]
    found: list[Candidate] = []
    for i, path in enumerate(paths):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(Progress(i, len(paths), f"Reading {path.name}"))
        try:
            detection = inspect(path)
            found.append(Candidate(str(path), detection, source))
        except m.ModelFileError as exc:
            found.append(
                Candidate(str(path), m.Detection(problem=exc.message), source, error=str(exc))
            )
    return pair_encoders(found)


def pair_encoders(found: Sequence[Candidate]) -> list[Candidate]:
    """Give each IP-Adapter that needs one the fitting image encoder nearest to it on disk."""
    encoders = [c for c in found if c.usable and c.detection.kind == m.IMAGE_ENCODER]
    out = []
    for c in found:
        d = c.detection
        if c.usable and d.kind == m.IP_ADAPTER and m.NEEDS_ENCODER.get(d.variant, True):
            fits = [e for e in encoders if m.encoder_fits(d, e.detection)]
            if fits:
                best = max(fits, key=lambda e: len(os.path.commonpath([c.path, e.path])))
                c = Candidate(c.path, d, c.source, best.path)
        out.append(c)
    order = {m.IMAGE_ENCODER: 0, m.BASE: 1, m.LORA: 2, m.IP_ADAPTER: 3}
    return sorted(out, key=lambda c: (not c.usable, order.get(c.detection.kind, 9), c.path))
