"""Access to the files shipped in `resources/` (installed as the `studio.resources` package)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


def resource_path(name: str) -> Path:
    """Filesystem path of a shipped resource, e.g. `persona.schema.json` or `demo/ada-1.jpg`."""
    return Path(str(resources.files("studio.resources").joinpath(name)))


@cache
def load_json(name: str) -> Any:
    """Parse a shipped JSON resource once."""
    return json.loads(resource_path(name).read_text(encoding="utf-8"))
