"""Item models of the reference library: one row per reference, thumbnails decoded off-thread."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
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
    group: int | None = None  # near-duplicate group, once asked for

    @property
    def id(self) -> str:
        return self.reference.id


class _ThumbnailSignals(QObject):
    loaded = Signal(str, QImage)


def _read_thumbnail(project, blob_sha: str, size: int, signals: _ThumbnailSignals) -> None:
    """Pool thread: read one cached thumbnail and decode it; the GUI thread gets a QImage."""
    try:
        data = library.get_thumbnail(project, blob_sha, size)
    except Exception:  # the project was closed meanwhile
        return
    image = QImage()
    if data and image.loadFromData(data):
        signals.loaded.emit(blob_sha, image)


class ReferenceListModel(QAbstractListModel):
    """The references of one persona; paints from memory, never queries the project in data()."""

    THUMB = library.THUMBNAIL_SIZE

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[LibraryRow] = []
        self._row_of: dict[str, int] = {}
        self._pixmaps: dict[str, QPixmap] = {}
        self._pending: set[str] = set()
        self._project = None
        # Plain Python threads: QRunnable subclasses have lifetime pitfalls under PySide.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="thumbnails")
        self._futures: list[Future] = []
        self._signals = _ThumbnailSignals(self)
        self._signals.loaded.connect(self._thumbnail_loaded)

    def set_rows(self, project, rows: list[LibraryRow]) -> None:
        """Replace every row (a persona switch or a reload)."""
        self.beginResetModel()
        if project is not self._project:
            self._pixmaps.clear()
            self._pending.clear()
        self._project = project
        self._rows = list(rows)
        self._row_of = {r.id: i for i, r in enumerate(self._rows)}
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
            return f"{ref.file_name}\n{ref.width}×{ref.height} · {row.status} · {tags}"
        return None

    def flags(self, index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def _pixmap(self, sha: str) -> QPixmap | None:
        pixmap = self._pixmaps.get(sha)
        if pixmap is None and sha not in self._pending and self._project is not None:
            self._pending.add(sha)
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(
                self._pool.submit(_read_thumbnail, self._project, sha, self.THUMB, self._signals)
            )
        return pixmap

    def _thumbnail_loaded(self, sha: str, image: QImage) -> None:
        self._pixmaps[sha] = QPixmap.fromImage(image)
        for i, row in enumerate(self._rows):
            if row.reference.blob_sha == sha:
                index = self.index(i)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def wait_for_thumbnails(self, msecs: int = 10000) -> bool:
        """Block until queued thumbnail reads finish (tests and screenshots)."""
        _, pending = wait(self._futures, timeout=msecs / 1000)
        return not pending


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
