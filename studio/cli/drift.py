"""Drift review verbs: shots, analyze, review, thresholds, reshoots and the report.

Frames are numbered from 1, as the heat map, the inspector, the reshoot list and the report show
them (a frame with no time reads "frame N" in place of its timecode).
"""

from __future__ import annotations

import argparse
import os
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
from studio.core.errors import StudioError
from studio.core.text import plural

DIMENSIONS = ("identity", "wardrobe", "lighting")  # as studio.core.drift names them
FRAMES_HELP = (
    "frames as the heat map numbers them, counted from 1: a range 3-9, a list 3,5,7 (or both, "
    "2-4,9), or all"
)


# -- shots ------------------------------------------------------------------------------------


def _row_line(d: dict) -> str:
    from studio.services.review import describe_value

    text = (
        f"{d['frames']} frames, {d['analysed']} analysed, {d['flagged']} flagged, "
        f"{d['not_measurable']} not measurable"
    )
    if d.get("stale"):
        text += f", {d['stale']} out of date (analyze updates them)"
    if d["worst_frame"] is not None:
        worst = describe_value(d["worst_on"], d["worst_value"])
        text += f"; worst {worst} at {d['worst_timecode']} (frame {d['worst_frame']})"
    return text


def _shot_entries(project: Any, shot_keys: list[str] | None = None) -> list[dict]:
    """One entry per shot and persona scored in it, each naming the personas expected in it.

    A shot with nobody to score against (an empty cast) is listed with its frames only.
    """
    from studio.services import drift, review, shots

    rows = drift.drift_rows(project, shot_keys)
    cast = shots.expected_personas(project)
    listed = [r.shot for r in rows] if shot_keys else shots.list_shots(project)
    out = []
    for shot in {s.id: s for s in listed}.values():
        mine = [r for r in rows if r.shot.id == shot.id]
        expected = {"expected": cast.get(shot.id, [])}
        out += [{**review.shot_summary(r), **expected} for r in mine] or [
            {"shot": shot.name, "persona": None, "frames": shot.frame_count, **expected}
        ]
    return out


def _shot_lines(entries: list[dict]) -> list[str]:
    """A line per shot; a shot expecting several personas has a line per persona below it."""
    lines = []
    by_shot: dict[str, list[dict]] = {}
    for e in entries:
        by_shot.setdefault(e["shot"], []).append(e)
    for name, mine in by_shot.items():
        expected = ", ".join(mine[0]["expected"]) or "nobody expected"
        if mine[0]["persona"] is None:
            lines.append(f"{name} ({expected}): {plural(mine[0]['frames'], 'frame')}")
        elif len(mine) == 1:
            lines.append(f"{name} ({expected}): " + _row_line(mine[0]))
        else:
            lines.append(f"{name} ({expected}): {plural(mine[0]['frames'], 'frame')}")
            lines += [f"  {d['persona']}: " + _row_line(d) for d in mine]
    return lines


def _footage_lines(report: Any) -> list[str]:
    """The import report's lines, each refused file named once (its reason may repeat the name)."""
    lines = report.lines()
    for source, reason in report.rejected:
        name = os.path.basename(source)
        if reason.startswith(name + ": "):
            said = f"  {source}: {reason}"
            lines = [f"  {source}: {reason[len(name) + 2 :]}" if ln == said else ln for ln in lines]
    return lines


def cmd_shots(args: argparse.Namespace) -> int:
    from studio.services import shots

    if args.shots_action == "import":
        with open_project(args.project) as project:
            spec = shots.plan_footage_import(
                project,
                args.persona,
                args.paths,
                every=args.every,
                max_frames=args.max_frames,
                fps=args.fps,
                outfits=args.outfit or (),
            )
            job = run_job(project, spec, "Importing footage")
            report = shots.footage_report(project, job.id)
        emit(args, report.to_dict(), "\n".join(_footage_lines(report)))
        return 1 if report.rejected else 0
    if args.shots_action == "outfit":
        from studio.services import personas

        with open_project(args.project) as project:
            shots.set_outfit(project, args.shot, args.persona, args.outfit)
            shot = shots.get_shot(project, args.shot)
            persona = personas.get_persona(project, args.persona)
            now = shot.outfit_for(persona.id)
        said = f"'{now}'" if now else "any of the persona's outfits"
        emit(
            args,
            {"shot": shot.name, "persona": persona.name, "outfit": now},
            f"{shot.name} expects {persona.name} in {said}. Analyse to update its wardrobe scores.",
        )
        return 0
    with open_project(args.project, read_only=True) as project:
        entries = _shot_entries(project)
    emit(args, entries, "\n".join(_shot_lines(entries)) or "No shots yet.")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from studio.services import drift

    with open_project(args.project) as project:
        spec = drift.plan_analysis(
            project, [args.shot] if args.shot else None, args.engine, thorough=args.thorough
        )
        job = run_job(project, spec, "Analysing")
        entries = _shot_entries(project, [args.shot] if args.shot else None)
    data = {"message": job.message, "shots": entries}
    emit(args, data, "\n".join([job.message] + _shot_lines(entries)))
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
    shots_action = group(
        "shots",
        "import footage as shots, list shots with their drift",
        "Shots of the project's timeline, made from video files or folders of images.",
        cmd_shots,
    )
    a = shots_action("import", "import video files or folders of numbered images as shots")
    a.add_argument(
        "--persona",
        required=True,
        action="append",
        metavar="NAME",
        help="a persona expected in them (repeat for several: --persona Ada --persona Bea)",
    )
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--every", type=int, default=1, metavar="N", help="keep every Nth frame")
    a.add_argument("--max-frames", type=int, default=1000, metavar="N", help="frame cap per shot")
    a.add_argument("--fps", type=float, metavar="FPS", help="frame rate of image folders")
    a.add_argument(
        "--outfit",
        action="append",
        metavar="NAME|PERSONA=NAME",
        help="the outfit the shots expect (default: any); the wardrobe is checked "
        "against the references tagged with it and its colours",
    )
    a = shots_action("outfit", "set the outfit a shot expects a persona in")
    a.add_argument("shot", metavar="SHOT")
    a.add_argument("--persona", required=True, metavar="NAME")
    a.add_argument("--outfit", metavar="NAME", help="the outfit (leave out: any of the persona's)")
    shots_action(
        "list",
        "every shot with the personas expected in it, frames analysed and flagged, and its "
        "worst frame (on the check that flagged it)",
    )

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
