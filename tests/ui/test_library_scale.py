"""The library grid with a thousand references: paints from memory, holds a bounded cache."""

from __future__ import annotations

import io
import sys
import threading

import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QLabel

from studio.engine.images import thumbnail
from studio.services import library, personas
from studio.services.projects import new_project
from studio.ui.library_model import ReferenceListModel
from studio.ui.main_window import MainWindow

COUNT = 1000


@pytest.fixture(scope="module")
def big_library(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.pstudio"
    project = new_project(path, "Nova Hale")
    persona = personas.get_persona(project, "Nova Hale")
    with project.atomic():
        for i in range(COUNT):
            buf = io.BytesIO()
            Image.new("RGB", (48, 48), (i % 256, (i // 256) * 40, 90)).save(buf, "PNG")
            data = buf.getvalue()
            ref = library.add_reference_bytes(
                project,
                persona.id,
                data,
                mime="image/png",
                file_name=f"r{i:04d}.png",
                source_path=f"/shoot/r{i:04d}.png",
                width=48,
                height=48,
            )
            library.store_thumbnail(
                project, ref.blob_sha, library.THUMBNAIL_SIZE, thumbnail(data, 64)
            )
    project.close()
    return path


def test_scrolling_a_thousand_tiles_reads_nothing_on_the_gui_thread(
    qtbot, tmp_path, big_library, monkeypatch, errors
):
    monkeypatch.setattr(ReferenceListModel, "CACHE", 60)
    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1200, 800)
    assert w.open_project(big_library)
    w.show_workspace("library")
    w.show()
    qtbot.waitExposed(w)
    lib = w.library_browser
    assert lib.model.rowCount() == COUNT
    bar = lib.grid.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 100 * 200, timeout=10000)  # batched layout ends

    gui = threading.get_ident()
    statements: list[str] = []
    w.project._conn.set_trace_callback(
        lambda sql: statements.append(sql) if threading.get_ident() == gui else None
    )
    try:
        for value in range(0, bar.maximum() + 1, bar.pageStep()):
            bar.setValue(value)
            lib.grid.viewport().repaint()
            QApplication.processEvents()
        lib.model.wait_for_thumbnails()
        QApplication.processEvents()
    finally:
        w.project._conn.set_trace_callback(None)
    assert statements == []  # tiles paint from memory; pictures are read off the GUI thread
    # Pictures of tiles scrolled past are dropped: the cache stays bounded.
    assert 0 < len(lib.model._pixmaps) <= 60
    # The tiles in view at the end got their pictures.
    last = lib.proxy.mapToSource(lib.grid.indexAt(lib.grid.viewport().rect().center()))
    assert lib.model.cached_pixmap(lib.model.row_at(last.row()).reference.blob_sha) is not None
    w.close_project()


def test_qt_calls_keep_pythons_reference_counts(qapp):
    """PySide6 6.12.0 dropped a reference to None in every call returning nothing (it is
    excluded by pyproject.toml); a long session would end in a crash."""
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("x")
        QApplication.processEvents()
    assert sys.getrefcount(None) >= before - 20
