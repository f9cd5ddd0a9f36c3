"""Two random frames of a persona side by side: the artist's quick check for drift.

If you cannot tell it is the same person across two random frames, neither can the audience.
"""

from __future__ import annotations

import html
import random

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.services import drift
from studio.services.drift import FrameVerdict
from studio.ui import dialogs
from studio.ui.drift_heatmap import FLAG_COLOUR
from studio.ui.frame_inspector import OK_BOX, FramePicture, face_crop, frame_caption, load_image

FACE_PX = 300  # the face crop: large, it is what the artist compares
FRAME_SIZE = QSize(FACE_PX, 190)  # the whole frame below it, smaller
HINT = "If you can't tell it's the same person across two random frames, neither can the audience."
SHUFFLE_TRIES = 8  # draws to find a pair other than the one shown


def _not_enough(persona: str) -> str:
    return (
        f"Fewer than two frames of {persona} have been measured yet.\n\n"
        "Import footage of the shots they appear in and run the drift analysis, then draw again."
    )


class _FrameSide(QWidget):
    """One frame of the pair: a large face crop above the whole frame, and where it is."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.face = FramePicture(minimum=QSize(FACE_PX, FACE_PX))
        self.face.setFixedSize(FACE_PX, FACE_PX)
        self.frame = FramePicture(minimum=FRAME_SIZE)
        self.frame.setFixedSize(FRAME_SIZE)
        self.caption = QLabel()
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.caption.setWordWrap(True)
        self.caption.setFixedWidth(FACE_PX)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.face, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.frame, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.caption)
        layout.addStretch(1)

    def show_verdict(self, project, v: FrameVerdict) -> None:
        image, error = load_image(project, v.frame.blob_sha)
        box = v.score.box if v.score else None
        colour = FLAG_COLOUR if v.flagged else OK_BOX
        self.face.set_image(face_crop(image, box), text=error or "no face")
        self.frame.set_image(image, [(box, colour, 2.0)] if box else [], error)
        identity = v.score.identity if v.score else None
        score = "identity —" if identity is None else f"identity {identity:.3f}"
        flag = " · <b>flagged</b>" if v.flagged else ""
        where = html.escape(frame_caption(v)).replace(" · ", "</b> · ", 1)
        self.caption.setText(f"<b>{where}<br>{score}{flag}")


class TwoRandomFrames(QDialog):
    """Two random measured frames of one persona, face crops first; "Another pair" redraws."""

    pair_shown = Signal(str, str)  # the two frame ids now shown

    def __init__(self, project, persona_names: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.project = project
        self._pair: tuple[FrameVerdict, FrameVerdict] | None = None
        self.setWindowTitle("Two random frames")
        self.setModal(False)

        self.persona_combo = QComboBox()
        self.persona_combo.addItems(list(persona_names))
        self.persona_combo.setMinimumWidth(160)
        self.persona_combo.currentIndexChanged.connect(lambda _: self.shuffle())
        self.persona_row = QWidget()
        persona_row = QHBoxLayout(self.persona_row)
        persona_row.setContentsMargins(0, 0, 0, 0)
        persona_row.addWidget(QLabel("Persona:"))
        persona_row.addWidget(self.persona_combo)
        persona_row.addStretch(1)
        self.persona_row.setVisible(len(persona_names) > 1)

        hint = QLabel(HINT)
        hint.setObjectName("sectionHint")
        hint.setWordWrap(True)

        self.sides = (_FrameSide(), _FrameSide())
        pair = QWidget()
        pair_row = QHBoxLayout(pair)
        pair_row.setContentsMargins(0, 0, 0, 0)
        pair_row.setSpacing(24)
        pair_row.addStretch(1)
        for side in self.sides:
            pair_row.addWidget(side)
        pair_row.addStretch(1)

        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        font = QFont(self.message.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.message.setFont(font)
        self.pages = QStackedWidget()
        self.pages.addWidget(pair)
        self.pages.addWidget(self.message)

        self.another_button = QPushButton("Another pair")
        self.another_button.setToolTip("Draw two other frames (Space or R)")
        self.another_button.setDefault(True)
        self.another_button.clicked.connect(lambda: self.shuffle())
        close = QPushButton("Close")
        close.setAutoDefault(False)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.another_button)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(10)
        layout.addWidget(self.persona_row)
        layout.addWidget(hint)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)

        for key in (Qt.Key.Key_Space, Qt.Key.Key_R):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(lambda: self.shuffle())
        self.shuffle()

    def persona(self) -> str:
        return self.persona_combo.currentText()

    def set_persona(self, name: str) -> None:
        """Check another persona (draws a new pair)."""
        index = self.persona_combo.findText(name)
        if index >= 0:
            self.persona_combo.setCurrentIndex(index)

    def shown_frame_ids(self) -> tuple[str, str] | None:
        """The ids of the two frames shown (None while the message is shown instead)."""
        if self._pair is None:
            return None
        return self._pair[0].frame.id, self._pair[1].frame.id

    def shuffle(self, seed: int | None = None) -> bool:
        """Show a new random pair (not the one shown, where there is another); False when the
        persona has fewer than two measured frames. A seed makes the draw repeatable."""
        persona = self.persona()
        try:
            pair = self._draw(persona, seed)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            pair = None
        self._pair = pair
        self.another_button.setEnabled(pair is not None)
        if pair is None:
            self.message.setText(_not_enough(persona or "this persona"))
            self.pages.setCurrentWidget(self.message)
            return False
        for side, v in zip(self.sides, pair, strict=True):
            side.show_verdict(self.project, v)
        self.pages.setCurrentIndex(0)
        self.pair_shown.emit(*self.shown_frame_ids())
        return True

    def _draw(self, persona: str, seed: int | None) -> tuple[FrameVerdict, FrameVerdict] | None:
        if not persona:
            return None
        shown = set(self.shown_frame_ids() or ())
        rng = random.Random(seed)
        pair = None
        for _ in range(SHUFFLE_TRIES):
            pair = drift.random_pair(self.project, persona, rng.getrandbits(32))
            if pair is None or {v.frame.id for v in pair} != shown:
                break
        return pair
