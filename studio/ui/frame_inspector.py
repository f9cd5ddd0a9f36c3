"""The frame inspector: why one frame of a shot was flagged, shown with pictures and numbers.

The frame is shown beside the persona's best-matching reference, each with its face boxes, then
the two faces cropped side by side at the same size, then every score against its threshold.
Pictures are decoded once per inspection and only rescaled when the panel is resized.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.timecode import format_timecode
from studio.services import library
from studio.services.drift import FrameInspection, FrameVerdict, stale_text
from studio.ui.drift_heatmap import APPROVED_COLOUR, FLAG_COLOUR

PLACEHOLDER_TEXT = "Click a frame in the heatmap to inspect it"
NO_REFERENCE_TEXT = "no matching reference"
NOT_COMPARED_TEXT = "not compared yet"
CROP_PX = 160  # the face crops: big enough to compare two faces by eye
FACE_PAD = 0.25  # a face crop shows this much of the box's size around it on every side
WIDE_PX = 760  # from this width the crops and the scores sit side by side

STATE_COLOURS = {
    "ok": APPROVED_COLOUR,
    "flagged": FLAG_COLOUR,
    "not measurable": QColor("#d08700"),
    "not analysed": QColor("#7a7b82"),
    "stale": QColor("#6f7fa8"),
}
OK_BOX = QColor("#40c057")  # brighter than the badge green: it sits on photographs
PASS_COLOUR = QColor("#37a34a")  # readable on the light and the dark theme
OTHER_BOX = QColor("#c8c9cf")
PASS, FAIL, NOT_CHECKED, UNKNOWN, STALE = "✓", "✗", "not checked", "—", "stale"
WARDROBE, LIGHTING = "Wardrobe", "Lighting"
REVIEW_WORDS = {"reshoot": "flagged for a reshoot", "approved": "approved"}
IDENTITY, CENTROID = "Identity (best match)", "Identity (centroid)"
DIMENSION_OF = {IDENTITY: "identity", WARDROBE: "wardrobe", LIGHTING: "lighting"}
SCORE_TIPS = {
    IDENTITY: "Similarity to the best of the references nearest in head pose (1 = the same face)",
    CENTROID: "Similarity to the average of all the persona's references",
    WARDROBE: "How far the colours of the clothes worn are from the closest reference of "
    "the outfit the shot expects (a weighted CIEDE2000 over the clothes' colours, seen under the "
    "reference's light; lower is closer)",
    LIGHTING: "How far the light on the face is from the closest reference's in head pose: the "
    "larger of the colour temperature's change and the key light's (lower is closer)",
}

Box = tuple[float, float, float, float]


# -- pictures ---------------------------------------------------------------------------------


def load_image(project, sha: str) -> tuple[QImage | None, str]:
    """Decode a stored picture; (None, why) when it is missing or unreadable."""
    try:
        data = library.read_blob(project, sha)
    except StudioError as exc:
        return None, exc.message
    image = QImage.fromData(data)
    if image.isNull():
        return None, "the picture could not be read"
    return image, ""


def face_crop(image: QImage | None, box: Box | None, pad: float = FACE_PAD) -> QImage | None:
    """The face's box padded by `pad` on every side and made square, kept inside the image."""
    if image is None or image.isNull() or box is None:
        return None
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * pad)
    side = min(side, image.width(), image.height())
    if side < 2:
        return None
    left = min(max((x0 + x1 - side) / 2, 0), image.width() - side)
    top = min(max((y0 + y1 - side) / 2, 0), image.height() - side)
    return image.copy(QRect(round(left), round(top), round(side), round(side)))


def frame_caption(verdict: FrameVerdict) -> str:
    """'Set visit · frame 6 · 00:00:00:05': where a frame sits, for people (frames from 1)."""
    frame = verdict.frame
    parts = [verdict.shot.name, f"frame {frame.index + 1}"]
    timecode = format_timecode(frame.time_s, verdict.shot.fps, frame.index)
    if not timecode.startswith("frame"):
        parts.append(timecode)
    return " · ".join(parts)


class FramePicture(QWidget):
    """A picture scaled to fit (aspect kept, smooth) with boxes drawn over it and an optional
    caption right under it; without a picture, a message in an empty square.

    The scaled pixmap is cached per size, so repaints cost a blit and a resize one rescale.
    """

    def __init__(self, parent: QWidget | None = None, minimum: QSize = QSize(120, 120)):
        super().__init__(parent)
        self._image: QImage | None = None
        self._boxes: list[tuple[Box, QColor, float]] = []
        self._text = ""
        self._caption = ""
        self._scaled: tuple[QSize, QPixmap] | None = None
        self.setMinimumSize(minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(
        self,
        image: QImage | None,
        boxes: Sequence[tuple[Box, QColor, float]] = (),
        text: str = "",
    ) -> None:
        """Show a picture (None: the message `text` in an empty square) with these boxes."""
        self._image = image if image is not None and not image.isNull() else None
        self._boxes = list(boxes)
        self._text = text
        self._scaled = None
        self.update()

    def set_caption(self, text: str) -> None:
        """One line drawn under the picture (elided when too long; the tooltip has it all)."""
        self._caption = text
        self.setToolTip(text)
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def message(self) -> str:
        return self._text

    def caption(self) -> str:
        return self._caption

    def _caption_h(self) -> int:
        return self.fontMetrics().height() + 4 if self._caption else 0

    def picture_rect(self) -> QRect:
        """Where the picture (or the empty square) is drawn, in widget coordinates; the picture
        and its caption sit together in the middle of the widget."""
        area = QSize(self.width(), max(1, self.height() - self._caption_h()))
        if self._image is None:
            side = min(area.width(), area.height())
            size = QSize(side, side)
        else:
            size = self._image.size().scaled(area, Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) // 2
        y = (self.height() - size.height() - self._caption_h()) // 2
        return QRect(x, y, size.width(), size.height())

    def _pixmap(self, size: QSize) -> QPixmap:
        if self._scaled is None or self._scaled[0] != size:
            ratio = self.devicePixelRatioF()
            scaled = self._image.scaled(
                size * ratio,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            pixmap = QPixmap.fromImage(scaled)
            pixmap.setDevicePixelRatio(ratio)
            self._scaled = (QSize(size), pixmap)
        return self._scaled[1]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        target = self.picture_rect()
        if self._image is None:
            painter.setBrush(pal.alternateBase())
            painter.setPen(QPen(pal.mid().color(), 1, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(QRectF(target).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
            painter.setPen(pal.placeholderText().color())
            painter.drawText(
                target.adjusted(8, 8, -8, -8),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._text,
            )
        else:
            painter.drawPixmap(target.topLeft(), self._pixmap(target.size()))
            self._paint_boxes(painter, target)
        if self._caption:
            painter.setPen(pal.placeholderText().color())
            line = QRect(0, target.bottom() + 5, self.width(), self.fontMetrics().height())
            text = self.fontMetrics().elidedText(
                self._caption, Qt.TextElideMode.ElideMiddle, self.width()
            )
            painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)

    def _paint_boxes(self, painter: QPainter, target: QRect) -> None:
        scale = target.width() / max(1, self._image.width())
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for (x0, y0, x1, y1), colour, width in self._boxes:
            rect = QRectF(
                target.x() + x0 * scale,
                target.y() + y0 * scale,
                (x1 - x0) * scale,
                (y1 - y0) * scale,
            )
            # A dark halo under the line keeps it visible on light and dark pictures alike.
            painter.setPen(QPen(QColor(0, 0, 0, 120), width + 2))
            painter.drawRect(rect)
            painter.setPen(QPen(colour, width))
            painter.drawRect(rect)


def _small(label: QLabel, factor: float = 0.9) -> QLabel:
    font = QFont(label.font())
    font.setPointSizeF(max(7.0, font.pointSizeF() * factor))
    label.setFont(font)
    return label


def _caption(text: str = "") -> QLabel:
    label = _small(QLabel(text))
    label.setObjectName("sectionHint")
    label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
    label.setWordWrap(True)
    return label


def _captioned(picture: QWidget, caption: QLabel) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    layout.addWidget(picture, 0, Qt.AlignmentFlag.AlignHCenter)
    layout.addWidget(caption)
    return box


# -- words ------------------------------------------------------------------------------------


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def explain(inspection: FrameInspection) -> list[str]:
    """Why the frame is in its state, in plain words, one line per reason."""
    v, t = inspection.verdict, inspection.thresholds
    s = v.score
    if s is None:
        return ["Not analysed yet: run the drift analysis on this shot"]
    if v.state == "not measurable":
        return [f"Not measurable: {s.reason or 'no usable face'}"]
    identity, wardrobe, lighting = (s.value(d) for d in ("identity", "wardrobe", "lighting"))
    lines = []
    if "identity" in t.enabled and identity is not None and identity < t.identity:
        what = s.reason or f"the face looks less like {v.persona_name} than allowed"
        lines.append(f"{what} ({identity:.3f} < {t.identity:.3f})")
    if "wardrobe" in t.enabled and wardrobe is not None and wardrobe > t.wardrobe:
        lines.append(
            f"the clothes are not the outfit's ({wardrobe:.1f} > {t.wardrobe:.1f})"
            + _detail(s, "wardrobe")
            + _versus(inspection, "wardrobe")
        )
    if "lighting" in t.enabled and lighting is not None and lighting > t.lighting:
        lines.append(
            f"the light on the face is not the references' ({lighting:.2f} > {t.lighting:.2f})"
            + _detail(s, "lighting")
            + _versus(inspection, "lighting")
        )
    if not lines and v.flagged:
        lines = list(v.reasons)
    if not lines and not s.stale:
        if "identity" in t.enabled and identity is not None:
            lines.append(
                f"on-model: the face matches {v.persona_name} ({identity:.3f} ≥ {t.identity:.3f})"
            )
        else:
            lines.append("on-model on every dimension checked")
    if s.stale:
        lines.append(stale_text(s.stale))
    for dimension, why in s.unchecked.items():
        if dimension in t.enabled and dimension not in s.stale:
            lines.append(f"{dimension} not checked: {why}")
    return [_capital(line) for line in lines]


def _detail(score, dimension: str) -> str:
    what = score.details.get(dimension)
    return f": {what}" if what else ""


def _versus(inspection: FrameInspection, dimension: str) -> str:
    ref = inspection.look_references.get(dimension)
    return f" (closest reference: {ref.file_name})" if ref is not None else ""


def _check(
    s, dimension: str, limit: float, enabled: bool, higher_is_better: bool, fmt: str
) -> tuple[str, str]:
    """A dimension's row: (value with what it needs, verdict mark)."""
    if s is None:
        return UNKNOWN, UNKNOWN if enabled else NOT_CHECKED
    raw = getattr(s, dimension)
    if dimension in s.stale:
        was = "" if raw is None else f" (was {format(raw, fmt)})"
        return f"out of date: Analyse to update{was}", STALE
    if raw is None:
        why = s.unchecked.get(dimension)
        if why and s.state == "measured":
            return why, NOT_CHECKED
        return UNKNOWN, UNKNOWN if enabled else NOT_CHECKED
    shown = format(raw, fmt)
    if not enabled:
        return shown, NOT_CHECKED
    sign = "≥" if higher_is_better else "≤"
    ok = raw >= limit if higher_is_better else raw <= limit
    return f"{shown}   needs {sign} {format(limit, fmt)}", PASS if ok else FAIL


def breakdown(inspection: FrameInspection) -> list[tuple[str, str, str]]:
    """The score breakdown as (name, value, verdict) rows; verdict is ✓, ✗, "not checked",
    "stale", "—" (not measured) or "" (a fact, not a check)."""
    v, t = inspection.verdict, inspection.thresholds
    s = v.score
    cent = s.identity_centroid if s else None
    rows = [
        (IDENTITY, *_check(s, "identity", t.identity, "identity" in t.enabled, True, ".3f")),
        (CENTROID, UNKNOWN if cent is None else f"{cent:.3f}", ""),
        (WARDROBE, *_check(s, "wardrobe", t.wardrobe, "wardrobe" in t.enabled, False, ".1f")),
        (LIGHTING, *_check(s, "lighting", t.lighting, "lighting" in t.enabled, False, ".2f")),
    ]
    for name, value in sorted((s.cast_scores if s else {}).items()):
        if name != v.persona_name:
            rows.append((f"Looks like {name}", f"{value:.3f}", ""))
    if inspection.faces:
        found = str(len(inspection.faces))
    else:
        found = UNKNOWN if s is None else str(s.faces)
    rows.append(("Faces found", found, ""))
    review = v.review
    if review is not None and (review.state or review.note):
        words = REVIEW_WORDS.get(review.state or "", "no decision")
        rows.append(("Review", f"{words}: {review.note}" if review.note else words, ""))
    else:
        rows.append(("Review", "not reviewed", ""))
    return rows


# -- the inspector ----------------------------------------------------------------------------


class FrameInspector(QWidget):
    """One frame against its persona: pictures with face boxes, face crops and every score."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._inspection: FrameInspection | None = None
        self._pictures: dict[str, tuple[QImage | None, str]] = {}  # the shown pictures, by sha
        self._rows: list[tuple[str, str, str]] = []
        self._why: list[str] = []
        self._crops: tuple[QImage | None, QImage | None] = (None, None)

        self.placeholder = QLabel(PLACEHOLDER_TEXT)
        self.placeholder.setObjectName("sectionHint")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)

        content = QWidget()
        content.setBackgroundRole(self.backgroundRole())
        column = QVBoxLayout(content)
        column.setContentsMargins(10, 8, 10, 10)
        column.setSpacing(10)
        column.addLayout(self._build_header())
        column.addLayout(self._build_pictures(), 1)
        self.lower = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.lower.setSpacing(14)
        self.lower.addWidget(self._build_crops(), 0, Qt.AlignmentFlag.AlignTop)
        self.lower.addWidget(self._build_scores(), 1, Qt.AlignmentFlag.AlignTop)
        column.addLayout(self.lower)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(content)

        self.pages = QStackedWidget()
        self.pages.addWidget(self.placeholder)
        self.pages.addWidget(self.scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self.setMinimumWidth(340)

    def _build_header(self) -> QVBoxLayout:
        header = QVBoxLayout()
        header.setSpacing(3)
        top = QHBoxLayout()
        top.setSpacing(8)
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.title, 1)
        header.addLayout(top)
        self.persona_label = QLabel()
        self.persona_label.setObjectName("sectionHint")
        header.addWidget(self.persona_label)
        self.why_label = QLabel()
        self.why_label.setWordWrap(True)
        self.why_label.setTextFormat(Qt.TextFormat.PlainText)
        header.addWidget(self.why_label)
        return header

    def _build_pictures(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        self.frame_picture = FramePicture(minimum=QSize(150, 170))
        self.reference_picture = FramePicture(minimum=QSize(150, 170))
        for picture in (self.frame_picture, self.reference_picture):
            font = QFont(picture.font())
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
            picture.setFont(font)
            row.addWidget(picture, 1)
        return row

    def _build_crops(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(10)
        size = QSize(CROP_PX, CROP_PX)
        self.frame_crop = FramePicture(minimum=size)
        self.frame_crop.setFixedSize(size)
        self.reference_crop = FramePicture(minimum=size)
        self.reference_crop.setFixedSize(size)
        self.frame_crop_caption = _caption("Face in this frame")
        self.reference_crop_caption = _caption("Face in the reference")
        for caption in (self.frame_crop_caption, self.reference_crop_caption):
            caption.setFixedWidth(CROP_PX)
        row.addWidget(_captioned(self.frame_crop, self.frame_crop_caption))
        row.addWidget(_captioned(self.reference_crop, self.reference_crop_caption))
        row.addStretch(1)
        return box

    def _build_scores(self) -> QWidget:
        box = QWidget()
        self.scores_grid = QGridLayout(box)
        self.scores_grid.setContentsMargins(0, 0, 0, 0)
        self.scores_grid.setHorizontalSpacing(12)
        self.scores_grid.setVerticalSpacing(5)
        self.scores_grid.setColumnStretch(2, 1)
        self.scores_grid.setColumnMinimumWidth(1, 22)
        return box

    # -- public surface -----------------------------------------------------------------------

    def show_inspection(self, project, inspection: FrameInspection | None) -> None:
        """Show one frame's inspection (None: the placeholder). Pictures are read once here."""
        self._inspection = inspection
        if inspection is None:
            self._rows, self._why, self._crops = [], [], (None, None)
            self.frame_picture.set_image(None)
            self.reference_picture.set_image(None)
            self.frame_crop.set_image(None)
            self.reference_crop.set_image(None)
            self.pages.setCurrentWidget(self.placeholder)
            self._pictures = {}
            return
        v = inspection.verdict
        same_frame = (
            self.pages.currentWidget() is self.scroll and v.frame.blob_sha in self._pictures
        )
        self._why = explain(inspection)
        self._rows = breakdown(inspection)
        self._show_header(v)
        # The same pictures again (a threshold moved, a review changed): not read again.
        shas = [v.frame.blob_sha] + (
            [inspection.reference.blob_sha] if inspection.reference else []
        )
        self._pictures = {sha: self._pictures.get(sha) or load_image(project, sha) for sha in shas}
        frame_image, frame_error = self._pictures[v.frame.blob_sha]
        ref_image, ref_error = None, NO_REFERENCE_TEXT if v.score else NOT_COMPARED_TEXT
        if inspection.reference is not None:
            ref_image, ref_error = self._pictures[inspection.reference.blob_sha]
        self._show_frame(inspection, frame_image, frame_error)
        self._show_reference(inspection, ref_image, ref_error)
        self._show_scores()
        self.pages.setCurrentWidget(self.scroll)
        if not same_frame:
            self.scroll.verticalScrollBar().setValue(0)

    def inspection(self) -> FrameInspection | None:
        return self._inspection

    def state_text(self) -> str:
        """The state badge: ok, flagged, not measurable, not analysed ("" with nothing shown)."""
        return self._inspection.verdict.state if self._inspection else ""

    def why_text(self) -> str:
        """Why the frame is in its state, in plain words (one line per reason)."""
        return "\n".join(self._why)

    def score_rows(self) -> list[tuple[str, str, str]]:
        """The breakdown as shown: (name, value, verdict) with verdict ✓, ✗, "not checked", "—"
        or "" for facts."""
        return list(self._rows)

    def face_crops(self) -> tuple[QImage | None, QImage | None]:
        """The face crops shown: the frame's face and the reference's (None where there is none)."""
        return self._crops

    # -- filling in ---------------------------------------------------------------------------

    def _show_header(self, v: FrameVerdict) -> None:
        colour = STATE_COLOURS.get(v.state, STATE_COLOURS["not analysed"])
        self.badge.setText(v.state)
        self.badge.setStyleSheet(
            f"background: {colour.name()}; color: white; border-radius: 9px;"
            "padding: 2px 10px; font-weight: 600;"
        )
        self.title.setText(frame_caption(v))
        self.persona_label.setText(f"Against {v.persona_name}")
        self.why_label.setText(self.why_text())

    def _show_frame(self, inspection: FrameInspection, image: QImage | None, error: str) -> None:
        v = inspection.verdict
        chosen = v.score.face_index if v.score else None
        colour = (
            FLAG_COLOUR
            if v.flagged
            else OK_BOX
            if v.state == "ok"
            else STATE_COLOURS["not measurable"]
        )
        boxes = [
            (face.box, colour, 2.5) if i == chosen else (face.box, OTHER_BOX, 1.0)
            for i, face in enumerate(inspection.faces)
        ]
        if not inspection.faces and v.score is not None and v.score.box is not None:
            boxes = [(v.score.box, colour, 2.5)]
        # The scored face on top of the others.
        boxes.sort(key=lambda b: b[2])
        self.frame_picture.set_image(image, boxes, error)
        n = len(inspection.faces) if inspection.faces else (v.score.faces if v.score else 0)
        if n == 0 and v.score is None:
            faces = "not analysed yet"
        else:
            faces = "no face found" if n == 0 else ("1 face" if n == 1 else f"{n} faces")
        self.frame_picture.set_caption(f"This frame · {faces}")
        face = inspection.face
        box = face.box if face is not None else (v.score.box if v.score else None)
        frame_crop = face_crop(image, box)
        self.frame_crop.set_image(frame_crop, text="no face" if v.score else "not analysed")
        self.frame_crop_caption.setText(
            "Face in this frame" if frame_crop is not None else "No face in this frame"
        )
        self._crops = (frame_crop, self._crops[1])

    def _show_reference(
        self, inspection: FrameInspection, image: QImage | None, error: str
    ) -> None:
        ref, ref_face = inspection.reference, inspection.reference_face
        boxes = [(ref_face.box, OK_BOX, 2.5)] if ref_face is not None else []
        self.reference_picture.set_image(image, boxes, error)
        missing = NO_REFERENCE_TEXT if inspection.verdict.score else NOT_COMPARED_TEXT
        self.reference_picture.set_caption(
            missing if ref is None else f"Best match · {ref.file_name}"
        )
        crop = face_crop(image, ref_face.box if ref_face is not None else None)
        self.reference_crop.set_image(crop, text="no reference face")
        self.reference_crop_caption.setText(
            "Face in the reference" if crop is not None else missing
        )
        self._crops = (self._crops[0], crop)

    def _show_scores(self) -> None:
        grid = self.scores_grid
        while grid.count():
            item = grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # gone at once: deleteLater waits for the event loop
                item.widget().deleteLater()
        heading = QLabel("Scores")
        font = QFont(heading.font())
        font.setBold(True)
        heading.setFont(font)
        grid.addWidget(heading, 0, 0, 1, 3)
        mark_font = QFont(heading.font())
        mark_font.setPointSizeF(mark_font.pointSizeF() * 1.15)
        for r, (name, value, verdict) in enumerate(self._rows, start=1):
            name_label = QLabel(name)
            name_label.setToolTip(SCORE_TIPS.get(name, ""))
            name_label.setObjectName("sectionHint")
            value_label = QLabel(value)
            basis = self._inspection.thresholds.basis.get(DIMENSION_OF.get(name, ""))
            if basis:
                value_label.setToolTip(f"Threshold: {basis}")
            value_label.setWordWrap(True)
            value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # An unmeasured value already reads "—"; a second dash beside it says nothing.
            verdict_label = QLabel("" if verdict == UNKNOWN else verdict)
            if verdict in (PASS, FAIL):
                colour = PASS_COLOUR if verdict == PASS else FLAG_COLOUR
                verdict_label.setFont(mark_font)
                verdict_label.setStyleSheet(f"color: {colour.name()};")
            else:
                verdict_label = _small(verdict_label)
                verdict_label.setObjectName("sectionHint")
            middle = Qt.AlignmentFlag.AlignVCenter
            grid.addWidget(name_label, r, 0, middle)
            grid.addWidget(verdict_label, r, 1, middle | Qt.AlignmentFlag.AlignHCenter)
            grid.addWidget(value_label, r, 2, middle)

    # -- layout -------------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        wide = event.size().width() >= WIDE_PX
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self.lower.direction() != direction:
            self.lower.setDirection(direction)
        super().resizeEvent(event)
