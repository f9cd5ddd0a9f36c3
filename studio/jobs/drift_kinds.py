"""The drift review's jobs: footage import (one unit per clip) and drift analysis (per frame)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from studio.core.errors import StudioError
from studio.core.shots import ImportedFrame
from studio.core.specs import DriftSpec, FootageSpec
from studio.services import jobs as job_service
from studio.services import shots as shot_service

if TYPE_CHECKING:
    from studio.jobs.base import WorkContext

ANALYSIS_BATCH = 8  # frames per call of an engine's analyze_many; a cancel waits for one batch


class FootageImport:
    """Each video file or folder of images becomes a shot; its frames commit with it."""

    kind = FootageSpec.kind
    executor = "thread"  # results carry the frames' bytes, which stay in this process

    def units(self, spec: FootageSpec) -> list[str]:
        return list(dict.fromkeys(spec.sources))

    def work(self, spec: FootageSpec, units: list[str], ctx: WorkContext):
        from studio.engine import footage

        for source in units:
            ctx.cancel.raise_if_cancelled()
            try:
                info = footage.probe(source)
                frames, skipped = [], []
                for item in footage.read_footage(
                    source, spec.every, spec.max_frames + 1, spec.fps or None, ctx.cancel
                ):
                    if isinstance(item, footage.FootageSkip):
                        skipped.append((item.name, item.reason))
                        continue
                    frames.append(
                        ImportedFrame(
                            index=item.index,
                            source_index=item.source_index,
                            time_s=item.time_s,
                            data=item.data,
                            mime=item.mime,
                            width=item.width,
                            height=item.height,
                        )
                    )
                capped = len(frames) > spec.max_frames
                yield (
                    source,
                    {
                        "frames": frames[: spec.max_frames],
                        "skipped": skipped,
                        "fps": info.fps or (spec.fps or None),
                        "kind": info.kind,
                        "capped": capped,
                    },
                )
            except StudioError as exc:
                yield source, {"error": exc.message}

    def commit(self, project, job_id, spec: FootageSpec, unit, result, done):
        return job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{done} of {len(spec.sources)} clips",
            lambda: shot_service.store_footage(project, job_id, spec, unit, result),
        )

    def finish(self, project, job_id, spec: FootageSpec) -> str:
        return shot_service.footage_report(project, job_id).summary()


def _measure_looks(pictures, found, engine_id: str) -> dict[str, dict]:
    """Each picture's faces as results, with the look measured around each face."""
    from studio.engine import looks
    from studio.jobs.base import face_result as _face_result

    return {
        unit: {
            "engine_id": engine_id,
            "faces": [_face_result(f) for f in faces],
            "looks": [looks.measure_look(rgb, f.box, f.landmarks).to_dict() for f in faces],
        }
        for (unit, rgb), faces in zip(pictures, found, strict=True)
    }


def _hand_on(batch: list[str], results: dict[str, dict], measuring):
    """Yield a batch's results in order once its looks are measured."""
    if measuring is not None:
        results.update(measuring.result())
    for unit in batch:
        yield unit, results[unit]


def _load_face_engine(name: str, thorough: bool = False) -> Any:
    from studio.jobs.base import load_face_engine as load

    # The first pass over footage reports frames where the fast detector finds no face "not
    # measurable: no face found"; the user's "look harder" pass searches just those again.
    return load(name, thorough)


class DriftAnalysis:
    """Per frame: faces and looks (model work, skipped when cached), then scores per persona."""

    kind = DriftSpec.kind
    executor = "thread"  # dlib releases the GIL while it computes

    def __init__(self) -> None:
        self._contexts: dict[str, Any] = {}  # job id -> the cast it scores against
        self._shas: dict[str, dict[str, str]] = {}  # job id -> frame id -> image sha

    def units(self, spec: DriftSpec) -> list[str]:
        return self.extra_units(spec) + [frame_id for frame_id, _ in spec.frames]

    def extra_units(self, spec: DriftSpec) -> list[str]:
        """The references' looks, measured first; the counter runs over the frames only."""
        return [f"ref:{sha}:{index}" for sha, index, *_ in spec.ref_faces]

    def describe_extra(self, left: int) -> str:
        from studio.core.text import plural

        return f"Measuring {plural(left, 'reference')} first"

    def work(self, spec: DriftSpec, units: list[str], ctx: WorkContext):
        from studio.core.errors import BadImageError
        from studio.engine import images, looks

        boxes = {f"ref:{sha}:{i}": (box, marks) for sha, i, box, marks in spec.ref_faces}
        sha_of = dict(spec.frames)
        scan = set(spec.scan)
        relook = {sha: faces for sha, faces in spec.relook}
        engine = None
        looker = ThreadPoolExecutor(1, thread_name_prefix="looks")
        waiting = None  # the previous batch, its results and its looks being measured
        try:
            for start in range(0, len(units), ANALYSIS_BATCH):
                ctx.cancel.raise_if_cancelled()
                batch = units[start : start + ANALYSIS_BATCH]
                results: dict[str, dict] = {}
                pictures: list[tuple[str, Any]] = []
                for unit in batch:
                    if unit in boxes:
                        sha = unit.split(":")[1]
                        try:
                            rgb = images.decode(ctx.read_blob(sha), sha[:12]).rgb
                        except BadImageError as exc:
                            results[unit] = {"error": exc.message}
                            continue
                        box, marks = boxes[unit]
                        look = looks.measure_look(rgb, tuple(box), [tuple(p) for p in marks])
                        results[unit] = {"look": look.to_dict()}
                    elif sha_of[unit] in scan:
                        try:
                            rgb = images.decode(ctx.read_blob(sha_of[unit]), unit[:12]).rgb
                            pictures.append((unit, rgb))
                        except BadImageError as exc:
                            results[unit] = {"error": exc.message}
                    elif sha_of[unit] in relook:
                        # The faces are known: only the looks around them are measured again.
                        try:
                            rgb = images.decode(ctx.read_blob(sha_of[unit]), unit[:12]).rgb
                        except BadImageError as exc:
                            results[unit] = {"error": exc.message}
                            continue
                        results[unit] = {
                            "looks": [
                                looks.measure_look(rgb, box, marks).to_dict()
                                for box, marks in relook[sha_of[unit]]
                            ]
                        }
                    else:
                        results[unit] = {"cached": True}
                if pictures:
                    if engine is None:
                        engine = _load_face_engine(spec.engine, spec.thorough)
                    many = getattr(engine, "analyze_many", None)
                    rgbs = [rgb for _, rgb in pictures]
                    found = many(rgbs) if many else [engine.analyze(rgb) for rgb in rgbs]
                    # The looks of this batch are measured on a thread while the engine's workers
                    # find the faces of the next one; the batch is handed on when both are done.
                    measuring = looker.submit(_measure_looks, pictures, found, engine.engine_id)
                else:
                    measuring = None
                if waiting is not None:
                    yield from _hand_on(*waiting)
                waiting = (batch, results, measuring)
            if waiting is not None:
                yield from _hand_on(*waiting)
        finally:
            looker.shutdown(wait=False, cancel_futures=True)

    def commit(self, project, job_id, spec: DriftSpec, unit, result: dict, done):
        from studio.jobs.base import face_from_result as _face_from_result
        from studio.services import drift

        engine_id = result.get("engine_id") or spec.engine_id

        def store():
            if "error" in result:
                job_service.add_problem(project, job_id, f"{unit}: {result['error']}")
                return None
            if unit.startswith("ref:"):
                _, sha, index = unit.split(":")
                self._contexts.pop(job_id, None)  # the palette changed: reload the cast
                return drift.store_reference_look(
                    project, spec.engine_id, sha, int(index), result["look"]
                )
            shas = self._shas.get(job_id)
            if shas is None:
                shas = self._shas[job_id] = dict(spec.frames)
            sha = shas[unit]
            if "faces" in result:
                faces = [_face_from_result(f) for f in result["faces"]]
                drift.store_frame_scan(project, sha, spec.engine, engine_id, faces, result["looks"])
            elif "looks" in result:
                drift.store_frame_looks(project, sha, engine_id, result["looks"])
            ctx = self._contexts.get(job_id)
            if ctx is None or ctx.engine_id != engine_id:
                ctx = self._contexts[job_id] = drift.analysis_context(project, spec, engine_id)
            return drift.score_and_store(project, ctx, unit, sha)

        total = len(spec.frames)  # the reference looks are extra work, not counted
        message = (
            "Measuring the references first"
            if unit.startswith("ref:")
            else f"{done} of {total} frames analysed"
        )
        return job_service.commit_unit(project, job_id, unit, done, message, store)

    def finish(self, project, job_id, spec: DriftSpec) -> str:
        from studio.core.text import plural
        from studio.services import drift, review

        self._contexts.pop(job_id, None)
        self._shas.pop(job_id, None)
        bad = [b for b in job_service.get_job(project, job_id).error.split("\n") if b]
        # Of the shots it scored, as its title counts their frames.
        message = review.summary_line(drift.analysed_rows(project, spec))
        if not spec.frames:
            message = "Every frame was already analysed. " + message
        if bad:
            message += f"; {plural(len(bad), 'frame')} could not be read"
        return message
