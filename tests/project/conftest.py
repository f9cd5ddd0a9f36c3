"""Fixtures for the project-file tests: fresh project files."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.project.store import Project


@pytest.fixture
def project_path(tmp_path) -> Path:
    """Where a test's project file goes (not created)."""
    return tmp_path / "film.pstudio"


@pytest.fixture
def project(project_path):
    """A new, empty project open for writing."""
    p = Project.create(project_path)
    yield p
    p.close()
