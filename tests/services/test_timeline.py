"""The timeline's rows and edits: order, copies, deletes that come back whole."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studio.core.errors import StudioError
from studio.core.render import RenderSettings
from studio.core.shots import ImportedFrame
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.services import renders, timeline


def _png(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, shade, shade)).save(buf, "PNG")
    return buf.getvalue()


def _render_shot(project, name: str, frames: int = 3, rendered: int = 0):
    shot = renders.add_render_shot(
        project, name, ["Ada"], RenderSettings(action="waving", frames=frames)
    )
    for i in range(rendered):
        render_rows.store_take(project, shot.id, i, _png(i * 40), {"seed": i, "width": 8})
    return shot


def _footage_shot(project, name: str, frames: int = 2):
    data = [ImportedFrame(i, i * 2, i / 6, _png(200 - i), "image/png", 8, 8) for i in range(frames)]
    return shot_rows.add_shot(project, name, [], data, source_kind="video", fps=12.0, every=2)


def _names(project) -> list[str]:
    return [r.name for r in timeline.timeline_rows(project)]


def test_rows_list_shots_in_order_with_kind_counts_and_frames(project):
    _render_shot(project, "Intro", frames=4, rendered=2)
    _footage_shot(project, "Street", frames=3)
    intro, street = timeline.timeline_rows(project)
    assert (intro.kind, intro.planned, intro.rendered) == ("render", 4, 2)
    assert intro.persona_names == ("Ada",)
    assert intro.duration_s == pytest.approx(4 / timeline.DEFAULT_FPS)
    assert [f.index for f in intro.frames] == [0, 1]
    assert all(f.blob_sha and f.verdict == timeline.NOT_ANALYSED for f in intro.frames)
    assert (street.kind, street.planned, street.rendered) == ("footage", 3, 3)
    assert street.fps == pytest.approx(6.0)  # every second frame of 12 fps footage
    assert street.duration_s == pytest.approx(0.5)


def test_move_shot_reorders_and_returns_the_old_place(project):
    for name in ("A", "B", "C"):
        _render_shot(project, name)
    assert timeline.move_shot(project, "C", 0) == 2
    assert _names(project) == ["C", "A", "B"]
    assert timeline.move_shot(project, "C", 2) == 0
    assert _names(project) == ["A", "B", "C"]


def test_duplicate_copies_settings_with_a_new_seed_offset_and_no_takes(project):
    a = _render_shot(project, "A", frames=5, rendered=2)
    _render_shot(project, "B")
    copy = timeline.duplicate_shot(project, "A")
    assert _names(project) == ["A", "A copy", "B"]
    old, new = renders.render_settings(project, a.id), renders.render_settings(project, copy.id)
    assert new.with_changes(seed_offset=0) == old.with_changes(seed_offset=0)
    offsets = [renders.render_settings(project, k).seed_offset for k in ("A", "B")]
    assert new.seed_offset not in offsets and new.seed_offset > max(offsets)
    assert copy.persona_ids == a.persona_ids
    assert shot_rows.frames_of(project, copy.id) == []
    assert render_rows.find_takes(project, shot_id=copy.id) == []


def test_duplicate_refuses_footage(project):
    _footage_shot(project, "Street")
    with pytest.raises(StudioError, match="footage"):
        timeline.duplicate_shot(project, "Street")


def test_delete_and_restore_bring_back_frames_takes_reviews_and_place(project):
    _render_shot(project, "A")
    b = _render_shot(project, "B", frames=3, rendered=2)
    _render_shot(project, "C")
    frame = shot_rows.frames_of(project, b.id)[0]
    render_rows.store_take(project, b.id, 0, _png(99), {"seed": 7}, choose=False)
    shot_rows.put_reviews(project, {frame.id: ("reshoot", "eyes")})
    takes = render_rows.find_takes(project, shot_id=b.id)
    before = timeline.timeline_rows(project, [b.id])[0]

    deleted = timeline.delete_shot(project, "B")
    assert (deleted.position, deleted.frames, deleted.takes) == (1, 2, 3)
    assert _names(project) == ["A", "C"]
    assert render_rows.find_takes(project, shot_id=b.id) == []
    timeline.move_shot(project, "C", 0)

    timeline.restore_shot(project, deleted)
    assert _names(project) == ["C", "B", "A"]
    assert timeline.timeline_rows(project, [b.id])[0] == before
    assert render_rows.find_takes(project, shot_id=b.id) == takes
    assert shot_rows.reviews(project)[frame.id].state == "reshoot"
    assert renders.render_settings(project, b.id).frames == 3
