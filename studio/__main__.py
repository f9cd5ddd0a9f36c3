"""`persona-studio`: the window when given a project (or nothing), the headless CLI for a verb."""

from __future__ import annotations

import sys

from studio.cli import VERBS


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args and (args[0] in VERBS or args[0] in ("--version", "-V", "-h", "--help")):
        from studio.cli import main as cli_main

        return cli_main(args)
    from studio.ui.app import main as gui_main  # Qt loads only for the window

    return gui_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
