"""The CLIP token counter the prompt views use: loaded on a thread, an estimate until then."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel

from studio.jobs import tokens as job_tokens
from studio.ui.persona_form import caption


class TokenCounter(QObject):
    """Counts prompt tokens with CLIP's tokenizer once it is loaded; `changed` says when the
    counts become exact (or stay estimates because the tokenizer could not load)."""

    changed = Signal()
    _loaded = Signal(object)  # queued from the loading thread: None, or the error

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._state = "ready" if job_tokens.tokenizer_loaded() else "idle"
        self.error = ""
        self._loaded.connect(self._on_loaded)

    @property
    def failed(self) -> bool:
        return self._state == "failed"

    def counter(self) -> Callable[[str], int] | None:
        """The CLIP counter once the tokenizer is loaded; None (estimate) until then."""
        if self._state == "ready" or job_tokens.tokenizer_loaded():
            self._state = "ready"
            return job_tokens.count_tokens
        if self._state == "idle":
            self._state = "loading"
            signal = self._loaded

            def done(error: BaseException | None) -> None:
                try:
                    signal.emit(error)
                except RuntimeError:
                    pass  # the view closed while the tokenizer loaded

            job_tokens.load_in_background(done)
        return None

    def _on_loaded(self, error: BaseException | None) -> None:
        if error is None:
            self._state = "ready"
        else:
            self._state, self.error = "failed", str(error)
        self.changed.emit()


def count_label() -> QLabel:
    """The right-aligned label a prompt's token count is shown in."""
    label = QLabel()
    label.setObjectName("tokenCount")
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


def caption_row(text: str, count: QLabel) -> QHBoxLayout:
    """A prompt's caption with its token count at the right."""
    row = QHBoxLayout()
    row.addWidget(caption(text))
    row.addStretch(1)
    row.addWidget(count)
    return row
