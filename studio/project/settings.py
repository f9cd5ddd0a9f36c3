"""Project settings: JSON values by key in the `settings` table."""

from __future__ import annotations

import json
from typing import Any

from studio.project.store import Project


def get_setting(project: Project, key: str, default: Any = None) -> Any:
    """The setting's value, or `default` when it is not set (or not readable JSON)."""
    rows = project.query("select value from settings where key = ?", (key,))
    if not rows or rows[0]["value"] is None:
        return default
    try:
        return json.loads(rows[0]["value"])
    except ValueError:
        return default


def set_setting(project: Project, key: str, value: Any) -> None:
    """Store a JSON-able value under the key (None removes the setting)."""
    with project.atomic() as db:
        if value is None:
            db.execute("delete from settings where key = ?", [key])
        else:
            db.execute(
                "insert or replace into settings (key, value) values (?, ?)",
                [key, json.dumps(value)],
            )
