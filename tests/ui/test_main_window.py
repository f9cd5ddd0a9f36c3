"""The main window: opening projects (menu, drop, recent), jobs panel, themes, state, screenshot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from studio.services import jobs as job_service
from studio.services import library, personas
from studio.ui import dialogs
from studio.ui.main_window import MainWindow


@pytest.fixture
def errors(monkeypatch):
    seen = []
    monkeypatch.setattr(dialogs, "show_error", lambda parent, error, title="": seen.append(error))
    return seen


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings)
    qtbot.addWidget(w)
    yield w
    w.close_project()


def _wait_jobs_idle(qtbot, window):
    qtbot.waitUntil(lambda: window.runner is None or not window.runner.busy, timeout=30000)
    QApplication.processEvents()


def _without_caches(path):
    from studio.project.store import Project

    with Project.open(path) as project:
        project.drop_caches()


def test_open_demo_shows_persona_and_runs_thumbnails(qtbot, window, demo_path):
    _without_caches(demo_path)  # caches are rebuilt on open
    assert window.open_project(demo_path)
    assert "demo.pstudio" in window.windowTitle()
    _wait_jobs_idle(qtbot, window)
    tree = window.jobs_panel.tree
    top = tree.topLevelItem(0)  # newest first: the thumbnails rebuilt on open
    qtbot.waitUntil(
        lambda: top.text(0).startswith("Thumbnails") and top.text(1) == "Done", timeout=10000
    )
    refs = library.list_references(window.project)
    assert all(library.get_thumbnail(window.project, r.blob_sha, 256) for r in refs)


def _drop(widget, path: Path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPointF(10, 10).toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    accepted = enter.isAccepted()
    if accepted:
        drop = QDropEvent(
            QPointF(10, 10),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, drop)
    return accepted


def test_drop_a_project_file_opens_it(window, demo_path, tmp_path, project):
    assert window.open_project(demo_path)
    other = project.path
    project.close()
    assert _drop(window, other)
    assert window.project.path == other
    assert [p.name for p in personas.list_personas(window.project)] == ["Ada"]
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not _drop(window, text)
    assert window.project.path == other


def test_recent_files_and_state_restored(qtbot, tmp_path, demo_path):
    ini = str(tmp_path / "state.ini")
    w = MainWindow(QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.open_project(demo_path)
    w.resize(701, 503)  # within the 800x800 offscreen screen
    w.set_theme("dark")
    w.jobs_dock.hide()
    w.close()

    again = MainWindow(QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.recent_files()[0] == str(demo_path.resolve())
    assert (again.width(), again.height()) == (701, 503)
    assert QApplication.instance().property("studioTheme") == "dark"
    assert not again.jobs_dock.isVisibleTo(again)
    again._fill_recent()
    actions = [a.text() for a in again.recent_menu.actions()]
    assert actions[0] == "demo.pstudio" and "Clear Menu" in actions
    again.set_theme("light")


def test_bad_files_give_a_message_and_keep_the_window(window, tmp_path, errors, demo_path):
    window.open_project(demo_path)
    bad = tmp_path / "bad.pstudio"
    bad.write_text("not a database at all\n" * 20)
    assert not window.open_project(bad)
    assert "not a Persona Studio project" in errors[-1].message
    assert window.project.path == demo_path  # the open project is untouched


def test_locked_project_offers_read_only(qtbot, window, demo_path, monkeypatch):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import sys, time
            from studio.services.projects import open_project
            p = open_project(sys.argv[1])
            print("open", flush=True)
            time.sleep(60)
            """
            ),
            str(demo_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        asked = []
        monkeypatch.setattr(window, "ask_read_only", lambda exc: asked.append(exc) or True)
        assert window.open_project(demo_path)
        assert str(holder.pid) in asked[0].message
        assert window.project.read_only and window.runner is None
        assert "[read-only]" in window.windowTitle()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_save_a_copy_and_close(window, demo_path, tmp_path):
    window.open_project(demo_path)
    dest = window.save_copy(tmp_path / "copy.pstudio")
    assert dest and dest.exists()
    window.close_project()
    assert window.project is None and window.windowTitle() == "Persona Studio"
    assert not window.copy_action.isEnabled()


def test_jobs_panel_resumes_an_interrupted_job(qtbot, window, demo_path):
    from studio.services.projects import open_project

    _without_caches(demo_path)
    project = open_project(demo_path)
    spec = library.plan_thumbnails(project)
    job = job_service.enqueue(project, spec, len(spec.blob_shas))
    job_service.set_state(project, job.id, "running")
    project.close()

    window.open_project(demo_path)
    _wait_jobs_idle(qtbot, window)
    panel = window.jobs_panel
    item = panel._items[job.id]
    assert item.text(1) == "Interrupted"
    panel.tree.setCurrentItem(item)
    assert panel.resume_button.isEnabled() and not panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: item.text(1) == "Done", timeout=20000)
    assert job_service.get_job(window.project, job.id).state == "done"


def test_screenshot_from_the_command_line(tmp_path, demo_path):
    png = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            str(demo_path),
            "--workspace",
            "persona",
            "--screenshot",
            str(png),
            "--size",
            "1280x800",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(png))
    assert (image.width(), image.height()) == (1280, 800)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            str(demo_path),
            "--workspace",
            "nope",
            "--screenshot",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert bad.returncode == 2 and "no workspace 'nope'" in bad.stderr
    part = tmp_path / "inspector.png"
    inspector = subprocess.run(
        [sys.executable, "-m", "studio", str(demo_path), "--workspace", "drift"]
        + ["--screenshot", str(part), "--part", "frameInspector"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert inspector.returncode == 0, inspector.stderr
    shot = QImage(str(part))
    assert 300 <= shot.width() < 700 and shot.height() > 300  # the panel, not the window
    missing = subprocess.run(
        [sys.executable, "-m", "studio", str(demo_path), "--screenshot", str(part)]
        + ["--part", "nothing"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert missing.returncode == 2 and "no part called 'nothing'" in missing.stderr


def test_no_project_opens_the_demo(tmp_path):
    png = tmp_path / "demo.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "d")}
    done = subprocess.run(
        [sys.executable, "-m", "studio", "--screenshot", str(png)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    demo = list((tmp_path / "d").rglob("demo.pstudio"))
    assert len(demo) == 1 and png.exists()


def test_a_damaged_version_row_gives_a_message_not_a_crash(qtbot, window, tmp_path, errors):
    from studio.services.projects import new_project

    path = tmp_path / "hurt.pstudio"
    with new_project(path, "Ada") as project, project.atomic() as db:
        db.execute("update persona_versions set record = '{broken'")
    assert window.open_project(path)
    assert any("is damaged" in e.message for e in errors)
    assert window.project is not None and window.isEnabled()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_disabled_buttons_look_disabled_in_both_themes(window, demo_path, theme):
    from PySide6.QtGui import QPalette

    assert window.open_project(demo_path)
    window.set_theme(theme)
    saving = window.persona_editor.save_button  # nothing to save: disabled
    adding = window.persona_editor.add_persona_button
    assert not saving.isEnabled() and adding.isEnabled()

    def text(button):
        group = QPalette.ColorGroup.Active if button.isEnabled() else QPalette.ColorGroup.Disabled
        return button.palette().color(group, QPalette.ColorRole.ButtonText)

    assert text(saving) != text(adding)
    # Rendered, the disabled label is drawn paler (light) or darker (dark) than the enabled one.
    enabled, disabled = text(adding).lightness(), text(saving).lightness()
    assert abs(enabled - disabled) > 40


def _demo_window(qtbot, window, demo_path):
    assert window.open_project(demo_path)
    window.show()
    qtbot.waitExposed(window)
    _wait_jobs_idle(qtbot, window)


def test_a_persona_added_in_the_persona_workspace_joins_every_cast_list(
    qtbot, window, demo_path, monkeypatch
):
    from PySide6.QtWidgets import QInputDialog

    _demo_window(qtbot, window, demo_path)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Ada", True))
    qtbot.mouseClick(window.persona_editor.add_persona_button, Qt.MouseButton.LeftButton)

    library_cast = window.library_browser.cast
    names = [library_cast.item(i).text() for i in range(library_cast.count())]
    assert names == ["Ada", "Nova Hale"]
    drift_combo = window.drift_workspace.persona_combo
    assert [drift_combo.itemText(i) for i in range(drift_combo.count())] == ["Ada", "Nova Hale"]
    assert drift_combo.currentText() == "Nova Hale"  # the chosen persona stays chosen
    window.show_workspace("drift")
    assert drift_combo.isVisible()  # several personas: the selector shows

    # A rename (saved as a version) follows too.
    editor = window.persona_editor
    assert editor.document.apply_field("identity.name", "Ada Lovelace")
    assert editor.save_version("renamed") is not None
    assert "Ada Lovelace" in [library_cast.item(i).text() for i in range(library_cast.count())]
    assert "Ada Lovelace" in [drift_combo.itemText(i) for i in range(drift_combo.count())]


def test_ctrl_s_saves_after_the_edit_menu_and_escape(qtbot, window, demo_path, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    _demo_window(qtbot, window, demo_path)
    window.show_workspace("persona")
    editor = window.persona_editor
    name = editor.document.value("identity.name")
    assert editor.document.apply_field("identity.name", name + " Jr")
    editor._show_state()
    assert editor.save_action.isEnabled()
    asked = []
    monkeypatch.setattr(
        QInputDialog, "getText", lambda *a, **k: asked.append(a) or ("a new name", True)
    )
    window.activateWindow()
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    edit_menu.popup(window.mapToGlobal(window.rect().center()))
    qtbot.waitUntil(edit_menu.isVisible)
    qtbot.keyClick(edit_menu, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not edit_menu.isVisible())
    window.workspaces.tabBar().setFocus()  # nothing inside the workspace has the focus
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.workspaces.tabBar())
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert len(asked) == 1
    assert editor.document.base.number == len(editor.document.versions())
    assert not editor.document.is_modified()

    # Listed in the Persona menu; while another workspace is shown, Ctrl+S is not hers.
    assert editor.save_action in window.workspace_menus["persona"].actions()
    assert editor.document.apply_field("identity.name", name)
    editor._show_state()
    window.show_workspace("library")
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert len(asked) == 1


def test_keyboard_shortcuts_page_is_read_from_the_menus(qtbot, window):
    from studio.ui.help_dialogs import KeyboardShortcutsDialog, shortcut_rows

    rows = shortcut_rows(window.menuBar())
    actions = {text: (keys, menu) for keys, text, menu in rows}
    assert actions["Save Version"] == ("Ctrl+S", "Persona")
    assert actions["Flag for Reshoot"] == ("R", "Drift")
    assert actions["Delete References"] == ("Del", "Library")
    assert actions["Keyboard Shortcuts"][1] == "Help"
    for key in ("Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+J", "Ctrl+Shift+I", "Ctrl+Shift+E", "A", "N"):
        assert key in [keys for keys, _, _ in rows], key
    dialog = KeyboardShortcutsDialog(window.menuBar(), window)
    qtbot.addWidget(dialog)
    assert {"Ctrl+S", "R"} <= set(dialog.shortcuts())


def test_how_the_studio_works_links_the_readme(qtbot, window, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from studio.ui.help_dialogs import HowItWorksDialog

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    dialog = HowItWorksDialog(window)
    qtbot.addWidget(dialog)
    text = dialog.browser.toPlainText()
    assert "Persona record" in text and "Reshoots" in text
    assert dialog.readme is not None and dialog.readme.name == "README.md"
    dialog.browser.anchorClicked.emit(QUrl.fromLocalFile(str(dialog.readme)))
    assert opened and opened[0].toLocalFile() == str(dialog.readme)


def test_a_refused_import_reads_finished_with_problems_in_the_window(qtbot, window, tmp_path):
    from studio.services import imports
    from studio.services.projects import new_project

    path = tmp_path / "cast.pstudio"
    new_project(path, "Ada").close()
    window.open_project(path)
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    job = window.runner.submit(imports.plan_import(window.project, "Ada", [str(bad)]))
    panel = window.jobs_panel
    qtbot.waitUntil(
        lambda: job.id in panel._items and panel._items[job.id].text(1) == "Finished with problems",
        timeout=30000,
    )
    assert job_service.get_job(window.project, job.id).state == "problems"
    assert panel.clear_button.isEnabled()
