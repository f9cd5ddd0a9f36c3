"""Project verbs: new, demo, check, jobs, copy, restore."""

from __future__ import annotations

import argparse

from studio.cli.common import emit, open_project, run_job
from studio.core.states import PROBLEMS
from studio.core.text import plural


def cmd_new(args: argparse.Namespace) -> int:
    from studio.services.projects import new_project

    project = new_project(args.project, args.persona)
    path = project.path
    project.close()
    emit(args, {"project": str(path), "persona": args.persona}, f"Created {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from studio.jobs.demo import build_demo

    path = build_demo(args.project, overwrite=args.force)
    emit(args, {"project": str(path)}, f"Wrote the demo project to {path}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from studio.services.projects import check_project

    report = check_project(args.project)
    if args.deep:
        from studio.services.library import plan_verify

        with open_project(args.project) as project:
            job = run_job(project, plan_verify(project), "Verifying")
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
    emit(args, report, "\n".join(lines))
    return 0  # a damaged file fails to open with a message naming its backup


def cmd_jobs(args: argparse.Namespace) -> int:
    from studio.services import jobs as job_service

    if args.resume:
        with open_project(args.project) as project:
            job = job_service.get_job(project, args.resume)
            job = run_job(project, job.id, job.title)
            emit(
                args,
                {"id": job.id, "state": job.state, "message": job.message},
                f"{job.title}: {job.message}",
            )
        return 0
    if args.clear_finished:
        with open_project(args.project) as project:
            n = job_service.clear_finished(project)
        emit(args, {"cleared": n}, f"Cleared {plural(n, 'finished job')}.")
        return 0
    with open_project(args.project, read_only=True) as project:
        jobs = job_service.list_jobs(project)
        problems = {j.id: job_service.problems(project, j.id) for j in jobs if j.state == PROBLEMS}
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
            "problems": problems.get(j.id, []),
            "created_at": j.created_at,
            "updated_at": j.updated_at,
        }
        for j in jobs
    ]
    lines = []
    for j in jobs:
        lines.append(
            f"{j.id[:10]}  {j.state:<11} {j.done:>5}/{j.total:<5} {j.title}  {j.message}".rstrip()
        )
        lines += [f"    {line}" for line in problems.get(j.id, [])]
    text = "\n".join(lines)
    emit(args, {"jobs": rows}, text or "No jobs.")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from studio.services.projects import save_copy

    with open_project(args.project, read_only=True) as project:
        dest = save_copy(project, args.dest)
    emit(args, {"copy": str(dest)}, f"Saved a copy as {dest}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from studio.services.projects import restore_project

    aside = restore_project(args.project, args.backup)
    kept = f"; the damaged file is kept as {aside}" if aside else ""
    emit(
        args,
        {
            "project": args.project,
            "backup": args.backup,
            "damaged_copy": str(aside) if aside else None,
        },
        f"Restored {args.project} from {args.backup}{kept}",
    )
    return 0


def register(verb, group) -> None:
    p = verb("new", "create a project file")
    p.add_argument("project")
    p.add_argument("--persona", metavar="NAME", help="first persona of the cast")
    p.set_defaults(func=cmd_new)

    p = verb("demo", "write the bundled demo project")
    p.add_argument("project")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_demo)


def register_upkeep(verb, group) -> None:
    p = verb("check", "integrity, schema version and row counts")
    p.add_argument("project")
    p.add_argument("--deep", action="store_true", help="also re-hash every stored file (a job)")
    p.set_defaults(func=cmd_check)

    p = verb("jobs", "the job queue")
    p.add_argument("project")
    p.add_argument("--resume", metavar="ID", help="resume an interrupted job here, with progress")
    p.add_argument(
        "--clear-finished",
        action="store_true",
        help="remove finished, failed and cancelled jobs (interrupted ones stay)",
    )
    p.set_defaults(func=cmd_jobs)

    p = verb("copy", "save a consistent copy of a project")
    p.add_argument("project")
    p.add_argument("dest")
    p.set_defaults(func=cmd_copy)

    p = verb("restore", "replace a damaged project with one of its backups")
    p.add_argument("project")
    p.add_argument("backup")
    p.set_defaults(func=cmd_restore)
