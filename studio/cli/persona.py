"""`persona`: list, show, add, export, import, diff personas and compose prompts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from studio.cli.common import check_output_file, emit, open_project
from studio.core.persona import DEFAULT_TOKEN_BUDGET
from studio.core.text import plural


def _version_dict(v: Any) -> dict:
    return {
        "number": v.number,
        "id": v.id,
        "parent_id": v.parent_id,
        "note": v.note,
        "created_at": v.created_at,
    }


def _prompt_dict(prompt: Any) -> dict:
    return {
        "positive": prompt.positive,
        "negative": prompt.negative,
        "tokens": prompt.tokens,
        "negative_tokens": prompt.negative_tokens,
        "budget": prompt.budget,
        "dropped": list(prompt.dropped),
        "estimated": prompt.estimated,
        "lighting_setup": prompt.lighting_setup,
    }


def _prompt_text(prompt: Any) -> str:
    about = "about " if prompt.estimated else ""
    budget = f" of {prompt.budget}" if prompt.budget is not None else " (no budget)"
    lines = [
        f"positive: {prompt.positive}",
        f"negative: {prompt.negative}",
        f"tokens: {about}{prompt.tokens}{budget} in the positive prompt, "
        f"{about}{prompt.negative_tokens} in the negative",
    ]
    if prompt.lighting_setup:
        lines.append(f"lighting setup: {prompt.lighting_setup}")
    if prompt.dropped:
        lines.append(
            f"dropped to fit {plural(prompt.budget, 'token')} "
            f"({len(prompt.dropped)}, lowest priority first): " + "; ".join(prompt.dropped)
        )
    return "\n".join(lines)


def _budget(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of tokens") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is less than 0 (0 means no budget)")
    return value


def cmd_persona(args: argparse.Namespace) -> int:
    from studio.services import personas

    action = args.persona_action
    read_only = action in ("list", "show", "export", "diff", "prompt")
    with open_project(args.project, read_only=read_only) as project:
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
            text = "\n".join(
                f"{r['name']}  (v{r['head']}, {plural(r['versions'], 'version')})" for r in rows
            )
            emit(args, {"personas": rows}, text or "No personas yet.")
        elif action == "add":
            v = personas.add_persona(project, args.name)
            emit(args, {"persona": args.name, "version": _version_dict(v)}, f"Added '{args.name}'")
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
            emit(args, data, "\n".join(text))
        elif action == "export":
            text = personas.export_persona(project, args.name, args.version)
            if args.output:
                check_output_file(args.output, "persona.json")
                Path(args.output).write_text(text, encoding="utf-8")
                emit(args, {"file": args.output}, f"Wrote {args.output}")
            elif args.json:
                sys.stdout.write(text)
            else:
                sys.stdout.write(text)
        elif action == "import":
            v = personas.import_persona(project, args.file)
            p = personas.get_persona(project, v.persona_id)
            emit(
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
            emit(args, data, "\n".join(lines))
        elif action == "prompt":
            from studio.jobs import tokens  # the tokenizer loads here, not when the CLI starts

            prompt = personas.compose(
                project,
                args.name,
                args.action or "",
                args.outfit,
                args.version,
                lighting_setup=args.lighting,
                token_budget=args.budget or None,
                count_tokens=tokens.count_tokens,
            )
            emit(args, _prompt_dict(prompt), _prompt_text(prompt))
    return 0


def register(verb, group) -> None:
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
    a = action("prompt", "compose the positive and negative prompt for an action, with its tokens")
    a.add_argument("name")
    a.add_argument("action", nargs="?", default="")
    a.add_argument("--outfit", help="an outfit of the wardrobe (default: the default outfit)")
    a.add_argument(
        "--lighting",
        metavar="SETUP",
        help="one of the persona's allowed lighting setups (default: the first)",
    )
    a.add_argument(
        "--budget",
        type=_budget,
        default=DEFAULT_TOKEN_BUDGET,
        metavar="N",
        help=f"most CLIP tokens in the positive prompt; the lowest-priority phrases that do not "
        f"fit are dropped (default: {DEFAULT_TOKEN_BUDGET}, two 75-token windows; 0: no budget)",
    )
    a.add_argument("--version", type=int, metavar="N")
