"""Start the studio window: `persona-studio [PROJECT] [--workspace NAME] [--screenshot PNG]`."""

from __future__ import annotations

import argparse
import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QElapsedTimer, QSettings, QStandardPaths
from PySide6.QtWidgets import QApplication, QWidget

from studio import __version__
from studio.core.errors import StudioError
from studio.jobs import tokens
from studio.jobs.demo import build_demo
from studio.ui.main_window import MainWindow

APP_NAME = "Persona Studio"

# Qt 6's X11 plugin (xcb) loads these at start; a fresh Debian/Ubuntu desktop may lack them,
# and Qt then stops with a long message that does not say what to install.
XCB_LIBRARIES = (
    ("xcb-cursor", "libxcb-cursor0"),
    ("xcb-icccm", "libxcb-icccm4"),
    ("xcb-keysyms", "libxcb-keysyms1"),
)


def _uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt will try its X11 plugin: asked for by name, or an X session without Wayland."""
    if not sys.platform.startswith("linux"):
        return False
    platform = environ.get("QT_QPA_PLATFORM", "").split(";")[0].strip()
    if platform:
        return platform.startswith("xcb")
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def missing_xcb_packages(
    environ: Mapping[str, str] | None = None,
    find_library: Callable[[str], str | None] | None = None,
) -> list[str]:
    """The Debian packages of the X11 libraries Qt needs and cannot find (none off X11)."""
    if not _uses_xcb(os.environ if environ is None else environ):
        return []
    find = find_library or ctypes.util.find_library
    return [package for name, package in XCB_LIBRARIES if find(name) is None]


def xcb_message(packages: list[str]) -> str:
    """One line saying what to install so the window can start."""
    return (
        "persona-studio: the window cannot start: Qt's X11 support needs libraries that are "
        f"missing. Install them with: sudo apt install {' '.join(packages)}"
    )


def demo_path() -> Path:
    """Where the demo project lives for this user (written on first use)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base) / "persona-studio" / "demo.pstudio"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="persona-studio", description="Open the studio window.")
    p.add_argument("project", nargs="?", help="a .pstudio file (default: the demo project)")
    p.add_argument("--workspace", metavar="NAME", help="the workspace to show, e.g. persona")
    p.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")
    p.add_argument("--theme", choices=("light", "dark"), help="colour theme")
    p.add_argument("--size", default="1440x900", metavar="WxH", help="window size for --screenshot")
    p.add_argument(
        "--part",
        metavar="NAME",
        help="with --screenshot: render only this part of the window, e.g. frameInspector",
    )
    p.add_argument("--read-only", action="store_true", help="open the project read-only")
    return p.parse_args(argv)


def _settle(app: QApplication, window: MainWindow, timeout_ms: int = 20000) -> None:
    """Let queued work (thumbnails, first layout) finish before a screenshot."""
    timer = QElapsedTimer()
    timer.start()
    while timer.elapsed() < timeout_ms:
        app.processEvents()
        idle = window.runner is None or not window.runner.busy
        # The prompt preview's exact counts, and the Timeline's verdicts read on a thread.
        reading = tokens.tokenizer_loading() or window.timeline_workspace.reading_verdicts
        if idle and not reading:
            break
        QCoreApplication.processEvents()
    for _ in range(5):
        app.processEvents()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if QApplication.instance() is None:
        missing = missing_xcb_packages()
        if missing:
            sys.stderr.write(xcb_message(missing) + "\n")
            return 1
    QCoreApplication.setOrganizationName(APP_NAME)
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    settings = QSettings()
    if args.theme:
        settings.setValue("theme", args.theme)
    window = MainWindow(settings)

    path = Path(args.project) if args.project else demo_path()
    if not args.project and not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            build_demo(path)
        except (StudioError, OSError) as exc:
            sys.stderr.write(f"persona-studio: cannot write the demo project: {exc}\n")
            return 1
    if args.workspace and not window.show_workspace(args.workspace):
        names = ", ".join(window.workspace_names())
        sys.stderr.write(f"persona-studio: there is no workspace '{args.workspace}' ({names}).\n")
        return 2

    if args.screenshot:
        w, _, h = args.size.partition("x")
        window.resize(int(w), int(h))
        window.show()
        if not window.open_project(path, read_only=args.read_only):
            sys.stderr.write(f"persona-studio: cannot open {path}.\n")
            return 1
        if args.workspace:
            window.show_workspace(args.workspace)
        _settle(app, window)
        target = window.findChild(QWidget, args.part) if args.part else window
        if target is None:
            sys.stderr.write(f"persona-studio: the window has no part called '{args.part}'.\n")
            window.close()
            return 2
        ok = target.grab().save(args.screenshot)
        window.close()
        if not ok:
            sys.stderr.write(f"persona-studio: cannot write {args.screenshot}.\n")
            return 1
        print(f"Saved {args.screenshot}")
        return 0

    window.show()
    window.open_project(path, read_only=args.read_only)
    return app.exec()
