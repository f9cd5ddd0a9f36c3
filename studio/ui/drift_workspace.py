"""The Drift workspace: every shot's frames as a heat map, the threshold, the inspector, reviews.

The workspace reads the rows once (`services.drift.drift_rows`) and keeps each row's values as
arrays; the threshold slider re-flags from those arrays without touching the project until
the user lets go, and review edits re-read only the reviews. Renders, analyses and imports
(its own or another workspace's) arrive as change records: the shots they name are read
again, the others are kept. Its jobs (import, analysis, the
report) and drops are in `drift_jobs`, its undo commands in `drift_commands`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core import drift as core
from studio.core.changes import Changes
from studio.core.shots import REVIEW_STATES
from studio.core.text import plural
from studio.core.timecode import format_timecode
from studio.services import drift, personas, review, timeline
from studio.ui.drift_commands import ReviewCommand, ThresholdCommand
from studio.ui.drift_heatmap import (
    REVIEW_APPROVED,
    REVIEW_NONE,
    REVIEW_RESHOOT,
    DriftHeatmap,
    HeatRow,
    LayerScale,
)
from studio.ui.drift_jobs import DriftJobs
from studio.ui.drift_menus import show_frame_menu, show_reshoot_menu
from studio.ui.drift_trend import IdentityTrend, TrendSegment
from studio.ui.frame_inspector import FrameInspector
from studio.ui.frame_pair import TwoRandomFrames
from studio.ui.workspace import Workspace

LAYER_LABELS = {
    "identity": "Identity (similarity to the references)",
    "wardrobe": "Wardrobe (colour distance to the outfit's references)",
    "lighting": "Lighting (distance to the persona's light)",
    "combined": "Combined (0 = at a threshold)",
}
# The slider for each dimension: lowest, highest, step, and how its value reads.
SLIDER = {
    "identity": (0.30, 0.99, 0.01, "{:.2f}"),
    "wardrobe": (1.0, 60.0, 0.5, "ΔE {:.1f}"),
    "lighting": (0.1, 4.0, 0.05, "{:.2f}"),
}
REVIEW_CODES = {None: REVIEW_NONE, "reshoot": REVIEW_RESHOOT, "approved": REVIEW_APPROVED}
COMMIT_DELAY_MS = 500  # the slider keeps still this long before its value is saved


class DriftWorkspace(DriftJobs, Workspace):
    """Drift review of the open project: heat map, threshold, inspector, reviews, reshoots."""

    name = "drift"
    title = "Drift"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: list[drift.DriftRow] = []
        self._init_jobs()
        self._current: tuple[int, int] | None = None  # the inspected frame
        self._preview: core.Thresholds | None = None  # the slider's value before it is saved
        self._pair_dialog: TwoRandomFrames | None = None
        self.setAcceptDrops(True)

        self._commit_timer = QTimer(self)
        self._commit_timer.setSingleShot(True)
        self._commit_timer.setInterval(COMMIT_DELAY_MS)
        self._commit_timer.timeout.connect(self.commit_threshold)

        self.heatmap = DriftHeatmap()
        self.heatmap.setObjectName("driftHeatmap")
        self.heatmap.tooltip_provider = self._tooltip
        self.heatmap.frame_clicked.connect(self.inspect)
        self.heatmap.range_selected.connect(self._range_selected)
        self.heatmap.context_menu_requested.connect(
            lambda row, frame, at: show_frame_menu(self, row, frame, at)
        )
        self.trend = IdentityTrend()
        self.trend.frame_clicked.connect(self._trend_clicked)
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.heatmap)
        centre.addWidget(self.trend)
        centre.setStretchFactor(0, 1)
        centre.setSizes([520, 140])
        middle = QWidget()
        mv = QVBoxLayout(middle)
        mv.setContentsMargins(0, 0, 0, 0)
        mv.addWidget(self._build_toolbar())
        mv.addWidget(self._build_thresholds())
        mv.addWidget(centre, 1)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("driftSummary")
        mv.addWidget(self.summary_label)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(middle)
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([900, 460])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        self._build_actions()
        self._update_actions()

    # -- building -------------------------------------------------------------------------------

    def _button(self, text: str, slot, tip: str = "") -> QPushButton:
        b = QPushButton(text)
        b.clicked.connect(slot)
        if tip:
            b.setToolTip(tip)
        return b

    def _build_toolbar(self) -> QWidget:
        bar = QWidget()
        h = QHBoxLayout(bar)
        h.setContentsMargins(0, 0, 0, 0)
        self.import_button = self._button(
            "Import footage…", self.import_dialog, "Video files or folders of numbered images"
        )
        self.analyse_button = self._button(
            "Analyse", self.analyse, "Score every frame not analysed yet (runs as a job)"
        )
        self.harder_button = self._button(
            "Look harder",
            lambda: self.analyse(thorough=True),
            "Search the frames where no face was found again with the slow detector, which "
            "finds turned and small faces (about 1.5 s a frame; runs as a job)",
        )
        self.export_button = self._button(
            "Export report…", self.export_dialog, "HTML, CSV or JSON: every frame's scores"
        )
        self.pair_button = self._button(
            "Two random frames",
            self.show_random_pair,
            "Two random frames of the persona side by side: is she the same person?",
        )
        for b in (self.import_button, self.analyse_button, self.harder_button, self.export_button):
            h.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = self._button("Cancel", self.cancel_job, "Stop after this frame")
        self.cancel_button.hide()
        h.addWidget(self.progress)
        h.addWidget(self.cancel_button)
        h.addStretch(1)
        h.addWidget(QLabel("Flag on:"))
        self.dimension_boxes: dict[str, QCheckBox] = {}
        for dim in core.DIMENSIONS:
            box = QCheckBox(dim.capitalize())
            box.setToolTip(f"Flag frames whose {dim} drifts past its threshold")
            box.toggled.connect(lambda on, d=dim: self._dimension_toggled(d, on))
            self.dimension_boxes[dim] = box
            h.addWidget(box)
        h.addSpacing(8)
        h.addWidget(self.pair_button)
        return bar

    def _build_thresholds(self) -> QWidget:
        bar = QWidget()
        h = QHBoxLayout(bar)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(QLabel("Layer:"))
        self.layer_group = QButtonGroup(self)
        self.layer_buttons: dict[str, QToolButton] = {}
        for name in core.LAYERS:
            b = QToolButton()
            b.setText(name.capitalize())
            b.setCheckable(True)
            b.setToolTip(LAYER_LABELS[name])
            b.setObjectName(f"layer_{name}")
            self.layer_group.addButton(b)
            self.layer_buttons[name] = b
            b.clicked.connect(lambda _=False, n=name: self.set_layer(n))
            h.addWidget(b)
        self.layer_buttons["identity"].setChecked(True)
        h.addSpacing(12)
        self.persona_combo = QComboBox()
        self.persona_combo.setToolTip("Whose thresholds the slider sets")
        self.persona_combo.currentIndexChanged.connect(lambda _i: self._persona_switched())
        self.persona_combo.hide()  # shown when the cast has several personas
        h.addWidget(self.persona_combo)
        self.threshold_label = QLabel("Identity threshold")
        h.addWidget(self.threshold_label)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("thresholdSlider")
        self.slider.setMinimumWidth(80)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(self.commit_threshold)
        h.addWidget(self.slider, 1)
        self.threshold_value = QLabel()
        self.threshold_value.setMinimumWidth(52)
        h.addWidget(self.threshold_value)
        self.reset_button = self._button(
            "Calibrated", self.reset_threshold, "Put back the threshold from the calibration"
        )
        h.addWidget(self.reset_button)
        h.addSpacing(12)
        for text, slot, tip in (
            ("−", self.heatmap.zoom_out, "Zoom out (Ctrl+wheel)"),
            ("Fit", self.heatmap.fit_width, "Fit every frame in the width"),
            ("+", self.heatmap.zoom_in, "Zoom in (Ctrl+wheel)"),
        ):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            h.addWidget(b)
        return bar

    def _build_side(self) -> QWidget:
        self.side = QTabWidget()
        frame_tab = QWidget()
        v = QVBoxLayout(frame_tab)
        v.setContentsMargins(4, 4, 4, 4)
        self.inspector = FrameInspector()  # scrolls itself
        self.inspector.setObjectName("frameInspector")
        v.addWidget(self.inspector, 1)
        self.selection_label = QLabel("Nothing selected")
        self.selection_label.setWordWrap(True)
        v.addWidget(self.selection_label)
        row = QHBoxLayout()
        self.reshoot_button = self._button(
            "Flag for reshoot", lambda: self.review_selection("reshoot"), "R"
        )
        self.approve_button = self._button(
            "Approve", lambda: self.review_selection("approved"), "A: on-model as it is"
        )
        self.clear_button = self._button(
            "Clear", lambda: self.review_selection(None), "Take the review off"
        )
        for b in (self.reshoot_button, self.approve_button, self.clear_button):
            row.addWidget(b)
        v.addLayout(row)
        note_row = QHBoxLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Note for the selected frames (Enter to save)")
        self.note_edit.returnPressed.connect(self.save_note)
        self.note_button = self._button("Save note", self.save_note)
        note_row.addWidget(self.note_edit, 1)
        note_row.addWidget(self.note_button)
        v.addLayout(note_row)
        self.side.addTab(frame_tab, "Frame")

        reshoot_tab = QWidget()
        rv = QVBoxLayout(reshoot_tab)
        rv.setContentsMargins(4, 4, 4, 4)
        self.reshoot_summary = QLabel()
        self.reshoot_summary.setWordWrap(True)
        rv.addWidget(self.reshoot_summary)
        self.reshoot_list = QListWidget()
        self.reshoot_list.setObjectName("reshootList")
        self.reshoot_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.reshoot_list.setWordWrap(True)
        self.reshoot_list.itemActivated.connect(self._reshoot_activated)
        self.reshoot_list.itemClicked.connect(self._reshoot_activated)
        self.reshoot_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.reshoot_list.customContextMenuRequested.connect(
            lambda pos: show_reshoot_menu(self, pos)
        )
        rv.addWidget(self.reshoot_list, 1)
        self.flag_all_button = self._button(
            "Flag every drifted frame for reshoot",
            self.reshoot_flagged,
            "Every frame past a threshold and not approved goes on the reshoot list",
        )
        rv.addWidget(self.flag_all_button)
        self.side.addTab(reshoot_tab, "Reshoot list")
        return self.side

    def _build_actions(self) -> None:
        # Listed in the window's Drift menu; the keys work wherever the focus is in the
        # workspace (a text field keeps its typing).
        add = self.workspace_action
        add("Flag for &Reshoot", "R", lambda: self.review_selection("reshoot"))
        add("&Approve", "A", lambda: self.review_selection("approved"))
        add("&Clear Review", "Backspace", lambda: self.review_selection(None))
        add("&Note…", "N", self.note_edit.setFocus, "Write a note on the selected frames")

    # -- project --------------------------------------------------------------------------------

    def set_project(self, project) -> None:
        """Show a project's shots (None clears the workspace)."""
        self.project = project
        self.take_pending()
        self._undo.clear()
        self._forget_reports()
        self._current = None
        self._preview = None
        if self._pair_dialog is not None:
            self._pair_dialog.close()
            self._pair_dialog = None
        self._fill_personas()
        self.reload()
        worst = self.worst_frame()
        if worst is not None:  # open on the problem: the most drifted frame, inspected
            self.heatmap.select(*worst)
            self.inspect(*worst)

    def _fill_personas(self) -> None:
        """The cast in the persona selector; keeps the chosen persona while she is in it."""
        chosen = self.persona_combo.currentData()
        self.persona_combo.blockSignals(True)
        self.persona_combo.clear()
        if self.project is not None:
            for p in personas.list_personas(self.project):
                self.persona_combo.addItem(p.name, p.id)
        index = self.persona_combo.findData(chosen) if chosen is not None else -1
        self.persona_combo.setCurrentIndex(max(index, 0) if self.persona_combo.count() else -1)
        self.persona_combo.blockSignals(False)
        self.persona_combo.setVisible(self.persona_combo.count() > 1)

    def refresh_cast(self) -> None:
        """Another workspace added, renamed or removed a persona: the selector and the shot
        labels follow."""
        if self.project is None:
            return
        self._fill_personas()
        self.reload()

    def _persona_switched(self) -> None:
        """Another persona's thresholds: the slider, the legend and the trend all show hers."""
        self.show_thresholds()
        self.heatmap.set_scales(self._scales())
        self._show_trend()
        self._show_summary()

    def worst_frame(self) -> tuple[int, int] | None:
        """(row, frame) of the most drifted flagged frame, or None when nothing is flagged."""
        return review.most_drifted(self.rows, self._all_thresholds())

    def reload(self) -> None:
        """Read every shot's scores again (after an import or an analysis)."""
        if self.project is None:
            self.rows = []
        else:
            self.rows = drift.drift_rows(self.project)
        self.show_thresholds()
        self._show_rows()
        self._fill_reshoots()
        self._reinspect()
        self._update_actions()

    # -- change records -------------------------------------------------------------------------

    def apply_pending(self) -> None:
        """Read the shots the merged change records name; the other rows are kept as they are,
        and so are the inspected frame and the selection (followed by frame, not position)."""
        changes = self.take_pending()
        if self.project is None or not changes:
            return
        if changes.everything:
            self.reload()
            return
        order = timeline.shot_order(self.project)
        kept: dict[str, list[drift.DriftRow]] = {}
        for row in self.rows:
            kept.setdefault(row.shot.id, []).append(row)
        read = [
            s for s in order if s not in kept or changes.touches(s, [r.persona_id for r in kept[s]])
        ]
        fresh: dict[str, list[drift.DriftRow]] = {s: [] for s in read}
        for row in drift.drift_rows(self.project, read) if read else []:
            fresh[row.shot.id].append(row)
        inspected = self._frame_at(self._current)
        selected = self.heatmap.selection()
        selected_ids = (
            (self._heat_key(selected[0]), self.rows[selected[0]].frames[selected[1]].id,
             self.rows[selected[0]].frames[selected[2]].id)
            if selected is not None and selected[0] < len(self.rows)
            else None
        )  # fmt: skip
        self.rows = [row for s in order for row in (fresh[s] if s in fresh else kept[s])]
        if changes.personas:
            self.show_thresholds()  # a calibration may have moved with the references
        self._show_rows()
        self._fill_reshoots()
        self._current = self._find_frame(inspected)
        if selected_ids is not None:
            row, first, last = self._find_range(*selected_ids)
            if row is not None:
                self.heatmap.select(row, first, last)
        if self._current is not None:
            self.trend.set_marker(*self._current)
        self._reinspect(reread=inspected is not None and (
            inspected[1] in changes.frames or inspected[0] in read
        ))  # fmt: skip
        self._update_actions()

    def _heat_key(self, row: int) -> tuple[str, str]:
        return self.rows[row].shot.id, self.rows[row].persona_id

    def _frame_at(self, at: tuple[int, int] | None) -> tuple[str, str, str] | None:
        """(shot id, frame id, persona id) of a (row, frame) position."""
        if at is None or at[0] >= len(self.rows) or at[1] >= len(self.rows[at[0]].frames):
            return None
        row = self.rows[at[0]]
        return row.shot.id, row.frames[at[1]].id, row.persona_id

    def _find_frame(self, key: tuple[str, str, str] | None) -> tuple[int, int] | None:
        if key is None:
            return None
        shot_id, frame_id, persona_id = key
        for i, row in enumerate(self.rows):
            if row.shot.id == shot_id and row.persona_id == persona_id:
                for k, frame in enumerate(row.frames):
                    if frame.id == frame_id:
                        return i, k
        return None

    def _find_range(
        self, key: tuple[str, str], first_id: str, last_id: str
    ) -> tuple[int | None, int, int]:
        for i, row in enumerate(self.rows):
            if (row.shot.id, row.persona_id) == key:
                ids = [f.id for f in row.frames]
                if first_id in ids and last_id in ids:
                    return i, ids.index(first_id), ids.index(last_id)
        return None, 0, 0

    # -- showing --------------------------------------------------------------------------------

    def persona_id(self) -> str | None:
        return self.persona_combo.currentData()

    def thresholds(self, persona_id: str | None = None) -> core.Thresholds | None:
        """The thresholds in force for a persona: the slider's unsaved value when it has one."""
        pid = persona_id or self.persona_id()
        if self._preview is not None and pid == self.persona_id():
            return self._preview
        row = next((r for r in self.rows if r.persona_id == pid), None)
        if row is not None:
            return row.thresholds
        return drift.thresholds(self.project, pid) if self.project and pid else None

    def _row_thresholds(self, i: int) -> core.Thresholds:
        return self.thresholds(self.rows[i].persona_id) or self.rows[i].thresholds

    def _label(self, row: drift.DriftRow) -> str:
        several = self.persona_combo.count() > 1
        return f"{row.shot.name} · {row.persona_name}" if several else row.shot.name

    def _show_rows(self) -> None:
        heat_rows = []
        for i, row in enumerate(self.rows):
            t = self._row_thresholds(i)
            heat_rows.append(
                HeatRow(
                    shot_id=f"{row.shot.id}:{row.persona_id}",
                    name=self._label(row),
                    fps=row.shot.fps,
                    times=row.times(),
                    values={
                        "identity": row.array("identity"),
                        "wardrobe": row.array("wardrobe"),
                        "lighting": row.array("lighting"),
                        "combined": row.severity(t),
                    },
                    flagged=row.flags(t),
                    absent={layer: row.missing(layer) for layer in core.LAYERS},
                    review=self._review_codes(row),
                    notes=np.array(
                        [
                            bool(row.reviews.get(f.id) and row.reviews[f.id].note)
                            for f in row.frames
                        ],
                        bool,
                    ),
                )
            )
        self.heatmap.set_scales(self._scales())
        self.heatmap.set_rows(heat_rows)
        self._show_trend()
        self._show_summary()

    def _scales(self) -> dict[str, LayerScale]:
        t = self.thresholds() or core.Thresholds(identity=0.6)  # no persona: nothing to colour
        scales = {}
        for layer in core.LAYERS:
            lo, hi, higher = core.layer_range(layer, t)
            threshold = 0.0 if layer == "combined" else getattr(t, layer)
            scales[layer] = LayerScale(layer, LAYER_LABELS[layer], lo, hi, higher, threshold)
        return scales

    def _review_codes(self, row: drift.DriftRow) -> np.ndarray:
        return np.array(
            [
                REVIEW_CODES.get(row.reviews[f.id].state if f.id in row.reviews else None, 0)
                for f in row.frames
            ],
            np.int8,
        )

    def _all_thresholds(self) -> list[core.Thresholds]:
        return [self._row_thresholds(i) for i in range(len(self.rows))]

    def _flags(self) -> list[np.ndarray]:
        return [r.flags(self._row_thresholds(i)) for i, r in enumerate(self.rows)]

    def _show_trend(self) -> None:
        t = self.thresholds()
        segments = [
            TrendSegment(self._label(r), r.array("identity"), f)
            for r, f in zip(self.rows, self._flags(), strict=True)
        ]
        lo, hi, _ = core.layer_range("identity", t) if t else (0.0, 1.0, True)
        self.trend.set_segments(segments, t.identity if t else None, min(lo, 0.5), hi)

    def _show_summary(self) -> None:
        if self.project is None:
            self.summary_label.setText("")
            return
        n = drift.tally(self.rows, self._flags())
        text = (
            f"{plural(n.shots, 'shot')}, {plural(n.frames, 'frame')}: {n.analysed} analysed, "
            f"{n.flagged} flagged, {n.unmeasurable} not measurable"
        )
        if n.stale:
            text += f", {n.stale} out of date"
        if n.frames and n.analysed < n.frames:
            text += " — press Analyse to score the rest"
        elif n.stale:
            text += " — press Analyse to bring them up to date"
        self.summary_label.setText(text)

    def show_thresholds(self) -> None:
        """Put the persona's thresholds on the slider and the check boxes (saves nothing)."""
        self._preview = None
        t = self.thresholds()
        dim = self._slider_dimension()
        lo, hi, step, fmt = SLIDER[dim]
        self.threshold_label.setText(f"{dim.capitalize()} threshold")
        self.slider.blockSignals(True)
        self.slider.setRange(0, round((hi - lo) / step))
        if t is not None:
            self.slider.setValue(round((getattr(t, dim) - lo) / step))
            self.threshold_value.setText(fmt.format(getattr(t, dim)))
        self.slider.blockSignals(False)
        for d, box in self.dimension_boxes.items():
            box.blockSignals(True)
            box.setChecked(t is None or d in t.enabled)
            box.blockSignals(False)
        self.slider.setToolTip(
            {
                "identity": "Frames whose identity score is below this are flagged",
                "wardrobe": "Frames whose garment colour is further than this are flagged",
                "lighting": "Frames whose light is further than this are flagged",
            }[dim]
        )

    def _slider_dimension(self) -> str:
        layer = self.heatmap.layer() or "identity"
        return "identity" if layer == "combined" else layer

    def slider_value(self) -> float:
        lo, _hi, step, _fmt = SLIDER[self._slider_dimension()]
        return round(lo + self.slider.value() * step, 4)

    def set_layer(self, name: str) -> None:
        """Colour the heat map by a layer; the slider follows its dimension."""
        if self.heatmap.layer() != name:
            self.commit_threshold()
            self.heatmap.set_layer(name)
        self.layer_buttons[name].setChecked(True)
        self.show_thresholds()

    # -- thresholds ---------------------------------------------------------------------------

    def _slider_moved(self, _value: int) -> None:
        t = self.thresholds()
        if t is None:
            return
        dim = self._slider_dimension()
        value = self.slider_value()
        self.threshold_value.setText(SLIDER[dim][3].format(value))
        self._preview = replace(t, **{dim: value})
        flags = self._flags()
        self.heatmap.update_flags(flags)
        self.trend.set_flags(flags, self._preview.identity)
        self._show_summary()
        self._reinspect(reread=False)  # the slider's hot path: no reads, no decoding
        if not self.slider.isSliderDown():
            self._commit_timer.start()  # keys and clicks: save once the value keeps still

    def commit_threshold(self) -> None:
        """Save the slider's value as the persona's threshold (one undo step)."""
        self._commit_timer.stop()
        if self._preview is None or self.project is None:
            return
        pid = self.persona_id()
        preview, self._preview = self._preview, None
        saved = self.thresholds(pid)
        changed = {
            d: getattr(preview, d)
            for d in core.DIMENSIONS
            if saved is None or abs(getattr(preview, d) - getattr(saved, d)) > 1e-9
        }
        if not changed:
            return
        text = ", ".join(f"{d} {v:.2f}" for d, v in changed.items())
        self._undo.push(ThresholdCommand(self, f"Drift threshold: {text}", pid, changed))

    def reset_threshold(self) -> None:
        """Put back the calibrated (or default) threshold of the slider's dimension."""
        self.commit_threshold()
        pid = self.persona_id()
        if pid is None:
            return
        dim = self._slider_dimension()
        self._undo.push(ThresholdCommand(self, f"Calibrated {dim} threshold", pid, {dim: None}))

    def _dimension_toggled(self, dim: str, on: bool) -> None:
        t = self.thresholds()
        pid = self.persona_id()
        if t is None or pid is None:
            return
        self.commit_threshold()
        enabled = [d for d in core.DIMENSIONS if (d in t.enabled and d != dim) or (d == dim and on)]
        verb = "Check" if on else "Stop checking"
        self._undo.push(ThresholdCommand(self, f"{verb} {dim}", pid, {"enabled": enabled}))

    def thresholds_changed(self, persona_id: str | None = None) -> None:
        """A threshold edit or its undo: re-flag from the stored thresholds; the other
        workspaces hear that the persona's verdicts changed."""
        if self.project is None:
            return
        self._preview = None
        drift.refresh_thresholds(self.project, self.rows)
        self.show_thresholds()
        self._show_rows()
        self._reinspect()
        if persona_id is not None:
            self.changed.emit(Changes.of(personas=[persona_id]))

    # -- inspecting -----------------------------------------------------------------------------

    def _tooltip(self, row: int, frame: int) -> str:
        text = self.heatmap.tooltip_text(row, frame)
        v = drift.verdict(self.rows[row], frame, self._row_thresholds(row))
        if v.state in ("flagged", "not measurable", "stale"):
            text += f"\n{v.why}"
        if v.state != "not measurable":
            enabled = self._row_thresholds(row).enabled
            for dimension, why in v.unchecked().items():
                if dimension in enabled:
                    text += f"\n{dimension.capitalize()} not checked: {why}"
        return text + "\nClick to inspect"

    def inspect(self, row: int, frame: int) -> None:
        """Show a frame in the inspector (a heat map click)."""
        if not (0 <= row < len(self.rows) and 0 <= frame < len(self.rows[row].frames)):
            return
        self._current = (row, frame)
        self.trend.set_marker(row, frame)
        self.side.setCurrentIndex(0)
        self._reinspect()

    def _reinspect(self, reread: bool = True) -> None:
        """Show the inspected frame's verdict again; reread False: only the thresholds moved."""
        if self._current is None or self.project is None:
            self.inspector.show_inspection(self.project, None)
            self._show_selection()
            return
        row, frame = self._current
        if row >= len(self.rows) or frame >= len(self.rows[row].frames):
            self._current = None
            self.inspector.show_inspection(self.project, None)
        else:
            seen = self.inspector.inspection()
            if reread or seen is None or seen.verdict.frame.id != self.rows[row].frames[frame].id:
                seen = drift.inspect_frame(self.project, self.rows[row], frame)
            t = self._row_thresholds(row)
            if t != seen.thresholds:  # the slider is moving: show the verdict it would give
                seen = replace(seen, verdict=drift.verdict(self.rows[row], frame, t), thresholds=t)
            self.inspector.show_inspection(self.project, seen)
            review = seen.verdict.review
            if not self.note_edit.hasFocus():
                self.note_edit.setText(review.note if review else "")
        self._show_selection()

    def _range_selected(self, row: int, first: int, last: int) -> None:
        self._show_selection()

    def _trend_clicked(self, segment: int, frame: int) -> None:
        self.heatmap.select(segment, frame)
        self.inspect(segment, frame)

    def selected_frames(self) -> list[str]:
        """The ids of the frames selected in the heat map (or the inspected one)."""
        sel = self.heatmap.selection()
        if sel is not None:
            row, first, last = sel
            if row < len(self.rows):
                return [f.id for f in self.rows[row].frames[first : last + 1]]
        if self._current is not None:
            row, frame = self._current
            return [self.rows[row].frames[frame].id]
        return []

    def _show_selection(self) -> None:
        sel = self.heatmap.selection()
        if sel is None or sel[0] >= len(self.rows):
            self.selection_label.setText("Click a frame, or drag along a shot to select frames")
        else:
            row, first, last = sel
            r = self.rows[row]
            tc = format_timecode(r.frames[first].time_s, r.shot.fps, r.frames[first].index)
            what = (
                f"frame {first + 1} ({tc})"
                if first == last
                else f"frames {first + 1}–{last + 1} ({last - first + 1} frames from {tc})"
            )
            self.selection_label.setText(f"Selected: {self._label(r)}, {what}")
        self._update_actions()

    # -- reviews --------------------------------------------------------------------------------

    def review_selection(self, state: str | None) -> None:
        """Flag the selected frames for a reshoot, approve them, or clear their review."""
        ids = self.selected_frames()
        if not ids or self.project is None or self.project.read_only:
            return
        if state is not None and state not in REVIEW_STATES:
            raise ValueError(state)
        verb = {"reshoot": "Flag for reshoot", "approved": "Approve", None: "Clear review of"}[
            state
        ]
        self._undo.push(
            ReviewCommand(self, f"{verb} {plural(len(ids), 'frame')}", ids, state, None)
        )

    def save_note(self) -> None:
        """Give the selected frames the note typed in the field ('' removes it)."""
        ids = self.selected_frames()
        if not ids or self.project is None or self.project.read_only:
            return
        note = self.note_edit.text().strip()
        text = f"Note on {plural(len(ids), 'frame')}" if note else "Remove note"
        self._undo.push(ReviewCommand(self, text, ids, None, note))
        self.heatmap.setFocus()

    def reshoot_flagged(self) -> None:
        """Put every drifted frame that is not approved on the reshoot list (one undo step)."""
        ids = review.drifted_unreviewed(self.rows, self._all_thresholds())
        if not ids:
            self.status_message.emit("No drifted frames are waiting for a review.")
            return
        self._undo.push(
            ReviewCommand(
                self, f"Flag {plural(len(ids), 'drifted frame')} for reshoot", ids, "reshoot", None
            )
        )

    def reviews_changed(self) -> None:
        """A review edit or its undo: show the reviews again (scores unchanged)."""
        if self.project is None:
            return
        drift.refresh_reviews(self.project, self.rows)
        self._show_rows()
        self._fill_reshoots()
        self._reinspect()

    def _fill_reshoots(self) -> None:
        self.reshoot_list.clear()
        if self.project is None:
            self.reshoot_summary.setText("")
            return
        where = {
            (r.shot.id, f.id): (i, j)
            for i, r in enumerate(self.rows)
            for j, f in enumerate(r.frames)
        }
        items = drift.reshoot_list(self.project, self.rows)
        for it in items:
            tc = format_timecode(it.frame.time_s, it.shot.fps, it.frame.index)
            text = f"{it.shot.name} · frame {it.frame.index + 1} · {tc}\n{it.why}"
            if it.note:
                text += f"\nNote: {it.note}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, where.get((it.shot.id, it.frame.id)))
            self.reshoot_list.addItem(item)
        self.reshoot_summary.setText(
            f"{plural(len(items), 'frame')} to reshoot. Click one to inspect it."
            if items
            else "No frames flagged for reshoot yet. Select frames in the heat map and press "
            "R, or flag every drifted frame at once."
        )
        self.side.setTabText(1, f"Reshoot list ({len(items)})" if items else "Reshoot list")

    def _reshoot_activated(self, item: QListWidgetItem) -> None:
        where = item.data(Qt.ItemDataRole.UserRole)
        if where:
            row, frame = where
            self.heatmap.select(row, frame)
            self.inspect(row, frame)
            self.side.setCurrentIndex(1)

    def show_random_pair(self) -> TwoRandomFrames | None:
        """Open "Two random frames" for the persona whose thresholds are shown."""
        if self.project is None:
            return None
        names = [self.persona_combo.itemText(i) for i in range(self.persona_combo.count())]
        if self._pair_dialog is None:
            self._pair_dialog = TwoRandomFrames(self.project, names, self)
        self._pair_dialog.show()
        self._pair_dialog.raise_()
        return self._pair_dialog

    # -- state ----------------------------------------------------------------------------------

    def _update_actions(self) -> None:
        has = self.project is not None
        writable = has and self.runner is not None
        has_rows = bool(self.rows)
        self.import_button.setEnabled(writable)
        self.analyse_button.setEnabled(writable and has_rows)
        self.harder_button.setEnabled(writable and drift.tally(self.rows).faceless > 0)
        self.export_button.setEnabled(has_rows and not self._report_jobs)
        self.pair_button.setEnabled(has_rows)
        selected = has and not self.project.read_only and bool(self.selected_frames())
        for b in (self.reshoot_button, self.approve_button, self.clear_button, self.note_button):
            b.setEnabled(selected)
        self.note_edit.setEnabled(selected)
        self.flag_all_button.setEnabled(has_rows and has and not self.project.read_only)
        self.slider.setEnabled(has_rows)
        self.reset_button.setEnabled(has_rows)
        for box in self.dimension_boxes.values():
            box.setEnabled(has_rows)
