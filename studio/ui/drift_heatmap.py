"""The drift heat map: shots as rows, frames as columns, colour = drift on one layer.

The widget scrolls itself: the legend, the frame ruler and the column of shot names stay put
while the matrix scrolls under them (a QScrollArea around the whole widget would scroll the
names away). Its two scroll bars are child widgets; positions (`cell_at`, `frame_rect`, mouse
events) are in the widget's own coordinates.

Drawing is cached. The colours live in one QImage with a pixel per (shot, column), built with
numpy: the values are mapped to "goodness" 0..1, quantised to a byte and looked up in the
colour map. A paint draws each visible row's slice of it scaled up (nearest neighbour) and
then the overlays run by run: hatching over runs of "not measurable", flag marks, review
marks. The image is rebuilt only when the data, the layer, the scales or the column buckets
change; `update_flags` recomputes only the flag runs, hover and scrolling rebuild nothing.

Columns: at one pixel per frame or more (always a whole number of pixels), a column is a
frame. Below that, a column is one pixel wide and stands for a bucket of consecutive frames
(frame f is in column floor(f * pixels_per_frame)); it shows the bucket's worst value, is
hatched only when every frame in it is not measurable, and carries a flag when any frame in
it is flagged. `cell_at` answers the bucket's worst frame.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QStaticText,
    QWheelEvent,
)
from PySide6.QtWidgets import QScrollBar, QToolTip, QWidget

from studio.core import colormap
from studio.core import drift as drift_core
from studio.core.timecode import format_timecode


@dataclass(frozen=True)
class LayerScale:
    """How one layer's values map onto the colour map, and how the legend names them."""

    name: str  # "identity" | "wardrobe" | "lighting" | "combined"
    label: str  # legend title, e.g. "Identity (similarity to references)"
    lo: float  # value range mapped onto the colour map
    hi: float
    higher_is_better: bool  # identity: True (1.0 = same person); distances: False
    threshold: float | None  # drawn as a tick on the legend


@dataclass
class HeatRow:
    """One shot: its per-frame values on every layer, flags, review states and notes."""

    shot_id: str
    name: str
    fps: float | None
    times: np.ndarray | None  # per-frame seconds (float64) or None
    values: dict[str, np.ndarray]  # layer -> float32 per frame; NaN = not measurable
    flagged: np.ndarray  # bool per frame
    review: np.ndarray  # int8 per frame: 0 none, 1 flagged for reshoot, 2 approved
    notes: np.ndarray | None = None  # bool per frame: has a note
    # layer -> int8 per frame: why a NaN value is missing (ABSENT_*); None: not measurable
    absent: dict[str, np.ndarray] | None = None


# Why a value is missing. Each is drawn its own way and named in the legend and the tooltip:
# "not measurable" is hatched, "not analysed" left empty, "stale" dotted, "not checked" plain.
ABSENT_UNMEASURABLE, ABSENT_UNANALYSED, ABSENT_STALE, ABSENT_UNCHECKED = (
    drift_core.MISSING_UNMEASURABLE,
    drift_core.MISSING_UNANALYSED,
    drift_core.MISSING_STALE,
    drift_core.MISSING_UNCHECKED,
)
ABSENT_WORDS = {
    ABSENT_UNMEASURABLE: "not measurable",
    ABSENT_UNANALYSED: "not analysed yet",
    ABSENT_STALE: "out of date: analyse again",
    ABSENT_UNCHECKED: "not checked",
}


REVIEW_NONE, REVIEW_RESHOOT, REVIEW_APPROVED = 0, 1, 2

# Row geometry, in pixels from the top of a row.
ROW_H = 20
FLAG_TOP, FLAG_H = 0, 4
CELL_TOP, CELL_H = 4, 11
REVIEW_TOP, REVIEW_H = 16, 3
LEGEND_H = 30  # one line; two lines when the widget is too narrow for one
GRADIENT_W = 160
LEGEND_MARKS = (
    ("nan", "not measurable"),
    ("unanalysed", "not analysed"),
    ("stale", "stale"),
    ("unchecked", "not checked"),
    ("flag", "flagged"),
    ("reshoot", "reshoot"),
    ("approved", "approved"),
    ("note", "note"),
)
RULER_H = 16
MIN_ZOOM, MAX_ZOOM = 1e-4, 48.0

EMPTY_TEXT = "No shots yet — import footage"
FLAG_COLOUR = QColor("#e03131")
RESHOOT_COLOUR = QColor("#f76707")
APPROVED_COLOUR = QColor("#2f9e44")

_LUT32 = (
    np.uint32(0xFF000000)
    | (colormap.lut_array()[:, 0].astype(np.uint32) << 16)
    | (colormap.lut_array()[:, 1].astype(np.uint32) << 8)
    | colormap.lut_array()[:, 2].astype(np.uint32)
)
# Index 256: not measurable (hatched over when painted, so its colour is only a backdrop).
_LUT32 = np.append(_LUT32, np.uint32(0xFF808080))


def _runs(flat: np.ndarray, col_offsets: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """Runs of True in per-column values laid end to end row after row: for each row, the
    columns where its runs start and the columns one past where they end."""
    n_rows = len(col_offsets) - 1
    if not flat.any():
        return [([], [])] * n_rows
    x = flat.astype(bool, copy=False)
    row_starts = col_offsets[:-1][np.diff(col_offsets) > 0]
    row_ends = col_offsets[1:][np.diff(col_offsets) > 0]
    prev = np.r_[False, x[:-1]]
    prev[row_starts] = False  # a run never continues from the previous row
    nxt = np.r_[x[1:], False]
    nxt[row_ends - 1] = False
    starts = np.flatnonzero(x & ~prev)
    ends = np.flatnonzero(x & ~nxt) + 1
    row = np.searchsorted(col_offsets, starts, side="right") - 1
    local_s = (starts - col_offsets[row]).tolist()
    local_e = (ends - col_offsets[row]).tolist()
    ptr = np.searchsorted(row, np.arange(n_rows + 1)).tolist()
    return [(local_s[a:b], local_e[a:b]) for a, b in zip(ptr[:-1], ptr[1:], strict=True)]


def _short_label(scale: LayerScale) -> str:
    return scale.label.split(" (")[0] or scale.name


class DriftHeatmap(QWidget):
    """Every shot's per-frame drift on one layer, with flags, reviews, selection and zoom."""

    frame_hovered = Signal(int, int)  # row, frame; (-1, -1) when the mouse leaves
    frame_clicked = Signal(int, int)  # row, frame: a click or an arrow key moved to it
    range_selected = Signal(int, int, int)  # row, first, last: the user changed the selection
    zoom_changed = Signal(float)  # pixels per frame
    context_menu_requested = Signal(int, int, QPoint)  # row, frame, global position

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tooltip_provider: Callable[[int, int], str] | None = None
        self.colour_builds = 0  # how many times the colour image was built (tests, bench)
        self._rows: list[HeatRow] = []
        self._scales: dict[str, LayerScale] = {}
        self._layer = ""
        self._zoom = 1.0
        self._fit = True  # follow the width until the user or the host picks a zoom
        self._selection: tuple[int, int, int] | None = None
        self._cursor: tuple[int, int] | None = None  # the frame the arrow keys move
        self._anchor: tuple[int, int] | None = None  # where a drag or shift+click started
        self._pressed_col: int | None = None
        self._hover: tuple[int, int] | None = None  # row, column
        self._lengths = np.zeros(0, dtype=np.int64)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._goodness = np.zeros(0, dtype=np.float32)  # flat over rows; +inf = NaN
        self._raw = np.zeros(0, dtype=np.float32)
        self._worst: list[tuple[int, float] | None] = []
        self._image: QImage | None = None
        self._image_key: tuple | None = None
        self._buffer = np.zeros((0, 0), dtype=np.uint32)  # keeps the QImage's memory alive
        self._row_cols = np.zeros(0, dtype=np.int64)
        self._bucket_starts = np.zeros(1, dtype=np.int64)
        self._flat_starts = np.zeros(0, dtype=np.int64)
        self._col_offsets = np.zeros(1, dtype=np.int64)
        self._worst_frame = np.zeros(0, dtype=np.int64)  # per column, flat over rows
        self._nan_runs: list[tuple[list[int], list[int]]] = []
        self._absent_runs: dict[int, list[tuple[list[int], list[int]]]] = {}
        self._absent = np.zeros(0, dtype=np.int8)
        self._flag_runs: list[tuple[list[int], list[int]]] = []
        self._reshoot_runs: list[tuple[list[int], list[int]]] = []
        self._approved_runs: list[tuple[list[int], list[int]]] = []
        self._note_runs: list[tuple[list[int], list[int]]] = []
        self._header_cache: dict[int, tuple[QStaticText, QStaticText, int]] = {}
        self._header_w = 240
        self._tiles: dict[tuple, QPixmap] = {}
        self._wheel_zoom = 0
        self._legend_h = LEGEND_H
        self._flagged: list[np.ndarray] = []
        self._review: list[np.ndarray] = []

        self.hbar = QScrollBar(Qt.Orientation.Horizontal, self)
        self.vbar = QScrollBar(Qt.Orientation.Vertical, self)
        for bar in (self.hbar, self.vbar):
            bar.hide()
            bar.valueChanged.connect(self._scrolled)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, LEGEND_H + RULER_H + 3 * ROW_H)

    # ----- data ------------------------------------------------------------------------------

    def set_rows(self, rows: list[HeatRow]) -> None:
        """Show these shots (replaces all); keeps the selection where it still fits."""
        for row in rows:
            n = len(row.flagged)
            arrays = [("review", row.review)] + [
                (f"values[{k!r}]", v) for k, v in row.values.items()
            ]
            if row.times is not None:
                arrays.append(("times", row.times))
            if row.notes is not None:
                arrays.append(("notes", row.notes))
            for what, arr in arrays:
                if len(arr) != n:
                    raise ValueError(
                        f"Shot {row.name!r}: {what} has {len(arr)} frames but flagged has {n}."
                    )
        self._rows = list(rows)
        # Own copies: update_flags / update_reviews replace these, never the host's rows.
        self._flagged = [np.asarray(r.flagged, dtype=bool) for r in rows]
        self._review = [np.asarray(r.review, dtype=np.int8) for r in rows]
        self._lengths = np.array([len(r.flagged) for r in rows], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._lengths)]).astype(np.int64)
        if self._selection is not None:
            r, a, b = self._selection
            if r >= len(rows) or b >= self._lengths[r]:
                self._selection = self._cursor = self._anchor = None
        self._hover = None
        self._header_w = self._measure_header()
        self._data_changed()

    def set_scales(self, scales: dict[str, LayerScale]) -> None:
        """The layers there are and how each maps onto colour; keeps the layer if it is one."""
        self._scales = dict(scales)
        if self._layer not in self._scales:
            self._layer = "identity" if "identity" in self._scales else next(iter(self._scales), "")
        self._data_changed()

    def set_layer(self, name: str) -> None:
        """Colour the matrix by this layer (one of the scales' names)."""
        if name not in self._scales:
            known = ", ".join(self._scales) or "none; call set_scales first"
            raise ValueError(f"No scale for layer {name!r} (known: {known}).")
        if name != self._layer:
            self._layer = name
            self._data_changed()

    def layer(self) -> str:
        return self._layer

    def rows(self) -> list[HeatRow]:
        return list(self._rows)

    def update_flags(self, flagged: list[np.ndarray]) -> None:
        """New flag marks, one bool array a shot; cheap (the colours are not rebuilt)."""
        self._check_per_row(flagged, "update_flags")
        self._flagged = [np.asarray(f, dtype=bool) for f in flagged]
        self._ensure_image()
        self._build_flag_runs()
        self.update()

    def update_reviews(self, review: list[np.ndarray]) -> None:
        """New review states, one int8 array a shot (0 none, 1 reshoot, 2 approved)."""
        self._check_per_row(review, "update_reviews")
        self._review = [np.asarray(r, dtype=np.int8) for r in review]
        self._ensure_image()
        self._build_review_runs()
        self.update()

    def _check_per_row(self, arrays: list[np.ndarray], what: str) -> None:
        if len(arrays) != len(self._rows):
            raise ValueError(f"{what}: {len(arrays)} arrays for {len(self._rows)} shots.")
        for row, arr, n in zip(self._rows, arrays, self._lengths, strict=True):
            if len(arr) != n:
                raise ValueError(f"{what}: shot {row.name!r} has {n} frames, not {len(arr)}.")

    def _data_changed(self) -> None:
        self._header_cache.clear()
        self._compute_goodness()
        self._image_key = None
        self._relayout()
        self.update()

    def _compute_goodness(self) -> None:
        scale = self._scales.get(self._layer)
        total = int(self._offsets[-1])
        raw = np.full(total, np.nan, dtype=np.float32)
        for row, start in zip(self._rows, self._offsets[:-1], strict=False):
            v = row.values.get(self._layer)
            if v is not None:
                raw[start : start + len(v)] = v
        self._raw = raw
        absent = np.zeros(total, dtype=np.int8)
        for row, start in zip(self._rows, self._offsets[:-1], strict=False):
            codes = (row.absent or {}).get(self._layer)
            if codes is not None:
                absent[start : start + len(codes)] = codes
        absent[~np.isnan(raw)] = 0
        absent[np.isnan(raw) & (absent == 0)] = ABSENT_UNMEASURABLE
        self._absent = absent
        if scale is None:
            good = np.full(total, np.inf, dtype=np.float32)
        else:
            span = scale.hi - scale.lo
            with np.errstate(invalid="ignore", divide="ignore"):
                good = (raw - np.float32(scale.lo)) / np.float32(span if span else 1.0)
            np.clip(good, 0.0, 1.0, out=good)
            if not scale.higher_is_better:
                good = 1.0 - good
            good[np.isnan(good)] = np.inf
        self._goodness = good.astype(np.float32, copy=False)
        self._worst = []
        for start, n in zip(self._offsets[:-1], self._lengths, strict=False):
            if n == 0:
                self._worst.append(None)
                continue
            i = int(np.argmin(self._goodness[start : start + n]))
            if math.isinf(self._goodness[start + i]):
                self._worst.append(None)
            else:
                self._worst.append((i, float(raw[start + i])))

    # ----- the colour image and the overlay runs ----------------------------------------------

    def _col_w(self) -> int:
        return int(self._zoom) if self._zoom >= 1 else 1

    def _columns_of(self, n: np.ndarray | int) -> np.ndarray | int:
        if self._zoom >= 1:
            return n
        return np.where(np.asarray(n) > 0, np.floor((np.asarray(n) - 1) * self._zoom) + 1, 0)

    def _col_of_frame(self, frame: int) -> int:
        return frame if self._zoom >= 1 else int(math.floor(frame * self._zoom))

    def _bucket(self, col: int, row: int) -> tuple[int, int]:
        """First and last frame of a column of a row."""
        if self._zoom >= 1:
            return col, col
        first = int(self._bucket_starts[col])
        nxt = (
            int(self._bucket_starts[col + 1])
            if col + 1 < len(self._bucket_starts)
            else int(self._lengths[row])
        )
        return first, min(nxt, int(self._lengths[row])) - 1

    def _ensure_image(self) -> None:
        key = (self._zoom if self._zoom < 1 else 1.0, len(self._rows), self._layer)
        if self._image is not None and self._image_key == key:
            return
        self._build_image()
        self._image_key = key
        self._build_flag_runs()
        self._build_review_runs()

    def _build_image(self) -> None:
        self.colour_builds += 1
        lengths, offsets = self._lengths, self._offsets
        n_rows = len(lengths)
        max_n = int(lengths.max()) if n_rows else 0
        if self._zoom >= 1:
            row_cols = lengths.copy()
            self._bucket_starts = np.arange(max_n + 1, dtype=np.int64)
        else:
            row_cols = np.asarray(self._columns_of(lengths), dtype=np.int64)
            col = np.floor(np.arange(max_n) * self._zoom).astype(np.int64)
            self._bucket_starts = np.flatnonzero(np.r_[True, np.diff(col) > 0]).astype(np.int64)
        self._row_cols = row_cols
        self._col_offsets = np.concatenate([[0], np.cumsum(row_cols)]).astype(np.int64)
        n_cols = int(row_cols.max()) if n_rows else 0
        row_idx = np.repeat(np.arange(n_rows), row_cols)
        col_idx = np.arange(len(row_idx)) - np.repeat(np.cumsum(row_cols) - row_cols, row_cols)
        flat_starts = offsets[:-1][row_idx] + self._bucket_starts[col_idx]
        self._flat_starts = flat_starts
        good = self._goodness
        if self._zoom >= 1 or len(good) == 0:
            worst = good
            worst_flat = np.arange(len(good), dtype=np.int64)
        else:
            worst = np.minimum.reduceat(good, flat_starts)
            sizes = np.diff(np.r_[flat_starts, len(good)])
            is_min = good == np.repeat(worst, sizes)
            candidates = np.where(is_min, np.arange(len(good)), np.iinfo(np.int64).max)
            worst_flat = np.minimum.reduceat(candidates, flat_starts)
        nan = np.isinf(worst)
        codes = np.where(nan, 256, np.rint(np.where(nan, 0, worst) * 255)).astype(np.int64)
        buffer = np.zeros((n_rows, max(n_cols, 1)), dtype=np.uint32)
        buffer[row_idx, col_idx] = _LUT32[codes]
        self._worst_frame = worst_flat - offsets[:-1][row_idx]
        why = np.where(nan, self._absent[worst_flat] if len(good) else 0, 0)
        self._nan_runs = _runs(nan & (why == ABSENT_UNMEASURABLE), self._col_offsets)
        self._absent_runs = {
            code: _runs(nan & (why == code), self._col_offsets)
            for code in (ABSENT_UNANALYSED, ABSENT_STALE, ABSENT_UNCHECKED)
        }
        self._buffer = buffer
        w, h = buffer.shape[1], max(n_rows, 1)
        if n_rows == 0:
            buffer = np.zeros((1, 1), dtype=np.uint32)
            self._buffer = buffer
        self._image = QImage(buffer.data, w, h, w * 4, QImage.Format.Format_RGB32)

    def _per_column(self, flat: np.ndarray) -> np.ndarray:
        """Per-frame values (flat over rows) reduced to columns by their maximum."""
        if self._zoom >= 1 or len(flat) == 0:
            return flat
        return np.maximum.reduceat(flat, self._flat_starts)

    def _worst_at(self, row: int, col: int) -> int:
        return int(self._worst_frame[self._col_offsets[row] + col])

    def _flat(self, arrays: list[np.ndarray | None], dtype) -> np.ndarray:
        parts = [
            np.zeros(n, dtype) if a is None else np.asarray(a, dtype=dtype)
            for a, n in zip(arrays, self._lengths, strict=True)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    def _build_flag_runs(self) -> None:
        flat = self._flat(self._flagged, np.bool_)
        self._flag_runs = _runs(self._per_column(flat), self._col_offsets)

    def _build_review_runs(self) -> None:
        # In a bucket, reshoot wins over approved, which wins over nothing.
        flat = self._flat(self._review, np.int8)
        priority = np.array([0, 2, 1], dtype=np.int8)[np.clip(flat, 0, 2)]
        cols = self._per_column(priority)
        self._reshoot_runs = _runs(cols == 2, self._col_offsets)
        self._approved_runs = _runs(cols == 1, self._col_offsets)
        notes = self._flat([r.notes for r in self._rows], np.bool_)
        self._note_runs = _runs(self._per_column(notes), self._col_offsets)

    # ----- geometry ---------------------------------------------------------------------------

    def _measure_header(self) -> int:
        fm = QFontMetrics(self.font())
        small = QFontMetrics(self._small_font())
        names = max((fm.horizontalAdvance(r.name) for r in self._rows), default=80)
        worst = small.horizontalAdvance("worst 0.00 at 00:00:00:00")
        return int(min(max(names, 90), 220) + worst + 44)

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def _content_size(self) -> QSize:
        n_cols = int(np.max(self._columns_of(self._lengths))) if len(self._rows) else 0
        return QSize(n_cols * self._col_w(), len(self._rows) * ROW_H)

    def matrix_rect(self) -> QRect:
        """The part of the widget the matrix scrolls in."""
        # isHidden, not isVisible: the layout must be right before the widget is first shown.
        right = self.width() - (0 if self.vbar.isHidden() else self.vbar.width())
        bottom = self.height() - (0 if self.hbar.isHidden() else self.hbar.height())
        top = self._legend_h + RULER_H
        return QRect(self._header_w, top, max(0, right - self._header_w), max(0, bottom - top))

    def _relayout(self) -> None:
        self._legend_h = self._legend_height() if self._rows else LEGEND_H
        if self._fit:
            self._apply_zoom(self._fit_zoom(), anchor=None, emit=True)
        content = self._content_size()
        bar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        top = self._legend_h + RULER_H
        avail_w = self.width() - self._header_w
        avail_h = self.height() - top
        need_v = need_h = False
        for _ in range(2):  # each bar takes room from the other direction
            need_h = content.width() > avail_w - (bar if need_v else 0)
            need_v = content.height() > avail_h - (bar if need_h else 0)
        self.hbar.setVisible(need_h and bool(self._rows))
        self.vbar.setVisible(need_v and bool(self._rows))
        self.hbar.setGeometry(
            self._header_w, self.height() - bar, avail_w - (bar if need_v else 0), bar
        )
        self.vbar.setGeometry(self.width() - bar, top, bar, avail_h - (bar if need_h else 0))
        vp = self.matrix_rect()
        self.hbar.setRange(0, max(0, content.width() - vp.width()))
        self.hbar.setPageStep(max(1, vp.width()))
        self.hbar.setSingleStep(max(self._col_w(), 16))
        self.vbar.setRange(0, max(0, content.height() - vp.height()))
        self.vbar.setPageStep(max(1, vp.height()))
        self.vbar.setSingleStep(ROW_H)

    def resizeEvent(self, event) -> None:
        self._relayout()
        super().resizeEvent(event)

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._header_cache.clear()
            self._header_w = self._measure_header()
            self._relayout()
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self._tiles.clear()
            self.update()
        super().changeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(900, LEGEND_H + RULER_H + ROW_H * max(8, min(len(self._rows), 24)) + 20)

    def _scrolled(self) -> None:
        if self._hover is not None:  # what is under the mouse moved
            self._set_hover(self._column_at(self.mapFromGlobal(QCursor.pos())))
        self.update()

    def _row_y(self, row: int) -> int:
        return self.matrix_rect().y() + row * ROW_H - self.vbar.value()

    def _col_x(self, col: int) -> int:
        return self.matrix_rect().x() + col * self._col_w() - self.hbar.value()

    def frame_rect(self, row: int, frame: int) -> QRect:
        """Where a frame's cell is drawn, in widget coordinates (its column, when compressed)."""
        col = self._col_of_frame(frame)
        return QRect(self._col_x(col), self._row_y(row) + CELL_TOP, self._col_w(), CELL_H)

    def _column_at(self, pos: QPoint, clamp: bool = False) -> tuple[int, int] | None:
        vp = self.matrix_rect()
        if not self._rows or (not clamp and not vp.contains(pos)):
            return None
        row = (pos.y() - vp.y() + self.vbar.value()) // ROW_H
        col = (pos.x() - vp.x() + self.hbar.value()) // self._col_w()
        if not 0 <= row < len(self._rows):
            return None
        self._ensure_image()
        n_cols = int(self._row_cols[row])
        if clamp:
            col = min(max(col, 0), n_cols - 1)
        if not 0 <= col < n_cols:
            return None
        return int(row), int(col)

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        """The (row, frame) under a widget position; for a compressed column, its worst frame."""
        hit = self._column_at(pos)
        if hit is None:
            return None
        row, col = hit
        return row, self._worst_at(row, col)

    # ----- zoom -------------------------------------------------------------------------------

    def zoom(self) -> float:
        """Pixels per frame."""
        return self._zoom

    def set_zoom(self, pixels_per_frame: float) -> None:
        """Pixels per frame; whole numbers from 1 up (so cells are equal), any fraction below."""
        if not pixels_per_frame > 0:
            raise ValueError(f"Zoom must be more than 0 pixels per frame, not {pixels_per_frame}.")
        self._fit = False
        self._apply_zoom(pixels_per_frame, anchor=self._centre_anchor(), emit=True)
        self._relayout()

    def fit_width(self) -> None:
        """Compress (or widen) so the longest shot fits the visible width; follows resizes."""
        self._fit = True
        self._relayout()
        self.update()

    def zoom_in(self) -> None:
        self._step_zoom(2.0, self._centre_anchor())

    def zoom_out(self) -> None:
        self._step_zoom(0.5, self._centre_anchor())

    def _step_zoom(self, factor: float, anchor: int | None) -> None:
        self._fit = False
        z = self._zoom * factor
        if factor > 1 and 0.5 < self._zoom < 1:
            z = 1.0  # 0.8 -> 1, not 1.6 -> 2: land on "one pixel a frame" on the way up
        self._apply_zoom(z, anchor=anchor, emit=True)
        self._relayout()

    def _centre_anchor(self) -> int:
        return self.matrix_rect().width() // 2

    def _fit_zoom(self) -> float:
        longest = int(self._lengths.max()) if len(self._lengths) else 0
        bar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        too_tall = len(self._rows) * ROW_H > self.height() - self._legend_h - RULER_H
        width = self.width() - self._header_w - (bar if too_tall else 0) - 1
        if longest == 0 or width <= 0:
            return self._zoom
        return width / longest

    def _apply_zoom(self, z: float, anchor: int | None, emit: bool) -> None:
        z = min(MAX_ZOOM, max(MIN_ZOOM, z))
        if z >= 1:
            z = float(math.floor(z + 1e-9)) if self._fit else float(round(z))
        if z == self._zoom:
            return
        old = self._zoom
        frame_at = None
        if anchor is not None:
            frame_at = (self.hbar.value() + anchor) / (old if old < 1 else int(old))
        self._zoom = z
        self._hover = None
        self._image_key = None if (old < 1 or z < 1) else self._image_key
        if frame_at is not None:
            self._relayout()
            self.hbar.setValue(round(frame_at * (z if z < 1 else int(z)) - anchor))
        self.update()
        if emit:
            self.zoom_changed.emit(z)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            # Fine-grained wheels and touchpads send small deltas: a notch (120) per step.
            self._wheel_zoom += delta.y()
            x = int(event.position().x()) - self.matrix_rect().x()
            anchor = min(max(x, 0), self.matrix_rect().width())
            while abs(self._wheel_zoom) >= 120:
                up = self._wheel_zoom > 0
                self._wheel_zoom -= 120 if up else -120
                self._step_zoom(2.0 if up else 0.5, anchor)
            event.accept()
            return
        horizontal = delta.x() or (
            delta.y() if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 0
        )
        if horizontal:
            self.hbar.setValue(self.hbar.value() - horizontal * self.hbar.singleStep() // 40)
        elif delta.y():
            self.vbar.setValue(self.vbar.value() - delta.y() * ROW_H // 40)
        event.accept()

    # ----- selection --------------------------------------------------------------------------

    def selection(self) -> tuple[int, int, int] | None:
        """(row, first frame, last frame), or None."""
        return self._selection

    def select(self, row: int, first: int, last: int | None = None) -> None:
        """Select frames first..last of a row and scroll to them; emits nothing."""
        last = first if last is None else last
        if not 0 <= row < len(self._rows):
            raise ValueError(f"No row {row}: there are {len(self._rows)} shots.")
        n = int(self._lengths[row])
        if not (0 <= first < n and 0 <= last < n):
            raise ValueError(f"Row {row} has frames 0..{n - 1}; cannot select {first}..{last}.")
        first, last = min(first, last), max(first, last)
        self._set_selection(row, first, last, cursor=last)
        self._anchor = (row, first)
        self.ensure_visible(row, self._cursor[1])

    def clear_selection(self) -> None:
        self._selection = self._cursor = self._anchor = None
        self.update()

    def _set_selection(self, row: int, first: int, last: int, cursor: int) -> None:
        self._selection = (row, first, last)
        self._cursor = (row, cursor)
        self.update()

    def ensure_visible(self, row: int, frame: int) -> None:
        """Scroll so the frame's cell is in view."""
        vp = self.matrix_rect()
        x = self._col_of_frame(frame) * self._col_w()
        y = row * ROW_H
        if x < self.hbar.value():
            self.hbar.setValue(x - self._col_w() * 4)
        elif x + self._col_w() > self.hbar.value() + vp.width():
            self.hbar.setValue(x + self._col_w() * 5 - vp.width())
        if y < self.vbar.value():
            self.vbar.setValue(y)
        elif y + ROW_H > self.vbar.value() + vp.height():
            self.vbar.setValue(y + ROW_H - vp.height())

    # ----- mouse and keys ---------------------------------------------------------------------

    def contextMenuEvent(self, event) -> None:
        """A right-click on a frame: the workspace shows its menu (the selection stays when the
        frame is in it, so a range can be flagged at once)."""
        hit = self.cell_at(event.pos())
        if hit is None:
            return super().contextMenuEvent(event)
        self.context_menu_requested.emit(hit[0], hit[1], event.globalPos())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        hit = self._column_at(event.position().toPoint())
        if hit is None:
            return super().mousePressEvent(event)
        row, col = hit
        frame = self._worst_at(row, col)
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if shift and self._anchor is not None and self._anchor[0] == row:
            self._extend_to(row, col)
        else:
            self._anchor = (row, frame)
            self._set_selection(row, frame, frame, frame)
            self.frame_clicked.emit(row, frame)
        self._pressed_col = col
        event.accept()

    def _extend_to(self, row: int, col: int) -> None:
        """Select from the anchor to a column's bucket, whole buckets when compressed."""
        anchor = self._anchor[1]
        a_first, a_last = self._bucket(self._col_of_frame(anchor), row)
        first, last = self._bucket(col, row)
        if self._col_of_frame(anchor) == col:
            lo = hi = anchor
        else:
            lo, hi = min(first, a_first, anchor), max(last, a_last, anchor)
            if self._zoom >= 1:
                lo, hi = min(anchor, first), max(anchor, last)
        cursor = hi if first >= anchor else lo
        self._set_selection(row, lo, hi, cursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if event.buttons() & Qt.MouseButton.LeftButton and self._pressed_col is not None:
            row = self._anchor[0]
            hit = self._column_at(QPoint(pos.x(), self._row_y(row) + CELL_TOP), clamp=True)
            if hit is not None:
                self._extend_to(row, hit[1])
        self._set_hover(self._column_at(pos))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._pressed_col is not None:
            self._pressed_col = None
            if self._selection is not None:
                self.range_selected.emit(*self._selection)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self._set_hover(None)
        super().leaveEvent(event)

    def _set_hover(self, hit: tuple[int, int] | None) -> None:
        if hit == self._hover:
            return
        old, self._hover = self._hover, hit
        for cell in (old, hit):
            if cell is not None:
                r, c = cell
                self.update(
                    QRect(self._col_x(c), self._row_y(r), self._col_w(), ROW_H).adjusted(
                        -3, -3, 3, 3
                    )
                )
        if hit is None:
            self.frame_hovered.emit(-1, -1)
        else:
            self.frame_hovered.emit(hit[0], self._worst_at(*hit))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        keys = (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
            Qt.Key.Key_Up,
            Qt.Key.Key_Down,
            Qt.Key.Key_Home,
            Qt.Key.Key_End,
        )
        if key not in keys or not self._rows:
            return super().keyPressEvent(event)
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        row, frame = self._cursor if self._cursor is not None else (0, -1)
        if self._cursor is None and key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            frame = 0
        n = int(self._lengths[row])
        if key == Qt.Key.Key_Left:
            frame -= 1
        elif key == Qt.Key.Key_Right:
            frame += 1
        elif key == Qt.Key.Key_Home:
            frame = 0
        elif key == Qt.Key.Key_End:
            frame = n - 1
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            step = -1 if key == Qt.Key.Key_Up else 1
            target = row + step
            while 0 <= target < len(self._rows) and self._lengths[target] == 0:
                target += step  # skip shots without frames
            if not 0 <= target < len(self._rows):
                event.accept()
                return
            row, shift = target, False
            n = int(self._lengths[row])
        if n == 0:
            event.accept()
            return
        frame = min(max(frame, 0), n - 1)
        if shift and self._anchor is not None and self._anchor[0] == row:
            a = self._anchor[1]
            self._set_selection(row, min(a, frame), max(a, frame), frame)
        else:
            self._anchor = (row, frame)
            self._set_selection(row, frame, frame, frame)
        self.ensure_visible(row, frame)
        self.frame_clicked.emit(row, frame)
        self.range_selected.emit(*self._selection)
        event.accept()

    # ----- tooltips ---------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(event.pos())
            if cell is None:
                QToolTip.hideText()
                event.ignore()
                return True
            provider = self.tooltip_provider or self.tooltip_text
            rect = self.frame_rect(*cell)
            QToolTip.showText(event.globalPos(), provider(*cell), self, rect)
            return True
        return super().event(event)

    def timecode(self, row: int, frame: int) -> str:
        """A frame's timecode (see core.timecode); from fps alone when there are no times."""
        r = self._rows[row]
        seconds = None
        if r.times is not None:
            seconds = float(r.times[frame])
        elif r.fps:
            seconds = frame / r.fps
        return format_timecode(seconds, r.fps, frame)

    def tooltip_text(self, row: int, frame: int) -> str:
        """The default tooltip: shot, frame, timecode, every layer's value, flag and review."""
        r = self._rows[row]
        lines = [r.name]
        where = f"frame {frame + 1}"
        if self._zoom < 1:
            first, last = self._bucket(self._col_of_frame(frame), row)
            if last > first:
                where += f" (worst of {first + 1}–{last + 1})"
        tc = self.timecode(row, frame)
        lines.append(where if tc.startswith("frame") else f"{where} · {tc}")
        names = list(self._scales) + [k for k in r.values if k not in self._scales]
        for name in names:
            scale = self._scales.get(name)
            label = _short_label(scale) if scale else name
            v = r.values.get(name)
            value = float(v[frame]) if v is not None else math.nan
            text = f"{value:.2f}"
            if math.isnan(value):
                codes = (r.absent or {}).get(name)
                code = int(codes[frame]) if codes is not None else ABSENT_UNMEASURABLE
                text = ABSENT_WORDS.get(code, ABSENT_WORDS[ABSENT_UNMEASURABLE])
            mark = "▸ " if name == self._layer else "   "
            lines.append(f"{mark}{label}: {text}")
        state = []
        if bool(self._flagged[row][frame]):
            state.append("flagged")
        review = int(self._review[row][frame])
        if review == REVIEW_RESHOOT:
            state.append("reshoot")
        elif review == REVIEW_APPROVED:
            state.append("approved")
        if r.notes is not None and bool(r.notes[frame]):
            state.append("has a note")
        if state:
            lines.append(" · ".join(state))
        return "\n".join(lines)

    def worst_text(self, row: int) -> str:
        """The shot's worst frame on the current layer, e.g. "worst 0.71 at 00:00:03:12"."""
        if self._lengths[row] == 0:
            return "no frames"
        worst = self._worst[row]
        if worst is None:
            start = int(self._offsets[row])
            codes = self._absent[start : start + int(self._lengths[row])]
            code = int(np.bincount(codes).argmax()) if len(codes) else ABSENT_UNMEASURABLE
            return ABSENT_WORDS.get(code, ABSENT_WORDS[ABSENT_UNMEASURABLE]).split(":")[0]
        frame, value = worst
        return f"worst {value:.2f} at {self.timecode(row, frame)}"

    # ----- painting ---------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        pal = self.palette()
        clip = event.rect()
        painter.fillRect(clip, pal.window())
        if not self._rows:
            self._paint_empty(painter)
            painter.end()
            return
        self._ensure_image()
        if clip.top() < self._legend_h:
            self._paint_legend(painter)
        vp = self.matrix_rect()
        if clip.top() < vp.top() and clip.right() >= vp.left():
            self._paint_ruler(painter, vp)
        if clip.left() < vp.left():
            self._paint_headers(painter, vp, clip)
        painter.save()
        painter.setClipRect(vp & clip)
        painter.translate(vp.x() - self.hbar.value(), vp.y() - self.vbar.value())
        content_clip = (vp & clip).translated(
            self.hbar.value() - vp.x(), self.vbar.value() - vp.y()
        )
        self._paint_matrix(painter, content_clip, interactive=True)
        painter.restore()
        painter.end()

    def _paint_empty(self, painter: QPainter) -> None:
        pal = self.palette()
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.setPen(pal.placeholderText().color())
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_TEXT)

    def _dark(self) -> bool:
        return self.palette().base().color().lightness() < 128

    def _paint_absent(self, painter: QPainter, rect: QRect, code: int) -> None:
        """A cell with no value for a reason other than "not measurable"."""
        base, lines = self._nan_colours()
        pal = self.palette()
        if code == ABSENT_UNANALYSED:  # empty: nothing is known yet
            painter.fillRect(rect, pal.base())
            painter.fillRect(rect.adjusted(0, CELL_H // 2, 0, -(CELL_H // 2) + 1), lines)
        elif code == ABSENT_STALE:  # known once, out of date now: the inspector's stale blue
            tint = QColor("#3d4660") if self._dark() else QColor("#c3cbe0")
            painter.fillRect(rect, tint)
            painter.fillRect(rect, QBrush(QColor("#6f7fa8"), Qt.BrushStyle.Dense6Pattern))
        else:  # not checked: a plain, quiet cell
            painter.fillRect(rect, base)

    def _nan_colours(self) -> tuple[QColor, QColor]:
        if self._dark():
            return QColor("#3a3b42"), QColor("#7d7e87")
        return QColor("#d5d5da"), QColor("#8e8f96")

    def _tile(self, kind: str, w: int) -> QPixmap:
        """A one-column stamp tiled over a run of frames: a flag mark or a note dot."""
        key = (kind, w, self._dark())
        tile = self._tiles.get(key)
        if tile is not None:
            return tile
        h = FLAG_H if kind == "flag" else CELL_H
        tile = QPixmap(w, h)
        tile.fill(Qt.GlobalColor.transparent)
        p = QPainter(tile)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        if kind == "flag":
            p.setBrush(FLAG_COLOUR)
            half = min(w - 1, 8) / 2
            c = w / 2
            p.drawPolygon(
                [QPointF(c - half, 0), QPointF(c + half, 0), QPointF(c, FLAG_H)],
            )
        else:  # a note: a small dot in the cell's top right corner, ringed for contrast
            p.setBrush(QColor("white"))
            p.setPen(QPen(QColor(20, 20, 24), 1))
            r = min(2.5, w / 3)
            p.drawEllipse(QPointF(w - r - 1.5, r + 1.5), r, r)
        p.end()
        self._tiles[key] = tile
        return tile

    @staticmethod
    def _visible_runs(runs, row: int, c0: int, c1: int):
        starts, ends = runs[row]
        if not starts:
            return ()
        lo = bisect.bisect_right(ends, c0)
        hi = bisect.bisect_left(starts, c1)
        return zip(starts[lo:hi], ends[lo:hi], strict=True)

    def _paint_matrix(self, painter: QPainter, clip: QRect, interactive: bool) -> None:
        """The matrix in content coordinates (x = column * width, y = row * ROW_H)."""
        pal = self.palette()
        painter.fillRect(clip, pal.base())
        cw = self._col_w()
        r0 = max(0, clip.top() // ROW_H)
        r1 = min(len(self._rows), clip.bottom() // ROW_H + 1)
        c0 = max(0, clip.left() // cw)
        c1 = clip.right() // cw + 1
        nan_base, nan_lines = self._nan_colours()
        hatch = QBrush(nan_lines, Qt.BrushStyle.BDiagPattern)
        flag_tile = self._tile("flag", cw) if cw >= 5 else None
        note_tile = self._tile("note", cw) if cw >= 7 else None
        for r in range(r0, r1):
            end = min(c1, int(self._row_cols[r]))
            if end <= c0:
                continue
            y = r * ROW_H
            painter.drawImage(
                QRect(c0 * cw, y + CELL_TOP, (end - c0) * cw, CELL_H),
                self._image,
                QRect(c0, r, end - c0, 1),
            )
            for s, e in self._visible_runs(self._nan_runs, r, c0, end):
                rect = QRect(s * cw, y + CELL_TOP, (e - s) * cw, CELL_H)
                painter.fillRect(rect, nan_base)
                painter.fillRect(rect, hatch)
            for code, runs in self._absent_runs.items():
                for s, e in self._visible_runs(runs, r, c0, end):
                    self._paint_absent(painter, QRect(s * cw, y + CELL_TOP, (e - s) * cw, CELL_H),
                                       code)  # fmt: skip
            for s, e in self._visible_runs(self._flag_runs, r, c0, end):
                if flag_tile is not None:
                    painter.drawTiledPixmap(
                        QRect(s * cw, y + FLAG_TOP, (e - s) * cw, FLAG_H), flag_tile
                    )
                else:
                    painter.fillRect(
                        QRect(s * cw, y + FLAG_TOP, (e - s) * cw, FLAG_H - 1), FLAG_COLOUR
                    )
            for s, e in self._visible_runs(self._reshoot_runs, r, c0, end):
                painter.fillRect(
                    QRect(s * cw, y + REVIEW_TOP, (e - s) * cw, REVIEW_H), RESHOOT_COLOUR
                )
            for s, e in self._visible_runs(self._approved_runs, r, c0, end):
                # Approved: a thinner line, so it differs from "reshoot" by more than hue.
                painter.fillRect(
                    QRect(s * cw, y + REVIEW_TOP + 1, (e - s) * cw, REVIEW_H - 1),
                    APPROVED_COLOUR,
                )
            for s, e in self._visible_runs(self._note_runs, r, c0, end):
                rect = QRect(s * cw, y + CELL_TOP, (e - s) * cw, CELL_H)
                if note_tile is not None:
                    painter.drawTiledPixmap(rect, note_tile)
                else:
                    painter.fillRect(
                        QRect(s * cw, y + CELL_TOP, (e - s) * cw, 2), pal.text().color()
                    )
        if not interactive:
            return
        if self._selection is not None:
            row, first, last = self._selection
            x0 = self._col_of_frame(first) * cw
            x1 = (self._col_of_frame(last) + 1) * cw
            rect = QRect(x0, row * ROW_H + CELL_TOP, x1 - x0, CELL_H)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(pal.base().color(), 1))
            painter.drawRect(rect.adjusted(-1, -1, 0, 0))
            painter.setPen(QPen(pal.highlight().color(), 2))
            painter.drawRect(rect.adjusted(-2, -2, 1, 1))
        if self._hover is not None:
            r, c = self._hover
            rect = QRect(c * cw, r * ROW_H + CELL_TOP, cw, CELL_H).adjusted(-1, -1, 0, 0)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(pal.text().color(), 1))
            painter.drawRect(rect)

    def _header_texts(self, row: int) -> tuple[QStaticText, QStaticText, int]:
        """The row's name (elided to fit) and worst-frame summary, laid out once."""
        cached = self._header_cache.get(row)
        if cached is None:
            worst = self.worst_text(row)
            worst_w = QFontMetrics(self._small_font()).horizontalAdvance(worst)
            name = QFontMetrics(self.font()).elidedText(
                self._rows[row].name, Qt.TextElideMode.ElideRight, self._header_w - worst_w - 30
            )
            statics = []
            for text in (name, worst):
                st = QStaticText(text)
                st.setTextFormat(Qt.TextFormat.PlainText)
                statics.append(st)
            cached = (statics[0], statics[1], worst_w)
            self._header_cache[row] = cached
        return cached

    def _paint_headers(self, painter: QPainter, vp: QRect, clip: QRect) -> None:
        pal = self.palette()
        painter.save()
        painter.setClipRect(QRect(0, vp.top(), self._header_w, vp.height()) & clip)
        small = self._small_font()
        name_dy = (ROW_H - 1 - QFontMetrics(self.font()).height()) // 2
        worst_dy = (ROW_H - 1 - QFontMetrics(small).height()) // 2
        sel_row = self._selection[0] if self._selection else -1
        first = max(0, (max(clip.top(), vp.top()) - vp.top() + self.vbar.value()) // ROW_H)
        last = min(len(self._rows), (clip.bottom() - vp.top() + self.vbar.value()) // ROW_H + 1)
        y = self._row_y(first)
        text, muted = pal.text().color(), pal.placeholderText().color()
        for r in range(first, last):
            if r == sel_row:
                painter.fillRect(QRect(0, y, self._header_w - 4, ROW_H - 1), pal.alternateBase())
                painter.fillRect(QRect(0, y, 3, ROW_H - 1), pal.highlight())
            name, worst, worst_w = self._header_texts(r)
            painter.setFont(self.font())
            painter.setPen(text)
            painter.drawStaticText(8, y + name_dy, name)
            painter.setFont(small)
            painter.setPen(muted)
            painter.drawStaticText(self._header_w - 10 - worst_w, y + worst_dy, worst)
            y += ROW_H
        painter.restore()

    def ruler_marks(self, vp: QRect | None = None) -> list[tuple[int, int]]:
        """The frame ruler's ticks as (x in the widget, frame number from 1), left to right."""
        vp = vp or self.matrix_rect()
        ppf = self._zoom if self._zoom < 1 else float(int(self._zoom))
        step = 1
        for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
            step = s
            if s * ppf >= 56:
                break
        else:
            step = int(10 ** math.ceil(math.log10(56 / ppf)))
        longest = int(self._lengths.max()) if len(self._lengths) else 0
        f0 = int(self.hbar.value() / ppf) // step * step
        f1 = min(longest, int((self.hbar.value() + vp.width()) / ppf) + step)
        # Frames are numbered from 1, as the tooltip, the inspector and the report number them:
        # a tick marks the start of frame n.
        numbers = ([1] if f0 <= 1 else []) + list(range(max(step, f0), f1 + 2, step))
        return [
            (vp.left() + int(round((n - 1) * ppf)) - self.hbar.value(), n)
            for n in dict.fromkeys(numbers)
        ]

    def _paint_ruler(self, painter: QPainter, vp: QRect) -> None:
        pal = self.palette()
        painter.save()
        top = vp.top() - RULER_H
        painter.setClipRect(QRect(vp.left(), top, vp.width(), RULER_H))
        painter.setFont(self._small_font())
        painter.setPen(pal.placeholderText().color())
        for x, n in self.ruler_marks(vp):
            painter.drawLine(x, top + RULER_H - 4, x, top + RULER_H - 1)
            if x + 3 + painter.fontMetrics().horizontalAdvance(str(n)) <= vp.right():
                painter.drawText(QPoint(x + 3, top + RULER_H - 4), str(n))  # whole labels only
        painter.restore()

    def _legend_parts(self) -> tuple[str, str, str, str]:
        """The legend's title, low and high labels, and the hint after the gradient."""
        scale = self._scales.get(self._layer)
        if scale is None:
            return self._layer or "—", "", "", ""
        hint = "higher is better" if scale.higher_is_better else "lower is better"
        if scale.threshold is not None:
            hint += f" · threshold {scale.threshold:.2f}"
        return scale.label, f"{scale.lo:.2f}", f"{scale.hi:.2f}", hint

    def _legend_height(self) -> int:
        """One line when the scale and the marks fit side by side, else two."""
        title, lo, hi, hint = self._legend_parts()
        bold = QFont(self.font())
        bold.setBold(True)
        sfm = QFontMetrics(self._small_font())
        scale_w = QFontMetrics(bold).horizontalAdvance(title) + 14
        if hint:
            scale_w += sfm.horizontalAdvance(lo + hi + hint) + GRADIENT_W + 33
        marks_w = sum(34 + sfm.horizontalAdvance(text) for _, text in LEGEND_MARKS)
        return LEGEND_H if 8 + scale_w + marks_w <= self.width() else 2 * LEGEND_H - 8

    def _paint_legend(self, painter: QPainter) -> None:
        pal = self.palette()
        scale = self._scales.get(self._layer)
        title, lo_text, hi_text, hint = self._legend_parts()
        painter.save()
        small = self._small_font()
        sfm = QFontMetrics(small)
        mid = LEGEND_H // 2
        x = 8
        painter.setPen(pal.text().color())
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QPoint(x, mid + QFontMetrics(bold).ascent() // 2 - 1), title)
        x += QFontMetrics(bold).horizontalAdvance(title) + 14
        painter.setFont(small)
        baseline = mid + sfm.ascent() // 2 - 1
        if scale is not None:
            painter.drawText(QPoint(x, baseline), lo_text)
            x += sfm.horizontalAdvance(lo_text) + 4
            bar = QRect(x, mid - 5, GRADIENT_W, 10)
            lut = _LUT32[:256] if scale.higher_is_better else _LUT32[:256][::-1]
            grad_buf = np.ascontiguousarray(lut)
            grad = QImage(grad_buf.data, 256, 1, 256 * 4, QImage.Format.Format_RGB32).copy()
            painter.drawImage(bar, grad)
            if scale.threshold is not None and scale.hi != scale.lo:
                t = (scale.threshold - scale.lo) / (scale.hi - scale.lo)
                tx = bar.left() + round(min(1.0, max(0.0, t)) * (bar.width() - 1))
                painter.setPen(QPen(pal.text().color(), 2))
                painter.drawLine(tx, bar.top() - 4, tx, bar.bottom() + 3)
            x = bar.right() + 6
            painter.setPen(pal.text().color())
            painter.drawText(QPoint(x, baseline), hi_text)
            x += sfm.horizontalAdvance(hi_text) + 6
            painter.setPen(pal.placeholderText().color())
            painter.drawText(QPoint(x, baseline), hint)
            x += sfm.horizontalAdvance(hint) + 18
        if self._legend_h > LEGEND_H:  # the marks go on a second line
            x, mid = 8, mid + LEGEND_H - 8
        for kind, text in LEGEND_MARKS:
            x = self._legend_item(painter, x, mid, kind, text)
        painter.restore()

    def _legend_item(self, painter: QPainter, x: int, mid: int, kind: str, text: str) -> int:
        pal = self.palette()
        sfm = painter.fontMetrics()
        cell = QRect(x, mid - CELL_H // 2, 14, CELL_H)
        sample = QColor(*colormap.colour_at(0.85))
        if kind == "nan":
            base, lines = self._nan_colours()
            painter.fillRect(cell, base)
            painter.fillRect(cell, QBrush(lines, Qt.BrushStyle.BDiagPattern))
        elif kind in ("unanalysed", "stale", "unchecked"):
            code = {"unanalysed": ABSENT_UNANALYSED, "stale": ABSENT_STALE}.get(kind)
            painter.setPen(self._nan_colours()[1])
            painter.drawRect(cell.adjusted(0, 0, -1, -1))
            self._paint_absent(painter, cell.adjusted(1, 1, -1, -1), code or ABSENT_UNCHECKED)
        elif kind == "flag":
            cell.adjust(0, 2, 0, 0)
            painter.fillRect(cell, sample)
            painter.drawPixmap(x + 3, cell.top() - FLAG_H - 1, self._tile("flag", 8))
        elif kind == "reshoot":
            painter.fillRect(QRect(x, mid + 2, 14, REVIEW_H), RESHOOT_COLOUR)
        elif kind == "approved":
            painter.fillRect(QRect(x, mid + 3, 14, REVIEW_H - 1), APPROVED_COLOUR)
        elif kind == "note":
            painter.fillRect(cell, sample)
            painter.drawPixmap(x + 14 - 9, cell.top(), self._tile("note", 9))
        painter.setPen(pal.text().color())
        painter.drawText(QPoint(x + 18, mid + sfm.ascent() // 2 - 1), text)
        return x + 34 + sfm.horizontalAdvance(text)

    def render_matrix(self) -> QImage:
        """The whole matrix at the current zoom with its marks (no legend, names or selection)."""
        self._ensure_image()
        size = self._content_size()
        image = QImage(max(1, size.width()), max(1, size.height()), QImage.Format.Format_RGB32)
        image.fill(self.palette().base().color())
        if self._rows:
            painter = QPainter(image)
            self._paint_matrix(painter, QRect(0, 0, size.width(), size.height()), False)
            painter.end()
        return image


__all__ = [
    "ABSENT_STALE",
    "ABSENT_UNANALYSED",
    "ABSENT_UNCHECKED",
    "ABSENT_UNMEASURABLE",
    "DriftHeatmap",
    "HeatRow",
    "LayerScale",
]
