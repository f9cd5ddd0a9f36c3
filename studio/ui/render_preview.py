"""A live preview of the frame a render is denoising, with which shot, frame and step it shows.

The render job sends a rough picture a few times a second (the latents seen through a linear
projection, no VAE decode); this widget shows the newest and hides when the render ends.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QImage, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.jobs.runner import ENDED
from studio.ui.frame_inspector import FramePicture

PICTURE = QSize(200, 150)  # a clip's 16:9 fits as 200x113, a square frame as 150x150


class RenderPreview(QWidget):
    """The newest preview of the render in flight; hidden while nothing is rendering."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("renderPreview")
        self.picture = FramePicture(minimum=PICTURE)
        self.picture.setFixedSize(PICTURE)
        self.caption = QLabel()
        self.caption.setObjectName("renderPreviewCaption")
        bold = QFont(self.caption.font())
        bold.setBold(True)
        self.caption.setFont(bold)
        self.caption.setWordWrap(True)
        note = QLabel(
            "Live preview: rough colours and shapes while the frame denoises. "
            "The finished frame lands in its lane."
        )
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        text = QVBoxLayout()
        text.setContentsMargins(0, 4, 0, 0)
        text.addWidget(self.caption)
        text.addWidget(note)
        text.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(10)
        layout.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        self._job: str | None = None
        self.setVisible(False)

    @property
    def job_id(self) -> str | None:
        """The job whose preview is shown; None while hidden."""
        return self._job

    def show_event(self, event) -> None:
        """Follow a render job's event (a runner JobEvent): show its preview, hide when it ends."""
        if event.event in ENDED:
            if self._job is None or self._job == event.job_id:
                self.clear()
            return
        progress = event.progress
        data = getattr(progress, "preview", None)
        if not data:
            return  # steps between previews keep the last one
        image = QImage.fromData(data)
        if image.isNull():
            return
        self._job = event.job_id
        self.picture.set_image(image)
        label = progress.preview_label or event.title
        self.caption.setText(label)
        self.setToolTip(label)
        self.setVisible(True)

    def clear(self) -> None:
        """Forget the preview and hide."""
        self._job = None
        self.picture.set_image(None)
        self.caption.clear()
        self.setToolTip("")
        self.setVisible(False)
