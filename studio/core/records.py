"""Typed rows the project layer returns: personas, versions, references, jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Persona:
    """A cast member; its record lives in its versions."""

    id: str
    name: str
    head_version_id: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class PersonaVersion:
    """One immutable saved state of a persona record."""

    id: str
    persona_id: str
    number: int
    parent_id: str | None
    record: dict[str, Any]
    note: str
    created_at: str


@dataclass(frozen=True)
class Reference:
    """An image of the persona in the reference library."""

    id: str
    persona_id: str
    blob_sha: str
    file_name: str
    source_path: str
    width: int
    height: int
    status: str
    tags: tuple[str, ...] = ()
    rating: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    imported_at: str = ""


@dataclass(frozen=True)
class JobRecord:
    """A persisted job: its spec and where it stands."""

    id: str
    kind: str
    title: str
    spec: dict[str, Any]
    state: str
    done: int
    total: int
    message: str
    error: str
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
