"""The drift heat map driven through its surface: mouse, keys, wheel, and the pixels it paints."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QHelpEvent, QMouseEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication, QToolTip

from studio.core import colormap
from studio.ui.drift_heatmap import (
    CELL_H,
    CELL_TOP,
    EMPTY_TEXT,
    FLAG_TOP,
    REVIEW_TOP,
    ROW_H,
    DriftHeatmap,
    HeatRow,
    LayerScale,
)

SCALES = {
    "identity": LayerScale("identity", "Identity (similarity to references)", 0.0, 1.0, True, 0.7),
    "wardrobe": LayerScale("wardrobe", "Wardrobe (distance)", 0.0, 1.0, False, 0.35),
}
LUT = [QColor(*c).rgb() for c in colormap.LUT]


def _colour(goodness: float) -> int:
    return LUT[round(goodness * 255)]


def _rows() -> list[HeatRow]:
    # Shot A: 10 frames at 24 fps; frame 3 drifted, frames 6-7 not measurable.
    a_id = np.full(10, 0.9, np.float32)
    a_id[3] = 0.5
    a_id[6:8] = np.nan
    a_wd = np.full(10, 0.1, np.float32)
    a_wd[3] = 0.2
    a_wd[6:8] = np.nan
    a_flag = np.zeros(10, bool)
    a_flag[3] = True
    a_review = np.zeros(10, np.int8)
    a_review[8] = 1
    a_review[9] = 2
    layers = {"identity": a_id, "wardrobe": a_wd}
    a = HeatRow("a", "Shot A", 24.0, np.arange(10) / 24.0, layers, a_flag, a_review, None)
    # Shot B: 40 frames, nothing known about time.
    b_id = np.full(40, 0.8, np.float32)
    b = HeatRow(
        "b", "Shot B", None, None, {"identity": b_id}, np.zeros(40, bool), np.zeros(40, np.int8)
    )
    # Shot C: 100 frames; with 4 frames a column, column 5 (frames 20-23) has its worst at 22
    # and a flag at 21; column 10 (40-43) is all not measurable, column 11 (44-47) only partly.
    c_id = np.full(100, 0.9, np.float32)
    c_id[22] = 0.1
    c_id[20] = 0.3
    c_id[40:47] = np.nan
    c_flag = np.zeros(100, bool)
    c_flag[21] = True
    notes = np.zeros(100, bool)
    notes[90] = True
    c_review = np.zeros(100, np.int8)
    c = HeatRow(
        "c", "Shot C", 25.0, np.arange(100) / 25.0, {"identity": c_id}, c_flag, c_review, notes
    )
    return [a, b, c]


@pytest.fixture
def heat(qtbot):
    w = DriftHeatmap()
    qtbot.addWidget(w)
    w.set_scales(SCALES)
    w.set_rows(_rows())
    w.resize(900, 240)
    w.set_zoom(10)
    w.hbar.setValue(0)
    w.show()
    qtbot.waitExposed(w)
    return w


def _content_point(w: DriftHeatmap, row: int, frame: int, dy: int | None = None) -> QPoint:
    """The middle of a frame's cell in render_matrix() coordinates (dy from the row's top)."""
    cw = max(1, int(w.zoom()))
    col = frame if w.zoom() >= 1 else int(frame * w.zoom())
    y = row * ROW_H + (CELL_TOP + CELL_H // 2 if dy is None else dy)
    return QPoint(col * cw + cw // 2, y)


def _cell_colours(image, w: DriftHeatmap, row: int, frame: int) -> set[int]:
    r = w.frame_rect(row, frame).translated(-w.matrix_rect().topLeft())
    r.translate(w.hbar.value(), w.vbar.value())
    xs, ys = range(r.left(), r.right() + 1), range(r.top(), r.bottom() + 1)
    return {image.pixel(x, y) for x in xs for y in ys}


def _is_red(rgb: int) -> bool:
    c = QColor.fromRgb(rgb)
    return c.red() > 180 and c.green() < 110 and c.blue() < 110


def _move(w, pos: QPoint, buttons=Qt.MouseButton.NoButton, mods=Qt.KeyboardModifier.NoModifier):
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(pos),
        QPointF(w.mapToGlobal(pos)),
        Qt.MouseButton.NoButton,
        buttons,
        mods,
    )
    QApplication.sendEvent(w, event)


def _wheel(w, pos: QPoint, dy: int, mods=Qt.KeyboardModifier.ControlModifier) -> None:
    event = QWheelEvent(
        QPointF(pos),
        QPointF(w.mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, dy),
        Qt.MouseButton.NoButton,
        mods,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(w, event)


def test_hover_reports_the_cell_and_the_tooltip_gives_timecode_and_scores(qtbot, heat):
    pos = heat.frame_rect(0, 3).center()
    assert heat.cell_at(pos) == (0, 3)
    with qtbot.waitSignal(heat.frame_hovered) as hovered:
        qtbot.mouseMove(heat, pos)
    assert hovered.args == [0, 3]

    QApplication.sendEvent(heat, QHelpEvent(QEvent.Type.ToolTip, pos, heat.mapToGlobal(pos)))
    tip = QToolTip.text()
    assert "Shot A" in tip and "frame 4" in tip and "00:00:00:03" in tip
    assert "Identity: 0.50" in tip and "Wardrobe: 0.20" in tip and "flagged" in tip
    nan_tip = heat.tooltip_text(0, 6)
    assert "Identity: not measurable" in nan_tip and "Wardrobe: not measurable" in nan_tip
    assert "reshoot" in heat.tooltip_text(0, 8) and "approved" in heat.tooltip_text(0, 9)
    assert "frame 5" in heat.tooltip_text(1, 4)  # no times, no fps: the frame number only

    heat.tooltip_provider = lambda row, frame: f"custom {row}/{frame}"
    QApplication.sendEvent(heat, QHelpEvent(QEvent.Type.ToolTip, pos, heat.mapToGlobal(pos)))
    assert QToolTip.text() == "custom 0/3"
    QToolTip.hideText()

    with qtbot.waitSignal(heat.frame_hovered) as left:
        qtbot.mouseMove(heat, QPoint(20, heat.frame_rect(0, 3).center().y()))  # the name column
    assert left.args == [-1, -1]

    # Hovering and scrolling repaint from the cache: the colours are never rebuilt for them.
    builds = heat.colour_builds
    for frame in range(0, 60, 3):
        qtbot.mouseMove(heat, heat.frame_rect(2, frame).center())
        heat.hbar.setValue(frame * 5)
        heat.repaint()
    assert heat.colour_builds == builds


def test_header_names_each_shots_worst_frame(heat):
    assert heat.worst_text(0) == "worst 0.50 at 00:00:00:03"
    assert heat.worst_text(1) == "worst 0.80 at frame 1"
    assert heat.worst_text(2) == "worst 0.10 at 00:00:00:22"
    heat.set_layer("wardrobe")  # lower is better: the worst is the highest distance
    assert heat.worst_text(0) == "worst 0.20 at 00:00:00:03"
    assert heat.worst_text(1) == "not measurable"  # shot B has no wardrobe values


def test_click_selects_and_shift_click_or_drag_selects_a_range(qtbot, heat):
    with qtbot.waitSignal(heat.frame_clicked) as clicked:
        with qtbot.waitSignal(heat.range_selected) as ranged:
            qtbot.mouseClick(heat, Qt.MouseButton.LeftButton, pos=heat.frame_rect(0, 2).center())
    assert clicked.args == [0, 2] and ranged.args == [0, 2, 2]
    assert heat.selection() == (0, 2, 2)
    outline = heat.grab().toImage()
    r = heat.frame_rect(0, 2)
    highlight = heat.palette().highlight().color().rgb()
    assert outline.pixel(r.left() - 2, r.center().y()) == highlight

    with qtbot.waitSignal(heat.range_selected) as ranged:
        qtbot.mouseClick(
            heat,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.ShiftModifier,
            heat.frame_rect(0, 5).center(),
        )
    assert ranged.args == [0, 2, 5] and heat.selection() == (0, 2, 5)

    # A drag from frame 30 back to frame 12 of shot B, wandering onto other rows on the way.
    qtbot.mousePress(heat, Qt.MouseButton.LeftButton, pos=heat.frame_rect(1, 30).center())
    _move(heat, heat.frame_rect(2, 20).center(), Qt.MouseButton.LeftButton)
    _move(heat, heat.frame_rect(0, 12).center() + QPoint(0, 0), Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(heat.range_selected) as ranged:
        qtbot.mouseRelease(heat, Qt.MouseButton.LeftButton, pos=heat.frame_rect(0, 12).center())
    assert ranged.args == [1, 12, 30] and heat.selection() == (1, 12, 30)


def test_layer_switch_and_higher_is_better_set_the_colours(heat):
    image = heat.render_matrix()
    assert image.pixel(_content_point(heat, 0, 3)) == _colour(0.5)
    assert image.pixel(_content_point(heat, 0, 0)) == _colour(0.9)
    heat.set_layer("wardrobe")
    assert heat.layer() == "wardrobe"
    image = heat.render_matrix()
    # Wardrobe is a distance: 0.2 is good (0.8 along the map), 0.1 better still.
    assert image.pixel(_content_point(heat, 0, 3)) == _colour(0.8)
    assert image.pixel(_content_point(heat, 0, 0)) == _colour(0.9)

    # The same value on a higher-is-better scale lands at the other end of the map.
    flipped = dict(SCALES, wardrobe=LayerScale("wardrobe", "W", 0.0, 1.0, True, None))
    heat.set_scales(flipped)
    image = heat.render_matrix()
    assert image.pixel(_content_point(heat, 0, 3)) == _colour(0.2)
    # Values beyond the range clamp to its ends.
    heat.set_scales(dict(SCALES, wardrobe=LayerScale("wardrobe", "W", 0.3, 0.6, True, None)))
    image = heat.render_matrix()
    assert image.pixel(_content_point(heat, 0, 3)) == LUT[0]
    with pytest.raises(ValueError, match="No scale"):
        heat.set_layer("lighting")


def test_not_measurable_cells_are_hatched(heat):
    image = heat.render_matrix()
    colours = _cell_colours(image, heat, 0, 6)
    assert len(colours) == 2  # background and hatch lines
    assert not colours & set(LUT)
    assert _cell_colours(image, heat, 0, 5) == {_colour(0.9)}


def test_compressed_columns_show_the_worst_of_their_bucket(qtbot, heat):
    heat.set_zoom(0.25)  # 4 frames a column
    image = heat.render_matrix()
    assert image.width() == 25  # the 100-frame shot in 25 columns
    assert image.pixel(5, 2 * ROW_H + CELL_TOP + 5) == _colour(0.1)  # worst of frames 20-23
    assert _is_red(image.pixel(5, 2 * ROW_H + FLAG_TOP + 1))  # frame 21 is flagged
    assert not _is_red(image.pixel(6, 2 * ROW_H + FLAG_TOP + 1))
    column = {image.pixel(10, 2 * ROW_H + CELL_TOP + dy) for dy in range(CELL_H)}
    assert len(column) == 2 and not column & set(LUT)  # frames 40-43: all not measurable
    partial = {image.pixel(11, 2 * ROW_H + CELL_TOP + dy) for dy in range(CELL_H)}
    assert partial == {_colour(0.9)}  # 44-47: one measurable frame is enough

    pos = heat.frame_rect(2, 20).center()
    assert heat.frame_rect(2, 20) == heat.frame_rect(2, 23)
    assert heat.cell_at(pos) == (2, 22)
    with qtbot.waitSignal(heat.frame_clicked) as clicked:
        qtbot.mouseClick(heat, Qt.MouseButton.LeftButton, pos=pos)
    assert clicked.args == [2, 22]
    assert "worst of 21–24" in heat.tooltip_text(2, 22)

    heat.set_zoom(1 / 3)  # uneven buckets: columns hold frames 0-2, 3-5, 6-8, 9
    assert heat.render_matrix().width() == 34
    assert heat.cell_at(heat.frame_rect(0, 3).center()) == (0, 3)


def test_update_flags_moves_the_marks_without_rebuilding_colours(heat):
    before = heat.render_matrix()
    builds = heat.colour_builds
    assert _is_red(before.pixel(_content_point(heat, 0, 3, FLAG_TOP + 1)))
    assert not _is_red(before.pixel(_content_point(heat, 0, 1, FLAG_TOP + 1)))
    flags = [np.zeros(len(r.flagged), bool) for r in heat.rows()]
    flags[0][1] = True
    heat.update_flags(flags)
    after = heat.render_matrix()
    assert heat.colour_builds == builds
    assert _is_red(after.pixel(_content_point(heat, 0, 1, FLAG_TOP + 1)))
    assert not _is_red(after.pixel(_content_point(heat, 0, 3, FLAG_TOP + 1)))
    assert after.pixel(_content_point(heat, 0, 3)) == before.pixel(_content_point(heat, 0, 3))
    with pytest.raises(ValueError):
        heat.update_flags(flags[:2])

    reviews = [np.zeros(len(r.flagged), np.int8) for r in heat.rows()]
    reviews[1][4], reviews[1][5] = 1, 2
    heat.update_reviews(reviews)
    image = heat.render_matrix()
    reshoot = image.pixel(_content_point(heat, 1, 4, REVIEW_TOP + 1))
    approved = image.pixel(_content_point(heat, 1, 5, REVIEW_TOP + 1))
    background = heat.palette().base().color().rgb()
    assert len({reshoot, approved, background}) == 3
    assert image.pixel(_content_point(heat, 0, 8, REVIEW_TOP + 1)) == background  # cleared
    assert QColor("white").rgb() in _cell_colours(image, heat, 2, 90)  # a note's dot
    assert QColor("white").rgb() not in _cell_colours(image, heat, 2, 89)
    assert heat.colour_builds == builds


def test_zoom_in_out_fit_and_ctrl_wheel(qtbot, heat):
    vp = heat.matrix_rect()
    assert heat.hbar.isVisible() and heat.hbar.maximum() == 100 * 10 - vp.width()
    with qtbot.waitSignal(heat.zoom_changed) as zoomed:
        heat.zoom_in()
    assert zoomed.args == [20.0] and heat.zoom() == 20.0
    assert heat.hbar.maximum() == 100 * 20 - heat.matrix_rect().width()
    heat.zoom_out()
    heat.zoom_out()
    assert heat.zoom() == 5.0

    heat.fit_width()
    assert heat.zoom() == int(heat.matrix_rect().width() / 100)
    assert not heat.hbar.isVisible()
    heat.resize(300, 240)  # fit follows the width: now the 100 frames are compressed
    assert heat.zoom() < 1 and heat.render_matrix().width() <= heat.matrix_rect().width()
    heat.resize(900, 240)

    heat.set_zoom(8)
    heat.hbar.setValue(100)
    pos = heat.frame_rect(2, 40).center()
    frame = heat.cell_at(pos)[1]
    with qtbot.waitSignal(heat.zoom_changed) as zoomed:
        _wheel(heat, pos, 120)
    assert zoomed.args == [16.0]
    assert heat.cell_at(pos) == (2, frame)  # the frame under the mouse stays put
    _wheel(heat, pos, -120)
    assert heat.zoom() == 8.0 and heat.cell_at(pos) == (2, frame) and heat.hbar.value() == 100
    _wheel(heat, pos, -120)
    assert heat.zoom() == 4.0  # the whole shot fits now: nothing to scroll
    _wheel(heat, pos, -120, Qt.KeyboardModifier.NoModifier)  # a plain wheel scrolls
    assert heat.zoom() == 4.0
    for _ in range(7):  # a touchpad's small steps add up to one notch before zooming
        _wheel(heat, pos, 15)
    assert heat.zoom() == 4.0
    _wheel(heat, pos, 15)
    assert heat.zoom() == 8.0
    with pytest.raises(ValueError):
        heat.set_zoom(0)


def test_keyboard_moves_the_selected_frame(qtbot, heat):
    qtbot.mouseClick(heat, Qt.MouseButton.LeftButton, pos=heat.frame_rect(0, 3).center())
    with qtbot.waitSignal(heat.frame_clicked) as clicked:
        qtbot.keyClick(heat, Qt.Key.Key_Right)
    assert clicked.args == [0, 4] and heat.selection() == (0, 4, 4)
    qtbot.keyClick(heat, Qt.Key.Key_Down)
    assert heat.selection() == (1, 4, 4)
    qtbot.keyClick(heat, Qt.Key.Key_End)
    assert heat.selection() == (1, 39, 39)
    qtbot.keyClick(heat, Qt.Key.Key_Up)  # shot A has 10 frames: the frame is clamped
    assert heat.selection() == (0, 9, 9)
    qtbot.keyClick(heat, Qt.Key.Key_Home)
    assert heat.selection() == (0, 0, 0)
    qtbot.keyClick(heat, Qt.Key.Key_Left)
    assert heat.selection() == (0, 0, 0)
    with qtbot.waitSignal(heat.range_selected) as ranged:
        qtbot.keyClick(heat, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert ranged.args == [0, 0, 1]

    heat.select(2, 0)
    qtbot.keyClick(heat, Qt.Key.Key_End)  # scrolls so the last frame of shot C is in view
    assert heat.selection() == (2, 99, 99)
    assert heat.matrix_rect().contains(heat.frame_rect(2, 99))
    with pytest.raises(ValueError):
        heat.select(1, 40)


def test_bad_rows_are_refused_with_a_clear_error(heat):
    bad = _rows()[0]
    bad.review = np.zeros(3, np.int8)
    with pytest.raises(ValueError, match="Shot 'Shot A': review has 3 frames"):
        heat.set_rows([bad])


def test_a_shot_without_frames_is_listed_and_skipped(qtbot, heat):
    empty = HeatRow("e", "Shot E", 24.0, None, {}, np.zeros(0, bool), np.zeros(0, np.int8))
    rows = _rows()
    heat.set_rows([rows[0], empty, rows[1]])
    assert heat.worst_text(1) == "no frames"
    heat.select(0, 4)
    qtbot.keyClick(heat, Qt.Key.Key_Down)  # straight past the empty shot
    assert heat.selection() == (2, 4, 4)
    assert heat.cell_at(heat.frame_rect(1, 0).center()) is None
    heat.fit_width()
    heat.repaint()


def test_empty_state_and_palettes(qtbot):
    w = DriftHeatmap()
    qtbot.addWidget(w)
    w.resize(600, 200)
    w.show()
    qtbot.waitExposed(w)
    assert EMPTY_TEXT == "No shots yet — import footage"
    image = w.grab().toImage()
    window = w.palette().window().color().rgb()
    centre = {image.pixel(x, y) for x in range(150, 450) for y in range(90, 110)}
    assert window in centre and len(centre) > 2  # the message is drawn on the background
    assert w.cell_at(QPoint(300, 100)) is None and w.selection() is None
    qtbot.keyClick(w, Qt.Key.Key_Right)  # nothing to move to, nothing breaks
    w.fit_width()
    assert w.render_matrix().width() == 1

    for window_c, base_c in (("#26272b", "#1d1e21"), ("#f3f2ef", "#ffffff")):
        pal = QPalette(w.palette())
        pal.setColor(QPalette.ColorRole.Window, QColor(window_c))
        pal.setColor(QPalette.ColorRole.Base, QColor(base_c))
        w.setPalette(pal)
        w.set_scales(SCALES)
        w.set_rows(_rows())
        w.set_zoom(2)
        image = w.grab().toImage()
        vp = w.matrix_rect()
        assert image.pixel(5, vp.bottom() - 5) == QColor(window_c).rgb()  # name column
        assert image.pixel(vp.right() - 5, vp.bottom() - 5) == QColor(base_c).rgb()  # matrix
        w.set_rows([])


def test_missing_values_say_why_and_are_drawn_apart(qtbot):
    """Not analysed, stale and not checked are not "not measurable": each has its own look."""
    from studio.ui.drift_heatmap import (
        ABSENT_STALE,
        ABSENT_UNANALYSED,
        ABSENT_UNCHECKED,
        ABSENT_UNMEASURABLE,
    )

    values = np.full(8, np.nan, np.float32)
    values[0] = 0.9
    codes = np.array(
        [0, ABSENT_UNMEASURABLE, ABSENT_UNANALYSED, ABSENT_STALE, ABSENT_UNCHECKED] + [3] * 3,
        np.int8,
    )
    row = HeatRow(
        "m", "Missing", 24.0, None, {"identity": values, "wardrobe": values}, np.zeros(8, bool),
        np.zeros(8, np.int8), None, {"wardrobe": codes},
    )  # fmt: skip
    w = DriftHeatmap()
    qtbot.addWidget(w)
    w.set_scales(SCALES)
    w.set_rows([row])
    w.set_zoom(10)
    w.set_layer("wardrobe")
    words = [w.tooltip_text(0, f).splitlines()[-1] for f in range(5)]
    assert words[1].endswith("not measurable") and words[2].endswith("not analysed yet")
    assert "out of date" in words[3] and words[4].endswith("not checked")
    # Without codes a missing value is "not measurable", as before.
    assert w.tooltip_text(0, 2).splitlines()[-2].endswith("Identity: not measurable")
    image = w.render_matrix()
    looks = [frozenset(_cell_colours(image, w, 0, f)) for f in range(1, 5)]
    assert len(set(looks)) == 4  # four different pictures
    assert w.worst_text(0) == "worst 0.90 at 00:00:00:00"
    w.set_rows([HeatRow("s", "Stale", 24.0, None, {"wardrobe": values[1:4] * np.nan},
                        np.zeros(3, bool), np.zeros(3, np.int8), None,
                        {"wardrobe": np.array([3, 3, 2], np.int8)})])  # fmt: skip
    assert w.worst_text(0) == "out of date"


def test_the_ruler_numbers_frames_from_1_as_the_tooltip_does(heat):
    marks = heat.ruler_marks()
    assert marks[0] == (heat.frame_rect(0, 0).left(), 1)
    number = marks[1][1]
    assert marks[1][0] == heat.frame_rect(0, number - 1).left()
    assert f"frame {number}" in heat.tooltip_text(0, number - 1)
