"""The workspaces follow each other through change records, reading only what a record names."""

from __future__ import annotations

import pytest

from studio.core.changes import Changes
from studio.services import drift, timeline
from studio.ui import drift_workspace as drift_module
from tests.ui.conftest import open_demo_window


@pytest.fixture
def window(qtbot, tmp_path, demo_path, errors):
    w = open_demo_window(qtbot, tmp_path, demo_path, "drift")
    yield w
    w.close_project()


def _shot(ws, name: str):
    return next(r.shot for r in ws.rows if r.shot.name == name)


def test_a_record_reads_only_its_shot_and_keeps_the_inspected_frame(window, monkeypatch):
    ws = window.drift_workspace
    golden = _shot(ws, "Golden hour")
    before = list(ws.rows)
    inspected = ws.rows[ws._current[0]].frames[ws._current[1]].id
    asked = []
    real = drift.drift_rows

    def drift_rows(project, shot_keys=None):
        asked.append(shot_keys)
        return real(project, shot_keys)

    monkeypatch.setattr(drift_module.drift, "drift_rows", drift_rows)
    ws.apply_changes(Changes.of(shots=[golden.id]))
    ws.apply_changes(Changes.of(frames=["a frame of no shot shown"]))
    ws.apply_pending()
    assert asked == [[golden.id]]  # two records, one read, of that shot alone
    for old, new in zip(before, ws.rows, strict=True):
        assert (new is old) == (old.shot.id != golden.id)
    assert ws.rows[ws._current[0]].frames[ws._current[1]].id == inspected


def test_a_persona_record_reads_her_shots(window, monkeypatch):
    ws = window.drift_workspace
    asked = []
    real = drift.drift_rows
    monkeypatch.setattr(
        drift_module.drift,
        "drift_rows",
        lambda project, keys=None: asked.append(keys) or real(project, keys),
    )
    pid = ws.rows[0].persona_id
    ws.apply_changes(Changes.of(personas=[pid]))
    ws.apply_pending()
    assert asked == [[r.shot.id for r in ws.rows if r.persona_id == pid]]


def test_deleting_a_shot_on_the_timeline_takes_it_off_the_heat_map_and_undo_brings_it(
    qtbot, window
):
    drift_ws = window.drift_workspace
    tl = window.timeline_workspace
    window.show_workspace("timeline")
    cut = next(r for r in tl.lanes.rows() if r.name == "Cutaways")
    tl.lanes.select([cut.id])
    tl.delete_selection()

    def names() -> list[str]:
        return [r.shot.name for r in drift_ws.rows]

    qtbot.waitUntil(lambda: "Cutaways" not in names(), timeout=5000)
    assert drift_ws.heatmap.rows()[-1].name != "Cutaways"
    window.undo_group.undo()
    qtbot.waitUntil(lambda: names()[-1] == "Cutaways", timeout=5000)


def test_a_threshold_saved_in_drift_moves_the_timeline_marks(qtbot, window):
    drift_ws = window.drift_workspace
    tl = window.timeline_workspace

    def flagged_on_the_timeline() -> int:
        lane = next(r for r in tl.lanes.rows() if r.name == "Set visit")
        return lane.count(timeline.FLAGGED)

    def flagged_in_drift() -> int:
        return next(
            int(f.sum())
            for r, f in zip(drift_ws.rows, drift_ws._flags(), strict=True)
            if r.shot.name == "Set visit"
        )

    assert flagged_on_the_timeline() == flagged_in_drift() == 5
    drift_ws.slider.setSliderDown(True)
    drift_ws.slider.setValue(drift_ws.slider.value() - 14)  # 0.93 -> 0.79: the stranger passes
    drift_ws.slider.setSliderDown(False)
    drift_ws.slider.sliderReleased.emit()
    assert flagged_in_drift() == 4  # her identity passes now; another check still flags one
    qtbot.waitUntil(lambda: flagged_on_the_timeline() == 4, timeout=5000)
    window.undo_group.undo()
    qtbot.waitUntil(lambda: flagged_on_the_timeline() == 5, timeout=5000)


def test_a_shot_moved_on_the_timeline_moves_on_the_heat_map_reading_only_it(
    qtbot, window, monkeypatch
):
    drift_ws = window.drift_workspace
    tl = window.timeline_workspace
    asked = []
    real = drift.drift_rows
    monkeypatch.setattr(
        drift_module.drift,
        "drift_rows",
        lambda project, keys=None: asked.append(keys) or real(project, keys),
    )
    cut = next(r for r in tl.lanes.rows() if r.name == "Cutaways")
    tl.move_shot(cut.id, 0)
    qtbot.waitUntil(lambda: drift_ws.rows[0].shot.name == "Cutaways", timeout=5000)
    assert asked == [[cut.id]]
    assert [r.name for r in drift_ws.heatmap.rows()][:2] == ["Cutaways", "Hangar walk"]
