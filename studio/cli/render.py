"""`render`: render shots of the persona (one batch job), then score the new frames for drift."""

from __future__ import annotations

import argparse
import sys

from studio.cli.common import emit, open_project, run_job


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def cmd_render(args: argparse.Namespace) -> int:
    from studio.jobs.tokens import count_tokens
    from studio.services import drift, rendering

    with open_project(args.project) as project:
        if args.again:
            spec = rendering.plan_again(project, args.again, device=args.device, dtype=args.dtype)
            notes, skipped, frames = (), (), len(spec.units())
        else:
            plan = rendering.plan_render(
                project,
                args.shot or None,
                args.frames,
                force=args.force,
                device=args.device,
                dtype=args.dtype,
                batch_size=args.batch or 0,
                analyse=not args.no_analyse,
                count_tokens=count_tokens,
            )
            spec, notes, skipped, frames = plan.spec, plan.notes, plan.skipped, plan.frames
        for line in (*notes, *skipped):
            _say(line)
        data: dict = {"notes": list(notes), "skipped": list(skipped), "frames": frames}
        if not frames:
            emit(args, data | {"message": "Nothing to render."}, "Nothing to render.")
            return 0
        job = run_job(project, spec, "Rendering")
        data |= {"job": job.id, "message": job.message}
        lines = [job.message]
        if spec.analyse and not args.again:
            shots = [s.shot_id for s in spec.shots]
            analysis = drift.plan_analysis(project, shots)
            if analysis.frames or analysis.scan:
                scored = run_job(project, analysis, "Scoring")
                lines.append(scored.message)
                data["analysis"] = scored.message
    emit(args, data, "\n".join(lines))
    return 0


def register(verb, group) -> None:
    p = verb(
        "render",
        "render shots of the persona on the local GPU (one batch job; each frame is kept as a "
        "take with what made it), then score the new frames for drift",
    )
    p.add_argument("project")
    p.add_argument(
        "--shot", action="append", metavar="NAME", help="only this shot (repeat for several)"
    )
    p.add_argument("--frames", metavar="RANGE", help="only these frames, e.g. 3-9 or 1,4 (from 1)")
    p.add_argument(
        "--force", action="store_true", help="render frames again even when their take is current"
    )
    p.add_argument("--again", metavar="TAKE", help="render one take again from its provenance")
    p.add_argument("--device", default="", help="cuda, cuda:1, mps or cpu (default: the best)")
    p.add_argument("--dtype", default="", help="float16, bfloat16 or float32 (default: by device)")
    p.add_argument("--batch", type=int, metavar="N", help="frames per batch (default: by memory)")
    p.add_argument(
        "--no-analyse", action="store_true", help="do not score the new frames for drift"
    )
    p.set_defaults(func=cmd_render)
