"""The face caches: scans per engine, audit verdicts, calibrations; and project settings."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.faces import Face
from studio.core.library import AuditVerdict, Calibration
from studio.project import blobs, curation
from studio.project import faces as cache
from studio.project import references as refs
from studio.project.settings import get_setting, set_setting
from tests.project.helpers import add_persona


def _face(seed: int, size: float = 120.0) -> Face:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return Face(
        box=(1.5, 2.0, 1.5 + size, 2.0 + size),
        landmarks=((10.0, 11.0), (30.0, 11.5), (20.0, 22.0), (12.0, 30.0), (28.0, 30.5)),
        score=0.97,
        size_px=size,
        yaw=-12.5,
        pitch=4.0,
        roll=1.25,
        sharpness=0.8,
        exposure=0.45,
        embedding=v / np.linalg.norm(v),
    )


def _ref(project, persona_id, data: bytes):
    sha = blobs.put_blob(project, data, "image/png")
    return refs.add_reference(
        project, persona_id, sha, file_name="a.png", source_path="", width=4, height=4
    )


def test_a_scan_round_trips_exactly_and_engines_stay_apart(project):
    pid = add_persona(project)
    a, b = _ref(project, pid, b"a"), _ref(project, pid, b"b")
    faces = [_face(1, 200.0), _face(2, 90.0)]
    cache.put_scan(project, a.blob_sha, "dlib:v1", faces)
    cache.put_scan(project, b.blob_sha, "dlib:v1", [])  # looked, found nobody

    back = cache.get_scan(project, a.blob_sha, "dlib:v1")
    assert back == faces  # every attribute, in order (largest first)
    assert np.array_equal(back[0].embedding, faces[0].embedding)
    assert back[0].embedding.dtype == np.float32
    assert cache.get_scan(project, b.blob_sha, "dlib:v1") == []
    assert cache.get_scan(project, a.blob_sha, "insightface:buffalo_l") is None  # never looked
    assert cache.blobs_without_scan(project, "dlib:v1", pid) == []
    assert set(cache.blobs_without_scan(project, "insightface:buffalo_l", pid)) == {
        a.blob_sha,
        b.blob_sha,
    }
    assert set(cache.blobs_without_scan(project, None)) == {a.blob_sha, b.blob_sha}
    scans = cache.persona_scans(project, pid, "dlib:v1")
    assert scans == {a.blob_sha: faces, b.blob_sha: []}
    assert cache.persona_scans(project, pid, "other") == {}

    cache.put_scan(project, a.blob_sha, "dlib:v1", [_face(3)])  # a rescan replaces the faces
    assert cache.get_scan(project, a.blob_sha, "dlib:v1") == [_face(3)]
    rows = project.query("select faces from cache_face_scans where blob_sha = ?", (a.blob_sha,))
    assert rows == [{"faces": 1}]


def test_a_failed_scan_leaves_nothing_half_written(project, monkeypatch):
    pid = add_persona(project)
    a = _ref(project, pid, b"a")
    import sqlite_utils

    cache.put_scan(project, a.blob_sha, "e", [_face(1)])

    def disk_full(self, *args, **kwargs):
        raise OSError("disk full")

    # fails after the old faces were deleted and the scan row replaced, inside the transaction
    monkeypatch.setattr(sqlite_utils.db.Table, "insert_all", disk_full)
    with pytest.raises(OSError):
        cache.put_scan(project, a.blob_sha, "e", [_face(3), _face(4)])
    assert cache.get_scan(project, a.blob_sha, "e") == [_face(1)]
    assert project.query("select faces from cache_face_scans") == [{"faces": 1}]


def test_audit_verdicts_and_calibration_round_trip_per_engine(project):
    pid = add_persona(project)
    a, b = _ref(project, pid, b"a"), _ref(project, pid, b"b")
    verdicts = [
        AuditVerdict(a.id, "e1", 0, 0.93, False, (), updated_at="t"),
        AuditVerdict(b.id, "e1", 1, 0.41, True, ("several_faces", "blurred"), updated_at="t"),
    ]
    cache.replace_audit(project, pid, "e1", verdicts)
    cache.replace_audit(project, pid, "e2", verdicts[:1])
    assert cache.get_audit(project, pid, "e1") == {a.id: verdicts[0], b.id: verdicts[1]}
    assert list(cache.get_audit(project, pid, "e2")) == [a.id]
    cache.replace_audit(project, pid, "e1", verdicts[1:])  # replaces the persona's e1 rows
    assert list(cache.get_audit(project, pid, "e1")) == [b.id]
    assert sorted(cache.audited_engines(project, pid)) == ["e1", "e2"]

    cal = Calibration(
        pid, "e1", calibrated=True, reason="3 faces", faces=3, genuine_faces=3, pairs=3,
        mean=0.9, std=0.01, min=0.88, max=0.92, quantiles={"q05": 0.881},
        agreement_median=0.95, agreement_mad=0.004, threshold=0.89, rule="r",
        median_similarity={a.id: 0.9}, updated_at="t",
    )  # fmt: skip
    cache.put_calibration(project, cal)
    assert cache.get_calibration(project, pid, "e1") == cal
    assert cache.get_calibration(project, pid, "e2") is None


def test_settings_hold_json_values(project):
    assert get_setting(project, "face_engine") is None
    assert get_setting(project, "face_engine", "dlib") == "dlib"
    set_setting(project, "face_engine_ids", {"dlib": "dlib:resnet_v1"})
    assert get_setting(project, "face_engine_ids") == {"dlib": "dlib:resnet_v1"}
    set_setting(project, "face_engine_ids", None)
    assert get_setting(project, "face_engine_ids", {}) == {}


def test_curation_writes_fields_and_names_missing_references(project):
    from studio.core.errors import NotFoundError

    pid = add_persona(project)
    a = _ref(project, pid, b"a")
    curation.update(project, [(a.id, "tags", ("x", "y")), (a.id, "face_index", 1)])
    assert curation.get_references(project, [a.id])[0].tags == ("x", "y")
    assert curation.face_indexes(project, pid) == {a.id: 1}
    with pytest.raises(NotFoundError, match="no reference nope"):
        curation.get_references(project, [a.id, "nope"])
    with pytest.raises(ValueError):
        curation.update(project, [(a.id, "blob_sha", "x")])
