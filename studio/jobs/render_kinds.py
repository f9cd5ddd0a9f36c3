"""The render job: one unit per frame, rendered in the long-lived worker, committed as a take.

The worker keeps one `Renderer` (and so its loaded pipelines) between jobs while the model set
is unchanged; each decoded frame comes back as PNG bytes and is committed at once, so a killed
render loses at most the frames in flight and a resumed one renders only the missing frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.changes import Changes
from studio.core.jobs import Progress
from studio.core.render import (
    RenderSpec,
    ShotRender,
    frame_unit,
    is_keyframe_unit,
    keyframe_unit,
    parse_frame_unit,
)
from studio.core.text import plural
from studio.services import jobs as job_service
from studio.services import rendering

if TYPE_CHECKING:
    from studio.jobs.base import WorkContext

_renderers: dict[tuple[str, str], Any] = {}  # (device, dtype) -> Renderer, kept in the worker
_animators: dict[tuple[str, str], Any] = {}  # (device, dtype) -> Animator, kept in the worker


def _renderer(device: str, dtype: str) -> Any:
    """The renderer for a device choice, made once per process (tests replace this)."""
    key = (device, dtype)
    if key not in _renderers:
        from studio.engine.render.renderer import Renderer

        for other in list(_renderers):  # one device's pipelines at a time: GPU memory is scarce
            _renderers.pop(other).release()
        _renderers[key] = Renderer(device=device, dtype=dtype)
    return _renderers[key]


def _animator(device: str, dtype: str) -> Any:
    """The video model animator for a device choice, made once per process."""
    key = (device, dtype)
    if key not in _animators:
        from studio.engine.render.motion import Animator

        for other in list(_animators):
            _animators.pop(other).release()
        _animators[key] = Animator(device=device, dtype=dtype)
    return _animators[key]


def _result(frame: Any) -> dict:
    return {
        "png": frame.png,
        "seed": frame.seed,
        "width": frame.width,
        "height": frame.height,
        "seconds": frame.seconds,
        "device": frame.device,
        "dtype": frame.dtype,
        "notes": list(frame.notes),
    }


def _work_motion(spec: RenderSpec, shot: ShotRender, wanted: set[str], ctx: WorkContext, done):
    """A motion shot's units: its keyframe (rendered as a still, or the kept one) and the clip
    frames. The clip is deterministic, so a resumed job animates it again and yields only the
    frames still missing."""
    import hashlib
    import time

    key_unit = keyframe_unit(shot.shot_id)
    frames = {i for i, _ in shot.seeds if frame_unit(shot.shot_id, i) in wanted}
    if key_unit not in wanted and not frames:
        return
    total = len(spec.units())
    animator = _animator(spec.device, spec.dtype)
    if frames:  # a clip the model cannot animate fails before the keyframe is rendered
        animator.check(shot.motion, shot.clip_frames, shot.width, shot.height, shot.steps)

    def on_step(step: Any, what: str) -> None:
        preview, label = None, ""
        if step.preview is not None:  # encoded here, in the work, so only a JPEG travels
            from studio.engine.render.preview import encode_preview

            preview = encode_preview(step.preview)
            label = f"{shot.shot_name} · {what} · step {step.step}/{step.steps}"
        ctx.progress(
            Progress(
                done[0],
                total,
                f"{shot.shot_name} {what}: step {step.step}/{step.steps}",
                preview=preview,
                preview_label=label,
            )
        )

    if shot.keyframe:
        png = ctx.read_blob(shot.keyframe)
    else:
        ctx.progress(Progress(done[0], total, f"{shot.shot_name}: loading {shot.base.name}…"))
        renderer = _renderer(spec.device, spec.dtype)
        still = shot.still()
        key = next(
            iter(
                renderer.render(
                    still, [0], ctx.read_blob, ctx.cancel, lambda s: on_step(s, "keyframe"), 1
                )
            )
        )
        png = key.png
        if key_unit in wanted:
            done[0] += 1
            yield key_unit, _result(key)
        if frames and renderer.device.type != "cpu":
            renderer.release()  # the still and the video model rarely fit in GPU memory together
    if not frames:
        return
    keyframe_sha = hashlib.sha256(png).hexdigest()
    ctx.progress(Progress(done[0], total, f"{shot.shot_name}: loading {shot.motion.name}…"))
    started = time.monotonic()
    for index, frame_png in enumerate(
        animator.animate(
            shot.motion, png, shot.prompt, shot.negative, shot.clip_frames, shot.width,
            shot.height, shot.steps, shot.guidance, shot.clip_seed, ctx.cancel,
            lambda s: on_step(s, "clip"),
        )
    ):  # fmt: skip
        if index not in frames:
            continue
        done[0] += 1
        yield (
            frame_unit(shot.shot_id, index),
            {
                "png": frame_png,
                "seed": shot.clip_seed,
                "width": shot.width,
                "height": shot.height,
                "seconds": round(time.monotonic() - started, 3),
                "device": str(animator.device),
                "dtype": str(animator.dtype).removeprefix("torch."),
                "notes": [],
                "keyframe_sha": keyframe_sha,
            },
        )


class Render:
    kind = RenderSpec.kind
    executor = "worker"

    def units(self, spec: RenderSpec) -> list[str]:
        return spec.units()

    def work(self, spec: RenderSpec, units: list[str], ctx: WorkContext):
        wanted = set(units)
        total = len(spec.units())
        done = [total - len(units)]  # frames finished, read by the step callback
        # Until the first step, the job says what it is waiting for (a first render imports
        # the libraries and loads the model: many seconds on a CPU).
        ctx.progress(Progress(done[0], total, "Loading the render engine…"))
        renderer = _renderer(spec.device, spec.dtype)
        for shot in spec.shots:
            if shot.motion is not None:
                yield from _work_motion(spec, shot, wanted, ctx, done)
                continue
            frames = [i for i, _ in shot.seeds if frame_unit(shot.shot_id, i) in wanted]
            if not frames:
                continue
            ctx.progress(Progress(done[0], total, f"{shot.shot_name}: loading {shot.base.name}…"))

            def on_step(step: Any, shot=shot) -> None:
                first = step.frames[0] + 1
                which = (
                    f"frame {first}"
                    if len(step.frames) == 1
                    else (f"frames {first}-{step.frames[-1] + 1}")
                )
                preview, label = None, ""
                if step.preview is not None:  # the batch's first frame
                    from studio.engine.render.preview import encode_preview

                    preview = encode_preview(step.preview)
                    label = f"{shot.shot_name} · frame {first} · step {step.step}/{step.steps}"
                ctx.progress(
                    Progress(
                        done[0],
                        total,
                        f"{shot.shot_name} {which}: step {step.step}/{step.steps}",
                        preview=preview,
                        preview_label=label,
                    )
                )

            for frame in renderer.render(
                shot, frames, ctx.read_blob, ctx.cancel, on_step, spec.batch_size
            ):
                done[0] += 1
                yield frame_unit(shot.shot_id, frame.index), _result(frame)

    def commit(self, project, job_id, spec: RenderSpec, unit, result: dict, done):
        from studio.project import renders as render_rows

        if is_keyframe_unit(unit):
            shot_id = unit.rpartition("/")[0]
            shot = next(s for s in spec.shots if s.shot_id == shot_id)
            provenance = rendering.take_provenance(spec, shot.still(), 0, result)
            provenance["job_id"] = job_id

            def store_keyframe() -> Changes:
                render_rows.put_keyframe(
                    project, shot_id, result["png"], provenance["recipe"], provenance
                )
                return Changes.of(shots=[shot_id])

            return job_service.commit_unit(
                project, job_id, unit, done, f"{done} of {len(spec.units())} frames", store_keyframe
            )
        shot_id, index = parse_frame_unit(unit)
        shot = next(s for s in spec.shots if s.shot_id == shot_id)
        if shot.motion is not None:
            provenance = rendering.clip_provenance(spec, shot, index, result)
        else:
            provenance = rendering.take_provenance(spec, shot, index, result)
        provenance["job_id"] = job_id

        def store() -> Changes:
            take_id = render_rows.store_take(project, shot_id, index, result["png"], provenance)
            frame_id = render_rows.get_take(project, take_id).frame_id
            return Changes.of(shots=[shot_id], frames=[frame_id])

        return job_service.commit_unit(
            project, job_id, unit, done, f"{done} of {len(spec.units())} frames", store
        )

    def finish(self, project, job_id, spec: RenderSpec) -> str:
        units = spec.units()
        n = sum(1 for u in units if not is_keyframe_unit(u))
        keys = len(units) - n
        shots = plural(len(spec.shots), "shot")
        said = f" and {plural(keys, 'keyframe')}" if keys else ""
        return f"Rendered {plural(n, 'frame')}{said} of {shots}"

    def release(self) -> None:
        for key in list(_renderers):
            _renderers.pop(key).release()
        for key in list(_animators):
            _animators.pop(key).release()
