"""The Library workspace driven through its widgets: drop to import, curate with undo, pick."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from studio.core.resources import resource_path
from studio.services import audit, personas
from studio.ui import dialogs
from studio.ui.library_model import ROW_ROLE
from tests.ui.conftest import drop_files, open_demo_window, wait_idle


@pytest.fixture
def window(qtbot, tmp_path, demo_path, errors):
    w = open_demo_window(qtbot, tmp_path, demo_path, "library")
    yield w
    w.close_project()


def _names(browser) -> list[str]:
    proxy = browser.proxy
    return [proxy.index(r, 0).data(ROW_ROLE).reference.file_name for r in range(proxy.rowCount())]


def _select(browser, *names: str) -> None:
    sel = browser.grid.selectionModel()
    sel.clearSelection()
    for r in range(browser.proxy.rowCount()):
        index = browser.proxy.index(r, 0)
        if index.data(ROW_ROLE).reference.file_name in names:
            sel.select(index, QItemSelectionModel.SelectionFlag.Select)


def _status(browser, name: str) -> str:
    return next(r.status for r in browser.model.rows() if r.reference.file_name == name)


def test_opens_with_audited_references_and_a_suspect(window):
    lib = window.library_browser
    assert len(_names(lib)) == 6
    assert _status(lib, "set-photo-0412.jpg") == "suspect"
    assert all(_status(lib, n) == "ok" for n in _names(lib) if n.startswith("nova-"))
    lib.status_buttons.button(3).click()  # Suspect
    assert _names(lib) == ["set-photo-0412.jpg"]
    lib.status_buttons.button(0).click()
    lib.search.setText("close")
    assert _names(lib) == ["nova-closeup.jpg"]
    lib.search.clear()
    assert "no left profile" in lib.missing_label.text()


def test_inspector_shows_the_face_and_attributes(window):
    lib = window.library_browser
    _select(lib, "nova-closeup.jpg")
    facts = {k: v.text() for k, v in lib._fact_labels.items()}
    assert facts["Faces"] == "1" and facts["Status"] == "ok"
    assert facts["Face size"].endswith("px") and "yaw" in facts["Pose"]
    assert not lib.preview.pixmap().isNull()


def test_quarantine_and_tag_with_undo(qtbot, window):
    lib = window.library_browser
    _select(lib, "set-photo-0412.jpg")
    qtbot.mouseClick(lib.quarantine_button, Qt.MouseButton.LeftButton)
    assert _status(lib, "set-photo-0412.jpg") == "quarantined"
    rows = {a.reference.file_name: a for a in audit.audit_rows(window.project, "Nova Hale")}
    assert rows["set-photo-0412.jpg"].reference.status == "quarantined"

    _select(lib, "nova-portrait.jpg", "nova-closeup.jpg")
    qtbot.keyClicks(lib.tag_edit, "hero")
    qtbot.keyClick(lib.tag_edit, Qt.Key.Key_Return)
    tagged = [
        a.reference.file_name
        for a in audit.audit_rows(window.project, "Nova Hale")
        if "hero" in a.reference.tags
    ]
    assert sorted(tagged) == ["nova-closeup.jpg", "nova-portrait.jpg"]

    stack = lib.undo_stack
    assert stack.undoText().startswith("Tag 2 references")
    stack.undo()
    assert not any(
        "hero" in a.reference.tags for a in audit.audit_rows(window.project, "Nova Hale")
    )
    stack.undo()
    assert _status(lib, "set-photo-0412.jpg") == "suspect"
    stack.redo()
    assert _status(lib, "set-photo-0412.jpg") == "quarantined"


def test_drop_files_on_the_grid_imports_and_checks_them(qtbot, window, tmp_path, errors):
    lib = window.library_browser
    folder = tmp_path / "shoot"
    (folder / "day2").mkdir(parents=True)
    shutil.copy(resource_path("demo/nova-portrait.jpg"), folder / "original.jpg")
    (folder / "day2" / "notes.png").write_text("not an image")
    assert drop_files(lib.grid.viewport(), [folder])
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: "original.jpg" in _names(lib), timeout=30000)
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: _status(lib, "original.jpg") in ("ok", "suspect"), timeout=30000)
    assert _status(lib, "original.jpg") == "ok"
    assert errors[-1].message.startswith("1 imported")  # the report names the reject
    assert "notes.png" in errors[-1].hint


def test_move_references_to_another_persona_with_undo(window):
    lib = window.library_browser
    personas.add_persona(window.project, "Ada")
    lib.set_project(window.project)  # the cast now lists Ada
    nova = personas.get_persona(window.project, "Nova Hale")
    ada = personas.get_persona(window.project, "Ada")
    lib.cast.setCurrentRow(
        [lib.cast.item(i).text() for i in range(lib.cast.count())].index("Nova Hale")
    )
    stranger = next(r.id for r in lib.model.rows() if r.reference.file_name == "set-photo-0412.jpg")
    lib.move_to_persona(ada.id, [stranger])
    assert "set-photo-0412.jpg" not in _names(lib)
    assert [a.reference.file_name for a in audit.audit_rows(window.project, ada.id)] == [
        "set-photo-0412.jpg"
    ]
    lib.undo_stack.undo()
    assert "set-photo-0412.jpg" in _names(lib)
    assert len(audit.audit_rows(window.project, nova.id)) == 6


def test_pick_references_for_a_shot(window, qtbot):
    lib = window.library_browser
    lib.side.setCurrentIndex(lib.side.count() - 1)
    lib.pick_count.setValue(3)
    qtbot.mouseClick(lib.pick_button, Qt.MouseButton.LeftButton)
    items = [lib.pick_list.item(i) for i in range(lib.pick_list.count())]
    # The demo's five references of Nova are one photo: one pick, its copies named.
    assert [item.text().split("\n")[0] for item in items] == ["nova-closeup.jpg"]
    lines = items[0].text().split("\n")
    assert lines[1].startswith("yaw +4°, pitch +2°: ") and lines[1].endswith("from the shot's pose")
    assert lines[2].startswith("4 copies of this photo left out: ")
    assert "set-photo-0412.jpg" not in items[0].text()
    assert items[0].toolTip().startswith("identity ")
    reason = lib.pick_reason.text().split("\n")
    assert reason[0] == "1 distinct photo picked for yaw 0°, pitch 0°."
    assert reason[1].startswith("⚠ Only 1 distinct photo of Nova Hale for 3 picks")

    lib.pick_yaw.setValue(30)
    qtbot.mouseClick(lib.pick_button, Qt.MouseButton.LeftButton)
    item = lib.pick_list.item(0)
    assert item.text().split("\n")[1].startswith("⚠ yaw +4°, pitch +2°: ")
    assert item.foreground().color() == lib.pick_list.palette().color(
        lib.pick_list.palette().ColorRole.Link
    )
    assert (
        lib.pick_reason.text()
        .split("\n")[-1]
        .startswith("⚠ No reference within 15° of the shot's pose, yaw +30°, pitch 0°")
    )
    qtbot.mouseClick(
        lib.pick_list.viewport(),
        Qt.MouseButton.LeftButton,
        pos=lib.pick_list.visualItemRect(item).center(),
    )
    assert [r.reference.file_name for r in lib.selected_rows()] == ["nova-closeup.jpg"]


def test_drag_out_exports_the_original_files(window, tmp_path):
    lib = window.library_browser
    _select(lib, "nova-closeup.jpg")
    md = lib.mime_for(lib.selected_rows())
    files = [Path(u.toLocalFile()) for u in md.urls()]
    ref = lib.selected_rows()[0].reference
    from studio.services import library

    assert files[0].name == "nova-closeup.jpg"
    assert files[0].read_bytes() == library.read_blob(window.project, ref.blob_sha)


@pytest.fixture
def questions(monkeypatch) -> list:
    """Questions the UI asked (title, question, details, on_accept); none is answered."""
    asked: list = []
    monkeypatch.setattr(
        dialogs, "ask", lambda parent, title, q, d, label, yes: asked.append((title, q, d, yes))
    )
    return asked


def _choose_engine(lib, name: str) -> None:
    lib.side.setCurrentIndex(1)
    index = lib.engine_combo.findData(name)
    lib.engine_combo.setCurrentIndex(index)
    lib.engine_combo.activated.emit(index)


def test_choosing_insightface_without_models_offers_the_download(qtbot, window, questions):
    lib = window.library_browser
    lib.side.setCurrentIndex(1)
    assert not lib.engine_note.isVisibleTo(lib)  # dlib: nothing to warn about
    assert not lib.download_button.isVisibleTo(lib)
    _choose_engine(lib, "insightface")
    assert "non-commercial" in lib.engine_note.text() and lib.engine_note.isVisibleTo(lib)
    assert audit.default_engine(window.project) == "insightface"
    # The check it would start needs the models: the user is asked first, nothing runs.
    title, question, details, _ = questions[-1]
    assert "buffalo_l" in question and "275 MiB" in question
    assert "sha256" in details and "non-commercial" in details
    assert lib.download_button.isVisibleTo(lib)
    assert "buffalo_l" in lib.models_label.text() and "does not exist" in lib.models_label.text()
    assert not window.runner.busy
    lib.undo_stack.undo()
    assert audit.default_engine(window.project) == "dlib"
    assert lib.engine_combo.currentData() == "dlib"
    assert not lib.download_button.isVisibleTo(lib)
    assert _status(lib, "set-photo-0412.jpg") == "suspect"  # the dlib verdicts are still there


def _pack_archive(tmp_path: Path) -> Path:
    """A zip laid out like buffalo_l, holding tiny models insightface's loader accepts."""
    pytest.importorskip("insightface", reason="insightface is installed by `make`")
    from tests.engine.conftest import build_arcface, build_scrfd

    folder = tmp_path / "pack-src"
    folder.mkdir()
    build_scrfd(folder / "det_10g.onnx")
    build_arcface(folder / "w600k_r50.onnx")
    archive = tmp_path / "buffalo_l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"buffalo_l/{f.name}")
    return archive


def _serve(monkeypatch, archive: Path, sha256: str) -> None:
    """Point the download at a local archive with the given published checksum."""
    from studio.core import model_packs
    from studio.services import models

    monkeypatch.setitem(
        model_packs.KNOWN_ARCHIVES,
        "buffalo_l",
        model_packs.PackArchive(sha256, archive.stat().st_size),
    )
    plan = models.plan_download
    monkeypatch.setattr(models, "plan_download", lambda status: plan(status, archive.as_uri()))


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")
def test_confirmed_download_installs_the_pack_then_checks(
    qtbot, window, questions, tmp_path, monkeypatch
):
    from studio.core import model_packs
    from studio.services import models

    archive = _pack_archive(tmp_path)
    _serve(monkeypatch, archive, hashlib.sha256(archive.read_bytes()).hexdigest())
    lib = window.library_browser
    _choose_engine(lib, "insightface")
    progress = []
    window.runner.add_listener(lambda e: progress.append(e.progress.message))
    questions[-1][3]()  # the user answers Download
    assert not lib.download_button.isEnabled()  # one download at a time
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: not lib._download_jobs and not window.runner.busy, timeout=60000)
    wait_idle(qtbot, window)
    folder = model_packs.pack_folder("buffalo_l")
    assert sorted(p.name for p in folder.iterdir()) == ["det_10g.onnx", "w600k_r50.onnx"]
    assert any(m.startswith("Downloading buffalo_l") for m in progress)
    assert models.downloaded_pack(window.project, "buffalo_l")["path"] == str(folder)
    assert models.engine_status("insightface").ready
    assert not lib.download_button.isVisibleTo(lib)
    assert str(folder) in lib.models_label.text()
    # The check the user asked for ran with the downloaded models.
    from studio.services import jobs as job_service

    jobs = job_service.list_jobs(window.project)
    assert [j.state for j in jobs if j.kind == "model-download"] == ["done"]
    audits = [j for j in jobs if j.kind == "audit" and j.spec["engine"] == "insightface"]
    assert audits and audits[0].state == "done"


def test_a_download_failing_its_checksum_installs_nothing(
    qtbot, window, questions, errors, tmp_path, monkeypatch
):
    from studio.core import model_packs
    from studio.services import models

    archive = _pack_archive(tmp_path)
    _serve(monkeypatch, archive, "0" * 64)
    lib = window.library_browser
    _choose_engine(lib, "insightface")
    lib.download_button.click()
    questions[-1][3]()
    qtbot.waitUntil(lambda: bool(errors), timeout=60000)
    assert "damaged or not the expected file" in str(errors[-1])
    assert not model_packs.pack_folder("buffalo_l").exists()
    assert not models.engine_status("insightface").ready
    assert lib.download_button.isEnabled() and lib.download_button.isVisibleTo(lib)


def test_near_duplicates_are_shown_as_groups(window):
    lib = window.library_browser
    lib.flag_combo.setCurrentIndex(lib.flag_combo.findText("Near-duplicates"))
    rows = [lib.proxy.index(r, 0).data(ROW_ROLE) for r in range(lib.proxy.rowCount())]
    assert len(rows) >= 2 and all(r.group is not None for r in rows)
    groups = [r.group for r in rows]
    assert groups == sorted(groups)  # each group's members stand together
    names = {r.reference.file_name for r in rows}
    assert "set-photo-0412.jpg" not in names and "nova-portrait.jpg" in names
    lib.flag_combo.setCurrentIndex(0)
    assert len(_names(lib)) == 6


def test_rate_a_selection_with_undo(window):
    lib = window.library_browser
    _select(lib, "nova-closeup.jpg")
    lib.rating_combo.activated.emit(lib.rating_combo.findData(4))
    rating = {
        a.reference.file_name: a.reference.rating
        for a in audit.audit_rows(window.project, "Nova Hale")
    }
    assert rating["nova-closeup.jpg"] == 4
    assert lib._fact_labels["Rating"].text() == "★★★★"
    lib.undo_stack.undo()
    assert (
        next(
            a.reference.rating
            for a in audit.audit_rows(window.project, "Nova Hale")
            if a.reference.file_name == "nova-closeup.jpg"
        )
        == 0
    )


def test_delete_key_removes_a_reference_with_undo_and_redo(qtbot, window):
    lib = window.library_browser
    lib.grid.setFocus()
    _select(lib, "set-photo-0412.jpg")
    assert lib.delete_button.isEnabled()
    qtbot.keyClick(lib.grid, Qt.Key.Key_Delete)

    stored = lambda: [a.reference.file_name for a in audit.audit_rows(window.project, "Nova Hale")]  # noqa: E731
    assert "set-photo-0412.jpg" not in _names(lib) and "set-photo-0412.jpg" not in stored()
    assert len(_names(lib)) == 5
    assert lib.undo_stack.undoText() == "Delete 1 reference"

    lib.undo_stack.undo()
    assert "set-photo-0412.jpg" in _names(lib) and len(stored()) == 6
    assert _status(lib, "set-photo-0412.jpg") == "suspect"  # its verdict came back with it
    assert [r.reference.file_name for r in lib.selected_rows()] == ["set-photo-0412.jpg"]
    lib.undo_stack.redo()
    assert "set-photo-0412.jpg" not in stored()


def test_delete_button_removes_the_selection(qtbot, window):
    lib = window.library_browser
    _select(lib, "nova-closeup.jpg", "nova-portrait.jpg")
    qtbot.mouseClick(lib.delete_button, Qt.MouseButton.LeftButton)
    assert not {"nova-closeup.jpg", "nova-portrait.jpg"} & set(_names(lib))
    assert lib.undo_stack.undoText() == "Delete 2 references"
    lib.undo_stack.undo()
    assert {"nova-closeup.jpg", "nova-portrait.jpg"} <= set(_names(lib))


def test_import_references_from_the_file_menu_imports_into_the_current_persona(
    qtbot, window, monkeypatch, tmp_path
):
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QFileDialog

    window.show_workspace("persona")
    photo = tmp_path / "menu-pick.jpg"
    shutil.copy(resource_path("demo/nova-portrait.jpg"), photo)
    (tmp_path / "loose").mkdir()
    loose = tmp_path / "loose" / "from-a-folder.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 30, 30)).save(loose)
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(photo)], ""))
    )
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(loose.parent))
    )
    action = window.references_action
    assert action.shortcut() == QKeySequence("Ctrl+Shift+R") and action.isEnabled()
    action.trigger()
    lib = window.library_browser
    assert window.workspaces.currentWidget() is lib
    assert lib._import_jobs
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: "menu-pick.jpg" in _names(lib), timeout=30000)
    lib.import_button.menu().actions()[1].trigger()  # the Library's own "A folder…"
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: "from-a-folder.png" in _names(lib), timeout=30000)
    names = [a.reference.file_name for a in audit.audit_rows(window.project, "Nova Hale")]
    assert {"menu-pick.jpg", "from-a-folder.png"} <= set(names)


def test_a_near_duplicate_says_so_on_its_tile_and_in_the_inspector(window):
    lib = window.library_browser
    groups = [r for r in lib.model.rows() if r.group is not None]  # without asking for them
    assert len(groups) >= 2
    row = next(r for r in groups if r.reference.file_name == "nova-portrait.jpg")
    others = {r.reference.file_name for r in groups if r.group == row.group} - {"nova-portrait.jpg"}
    assert set(row.near_of) == others
    index = next(
        lib.proxy.index(i, 0)
        for i in range(lib.proxy.rowCount())
        if lib.proxy.index(i, 0).data(ROW_ROLE).id == row.id
    )
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "near-duplicate of" in tip and all(name in tip for name in others)
    _select(lib, "nova-portrait.jpg")
    line = lib._fact_labels["Near-duplicate"].text()
    assert line.startswith("of ") and all(name in line for name in others)
    _select(lib, "set-photo-0412.jpg")
    assert lib._fact_labels["Near-duplicate"].text() == "none"
    assert "near-duplicate" not in lib.model.data(
        lib.model.index(
            next(
                i
                for i, r in enumerate(lib.model.rows())
                if r.reference.file_name == "set-photo-0412.jpg"
            )
        ),
        Qt.ItemDataRole.ToolTipRole,
    )


def _index_of(lib, name: str):
    return next(
        lib.proxy.index(i, 0)
        for i in range(lib.proxy.rowCount())
        if lib.proxy.index(i, 0).data(ROW_ROLE).reference.file_name == name
    )


def test_double_click_opens_the_full_size_view_and_escape_closes_it(qtbot, window):
    from studio.ui.image_viewer import FullSizeView

    lib = window.library_browser
    index = _index_of(lib, "nova-closeup.jpg")
    lib.grid.scrollTo(index)
    centre = lib.grid.visualRect(index).center()
    # A real double-click is a press, a release, then the double-click on the same tile.
    qtbot.mouseClick(lib.grid.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(lib.grid.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    view = lib.findChild(FullSizeView)
    assert view is not None and view.isVisible()
    ref = index.data(ROW_ROLE).reference
    assert (view.source().width(), view.source().height()) == (ref.width, ref.height)
    shown = view.picture.pixmap()
    assert shown.width() <= view.picture.width() and shown.height() <= view.picture.height()
    assert abs(shown.width() / shown.height() - ref.width / ref.height) < 0.02
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.isVisible()


def test_grid_context_menu_offers_the_edits_with_undo(qtbot, window, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    from studio.ui.image_viewer import FullSizeView

    lib = window.library_browser
    _select(lib, "nova-portrait.jpg")
    index = _index_of(lib, "set-photo-0412.jpg")
    menu = lib.context_menu(lib.grid.visualRect(index).center())
    # a right-click on an unselected tile acts on that tile
    assert [r.reference.file_name for r in lib.selected_rows()] == ["set-photo-0412.jpg"]
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert {"Show Full Size", "Approve", "Quarantine", "Tag…", "Delete"} <= set(actions)
    actions["Quarantine"].trigger()
    assert _status(lib, "set-photo-0412.jpg") == "quarantined"
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("extra", True)))
    actions = {
        a.text(): a
        for a in lib.context_menu(
            lib.grid.visualRect(_index_of(lib, "set-photo-0412.jpg")).center()
        ).actions()
    }
    actions["Tag…"].trigger()
    tags = {
        a.reference.file_name: a.reference.tags
        for a in audit.audit_rows(window.project, "Nova Hale")
    }
    assert "extra" in tags["set-photo-0412.jpg"]
    actions["Show Full Size"].trigger()
    assert lib.findChild(FullSizeView) is not None
    lib.findChild(FullSizeView).close()
    actions["Delete"].trigger()
    assert "set-photo-0412.jpg" not in _names(lib)
    lib.undo_stack.undo()
    assert "set-photo-0412.jpg" in _names(lib)
    assert (
        "extra"
        in next(
            r for r in lib.model.rows() if r.reference.file_name == "set-photo-0412.jpg"
        ).reference.tags
    )
    lib.undo_stack.undo()
    lib.undo_stack.undo()
    assert _status(lib, "set-photo-0412.jpg") == "suspect" and len(_names(lib)) == 6


def test_delete_in_the_tag_field_edits_the_text_not_the_references(qtbot, window):
    lib = window.library_browser
    _select(lib, "set-photo-0412.jpg")
    lib.tag_edit.setFocus()
    lib.tag_edit.setText("ab")
    lib.tag_edit.setCursorPosition(0)
    qtbot.keyClick(lib.tag_edit, Qt.Key.Key_Delete)
    assert lib.tag_edit.text() == "b"
    assert "set-photo-0412.jpg" in _names(lib) and lib.undo_stack.count() == 0


def test_a_curation_edit_tells_the_other_workspaces(qtbot, window, monkeypatch):
    """Approving or deleting changes the cast's portraits and the drift scores: they follow."""
    lib = window.library_browser
    followed: list[str] = []
    for w in (window.persona_editor, window.drift_workspace):
        monkeypatch.setattr(w, "refresh_cast", lambda w=w: followed.append(w.name))
    _select(lib, "nova-closeup.jpg")
    lib.approve_button.click()
    assert sorted(followed) == ["drift", "persona"]
    lib.undo_stack.undo()
    assert len(followed) == 4
