"""The reference audit's verdicts, calibration, pose coverage, picks and curation edits."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core import library as lib
from studio.core.errors import NotFoundError, StudioError
from studio.core.faces import similarity
from studio.jobs.runner import JobRunner
from studio.services import audit, personas
from tests.services.audit_helpers import (
    ADA_SEED,
    FakeEngine,
    add_refs,
    face,
    identity,
    photo_of,
    unit,
)

ADA = identity(ADA_SEED)
BOB = identity(2)


def _run_audit(project, engine, monkeypatch, persona="Ada"):
    engine.install(monkeypatch)
    job = JobRunner(project).run(audit.plan_audit(project, persona))
    assert job.state == "done", job.error
    return job


def _rows(project, persona="Ada"):
    return {a.reference.file_name: a for a in audit.audit_rows(project, persona)}


def _ada(project):
    return personas.get_persona(project, "Ada").id


def _genuine_and_impostor(project, monkeypatch, genuine=8):
    faces = {k: [face(photo_of(ADA, k))] for k in range(genuine)}
    faces[99] = [face(photo_of(BOB, 99))]
    refs = add_refs(project, _ada(project), list(faces))
    _run_audit(project, FakeEngine(faces), monkeypatch)
    return refs


def test_an_outlier_among_eight_genuine_is_suspect_and_the_genuine_are_not(project, monkeypatch):
    _genuine_and_impostor(project, monkeypatch)
    rows = _rows(project)
    cal = audit.calibration(project, "Ada")
    assert cal.calibrated and cal.faces == 9 and cal.genuine_faces == 8
    assert cal.pairs == 8 * 7 // 2  # the impostor's pairs are not genuine
    assert set(cal.quantiles) == {"q01", "q05", "q10", "q50"}
    assert cal.min <= cal.quantiles["q01"] <= cal.quantiles["q50"] <= cal.max
    assert cal.threshold <= cal.quantiles["q05"]
    assert rows["ref-99.png"].suspect and rows["ref-99.png"].status == "suspect"
    assert rows["ref-99.png"].agreement < cal.threshold - 0.3
    for k in range(8):
        row = rows[f"ref-{k}.png"]
        assert not row.suspect and row.status == "ok" and row.agreement > cal.threshold
        assert row.faces == 1 and row.flags == () and row.median_similarity is not None
    assert "suspect below" in cal.describe()


def test_threshold_follows_the_median_and_mad_of_the_agreements_within_the_range():
    person = identity(5)
    e = np.stack([photo_of(person, 100 + i, noise=0.4) for i in range(12)])
    loo = lib.leave_one_out(e, np.ones(12, bool))
    cal = lib.suspect_threshold("p", "fake-v1", loo, e)
    med = np.median(loo)
    mad = np.median(np.abs(loo - med))
    expected = min(max(med - max(3 * 1.4826 * mad, lib.MIN_MARGIN), 0.2), 0.95)
    pairs = lib.genuine_pairs(e[loo >= expected])
    assert cal.threshold == pytest.approx(min(expected, np.quantile(pairs, 0.05)))
    # dlib ids are clamped to dlib's sane range however tight the references are
    tight = np.stack([photo_of(person, 200 + i, noise=0.01) for i in range(6)])
    cal = lib.suspect_threshold(
        "p", "dlib-resnet-v1", lib.leave_one_out(tight, np.ones(6, bool)), tight
    )
    assert cal.threshold == pytest.approx(lib.THRESHOLD_RANGES["dlib"][1])


def test_leave_one_out_excludes_the_reference_itself(project, monkeypatch):
    a, b, c = photo_of(ADA, 1), photo_of(ADA, 2, 0.8), unit(BOB + ADA)
    faces = {1: [face(a)], 2: [face(b)], 3: [face(c)]}
    add_refs(project, _ada(project), faces)
    _run_audit(project, FakeEngine(faces), monkeypatch)
    rows = _rows(project)
    assert rows["ref-1.png"].agreement == pytest.approx(similarity(a, unit(b + c)), abs=1e-5)
    assert rows["ref-3.png"].agreement == pytest.approx(similarity(c, unit(a + b)), abs=1e-5)
    median = np.median([similarity(a, b), similarity(a, c)])
    assert rows["ref-1.png"].median_similarity == pytest.approx(median, abs=1e-5)
    assert rows["ref-1.png"].agreement < 0.999  # not its similarity to itself


def test_quarantine_removes_a_reference_from_the_others_scores(project, monkeypatch):
    refs = _genuine_and_impostor(project, monkeypatch, genuine=4)
    e = {k: photo_of(ADA, k) for k in range(4)}
    bob = photo_of(BOB, 99)
    before = _rows(project)["ref-0.png"].agreement
    assert before == pytest.approx(similarity(e[0], unit(e[1] + e[2] + e[3] + bob)), abs=1e-5)

    changes = audit.set_status(project, [refs[99]], "quarantined")
    assert changes == {refs[99]: ("pending", "quarantined")}
    rows = _rows(project)
    after = rows["ref-0.png"].agreement
    assert after == pytest.approx(similarity(e[0], unit(e[1] + e[2] + e[3])), abs=1e-5)
    assert after > before
    assert rows["ref-99.png"].status == "quarantined"
    # a quarantined reference is scored against all the persona's members
    assert rows["ref-99.png"].agreement == pytest.approx(
        similarity(bob, unit(e[0] + e[1] + e[2] + e[3])), abs=1e-5
    )
    cal = audit.calibration(project, "Ada")
    assert cal.faces == 4 and cal.pairs == 6

    audit.set_status(project, [refs[99]], "pending")  # undo
    assert _rows(project)["ref-0.png"].agreement == pytest.approx(before, abs=1e-6)


def test_fewer_than_three_faces_mark_nobody_suspect(project, monkeypatch):
    faces = {1: [face(photo_of(ADA, 1))], 2: [face(photo_of(BOB, 2))], 3: []}
    add_refs(project, _ada(project), faces)
    _run_audit(project, FakeEngine(faces), monkeypatch)
    rows = _rows(project)
    assert not any(r.suspect for r in rows.values())
    assert {r.status for r in rows.values()} == {"ok"}
    assert rows["ref-3.png"].flags == ("no_face",) and rows["ref-3.png"].agreement is None
    cal = audit.calibration(project, "Ada")
    assert not cal.calibrated and cal.threshold is None
    assert "3 are needed" in cal.reason and cal.describe().startswith("Not calibrated")


def test_each_quality_flag_fires_on_its_designed_face(project, monkeypatch):
    designs = {
        1: ([face(photo_of(ADA, 1))], ()),
        2: ([], ("no_face",)),
        3: ([face(photo_of(ADA, 3), size_px=220), face(photo_of(BOB, 3), size_px=90)],
            ("several_faces",)),
        4: ([face(photo_of(ADA, 4), size_px=60)], ("face_too_small",)),
        5: ([face(photo_of(ADA, 5), sharpness=0.05)], ("blurred",)),
        6: ([face(photo_of(ADA, 6), exposure=0.08)], ("badly_exposed",)),
        7: ([face(photo_of(ADA, 7), exposure=0.95)], ("badly_exposed",)),
        8: ([face(photo_of(ADA, 8), yaw=-72)], ("extreme_pose",)),
        9: ([face(photo_of(ADA, 9), pitch=45)], ("extreme_pose",)),
        10: ([face(photo_of(ADA, 10), size_px=50, sharpness=0.1, yaw=65)],
             ("face_too_small", "blurred", "extreme_pose")),
    }  # fmt: skip
    faces = {k: f for k, (f, _) in designs.items()}
    add_refs(project, _ada(project), faces)
    _run_audit(project, FakeEngine(faces), monkeypatch)
    rows = _rows(project)
    for key, (_, flags) in designs.items():
        assert rows[f"ref-{key}.png"].flags == flags, key
    assert rows["ref-3.png"].faces == 2 and rows["ref-3.png"].face.size_px == 220


def test_pending_before_any_audit(project):
    add_refs(project, _ada(project), [1, 2])
    rows = audit.audit_rows(project, "Ada")
    assert [r.status for r in rows] == ["pending", "pending"]
    assert all(r.faces is None and not r.audited for r in rows)
    assert audit.calibration(project, "Ada") is None
    with pytest.raises(StudioError, match="approve some references first"):
        audit.pick_references(project, "Ada")


def test_pose_coverage_counts_bins_and_names_the_missing_angles(project, monkeypatch):
    poses = {1: (-60, 0), 2: (0, 0), 3: (5, 20), 4: (30, -5), 5: (-20, 3), 6: (60, 0)}
    faces = {k: [face(photo_of(ADA, k), yaw=y, pitch=p)] for k, (y, p) in poses.items()}
    faces[7] = [face(photo_of(BOB, 7), yaw=60, pitch=-30)]  # suspect: not counted
    refs = add_refs(project, _ada(project), faces)
    _run_audit(project, FakeEngine(faces), monkeypatch)
    audit.set_status(project, [refs[6]], "quarantined")  # not counted either
    audit.set_status(project, [refs[2]], "approved")  # counted
    cov = audit.pose_coverage(project, "Ada")
    assert sorted(cov.reference_ids) == sorted(refs[k] for k in (1, 2, 3, 4, 5))
    assert (5.0, 20.0) in cov.points
    assert cov.yaw_counts == {
        "left_profile": 1,
        "left_three_quarter": 1,
        "frontal": 2,
        "right_three_quarter": 1,
        "right_profile": 0,
    }
    assert cov.pitch_counts == {"up": 1, "level": 4, "down": 0}
    assert cov.grid[("frontal", "up")] == 1 and cov.grid[("frontal", "level")] == 1
    assert cov.missing == ("no right profile", "no looking down")


def test_pose_bins_at_their_edges():
    assert [lib.yaw_bin(y) for y in (-46, -45, -16, -15, 15, 16, 45, 46)] == [
        "left_profile",
        "left_three_quarter",
        "left_three_quarter",
        "frontal",
        "frontal",
        "right_three_quarter",
        "right_three_quarter",
        "right_profile",
    ]
    assert [lib.pitch_bin(p) for p in (16, 15, -15, -16)] == ["up", "level", "level", "down"]
    assert lib.pose_coverage([]).missing[0] == "no left profile"


def _pick_setup(project, monkeypatch):
    """Seven genuine references at chosen poses, a near-duplicate pair, an impostor."""
    faces = {
        1: [face(photo_of(ADA, 1), yaw=0)],
        2: [face(photo_of(ADA, 2), yaw=2)],
        3: [face(photo_of(ADA, 3), yaw=-30)],
        4: [face(photo_of(ADA, 4), yaw=30)],
        5: [face(photo_of(ADA, 5), yaw=-60)],
        6: [face(photo_of(ADA, 6), yaw=70, pitch=-10)],
        7: [face(photo_of(ADA, 7), yaw=-1, pitch=1)],
        9: [face(photo_of(BOB, 9), yaw=0, sharpness=1.0, size_px=400)],  # perfect but not Ada
    }
    faces[8] = [face(unit(photo_of(ADA, 1) + 0.002 * BOB), yaw=1)]  # 1 again, re-encoded
    refs = add_refs(project, _ada(project), faces)
    _run_audit(project, FakeEngine(faces), monkeypatch)
    return refs


def test_pick_references_count_must_be_three_to_five(project, monkeypatch):
    _pick_setup(project, monkeypatch)
    for count in (2, 6, 0):
        with pytest.raises(StudioError, match="between 3 and 5"):
            audit.pick_references(project, "Ada", count=count)
    for count in (3, 4, 5):
        assert len(audit.pick_references(project, "Ada", count=count)) == count
    with pytest.raises(StudioError, match="outside"):
        audit.pick_references(project, "Ada", target_yaw=120)


def test_pick_references_prefers_near_poses_and_skips_near_duplicates(project, monkeypatch):
    refs = _pick_setup(project, monkeypatch)
    names = {v: k for k, v in refs.items()}
    frontal = audit.pick_references(project, "Ada", 0, 0, count=3)
    keys = [names[p.reference.id] for p in frontal]
    assert 9 not in keys  # suspect
    assert set(keys) <= {1, 2, 7, 8} and len(set(keys)) == 3
    assert not {1, 8} <= set(keys)  # never both copies of the same photo
    assert all(p.why.startswith("identity") for p in frontal)
    assert frontal[0].score >= frontal[1].score >= frontal[2].score
    assert audit.pick_references(project, "Ada", 0, 0, count=3) == frontal  # deterministic

    left = audit.pick_references(project, "Ada", target_yaw=-60, count=3)
    assert names[left[0].reference.id] == 5
    assert names[left[1].reference.id] == 3
    right = audit.pick_references(project, "Ada", target_yaw=65, target_pitch=-10, count=3)
    assert names[right[0].reference.id] == 6


def test_without_the_diversity_penalty_the_duplicate_would_be_picked(project, monkeypatch):
    refs = _pick_setup(project, monkeypatch)
    names = {v: k for k, v in refs.items()}
    monkeypatch.setattr(lib, "W_REDUNDANCY", 0.0)
    keys = {names[p.reference.id] for p in audit.pick_references(project, "Ada", 0, 0, count=4)}
    assert {1, 8} <= keys  # so the test above really exercises the penalty


def test_pick_references_excludes_quarantined_suspect_faceless_and_crowded(project, monkeypatch):
    refs = _pick_setup(project, monkeypatch)
    names = {v: k for k, v in refs.items()}
    audit.set_status(project, [refs[1], refs[2], refs[7], refs[8]], "quarantined")
    picks = audit.pick_references(project, "Ada", count=5)
    keys = {names[p.reference.id] for p in picks}
    assert keys == {3, 4, 5, 6} and "Only 4 usable references" in picks.note
    # approving the suspect overrides the audit
    audit.set_status(project, [refs[9]], "approved")
    keys = {names[p.reference.id] for p in audit.pick_references(project, "Ada", count=5)}
    assert 9 in keys


def test_several_faces_are_picked_only_once_the_user_chose_the_face(project, monkeypatch):
    faces = {k: [face(photo_of(ADA, k))] for k in range(1, 5)}
    faces[5] = [face(photo_of(BOB, 5), size_px=300), face(photo_of(ADA, 5), size_px=150, yaw=-50)]
    refs = add_refs(project, _ada(project), faces)
    _run_audit(project, FakeEngine(faces), monkeypatch)
    rows = _rows(project)
    assert rows["ref-5.png"].suspect  # the largest face is Bob's
    picks = audit.pick_references(project, "Ada", target_yaw=-50, count=5)
    assert refs[5] not in {p.reference.id for p in picks}

    assert audit.set_face(project, refs[5], 1) == {refs[5]: (None, 1)}
    row = _rows(project)["ref-5.png"]
    assert row.face_index == 1 and not row.suspect and "several_faces" in row.flags
    picks = audit.pick_references(project, "Ada", target_yaw=-50, count=5)
    assert picks[0].reference.id == refs[5] and picks[0].face.size_px == 150
    assert len(audit.faces_of(project, picks[0].reference)) == 2

    with pytest.raises(StudioError, match="the image has 2"):
        audit.set_face(project, refs[5], 2)
    assert audit.revert(project, "face_index", {refs[5]: (None, 1)}) == {refs[5]: (1, None)}
    assert _rows(project)["ref-5.png"].suspect


def test_set_status_and_tags_return_what_changed_for_undo(project):
    refs = add_refs(project, _ada(project), [1, 2, 3])
    a, b, c = refs[1], refs[2], refs[3]
    assert audit.set_status(project, [a, b], "approved") == {
        a: ("pending", "approved"),
        b: ("pending", "approved"),
    }
    changes = audit.set_status(project, [a, c], "quarantined")
    assert changes == {a: ("approved", "quarantined"), c: ("pending", "quarantined")}
    assert audit.set_status(project, [a], "quarantined") == {}  # nothing changed
    audit.revert(project, "status", changes)
    statuses = {r.id: r.status for r in audit.audit_rows(project, "Ada")}
    assert statuses == {a: "approved", b: "approved", c: "pending"}

    tags = audit.set_tags(project, [a, b], add=["hero", "close-up"])
    assert tags == {a: ((), ("hero", "close-up")), b: ((), ("hero", "close-up"))}
    tags = audit.set_tags(project, [a, b, c], add=["night"], remove=["hero"])
    assert tags[a] == (("hero", "close-up"), ("close-up", "night"))
    assert tags[c] == ((), ("night",))
    audit.revert(project, "tags", tags)
    by_id = {r.reference.id: r.reference for r in audit.audit_rows(project, "Ada")}
    assert by_id[a].tags == ("hero", "close-up") and by_id[c].tags == ()
    assert audit.set_tags(project, [c], remove=["absent"]) == {}

    assert audit.set_rating(project, [a, b], 4) == {a: (0, 4), b: (0, 4)}
    assert audit.set_rating(project, [a], 4) == {}
    with pytest.raises(StudioError, match="0 to 5"):
        audit.set_rating(project, [a], 7)
    with pytest.raises(StudioError, match="not a reference status"):
        audit.set_status(project, [a], "suspect")
    with pytest.raises(NotFoundError):
        audit.set_status(project, [a, "nope"], "approved")
    assert {r.reference.status for r in audit.audit_rows(project, "Ada")} == {"approved", "pending"}


def test_default_engine_is_a_project_setting(project):
    assert audit.default_engine(project) == "dlib"
    assert audit.set_default_engine(project, "insightface") == "dlib"
    assert audit.default_engine(project) == "insightface"
    assert audit.plan_audit(project, "Ada").engine == "insightface"
    with pytest.raises(StudioError, match="no face engine 'arcface'"):
        audit.set_default_engine(project, "arcface")
    notes = {e.name: e.note for e in audit.engine_choices()}
    assert "non-commercial" in notes["insightface"]


def test_audit_rows_of_an_unknown_persona(project):
    with pytest.raises(NotFoundError):
        audit.audit_rows(project, "Nobody")
