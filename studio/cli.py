"""Headless front end: `persona-studio VERB ...`. Never imports Qt; heavy modules load per verb."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from studio import __version__
from studio.core.errors import StudioError
from studio.core.text import plural

VERBS = (
    "new", "demo", "persona", "refs", "shots", "analyze", "report", "check", "jobs", "copy",
    "restore",
)  # fmt: skip

GUI_USAGE = """\
Open the studio window:
  persona-studio [PROJECT] [--workspace NAME] [--screenshot PNG] [--theme light|dark]
  (no PROJECT opens the bundled demo project)
"""


class UsageError(Exception):
    """Wrong words on the command line: exit status 2."""


def _emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@contextmanager
def _open(path: str, *, read_only: bool = False) -> Iterator[Any]:
    from studio.services.projects import open_project

    project = open_project(path, read_only=read_only)
    try:
        yield project
    finally:
        project.close()


def _progress_printer(label: str):
    from studio.core.jobs import format_eta

    tty = sys.stderr.isatty()
    state = {"last": -1}

    def show(p) -> None:
        pct = int(100 * p.fraction)
        if tty:
            bar = "#" * (pct // 5) + "-" * (20 - pct // 5)
            sys.stderr.write(f"\r{label} [{bar}] {p.done}/{p.total} {format_eta(p.eta_s)}   ")
            if p.done >= p.total:
                sys.stderr.write("\n")
        elif pct // 10 != state["last"] or p.done >= p.total:
            state["last"] = pct // 10
            sys.stderr.write(f"{label}: {p.done}/{p.total} {format_eta(p.eta_s)}\n".rstrip() + "\n")
        sys.stderr.flush()

    return show


def _run_job(project: Any, job_or_spec: Any, label: str) -> Any:
    """Run a job in this process with a progress line; Ctrl-C cancels it, resumable later."""
    from studio.jobs.runner import JobRunner

    job = _with_cancel(
        lambda token: JobRunner(project).run(
            job_or_spec, progress=_progress_printer(label), cancel=token
        )
    )
    if job.state == "cancelled":
        raise StudioError(
            f"Cancelled after {job.done} of {job.total}.",
            hint=f"Resume with: persona-studio jobs {project.path} --resume {job.id[:10]}",
        )
    if job.state == "failed":
        raise StudioError(job.error or job.message)
    return job


# -- verbs ------------------------------------------------------------------------------------


def cmd_new(args: argparse.Namespace) -> int:
    from studio.services.projects import new_project

    project = new_project(args.project, args.persona)
    path = project.path
    project.close()
    _emit(args, {"project": str(path), "persona": args.persona}, f"Created {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from studio.jobs.demo import build_demo

    path = build_demo(args.project, overwrite=args.force)
    _emit(args, {"project": str(path)}, f"Wrote the demo project to {path}")
    return 0


def _version_dict(v: Any) -> dict:
    return {
        "number": v.number,
        "id": v.id,
        "parent_id": v.parent_id,
        "note": v.note,
        "created_at": v.created_at,
    }


def cmd_persona(args: argparse.Namespace) -> int:
    from studio.services import personas

    action = args.persona_action
    read_only = action in ("list", "show", "export", "diff", "prompt")
    with _open(args.project, read_only=read_only) as project:
        if action == "list":
            rows = []
            for p in personas.list_personas(project):
                versions = personas.version_numbers(project, p.id)
                rows.append(
                    {
                        "id": p.id,
                        "name": p.name,
                        "versions": len(versions),
                        "head": versions[0]["number"] if versions else None,
                        "updated_at": p.updated_at,
                    }
                )
            text = "\n".join(f"{r['name']}  (v{r['head']}, {r['versions']} versions)" for r in rows)
            _emit(args, {"personas": rows}, text or "No personas yet.")
        elif action == "add":
            v = personas.add_persona(project, args.name)
            _emit(args, {"persona": args.name, "version": _version_dict(v)}, f"Added '{args.name}'")
        elif action == "show":
            p = personas.get_persona(project, args.name)
            v = personas.get_version(project, p.id, args.version)
            data = {"persona": p.name, "id": p.id, "version": _version_dict(v), "record": v.record}
            if args.history:
                data["history"] = personas.version_numbers(project, p.id)
            text = [f"{p.name} — version {v.number} ({v.created_at[:16]}) {v.note}".rstrip()]
            if args.history:
                text += [
                    f"  v{h['number']}  {h['created_at'][:16]}  {h['note'] or ''}".rstrip()
                    for h in data["history"]
                ]
            else:
                text.append(json.dumps(v.record, indent=2, ensure_ascii=False))
            _emit(args, data, "\n".join(text))
        elif action == "export":
            text = personas.export_persona(project, args.name, args.version)
            if args.output:
                Path(args.output).write_text(text, encoding="utf-8")
                _emit(args, {"file": args.output}, f"Wrote {args.output}")
            elif args.json:
                sys.stdout.write(text)
            else:
                sys.stdout.write(text)
        elif action == "import":
            v = personas.import_persona(project, args.file)
            p = personas.get_persona(project, v.persona_id)
            _emit(
                args,
                {"persona": p.name, "version": _version_dict(v)},
                f"Imported '{p.name}' as version {v.number}",
            )
        elif action == "diff":
            va, vb, changes = personas.diff_versions(project, args.name, args.a, args.b)
            data = {
                "persona": args.name,
                "from": va.number,
                "to": vb.number,
                "changes": [
                    {"path": c.path, "kind": c.kind, "old": c.old, "new": c.new} for c in changes
                ],
            }
            lines = [f"{args.name}: version {va.number} → {vb.number}, {len(changes)} changes"]
            for c in changes:
                if c.kind == "added":
                    lines.append(f"+ {c.path}: {json.dumps(c.new, ensure_ascii=False)}")
                elif c.kind == "removed":
                    lines.append(f"- {c.path}: {json.dumps(c.old, ensure_ascii=False)}")
                else:
                    lines.append(
                        f"~ {c.path}: {json.dumps(c.old, ensure_ascii=False)} → "
                        f"{json.dumps(c.new, ensure_ascii=False)}"
                    )
            _emit(args, data, "\n".join(lines))
        elif action == "prompt":
            prompt = personas.compose(
                project, args.name, args.action or "", args.outfit, args.version
            )
            _emit(
                args,
                {"positive": prompt.positive, "negative": prompt.negative},
                f"positive: {prompt.positive}\nnegative: {prompt.negative}",
            )
    return 0


def _face_dict(face: Any) -> dict | None:
    if face is None:
        return None
    return {
        "box": [round(v, 1) for v in face.box],
        "landmarks": [[round(x, 1), round(y, 1)] for x, y in face.landmarks],
        "score": round(face.score, 4),
        "size_px": round(face.size_px, 1),
        "yaw": round(face.yaw, 1),
        "pitch": round(face.pitch, 1),
        "roll": round(face.roll, 1),
        "sharpness": round(face.sharpness, 3),
        "exposure": round(face.exposure, 3),
    }


def _audit_dict(a: Any) -> dict:
    r = a.reference
    return {
        "id": r.id,
        "file_name": r.file_name,
        "source_path": r.source_path,
        "width": r.width,
        "height": r.height,
        "status": a.status,
        "authored_status": r.status,
        "tags": list(r.tags),
        "rating": r.rating,
        "faces": a.faces,
        "face_index": a.face_index,
        "face": _face_dict(a.face),
        "agreement": None if a.agreement is None else round(a.agreement, 4),
        "flags": list(a.flags),
        "engine_id": a.engine_id,
        "imported_at": r.imported_at,
        "meta": r.meta,
    }


def cmd_refs(args: argparse.Namespace) -> int:
    from studio.services import audit, personas

    action = args.refs_action
    if action == "import":
        from studio.jobs.library import import_references

        with _open(args.project) as project:
            report = _with_cancel(
                lambda token: import_references(
                    project,
                    args.persona,
                    args.paths,
                    args.tag or (),
                    progress=_progress_printer("Importing"),
                    cancel=token,
                )
            )
            data = report.to_dict()
            if not args.no_audit and report.imported:
                data["audit"] = _check(project, args.persona, args.engine)
        lines = report.lines() + ([data["audit"]] if "audit" in data else [])
        _emit(args, data, "\n".join(lines))
        return 1 if report.rejected else 0
    if action == "audit":
        with _open(args.project) as project:
            message = _check(project, args.persona, args.engine)
        _emit(args, {"persona": args.persona, "message": message}, message)
        return 0
    if action == "list":
        with _open(args.project, read_only=True) as project:
            cast = (
                [personas.get_persona(project, args.persona)]
                if args.persona
                else personas.list_personas(project)
            )
            out, lines = [], []
            for p in cast:
                rows = audit.audit_rows(project, p.id)
                cal = audit.calibration(project, p.id)
                cov = audit.pose_coverage(project, p.id)
                out.append(
                    {
                        "persona": p.name,
                        "references": [_audit_dict(a) for a in rows],
                        "calibration": cal.to_stats() if cal else None,
                        "missing_poses": list(cov.missing),
                    }
                )
                lines.append(
                    f"{p.name}: {len(rows)} references" + (f" — {cal.describe()}" if cal else "")
                )
                for a in rows:
                    agree = "  —  " if a.agreement is None else f"{a.agreement:.3f}"
                    flags = ", ".join(a.flags)
                    lines.append(
                        f"  {a.id[:10]}  {a.status:<11} {agree}  "
                        f"{a.reference.file_name}  {flags}".rstrip()
                    )
                if cov.missing:
                    lines.append("  lacks: " + ", ".join(cov.missing))
        _emit(args, {"personas": out}, "\n".join(lines))
        return 0
    if action == "set":
        with _open(args.project) as project:
            ids = _reference_ids(project, args.ids)
            changed: dict[str, Any] = {}
            if args.status:
                changed["status"] = audit.set_status(project, ids, args.status)
            if args.tag or args.untag:
                changed["tags"] = audit.set_tags(
                    project, ids, add=args.tag or (), remove=args.untag or ()
                )
            if args.rating is not None:
                changed["rating"] = audit.set_rating(project, ids, args.rating)
        data = {
            field: {rid: {"old": old, "new": new} for rid, (old, new) in ch.items()}
            for field, ch in changed.items()
        }
        n = len({rid for ch in changed.values() for rid in ch})
        _emit(args, {"changed": data}, f"Changed {plural(n, 'reference')}")
        return 0
    if action == "pick":
        with _open(args.project, read_only=True) as project:
            picks = audit.pick_references(
                project,
                args.persona,
                target_yaw=args.yaw,
                target_pitch=args.pitch,
                count=args.count,
            )
        data = {
            "picks": [
                {
                    "id": pk.reference.id,
                    "file_name": pk.reference.file_name,
                    "score": round(pk.score, 4),
                    "why": pk.why,
                }
                for pk in picks
            ],
            "note": getattr(picks, "note", ""),
        }
        lines = [f"{pk.reference.id[:10]}  {pk.reference.file_name}  {pk.why}" for pk in picks]
        if data["note"]:
            lines.append(data["note"])
        _emit(args, data, "\n".join(lines))
        return 0
    return 2


def _check(project: Any, persona: str, engine: str | None) -> str:
    """Run the reference audit of a persona here, with a progress line; its summary."""
    from studio.services import audit

    return _run_job(project, audit.plan_audit(project, persona, engine), "Checking").message


def _reference_ids(project: Any, keys: list[str]) -> list[str]:
    """Full reference ids from ids or unique id prefixes (as `refs list` prints them)."""
    from studio.services import library

    every = [r.id for r in library.list_references(project)]
    out = []
    for key in keys:
        hits = [i for i in every if i.startswith(key)]
        if len(hits) != 1:
            raise StudioError(
                f"No reference has the id '{key}'."
                if not hits
                else f"'{key}' matches several references; give more of the id.",
                hint="List them with: persona-studio refs list PROJECT",
            )
        out.append(hits[0])
    return out


def _with_cancel(fn):
    """Run fn(token) with Ctrl-C turned into a cancel of the job in progress."""
    from studio.core.jobs import CancelToken

    token = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: token.cancel())
    try:
        return fn(token)
    finally:
        signal.signal(signal.SIGINT, previous)


def _shot_line(d: dict) -> str:
    text = (
        f"{d['shot']} ({d['persona']}): {d['frames']} frames, {d['analysed']} analysed, "
        f"{d['flagged']} flagged, {d['not_measurable']} not measurable"
    )
    if d["worst_frame"] is not None:
        text += f"; worst {d['worst_identity']:.3f} at {d['worst_timecode']}"
    return text


def cmd_shots(args: argparse.Namespace) -> int:
    from studio.services import drift, shots

    if args.shots_action == "import":
        with _open(args.project) as project:
            spec = shots.plan_footage_import(
                project,
                [args.persona],
                args.paths,
                every=args.every,
                max_frames=args.max_frames,
                fps=args.fps,
            )
            job = _run_job(project, spec, "Importing footage")
            report = shots.footage_report(project, job.id)
        _emit(args, report.to_dict(), "\n".join(report.lines()))
        return 1 if report.rejected else 0
    with _open(args.project, read_only=True) as project:
        rows = [drift.shot_summary(r) for r in drift.drift_rows(project)]
        empty = [
            {"shot": s.name, "persona": None, "frames": s.frame_count}
            for s in shots.list_shots(project)
            if not any(r["shot"] == s.name for r in rows)
        ]
    lines = [_shot_line(r) for r in rows] + [f"{e['shot']}: {e['frames']} frames" for e in empty]
    _emit(args, rows + empty, "\n".join(lines) or "No shots yet.")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from studio.services import drift

    with _open(args.project) as project:
        spec = drift.plan_analysis(
            project, [args.shot] if args.shot else None, args.engine, thorough=args.thorough
        )
        job = _run_job(project, spec, "Analysing")
        rows = drift.drift_rows(project, [args.shot] if args.shot else None)
        data = {"message": job.message, "shots": [drift.shot_summary(r) for r in rows]}
    _emit(args, data, "\n".join([job.message] + [_shot_line(d) for d in data["shots"]]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from studio.jobs.report import write_report

    fmt = args.format or (Path(args.output).suffix.lstrip(".").lower() or "html")
    if fmt not in ("html", "csv", "json"):
        raise StudioError(
            f"Cannot tell the report format from '{args.output}'.",
            hint="Name the file .html, .csv or .json, or add --format html|csv|json.",
        )
    with _open(args.project, read_only=True) as project:
        summary = write_report(project, fmt, args.output)
    _emit(
        args,
        {"output": args.output, "format": fmt, "summary": summary},
        f"Wrote {args.output}: {summary}",
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from studio.services.projects import check_project

    report = check_project(args.project)
    if args.deep:
        from studio.services.library import plan_verify

        with _open(args.project) as project:
            job = _run_job(project, plan_verify(project), "Verifying")
            report["deep"] = job.message
    lines = [
        f"{report['path']}",
        f"  integrity: {report['integrity']}",
        f"  schema version: {report['schema_version']}",
    ]
    lines += [f"  {name}: {n}" for name, n in report["counts"].items()]
    if report["jobs"]:
        lines.append("  jobs: " + ", ".join(f"{n} {s}" for s, n in sorted(report["jobs"].items())))
    if args.deep:
        lines.append(f"  stored files: {report['deep']}")
    _emit(args, report, "\n".join(lines))
    return 0  # a damaged file fails to open with a message naming its backup


def cmd_jobs(args: argparse.Namespace) -> int:
    from studio.services import jobs as job_service

    if args.resume:
        with _open(args.project) as project:
            job = job_service.get_job(project, args.resume)
            job = _run_job(project, job.id, job.title)
            _emit(
                args,
                {"id": job.id, "state": job.state, "message": job.message},
                f"{job.title}: {job.message}",
            )
        return 0
    with _open(args.project, read_only=True) as project:
        jobs = job_service.list_jobs(project)
    rows = [
        {
            "id": j.id,
            "kind": j.kind,
            "title": j.title,
            "state": j.state,
            "done": j.done,
            "total": j.total,
            "message": j.message,
            "error": j.error,
            "created_at": j.created_at,
            "updated_at": j.updated_at,
        }
        for j in jobs
    ]
    text = "\n".join(
        f"{j.id[:10]}  {j.state:<11} {j.done:>5}/{j.total:<5} {j.title}  {j.message}".rstrip()
        for j in jobs
    )
    _emit(args, {"jobs": rows}, text or "No jobs.")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from studio.services.projects import save_copy

    with _open(args.project, read_only=True) as project:
        dest = save_copy(project, args.dest)
    _emit(args, {"copy": str(dest)}, f"Saved a copy as {dest}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from studio.services.projects import restore_project

    aside = restore_project(args.project, args.backup)
    kept = f"; the damaged file is kept as {aside}" if aside else ""
    _emit(
        args,
        {
            "project": args.project,
            "backup": args.backup,
            "damaged_copy": str(aside) if aside else None,
        },
        f"Restored {args.project} from {args.backup}{kept}",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="persona-studio",
        description="Persona Studio keeps an AI-generated character the same person across "
        "every frame.",
        epilog=GUI_USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", "-V", action="version", version=f"persona-studio {__version__}"
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, **kw)
        p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        return p

    p = verb("new", "create a project file")
    p.add_argument("project")
    p.add_argument("--persona", metavar="NAME", help="first persona of the cast")
    p.set_defaults(func=cmd_new)

    p = verb("demo", "write the bundled demo project")
    p.add_argument("project")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_demo)

    def group(name: str, help: str, description: str, func):
        """A verb with actions (`persona show`, `refs list`); returns an action maker."""
        g = sub.add_parser(name, help=help, description=description)
        gsub = g.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)

        def make(action_name: str, action_help: str) -> argparse.ArgumentParser:
            a = gsub.add_parser(action_name, help=action_help, description=action_help)
            a.add_argument("--json", action="store_true", help="print one JSON document on stdout")
            a.add_argument("project")
            a.set_defaults(func=func)
            return a

        return make

    action = group(
        "persona",
        "list, show, add, export, import, diff personas",
        "Work with the personas of a project.",
        cmd_persona,
    )

    action("list", "list the cast")
    a = action("add", "add a persona with a default record")
    a.add_argument("name")
    a = action("show", "show a version's record (the newest by default)")
    a.add_argument("name")
    a.add_argument("--version", type=int, metavar="N")
    a.add_argument("--history", action="store_true", help="list every version instead")
    a = action("export", "write a version's record as JSON")
    a.add_argument("name")
    a.add_argument("--version", type=int, metavar="N")
    a.add_argument("-o", "--output", metavar="FILE")
    a = action("import", "import a record JSON file (a new version, or a new persona)")
    a.add_argument("file")
    a = action("diff", "field-level changes between two versions")
    a.add_argument("name")
    a.add_argument("a", type=int, metavar="FROM")
    a.add_argument("b", type=int, nargs="?", metavar="TO", help="default: the newest version")
    a = action("prompt", "compose the positive and negative prompt for an action")
    a.add_argument("name")
    a.add_argument("action", nargs="?", default="")
    a.add_argument("--outfit")
    a.add_argument("--version", type=int, metavar="N")

    refs_action = group(
        "refs",
        "import, list, check, edit and pick reference images",
        "The reference library of a project.",
        cmd_refs,
    )

    a = refs_action("import", "import image files and folders, then check them")
    a.add_argument("--persona", required=True, metavar="NAME")
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--tag", action="append", metavar="T", help="tag every imported image")
    a.add_argument("--no-audit", action="store_true", help="skip the face check")
    a.add_argument("--engine", metavar="NAME", help="face engine (default: the project's)")
    a = refs_action("audit", "check a persona's references with a face engine")
    a.add_argument("--persona", required=True, metavar="NAME")
    a.add_argument("--engine", metavar="NAME")
    a = refs_action("list", "every reference with status, flags, face and agreement")
    a.add_argument("--persona", metavar="NAME")
    a = refs_action("set", "approve, quarantine, tag or rate references")
    a.add_argument("ids", nargs="+", metavar="ID")
    a.add_argument("--status", choices=("approved", "quarantined", "pending"))
    a.add_argument("--tag", action="append", metavar="T")
    a.add_argument("--untag", action="append", metavar="T")
    a.add_argument("--rating", type=int, choices=range(6), metavar="0-5")
    a = refs_action("pick", "the best 3-5 references for a shot's head pose")
    a.add_argument("--persona", required=True, metavar="NAME")
    a.add_argument("--yaw", type=float, default=0.0)
    a.add_argument("--pitch", type=float, default=0.0)
    a.add_argument("--count", type=int, default=4, choices=range(3, 6), metavar="3-5")

    shots_action = group(
        "shots",
        "import footage as shots, list shots with their drift",
        "Shots of the project's timeline, made from video files or folders of images.",
        cmd_shots,
    )
    a = shots_action("import", "import video files or folders of numbered images as shots")
    a.add_argument("--persona", required=True, metavar="NAME", help="persona expected in them")
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--every", type=int, default=1, metavar="N", help="keep every Nth frame")
    a.add_argument("--max-frames", type=int, default=1000, metavar="N", help="frame cap per shot")
    a.add_argument("--fps", type=float, metavar="FPS", help="frame rate of image folders")
    shots_action("list", "every shot with frames analysed, flagged and its worst frame")

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

    p = verb("report", "write the drift report: per shot and per frame scores, flags, notes")
    p.add_argument("project")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--format", choices=("html", "csv", "json"), help="default: from FILE's suffix")
    p.set_defaults(func=cmd_report)

    p = verb("check", "integrity, schema version and row counts")
    p.add_argument("project")
    p.add_argument("--deep", action="store_true", help="also re-hash every stored file (a job)")
    p.set_defaults(func=cmd_check)

    p = verb("jobs", "the job queue")
    p.add_argument("project")
    p.add_argument("--resume", metavar="ID", help="resume an interrupted job here, with progress")
    p.set_defaults(func=cmd_jobs)

    p = verb("copy", "save a consistent copy of a project")
    p.add_argument("project")
    p.add_argument("dest")
    p.set_defaults(func=cmd_copy)

    p = verb("restore", "replace a damaged project with one of its backups")
    p.add_argument("project")
    p.add_argument("backup")
    p.set_defaults(func=cmd_restore)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except StudioError as exc:
        sys.stderr.write(f"persona-studio: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("persona-studio: interrupted.\n")
        return 1
