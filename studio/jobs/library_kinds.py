"""The reference library's jobs: thumbnails, integrity check, import, audit, model download."""

from __future__ import annotations

import hashlib
from typing import Any

from studio.core.errors import JobError
from studio.core.specs import AuditSpec, ImportSpec, ModelDownloadSpec, ThumbnailSpec, VerifySpec
from studio.core.text import plural
from studio.jobs.base import WorkContext, face_from_result, face_result, load_face_engine
from studio.services import imports, library
from studio.services import jobs as job_service


class Thumbnails:
    kind = ThumbnailSpec.kind
    executor = "thread"

    def units(self, spec: ThumbnailSpec) -> list[str]:
        return list(spec.blob_shas)

    def work(self, spec: ThumbnailSpec, units: list[str], ctx: WorkContext):
        from studio.engine import images  # Pillow loads when the first job needs it

        for sha in units:
            ctx.cancel.raise_if_cancelled()
            yield sha, images.thumbnail(ctx.read_blob(sha), spec.size)

    def commit(self, project, job_id, spec: ThumbnailSpec, unit, result: bytes, done):
        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{done} of {len(spec.blob_shas)} thumbnails",
            lambda: library.store_thumbnail(project, unit, spec.size, result),
        )

    def finish(self, project, job_id, spec: ThumbnailSpec) -> str:
        return f"{len(spec.blob_shas)} thumbnails ready"


class Verify:
    kind = VerifySpec.kind
    executor = "thread"

    def units(self, spec: VerifySpec) -> list[str]:
        return [f"blob:{s}" for s in spec.blob_shas] + [f"asset:{s}" for s in spec.asset_shas]

    def work(self, spec: VerifySpec, units: list[str], ctx: WorkContext):
        for unit in units:
            ctx.cancel.raise_if_cancelled()
            what, sha = unit.split(":", 1)
            h = hashlib.sha256()
            try:
                if what == "blob":
                    h.update(ctx.read_blob(sha))
                else:
                    with open(ctx.asset_path(sha), "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                ok = h.hexdigest() == sha
            except Exception:
                ok = False
            yield unit, ok

    def commit(self, project, job_id, spec: VerifySpec, unit, result: bool, done):
        def store() -> None:
            if not result:
                job_service.add_problem(project, job_id, unit)

        total = len(spec.blob_shas) + len(spec.asset_shas)
        job_service.commit_unit(project, job_id, unit, done, f"{done} of {total} checked", store)

    def finish(self, project, job_id, spec: VerifySpec) -> str:
        bad = [b for b in job_service.get_job(project, job_id).error.split("\n") if b]
        total = len(spec.blob_shas) + len(spec.asset_shas)
        if bad:
            raise JobError(
                f"{len(bad)} of {total} stored files are damaged: {', '.join(bad[:5])}.",
                hint="Restore the project from a backup, or re-import the damaged images.",
            )
        return f"All {total} stored files are intact"


class Import:
    """Reference import: one unit per file; each is read, checked and decoded off-thread."""

    kind = ImportSpec.kind
    executor = "thread"  # results carry the files' bytes, which stay in this process

    def units(self, spec: ImportSpec) -> list[str]:
        return list(dict.fromkeys(spec.paths))

    def work(self, spec: ImportSpec, units: list[str], ctx: WorkContext):
        from studio.engine import ingest  # Pillow loads when the first job needs it

        yield from ingest.read_files(units, ctx.cancel, library.THUMBNAIL_SIZE)

    def commit(self, project, job_id, spec: ImportSpec, unit, result, done):
        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{done} of {len(spec.paths)} files",
            lambda: imports.store_imported(project, job_id, spec, result),
        )

    def finish(self, project, job_id, spec: ImportSpec) -> str:
        return imports.import_report(project, job_id).summary()


AUDIT_BATCH = 8  # images per call of an engine's analyze_many; a cancel waits for at most one


def _load_face_engine(name: str, thorough: bool = True) -> Any:
    """Load the named face engine for an audit (tests replace this)."""
    return load_face_engine(name, thorough)


class Audit:
    """The reference audit: one unit per image the engine has not scanned; `finish` judges all."""

    kind = AuditSpec.kind
    executor = "thread"  # dlib releases the GIL while it computes

    def units(self, spec: AuditSpec) -> list[str]:
        return list(dict.fromkeys(spec.blob_shas))

    def work(self, spec: AuditSpec, units: list[str], ctx: WorkContext):
        from studio.core.errors import BadImageError
        from studio.engine import images

        engine = _load_face_engine(spec.engine)
        many = getattr(engine, "analyze_many", None)
        step = AUDIT_BATCH if many else 1
        for start in range(0, len(units), step):
            ctx.cancel.raise_if_cancelled()
            decoded, failed = [], {}
            for sha in units[start : start + step]:
                try:
                    decoded.append((sha, images.decode(ctx.read_blob(sha), sha[:12]).rgb))
                except BadImageError as exc:
                    failed[sha] = exc.message
            pictures = [rgb for _, rgb in decoded]
            found = many(pictures) if many else [engine.analyze(rgb) for rgb in pictures]
            results = {
                sha: {"engine_id": engine.engine_id, "faces": [face_result(f) for f in faces]}
                for (sha, _), faces in zip(decoded, found, strict=True)
            }
            for sha in units[start : start + step]:
                yield sha, results.get(sha) or {"error": failed[sha]}

    def commit(self, project, job_id, spec: AuditSpec, unit, result: dict, done):
        from studio.services import audit

        def store() -> None:
            if "error" in result:
                job_service.add_problem(project, job_id, f"{unit[:12]}: {result['error']}")
            else:
                faces = [face_from_result(f) for f in result["faces"]]
                audit.store_scan(project, unit, spec.engine, result["engine_id"], faces)

        total = len(spec.blob_shas)
        job_service.commit_unit(project, job_id, unit, done, f"{done} of {total} checked", store)

    def finish(self, project, job_id, spec: AuditSpec) -> str:
        from studio.services import audit

        message = audit.finish_audit(project, spec)
        bad = [b for b in job_service.get_job(project, job_id).error.split("\n") if b]
        if bad:
            message += f"; {plural(len(bad), 'image')} could not be read"
        return message


class ModelDownload:
    """A face model pack's download: one unit, with progress by the MiB and a checksum."""

    kind = ModelDownloadSpec.kind
    executor = "thread"

    def units(self, spec: ModelDownloadSpec) -> list[str]:
        return [spec.pack]

    def work(self, spec: ModelDownloadSpec, units: list[str], ctx: WorkContext):
        from studio.engine.faces.insightface_engine import download_model_pack

        pack = download_model_pack(
            spec.pack,
            spec.dest,
            ctx.progress,
            ctx.cancel,
            spec.sha256 or None,
            url=spec.url or None,
        )
        yield spec.pack, {"path": str(pack.path), "sha256": pack.sha256}

    def commit(self, project, job_id, spec: ModelDownloadSpec, unit, result: dict, done):
        from studio.services import models

        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{spec.pack} downloaded",
            lambda: models.record_download(project, spec.pack, result["path"], result["sha256"]),
        )

    def finish(self, project, job_id, spec: ModelDownloadSpec) -> str:
        from studio.services import models

        record = models.downloaded_pack(project, spec.pack)
        checked = "checksum verified" if spec.sha256 else f"sha256 {record['sha256'][:16]}…"
        return f"The {spec.pack} face models are ready in {record['path']} ({checked})"
