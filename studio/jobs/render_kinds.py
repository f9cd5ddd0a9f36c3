"""The render job: one unit per frame, rendered in the long-lived worker, committed as a take.

The worker keeps one `Renderer` (and so its loaded pipelines) between jobs while the model set
is unchanged; each decoded frame comes back as PNG bytes and is committed at once, so a killed
render loses at most the frames in flight and a resumed one renders only the missing frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.jobs import Progress
from studio.core.render import RenderSpec, frame_unit, parse_frame_unit
from studio.core.text import plural
from studio.services import jobs as job_service
from studio.services import rendering

if TYPE_CHECKING:
    from studio.jobs.base import WorkContext

_renderers: dict[tuple[str, str], Any] = {}  # (device, dtype) -> Renderer, kept in the worker


def _renderer(device: str, dtype: str) -> Any:
    """The renderer for a device choice, made once per process (tests replace this)."""
    key = (device, dtype)
    if key not in _renderers:
        from studio.engine.render.renderer import Renderer

        for other in list(_renderers):  # one device's pipelines at a time: GPU memory is scarce
            _renderers.pop(other).release()
        _renderers[key] = Renderer(device=device, dtype=dtype)
    return _renderers[key]


class Render:
    kind = RenderSpec.kind
    executor = "worker"

    def units(self, spec: RenderSpec) -> list[str]:
        return spec.units()

    def work(self, spec: RenderSpec, units: list[str], ctx: WorkContext):
        renderer = _renderer(spec.device, spec.dtype)
        wanted = set(units)
        total = len(spec.units())
        done = [total - len(units)]  # frames finished, read by the step callback
        for shot in spec.shots:
            frames = [i for i, _ in shot.seeds if frame_unit(shot.shot_id, i) in wanted]
            if not frames:
                continue

            def on_step(step: Any, shot=shot) -> None:
                first = step.frames[0] + 1
                which = (
                    f"frame {first}"
                    if len(step.frames) == 1
                    else (f"frames {first}-{step.frames[-1] + 1}")
                )
                ctx.progress(
                    Progress(
                        done[0], total, f"{shot.shot_name} {which}: step {step.step}/{step.steps}"
                    )
                )

            for frame in renderer.render(
                shot, frames, ctx.read_blob, ctx.cancel, on_step, spec.batch_size
            ):
                done[0] += 1
                yield (
                    frame_unit(shot.shot_id, frame.index),
                    {
                        "png": frame.png,
                        "seed": frame.seed,
                        "width": frame.width,
                        "height": frame.height,
                        "seconds": frame.seconds,
                        "device": frame.device,
                        "dtype": frame.dtype,
                        "notes": list(frame.notes),
                    },
                )

    def commit(self, project, job_id, spec: RenderSpec, unit, result: dict, done):
        from studio.project import renders as render_rows

        shot_id, index = parse_frame_unit(unit)
        shot = next(s for s in spec.shots if s.shot_id == shot_id)
        provenance = rendering.take_provenance(spec, shot, index, result)
        provenance["job_id"] = job_id
        job_service.commit_unit(
            project,
            job_id,
            unit,
            done,
            f"{done} of {len(spec.units())} frames",
            lambda: render_rows.store_take(project, shot_id, index, result["png"], provenance),
        )

    def finish(self, project, job_id, spec: RenderSpec) -> str:
        n = len(spec.units())
        shots = plural(len(spec.shots), "shot")
        return f"Rendered {plural(n, 'frame')} of {shots}"

    def release(self) -> None:
        for key in list(_renderers):
            _renderers.pop(key).release()
