"""Specs of the model manager's jobs: registering models in place, converting a pickle file,
downloading a named model from the Hugging Face hub.

Hashing a model of several GiB takes minutes, so registering is a job with progress and
cancel. Its spec carries the hashes the project already knows (path, size, mtime), so a file
is read only when it is new or has changed, and the work never touches the project.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from studio.core.jobs import JobSpec


@dataclass(frozen=True)
class ModelToRegister:
    """One file or folder to register, and what the user said about it."""

    path: str  # absolute; the model is used where it is, never copied
    name: str = ""  # "": from the file or folder name
    kind: str = ""  # "": as detected; "dreambooth" marks a base model as a persona's
    family: str = ""  # "": as detected
    encoder: str = ""  # an IP-Adapter's image encoder: a registered model's name or a path
    persona_id: str = ""  # link the model to this persona (a LoRA or DreamBooth model)
    weight: float = 1.0  # the LoRA weight the persona uses it with
    source: str = "file"  # file, hf-cache, comfyui, a1111, hub:<repo>

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelToRegister:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# (path, size, mtime in ns, sha256) of a file hashed before.
KnownHash = tuple[str, int, int, str]


@dataclass(frozen=True)
class ModelRegisterSpec(JobSpec):
    """Detect, hash and register models in place: one unit per file or folder."""

    kind: ClassVar[str] = "model-register"
    items: tuple[ModelToRegister, ...] = ()
    known_hashes: tuple[KnownHash, ...] = ()

    def units(self) -> list[str]:
        return list(dict.fromkeys(item.path for item in self.items))

    def item(self, path: str) -> ModelToRegister:
        return next(i for i in self.items if i.path == path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRegisterSpec:
        return cls(
            title=data.get("title", ""),
            items=tuple(ModelToRegister.from_dict(i) for i in data.get("items") or ()),
            known_hashes=tuple(tuple(k) for k in data.get("known_hashes") or ()),
        )


@dataclass(frozen=True)
class ModelConvertSpec(JobSpec):
    """Convert a pickle weights file to .safetensors in a separate process, then register it."""

    kind: ClassVar[str] = "model-convert"
    source: str = ""
    dest: str = ""
    register: ModelToRegister | None = None  # what to register the converted file as

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConvertSpec:
        reg = data.get("register")
        return cls(
            title=data.get("title", ""),
            source=data.get("source", ""),
            dest=data.get("dest", ""),
            register=ModelToRegister.from_dict(reg) if reg else None,
        )


@dataclass(frozen=True)
class HubDownloadSpec(JobSpec):
    """Download named files of a Hugging Face repository (on the user's word): a unit a file."""

    kind: ClassVar[str] = "hub-download"
    repo_id: str = ""
    files: tuple[str, ...] = ()
    dest: str = ""  # "": the Hugging Face cache, where other tools find the files too
    revision: str = ""  # "": the repository's main branch
    endpoint: str = ""  # "": huggingface.co (or HF_ENDPOINT); a mirror of the hub otherwise

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HubDownloadSpec:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["files"] = tuple(values.get("files") or ())
        return cls(**values)


MODEL_SPEC_TYPES: tuple[type[JobSpec], ...] = (ModelRegisterSpec, ModelConvertSpec, HubDownloadSpec)
