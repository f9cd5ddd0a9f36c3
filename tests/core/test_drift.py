"""Drift maths on designed faces: who a face is, when a frame is drifted or not measurable."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core import drift
from studio.core.drift import FrameFace, PersonaModel, RefFace, Thresholds
from tests.services.audit_helpers import face, identity, photo_of

NOVA, ADA, STRANGER = identity(11), identity(22), identity(33)


def _model(pid: str, person, threshold=0.8, poses=((0, 0),) * 6) -> PersonaModel:
    refs = [
        RefFace(f"{pid}-ref{i}", f"sha{i}", photo_of(person, 100 + i, 0.2), yaw=y, pitch=p)
        for i, (y, p) in enumerate(poses)
    ]
    return PersonaModel(pid, pid.title(), f"{pid}-v1", "dlib:test", refs, threshold)


def test_the_persona_passes_and_a_stranger_is_drifted_not_skipped():
    nova = _model("nova", NOVA)
    ok = drift.score_frame([FrameFace(face(photo_of(NOVA, 1, 0.2)))], nova)
    assert ok.state == drift.MEASURED and ok.matched and ok.identity > 0.8
    t = Thresholds(identity=0.8)
    assert drift.flag_reasons(ok, t) == []
    stranger = drift.score_frame([FrameFace(face(STRANGER))], nova)
    assert stranger.state == drift.MEASURED and not stranger.matched
    reasons = drift.flag_reasons(stranger, t)
    assert reasons and "identity" in reasons[0] and "does not match Nova" in reasons[0]


def test_a_frame_with_two_cast_members_matches_each_to_the_right_face():
    nova, ada = _model("nova", NOVA), _model("ada", ADA)
    faces = [
        FrameFace(face(photo_of(ADA, 2, 0.2), size_px=300)),
        FrameFace(face(photo_of(NOVA, 3, 0.2))),
    ]
    for_nova = drift.score_frame(faces, nova, [nova, ada])
    for_ada = drift.score_frame(faces, ada, [nova, ada])
    assert for_nova.face_index == 1 and for_nova.matched
    assert for_ada.face_index == 0 and for_ada.matched
    assert set(for_nova.cast_scores) == {"Nova", "Ada"}


def test_only_another_cast_member_in_frame_is_not_measurable_for_the_persona():
    nova, ada = _model("nova", NOVA), _model("ada", ADA)
    s = drift.score_frame([FrameFace(face(photo_of(ADA, 4, 0.2)))], nova, [nova, ada])
    assert s.state == drift.UNMEASURABLE and "only Ada in frame" in s.reason


def test_a_face_is_a_cast_member_only_by_a_margin():
    nova, ada = _model("nova", NOVA), _model("ada", ADA)
    between = photo_of(NOVA + ADA, 5, 0.0)  # as close to both
    assigned = drift.assign_cast([FrameFace(face(between))], [nova, ada], margin=0.05)
    assert assigned[0][0] == ""


@pytest.mark.parametrize(
    ("faces", "reason"),
    [
        ([], "no face found"),
        ([FrameFace(face(NOVA, size_px=40))], "face too small (40 px"),
    ],
)
def test_frames_that_cannot_be_measured_say_why_and_are_never_a_pass(faces, reason):
    s = drift.score_frame(faces, _model("nova", NOVA))
    assert s.state == drift.UNMEASURABLE and s.reason.startswith(reason)
    assert drift.flag_reasons(s, Thresholds(identity=0.8)) == []
    assert drift.severity(s, Thresholds(identity=0.8)) is None


def test_a_weak_detection_is_not_measurable():
    nova = _model("nova", NOVA)
    nova.engine_id = "insightface:buffalo_l:w600k"
    weak = face(NOVA)
    weak = type(weak)(**{**weak.__dict__, "score": 0.2})
    s = drift.score_frame([FrameFace(weak)], nova)
    assert s.state == drift.UNMEASURABLE and "detected too weakly" in s.reason


def test_the_pose_aware_match_looks_among_references_nearest_in_pose():
    poses = [(0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (60, 0)]
    nova = _model("nova", NOVA, poses=poses)
    profile = face(nova.refs[5].embedding, yaw=55)
    m = drift.identity_match(profile, nova)
    assert m.best_reference_id == "nova-ref5" and m.score == pytest.approx(1.0, abs=1e-5)
    assert m.centroid < m.score


def test_thresholds_come_from_calibration_unless_overridden():
    nova = _model("nova", NOVA, threshold=0.91)
    assert drift.identity_threshold(nova) == 0.91
    assert drift.identity_threshold(nova, 0.95) == 0.95
    nova.identity_threshold = None
    assert 0.88 <= drift.identity_threshold(nova) <= 0.93  # dlib's sane range


def test_flags_and_severity_vectorised_agree_with_per_frame():
    t = Thresholds(identity=0.9, wardrobe=15, lighting=1.0)
    ident = np.array([0.95, 0.85, np.nan, 0.95], np.float32)
    ward = np.array([5, 5, np.nan, 30], np.float32)
    light = np.array([0.2, 0.2, np.nan, 0.2], np.float32)
    assert drift.flag_arrays(ident, ward, light, t).tolist() == [False, True, False, True]
    sev = drift.severity_arrays(ident, ward, light, t)
    assert sev[0] < 0 < sev[1] and np.isnan(sev[2]) and sev[3] == pytest.approx(1.0)
    only_identity = Thresholds(identity=0.9, enabled=("identity",))
    assert drift.flag_arrays(ident, ward, light, only_identity).tolist() == [
        False,
        True,
        False,
        False,
    ]


SUIT, SHIRT, GREEN = (18.0, 1.0, -8.0), (95.0, 0.0, -1.0), (33.0, -30.0, 18.0)
SKIN = (65.0, 15.0, 18.0)


def _look(garment=((SUIT, 0.7), (SHIRT, 0.3)), skin=SKIN, key=(-1.0, 0.0), strength=0.2):
    return {
        "garment": [[list(c), w] for c, w in garment] if garment else None,
        "face_lab": list(skin),
        "face_cct_k": 4200.0,
        "key_vec": list(key),
        "key_strength": strength,
    }


def _with_looks(model, looks_and_tags):
    refs = [
        RefFace(r.reference_id, r.blob_sha, r.embedding, r.yaw, r.pitch, look, tags)
        for r, (look, tags) in zip(model.refs, looks_and_tags, strict=False)
    ]
    return PersonaModel(model.persona_id, model.name, model.version_id, model.engine_id, refs, 0.8)


def test_wardrobe_compares_with_the_references_of_the_expected_outfit():
    nova = _with_looks(
        _model("nova", NOVA),
        [(_look(), ("stage suit",)), (_look(((GREEN, 1.0),)), ("gym",))],
    )
    nova.outfits = {"stage suit": [], "gym": []}
    same = drift.wardrobe_check(_look(), nova, "stage suit")
    assert same.value == pytest.approx(0.0, abs=0.01) and same.reference_id == "nova-ref0"
    # The gym outfit's green is not the stage suit's.
    assert drift.wardrobe_check(_look(((GREEN, 1.0),)), nova, "stage suit").value > 15
    assert drift.wardrobe_check(_look(((GREEN, 1.0),)), nova, "gym").value < 0.01
    # No outfit expected: any of hers.
    assert drift.wardrobe_check(_look(((GREEN, 1.0),)), nova).value < 0.01


def test_wardrobe_falls_back_to_the_record_colours_and_says_when_it_has_no_basis():
    red = (53.2, 80.1, 67.2)
    nova = _model("nova", NOVA)  # references without looks
    check = drift.wardrobe_check(_look(((red, 1.0),)), nova)
    assert check.value is None and "no wardrobe colours are set" in check.reason
    nova.outfits = {"red dress": [red]}
    assert drift.wardrobe_check(_look(((red, 1.0),)), nova).value == pytest.approx(0, abs=0.01)
    check = drift.wardrobe_check(_look(((red, 1.0),)), nova, "raincoat")
    assert check.value is None and "in 'raincoat'" in check.reason
    out = drift.wardrobe_check(_look(None), nova)
    assert out.value is None and "too little of the clothes" in out.reason


def test_lighting_compares_with_the_references_light_else_the_record_key_side():
    nova = _with_looks(_model("nova", NOVA), [(_look(), ())] * 3)
    assert drift.lighting_check(_look(), nova).value == pytest.approx(0.0, abs=1e-6)
    warmer = drift.lighting_check(_look(skin=(65.0, 10.0, 24.0)), nova).value  # a yellower skin
    other_side = drift.lighting_check(_look(key=(1.0, 0.0)), nova).value
    assert warmer > 1 and other_side > 1
    bare = _model("nova", NOVA)
    check = drift.lighting_check(_look(), bare)
    assert check.value is None and "no key light is set" in check.reason
    bare.target_key, bare.target_cct_k = "left", 5600.0  # the record's light only
    # Without references her skin's colour is never compared: only the key's side.
    assert drift.lighting_check(_look(skin=(65.0, 5.0, 30.0)), bare).value < 1
    assert drift.lighting_check(_look(key=(1.0, 0.0), strength=0.25), bare).value > 1
    bare.target_key = "back"
    assert "which a face does not show" in drift.lighting_check(_look(), bare).reason


def test_a_frame_says_which_look_dimensions_were_not_checked_and_why():
    nova = _model("nova", NOVA)
    s = drift.score_frame([FrameFace(face(photo_of(NOVA, 1, 0.2)), _look())], nova)
    assert s.state == drift.MEASURED and s.wardrobe is None and s.lighting is None
    assert set(s.unchecked) == {"wardrobe", "lighting"}
    assert drift.flag_reasons(s, Thresholds(identity=0.8)) == []


def test_look_thresholds_calibrate_from_the_references_spread_never_below_the_default():
    assert drift.calibrate_look([1.0, 2.0], 11.0) is None  # too few
    assert drift.calibrate_look([1.0, 2.0, 3.0], 11.0) == 11.0  # tight references
    wide = drift.calibrate_look([8.0, 9.0, 10.0, 12.0], 11.0)
    assert wide == pytest.approx(1.5 * np.percentile([8.0, 9.0, 10.0, 12.0], 75), abs=1e-3)
    assert drift.calibrate_look([40.0] * 5, 11.0) == 2.5 * 11.0
    nova = _with_looks(
        _model("nova", NOVA),
        [(_look(((SUIT, 1.0),)), ())] * 3 + [(_look(((GREEN, 1.0),), skin=(65, 5, 30)), ())],
    )
    spreads = drift.reference_spreads(nova, "wardrobe")
    assert len(spreads) == 4 and sorted(spreads)[:3] == pytest.approx([0, 0, 0], abs=0.01)
    assert len(drift.reference_spreads(nova, "lighting")) == 4


def test_stale_dimensions_do_not_flag():
    s = drift.FrameScore(drift.MEASURED, identity=0.5, wardrobe=40.0, lighting=3.0)
    t = Thresholds(identity=0.8)
    assert len(drift.flag_reasons(s, t)) == 3
    from dataclasses import replace

    stale = replace(s, stale=("wardrobe", "lighting"))
    assert drift.flag_reasons(stale, t) == [drift.flag_reasons(s, t)[0]]
    assert stale.value("wardrobe") is None and stale.value("identity") == 0.5


def test_scores_round_trip_as_json():
    s = drift.score_frame([FrameFace(face(photo_of(NOVA, 1, 0.2)))], _model("nova", NOVA))
    assert drift.FrameScore.from_dict(s.to_dict()) == s
