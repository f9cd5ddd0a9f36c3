"""A picture at full size: a dialog that scales it to fit its window (Esc closes)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget


class FullSizeView(QDialog):
    """One image, as large as the window allows, never stretched out of proportion."""

    def __init__(self, pixmap: QPixmap, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("fullSizeView")
        self._pixmap = pixmap
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(64, 64)
        self.caption = QLabel(f"{title} · {pixmap.width()} × {pixmap.height()} · Esc closes")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)
        screen = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        w = min(pixmap.width() + 12, int(screen.width() * 0.9))
        h = min(pixmap.height() + 40, int(screen.height() * 0.9))
        self.resize(max(w, 320), max(h, 240))

    def source(self) -> QPixmap:
        return self._pixmap

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        size = self.picture.size()
        if self._pixmap.width() <= size.width() and self._pixmap.height() <= size.height():
            self.picture.setPixmap(self._pixmap)  # never blown up past its own pixels
        else:
            self.picture.setPixmap(
                self._pixmap.scaled(
                    size,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
