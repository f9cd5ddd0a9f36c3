"""Per-project settings stored as JSON values."""

from __future__ import annotations

import json
from typing import Any

from studio.project.store import Project


def get_setting(project: Project, key: str, default: Any = None) -> Any:
    """A setting's value, or the default."""
    rows = project.query("select value from settings where key = ?", (key,))
    return json.loads(rows[0]["value"]) if rows else default


def set_setting(project: Project, key: str, value: Any) -> None:
    """Store a setting."""
    with project.atomic():
        project.db["settings"].insert({"key": key, "value": json.dumps(value)}, replace=True)
