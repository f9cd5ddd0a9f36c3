"""Subprocess side of the runner: `python -m studio.jobs.worker PROJECT`, spec on stdin.

Speaks JSON lines on stdout: {"event": "unit", "unit": ..., "result": ...} per finished unit,
then exits; {"event": "cancelled"} or {"event": "error", "message": ...} when it stops early.
Reads the project read-only; the parent commits every result.
"""

from __future__ import annotations

import json
import sys
import threading

from studio.core.errors import Cancelled, StudioError
from studio.core.jobs import CancelToken
from studio.core.specs import spec_from_dict
from studio.jobs.kinds import KINDS, WorkContext
from studio.jobs.runner import encode_result
from studio.project.store import Project
from studio.services import library


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    request = json.loads(sys.stdin.readline())
    token = CancelToken()

    def listen() -> None:
        for line in sys.stdin:
            if line.strip() == "cancel":
                token.cancel()
                return

    threading.Thread(target=listen, daemon=True).start()
    try:
        spec = spec_from_dict(request["kind"], request["spec"])
        kind = KINDS[request["kind"]]
        with Project.open(sys.argv[1], read_only=True) as project:
            ctx = WorkContext(
                read_blob=lambda sha: library.read_blob(project, sha),
                asset_path=lambda sha: library.asset_path(project, sha),
                cancel=token,
            )
            for unit, result in kind.work(spec, request["units"], ctx):
                _say({"event": "unit", "unit": unit, "result": encode_result(result)})
    except Cancelled:
        _say({"event": "cancelled"})
    except StudioError as exc:
        _say({"event": "error", "message": str(exc)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
