"""Item models of the reference library: one row per reference, thumbnails decoded off-thread."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QImage, QPixmap

from studio.services import library

ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the LibraryRow
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
PICTURE = 160  # a tile's picture: thumbnails are scaled to it once, off the GUI thread


@dataclass(frozen=True)
class LibraryRow:
    """What a tile shows: the reference and, once audited, its faces and verdict."""

    reference: Any  # studio.core.records.Reference
    status: str  # approved | ok | suspect | quarantined | pending
    faces: int | None = None
    agreement: float | None = None
    flags: tuple[str, ...] = ()
    face: Any = None  # studio.core.faces.Face of the persona, when found
    quality: float | None = None  # 0..1, for sorting
    group: int | None = None  # near-duplicate group (resized or re-encoded copies of one picture)
    near_of: tuple[str, ...] = ()  # the file names of the others in its near-duplicate group

    @property
    def id(self) -> str:
        return self.reference.id


def near_text(names: tuple[str, ...], most: int = 3) -> str:
    """'a.jpg', 'a.jpg and b.jpg' or 'a.jpg, b.jpg, c.jpg and 2 more'."""
    shown = list(names[:most])
    if len(names) > most:
        return f"{', '.join(shown)} and {len(names) - most} more"
    return " and ".join(shown) if len(shown) < 3 else f"{', '.join(shown[:-1])} and {shown[-1]}"


class _ThumbnailSignals(QObject):
    loaded = Signal(str, QImage)


class ThumbnailLoader:
    """Reads cached thumbnails on two threads, newest request first, for the tiles in view.

    Scrolling fast through thousands of tiles asks for many pictures the user has already
    scrolled past: the newest requests are served first and requests beyond `backlog` are
    dropped (their tiles ask again if they come back into view). Each picture is decoded and
    scaled to the tile's picture size off the GUI thread; the GUI thread only wraps it.
    """

    def __init__(self, signals: _ThumbnailSignals, size: int, picture: int, backlog: int = 256):
        self._signals = signals
        self._size = size
        self._picture = picture
        self._backlog = backlog
        self._stack: list[tuple[object, str]] = []
        self._busy = 0
        self._closed = False
        self._lock = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, name="thumbnails", daemon=True) for _ in range(2)
        ]
        for t in self._threads:
            t.start()

    def request(self, project, sha: str) -> list[str]:
        """Queue a read; returns the requests dropped to keep the backlog bounded."""
        with self._lock:
            self._stack.append((project, sha))
            dropped = []
            if len(self._stack) > self._backlog:
                dropped = [s for _, s in self._stack[: -self._backlog]]
                del self._stack[: -self._backlog]
            self._lock.notify()
            return dropped

    def clear(self) -> None:
        with self._lock:
            self._stack.clear()

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: not self._stack and not self._busy, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stack.clear()
            self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._stack or self._closed)
                if self._closed:
                    return
                project, sha = self._stack.pop()  # newest first: the tiles in view now
                self._busy += 1
            try:
                image = self._read(project, sha)
                if image is not None:
                    self._signals.loaded.emit(sha, image)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    def _read(self, project, sha: str) -> QImage | None:
        try:
            data = library.get_thumbnail(project, sha, self._size)
        except Exception:  # the project was closed meanwhile
            return None
        image = QImage()
        if not data or not image.loadFromData(data):
            return None
        return image.scaled(
            self._picture,
            self._picture,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )


class ReferenceListModel(QAbstractListModel):
    """The references of one persona; paints from memory, never queries the project in data()."""

    THUMB = library.THUMBNAIL_SIZE
    PICTURE = PICTURE
    CACHE = 1500  # pictures kept in memory (~150 MB at most), least recently shown dropped

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[LibraryRow] = []
        self._row_of: dict[str, int] = {}
        self._rows_of_blob: dict[str, list[int]] = {}
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self._project = None
        self._signals = _ThumbnailSignals(self)
        self._signals.loaded.connect(self._thumbnail_loaded)
        self._loader = ThumbnailLoader(self._signals, self.THUMB, self.PICTURE)
        self.destroyed.connect(self._loader.close)

    def set_rows(self, project, rows: list[LibraryRow]) -> None:
        """Replace every row (a persona switch or a reload)."""
        self.beginResetModel()
        if project is not self._project:
            self._pixmaps.clear()
            self._pending.clear()
            self._loader.clear()
        self._project = project
        self._rows = list(rows)
        self._row_of = {r.id: i for i, r in enumerate(self._rows)}
        self._rows_of_blob = {}
        for i, r in enumerate(self._rows):
            self._rows_of_blob.setdefault(r.reference.blob_sha, []).append(i)
        self.endResetModel()

    def update_rows(self, rows: list[LibraryRow]) -> None:
        """Replace changed rows in place (status, tags, audit results)."""
        for row in rows:
            i = self._row_of.get(row.id)
            if i is not None:
                self._rows[i] = row
                index = self.index(i)
                self.dataChanged.emit(index, index)

    def forget_thumbnails(self) -> None:
        """Let tiles without a picture ask again (after a thumbnail job finished)."""
        self._pending.clear()
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1))

    def rows(self) -> list[LibraryRow]:
        return list(self._rows)

    def row_at(self, i: int) -> LibraryRow:
        return self._rows[i]

    def cached_pixmap(self, sha: str) -> QPixmap | None:
        """The picture of a blob if it is in memory (never starts a read)."""
        return self._pixmaps.get(sha)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.reference.file_name
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(row.reference.blob_sha)
        if role == Qt.ItemDataRole.ToolTipRole:
            ref = row.reference
            tags = ", ".join(ref.tags) or "no tags"
            text = f"{ref.file_name}\n{ref.width}×{ref.height} · {row.status} · {tags}"
            if row.near_of:
                text += f"\nnear-duplicate of {near_text(row.near_of)}"
            return text
        return None

    def flags(self, index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def _pixmap(self, sha: str) -> QPixmap | None:
        pixmap = self._pixmaps.get(sha)
        if pixmap is not None:
            self._pixmaps.move_to_end(sha)
        elif sha not in self._pending and self._project is not None:
            self._pending.add(sha)
            self._pending.difference_update(self._loader.request(self._project, sha))
        return pixmap

    def _thumbnail_loaded(self, sha: str, image: QImage) -> None:
        self._pending.discard(sha)
        self._pixmaps[sha] = QPixmap.fromImage(image)
        while len(self._pixmaps) > self.CACHE:
            self._pixmaps.popitem(last=False)
        for i in self._rows_of_blob.get(sha, ()):
            index = self.index(i)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def wait_for_thumbnails(self, msecs: int = 10000) -> bool:
        """Block until queued thumbnail reads finish (tests and screenshots)."""
        return self._loader.wait_idle(msecs / 1000)


SORT_KEYS = {
    "agreement": lambda r: -1.0 if r.agreement is None else r.agreement,
    "quality": lambda r: -1.0 if r.quality is None else r.quality,
    "date": lambda r: r.reference.imported_at,
    "name": lambda r: r.reference.file_name.lower(),
    "group": lambda r: (-1 if r.group is None else r.group, r.reference.imported_at),
}


class ReferenceFilterModel(QSortFilterProxyModel):
    """Filters by status, tag or name text, quality flag and yaw range; sorts by a chosen key."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.statuses: set[str] = set()  # empty: all
        self.text = ""
        self.flag = ""
        self.yaw_range: tuple[float, float] | None = None
        self.near_duplicates_only = False
        self.sort_key = "date"
        self.setDynamicSortFilter(True)

    def set_filter(self, **kw: Any) -> None:
        for key, value in kw.items():
            setattr(self, key, value)
        self.invalidate()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        row: LibraryRow = self.sourceModel().row_at(source_row)
        if self.statuses and row.status not in self.statuses:
            return False
        if self.near_duplicates_only and row.group is None:
            return False
        if self.flag and self.flag not in row.flags:
            return False
        if self.text:
            t = self.text.lower()
            ref = row.reference
            if t not in ref.file_name.lower() and not any(t in tag.lower() for tag in ref.tags):
                return False
        if self.yaw_range is not None:
            if row.face is None:
                return False
            lo, hi = self.yaw_range
            if not lo <= row.face.yaw <= hi:
                return False
        return True

    def lessThan(self, left, right) -> bool:
        key = SORT_KEYS["group" if self.near_duplicates_only else self.sort_key]
        a = self.sourceModel().row_at(left.row())
        b = self.sourceModel().row_at(right.row())
        return key(a) < key(b)
