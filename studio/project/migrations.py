"""Append-only schema migrations. The schema version of a file is how many of these it has had.

Never edit or reorder a published migration: add a new function at the end of MIGRATIONS.
Each one runs in its own transaction with foreign keys off (so a migration may rebuild a table)
and is followed by a foreign key check before it commits.

Authored data and regenerable caches are kept apart: cache tables start with `cache_` and have
no foreign keys, so they can be emptied or dropped at any time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

from collections.abc import Callable

_INITIAL = [
    """
    create table personas (
        id text primary key not null,
        name text not null unique collate nocase,
        head_version_id text,
        created_at text,
        updated_at text
    )
    """,
    """
    create table persona_versions (
        id text primary key not null,
        persona_id text not null references personas(id) on delete cascade,
        number integer not null,
        parent_id text references persona_versions(id),
        record text not null,
        note text,
        created_at text,
        unique (persona_id, number)
    )
    """,
    "create index persona_versions_parent on persona_versions(parent_id)",
    """
    create table persona_drafts (
        persona_id text primary key not null references personas(id) on delete cascade,
        base_version_id text,
        record text,
        updated_at text
    )
    """,
    """
    create table blobs (
        sha256 text primary key not null,
        size integer not null,
        mime text,
        data blob not null,
        created_at text not null
    )
    """,
    """
    create table assets (
        sha256 text primary key not null,
        kind text not null,
        file_name text,
        size integer not null,
        added_at text not null
    )
    """,
    """
    create table reference_images (
        id text primary key not null,
        persona_id text not null references personas(id) on delete cascade,
        blob_sha text references blobs(sha256),
        file_name text,
        source_path text,
        width integer,
        height integer,
        status text default 'pending',
        tags text default '[]',
        rating integer default 0,
        meta text default '{}',
        imported_at text
    )
    """,
    "create index reference_images_persona on reference_images(persona_id)",
    "create index reference_images_blob on reference_images(blob_sha)",
    """
    create table shots (
        id text primary key not null,
        name text not null,
        notes text default '',
        position integer,
        fps real,
        source text,
        created_at text
    )
    """,
    """
    create table shot_personas (
        shot_id text not null references shots(id) on delete cascade,
        persona_id text not null references personas(id) on delete cascade,
        primary key (shot_id, persona_id)
    )
    """,
    "create index shot_personas_persona on shot_personas(persona_id)",
    """
    create table frames (
        id text primary key not null,
        shot_id text not null references shots(id) on delete cascade,
        idx integer not null,
        blob_sha text references blobs(sha256),
        timecode_s real,
        source text,
        unique (shot_id, idx)
    )
    """,
    "create index frames_blob on frames(blob_sha)",
    """
    create table takes (
        id text primary key not null,
        frame_id text not null references frames(id) on delete cascade,
        blob_sha text references blobs(sha256),
        provenance text default '{}',
        chosen integer default 0,
        created_at text
    )
    """,
    "create index takes_frame on takes(frame_id)",
    "create index takes_blob on takes(blob_sha)",
    "create table settings (key text primary key not null, value text)",
    """
    create table jobs (
        id text primary key not null,
        kind text,
        title text,
        spec text,
        state text,
        done integer default 0,
        total integer default 0,
        message text default '',
        error text default '',
        created_at text,
        started_at text,
        updated_at text,
        finished_at text
    )
    """,
    "create index jobs_state on jobs(state)",
    """
    create table job_units (
        job_id text not null references jobs(id) on delete cascade,
        unit text not null,
        finished_at text,
        primary key (job_id, unit)
    )
    """,
    """
    create table cache_thumbnails (
        blob_sha text not null,
        size integer not null,
        data blob,
        created_at text,
        primary key (blob_sha, size)
    )
    """,
]


def _m001_initial(db: sqlite_utils.Database) -> None:
    """Authored tables (personas to jobs), blobs and assets, and the thumbnail cache."""
    for statement in _INITIAL:
        db.execute(statement)


_LIBRARY = [
    # Authored: what the import saw, and which face the user says is the persona.
    "alter table reference_images add column phash text",
    "alter table reference_images add column face_index integer",
    "alter table reference_images add column import_note text default ''",
    "create index reference_images_phash on reference_images(phash)",
    # Regenerable: faces found in an image by one engine (an image with none is a scan with 0).
    """
    create table cache_face_scans (
        blob_sha text not null,
        engine_id text not null,
        faces integer not null,
        created_at text,
        primary key (blob_sha, engine_id)
    )
    """,
    """
    create table cache_faces (
        blob_sha text not null,
        engine_id text not null,
        face_index integer not null,
        box text not null,
        landmarks text not null,
        score real,
        size_px real,
        yaw real,
        pitch real,
        roll real,
        sharpness real,
        exposure real,
        embedding blob,
        primary key (blob_sha, engine_id, face_index)
    )
    """,
    # Regenerable: the audit's verdict on each reference, per engine.
    """
    create table cache_reference_audit (
        reference_id text not null,
        engine_id text not null,
        face_index integer,
        agreement real,
        suspect integer not null default 0,
        flags text not null default '[]',
        updated_at text,
        primary key (reference_id, engine_id)
    )
    """,
    # Regenerable: a persona's genuine-similarity distribution, from which thresholds derive.
    """
    create table cache_calibration (
        persona_id text not null,
        engine_id text not null,
        stats text not null,
        updated_at text,
        primary key (persona_id, engine_id)
    )
    """,
]


def _m002_library(db: sqlite_utils.Database) -> None:
    """Reference library: perceptual hash and chosen face; face, audit and calibration caches."""
    for statement in _LIBRARY:
        db.execute(statement)


_UNIT_RESULTS = [
    # What each finished unit of a job came to (an import's file: imported, duplicate or
    # rejected, and why), so a job's report can be rebuilt after a restart.
    """
    create table job_unit_results (
        job_id text not null references jobs(id) on delete cascade,
        unit text not null,
        outcome text not null,
        detail text not null default '{}',
        primary key (job_id, unit)
    )
    """,
]


def _m003_job_unit_results(db: sqlite_utils.Database) -> None:
    """Per-unit outcomes of jobs, from which reports such as the import report are rebuilt."""
    for statement in _UNIT_RESULTS:
        db.execute(statement)


_SHOTS = [
    # The first schema's shots and frames, filled in for footage: the source, the every-Nth
    # step, each frame's place in its source and size. Shot names are unique.
    "alter table shots add column source_kind text",
    "alter table shots add column every integer not null default 1",
    "create unique index shots_name on shots(name collate nocase)",
    "alter table frames add column source_index integer",
    "alter table frames add column width integer",
    "alter table frames add column height integer",
    """
    create table frame_reviews (
        frame_id text primary key not null references frames(id) on delete cascade,
        state text,
        note text not null default '',
        updated_at text
    )
    """,
    # A face's look (garment colour, light on the face) as one engine's face box framed it.
    """
    create table cache_looks (
        blob_sha text not null,
        engine_id text not null,
        face_index integer not null,
        look text not null,
        primary key (blob_sha, engine_id, face_index)
    )
    """,
    # A frame scored against one persona version with one engine: every score, as JSON too.
    """
    create table cache_drift (
        frame_id text not null,
        persona_id text not null,
        version_id text not null,
        engine_id text not null,
        state text not null,
        identity real,
        wardrobe real,
        lighting real,
        score text not null,
        created_at text,
        primary key (frame_id, persona_id, version_id, engine_id)
    )
    """,
]


def _m004_shots(db: sqlite_utils.Database) -> None:
    """Shots of frames from footage, frame reviews, and the looks and drift score caches."""
    for statement in _SHOTS:
        db.execute(statement)


_SCORE_INPUTS = [
    # The outfit a shot expects each persona in (null: any of hers).
    "alter table shot_personas add column outfit text",
    # Scores are kept while what they were computed from is unchanged, per dimension, instead
    # of per persona version: `inputs` holds a digest of each dimension's inputs. A cache: the
    # old rows are dropped and rebuilt from the cached faces and looks.
    "drop table cache_drift",
    """
    create table cache_drift (
        frame_id text not null,
        persona_id text not null,
        engine_id text not null,
        state text not null,
        identity real,
        wardrobe real,
        lighting real,
        inputs text not null,
        score text not null,
        created_at text,
        primary key (frame_id, persona_id, engine_id)
    )
    """,
]


def _m005_score_inputs(db: sqlite_utils.Database) -> None:
    """Each shot's expected outfit per persona; drift scores keyed by their inputs."""
    for statement in _SCORE_INPUTS:
        db.execute(statement)


_RENDER = [
    # Models the artist registered, used in place (never copied), each with its sha256.
    """
    create table models (
        id text primary key not null,
        name text not null unique collate nocase,
        kind text not null,
        family text not null default '',
        variant text not null default '',
        format text not null,
        path text not null,
        sha256 text not null,
        size integer not null default 0,
        source text not null default '',
        encoder_id text references models(id) on delete set null,
        meta text not null default '{}',
        added_at text
    )
    """,
    "create index models_sha on models(sha256)",
    "create index models_path on models(path)",
    "create index models_encoder on models(encoder_id)",
    # Regenerable: a file's sha256 as long as its size and mtime are unchanged.
    """
    create table cache_file_hashes (
        path text primary key not null,
        size integer not null,
        mtime_ns integer not null,
        sha256 text not null,
        hashed_at text
    )
    """,
    # A persona's own models: her DreamBooth base and her LoRAs, with their weights.
    """
    create table persona_models (
        persona_id text not null references personas(id) on delete cascade,
        model_id text not null references models(id) on delete cascade,
        role text not null,
        weight real not null default 1.0,
        primary key (persona_id, model_id)
    )
    """,
    "create index persona_models_model on persona_models(model_id)",
    # How a shot is rendered (a shot made for rendering has a row; footage shots have none).
    """
    create table shot_render (
        shot_id text primary key not null references shots(id) on delete cascade,
        settings text not null,
        model_id text references models(id) on delete set null,
        frames integer not null,
        seed_offset integer not null,
        updated_at text
    )
    """,
    "create index shot_render_model on shot_render(model_id)",
    # Provenance of a rendered take as queryable columns (the full settings as JSON too).
    "alter table takes add column job_id text",
    "alter table takes add column persona_id text",
    "alter table takes add column persona_version_id text",
    "alter table takes add column seed integer",
    "alter table takes add column model_sha text",
    "alter table takes add column model_name text",
    "alter table takes add column family text",
    "alter table takes add column mode text",
    "alter table takes add column width integer",
    "alter table takes add column height integer",
    "alter table takes add column steps integer",
    "alter table takes add column guidance real",
    "alter table takes add column sampler text",
    "alter table takes add column prompt text",
    "alter table takes add column negative text",
    "alter table takes add column loras text not null default '[]'",
    "alter table takes add column adapters text not null default '[]'",
    "alter table takes add column reference_shas text not null default '[]'",
    "alter table takes add column device text",
    "alter table takes add column seconds real",
    "create index takes_seed on takes(seed)",
    "create index takes_model on takes(model_sha)",
    "create index takes_version on takes(persona_version_id)",
    # Large pictures (rendered frames) can live in the assets folder beside the file, by hash:
    # 'inline' rows hold their bytes, 'file' rows an empty blob.
    "alter table blobs add column stored text not null default 'inline'",
]


def _m006_render(db: sqlite_utils.Database) -> None:
    """Registered models, personas' own models, shots' render settings, takes' provenance."""
    for statement in _RENDER:
        db.execute(statement)


def _m007_keyframes(db: sqlite_utils.Database) -> None:
    """A motion shot's keyframe: its picture, what it was rendered from, and its provenance."""
    for column in ("keyframe_sha", "keyframe_recipe", "keyframe_provenance"):
        db.execute(f"alter table shot_render add column {column} text")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m001_initial,
    _m002_library,
    _m003_job_unit_results,
    _m004_shots,
    _m005_score_inputs,
    _m006_render,
    _m007_keyframes,
]


def latest_version() -> int:
    """The schema version this Persona Studio writes: the number of migrations."""
    return len(MIGRATIONS)
