"""Regenerable drift caches: looks measured around faces, and frames scored against personas.

Every row names the engine id whose face boxes and vectors it used; scores also keep a digest
of what each of their dimensions was computed from (references, outfit colours, light), so a
change marks exactly the scores that depend on it stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from studio.core.drift import FrameScore
from studio.core.ids import now_iso
from studio.project.store import Project


def put_looks(
    project: Project, blob_sha: str, engine_id: str, looks: Sequence[Mapping[str, Any] | None]
) -> None:
    """Store the looks measured around each face an engine found in an image."""
    with project.atomic() as db:
        db.execute(
            "delete from cache_looks where blob_sha = ? and engine_id = ?", [blob_sha, engine_id]
        )
        for i, look in enumerate(looks):
            if look is not None:
                db.execute(
                    "insert into cache_looks (blob_sha, engine_id, face_index, look)"
                    " values (?, ?, ?, ?)",
                    [blob_sha, engine_id, i, json.dumps(dict(look))],
                )


def looks(project: Project, blob_shas: Iterable[str], engine_id: str) -> dict[str, dict[int, dict]]:
    """Blob sha -> face index -> look, for the blobs with looks measured."""
    shas = list(dict.fromkeys(blob_shas))
    out: dict[str, dict[int, dict]] = {}
    for start in range(0, len(shas), 500):
        chunk = shas[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        for r in project.query(
            f"select blob_sha, face_index, look from cache_looks where engine_id = ?"
            f" and blob_sha in ({marks})",
            [engine_id, *chunk],
        ):
            out.setdefault(r["blob_sha"], {})[r["face_index"]] = json.loads(r["look"])
    return out


def put_score(
    project: Project,
    frame_id: str,
    persona_id: str,
    engine_id: str,
    score: FrameScore,
    inputs: Mapping[str, str],
) -> None:
    """Store a frame's scores against one persona, with the digest of each dimension's inputs."""
    with project.atomic() as db:
        db.execute(
            "insert or replace into cache_drift (frame_id, persona_id, engine_id, state,"
            " identity, wardrobe, lighting, inputs, score, created_at)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                frame_id,
                persona_id,
                engine_id,
                score.state,
                score.identity,
                score.wardrobe,
                score.lighting,
                json.dumps(dict(inputs), sort_keys=True),
                json.dumps(score.to_dict()),
                now_iso(),
            ],
        )


def scores(
    project: Project, persona_id: str, engine_id: str, shot_ids: Sequence[str] | None = None
) -> dict[str, tuple[FrameScore, dict[str, str]]]:
    """Frame id -> (score, the digest of each dimension's inputs) for one persona and engine;
    shot_ids: only the frames of these shots (a view following a few changed shots)."""
    sql = "select frame_id, score, inputs from cache_drift where persona_id = ? and engine_id = ?"
    params: list = [persona_id, engine_id]
    if shot_ids is not None:
        marks = ",".join("?" * len(shot_ids))
        sql += f" and frame_id in (select id from frames where shot_id in ({marks}))"
        params += list(shot_ids)
    rows = project.query(sql, params)
    # The frames of a shot share their inputs: each distinct digest is parsed once (the dicts
    # are shared, so callers must not change them).
    parsed: dict[str, dict[str, str]] = {}
    out = {}
    for r in rows:
        text = r["inputs"]
        inputs = parsed.get(text)
        if inputs is None:
            inputs = parsed[text] = json.loads(text)
        out[r["frame_id"]] = (FrameScore.from_dict(json.loads(r["score"])), inputs)
    return out


def stored_inputs(project: Project, persona_id: str, engine_id: str) -> dict[str, dict[str, str]]:
    """Frame id -> the digest of each dimension's inputs its stored score was computed from."""
    rows = project.query(
        "select frame_id, inputs from cache_drift where persona_id = ? and engine_id = ?",
        (persona_id, engine_id),
    )
    return {r["frame_id"]: json.loads(r["inputs"]) for r in rows}
