"""Child process for the crash test: writes numbered persona versions until it is killed.

Prints `ready PID` once the project is open, then the number of each version after the
transaction that stores it has committed.
"""

from __future__ import annotations

import json
import os
import sys

from studio.core.ids import new_id, now_iso
from studio.project.store import Project


def main() -> None:
    project = Project.open(sys.argv[1])
    rows = project.query("select id from personas where name = 'Crash'")
    if rows:
        persona_id = rows[0]["id"]
    else:
        persona_id = new_id()
        with project.atomic() as db:
            db["personas"].insert(
                {
                    "id": persona_id,
                    "name": "Crash",
                    "created_at": now_iso(),
                    "updated_at": now_iso(),
                }
            )
    print(f"ready {os.getpid()}", flush=True)
    number = project.query(
        "select coalesce(max(number), 0) as n from persona_versions where persona_id = ?",
        (persona_id,),
    )[0]["n"]
    padding = "x" * 3000  # several pages per write, so kills land inside page writes too
    while True:
        number += 1
        vid = new_id()
        record = json.dumps({"number": number, "padding": padding})
        with project.atomic() as db:
            db["persona_versions"].insert(
                {
                    "id": vid,
                    "persona_id": persona_id,
                    "number": number,
                    "record": record,
                    "created_at": now_iso(),
                }
            )
            db["personas"].update(persona_id, {"head_version_id": vid, "updated_at": now_iso()})
        print(number, flush=True)


if __name__ == "__main__":
    main()
