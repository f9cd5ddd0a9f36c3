"""The timeline's lanes: one per shot, its name, cast, counts and a film strip of its frames.

Painting reads nothing from the project: lanes paint from the rows they were given and from
pictures decoded and scaled off the GUI thread (a frame not loaded yet paints as a placeholder
and is asked for). The header column stays put while the film strips scroll sideways.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QMenu, QToolTip, QWidget

from studio.core.text import plural
from studio.services import library, timeline
from studio.ui.library_model import ThumbnailLoader

LANE_H = 84
HEADER_W = 250
CELL_W, PICTURE_H = 64, 48  # a frame's picture fits this box
CELL_GAP = 4
STRIP_TOP = 14  # the strip's top within a lane
MARK_H = 5  # the verdict mark under a frame
PORTRAIT = 22
DRIFT_RED = QColor(214, 48, 49)


def format_duration(seconds: float) -> str:
    """'2.5 s' under a minute, '1:05' above."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


class _PictureSignals(QObject):
    loaded = Signal(str, QImage)  # emitted on a loader thread, delivered queued


class FrameLoader(ThumbnailLoader):
    """Reads a frame's cached thumbnail, else its picture, and scales it to a film-strip cell."""

    def _read(self, project, sha: str) -> QImage | None:
        try:
            data = library.get_thumbnail(project, sha, self._size) or library.read_blob(
                project, sha
            )
        except Exception:  # the project was closed, or the picture is gone
            return None
        image = QImage()
        if not data or not image.loadFromData(data):
            return None
        return image.scaled(
            CELL_W,
            PICTURE_H,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )


class TimelineLanes(QAbstractScrollArea):
    """Lanes of shots; click selects (Ctrl adds, Shift extends), dragging a lane moves it."""

    selection_changed = Signal()
    move_requested = Signal(str, int)  # shot id, the place it was dropped at
    frame_opened = Signal(str, int)  # shot id, frame index: double-click or "Open Frame"
    CACHE = 3000  # pictures kept in memory, least recently shown dropped

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("timelineLanes")
        self.setMouseTracking(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setBackgroundRole(QPalette.ColorRole.Base)
        self._rows: list[timeline.TimelineRow] = []
        self._portraits: dict[str, QPixmap] = {}
        self._selected: set[str] = set()
        self._anchor: int | None = None
        self._project = None
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self._press: tuple[int, QPoint] | None = None
        self._drop_at: int | None = None  # while dragging: the gap the lane would land in
        self._signals = _PictureSignals(self)
        self._signals.loaded.connect(self._picture_loaded)
        self._loader = FrameLoader(self._signals, library.THUMBNAIL_SIZE, CELL_W)
        self.destroyed.connect(self._loader.close)

    # -- content ----------------------------------------------------------------------------------

    def set_rows(self, project, rows: list[timeline.TimelineRow], portraits: dict) -> None:
        """Show these lanes; portraits: persona id -> thumbnail bytes (None: no picture yet)."""
        if project is not self._project:
            self._pixmaps.clear()
            self._pending.clear()
            self._loader.clear()
        self._project = project
        self._rows = list(rows)
        self._portraits = {pid: _portrait(data) for pid, data in portraits.items() if data}
        ids = {r.id for r in self._rows}
        self._selected &= ids
        self._update_scrollbars()
        self.viewport().update()

    def replace_row(self, row: timeline.TimelineRow) -> bool:
        """Show a shot's lane anew (its frames landed or were judged); False if it is not shown."""
        for i, old in enumerate(self._rows):
            if old.id == row.id:
                self._rows[i] = row
                self._update_scrollbars()
                self.viewport().update(self.lane_rect(i))
                return True
        return False

    def rows(self) -> list[timeline.TimelineRow]:
        return list(self._rows)

    def row_of(self, shot_id: str) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.id == shot_id), None)

    def selected_ids(self) -> list[str]:
        """The selected shots, in timeline order."""
        return [r.id for r in self._rows if r.id in self._selected]

    def select(self, shot_ids) -> None:
        self._selected = set(shot_ids) & {r.id for r in self._rows}
        first = next((i for i, r in enumerate(self._rows) if r.id in self._selected), None)
        self._anchor = first
        if first is not None:
            self.ensure_visible(first)
        self.viewport().update()
        self.selection_changed.emit()

    def ensure_visible(self, index: int) -> None:
        bar = self.verticalScrollBar()
        top = index * LANE_H
        if top < bar.value():
            bar.setValue(top)
        elif top + LANE_H > bar.value() + self.viewport().height():
            bar.setValue(top + LANE_H - self.viewport().height())

    def pictures_loaded(self) -> int:
        """How many frame pictures are held in memory."""
        return len(self._pixmaps)

    def wait_pictures(self, timeout: float = 10.0) -> bool:
        """Block until every asked-for picture was read (their signals may still be queued)."""
        return self._loader.wait_idle(timeout)

    # -- geometry ---------------------------------------------------------------------------------

    def lane_rect(self, index: int) -> QRect:
        """A lane in viewport coordinates."""
        top = index * LANE_H - self.verticalScrollBar().value()
        return QRect(0, top, self.viewport().width(), LANE_H)

    def header_rect(self, index: int) -> QRect:
        lane = self.lane_rect(index)
        return QRect(lane.left(), lane.top(), HEADER_W, LANE_H)

    def frame_rect(self, index: int, frame: int) -> QRect:
        """A frame's cell (picture and mark) in viewport coordinates."""
        lane = self.lane_rect(index)
        left = (
            HEADER_W + CELL_GAP + frame * (CELL_W + CELL_GAP) - self.horizontalScrollBar().value()
        )
        return QRect(left, lane.top() + STRIP_TOP, CELL_W, PICTURE_H + 2 + MARK_H)

    def index_at(self, pos: QPoint) -> int | None:
        i = (pos.y() + self.verticalScrollBar().value()) // LANE_H
        return i if 0 <= i < len(self._rows) else None

    def sizeHint(self) -> QSize:
        return QSize(900, LANE_H * 6)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_scrollbars()

    def _update_scrollbars(self) -> None:
        view = self.viewport().size()
        v = self.verticalScrollBar()
        v.setRange(0, max(0, len(self._rows) * LANE_H - view.height()))
        v.setPageStep(view.height())
        v.setSingleStep(LANE_H // 2)
        longest = max((r.planned for r in self._rows), default=0)
        strip = longest * (CELL_W + CELL_GAP) + CELL_GAP
        h = self.horizontalScrollBar()
        h.setRange(0, max(0, strip - (view.width() - HEADER_W)))
        h.setPageStep(max(1, view.width() - HEADER_W))
        h.setSingleStep(CELL_W + CELL_GAP)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().update()

    # -- painting ---------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self.viewport())
        pal = self.palette()
        clip = event.rect()
        first = max(0, (clip.top() + self.verticalScrollBar().value()) // LANE_H)
        last = min(
            len(self._rows) - 1, (clip.bottom() + self.verticalScrollBar().value()) // LANE_H
        )
        wanted: list[str] = []
        for i in range(first, last + 1):
            self._paint_strip(p, i, pal, clip, wanted)
            self._paint_header(p, i, pal)
        if self._drop_at is not None:
            y = self._drop_at * LANE_H - self.verticalScrollBar().value()
            p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 3))
            p.drawLine(0, y, self.viewport().width(), y)
        if not self._rows:
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(
                self.viewport().rect(),
                Qt.AlignmentFlag.AlignCenter,
                "No shots yet: add a shot to render, or import footage in the Drift workspace.",
            )
        p.end()
        self._ask(wanted)

    def _paint_header(self, p: QPainter, i: int, pal: QPalette) -> None:
        row = self._rows[i]
        rect = self.header_rect(i)
        selected = row.id in self._selected
        p.fillRect(rect, pal.color(QPalette.ColorRole.Window))
        if selected:
            p.fillRect(
                rect.adjusted(0, 0, 0, -1), _alpha(pal.color(QPalette.ColorRole.Highlight), 90)
            )
        p.setPen(pal.color(QPalette.ColorRole.Mid))
        p.drawLine(rect.bottomLeft(), QPoint(self.viewport().width(), rect.bottom()))
        p.drawLine(rect.topRight(), rect.bottomRight())
        text = pal.color(QPalette.ColorRole.WindowText)
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(text)
        name_rect = QRect(rect.left() + 10, rect.top() + 8, rect.width() - 20, 18)
        p.drawText(
            name_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            p.fontMetrics().elidedText(
                f"{i + 1}. {row.name}", Qt.TextElideMode.ElideRight, name_rect.width()
            ),
        )
        p.setFont(self.font())
        p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        if row.kind != timeline.RENDER_KIND:
            kind = "footage"
        else:
            kind = f"clip ({row.motion})" if row.motion else "render"
        if row.kind == timeline.RENDER_KIND:
            frames = f"{row.rendered}/{row.planned} frames"
        else:
            frames = plural(row.planned, "frame")
        info = f"{kind} · {frames} · {format_duration(row.duration_s)}"
        flagged = row.count(timeline.FLAGGED)
        if flagged:
            info += f" · {flagged} drifted"
        p.drawText(
            QRect(rect.left() + 10, rect.top() + 28, rect.width() - 20, 18),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            info,
        )
        x = rect.left() + 10
        y = rect.top() + 52
        for pid, name in zip(row.persona_ids, row.persona_names, strict=False):
            pix = self._portraits.get(pid)
            circle = QRect(x, y, PORTRAIT, PORTRAIT)
            if pix is not None:
                path = QPainterPath()
                path.addEllipse(QRectF(circle))
                p.save()
                p.setRenderHint(QPainter.RenderHint.Antialiasing)
                p.setClipPath(path)
                p.drawPixmap(circle, pix)
                p.restore()
            else:
                p.setBrush(pal.color(QPalette.ColorRole.Mid))
                p.setPen(Qt.PenStyle.NoPen)
                p.drawEllipse(circle)
                p.setPen(text)
                p.drawText(circle, Qt.AlignmentFlag.AlignCenter, (name or "?")[:1])
            x += PORTRAIT + 4
            if x > rect.right() - PORTRAIT:
                break
        if len(row.persona_ids) == 1:
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(
                QRect(x + 2, y, rect.right() - x - 10, PORTRAIT),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                row.persona_names[0],
            )
        p.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_strip(self, p: QPainter, i: int, pal: QPalette, clip: QRect, wanted: list) -> None:
        row = self._rows[i]
        lane = self.lane_rect(i)
        if row.id in self._selected:
            p.fillRect(lane, _alpha(pal.color(QPalette.ColorRole.Highlight), 40))
        step = CELL_W + CELL_GAP
        scroll = self.horizontalScrollBar().value()
        first = max(0, (max(clip.left(), HEADER_W) - HEADER_W + scroll) // step)
        last = min(row.planned - 1, (clip.right() - HEADER_W + scroll) // step)
        by_index = {f.index: f for f in row.frames} if row.frames else {}
        placeholder = pal.color(QPalette.ColorRole.AlternateBase)
        outline = pal.color(QPalette.ColorRole.Mid)
        for k in range(first, last + 1):
            cell = self.frame_rect(i, k)
            picture = QRect(cell.left(), cell.top(), CELL_W, PICTURE_H)
            frame = by_index.get(k)
            if frame is None or not frame.blob_sha:
                p.setPen(QPen(outline, 1, Qt.PenStyle.DashLine))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(picture.adjusted(0, 0, -1, -1))
                continue
            pix = self._pixmaps.get(frame.blob_sha)
            if pix is None:
                p.fillRect(picture, placeholder)
                wanted.append(frame.blob_sha)
            else:
                self._pixmaps.move_to_end(frame.blob_sha)
                x = picture.left() + (CELL_W - pix.width()) // 2
                y = picture.top() + (PICTURE_H - pix.height()) // 2
                p.drawPixmap(x, y, pix)
            mark = QRect(cell.left(), picture.bottom() + 3, CELL_W, MARK_H)
            if frame.verdict == timeline.FLAGGED:
                p.fillRect(mark, DRIFT_RED)
            elif frame.verdict == timeline.UNMEASURABLE:
                p.fillRect(mark, QBrush(outline, Qt.BrushStyle.BDiagPattern))

    # -- pictures ---------------------------------------------------------------------------------

    def _ask(self, shas: list[str]) -> None:
        if self._project is None:
            return
        for sha in dict.fromkeys(shas):
            if sha in self._pending:
                continue
            self._pending.add(sha)
            for dropped in self._loader.request(self._project, sha):
                self._pending.discard(dropped)  # asked again when its lane is painted again

    def _picture_loaded(self, sha: str, image: QImage) -> None:
        self._pending.discard(sha)
        self._pixmaps[sha] = QPixmap.fromImage(image)
        while len(self._pixmaps) > self.CACHE:
            self._pixmaps.popitem(last=False)
        self.viewport().update()

    # -- mouse: select, drag to reorder ---------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pos = event.position().toPoint()
        i = self.index_at(pos)
        if i is None:
            self.select([])
            return
        shot_id = self._rows[i].id
        mods = event.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            self._selected ^= {shot_id}
            self._anchor = i
        elif mods & Qt.KeyboardModifier.ShiftModifier and self._anchor is not None:
            lo, hi = sorted((self._anchor, i))
            self._selected = {r.id for r in self._rows[lo : hi + 1]}
        else:
            if shot_id not in self._selected or len(self._selected) > 1:
                self._selected = {shot_id}
            self._anchor = i
            self._press = (i, pos)
        self.viewport().update()
        self.selection_changed.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None:
            return super().mouseMoveEvent(event)
        pos = event.position().toPoint()
        if (pos - self._press[1]).manhattanLength() < QApplication.startDragDistance():
            return
        bar = self.verticalScrollBar()
        edge = LANE_H // 3
        if pos.y() < edge:  # near an edge the lanes scroll, so a lane can travel the whole film
            bar.setValue(bar.value() - edge)
        elif pos.y() > self.viewport().height() - edge:
            bar.setValue(bar.value() + edge)
        gap = (pos.y() + bar.value() + LANE_H // 2) // LANE_H
        self._drop_at = max(0, min(len(self._rows), gap))
        self.viewport().update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        press, drop = self._press, self._drop_at
        self._press, self._drop_at = None, None
        self.viewport().update()
        if press is None or drop is None:
            return super().mouseReleaseEvent(event)
        source = press[0]
        target = drop - 1 if drop > source else drop  # the gap, counted without the lane itself
        if target != source:
            self.move_requested.emit(self._rows[source].id, target)

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            text = self._tip_at(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def frame_at(self, pos: QPoint) -> tuple[int, int] | None:
        """(lane, frame index) of the frame cell under a viewport point, None between cells."""
        i = self.index_at(pos)
        if i is None or pos.x() < HEADER_W:
            return None
        step = CELL_W + CELL_GAP
        k = (pos.x() - HEADER_W - CELL_GAP + self.horizontalScrollBar().value()) // step
        if not 0 <= k < self._rows[i].planned or not self.frame_rect(i, k).contains(pos):
            return None
        return i, k

    def _picture_at(self, pos: QPoint) -> tuple[str, int] | None:
        """(shot id, frame index) of the frame with a picture under a viewport point."""
        found = self.frame_at(pos)
        if found is None:
            return None
        row = self._rows[found[0]]
        if not any(f.index == found[1] and f.blob_sha for f in row.frames):
            return None
        return row.id, found[1]

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        found = self._picture_at(event.position().toPoint())
        if event.button() != Qt.MouseButton.LeftButton or found is None:
            return super().mouseDoubleClickEvent(event)
        self._press = None  # the second press of a double-click starts no drag
        self.frame_opened.emit(*found)

    def frame_menu(self, pos: QPoint) -> QMenu | None:
        """The context menu of the frame with a picture under a viewport point (None: none)."""
        found = self._picture_at(pos)
        if found is None:
            return None
        menu = QMenu(self)
        menu.addAction("&Open Frame", lambda: self.frame_opened.emit(*found))
        return menu

    def contextMenuEvent(self, event) -> None:
        menu = self.frame_menu(event.pos())
        if menu is None:
            return super().contextMenuEvent(event)
        menu.exec(event.globalPos())
        menu.deleteLater()

    def _tip_at(self, pos: QPoint) -> str:
        found = self.frame_at(pos)
        if found is None:
            return ""
        row, k = self._rows[found[0]], found[1]
        frame = next((f for f in row.frames if f.index == k), None)
        if frame is None or not frame.blob_sha:
            return f"{row.name}, frame {k + 1}: not rendered yet"
        return f"{row.name}, frame {k + 1}: {frame.verdict}"

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and self._rows:
            current = self._anchor if self._anchor is not None else -1
            step = -1 if key == Qt.Key.Key_Up else 1
            i = max(0, min(len(self._rows) - 1, current + step))
            self.select([self._rows[i].id])
            return
        super().keyPressEvent(event)


def _alpha(colour: QColor, alpha: int) -> QColor:
    out = QColor(colour)
    out.setAlpha(alpha)
    return out


def _portrait(data: bytes) -> QPixmap:
    image = QImage()
    image.loadFromData(data)
    return QPixmap.fromImage(
        image.scaled(
            PORTRAIT,
            PORTRAIT,
            Qt.AspectRatioMode.KeepAspectRatioByExpanding,
            Qt.TransformationMode.SmoothTransformation,
        )
    )
