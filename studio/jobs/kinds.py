"""The registry of job kinds: every kind the runner and the worker know, by name.

This module imports the kind modules and nothing imports it but the runner, the worker and
code that registers kinds of its own; the kinds share their helpers through `studio.jobs.base`.
"""

from __future__ import annotations

import importlib

from studio.core.errors import JobError
from studio.core.jobs import JobSpec
from studio.core.specs import SPEC_TYPES
from studio.jobs.base import JobKind
from studio.jobs.drift_kinds import DriftAnalysis, FootageImport
from studio.jobs.export_kinds import Export
from studio.jobs.library_kinds import Audit, Import, ModelDownload, Thumbnails, Verify
from studio.jobs.model_kinds import HubDownload, ModelConvert, ModelRegister
from studio.jobs.render_kinds import Render
from studio.jobs.report import Report

KINDS: dict[str, JobKind] = {
    k.kind: k
    for k in (
        Thumbnails(),
        Verify(),
        Import(),
        Audit(),
        ModelDownload(),
        FootageImport(),
        DriftAnalysis(),
        Report(),
        Render(),
        Export(),
        ModelRegister(),
        ModelConvert(),
        HubDownload(),
    )
}

# The packages a worker may import an unregistered kind's module from: never a name that
# arrives from elsewhere.
KIND_PACKAGES = ("studio.", "tests.")


def kind_of(spec: JobSpec) -> JobKind:
    """The handler of a spec's kind."""
    try:
        return KINDS[spec.kind]
    except KeyError:
        raise JobError(f"Unknown kind of job '{spec.kind}'.") from None


def register(kind: JobKind, spec_type: type[JobSpec]) -> JobKind:
    """Add a kind defined outside the registry's modules, with its spec type; returns the kind.

    Its module registers it when imported, so a worker process that imports that module (see
    `import_kind`) knows the kind too. Registering the same class again replaces the instance.
    """
    if spec_type.kind != kind.kind:
        raise ValueError(f"The spec type {spec_type.__name__} is for '{spec_type.kind}' jobs.")
    known = KINDS.get(kind.kind)
    if known is not None and type(known).__qualname__ != type(kind).__qualname__:
        raise ValueError(f"'{kind.kind}' is already the kind {type(known).__qualname__}.")
    KINDS[kind.kind] = kind
    SPEC_TYPES[spec_type.kind] = spec_type
    return kind


def import_kind(name: str, module: str | None = None) -> JobKind:
    """The kind called `name`, importing `module` first when the registry does not know it.

    Only modules under KIND_PACKAGES are imported; the module registers its kinds itself.
    """
    if name not in KINDS and module:
        if not module.startswith(KIND_PACKAGES):
            raise JobError(
                f"The job kind '{name}' lives in {module}, outside the studio's packages.",
                hint="Register the kind in a module under studio or tests.",
            )
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise JobError(
                f"The module {module} of the job kind '{name}' cannot be imported: {exc}.",
                hint="Check that the worker runs the same Persona Studio as the studio.",
            ) from exc
    try:
        return KINDS[name]
    except KeyError:
        raise JobError(f"Unknown kind of job '{name}'.") from None
