"""Shot verbs: import footage as shots, make shots to render and set how, list them, export.

Frames are numbered from 1, as every view of the studio numbers them.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from studio.cli.common import (
    UsageError,
    emit,
    open_project,
    progress_printer,
    run_job,
    with_cancel,
)
from studio.core.errors import StudioError
from studio.core.text import plural

# Options of `shots add` / `shots set` -> the render setting each one sets.
SETTING_OPTIONS = (
    ("action", "action"),
    ("camera", "camera"),
    ("framing", "framing"),
    ("lighting", "lighting_setup"),
    ("frames", "frames"),
    ("steps", "steps"),
    ("guidance", "guidance"),
    ("sampler", "sampler"),
    ("model", "model"),
    ("references", "references"),
    ("yaw", "yaw"),
    ("pitch", "pitch"),
    ("seed_offset", "seed_offset"),
    ("motion", "motion"),
    ("clip_frames", "clip_frames"),
)
LORA_WEIGHT = 1.0
ADAPTER_SCALE = 0.6


# -- listing ------------------------------------------------------------------------------------


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


def shot_entries(project: Any, shot_keys: list[str] | None = None) -> list[dict]:
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


def shot_lines(entries: list[dict]) -> list[str]:
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


# -- render settings ----------------------------------------------------------------------------


def _size_arg(text: str) -> tuple[int, int]:
    """argparse type for --size: WxH, or "native" for the model family's own size."""
    if text.strip().lower() == "native":
        return (0, 0)
    w, x, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = None
    if not x or size is None or min(size) <= 0:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a size: write WIDTHxHEIGHT (768x1024) or native"
        )
    return size


def _named_value(default: float):
    """argparse type for NAME[:VALUE] (a LoRA's weight, an adapter's scale)."""

    def parse(text: str) -> tuple[str, float]:
        name, colon, value = text.rpartition(":")
        if not colon:
            name, value = text, ""
        try:
            number = float(value) if value else default
        except ValueError:
            name, number = text, default  # a name with a colon in it and no value
        name = name.strip()
        if not name:
            raise argparse.ArgumentTypeError(f"'{text}' names no model: write NAME or NAME:VALUE")
        return (name, number)

    return parse


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The render settings the options give (only those given)."""
    changes = {
        field: getattr(args, option)
        for option, field in SETTING_OPTIONS
        if getattr(args, option) is not None
    }
    if args.size is not None:
        changes["width"], changes["height"] = args.size
    for option, clear, field in (
        ("lora", "no_lora", "loras"),
        ("ip_adapter", "no_ip_adapter", "ip_adapters"),
        ("pin", "no_pin", "pinned_references"),
    ):
        given, cleared = getattr(args, option), getattr(args, clear, False)
        if given and cleared:
            dash = option.replace("_", "-")
            raise UsageError(f"give --{dash} or --no-{dash}, not both")
        if given is not None:
            changes[field] = tuple(given)
        elif cleared:
            changes[field] = ()
    return changes


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _uses(items, word: str) -> str:
    return ", ".join(f"{n} ({word} {_number(v)})" for n, v in items) or "none"


def _settings_lines(shot: Any, settings: Any, personas: dict[str, str], rendered: int) -> list[str]:
    from studio.services.export import shot_rate

    s = settings
    outfits = [f"{personas.get(pid, pid)}: {outfit}" for pid, outfit in shot.outfits if outfit] or [
        "any of the wardrobe"
    ]
    size = f"{s.width}x{s.height}" if s.width and s.height else "native"
    rows = [
        ("personas", ", ".join(personas.get(p, p) for p in shot.persona_ids)),
        ("action", s.action or "—"),
        ("camera", s.camera or "—"),
        ("framing", s.framing or "—"),
        ("outfit", "; ".join(outfits)),
        ("lighting", s.lighting_setup or "the persona's first allowed setup"),
        ("frames", f"{s.frames} ({rendered} rendered)"),
        ("frame rate", f"{_number(shot_rate(shot))} fps" + ("" if shot.fps else " (the default)")),
        ("size", size if size != "native" else "native (512x512 SD 1.5, 1024x1024 SDXL)"),
        ("steps", str(s.steps)),
        ("guidance", _number(s.guidance)),
        ("sampler", s.sampler or "the model's own"),
        ("model", s.model or "the persona's DreamBooth model, or the project's base model"),
        ("LoRAs", _uses(s.loras, "weight")),
        ("IP-Adapters", _uses(s.ip_adapters, "scale")),
        ("references", str(s.references)),
        ("pinned", ", ".join(r[:10] for r in s.pinned_references) or "none: the library's picks"),
        ("head pose", f"yaw {_number(s.yaw)}°, pitch {_number(s.pitch)}°"),
        ("seed offset", f"{s.seed_offset:,}"),
    ]
    if s.motion:
        rows.append(("motion", f"{s.motion}, a clip of {plural(s.clip_frames, 'frame')}"))
    return [f"{shot.name}"] + [f"  {k + ':':<13}{v}" for k, v in rows]


def _show(args: argparse.Namespace, project: Any, shot_key: str, said: str = "") -> int:
    from studio.services import personas, renders

    shot, settings = renders.render_shot(project, shot_key)
    names = {p.id: p.name for p in personas.list_personas(project)}
    rendered = len(renders.rendered_frames(project, shot.id))
    data = {
        "shot": shot.name,
        "personas": [names.get(p, p) for p in shot.persona_ids],
        "outfits": {names.get(p, p): o for p, o in shot.outfits},
        "settings": settings.to_dict(),
        "fps": shot.fps,
        "rendered": rendered,
    }
    lines = ([said] if said else []) + _settings_lines(shot, settings, names, rendered)
    emit(args, data, "\n".join(lines))
    return 0


def cmd_shots(args: argparse.Namespace) -> int:
    from studio.services import shots

    action = args.shots_action
    if action == "add":
        from studio.core.render import RenderSettings
        from studio.services import renders

        changes = _changes(args)
        with open_project(args.project) as project:
            shot = renders.add_render_shot(
                project, args.name, args.persona, RenderSettings(**changes), args.outfit, args.fps
            )
            return _show(args, project, shot.id, f"Added the shot '{shot.name}' to render.")
    if action == "set":
        from studio.services import renders

        changes = _changes(args)
        if args.outfit is not None:
            changes["outfit"] = args.outfit or None
        if not changes and args.fps is None:
            raise UsageError("say what to change: give one or more of the setting options")
        with open_project(args.project) as project:
            if args.fps is not None:
                renders.set_shot_fps(project, args.name, args.fps)
            if changes:
                renders.set_render_settings(project, args.name, **changes)
            return _show(args, project, args.name)
    if action == "show":
        with open_project(args.project, read_only=True) as project:
            return _show(args, project, args.name)
    if action == "import":
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
    if action == "outfit":
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
        entries = shot_entries(project)
    emit(args, entries, "\n".join(shot_lines(entries)) or "No shots yet.")
    return 0


# -- export -------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from studio.core.errors import Cancelled, ProjectLockedError
    from studio.core.takes import EXPORT_VIDEO
    from studio.services import export
    from studio.services.projects import open_project as open_

    try:
        project = open_(args.project)
    except ProjectLockedError:  # the window has it open: export from a read-only view
        project = open_(args.project, read_only=True)
    try:
        spec = export.plan_export(project, args.shot, args.output, args.frames)
        video = spec.output == EXPORT_VIDEO
        cancelled = (
            "Cancelled: no video was written."
            if video
            else "Cancelled: part of the frames were written."
        )
        if project.read_only:  # no job queue to write to: the same work, here
            from studio.jobs.export_kinds import run_export

            label = progress_printer("Exporting")
            try:
                message = with_cancel(lambda token: run_export(project, spec, label, token))
            except Cancelled:
                raise StudioError(cancelled) from None
        else:
            on_cancel = cancelled if video else None
            message = run_job(project, spec, "Exporting", on_cancel=on_cancel).message
    finally:
        project.close()
    data = {
        "shot": spec.shot_name if spec.shot_id else None,
        "shots": list(spec.shots),
        "output": spec.output,
        "message": message,
    }
    if video:
        data |= {"video": spec.path, "frames": spec.video_frames, "fps": spec.fps}
        data |= {"width": spec.width, "height": spec.height}
    else:
        data |= {"folder": spec.folder, "files": [f.unit for f in spec.frames]}
        data["missing"] = [i + 1 for i in spec.missing]
    emit(args, data, message)
    return 0


# -- the parser ---------------------------------------------------------------------------------


def _render_options(p: argparse.ArgumentParser, *, changing: bool) -> None:
    """The render settings' options; `shots set` changes only those given."""
    p.add_argument("--action", metavar="TEXT", help="what the persona does in the shot")
    p.add_argument("--camera", metavar="TEXT", help="lens and height, e.g. '85mm, eye level'")
    p.add_argument("--framing", metavar="TEXT", help="close-up, medium shot, full body...")
    p.add_argument(
        "--outfit",
        metavar="NAME|PERSONA=NAME",
        help="the outfit from her wardrobe" + (" ('' for any of hers)" if changing else ""),
    )
    p.add_argument("--lighting", metavar="SETUP", help="one of the persona's allowed setups")
    p.add_argument("--frames", type=int, metavar="N", help="how many frames the shot has")
    p.add_argument(
        "--fps",
        type=float,
        metavar="FPS",
        help="the rate its frames play at in a video" + ("" if changing else " (default 24)"),
    )
    p.add_argument("--size", type=_size_arg, metavar="WxH", help="frame size, or native")
    p.add_argument("--steps", type=int, metavar="N", help="denoising steps")
    p.add_argument("--guidance", type=float, metavar="X", help="guidance (CFG) scale")
    p.add_argument("--sampler", metavar="S", help="sampler ('' for the model's own)")
    p.add_argument(
        "--model", metavar="NAME", help="registered base model ('' for the persona's own)"
    )
    p.add_argument(
        "--lora",
        action="append",
        type=_named_value(LORA_WEIGHT),
        metavar="NAME[:WEIGHT]",
        help=f"a registered LoRA and its weight (default {LORA_WEIGHT:g}); repeat for several",
    )
    p.add_argument(
        "--ip-adapter",
        action="append",
        type=_named_value(ADAPTER_SCALE),
        metavar="NAME[:SCALE]",
        help=f"a registered IP-Adapter and its scale (default {ADAPTER_SCALE:g})",
    )
    if changing:
        p.add_argument("--no-lora", action="store_true", help="render without LoRAs")
        p.add_argument("--no-ip-adapter", action="store_true", help="render without IP-Adapters")
    p.add_argument("--references", type=int, metavar="N", help="library references fed (3-5)")
    p.add_argument(
        "--pin",
        action="append",
        metavar="REF_ID",
        help="a library reference (its id, as refs list prints it) fed to IP-Adapter instead of"
        " the library's picks; repeat for several, in order",
    )
    if changing:
        p.add_argument("--no-pin", action="store_true", help="use the library's picks again")
    p.add_argument("--yaw", type=float, metavar="DEG", help="head yaw the references cover")
    p.add_argument("--pitch", type=float, metavar="DEG", help="head pitch the references cover")
    p.add_argument(
        "--seed-offset",
        type=int,
        metavar="N",
        help="where the shot's seeds start after the persona's seed base"
        + ("" if changing else " (default: 1,000 past the highest in use)"),
    )
    p.add_argument(
        "--motion",
        metavar="NAME",
        help="animate a keyframe into a clip with this registered video model"
        + (" ('' for a still shot)" if changing else ""),
    )
    p.add_argument(
        "--clip-frames",
        type=int,
        metavar="N",
        help="a motion shot's clip length in frames (Wan: 5, 9, 13... 81)",
    )


def register(verb, group) -> None:
    shots_action = group(
        "shots",
        "make shots to render, import footage as shots, list shots with their drift",
        "Shots of the project's timeline: made for rendering, or from video files or folders "
        "of images.",
        cmd_shots,
    )
    a = shots_action("add", "add a shot to render, with its render settings")
    a.add_argument("name", metavar="NAME")
    a.add_argument(
        "--persona",
        required=True,
        action="append",
        metavar="NAME",
        help="the persona to render (repeat for several)",
    )
    _render_options(a, changing=False)
    a = shots_action("set", "change a render shot's settings (only the options given)")
    a.add_argument("name", metavar="NAME")
    _render_options(a, changing=True)
    a = shots_action("show", "a render shot's settings")
    a.add_argument("name", metavar="NAME")
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

    p = verb(
        "export",
        "write a shot's or the whole timeline's frames as numbered PNGs or as an MP4 video",
        epilog="The output's name chooses: a folder gets PNGs named SHOT_0001.png... (frames "
        "from 1; without --shot, a folder for each shot); a .mp4 file gets one H.264 video at "
        "the shot's frame rate (without --shot, every shot in story order at the first shot's "
        "rate). A rendered frame's PNG holds AUTOMATIC1111's 'parameters' text (read by A1111, "
        "Forge, ComfyUI and Civitai) and the studio's own record under 'persona-studio'; a "
        "footage frame is a plain PNG. A video's metadata names the shot, personas and models.",
    )
    p.add_argument("project")
    p.add_argument("--shot", metavar="NAME", help="the shot (leave out: the whole timeline)")
    p.add_argument(
        "-o", "--output", required=True, metavar="DIR|FILE.mp4", help="folder, or a .mp4 file"
    )
    p.add_argument("--frames", metavar="FRAMES", help="a range 3-9 or a list 1,4,7-8 (from 1)")
    p.set_defaults(func=cmd_export)
