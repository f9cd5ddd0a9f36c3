"""Render settings and takes in the project file: provenance columns, the current picture,
large pictures beside the file, and the queries a resumed render and a search rely on."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from studio.core.errors import NotFoundError, StudioError
from studio.core.render import RenderSettings
from studio.core.takes import PROVENANCE_COLUMNS, AdapterApplied, LoraApplied
from studio.project import blobs, renders, shots
from studio.project.store import Project


def _png(size: int = 1000, seed: int = 0) -> bytes:
    """PNG-like bytes (the store never decodes them)."""
    return b"\x89PNG\r\n\x1a\n" + hashlib.sha256(str(seed).encode()).digest() * (size // 32)


def _provenance(seed: int = 7, **more) -> dict:
    values = {
        "job_id": "job-1",
        "persona_id": "persona-1",
        "persona_version_id": "version-1",
        "seed": seed,
        "model_sha": "a" * 64,
        "model_name": "base-15",
        "family": "sd15",
        "mode": "txt2img",
        "width": 512,
        "height": 768,
        "steps": 25,
        "guidance": 6.5,
        "sampler": "Euler a",
        "prompt": "ada walking",
        "negative": "blurry",
        "loras": [{"name": "ada-lora", "sha256": "b" * 64, "weight": 0.8}],
        "adapters": [{"name": "face", "sha256": "c" * 64, "scale": 0.5, "variant": "plus"}],
        "reference_shas": ["d" * 64, "e" * 64, "f" * 64],
        "device": "cuda:0",
        "seconds": 2.5,
        "recipe": "r" * 64,
        "notes": {"outfit": "red coat"},
    }
    values.update(more)
    return values


@pytest.fixture
def shot(project):
    made = shots.add_shot(project, "Walk", [], [], source_kind="render")
    renders.put_render_settings(project, made.id, RenderSettings(frames=4), None)
    return made


def test_store_take_makes_the_frame_and_keeps_every_provenance_column(project, shot):
    take_id = renders.store_take(project, shot.id, 2, _png(), _provenance())

    (frame,) = shots.frames_of(project, shot.id)
    take = renders.get_take(project, take_id)
    assert (frame.index, frame.width, frame.height) == (2, 512, 768)
    assert frame.blob_sha == take.blob_sha == hashlib.sha256(_png()).hexdigest()
    assert take.chosen and take.frame_id == frame.id and take.shot_id == shot.id
    assert take.frame_index == 2 and take.created_at
    assert (take.seed, take.steps, take.guidance, take.sampler) == (7, 25, 6.5, "Euler a")
    assert (take.model_sha, take.model_name, take.family, take.mode) == (
        "a" * 64,
        "base-15",
        "sd15",
        "txt2img",
    )
    assert take.loras == (LoraApplied("ada-lora", "b" * 64, 0.8),)
    assert take.adapters == (AdapterApplied("face", "c" * 64, 0.5, "plus"),)
    assert take.reference_shas == ("d" * 64, "e" * 64, "f" * 64)
    assert (take.job_id, take.persona_id, take.persona_version_id) == (
        "job-1",
        "persona-1",
        "version-1",
    )
    assert (take.device, take.seconds, take.prompt, take.negative) == (
        "cuda:0",
        2.5,
        "ada walking",
        "blurry",
    )
    assert take.provenance == _provenance()  # the whole record, keys outside the columns too
    row = project.query("select * from takes where id = ?", (take_id,))[0]
    assert all(column in row for column in PROVENANCE_COLUMNS)
    assert json.loads(row["loras"]) == _provenance()["loras"]


def test_a_large_picture_lives_beside_the_file_and_a_small_one_inside(project, shot):
    big, small = _png(400_000, 1), _png(2_000, 2)
    big_take = renders.get_take(project, renders.store_take(project, shot.id, 0, big, {}))
    small_take = renders.get_take(project, renders.store_take(project, shot.id, 1, small, {}))

    stored = {
        r["sha256"]: (r["stored"], len(r["data"]))
        for r in project.query("select sha256, stored, data from blobs")
    }
    assert stored[big_take.blob_sha] == ("file", 0)
    assert stored[small_take.blob_sha] == ("inline", len(small))
    assert blobs.blob_file(project, big_take.blob_sha).read_bytes() == big
    assert blobs.get_blob(project, big_take.blob_sha) == big


def test_a_new_take_becomes_current_unless_kept_aside(project, shot):
    first = renders.store_take(project, shot.id, 0, _png(seed=1), _provenance(seed=1))
    aside = renders.store_take(project, shot.id, 0, _png(seed=2), _provenance(seed=2), choose=False)
    (frame,) = shots.frames_of(project, shot.id)
    assert [t.id for t in renders.takes_of(project, frame.id)] == [first, aside]
    assert frame.blob_sha == renders.get_take(project, first).blob_sha
    assert renders.current_takes(project, shot.id)[0].id == first

    renders.choose_take(project, aside)
    (frame,) = shots.frames_of(project, shot.id)
    assert frame.blob_sha == renders.get_take(project, aside).blob_sha
    assert [t.chosen for t in renders.takes_of(project, frame.id)] == [False, True]
    assert renders.current_recipes(project, shot.id) == {0: "r" * 64}


def test_a_frame_that_changes_picture_loses_its_drift_scores(project, shot):
    renders.store_take(project, shot.id, 0, _png(seed=1), _provenance())
    (frame,) = shots.frames_of(project, shot.id)
    with project.atomic() as db:
        db.execute(
            "insert into personas (id, name, created_at, updated_at) values ('p', 'P', '', '')"
        )
        db.execute(
            "insert into cache_drift (frame_id, persona_id, engine_id, state, inputs, score)"
            " values (?, 'p', 'dlib', 'measured', '{}', '{}')",
            (frame.id,),
        )
    renders.store_take(project, shot.id, 0, _png(seed=1), _provenance())  # the same picture
    assert project.query("select count(*) as n from cache_drift")[0]["n"] == 1
    renders.store_take(project, shot.id, 0, _png(seed=2), _provenance())
    assert project.query("select count(*) as n from cache_drift")[0]["n"] == 0


def test_rendered_frames_and_find_takes(project, shot):
    other = shots.add_shot(project, "Run", [], [], source_kind="render")
    renders.store_take(project, shot.id, 0, _png(seed=1), _provenance(seed=10))
    renders.store_take(project, shot.id, 3, _png(seed=2), _provenance(seed=13))
    third = renders.store_take(
        project, other.id, 0, _png(seed=3), _provenance(seed=13, persona_version_id="version-2")
    )
    assert renders.rendered_frames(project, shot.id) == {0, 3}
    assert renders.rendered_frames(project, other.id) == {0}

    assert [t.frame_index for t in renders.find_takes(project, seed=13)] == [3, 0]
    assert [t.id for t in renders.find_takes(project, persona_version_id="version-2")] == [third]
    assert len(renders.find_takes(project, model_sha="a" * 64)) == 3
    assert renders.find_takes(project, seed=13, shot_id=shot.id)[0].frame_index == 3
    assert renders.find_takes(project, model_sha="0" * 64) == []


def test_a_failed_take_leaves_nothing_behind(project, shot):
    before = project.counts()
    with pytest.raises(StudioError, match="seed"):
        renders.store_take(project, shot.id, 0, _png(), _provenance(seed="not a number"))
    with pytest.raises(NotFoundError):
        renders.store_take(project, "no-such-shot", 0, _png(), _provenance())
    assert project.counts() == before


def test_the_take_is_stored_in_one_transaction(project, shot, monkeypatch):
    before = project.counts()

    def broken(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(renders, "_make_current", broken)
    with pytest.raises(OSError):
        renders.store_take(project, shot.id, 0, _png(), _provenance())
    assert project.counts() == before


def test_settings_round_trip_and_seed_offsets(project, shot):
    settings = RenderSettings(action="walks", loras=(("ada", 0.8),), frames=2500, seed_offset=3000)
    renders.put_render_settings(project, shot.id, settings, None)
    assert renders.get_settings(project, shot.id) == settings
    assert renders.has_settings(project, shot.id)
    row = project.query("select frames, seed_offset from shot_render")[0]
    assert (row["frames"], row["seed_offset"]) == (2500, 3000)
    # 2,500 frames from 3,000 reach seed 5,499: the next shot starts at 6,000.
    assert renders.next_seed_offset(project) == 6000
    assert renders.next_seed_offset(project, except_shot=shot.id) == 0

    footage = shots.add_shot(project, "Footage", [], [])
    assert renders.get_settings(project, footage.id) is None
    assert not renders.has_settings(project, footage.id)


def test_takes_survive_reopening(project_path):
    project = Project.create(project_path)
    made = shots.add_shot(project, "Walk", [], [], source_kind="render")
    take_id = renders.store_take(project, made.id, 0, _png(300_000), _provenance())
    project.close()
    with Project.open(project_path, read_only=True) as again:
        take = renders.get_take(again, take_id)
        assert take.provenance == _provenance()
        assert blobs.get_blob(again, take.blob_sha) == _png(300_000)
    assert os.path.isdir(str(project_path) + ".assets")
