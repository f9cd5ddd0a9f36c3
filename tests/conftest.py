"""Shared fixtures: fresh projects and copies of the demo project."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep settings and the demo project out of the real home folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory) -> Path:
    """The demo project, written once per test session (copy it before writing)."""
    from studio.jobs.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo") / "demo.pstudio")


@pytest.fixture
def demo_path(demo_file, tmp_path) -> Path:
    """A private copy of the demo project file."""
    dest = tmp_path / "demo.pstudio"
    shutil.copyfile(demo_file, dest)
    return dest


@pytest.fixture
def demo_project(demo_path):
    """The demo project, open for writing."""
    from studio.services.projects import open_project

    project = open_project(demo_path)
    yield project
    project.close()


@pytest.fixture
def project(tmp_path):
    """A new project with one persona named Ada."""
    from studio.services.projects import new_project

    project = new_project(tmp_path / "cast.pstudio", "Ada")
    yield project
    project.close()
