"""The frame inspector and the two-random-frames check, on the demo project's analysed shots."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from studio.core import drift as core
from studio.services import drift, library, personas
from studio.ui.frame_inspector import (
    CENTROID,
    FAIL,
    IDENTITY,
    NO_REFERENCE_TEXT,
    NOT_CHECKED,
    NOT_COMPARED_TEXT,
    PASS,
    PLACEHOLDER_TEXT,
    FrameInspector,
)
from studio.ui.frame_pair import TwoRandomFrames
from studio.ui.themes import apply_theme

STRANGER = ("Set visit", 5)  # the camera operator instead of Nova Hale
COSTUME = ("Costume test", 5)  # Nova Hale in a green suit
BLANK = ("Cutaways", 0)  # no face at all
ON_MODEL = ("Hangar walk", 3)


def _row(project, shot: str) -> drift.DriftRow:
    return next(r for r in drift.drift_rows(project) if r.shot.name == shot)


def _inspect(project, where: tuple[str, int]) -> drift.FrameInspection:
    shot, index = where
    return drift.inspect_frame(project, _row(project, shot), index)


@pytest.fixture
def inspector(qtbot, errors):
    widget = FrameInspector()
    qtbot.addWidget(widget)
    widget.resize(520, 720)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _rows(inspector: FrameInspector) -> dict[str, tuple[str, str]]:
    return {name: (value, verdict) for name, value, verdict in inspector.score_rows()}


def _grab(widget) -> QImage:
    QApplication.processEvents()
    return widget.grab().toImage()


def _distinct_colours(image: QImage, step: int = 7) -> int:
    return len(
        {
            image.pixel(x, y)
            for x in range(0, image.width(), step)
            for y in range(0, image.height(), step)
        }
    )


def _picture_of(widget, child) -> QImage:
    """The part of the widget's rendering where `child` draws its picture."""
    image = _grab(widget)  # lays the widget out first
    return image.copy(child.picture_rect().translated(child.mapTo(widget, QPoint(0, 0))))


# -- the inspector ----------------------------------------------------------------------------


def test_placeholder_until_a_frame_is_inspected(inspector, demo_project):
    assert inspector.inspection() is None
    assert inspector.placeholder.isVisible()
    assert inspector.placeholder.text() == PLACEHOLDER_TEXT
    assert inspector.state_text() == "" and inspector.score_rows() == []

    inspector.show_inspection(demo_project, _inspect(demo_project, ON_MODEL))
    assert not inspector.placeholder.isVisible()
    inspector.show_inspection(demo_project, None)
    assert inspector.placeholder.isVisible()
    assert inspector.state_text() == "" and inspector.face_crops() == (None, None)


def test_stranger_frame_says_it_does_not_match_nova(inspector, demo_project):
    inspection = _inspect(demo_project, STRANGER)
    inspector.show_inspection(demo_project, inspection)

    assert inspector.state_text() == "flagged"
    assert inspector.badge.text() == "flagged"
    assert inspector.title.text() == "Set visit · frame 6 · 00:00:00:05"
    assert "Nova Hale" in inspector.persona_label.text()
    why = inspector.why_text()
    threshold = inspection.thresholds.identity
    score = inspection.verdict.score.identity
    assert f"The face does not match Nova Hale ({score:.3f} < {threshold:.3f})" in why
    assert inspector.why_label.text() == why

    rows = _rows(inspector)
    assert rows[IDENTITY][1] == FAIL
    assert rows[IDENTITY][0].startswith(f"{score:.3f}") and f"{threshold:.3f}" in rows[IDENTITY][0]
    assert rows[CENTROID][0] != "—"
    assert rows["Faces found"] == ("1", "")
    assert rows["Wardrobe"][1] == PASS

    frame_face, reference_face = inspector.face_crops()
    assert frame_face is not None and reference_face is not None
    assert frame_face.width() == frame_face.height() > inspection.face.size_px  # padded, square
    assert inspector.reference_picture.caption() == f"Best match · {inspection.reference.file_name}"


def test_costume_frame_fails_on_wardrobe_alone(inspector, demo_project):
    inspector.show_inspection(demo_project, _inspect(demo_project, COSTUME))

    rows = _rows(inspector)
    assert inspector.state_text() == "flagged"
    assert rows["Wardrobe"][1] == FAIL
    limit = drift.thresholds(demo_project, "Nova Hale").wardrobe
    assert f"needs ≤ {limit:.1f}" in rows["Wardrobe"][0]
    assert rows[IDENTITY][1] == PASS and rows["Lighting"][1] == PASS
    assert inspector.why_text().startswith("The clothes are not the outfit's")
    why = inspector.why_text()
    assert "% of them are #" in why and "(closest reference: nova-" in why


def test_blank_cutaway_is_not_measurable_and_has_no_face_crop(inspector, demo_project):
    inspector.show_inspection(demo_project, _inspect(demo_project, BLANK))

    assert inspector.state_text() == "not measurable"
    assert inspector.why_text() == "Not measurable: no face found"
    assert inspector.face_crops() == (None, None)
    assert inspector.frame_crop.image() is None and inspector.frame_crop.message() == "no face"
    assert inspector.reference_picture.caption() == NO_REFERENCE_TEXT
    rows = _rows(inspector)
    for name in (IDENTITY, CENTROID, "Wardrobe", "Lighting"):
        assert rows[name][0] == "—", name
    assert rows["Faces found"] == ("0", "")
    # The frame itself is still shown: the artist sees there is nobody in it.
    assert inspector.frame_picture.image() is not None
    assert "no face found" in inspector.frame_picture.caption()


def test_frame_not_analysed_yet(inspector, demo_project):
    inspection = _inspect(demo_project, ON_MODEL)
    verdict = replace(inspection.verdict, score=None, flagged=False, reasons=())
    inspection = replace(inspection, verdict=verdict, faces=(), reference=None)
    inspector.show_inspection(demo_project, inspection)

    assert inspector.state_text() == "not analysed"
    assert inspector.why_text().startswith("Not analysed yet: run the drift analysis")
    assert inspector.face_crops() == (None, None)
    assert inspector.reference_picture.caption() == NOT_COMPARED_TEXT
    assert inspector.frame_picture.caption() == "This frame · not analysed yet"
    assert {value for name, value, _ in inspector.score_rows() if name != "Review"} == {"—"}


def test_switched_off_dimension_reads_not_checked(inspector, demo_project):
    drift.set_thresholds(demo_project, "Nova Hale", enabled=["identity", "lighting"])
    inspector.show_inspection(demo_project, _inspect(demo_project, COSTUME))

    value, verdict = _rows(inspector)["Wardrobe"]
    assert verdict == NOT_CHECKED and float(value) > 11 and "needs" not in value
    assert inspector.state_text() == "ok"
    assert inspector.why_text().startswith("On-model: the face matches Nova Hale")


def test_review_and_other_cast_members_are_listed(inspector, demo_project):
    inspection = _inspect(demo_project, STRANGER)
    drift.set_review(demo_project, [inspection.verdict.frame.id], "reshoot", "wrong actor")
    inspection = _inspect(demo_project, STRANGER)
    score = replace(inspection.verdict.score, cast_scores={"Nova Hale": 0.84, "Ada Stone": 0.412})
    inspection = replace(inspection, verdict=replace(inspection.verdict, score=score))
    inspector.show_inspection(demo_project, inspection)

    rows = _rows(inspector)
    assert rows["Review"] == ("flagged for a reshoot: wrong actor", "")
    assert rows["Looks like Ada Stone"] == ("0.412", "")
    assert "Looks like Nova Hale" not in rows


def test_pictures_are_painted_with_the_scored_face_box(inspector, demo_project):
    inspection = _inspect(demo_project, STRANGER)
    inspector.show_inspection(demo_project, inspection)

    picture = _picture_of(inspector, inspector.frame_picture)
    assert picture.width() > 200 and _distinct_colours(picture) > 50
    reference = _picture_of(inspector, inspector.reference_picture)
    assert _distinct_colours(reference) > 50
    crop = _picture_of(inspector, inspector.frame_crop)
    assert crop.width() == crop.height() == 160 and _distinct_colours(crop) > 50

    # The flagged face's box is drawn in red where the face is.
    scale = inspector.frame_picture.picture_rect().width() / inspection.verdict.frame.width
    x0, y0, x1, y1 = inspection.face.box
    edge = picture.pixelColor(round(x0 * scale), round((y0 + y1) / 2 * scale))
    assert edge.red() > 180 and edge.green() < 90 and edge.blue() < 90


def test_other_faces_get_a_thin_grey_box(inspector, demo_project):
    inspection = _inspect(demo_project, ON_MODEL)
    extra = replace(inspection.faces[0], box=(20.0, 300.0, 120.0, 400.0), size_px=100.0)
    inspection = replace(inspection, faces=(*inspection.faces, extra))
    inspector.show_inspection(demo_project, inspection)

    picture = _picture_of(inspector, inspector.frame_picture)
    scale = inspector.frame_picture.picture_rect().width() / inspection.verdict.frame.width
    grey = picture.pixelColor(round(120 * scale), round(350 * scale))
    assert abs(grey.red() - grey.green()) < 25 and abs(grey.green() - grey.blue()) < 25
    x0, y0, _, y1 = inspection.face.box
    green = picture.pixelColor(round(x0 * scale), round((y0 + y1) / 2 * scale))
    assert green.green() > 150 and green.red() < 120
    assert _rows(inspector)["Faces found"] == ("2", "")


def test_resizing_rescales_without_reading_the_pictures_again(
    qtbot, inspector, demo_project, monkeypatch
):
    reads = []
    real = library.read_blob
    monkeypatch.setattr(library, "read_blob", lambda p, sha: reads.append(sha) or real(p, sha))
    inspector.show_inspection(demo_project, _inspect(demo_project, STRANGER))
    assert len(reads) == 2  # the frame and the reference
    _grab(inspector)
    small = inspector.frame_picture.picture_rect().size()

    inspector.resize(900, 600)
    wide = _picture_of(inspector, inspector.frame_picture)
    assert wide.width() > small.width() + 50
    assert _distinct_colours(wide) > 50
    inspector.resize(520, 720)
    qtbot.waitUntil(lambda: inspector.frame_picture.picture_rect().size() == small, timeout=2000)
    _grab(inspector)
    assert len(reads) == 2


def test_dark_theme_paints_on_the_dark_palette(qtbot, inspector, demo_project):
    app = QApplication.instance()
    try:
        apply_theme(app, "dark")
        inspector.show_inspection(demo_project, _inspect(demo_project, BLANK))
        image = _grab(inspector)
        empty = inspector.reference_picture.picture_rect()
        at = inspector.reference_picture.mapTo(inspector, empty.center())
        assert QColor(image.pixel(at.x(), at.y() - 20)).lightness() < 80
        assert QColor(image.pixel(5, image.height() - 5)).lightness() < 80
    finally:
        apply_theme(app, "light")


# -- two random frames ------------------------------------------------------------------------


@pytest.fixture
def pair_dialog(qtbot, demo_project, errors):
    dialog = TwoRandomFrames(demo_project, ["Nova Hale"])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _measured_ids(project) -> set[str]:
    return {
        row.frames[i].id
        for row in drift.drift_rows(project)
        for i, s in enumerate(row.scores)
        if s is not None and s.state == core.MEASURED
    }


def test_pair_shows_two_different_measured_frames_and_redraws(qtbot, pair_dialog, demo_project):
    assert not pair_dialog.isModal()
    assert not pair_dialog.persona_row.isVisible()  # one persona: nothing to choose
    shown = []
    pair_dialog.pair_shown.connect(lambda a, b: shown.append((a, b)))

    assert pair_dialog.shuffle(seed=1)
    first = pair_dialog.shown_frame_ids()
    assert first[0] != first[1] and set(first) <= _measured_ids(demo_project)
    assert shown == [first]

    qtbot.mouseClick(pair_dialog.another_button, Qt.MouseButton.LeftButton)
    second = pair_dialog.shown_frame_ids()
    assert set(second) != set(first) and second[0] != second[1]

    qtbot.keyClick(pair_dialog, Qt.Key.Key_R)
    third = pair_dialog.shown_frame_ids()
    assert set(third) != set(second)
    qtbot.keyClick(pair_dialog, Qt.Key.Key_Space)
    assert set(pair_dialog.shown_frame_ids()) != set(third)
    assert len(shown) == 4


def test_seeded_pairs_repeat(qtbot, demo_project, errors):
    dialogs = [TwoRandomFrames(demo_project, ["Nova Hale"]) for _ in range(2)]
    for d in dialogs:
        qtbot.addWidget(d)
        d.shuffle(seed=7)
    assert dialogs[0].shown_frame_ids() == dialogs[1].shown_frame_ids()


def test_pair_captions_and_pictures(pair_dialog, demo_project):
    pair_dialog.shuffle(seed=3)
    where = {
        row.frames[i].id: (row.shot.name, i + 1)
        for row in drift.drift_rows(demo_project)
        for i in range(len(row.frames))
    }
    for side, frame_id in zip(pair_dialog.sides, pair_dialog.shown_frame_ids(), strict=True):
        shot, number = where[frame_id]
        pattern = rf"<b>{shot}</b> · frame {number} · \d\d:\d\d:\d\d:\d\d<br>identity [01]\.\d{{3}}"
        assert re.search(pattern, side.caption.text()), side.caption.text()
        face = _picture_of(pair_dialog, side.face)
        assert face.width() == face.height() == 300 and _distinct_colours(face) > 50
        frame = _picture_of(pair_dialog, side.frame)
        assert frame.height() == 190 and _distinct_colours(frame) > 50


def test_pair_without_measured_frames_says_what_to_do(qtbot, project, errors):
    dialog = TwoRandomFrames(project, ["Ada"])
    qtbot.addWidget(dialog)
    dialog.show()

    assert dialog.shown_frame_ids() is None
    assert not dialog.shuffle(seed=1)
    text = dialog.message.text()
    assert "Fewer than two frames of Ada" in text and "run the drift analysis" in text
    assert "Import footage" in text
    assert dialog.message.isVisible() and not dialog.another_button.isEnabled()
    assert errors == []


def test_pair_persona_choice(qtbot, demo_project, errors):
    personas.add_persona(demo_project, "Ada")
    dialog = TwoRandomFrames(demo_project, ["Nova Hale", "Ada"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.persona_row.isVisible() and dialog.persona() == "Nova Hale"
    assert dialog.shown_frame_ids() is not None

    dialog.persona_combo.setCurrentIndex(1)
    assert dialog.shown_frame_ids() is None and "Ada" in dialog.message.text()
    dialog.set_persona("Nova Hale")
    assert dialog.shown_frame_ids() is not None and dialog.another_button.isEnabled()
    assert errors == []
