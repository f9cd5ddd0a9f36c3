"""`models`: register the generative models an artist has (in place, hashed once), list them,
scan a folder for them, link them to personas, remove, convert pickles, download from the hub."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from studio.cli.common import emit, open_project
from studio.core.errors import StudioError

KIND_CHOICES = ("base", "ip-adapter", "lora", "dreambooth", "image-encoder")
FAMILY_CHOICES = ("sd15", "sdxl")


def progress_line(label: str):
    """A progress sink for work measured in bytes and models: a redrawn line on a terminal,
    a line per tenth of each step when piped."""
    from studio.core.jobs import format_eta

    tty = sys.stderr.isatty()
    state: dict[str, Any] = {"step": None, "tenth": -1}

    def show(p) -> None:
        if not p.message or p.message in ("Starting", "Waiting"):
            return
        step = p.message.split(":", 1)[0]
        tenth = int(10 * p.fraction) if p.total else -1
        line = f"{label}: {p.message} {format_eta(p.eta_s)}".rstrip()
        if tty:
            sys.stderr.write(f"\r{line[:150]:<150}")
        elif step != state["step"] or tenth != state["tenth"]:
            sys.stderr.write(line + "\n")
        state["step"], state["tenth"] = step, tenth
        sys.stderr.flush()

    return show


def _run(project: Any, spec: Any, label: str) -> Any:
    """Run a model job here with a progress line; Ctrl-C cancels it (what is done stays)."""
    from studio.cli.common import with_cancel
    from studio.jobs.runner import JobRunner

    job = with_cancel(
        lambda token: JobRunner(project).run(spec, progress=progress_line(label), cancel=token)
    )
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if job.state == "cancelled":
        raise StudioError(
            f"Cancelled after {job.done} of {job.total}.",
            hint="What was finished before the cancel is kept; run the command again for the rest.",
        )
    if job.state == "failed":
        raise StudioError(job.error or job.message)
    return job


def _status_dict(s: Any) -> dict:
    r = s.record
    return {
        "name": r.name,
        "kind": r.kind,
        "family": r.family,
        "variant": r.variant,
        "format": r.format,
        "description": s.description(),
        "path": r.path,
        "sha256": r.sha256,
        "size": r.size,
        "source": r.source,
        "encoder": s.encoder,
        "personas": [
            {"name": link.persona_name, "role": link.role, "weight": link.weight}
            for link in s.personas
        ],
        "state": s.state,
        "problem": s.problem,
        "hint": s.hint,
        "added_at": r.added_at,
    }


def cmd_models(args: argparse.Namespace) -> int:
    action = args.models_action
    return {
        "add": _add,
        "list": _list,
        "scan": _scan,
        "remove": _remove,
        "link": _link,
        "unlink": _unlink,
        "download": _download,
        "convert": _convert,
    }[action](args)


def _add(args: argparse.Namespace) -> int:
    import os

    from studio.services import models

    with open_project(args.project) as project:
        path = os.path.abspath(os.path.expanduser(args.path))
        known = models.find_by_path(project, path)
        if known is not None and (args.persona or args.encoder):
            lines = _link_lines(project, known.name, args.persona, args.weight, args.encoder)
            emit(args, {"model": known.name, "linked": lines}, "\n".join(lines))
            return 0
        if known is not None:
            text = f"{path} is registered already, as '{known.name}'."
            emit(args, {"model": known.name, "registered": False}, text)
            return 0
        spec = models.plan_register(
            project,
            [args.path],
            name=args.name or "",
            kind=args.kind or "",
            family=args.family or "",
            encoder=args.encoder or "",
            persona=args.persona or "",
            weight=args.weight,
        )
        job = _run(project, spec, "Registering")
        report = models.registration_report(project, job.id)
    emit(args, report.to_dict(), "\n".join(report.lines()))
    return 1 if report.refused else 0


def _link_lines(project: Any, model: str, persona: str, weight: float, encoder: str) -> list[str]:
    from studio.services import models

    lines = []
    if encoder:
        lines.append(models.link_encoder(project, model, encoder))
    if persona:
        notes = models.link_persona_model(project, persona, model, weight)
        lines.extend(notes or [f"{persona} uses {model}"])
    return lines


def _list(args: argparse.Namespace) -> int:
    from studio.core.models import size_text
    from studio.services import models

    with open_project(args.project, read_only=True) as project:
        rows = models.list_models(project)
    data = {"models": [_status_dict(s) for s in rows]}
    if not rows:
        text = (
            "No models registered yet. Add one: persona-studio models add PROJECT PATH, or scan"
            " a folder: persona-studio models scan PROJECT FOLDER"
        )
        emit(args, data, text)
        return 0
    width = max(len(s.record.name) for s in rows)
    lines = []
    for s in rows:
        r = s.record
        users = s.users() or ("encoder of adapters" if r.kind == "image-encoder" else "")
        encoder = f"  encoder: {s.encoder}" if s.encoder else ""
        lines.append(
            f"{r.name:<{width}}  {s.description():<34} {size_text(r.size):>9}  {r.sha256[:12]}"
            f"  {users}{encoder}".rstrip()
        )
        if not s.present:
            lines.append(f"{'':<{width}}  {s.state.upper()}: {s.problem} {s.hint}")
    emit(args, data, "\n".join(lines))
    return 0 if all(s.present for s in rows) else 1


def _scan(args: argparse.Namespace) -> int:
    from studio.cli.common import with_cancel
    from studio.jobs.model_kinds import scan_folder
    from studio.services import models

    with open_project(args.project) as project:
        plan = with_cancel(
            lambda token: scan_folder(project, args.folder, progress_line("Scanning"), token)
        )
        sys.stderr.write("\n" if sys.stderr.isatty() else "")
        lines = plan.lines()
        data: dict[str, Any] = {
            "found": [
                {
                    "path": c.path,
                    "what": c.detection.describe() if c.usable else "",
                    "encoder": c.encoder_path,
                    "registered": c.path in plan.registered,
                    "skipped": "" if c.usable else (c.error or c.detection.problem),
                }
                for c in plan.found
            ]
        }
        if not plan.found:
            emit(args, data, f"No model files or folders were found in {args.folder}.")
            return 0
        if plan.spec is None or args.dry_run:
            note = "Nothing new to register." if plan.spec is None else "Nothing registered."
            emit(args, data, "\n".join(lines + [note]))
            return 0
        if not args.json:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
        job = _run(project, plan.spec, "Registering")
        report = models.registration_report(project, job.id)
    data["report"] = report.to_dict()
    emit(args, data, "\n".join(report.lines()))
    return 1 if report.refused else 0


def _remove(args: argparse.Namespace) -> int:
    from studio.services import models

    with open_project(args.project) as project:
        removed = models.remove_model(project, args.name)
    text = "\n".join(
        [f"Removed {removed.record.name} (its files stay in {removed.record.path})"]
        + list(removed.notes)
    )
    emit(args, {"removed": removed.record.name, "notes": list(removed.notes)}, text)
    return 0


def _link(args: argparse.Namespace) -> int:
    if not (args.persona or args.encoder):
        raise StudioError(
            "Say what to link the model to.", hint="Add --persona NAME or --encoder NAME."
        )
    with open_project(args.project) as project:
        lines = _link_lines(project, args.model, args.persona, args.weight, args.encoder)
    emit(args, {"model": args.model, "linked": lines}, "\n".join(lines))
    return 0


def _unlink(args: argparse.Namespace) -> int:
    from studio.services import models

    with open_project(args.project) as project:
        models.unlink_persona_model(project, args.persona, args.model)
    emit(
        args,
        {"model": args.model, "persona": args.persona},
        f"{args.persona}: {args.model} unlinked",
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    from studio.jobs.model_kinds import hub_pipeline_files
    from studio.services import models

    files = args.file or hub_pipeline_files(args.repo, args.revision or "", args.endpoint or "")
    with open_project(args.project) as project:
        spec = models.plan_hub_download(
            project,
            args.repo,
            files,
            dest=args.dest or "",
            revision=args.revision or "",
            endpoint=args.endpoint or "",
        )
        job = _run(project, spec, "Downloading")
        data: dict[str, Any] = {"downloaded": job.message}
        lines = [job.message]
        paths = models.downloaded_models(project, job.id)
        if paths and not args.no_register:
            new = [p for p in paths if models.find_by_path(project, p) is None]
            if new:
                reg = models.plan_register(project, new, source=f"hub:{spec.repo_id}")
                report = models.registration_report(project, _run(project, reg, "Registering").id)
                data["report"] = report.to_dict()
                lines += report.lines()
    emit(args, data, "\n".join(lines))
    return 1 if data.get("report", {}).get("refused") else 0


def _convert(args: argparse.Namespace) -> int:
    from studio.services import models

    with open_project(args.project) as project:
        spec = models.plan_convert(
            project,
            args.path,
            args.dest or "",
            name=args.name or "",
            kind=args.kind or "",
            family=args.family or "",
            persona=args.persona or "",
            weight=args.weight,
        )
        job = _run(project, spec, "Converting")
        report = models.registration_report(project, job.id)
    lines = [f"Converted {spec.source} to {spec.dest}"] + report.lines()
    emit(args, {"converted": spec.dest, **report.to_dict()}, "\n".join(lines))
    return 1 if report.refused else 0


def register(verb, group) -> None:
    action = group(
        "models",
        "register, list, scan, link, remove, convert and download generative models",
        "The generative models a project renders with, used where they are (never copied) and"
        " hashed once: base and DreamBooth models, LoRAs, IP-Adapters and their image encoders.",
        cmd_models,
    )

    def described(a: argparse.ArgumentParser, *, persona: bool = True) -> None:
        a.add_argument("--name", metavar="NAME", help="default: from the file or folder name")
        a.add_argument("--kind", choices=KIND_CHOICES, help="default: as the weights show")
        a.add_argument("--family", choices=FAMILY_CHOICES, help="default: as the weights show")
        if persona:
            a.add_argument("--persona", metavar="P", help="the persona whose model it is")
            a.add_argument("--weight", type=float, default=1.0, metavar="W", help="LoRA weight")

    a = action("add", "register a model file or folder where it is (hashed once)")
    a.add_argument("path", metavar="PATH")
    described(a)
    a.add_argument("--encoder", metavar="NAME", help="an IP-Adapter's image encoder (or its path)")
    action("list", "every registered model, its files' state and who uses it")
    a = action("scan", "register the models in a folder (HF cache, ComfyUI, AUTOMATIC1111)")
    a.add_argument("folder", metavar="FOLDER")
    a.add_argument("--dry-run", action="store_true", help="list what is found, register nothing")
    a = action("remove", "unregister a model (its files stay where they are)")
    a.add_argument("name", metavar="NAME")
    a = action("link", "give a persona a LoRA or DreamBooth model, or an IP-Adapter its encoder")
    a.add_argument("model", metavar="MODEL")
    a.add_argument("--persona", metavar="P")
    a.add_argument("--weight", type=float, default=1.0, metavar="W")
    a.add_argument("--encoder", metavar="NAME")
    a = action("unlink", "take a model from a persona")
    a.add_argument("model", metavar="MODEL")
    a.add_argument("--persona", metavar="P", required=True)
    a = action("download", "download a model from the Hugging Face hub, then register it")
    a.add_argument("repo", metavar="REPO", help="organisation/name, e.g. h94/IP-Adapter")
    a.add_argument("--file", action="append", metavar="F", help="a file of the repository")
    a.add_argument("--dest", metavar="FOLDER", help="default: the Hugging Face cache")
    a.add_argument("--revision", metavar="REV")
    a.add_argument("--endpoint", metavar="URL", help="a mirror of the Hugging Face hub")
    a.add_argument("--no-register", action="store_true")
    a = action(
        "convert", "convert a pickle file (.ckpt .pt .pth .bin) to .safetensors, register it"
    )
    a.add_argument("path", metavar="PATH")
    a.add_argument("--dest", metavar="PATH", help="default: beside it, as NAME.safetensors")
    described(a)
