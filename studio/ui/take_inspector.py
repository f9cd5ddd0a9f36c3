"""The Timeline's frame inspector: one frame large, with what made it and its drift verdict.

A rendered frame lists its takes; any of them can be looked at and made the frame's current
picture (one undo step on the Timeline's stack), rendered again exactly, or have its parameters
copied as AUTOMATIC1111 writes them. A footage frame shows where in its source it was taken.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPixmap, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.takes import Take, a1111_parameters, a1111_sampler
from studio.core.timecode import format_timecode
from studio.services import drift, library, renders
from studio.services.renders import FrameTakes, frame_takes
from studio.ui import dialogs
from studio.ui.frame_inspector import STATE_COLOURS, FramePicture, breakdown, load_image

REFERENCE_PX = 72  # the thumbnails of the references a take was rendered with
FOOTAGE_TIP = "A footage frame was filmed, not rendered: there is nothing to render again."
NO_RECIPE_TIP = "This take has no render recipe to repeat (it was not rendered in the studio)."


class InspectorView(Protocol):
    """What the inspector needs of its workspace."""

    project: Any
    runner: Any

    @property
    def undo_stack(self) -> QUndoStack: ...

    def refresh_shot(self, shot_id: str) -> None: ...

    def render_again(self, take_id: str) -> str | None: ...

    def open_in_drift(self, frame_id: str) -> bool: ...


class ChooseTakeCommand(QUndoCommand):
    """Make another take a frame's current picture; undo shows the one it showed before."""

    def __init__(self, view: InspectorView, shot_id: str, frame_index: int, old: str, new: str):
        super().__init__(f"Use take for frame {frame_index + 1}")
        self.view, self.shot_id, self.old, self.new = view, shot_id, old, new

    def redo(self) -> None:
        renders.choose_take(self.view.project, self.new)
        self.view.refresh_shot(self.shot_id)

    def undo(self) -> None:
        renders.choose_take(self.view.project, self.old)
        self.view.refresh_shot(self.shot_id)


def _number(value: float) -> str:
    return f"{value:g}"


def short_hash(sha: str) -> str:
    """The first ten characters of a hash, as A1111 shows a model's."""
    return sha[:10]


class TakeInspector(QDialog):
    """A frame of the Timeline with its provenance, its takes and its drift verdict."""

    FIELDS = (
        "Persona", "Model", "LoRAs", "IP-Adapters", "Seed", "Size", "Steps", "Guidance",
        "Sampler", "Device", "Rendered",
    )  # fmt: skip

    def __init__(self, view: InspectorView, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("takeInspector")
        self.setWindowTitle("Frame")
        self.view = view
        self.detail: FrameTakes | None = None
        self._shown: Take | None = None  # the take whose picture and provenance are shown

        self._drift_rows: list[str] = []  # the personas the frame has a drift verdict for
        self.picture = FramePicture(minimum=QSize(320, 320))
        self.caption = QLabel()
        self.caption.setObjectName("sectionHint")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.caption.setWordWrap(True)
        left = QVBoxLayout()
        left.addWidget(self.picture, 1)
        left.addWidget(self.caption)

        self.take_combo = QComboBox()
        self.take_combo.setToolTip("Look at another take of this frame")
        self.take_combo.currentIndexChanged.connect(self._take_picked)
        self.use_button = QPushButton("&Use This Take")
        self.use_button.setToolTip("Make the take shown the frame's current picture (undoable)")
        self.use_button.clicked.connect(self.use_shown_take)
        takes_row = QHBoxLayout()
        takes_row.addWidget(self.take_combo, 1)
        takes_row.addWidget(self.use_button)

        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for name in self.FIELDS:
            label = QLabel()
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[name] = label
            form.addRow(f"{name}:", label)
        self.provenance_box = QGroupBox("Rendered with")
        self.provenance_box.setLayout(form)

        self.references = QHBoxLayout()
        self.references.setSpacing(4)
        refs = QWidget()
        refs.setLayout(self.references)
        self.references_box = QGroupBox("References")
        box = QVBoxLayout(self.references_box)
        box.addWidget(refs)

        self.prompt = QPlainTextEdit()
        self.prompt.setReadOnly(True)
        self.prompt.setObjectName("takePrompt")
        self.prompt.setMaximumHeight(120)
        self.prompt_box = QGroupBox("Prompt")
        QVBoxLayout(self.prompt_box).addWidget(self.prompt)

        self.source = QLabel()
        self.source.setWordWrap(True)
        self.source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source_box = QGroupBox("Footage")
        QVBoxLayout(self.source_box).addWidget(self.source)

        self.drift_label = QLabel()
        self.drift_label.setWordWrap(True)
        self.drift_label.setTextFormat(Qt.TextFormat.RichText)
        self.drift_button = QPushButton("Open in &Drift")
        self.drift_button.setToolTip("Show this frame in the Drift workspace's inspector")
        self.drift_button.clicked.connect(self.open_in_drift)
        self.drift_box = QGroupBox("Drift")
        drift_column = QVBoxLayout(self.drift_box)
        drift_column.addWidget(self.drift_label)
        drift_column.addWidget(self.drift_button, 0, Qt.AlignmentFlag.AlignLeft)

        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(takes_row)
        for widget in (
            self.source_box,
            self.provenance_box,
            self.references_box,
            self.prompt_box,
            self.drift_box,
        ):
            column.addWidget(widget)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        scroll.setMinimumWidth(380)
        scroll.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.again_button = QPushButton("&Render Again")
        self.again_button.clicked.connect(self.render_again)
        self.copy_button = QPushButton("&Copy Parameters")
        self.copy_button.clicked.connect(self.copy_parameters)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.again_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(close)

        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addWidget(scroll, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(buttons)
        self.resize(1100, 720)

    # -- showing --------------------------------------------------------------------------------

    def show_frame(self, shot_id: str, frame_index: int) -> None:
        """Show a frame of a shot with its current take (StudioError when it has no picture)."""
        self.detail = frame_takes(self.view.project, shot_id, frame_index)
        self._shown = self.detail.current
        self._fill()

    def reload(self) -> None:
        """Read the shown frame again (a take landed or another was chosen)."""
        if self.detail is None or self.view.project is None:
            return
        shown = self._shown.id if self._shown is not None else None
        before = {t.id for t in self.detail.takes}
        try:
            self.detail = frame_takes(
                self.view.project, self.detail.shot.id, self.detail.frame.index
            )
        except StudioError:
            self.detail = None
            self.close()
            return
        current = self.detail.current
        if current is not None and current.id not in before:
            shown = current.id  # a new take landed and became the frame's picture: show it
        self._shown = next((t for t in self.detail.takes if t.id == shown), self.detail.current)
        self._fill()

    def shown_take(self) -> Take | None:
        """The take whose picture and provenance are shown (None for footage)."""
        return self._shown

    def field_text(self, name: str) -> str:
        """The value shown for a provenance field (one of FIELDS)."""
        return self.values[name].text()

    def _fill(self) -> None:
        d = self.detail
        if d is None:
            return
        take = self._shown
        sha = take.blob_sha if take is not None else d.frame.blob_sha
        image, error = load_image(self.view.project, sha) if sha else (None, "no picture yet")
        self.picture.set_image(image, text=error)
        size = f"{image.width()} × {image.height()}" if image is not None else ""
        self.caption.setText(" · ".join(x for x in (self._where(), size) if x))
        self.setWindowTitle(f"{d.shot.name} · frame {d.frame.index + 1}")
        self._fill_takes()
        rendered = take is not None
        self.source_box.setVisible(not rendered)
        self.provenance_box.setVisible(rendered)
        self.references_box.setVisible(rendered and bool(take.reference_shas))
        self.prompt_box.setVisible(rendered)
        if rendered:
            self._fill_provenance(take)
        else:
            self._fill_source()
        self._fill_drift()
        self._update_buttons()

    def _where(self) -> str:
        d = self.detail
        parts = [d.shot.name, f"frame {d.frame.index + 1}"]
        if d.takes and self._shown is not None:
            number = [t.id for t in d.takes].index(self._shown.id) + 1
            parts.append(f"take {number} of {len(d.takes)}")
        return " · ".join(parts)

    def _fill_takes(self) -> None:
        d = self.detail
        self.take_combo.blockSignals(True)
        self.take_combo.clear()
        for i, take in enumerate(d.takes):
            mark = " (current)" if d.current is not None and take.id == d.current.id else ""
            when = take.created_at[:19].replace("T", " ")
            self.take_combo.addItem(f"Take {i + 1} of {len(d.takes)}{mark} · {when}", take.id)
            if self._shown is not None and take.id == self._shown.id:
                self.take_combo.setCurrentIndex(i)
        self.take_combo.blockSignals(False)
        self.take_combo.setVisible(bool(d.takes))
        self.use_button.setVisible(bool(d.takes))

    def _fill_provenance(self, take: Take) -> None:
        d = self.detail
        name = d.persona_names.get(take.persona_id, "")
        number = d.version_numbers.get(take.persona_version_id)
        persona = name or (take.persona_id[:10] if take.persona_id else "—")
        if number is not None:
            persona += f", version {number}"
        model = take.model_name or "—"
        if take.model_sha:
            model += f" [{short_hash(take.model_sha)}]"
        loras = ", ".join(f"{lo.name} × {_number(lo.weight)}" for lo in take.loras)
        adapters = ", ".join(
            f"{a.name}{f' ({a.variant})' if a.variant else ''} × {_number(a.scale)}"
            for a in take.adapters
        )
        seconds = f" in {take.seconds:.1f} s" if take.seconds is not None else ""
        values = {
            "Persona": persona,
            "Model": model,
            "LoRAs": loras or "none",
            "IP-Adapters": adapters or "none",
            "Seed": "—" if take.seed is None else str(take.seed),
            "Size": f"{take.width} × {take.height}" if take.width and take.height else "—",
            "Steps": str(take.steps or "—"),
            "Guidance": _number(take.guidance),
            "Sampler": a1111_sampler(take.sampler) or "—",
            "Device": (take.device or "—") + seconds,
            "Rendered": take.created_at[:19].replace("T", " ") or "—",
        }
        for key, text in values.items():
            self.values[key].setText(text)
        self._fill_references(take.reference_shas)
        text = take.prompt
        if take.negative:
            text += f"\n\nNegative: {take.negative}"
        self.prompt.setPlainText(text)

    def _fill_references(self, shas) -> None:
        while self.references.count():
            item = self.references.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for sha in shas:
            label = QLabel()
            label.setFixedSize(REFERENCE_PX, REFERENCE_PX)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setToolTip(f"Reference picture {short_hash(sha)}")
            label.setObjectName("takeReference")
            pixmap = self._thumbnail(sha)
            if pixmap is None:
                label.setText("missing")
            else:
                label.setPixmap(pixmap)
            self.references.addWidget(label)
        self.references.addStretch(1)

    def _thumbnail(self, sha: str) -> QPixmap | None:
        project = self.view.project
        try:
            data = library.get_thumbnail(project, sha, library.THUMBNAIL_SIZE)
            data = data or library.read_blob(project, sha)
        except StudioError:
            return None
        image = QImage.fromData(data) if data else QImage()
        if image.isNull():
            return None
        return QPixmap.fromImage(
            image.scaled(
                REFERENCE_PX,
                REFERENCE_PX,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def _fill_source(self) -> None:
        d = self.detail
        frame, shot = d.frame, d.shot
        where = shot.source_path or "an unknown source"
        at = format_timecode(frame.time_s, shot.fps, frame.source_index)
        seconds = f" ({frame.time_s:.2f} s)" if frame.time_s is not None else ""
        number = frame.source_index + 1
        self.source.setText(f"From {where}\nat {at}{seconds}, source frame {number}")

    def _fill_drift(self) -> None:
        d = self.detail
        lines = []
        self._drift_rows = []
        for row in drift.drift_rows(self.view.project, [d.shot.id]):
            i = next((k for k, f in enumerate(row.frames) if f.id == d.frame.id), None)
            if i is None:
                continue
            v = drift.verdict(row, i)
            colour = STATE_COLOURS.get(v.state)
            state = f"<b style='color:{colour.name()}'>{v.state}</b>" if colour else v.state
            why = v.why
            # "not analysed yet", "not measurable: no face" already begin with the state.
            rest = why[len(v.state) :] if why.startswith(v.state) else f" — {why}"
            lines.append(f"{row.persona_name}: {state}{_escape(rest)}")
            if v.score is not None:
                scores = breakdown(drift.inspect_frame(self.view.project, row, i))
                for name, value, check in scores[:4]:
                    lines.append(f"&nbsp;&nbsp;{name}: {_escape(value)} {check}".rstrip())
            self._drift_rows.append(row.persona_id)
        if not lines:
            lines.append("No persona is expected in this shot, so it has no drift verdict.")
        if self._shown is not None and d.current is not None and self._shown.id != d.current.id:
            lines.append("<i>(the verdict is on the current take)</i>")
        self.drift_label.setText("<br>".join(lines))

    def drift_text(self) -> str:
        """The drift section as plain text."""
        doc = self.drift_label.text().replace("<br>", "\n").replace("&nbsp;", " ")
        doc = re.sub(r"<[^>]+>", "", doc)
        return doc.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def _update_buttons(self) -> None:
        d, take = self.detail, self._shown
        project = self.view.project
        writable = project is not None and not project.read_only
        recipe = take is not None and bool(take.provenance.get("render"))
        self.again_button.setEnabled(
            writable and self.view.runner is not None and take is not None and recipe
        )
        if take is None:
            self.again_button.setToolTip(FOOTAGE_TIP)
        elif not recipe:
            self.again_button.setToolTip(NO_RECIPE_TIP)
        elif self.view.runner is None:
            self.again_button.setToolTip("Open the project for writing to render.")
        else:
            self.again_button.setToolTip(
                "Render this take again with the same models, prompt, references and seed; "
                "the new take becomes the frame's current picture"
            )
        self.copy_button.setEnabled(take is not None)
        self.copy_button.setToolTip(
            "A footage frame has no render parameters to copy."
            if take is None
            else "Put the take's parameters on the clipboard as AUTOMATIC1111 writes them"
        )
        current = d.current.id if d.current is not None else None
        self.use_button.setEnabled(writable and take is not None and take.id != current)
        self.drift_button.setEnabled(bool(self._drift_rows))

    # -- actions --------------------------------------------------------------------------------

    def _take_picked(self, index: int) -> None:
        if self.detail is None or index < 0:
            return
        take_id = self.take_combo.itemData(index)
        self._shown = next((t for t in self.detail.takes if t.id == take_id), self._shown)
        self._fill()

    def show_take(self, take_id: str) -> None:
        """Look at another take of the frame (it does not become current)."""
        index = self.take_combo.findData(take_id)
        if index >= 0:
            self.take_combo.setCurrentIndex(index)

    def use_shown_take(self) -> None:
        """Make the take shown the frame's current picture, as one undo step."""
        d, take = self.detail, self._shown
        if d is None or take is None or d.current is None or take.id == d.current.id:
            return
        try:
            self.view.undo_stack.push(
                ChooseTakeCommand(self.view, d.shot.id, d.frame.index, d.current.id, take.id)
            )
        except StudioError as exc:
            dialogs.show_error(self, exc)

    def copy_parameters(self) -> str:
        """Put the shown take's A1111 parameters text on the clipboard and return it."""
        if self._shown is None:
            return ""
        text = a1111_parameters(self._shown.provenance)
        QGuiApplication.clipboard().setText(text)
        return text

    def render_again(self) -> str | None:
        """Render the shown take again (a job); returns the job's id."""
        if self._shown is None:
            return None
        return self.view.render_again(self._shown.id)

    def open_in_drift(self) -> bool:
        """Show the frame in the Drift workspace's inspector."""
        if self.detail is None:
            return False
        return self.view.open_in_drift(self.detail.frame.id)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
