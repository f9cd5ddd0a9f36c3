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

VERBS = ("new", "demo", "persona", "check", "jobs", "copy", "restore")

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
    from studio.core.jobs import CancelToken
    from studio.jobs.runner import JobRunner

    token = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: token.cancel())
    try:
        job = JobRunner(project).run(job_or_spec, progress=_progress_printer(label), cancel=token)
    finally:
        signal.signal(signal.SIGINT, previous)
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
    from studio.services.demo import write_demo

    path = write_demo(args.project, overwrite=args.force)
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
    if report["integrity"] != "ok":
        sys.stderr.write(f"persona-studio: {report['path']} fails its integrity check.\n")
        return 1
    return 0


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

    p = sub.add_parser(
        "persona",
        help="list, show, add, export, import, diff personas",
        description="Work with the personas of a project.",
    )
    psub = p.add_subparsers(dest="persona_action", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        a = psub.add_parser(name, help=help, description=help)
        a.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        a.add_argument("project")
        a.set_defaults(func=cmd_persona)
        return a

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
