"""Headless front end: `persona-studio VERB ...`. Never imports Qt; heavy modules load per verb.

One module per verb group (`project`, `persona`, `refs`, `shots`, `drift`); `common` holds
what they share.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio import __version__
from studio.cli import drift, models, persona, project, refs, render, shots
from studio.cli.common import UsageError
from studio.core.errors import ProjectLockedError, StudioError

VERBS = (
    "new", "demo", "persona", "refs", "shots", "analyze", "review", "thresholds", "reshoots",
    "render", "report", "export", "check", "jobs", "copy", "restore", "models",
)  # fmt: skip

GUI_USAGE = """\
Open the studio window:
  persona-studio [PROJECT] [--workspace NAME] [--screenshot PNG] [--theme light|dark]
  (no PROJECT opens the bundled demo project)
"""


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

    project.register(verb, group)
    persona.register(verb, group)
    refs.register(verb, group)
    shots.register(verb, group)
    drift.register(verb, group)
    render.register(verb, group)
    models.register(verb, group)
    project.register_upkeep(verb, group)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UsageError as exc:
        sys.stderr.write(f"persona-studio {args.verb}: error: {exc}\n")
        return 2
    except StudioError as exc:
        if isinstance(exc, ProjectLockedError):
            # A verb that can read a locked project already opens it read-only; the others write.
            exc.hint = "Close it there, then run this command again."
        if getattr(args, "json", False):
            sys.stdout.write(json.dumps({"error": exc.message, "hint": exc.hint or ""}) + "\n")
        sys.stderr.write(f"persona-studio: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("persona-studio: interrupted.\n")
        return 1
