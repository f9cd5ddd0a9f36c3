"""Painting for the library: reference tiles with badges, the inspector image, the pose chart."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from studio.ui.library_model import PICTURE, ROW_ROLE, LibraryRow

STATUS_COLOURS = {
    "approved": QColor("#3a9d5d"),
    "ok": QColor("#6f8fb3"),
    "suspect": QColor("#e0a030"),
    "quarantined": QColor("#d64545"),
    "pending": QColor("#8a8b90"),
}
TILE = QSize(176, 206)


class ReferenceTileDelegate(QStyledItemDelegate):
    """A square thumbnail, the file name, and badges: status, face count, agreement."""

    def sizeHint(self, option, index) -> QSize:
        return TILE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        row: LibraryRow = index.data(ROW_ROLE)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        r = option.rect.adjusted(4, 4, -4, -4)
        pal = option.palette
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.highlight() if selected else pal.alternateBase())
        painter.drawRoundedRect(r, 6, 6)

        pic = QRect(r.x() + (r.width() - PICTURE) // 2, r.y() + 4, PICTURE, PICTURE)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            scaled = pixmap  # the model scales pictures to PICTURE off-thread, once
            if pixmap.width() > PICTURE or pixmap.height() > PICTURE:
                scaled = pixmap.scaled(
                    pic.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            x = pic.x() + (pic.width() - scaled.width()) // 2
            y = pic.y() + (pic.height() - scaled.height()) // 2
            painter.drawPixmap(x, y, scaled)
        else:
            painter.setBrush(pal.mid())
            painter.drawRoundedRect(pic, 4, 4)

        # Badges along the top of the picture.
        colour = STATUS_COLOURS.get(row.status, STATUS_COLOURS["pending"])
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        font.setBold(True)
        painter.setFont(font)
        self._badge(painter, pic.x() + 4, pic.y() + 4, row.status, colour)
        right = pic.right() - 4
        if row.agreement is not None:
            right = (
                self._badge(
                    painter,
                    right,
                    pic.y() + 4,
                    f"{row.agreement:.2f}",
                    QColor(20, 20, 24, 200),
                    align_right=True,
                )
                - 4
            )
        if row.group is not None:
            right = (
                self._badge(
                    painter,
                    right,
                    pic.y() + 4,
                    f"≈ dup {row.group + 1}",
                    QColor("#6a5acd"),
                    align_right=True,
                )
                - 4
            )
        if row.faces is not None and row.faces != 1:
            label = "no face" if row.faces == 0 else f"{row.faces} faces"
            self._badge(painter, right, pic.y() + 4, label, QColor("#b4461a"), align_right=True)

        painter.setFont(option.font)
        painter.setPen(pal.highlightedText().color() if selected else pal.text().color())
        text_rect = QRect(
            r.x() + 6, pic.bottom() + 6, r.width() - 12, r.bottom() - pic.bottom() - 8
        )
        name = painter.fontMetrics().elidedText(
            row.reference.file_name, Qt.TextElideMode.ElideMiddle, text_rect.width()
        )
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        painter.restore()

    @staticmethod
    def _badge(
        painter: QPainter, x: int, y: int, text: str, colour: QColor, align_right: bool = False
    ) -> int:
        fm = painter.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 10, fm.height() + 2
        rect = QRect(x - w if align_right else x, y, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(rect, h / 2, h / 2)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        return rect.x()


def annotate(pixmap: QPixmap, faces: list, chosen: int | None) -> QPixmap:
    """The image with every face box, the persona's face highlighted, and its 5 landmarks."""
    out = QPixmap(pixmap)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    scale = max(1.0, out.width() / 400)
    for i, face in enumerate(faces):
        x0, y0, x1, y1 = face.box
        persona = i == (chosen if chosen is not None else 0)
        pen = QPen(QColor("#3ad07a") if persona else QColor("#e0a030"), 2.5 * scale)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        if persona:
            painter.setBrush(QColor("#3ad07a"))
            painter.setPen(Qt.PenStyle.NoPen)
            for px, py in face.landmarks:
                painter.drawEllipse(QPointF(px, py), 3 * scale, 3 * scale)
    painter.end()
    return out


YAW_BINS = (
    (-90, -45, "left profile"),
    (-45, -15, "left ¾"),
    (-15, 15, "frontal"),
    (15, 45, "right ¾"),
    (45, 90, "right profile"),
)
PITCH_BINS = ((15, 60, "up"), (-15, 15, "level"), (-60, -15, "down"))


class PoseChart(QWidget):
    """Yaw × pitch of the persona's usable references; empty cells are angles she lacks."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.points: list[tuple[float, float]] = []
        self.setMinimumSize(260, 170)

    def set_points(self, points: list[tuple[float, float]]) -> None:
        self.points = list(points)
        self.update()

    def counts(self) -> dict[tuple[str, str], int]:
        out = {(y[2], p[2]): 0 for y in YAW_BINS for p in PITCH_BINS}
        for yaw, pitch in self.points:
            for y0, y1, yname in YAW_BINS:
                if y0 <= max(-89.9, min(89.9, yaw)) < y1:
                    for p0, p1, pname in PITCH_BINS:
                        if p0 <= max(-59.9, min(59.9, pitch)) < p1:
                            out[(yname, pname)] += 1
        return out

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        left, top, bottom = 44, 8, 22
        w = self.width() - left - 8
        h = self.height() - top - bottom
        cw, ch = w / len(YAW_BINS), h / len(PITCH_BINS)
        counts = self.counts()
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        for i, (_, _, yname) in enumerate(YAW_BINS):
            for j, (_, _, pname) in enumerate(PITCH_BINS):
                cell = QRectF(left + i * cw, top + j * ch, cw - 2, ch - 2)
                n = counts[(yname, pname)]
                if n:
                    colour = QColor("#3a9d5d")
                    colour.setAlphaF(min(1.0, 0.25 + 0.15 * n))
                    painter.fillRect(cell, colour)
                else:  # an angle the persona lacks: an empty, outlined cell
                    painter.fillRect(cell, pal.base())
                    painter.setPen(QPen(pal.mid().color(), 1, Qt.PenStyle.DashLine))
                    painter.drawRect(cell.adjusted(0.5, 0.5, -0.5, -0.5))
                painter.setPen(pal.text().color() if n else pal.placeholderText().color())
                painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, str(n) if n else "—")
        painter.setPen(pal.text().color())
        for i, (_, _, yname) in enumerate(YAW_BINS):
            painter.drawText(
                QRectF(left + i * cw, top + h, cw, bottom), Qt.AlignmentFlag.AlignCenter, yname
            )
        for j, (_, _, pname) in enumerate(PITCH_BINS):
            painter.drawText(
                QRectF(0, top + j * ch, left - 4, ch),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                pname,
            )
        painter.end()
