"""Review actions and thresholds on the demo's analysed shots (what the Drift workspace calls)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.errors import StudioError
from studio.services import drift


def _visit(project):
    return next(r for r in drift.drift_rows(project) if r.shot.name == "Set visit")


def test_flag_for_reshoot_note_and_undo(demo_project):
    row = _visit(demo_project)
    flagged = [row.frames[i].id for i, f in enumerate(row.flags()) if f]
    changes = drift.set_review(demo_project, flagged, "reshoot")
    assert set(changes) == set(flagged)
    items = drift.reshoot_list(demo_project)
    assert [i.frame.id for i in items] == flagged
    assert all("does not match Nova Hale" in i.why for i in items)
    noted = drift.set_review(demo_project, flagged[:1], note="the set photographer again")
    assert drift.reshoot_list(demo_project)[0].note == "the set photographer again"
    drift.revert_review(demo_project, noted)
    drift.revert_review(demo_project, changes)
    assert drift.reshoot_list(demo_project) == []
    drift.reapply_review(demo_project, changes)
    assert len(drift.reshoot_list(demo_project)) == len(flagged)
    with pytest.raises(StudioError, match="one of: reshoot, approved"):
        drift.set_review(demo_project, flagged, "maybe")


def test_threshold_override_reflags_and_restores(demo_project):
    before = _visit(demo_project).flags().sum()
    old = drift.set_thresholds(demo_project, "Nova Hale", identity=0.5, enabled=["identity"])
    assert before > 0 and _visit(demo_project).flags().sum() == 0
    assert drift.thresholds(demo_project, "Nova Hale").identity == 0.5
    drift.restore_thresholds(demo_project, _visit(demo_project).persona_id, old)
    assert _visit(demo_project).flags().sum() == before
    with pytest.raises(StudioError, match="Unknown threshold"):
        drift.set_thresholds(demo_project, "Nova Hale", contrast=2)


def test_two_random_frames_are_measured_frames_of_the_persona(demo_project):
    a, b = drift.random_pair(demo_project, "Nova Hale", seed=7)
    assert a.frame.id != b.frame.id
    assert a.score.state == b.score.state == "measured"
    assert drift.random_pair(demo_project, "Nova Hale", seed=7)[0].frame.id == a.frame.id


def test_inspecting_a_flagged_frame_gives_its_face_and_best_reference(demo_project):
    row = _visit(demo_project)
    i = int(next(i for i, f in enumerate(row.flags()) if f))
    seen = drift.inspect_frame(demo_project, row, i)
    assert seen.verdict.flagged and "does not match Nova Hale" in seen.verdict.why
    assert seen.face is not None and seen.face.box == pytest.approx(seen.verdict.score.box)
    assert seen.reference is not None and seen.reference.persona_id == row.persona_id
    assert seen.reference_face is not None and seen.reference_face.size_px >= 60
    cut = next(r for r in drift.drift_rows(demo_project) if r.shot.name == "Cutaways")
    blank = next(i for i, s in enumerate(cut.scores) if s is not None and s.state == "unmeasurable")
    empty = drift.inspect_frame(demo_project, cut, blank)
    assert empty.face is None and empty.reference is None
    assert empty.verdict.why.startswith("not measurable")


def test_looking_harder_plans_only_the_frames_without_a_face(demo_project):
    assert drift.plan_analysis(demo_project).frames == ()  # the demo is analysed
    spec = drift.plan_analysis(demo_project, thorough=True)
    cut = next(r for r in drift.drift_rows(demo_project) if r.shot.name == "Cutaways")
    faceless = {f.id for f, s in zip(cut.frames, cut.scores, strict=True) if s.faces == 0}
    assert len(faceless) == 4 and {fid for fid, _ in spec.frames} == faceless
    assert set(spec.scan) == {sha for _, sha in spec.frames} and spec.thorough
    assert "looking harder" in spec.title


def _row(project, name):
    return next(r for r in drift.drift_rows(project) if r.shot.name == name)


def test_a_shot_flagged_on_wardrobe_reports_its_worst_wardrobe_frame(demo_project):
    from dataclasses import replace

    from studio.services import review

    costume = _row(demo_project, "Costume test")
    t = costume.thresholds
    on_wardrobe = {
        i
        for i, s in enumerate(costume.scores)
        if s.wardrobe is not None and s.wardrobe > t.wardrobe
    }
    assert on_wardrobe and not any(s.identity < t.identity for s in costume.scores if s.identity)
    w = review.worst(costume)
    assert w.index in on_wardrobe and w.dimension == "wardrobe" and w.flagged
    assert w.value == pytest.approx(max(costume.scores[i].wardrobe for i in on_wardrobe))
    summary = review.shot_summary(costume)
    assert summary["worst_on"] == "wardrobe" and summary["worst_frame"] == w.index + 1
    assert "worst wardrobe ΔE" in review.describe_worst(costume)
    # With the wardrobe check off, the shot is on-model and its worst is judged without it.
    quiet = replace(t, enabled=("identity", "lighting"))
    w2 = review.worst(costume, quiet)
    assert w2.dimension != "wardrobe" and not w2.flagged
    # With every check off nothing is flagged, yet the shot still has a worst frame.
    off = review.worst(costume, replace(t, enabled=()))
    assert off is not None and not off.flagged and off.dimension == "wardrobe"


def test_the_most_drifted_frame_and_what_flag_every_drifted_frame_takes(demo_project):
    from studio.services import review

    rows = drift.drift_rows(demo_project)
    where = review.most_drifted(rows)
    assert where is not None
    row, frame = where
    assert rows[row].flags()[frame]
    severity = [float(r.severity()[f]) for r in rows for f in np.flatnonzero(r.flags())]
    assert float(rows[row].severity()[frame]) == pytest.approx(max(severity))
    assert review.worst(rows[row]).index == frame

    ids = review.drifted_unreviewed(rows)
    assert len(ids) == 20
    golden = _row(demo_project, "Golden hour")
    drift.set_review(demo_project, [f.id for f in golden.frames], "approved")
    drift.set_review(demo_project, [golden.frames[0].id], None, "a note is not a review")
    rows = drift.drift_rows(demo_project)
    left = review.drifted_unreviewed(rows)
    assert len(left) == 12 and not set(left) & {f.id for f in golden.frames}
    changes = review.flag_drifted(demo_project)
    assert (
        set(changes) == set(left)
        and review.drifted_unreviewed(drift.drift_rows(demo_project)) == []
    )
    # The slider's thresholds, per row, instead of the saved ones: nothing past them, no worst.
    from dataclasses import replace

    loose = [replace(r.thresholds, enabled=()) for r in rows]
    assert review.most_drifted(rows, loose) is None
