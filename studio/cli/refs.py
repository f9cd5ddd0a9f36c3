"""`refs`: import, audit, list, edit and pick reference images."""

from __future__ import annotations

import argparse
from typing import Any

from studio.cli.common import emit, open_project, progress_printer, run_job, with_cancel
from studio.core.errors import StudioError
from studio.core.text import plural


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

        with open_project(args.project) as project:
            report = with_cancel(
                lambda token: import_references(
                    project,
                    args.persona,
                    args.paths,
                    args.tag or (),
                    progress=progress_printer("Importing"),
                    cancel=token,
                )
            )
            data = report.to_dict()
            if not args.no_audit and report.imported:
                data["audit"] = _check(project, args.persona, args.engine)
        lines = report.lines() + ([data["audit"]] if "audit" in data else [])
        emit(args, data, "\n".join(lines))
        return 1 if report.rejected else 0
    if action == "audit":
        with open_project(args.project) as project:
            message = _check(project, args.persona, args.engine)
        emit(args, {"persona": args.persona, "message": message}, message)
        return 0
    if action == "list":
        with open_project(args.project, read_only=True) as project:
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
        emit(args, {"personas": out}, "\n".join(lines))
        return 0
    if action == "set":
        with open_project(args.project) as project:
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
        emit(args, {"changed": data}, f"Changed {plural(n, 'reference')}")
        return 0
    if action == "pick":
        with open_project(args.project, read_only=True) as project:
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
                    "yaw": round(pk.face.yaw, 1),
                    "pitch": round(pk.face.pitch, 1),
                    "pose_gap": round(pk.pose_gap, 1),
                    "pose_note": pk.pose_note,
                    "copies": [{"id": c.id, "file_name": c.file_name} for c in pk.copies],
                    "why": pk.why,
                }
                for pk in picks
            ],
            "target": {"yaw": args.yaw, "pitch": args.pitch},
            "tolerance": picks.tolerance,
            "pose_note": picks.pose_note,
            "warnings": list(picks.warnings),
            "note": picks.note,
        }
        lines = []
        for pk in picks:
            lines.append(f"{pk.reference.id[:10]}  {pk.reference.file_name}  {pk.why}")
            if pk.copies:
                names = ", ".join(c.file_name for c in pk.copies)
                lines.append(f"{'':10}  copies left out: {names}")
        lines += [f"warning: {w}" for w in picks.warnings]
        emit(args, data, "\n".join(lines))
        return 0
    return 2


def _check(project: Any, persona: str, engine: str | None) -> str:
    """Run the reference audit of a persona here, with a progress line; its summary."""
    from studio.services import audit

    return run_job(project, audit.plan_audit(project, persona, engine), "Checking").message


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


def register(verb, group) -> None:
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
