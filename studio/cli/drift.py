"""Drift review verbs: analyze, review, thresholds, reshoots and the report.

Frames are numbered from 1, as the heat map, the inspector, the reshoot list and the report show
them (a frame with no time reads "frame N" in place of its timecode).
"""

from __future__ import annotations

import argparse
from typing import Any

from studio.cli.common import (
    UsageError,
    check_output_file,
    emit,
    open_project,
    progress_printer,
    run_job,
    with_cancel,
)
from studio.cli.shots import shot_entries, shot_lines
from studio.core.errors import StudioError
from studio.core.text import plural

DIMENSIONS = ("identity", "wardrobe", "lighting")  # as studio.core.drift names them
FRAMES_HELP = (
    "frames as the heat map numbers them, counted from 1: a range 3-9, a list 3,5,7 (or both, "
    "2-4,9), or all"
)


def cmd_analyze(args: argparse.Namespace) -> int:
    from studio.services import drift

    with open_project(args.project) as project:
        spec = drift.plan_analysis(
            project, [args.shot] if args.shot else None, args.engine, thorough=args.thorough
        )
        job = run_job(project, spec, "Analysing")
        entries = shot_entries(project, [args.shot] if args.shot else None)
    data = {"message": job.message, "shots": entries}
    emit(args, data, "\n".join([job.message] + shot_lines(entries)))
    return 0


# -- review -----------------------------------------------------------------------------------


def _frames_arg(text: str) -> str:
    """argparse type for --frames: the syntax is checked here (exit 2), the range per shot."""
    from studio.core.review import check_frame_spec

    try:
        return check_frame_spec(text)
    except StudioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_review(args: argparse.Namespace) -> int:
    from studio.services import review

    if args.action is None and args.note is None:
        raise UsageError("say what to do: --reshoot, --approve, --clear and/or --note TEXT")
    with open_project(args.project) as project:
        done = review.review_frames(
            project, args.shot, args.frames, args.action, args.note, args.persona
        )
        frames = done.frames()
    row = done.row
    data = {
        "shot": row.shot.name,
        "persona": row.persona_name,
        "action": args.action,
        "note": args.note,
        "changed": len(done.changes),
        "frames": frames,
    }
    what = {"reshoot": "Flagged for reshoot", "approved": "Approved", "clear": "Cleared"}.get(
        args.action, "Noted"
    )
    lines = [
        f"{what}: {plural(len(frames), 'frame')} of {row.shot.name} ({len(done.changes)} changed)"
    ]
    for f in frames:
        state = f["review"] or "no review"
        note = f" — {f['note']}" if f["note"] else ""
        lines.append(f"  frame {f['frame']}  {f['timecode']}  {state}  {f['why']}{note}")
    emit(args, data, "\n".join(lines))
    return 0


def cmd_reshoots(args: argparse.Namespace) -> int:
    from studio.services import review

    if args.add_drifted:
        with open_project(args.project) as project:
            added = review.flag_drifted(project)
            items = review.reshoots(project)
    else:
        with open_project(args.project, read_only=True) as project:
            items = review.reshoots(project)
    lines = []
    if args.add_drifted:
        lines.append(f"Flagged {plural(len(added), 'drifted frame')} for reshoot.")
    for it in items:
        note = f"\n    note: {it['note']}" if it["note"] else ""
        lines.append(f"{it['shot']} · frame {it['frame']} · {it['timecode']}: {it['why']}{note}")
    if not items:
        lines.append(
            "No frames flagged for reshoot. Flag them with: persona-studio review PROJECT "
            "--shot NAME --frames N --reshoot (or reshoots PROJECT --add-drifted)"
        )
    data: dict[str, Any] = {"reshoots": items}
    if args.add_drifted:
        data["added"] = len(added)
    emit(args, data, "\n".join(lines))
    return 0


# -- thresholds -------------------------------------------------------------------------------


def cmd_thresholds(args: argparse.Namespace) -> int:
    from studio.services import review

    values = {d: getattr(args, d) for d in DIMENSIONS if getattr(args, d) is not None}
    if args.calibrated and values:
        raise UsageError("--calibrated puts the calibrated thresholds back; give no values with it")
    changing = bool(values or args.calibrated or args.enable or args.disable)
    with open_project(args.project, read_only=not changing) as project:
        if changing:
            info, _old = review.change_thresholds(
                project,
                args.persona,
                values,
                calibrated=args.calibrated,
                enable=args.enable or (),
                disable=args.disable or (),
            )
        else:
            info = review.threshold_info(project, args.persona)
    emit(args, {**info.to_dict(), "changed": changing}, "\n".join(info.lines()))
    return 0


# -- the report -------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from studio.core.errors import Cancelled, ProjectLockedError
    from studio.services import review
    from studio.services.projects import open_project as open_

    check_output_file(args.output, f"report.{args.format or 'html'}")
    fmt = review.report_format(args.output, args.format)
    cancelled = "Cancelled: the report was not written."
    try:
        project = open_(args.project)
    except ProjectLockedError:  # the window has it open: report from a read-only view
        project = open_(args.project, read_only=True)
    try:
        spec = review.plan_report(project, fmt, args.output)
        if project.read_only:  # no job queue to write to: the same work, here
            from studio.jobs.report import run_report

            label = progress_printer("Writing the report")
            try:
                message = with_cancel(lambda token: run_report(project, spec, label, token))
            except Cancelled:
                raise StudioError(cancelled) from None
        else:
            message = run_job(project, spec, "Writing the report", on_cancel=cancelled).message
    finally:
        project.close()
    summary = message.rsplit(": ", 1)[-1]
    emit(args, {"output": spec.output, "format": fmt, "summary": summary}, message)
    return 0


# -- the parser -------------------------------------------------------------------------------


def register(verb, group) -> None:
    p = verb("analyze", "score every frame for identity, wardrobe and lighting drift (a job)")
    p.add_argument("project")
    p.add_argument("--shot", metavar="NAME", help="only this shot")
    p.add_argument("--engine", metavar="NAME", help="face engine (default: the project's)")
    p.add_argument(
        "--thorough",
        action="store_true",
        help="also search frames where no face was found with the slow detector, which finds "
        "turned and small faces (about 1.5 s a frame)",
    )
    p.set_defaults(func=cmd_analyze)

    p = verb(
        "review",
        "flag frames of a shot for reshoot, approve them, clear their review or note them",
        epilog="Frames are numbered from 1, as the heat map, the inspector and the reshoot list "
        "show them (a frame without a time shows as 'frame N'). Reviews belong to frames: "
        "--persona only chooses whose scores are shown when a shot expects several personas. "
        "--clear takes the review off and keeps the note unless --note is given too.",
    )
    p.add_argument("project")
    p.add_argument("--shot", required=True, metavar="NAME", help="as `shots list` names it")
    p.add_argument("--frames", required=True, type=_frames_arg, metavar="FRAMES", help=FRAMES_HELP)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--reshoot", dest="action", action="store_const", const="reshoot",
                     help="put the frames on the reshoot list")  # fmt: skip
    how.add_argument("--approve", dest="action", action="store_const", const="approved",
                     help="on-model as they are")  # fmt: skip
    how.add_argument("--clear", dest="action", action="store_const", const="clear",
                     help="take the review off")  # fmt: skip
    p.add_argument("--note", metavar="TEXT", help="note on the frames ('' removes it)")
    p.add_argument("--persona", metavar="NAME", help="whose scores to show (default: the first)")
    p.set_defaults(func=cmd_review, action=None)

    p = verb(
        "thresholds",
        "show a persona's drift thresholds (override, calibrated or default) and set them",
        epilog="With no option it only prints them. --calibrated puts back the calibrated "
        "identity threshold and the default wardrobe and lighting ones; the checks switched "
        "on or off stay as they are.",
    )
    p.add_argument("project")
    p.add_argument("--persona", required=True, metavar="NAME")
    p.add_argument("--identity", type=float, metavar="X", help="flag below this similarity")
    p.add_argument("--wardrobe", type=float, metavar="X", help="flag above this ΔE2000")
    p.add_argument("--lighting", type=float, metavar="X", help="flag above this light distance")
    p.add_argument("--calibrated", action="store_true", help="remove the overrides")
    p.add_argument("--enable", action="append", choices=DIMENSIONS, metavar="CHECK",
                   help="check this too: identity, wardrobe or lighting (repeatable)")  # fmt: skip
    p.add_argument("--disable", action="append", choices=DIMENSIONS, metavar="CHECK",
                   help="stop checking this (repeatable)")  # fmt: skip
    p.set_defaults(func=cmd_thresholds)

    p = verb("reshoots", "the reshoot list: shot, frame, timecode, why and the note")
    p.add_argument("project")
    p.add_argument(
        "--add-drifted",
        action="store_true",
        help="first flag every drifted frame nobody has reviewed yet (as the window's "
        "'Flag every drifted frame for reshoot')",
    )
    p.set_defaults(func=cmd_reshoots)

    p = verb("report", "write the drift report: each shot's and each frame's scores, flags, notes")
    p.add_argument("project")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--format", choices=("html", "csv", "json"), help="default: from FILE's suffix")
    p.set_defaults(func=cmd_report)
