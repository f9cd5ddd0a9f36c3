"""Window start on a fresh Debian/Ubuntu desktop: missing X11 libraries are named, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from studio.ui import app

X11 = {"DISPLAY": ":0"}


def _find_without(*absent):
    return lambda name: None if name in absent else f"lib{name}.so.0"


def test_missing_xcb_libraries_are_named_by_their_debian_packages(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    find = _find_without("xcb-cursor", "xcb-keysyms")
    assert app.missing_xcb_packages(X11, find) == ["libxcb-cursor0", "libxcb-keysyms1"]
    assert app.missing_xcb_packages({"QT_QPA_PLATFORM": "xcb"}, find) == [
        "libxcb-cursor0",
        "libxcb-keysyms1",
    ]
    assert app.missing_xcb_packages(X11, _find_without()) == []


def test_no_check_off_x11(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    find = _find_without("xcb-cursor", "xcb-icccm", "xcb-keysyms")
    assert app.missing_xcb_packages({"QT_QPA_PLATFORM": "offscreen", **X11}, find) == []
    assert app.missing_xcb_packages({"WAYLAND_DISPLAY": "wayland-0", **X11}, find) == []
    assert app.missing_xcb_packages({}, find) == []  # no display at all: Qt says so itself
    monkeypatch.setattr(sys, "platform", "darwin")
    assert app.missing_xcb_packages({"QT_QPA_PLATFORM": "xcb"}, find) == []


def test_the_window_stops_with_one_line_saying_what_to_install(tmp_path):
    script = textwrap.dedent(
        """
        import ctypes.util, sys
        ctypes.util.find_library = lambda name: None if name == "xcb-icccm" else "libx.so"
        from studio.ui import app
        sys.exit(app.main([]))
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=Path(app.__file__).parents[2],
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "sudo apt install libxcb-icccm4" in done.stderr
    assert "libxcb-cursor0" not in done.stderr
