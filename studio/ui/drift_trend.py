"""Identity across the timeline: one line through every shot, the threshold, flagged frames."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from studio.ui.drift_heatmap import FLAG_COLOUR

MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 44, 10, 18, 8


@dataclass
class TrendSegment:
    """One shot on the timeline: its name, identity per frame (NaN: not measured), its flags."""

    name: str
    values: np.ndarray
    flagged: np.ndarray


class IdentityTrend(QWidget):
    """Identity per frame along the whole timeline, shots side by side, threshold dashed."""

    frame_clicked = Signal(int, int)  # segment, frame

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._segments: list[TrendSegment] = []
        self._offsets = np.zeros(1, np.int64)
        self._threshold: float | None = None
        self._lo, self._hi = 0.0, 1.0
        self._marker: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setMinimumHeight(90)

    def sizeHint(self) -> QSize:
        return QSize(800, 120)

    def set_segments(
        self, segments: list[TrendSegment], threshold: float | None, lo: float, hi: float
    ) -> None:
        """Show these shots (timeline order) on a scale from lo to hi with the threshold."""
        self._segments = list(segments)
        lengths = [len(s.values) for s in segments]
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._threshold = threshold
        self._lo, self._hi = lo, max(hi, lo + 1e-6)
        if self._marker and (
            self._marker[0] >= len(segments) or self._marker[1] >= lengths[self._marker[0]]
        ):
            self._marker = None
        self.update()

    def set_flags(self, flagged: list[np.ndarray], threshold: float | None) -> None:
        """New flags and threshold (the slider moved); the line stays."""
        for seg, f in zip(self._segments, flagged, strict=True):
            seg.flagged = np.asarray(f, bool)
        self._threshold = threshold
        self.update()

    def set_marker(self, segment: int, frame: int) -> None:
        self._marker = (segment, frame)
        self.update()

    def total(self) -> int:
        return int(self._offsets[-1])

    @property
    def threshold(self) -> float | None:
        """The identity threshold drawn dashed across the plot (None: none drawn)."""
        return self._threshold

    # -- geometry -----------------------------------------------------------------------------

    def _plot(self) -> QRectF:
        return QRectF(
            MARGIN_L,
            MARGIN_T,
            max(1.0, self.width() - MARGIN_L - MARGIN_R),
            max(1.0, self.height() - MARGIN_T - MARGIN_B),
        )

    def x_of(self, segment: int, frame: int) -> float:
        """Where a frame sits along the plot (the middle of its slot)."""
        plot = self._plot()
        n = max(1, self.total())
        return plot.left() + (int(self._offsets[segment]) + frame + 0.5) * plot.width() / n

    def _y(self, value: float) -> float:
        plot = self._plot()
        t = (min(max(value, self._lo), self._hi) - self._lo) / (self._hi - self._lo)
        return plot.bottom() - t * plot.height()

    def frame_at(self, x: float) -> tuple[int, int] | None:
        """The (segment, frame) under an x position, or None outside the plot."""
        plot = self._plot()
        n = self.total()
        if n == 0 or not plot.left() <= x <= plot.right():
            return None
        flat = min(n - 1, int((x - plot.left()) * n / plot.width()))
        seg = int(np.searchsorted(self._offsets, flat, side="right") - 1)
        return seg, flat - int(self._offsets[seg])

    # -- painting -----------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        plot = self._plot()
        text = pal.color(QPalette.ColorRole.Text)
        muted = QColor(text)
        muted.setAlpha(110)
        p.setPen(muted)
        p.drawText(QRectF(4, 0, self.width() - 8, MARGIN_T), "Identity across the timeline")
        for value in (self._lo, self._hi):
            y = self._y(value)
            p.drawText(
                QRectF(0, y - 8, MARGIN_L - 6, 16), Qt.AlignmentFlag.AlignRight, f"{value:.2f}"
            )
        p.drawRect(plot)
        n = self.total()
        if n == 0:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "No frames analysed yet")
            return
        # Shot boundaries and names.
        grid = QColor(text)
        grid.setAlpha(50)
        for i, seg in enumerate(self._segments):
            x0 = plot.left() + int(self._offsets[i]) * plot.width() / n
            x1 = plot.left() + int(self._offsets[i + 1]) * plot.width() / n
            if i:
                p.setPen(grid)
                p.drawLine(QPointF(x0, plot.top()), QPointF(x0, plot.bottom()))
            if x1 - x0 > 40:
                p.setPen(muted)
                name = p.fontMetrics().elidedText(
                    seg.name, Qt.TextElideMode.ElideRight, int(x1 - x0 - 6)
                )
                p.drawText(QRectF(x0 + 3, plot.top() + 1, x1 - x0 - 6, 14), name)
        if self._threshold is not None:
            pen = QPen(FLAG_COLOUR, 1, Qt.PenStyle.DashLine)
            p.setPen(pen)
            y = self._y(self._threshold)
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.drawText(
                QRectF(0, y - 8, MARGIN_L - 6, 16),
                Qt.AlignmentFlag.AlignRight,
                f"{self._threshold:.2f}",
            )
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        line = QPen(pal.color(QPalette.ColorRole.Highlight), 1.5)
        bucket = max(1, int(np.ceil(n / max(1.0, plot.width()))))  # frames per pixel, at least 1
        for i, seg in enumerate(self._segments):
            xs, ys = self._points(i, seg.values, bucket)
            path = QPainterPath()
            pen_down = False
            for x, y in zip(xs, ys, strict=True):
                if np.isnan(y):
                    pen_down = False
                elif pen_down:
                    path.lineTo(x, y)
                else:
                    path.moveTo(x, y)
                    pen_down = True
            p.setPen(line)
            p.drawPath(path)
            flagged = np.flatnonzero(seg.flagged)
            if len(flagged):
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(FLAG_COLOUR)
                step = max(1, len(flagged) // 400)  # a dot per frame up to a few hundred
                for f in flagged[::step]:
                    v = seg.values[f]
                    y = self._y(float(v)) if not np.isnan(v) else plot.bottom() - 3
                    p.drawEllipse(QPointF(self.x_of(i, int(f)), y), 2.5, 2.5)
                p.setBrush(Qt.BrushStyle.NoBrush)
        if self._marker is not None:
            x = self.x_of(*self._marker)
            p.setPen(QPen(text, 1))
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))

    def _points(self, segment: int, values: np.ndarray, bucket: int):
        """The line's points: every frame, or each bucket's lowest value on a long timeline."""
        idx = np.arange(len(values))
        vals = np.asarray(values, np.float64)
        if bucket > 1 and len(vals) > bucket:
            pad = (-len(vals)) % bucket
            padded = np.r_[vals, np.full(pad, np.nan)].reshape(-1, bucket)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a bucket with no value
                vals = np.nanmin(padded, axis=1)
            idx = np.arange(len(vals)) * bucket + bucket // 2
            idx = np.minimum(idx, len(values) - 1)
        xs = [self.x_of(segment, int(i)) for i in idx]
        ys = [np.nan if np.isnan(v) else self._y(float(v)) for v in vals]
        return xs, ys

    # -- mouse --------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self.frame_at(event.position().x())
        if hit is not None and event.button() == Qt.MouseButton.LeftButton:
            self.set_marker(*hit)
            self.frame_clicked.emit(*hit)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hit = self.frame_at(event.position().x())
        if hit is None:
            QToolTip.hideText()
            return
        seg, frame = hit
        v = self._segments[seg].values[frame]
        value = "not measurable" if np.isnan(v) else f"identity {v:.3f}"
        QToolTip.showText(
            event.globalPosition().toPoint(),
            f"{self._segments[seg].name} · frame {frame + 1}: {value}",
            self,
        )
