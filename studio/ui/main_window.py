"""The studio window: a workspace per capability, File menu, jobs panel, themes, drag to open."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QUndoGroup,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from studio import __version__
from studio.core.errors import ProjectLockedError, StudioError
from studio.jobs.runner import JobRunner
from studio.services import library, projects
from studio.ui import dialogs
from studio.ui.drift_workspace import DriftWorkspace
from studio.ui.jobs_panel import JobsPanel
from studio.ui.library_browser import LibraryBrowser
from studio.ui.models_panel import ModelsPanel
from studio.ui.persona_editor import PersonaEditor
from studio.ui.qt_bridge import JobBridge
from studio.ui.themes import apply_theme
from studio.ui.timeline_workspace import TimelineWorkspace

MAX_RECENT = 10
FILE_FILTER = "Persona Studio projects (*.pstudio)"


class MainWindow(QMainWindow):
    """One window per open project; workspaces share the project and the job runner."""

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.project = None
        self.runner: JobRunner | None = None
        self.bridge = JobBridge(self)
        self.setAcceptDrops(True)
        self.resize(1400, 900)

        self.workspaces = QTabWidget()
        self.workspaces.setObjectName("workspaces")
        self.workspaces.setDocumentMode(True)
        self.persona_editor = PersonaEditor(self)
        self.library_browser = LibraryBrowser(self)
        self.drift_workspace = DriftWorkspace(self)
        self.timeline_workspace = TimelineWorkspace(self)
        self._workspace_widgets: list[QWidget] = [
            self.persona_editor,
            self.library_browser,
            self.drift_workspace,
            self.timeline_workspace,
        ]
        for w in self._workspace_widgets:
            self.workspaces.addTab(w, w.title)
            w.status_message.connect(self.show_message)
            w.cast_changed.connect(lambda w=w: self._cast_changed(w))
            w.changed.connect(lambda changes, w=w: self._workspace_edited(w, changes))
            w.activation_requested.connect(lambda w=w: self.show_workspace(w.name))
        self.setCentralWidget(self.workspaces)

        self.undo_group = QUndoGroup(self)
        for w in self._workspace_widgets:
            self.undo_group.addStack(w.undo_stack)
        self.workspaces.currentChanged.connect(self._workspace_changed)
        self._workspace_changed(0)

        self.jobs_panel = JobsPanel()
        self.jobs_dock = QDockWidget("Jobs", self)
        self.jobs_dock.setObjectName("jobsDock")
        self.jobs_dock.setWidget(self.jobs_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.jobs_dock)
        self.resizeDocks([self.jobs_dock], [150], Qt.Orientation.Vertical)
        self.bridge.job_event.connect(self.jobs_panel.on_job_event)
        self.bridge.job_event.connect(self._on_job_event)

        self.models_panel = ModelsPanel()
        self.models_dock = QDockWidget("Models", self)
        self.models_dock.setObjectName("modelsDock")
        self.models_dock.setWidget(self.models_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.models_dock)
        self.tabifyDockWidget(self.jobs_dock, self.models_dock)
        self.jobs_dock.raise_()
        self.bridge.job_event.connect(self.models_panel.on_job_event)
        self.models_panel.status_message.connect(self.show_message)
        self.undo_group.addStack(self.models_panel.undo_stack)

        self.project_label = QLabel()
        self.statusBar().addPermanentWidget(self.project_label)
        self._build_menus()
        self._restore_state()
        self._update_title()

    # -- menus ----------------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(
            file,
            "&New Project…",
            self.new_project,
            QKeySequence.StandardKey.New,
            "Create a project file with a first persona",
        )
        self._action(file, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file.addSeparator()
        self.footage_action = self._action(
            file,
            "Import &Footage…",
            self.import_footage,
            "Ctrl+Shift+I",
            "Import video clips or folders of numbered images as shots",
        )
        self.sequence_action = self._action(
            file,
            "Import Image &Sequence…",
            self.import_sequence,
            tip="Import a folder of numbered images as one shot",
        )
        self.references_action = self._action(
            file,
            "Import &References…",
            self.import_references,
            "Ctrl+Shift+R",
            "Import reference images into the Library's current persona",
        )
        self.report_action = self._action(
            file,
            "&Export Drift Report…",
            self.export_report,
            "Ctrl+Shift+E",
            "Every frame's drift scores as HTML, CSV or JSON",
        )
        file.addSeparator()
        self.copy_action = self._action(
            file,
            "Save a &Copy As…",
            self.save_copy_dialog,
            "Ctrl+Shift+S",
            "Write a consistent copy of the project",
        )
        self.close_action = self._action(
            file, "&Close Project", self.close_project, QKeySequence.StandardKey.Close
        )
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = bar.addMenu("&Edit")
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        edit.addAction(undo)
        edit.addAction(redo)

        view = bar.addMenu("&View")
        for i, w in enumerate(self._workspace_widgets):
            self._action(
                view,
                w.title,
                lambda _=False, i=i: self.workspaces.setCurrentIndex(i),
                f"Ctrl+{i + 1}",
            )
        view.addSeparator()
        jobs_toggle = self.jobs_dock.toggleViewAction()
        jobs_toggle.setShortcut(QKeySequence("Ctrl+J"))
        view.addAction(jobs_toggle)
        models_toggle = self.models_dock.toggleViewAction()
        models_toggle.setShortcut(QKeySequence("Ctrl+Shift+M"))
        view.addAction(models_toggle)
        theme_menu = view.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        for name in ("light", "dark"):
            a = QAction(name.capitalize(), self, checkable=True)
            a.setData(name)
            a.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            self.theme_group.addAction(a)
            theme_menu.addAction(a)

        # Each workspace's own actions, in a menu named after it (Persona: Save Version…).
        self.workspace_menus = {}
        for w in self._workspace_widgets:
            if w.menu_actions():
                menu = bar.addMenu(f"&{w.title}")
                menu.addActions(w.menu_actions())
                self.workspace_menus[w.name] = menu

        tools = bar.addMenu("&Tools")
        self.verify_action = self._action(
            tools,
            "&Verify Stored Files",
            self.verify_files,
            tip="Re-hash every stored image and model file (runs as a job)",
        )
        help_menu = bar.addMenu("&Help")
        self.shortcuts_action = self._action(
            help_menu,
            "&Keyboard Shortcuts",
            self.show_shortcuts,
            "Ctrl+/",
            "Every keyboard shortcut and the menu that lists it",
        )
        self._action(
            help_menu,
            "&How the Studio Works",
            self.show_how_it_works,
            QKeySequence.StandardKey.HelpContents,
            "Persona record, references, drift review and reshoots in a page",
        )
        help_menu.addSeparator()
        self._action(help_menu, "&About Persona Studio", self._about)
        self._update_actions()

    # -- project lifecycle ----------------------------------------------------------------------

    def open_project(self, path: str | Path, *, read_only: bool = False) -> bool:
        """Open a project in this window (closing the current one); False if it failed."""
        path = Path(path)
        try:
            project = projects.open_project(path, read_only=read_only)
        except ProjectLockedError as exc:
            if read_only or not self.ask_read_only(exc):
                return False
            return self.open_project(path, read_only=True)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot open project")
            return False
        self.close_project()
        self.project = project
        if not project.read_only:
            self.runner = JobRunner(project, self.bridge.deliver)
        for w in self._workspace_widgets:
            w.set_project(project)
        self.library_browser.set_runner(self.runner)
        self.drift_workspace.set_runner(self.runner)
        self.timeline_workspace.set_runner(self.runner)
        self.jobs_panel.set_project(project, self.runner)
        self.models_panel.set_project(project, self.runner)
        self._remember_recent(path)
        self._update_title()
        self._update_actions()
        note = " (read-only)" if project.read_only else ""
        if getattr(project, "took_over_lock", None):
            note += " — recovered from a crash of the previous session"
        self.show_message(f"Opened {path.name}{note}")
        self._start_background_jobs()
        return True

    def ask_read_only(self, error: ProjectLockedError) -> bool:
        """Ask whether to open a locked project read-only."""
        answer = QMessageBox.question(
            self,
            "Project in use",
            f"{error.message}\n\nOpen it read-only instead?",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Open

    def _start_background_jobs(self) -> None:
        if self.runner is None:
            return
        spec = library.plan_thumbnails(self.project)
        if spec is not None:
            self.runner.submit(spec)

    def close_project(self) -> None:
        """Stop the project's jobs (left resumable) and close it."""
        if self.project is None:
            return
        if self.runner is not None:
            self.runner.shutdown()
            self.runner = None
            self.library_browser.set_runner(None)
            self.drift_workspace.set_runner(None)
            self.timeline_workspace.set_runner(None)
        for w in self._workspace_widgets:
            w.set_project(None)
        self.jobs_panel.set_project(None, None)
        self.models_panel.set_project(None, None)
        self.project.close()
        self.project = None
        self._update_title()
        self._update_actions()

    def new_project(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "New project", str(self._last_dir()), FILE_FILTER
        )
        if not path:
            return
        name, ok = QInputDialog.getText(self, "New project", "Name of the first persona:")
        if not ok:
            return
        try:
            project = projects.new_project(path, name.strip() or None)
            project.close()
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot create project")
            return
        self.open_project(projects.project_path(path))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", str(self._last_dir()), FILE_FILTER
        )
        if path:
            self.open_project(path)

    def save_copy_dialog(self) -> None:
        if self.project is None:
            return
        suggestion = self.project.path.with_name(self.project.path.stem + " copy.pstudio")
        path, _ = QFileDialog.getSaveFileName(self, "Save a copy as", str(suggestion), FILE_FILTER)
        if path:
            self.save_copy(path)

    def save_copy(self, path: str | Path) -> Path | None:
        try:
            dest = projects.save_copy(self.project, path)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot save a copy")
            return None
        self.show_message(f"Saved a copy as {dest}")
        return dest

    def import_footage(self) -> None:
        self.show_workspace(self.drift_workspace.name)
        self.drift_workspace.import_dialog()

    def import_sequence(self) -> None:
        self.show_workspace(self.drift_workspace.name)
        self.drift_workspace.import_sequence_dialog()

    def import_references(self) -> None:
        self.show_workspace(self.library_browser.name)
        self.library_browser.import_dialog()

    def export_report(self) -> None:
        self.show_workspace(self.drift_workspace.name)
        self.drift_workspace.export_dialog()

    def verify_files(self) -> None:
        if self.runner is not None:
            self.runner.submit(library.plan_verify(self.project))
            self.jobs_dock.show()

    # -- drag a project onto the window ---------------------------------------------------------

    @staticmethod
    def _project_url(urls: list[QUrl]) -> str | None:
        for url in urls:
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".pstudio"):
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and self._project_url(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._project_url(event.mimeData().urls())
        if path:
            event.acceptProposedAction()
            self.open_project(path)

    # -- state, recent files, theme ------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if v]

    def _remember_recent(self, path: Path) -> None:
        p = str(path.resolve())
        recent = [p] + [r for r in self.recent_files() if r != p]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self.settings.setValue("lastDir", str(path.resolve().parent))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for p in recent:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.setStatusTip(p)
            a.setEnabled(Path(p).exists())
            a.triggered.connect(lambda _=False, p=p: self.open_project(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Menu", lambda: self.settings.setValue("recent", []))
        else:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    def _last_dir(self) -> Path:
        return Path(str(self.settings.value("lastDir", str(Path.home()))))

    def set_theme(self, name: str) -> None:
        name = apply_theme(QApplication.instance(), name)
        self.settings.setValue("theme", name)
        for a in self.theme_group.actions():
            a.setChecked(a.data() == name)

    def _restore_state(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("windowState")
        if state is not None:
            self.restoreState(state)
        self.set_theme(str(self.settings.value("theme", "light")))
        self.show_workspace(str(self.settings.value("workspace", "persona")))

    def show_workspace(self, name: str) -> bool:
        """Bring the named workspace to the front; False if there is none of that name."""
        for i, w in enumerate(self._workspace_widgets):
            if w.name == name:
                self.workspaces.setCurrentIndex(i)
                return True
        return False

    def workspace_names(self) -> list[str]:
        return [w.name for w in self._workspace_widgets]

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue(
            "workspace", self._workspace_widgets[self.workspaces.currentIndex()].name
        )
        self.close_project()
        super().closeEvent(event)

    # -- small things ---------------------------------------------------------------------------

    def _workspace_changed(self, index: int) -> None:
        if 0 <= index < len(self._workspace_widgets):
            self.undo_group.setActiveStack(self._workspace_widgets[index].undo_stack)
            for i, w in enumerate(self._workspace_widgets):
                w.set_active(i == index)

    def _workspace_edited(self, source, changes) -> None:
        """An edit in one workspace changed what others show: they read just that."""
        for w in self._workspace_widgets:
            if w is not source:
                w.apply_changes(changes)

    def _cast_changed(self, source) -> None:
        """A workspace added, renamed or removed a persona: every other cast list follows."""
        if self.project is None:
            return
        for w in self._workspace_widgets:
            if w is not source:
                w.refresh_cast()

    def show_shortcuts(self) -> None:
        from studio.ui.help_dialogs import KeyboardShortcutsDialog

        KeyboardShortcutsDialog(self.menuBar(), self).exec()

    def show_how_it_works(self) -> None:
        from studio.ui.help_dialogs import HowItWorksDialog

        HowItWorksDialog(self).exec()

    def _on_job_event(self, event) -> None:
        if event.event in ("done", "failed"):
            self.show_message(f"{event.title}: {event.message}")
        if event.event == "done":
            self.persona_editor.refresh_portraits()  # a finished job may have made thumbnails
        self.library_browser.on_job_event(event)
        self.drift_workspace.on_job_event(event)
        self.timeline_workspace.on_job_event(event)

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _update_title(self) -> None:
        if self.project is None:
            self.setWindowTitle("Persona Studio")
            self.project_label.setText("No project open")
            return
        ro = " [read-only]" if self.project.read_only else ""
        self.setWindowTitle(f"{self.project.path.name}{ro} — Persona Studio")
        self.project_label.setText(f"{self.project.path}{ro}")

    def _update_actions(self) -> None:
        has = self.project is not None
        for a in (self.copy_action, self.close_action, self.report_action):
            a.setEnabled(has)
        for a in (self.footage_action, self.sequence_action, self.references_action):
            a.setEnabled(has and self.runner is not None)
        self.verify_action.setEnabled(has and self.runner is not None)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Persona Studio",
            f"<b>Persona Studio {__version__}</b><p>Keeps an AI-generated character looking like "
            "the same person across every frame.</p>",
        )
