"""The model manager's jobs: register models in place, convert a pickle file, download from the
Hugging Face hub; and finding models in a folder, which the CLI and the window call directly.

The work runs in the runner's thread (it reads files and waits on the disk or the network; the
conversion runs in a child process of its own). Each model is committed as soon as it is hashed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.core import models as m
from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress
from studio.core.model_specs import (
    HubDownloadSpec,
    ModelConvertSpec,
    ModelRegisterSpec,
    ModelToRegister,
)
from studio.services import jobs as job_service
from studio.services import models as model_service

if TYPE_CHECKING:
    from studio.engine.model_files import Candidate
    from studio.jobs.base import WorkContext


def _files(hashed: Any) -> list[dict]:
    return [
        {
            "path": f.path,
            "rel": f.rel,
            "size": f.size,
            "mtime_ns": f.mtime_ns,
            "sha256": f.sha256,
            "cached": f.cached,
        }
        for f in hashed.files
    ]


def register_one(
    item: ModelToRegister,
    known: dict[str, tuple[int, int, str]],
    progress: Callable[[Progress], None],
    cancel: CancelToken,
) -> dict:
    """Detect and hash one model as the registration job does; its result as JSON data."""
    from studio.engine import model_files

    result: dict[str, Any] = {"path": item.path, "ok": False}
    try:
        found = model_files.inspect(item.path)
        kind = item.kind
        if item.persona_id and not kind and found.kind == m.BASE:
            kind = m.DREAMBOOTH  # a base model given to a persona is her DreamBooth model
        found = m.settle(found, kind, item.family, where=item.name or item.path)
        if item.persona_id:
            m.persona_role(found.kind, item.name)
        if item.encoder and found.kind != m.IP_ADAPTER:
            raise m.ModelFileError(
                f"{item.name} is {m.article(found.describe())}; only IP-Adapters have an image"
                " encoder.",
                hint="Leave out --encoder.",
            )
        hashed = model_files.hash_model(item.path, known, progress, cancel, label=item.name)
    except m.ModelFileError as exc:
        result.update(reason=exc.message, hint=exc.hint or "")
        return result
    result.update(
        ok=True,
        kind=found.kind,
        family=found.family,
        format=found.format,
        variant=found.variant,
        layout=found.layout,
        why=list(found.why),
        meta=found.meta,
        description=found.describe(),
        sha256=hashed.sha256,
        size=hashed.size,
        files=_files(hashed),
    )
    return result


class ModelRegister:
    """Register models in place: detect what each is, hash it (reusing known hashes), commit."""

    kind = ModelRegisterSpec.kind
    executor = "thread"
    in_subprocess = False

    def units(self, spec: ModelRegisterSpec) -> list[str]:
        return spec.units()

    def work(self, spec: ModelRegisterSpec, units: list[str], ctx: WorkContext):
        known = {row[0]: (int(row[1]), int(row[2]), str(row[3])) for row in spec.known_hashes}
        for unit in units:
            ctx.cancel.raise_if_cancelled()
            yield unit, register_one(spec.item(unit), known, ctx.progress, ctx.cancel)

    def commit(self, project, job_id, spec: ModelRegisterSpec, unit, result: dict, done):
        total = len(spec.units())
        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{done} of {total} models",
            lambda: model_service.store_registered(project, job_id, unit, spec.item(unit), result),
        )

    def finish(self, project, job_id, spec: ModelRegisterSpec) -> str:
        return model_service.finish_registration(project, job_id, len(spec.units()))


class ModelConvert:
    """Convert a pickle file to .safetensors in a child process, then register the new file."""

    kind = ModelConvertSpec.kind
    executor = "thread"
    in_subprocess = False

    def units(self, spec: ModelConvertSpec) -> list[str]:
        return [spec.source]

    def work(self, spec: ModelConvertSpec, units: list[str], ctx: WorkContext):
        from studio.engine import model_files

        for unit in units:
            try:
                model_files.convert_pickle(spec.source, spec.dest, ctx.progress, ctx.cancel)
            except m.ModelFileError as exc:
                failed = {"path": spec.dest, "ok": False, "reason": exc.message}
                yield unit, {**failed, "hint": exc.hint or ""}
                continue
            item = spec.register or ModelToRegister(path=spec.dest)
            yield unit, register_one(item, {}, ctx.progress, ctx.cancel)

    def commit(self, project, job_id, spec: ModelConvertSpec, unit, result: dict, done):
        item = spec.register or ModelToRegister(path=spec.dest)
        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            "Converted",
            lambda: model_service.store_registered(project, job_id, unit, item, result),
        )

    def finish(self, project, job_id, spec: ModelConvertSpec) -> str:
        return model_service.finish_registration(project, job_id, 1)


class HubDownload:
    """Download named files of a Hugging Face repository: a unit a file, progress by bytes."""

    kind = HubDownloadSpec.kind
    executor = "thread"
    in_subprocess = False

    def units(self, spec: HubDownloadSpec) -> list[str]:
        return list(spec.files)

    def work(self, spec: HubDownloadSpec, units: list[str], ctx: WorkContext):
        from studio.engine import model_files

        for unit in units:
            ctx.cancel.raise_if_cancelled()
            path = model_files.download_file(
                spec.repo_id,
                unit,
                spec.dest,
                ctx.progress,
                ctx.cancel,
                revision=spec.revision,
                endpoint=spec.endpoint,
            )
            yield unit, {"path": str(path)}

    def commit(self, project, job_id, spec: HubDownloadSpec, unit, result: dict, done):
        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{done} of {len(spec.files)} files",
            lambda: model_service.store_download(project, job_id, unit, result["path"]),
        )

    def finish(self, project, job_id, spec: HubDownloadSpec) -> str:
        paths = model_service.downloaded_models(project, job_id)
        where = paths[0] if len(paths) == 1 else (spec.dest or "the Hugging Face cache")
        return f"Downloaded {len(spec.files)} file(s) of {spec.repo_id} to {where}"


MODEL_KINDS = (ModelRegister(), ModelConvert(), HubDownload())


# -- finding models in a folder ----------------------------------------------------------------


@dataclass(frozen=True)
class ScanPlan:
    """What a scan found: the registration job for the usable models, and the rest with why."""

    spec: ModelRegisterSpec | None
    found: tuple[Candidate, ...]
    registered: tuple[str, ...] = ()  # paths found that are registered already

    @property
    def skipped(self) -> list[Candidate]:
        return [c for c in self.found if not c.usable]

    def lines(self) -> list[str]:
        """A line per thing found: what it is, or why it is left out."""
        out = []
        for c in self.found:
            if c.path in self.registered:
                out.append(f"registered already  {c.path}")
            elif c.usable:
                pair = f" (image encoder: {c.encoder_path})" if c.encoder_path else ""
                out.append(f"found    {c.detection.describe():<40} {c.path}{pair}")
            else:
                reason = c.error or c.detection.problem
                out.append(f"skipped  {c.path}: {reason}")
        return out


def scan_folder(
    project: Any,
    folder: str,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> ScanPlan:
    """Find the models in a folder (headers only) and plan registering the usable ones."""
    from studio.engine import model_files

    found = model_files.scan(folder, progress, cancel)
    registered = tuple(c.path for c in found if model_service.find_by_path(project, c.path))
    items = [
        ModelToRegister(path=c.path, encoder=c.encoder_path, source=c.source)
        for c in found
        if c.usable and c.path not in registered
    ]
    spec = None
    if items:
        try:
            spec = model_service.plan_candidates(project, items)
        except StudioError:
            spec = None
    if spec is not None:
        spec = ModelRegisterSpec(
            title=f"Register the models in {folder}" if len(spec.items) > 1 else spec.title,
            items=spec.items,
            known_hashes=spec.known_hashes,
        )
    return ScanPlan(spec, tuple(found), registered)


def hub_pipeline_files(repo_id: str, revision: str = "", endpoint: str = "") -> list[str]:
    """The files to download for a diffusers pipeline repository (asks the hub)."""
    from studio.engine import model_files

    return model_files.pipeline_files(repo_id, revision=revision, endpoint=endpoint)
