"""The Models panel: models registered by a job with progress, a row each saying what it is and
whether its files are there, removal asked for and undone."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core import models as m
from studio.jobs.runner import JobRunner
from studio.services import models
from studio.ui.models_panel import (
    COL_FAMILY,
    COL_FILES,
    COL_HASH,
    COL_NAME,
    COL_SIZE,
    COL_USERS,
    COL_WHAT,
    STATE_COLOURS,
    ModelsPanel,
)
from studio.ui.qt_bridge import JobBridge
from tests.fixtures.model_files import (
    VIT_H,
    checkpoint_shapes,
    ip_adapter_shapes,
    lora_shapes,
    write_encoder,
    write_pipeline,
    write_safetensors,
)


@pytest.fixture
def panel(qtbot, project, errors):
    bridge = JobBridge()
    runner = JobRunner(project, bridge.deliver)
    panel = ModelsPanel()
    qtbot.addWidget(panel)
    bridge.job_event.connect(panel.on_job_event)
    panel.resize(1400, 360)
    panel.set_project(project, runner)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    runner.shutdown()
    panel.set_project(None, None)


def _rows(panel) -> dict[str, list[str]]:
    tree = panel.tree
    return {
        tree.topLevelItem(i).text(COL_NAME): [
            tree.topLevelItem(i).text(c) for c in range(tree.columnCount())
        ]
        for i in range(tree.topLevelItemCount())
    }


def _wait_for_jobs(qtbot, panel):
    qtbot.waitUntil(lambda: not panel._jobs, timeout=20000)
    QApplication.processEvents()


def test_added_files_register_as_a_job_and_show_what_they_are(qtbot, panel, project, tmp_path):
    lora = write_safetensors(tmp_path / "ada_xl.safetensors", lora_shapes(m.SDXL, m.KOHYA))
    base = write_safetensors(tmp_path / "real15.safetensors", checkpoint_shapes(m.SD15))
    assert panel.summary.text().startswith("No models yet")
    job_id = panel.add_files([str(lora), str(base)])
    assert job_id and panel.job_label.isVisibleTo(panel)
    _wait_for_jobs(qtbot, panel)
    assert not panel.job_label.isVisibleTo(panel)
    rows = _rows(panel)
    assert rows["ada_xl"][COL_WHAT] == "SDXL LoRA (kohya layout)"
    assert rows["ada_xl"][COL_FAMILY] == "SDXL"
    assert rows["real15"][COL_WHAT] == "SD 1.5 base model (single-file checkpoint)"
    sha = models.get_model(project, "ada_xl").sha256
    assert rows["ada_xl"][COL_HASH] == sha[:12]
    assert rows["ada_xl"][COL_SIZE] == m.size_text(lora.stat().st_size)
    assert rows["ada_xl"][COL_FILES] == "Present"
    assert panel.summary.text() == "2 models"


def test_a_refused_file_is_shown_as_an_error(qtbot, panel, errors, tmp_path):
    ckpt_like = write_safetensors(tmp_path / "v2.safetensors", checkpoint_shapes("sd2"))
    panel.add_files([str(ckpt_like)])
    _wait_for_jobs(qtbot, panel)
    assert errors and "Stable Diffusion 2.x" in str(errors[-1])
    assert _rows(panel) == {}


def test_a_folder_scan_registers_what_it_finds_and_pairs_the_encoder(qtbot, panel, tmp_path):
    snap = tmp_path / "hub" / "models--h94--IP-Adapter" / "snapshots" / "c0ffee"
    write_encoder(snap / "models" / "image_encoder", VIT_H)
    write_safetensors(
        snap / "models" / "ip-adapter-plus_sd15.safetensors", ip_adapter_shapes(m.PLUS, m.SD15)
    )
    write_pipeline(tmp_path / "hub" / "models--me--base15" / "snapshots" / "beef", m.SD15)
    messages = []
    panel.status_message.connect(messages.append)
    panel.scan_folder(str(tmp_path / "hub"))
    _wait_for_jobs(qtbot, panel)
    rows = _rows(panel)
    assert set(rows) == {
        "IP-Adapter/models/image_encoder",
        "IP-Adapter/models/ip-adapter-plus_sd15",
        "me/base15",
    }
    adapter = rows["IP-Adapter/models/ip-adapter-plus_sd15"]
    assert adapter[COL_WHAT] == "SD 1.5 IP-Adapter Plus"
    assert adapter[COL_USERS] == "reads with IP-Adapter/models/image_encoder"
    assert rows["IP-Adapter/models/image_encoder"][COL_FAMILY] == "any"
    assert any("registering 3 models" in t for t in messages)


def test_a_missing_model_is_shown_plainly_with_what_to_do(qtbot, panel, project, tmp_path):
    lora = write_safetensors(tmp_path / "ada_xl.safetensors", lora_shapes(m.SDXL, m.KOHYA))
    panel.add_files([str(lora)])
    _wait_for_jobs(qtbot, panel)
    lora.unlink()
    panel.reload()
    item = panel.tree.topLevelItem(0)
    assert item.text(COL_FILES) == ("Missing ada_xl.safetensors: put it back, or remove it")
    assert item.toolTip(COL_FILES).startswith(f"{lora} is not there any more.")
    assert item.foreground(COL_FILES).color().name() == STATE_COLOURS[models.MISSING]
    assert panel.summary.text() == "1 model, 1 needing attention"


def test_remove_asks_first_and_can_be_undone(qtbot, panel, project, tmp_path):
    lora = write_safetensors(tmp_path / "ada_xl.safetensors", lora_shapes(m.SDXL, m.KOHYA))
    panel.add_files([str(lora)])
    _wait_for_jobs(qtbot, panel)
    models.link_persona_model(project, "Ada", "ada_xl", 0.5)
    panel.reload()
    assert _rows(panel)["ada_xl"][COL_USERS] == "Ada (LoRA 0.5)"
    panel.select("ada_xl")
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    box = panel.findChild(QMessageBox, "studioQuestionBox")
    assert box is not None and box.text() == "Remove ada_xl from this project?"
    assert "Ada will no longer use it" in box.informativeText()
    accept = next(b for b in box.buttons() if b.text() == "Remove")
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    assert _rows(panel) == {} and models.list_records(project) == []
    assert panel.undo_button.isEnabled()
    qtbot.mouseClick(panel.undo_button, Qt.MouseButton.LeftButton)
    assert _rows(panel)["ada_xl"][COL_USERS] == "Ada (LoRA 0.5)"
    assert lora.exists()


def test_removal_refused_while_a_shot_renders_with_it(qtbot, panel, project, errors, tmp_path):
    from studio.core.render import RenderSettings
    from studio.services import renders

    base = write_safetensors(tmp_path / "real15.safetensors", checkpoint_shapes(m.SD15))
    panel.add_files([str(base)])
    _wait_for_jobs(qtbot, panel)
    renders.add_render_shot(project, "Cafe", ["Ada"], RenderSettings(model="real15"))
    assert not panel.remove("real15")
    assert "used by the render settings of 1 shot: Cafe" in errors[-1].message
    assert "real15" in _rows(panel) and not panel.undo_button.isEnabled()


def test_the_panel_renders(qtbot, panel, project, tmp_path):
    """Look at it: a screenshot of a panel with every kind of row."""
    write_safetensors(tmp_path / "lora" / "ada_xl.safetensors", lora_shapes(m.SDXL, m.KOHYA))
    write_safetensors(tmp_path / "lora" / "juniper_sd15.safetensors", lora_shapes(m.SD15, m.PEFT))
    write_safetensors(tmp_path / "ckpt" / "realvis_xl.safetensors", checkpoint_shapes(m.SDXL))
    write_encoder(tmp_path / "ip" / "models" / "image_encoder", VIT_H)
    write_safetensors(
        tmp_path / "ip" / "models" / "ip-adapter-plus-face_sd15.safetensors",
        ip_adapter_shapes(m.PLUS, m.SD15),
    )
    write_safetensors(
        tmp_path / "ip" / "models" / "ip-adapter-faceid_sdxl.safetensors",
        ip_adapter_shapes(m.FACEID, m.SDXL),
    )
    gone = write_safetensors(tmp_path / "old" / "gone.safetensors", lora_shapes(m.SD15, m.KOHYA))
    panel.scan_folder(str(tmp_path))
    _wait_for_jobs(qtbot, panel)
    models.link_persona_model(project, "Ada", "ada_xl", 0.8)
    gone.unlink()
    panel.reload()
    panel.select("ada_xl")
    assert panel.tree.topLevelItemCount() == 7
    path = tmp_path / "models_panel.png"
    assert panel.grab().save(str(path))
    assert path.stat().st_size > 10_000
