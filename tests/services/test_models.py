"""Whether a face engine's models are in place, and the plan to download a missing pack."""

from __future__ import annotations

from studio.core import model_packs
from studio.services import models


def test_dlib_is_always_ready():
    assert models.engine_status("dlib").ready
    assert not models.engine_status("dlib").downloadable


def test_a_missing_pack_says_where_and_can_be_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv(model_packs.MODELS_ENV, str(tmp_path / "packs"))
    status = models.engine_status("insightface")
    assert not status.ready and status.downloadable
    assert status.pack == "buffalo_l" and status.folder == str(tmp_path / "packs" / "buffalo_l")
    assert "does not exist" in status.problem and "det_10g.onnx" in status.hint
    assert models.size_text(status.size) == "about 275 MiB"
    spec = models.plan_download(status)
    assert spec.dest == str(tmp_path / "packs")
    assert spec.sha256 == model_packs.KNOWN_ARCHIVES["buffalo_l"].sha256
    assert "buffalo_l" in spec.title


def test_an_unknown_pack_is_downloaded_without_a_published_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv(model_packs.MODELS_ENV, str(tmp_path))
    status = models.engine_status("insightface:my_pack")
    assert status.pack == "my_pack" and status.size is None
    assert models.size_text(status.size) == "size unknown"
    assert models.plan_download(status).sha256 == ""


def test_an_incomplete_pack_is_not_ready(tmp_path, monkeypatch):
    monkeypatch.setenv(model_packs.MODELS_ENV, str(tmp_path))
    folder = tmp_path / "buffalo_l"
    folder.mkdir()
    (folder / "det_10g.onnx").write_bytes(b"x")
    status = models.engine_status("insightface")
    assert not status.ready and "w600k_r50.onnx missing" in status.problem
    (folder / "w600k_r50.onnx").write_bytes(b"x")
    assert models.engine_status("insightface").ready


def test_a_download_is_remembered_with_its_hash(project):
    assert models.downloaded_pack(project, "buffalo_l") == {}
    models.record_download(project, "buffalo_l", "/models/buffalo_l", "ab" * 32)
    assert models.downloaded_pack(project, "buffalo_l") == {
        "path": "/models/buffalo_l",
        "sha256": "ab" * 32,
    }
