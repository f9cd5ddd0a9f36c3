"""Child process for the lock tests.

`hold PATH`: open the project for writing, print one JSON line, then keep it open until stdin
closes (or the process is killed). `try PATH [ro]`: try to open it, print one JSON line with the
outcome, close and exit.
"""

from __future__ import annotations

import json
import os
import sys

from studio.core.errors import StudioError
from studio.project.store import Project


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "hold":
        project = Project.open(path)
        print(json.dumps({"pid": os.getpid(), "took_over": project.took_over_lock}), flush=True)
        sys.stdin.read()
        project.close()
        return
    read_only = len(sys.argv) > 3 and sys.argv[3] == "ro"
    try:
        with Project.open(path, read_only=read_only) as project:
            counts = project.counts()
            result = {"ok": True, "counts": counts, "took_over": project.took_over_lock}
    except StudioError as exc:
        result = {
            "ok": False,
            "error": type(exc).__name__,
            "message": str(exc),
            "holder": getattr(exc, "holder", None),
        }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
