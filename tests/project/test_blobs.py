"""Content-addressed blobs inside the file and large assets beside it."""

from __future__ import annotations

import hashlib
import os

import pytest

from studio.core.errors import NotFoundError, ProjectError, ReadOnlyProjectError
from studio.project import blobs
from studio.project.blobs import (
    asset_path,
    get_blob,
    has_blob,
    put_asset,
    put_blob,
    verify_asset,
    verify_blob,
)
from studio.project.store import Project

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def test_blob_round_trip_and_dedupe(project):
    sha = put_blob(project, PNG, "image/png")
    assert sha == hashlib.sha256(PNG).hexdigest()
    assert put_blob(project, PNG, "image/png") == sha
    assert project.counts()["blobs"] == 1
    assert has_blob(project, sha)
    assert get_blob(project, sha) == PNG
    row = project.query("select size, mime from blobs where sha256 = ?", (sha,))[0]
    assert row == {"size": len(PNG), "mime": "image/png"}
    other = put_blob(project, PNG + b"!", "image/png")
    assert other != sha and project.counts()["blobs"] == 2


def test_missing_blob(project):
    assert not has_blob(project, "0" * 64)
    with pytest.raises(NotFoundError):
        get_blob(project, "0" * 64)
    with pytest.raises(NotFoundError):
        verify_blob(project, "0" * 64)


def test_verify_blob_detects_corruption(project):
    sha = put_blob(project, PNG, "image/png")
    assert verify_blob(project, sha)
    with project.atomic() as db:
        db.execute("update blobs set data = ? where sha256 = ?", (PNG[:-1] + b"\x00", sha))
    assert not verify_blob(project, sha)


def test_blobs_survive_reopening(project, project_path):
    sha = put_blob(project, PNG, "image/png")
    project.close()
    with Project.open(project_path, read_only=True) as ro:
        assert get_blob(ro, sha) == PNG
        with pytest.raises(ReadOnlyProjectError):
            put_blob(ro, b"new", "image/png")


def model_file(tmp_path, name="face.safetensors", size=3 * 1024 * 1024 + 17):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def files_under(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_asset_is_placed_by_hash_and_listed(project, tmp_path):
    src = model_file(tmp_path)
    sha = put_asset(project, src, "lora")
    assert sha == hashlib.sha256(src.read_bytes()).hexdigest()
    expected = project.assets_dir / sha[:2] / f"{sha}.safetensors"
    assert project.assets_dir == project.path.with_name("film.pstudio.assets")
    assert asset_path(project, sha) == expected
    assert expected.read_bytes() == src.read_bytes()
    assert files_under(project.assets_dir) == [expected.relative_to(project.assets_dir)]
    row = project.query("select * from assets")[0]
    assert row["sha256"] == sha and row["kind"] == "lora"
    assert row["file_name"] == "face.safetensors" and row["size"] == src.stat().st_size
    assert verify_asset(project, sha)


def test_same_asset_twice_is_one_file_and_one_row(project, tmp_path):
    src = model_file(tmp_path)
    again = tmp_path / "renamed.SAFETENSORS"
    again.write_bytes(src.read_bytes())
    sha = put_asset(project, src, "lora")
    assert put_asset(project, again, "lora") == sha
    assert project.counts()["assets"] == 1
    assert len(files_under(project.assets_dir)) == 1


def test_verify_asset_detects_corruption_and_loss(project, tmp_path):
    sha = put_asset(project, model_file(tmp_path), "checkpoint")
    path = asset_path(project, sha)
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    assert not verify_asset(project, sha)
    path.unlink()
    assert not verify_asset(project, sha)
    with pytest.raises(NotFoundError, match="missing"):
        asset_path(project, sha)
    assert put_asset(project, model_file(tmp_path, "other.onnx", 10), "onnx") != sha
    with pytest.raises(NotFoundError):
        asset_path(project, "f" * 64)


def test_asset_is_renamed_into_place_from_a_temporary_file(project, tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace

    def spying_replace(src, dst):
        renames.append((os.fspath(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(blobs.os, "replace", spying_replace)
    sha = put_asset(project, model_file(tmp_path), "lora")
    [(tmp, final)] = renames
    assert os.path.dirname(tmp) == str(project.assets_dir)  # same folder, so same filesystem
    assert os.path.basename(tmp).endswith(".part")
    assert final == str(asset_path(project, sha))


def test_a_failed_copy_leaves_no_file_and_no_row(project, tmp_path, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(blobs.os, "fsync", full_disk)
    with pytest.raises(ProjectError, match="No space left"):
        put_asset(project, model_file(tmp_path), "lora")
    assert files_under(project.assets_dir) == []
    assert project.counts()["assets"] == 0


def test_put_asset_refuses_bad_sources_and_read_only(project, project_path, tmp_path):
    with pytest.raises(NotFoundError):
        put_asset(project, tmp_path / "missing.safetensors", "lora")
    with pytest.raises(ProjectError, match="not a file"):
        put_asset(project, tmp_path, "lora")
    project.close()
    with Project.open(project_path, read_only=True) as ro:
        with pytest.raises(ReadOnlyProjectError):
            put_asset(ro, model_file(tmp_path), "lora")
    assert not project_path.with_name("film.pstudio.assets").exists()


def test_large_rendered_pictures_live_beside_the_file(project):
    big = os.urandom(blobs.LARGE_BLOB + 1)
    sha = put_blob(project, big, "image/png", large_outside=True)
    small = put_blob(project, PNG, "image/png", large_outside=True)
    assert get_blob(project, sha) == big and verify_blob(project, sha)
    assert blobs.blob_file(project, sha).read_bytes() == big
    stored = {
        r["sha256"]: r for r in project.query("select sha256, stored, length(data) n from blobs")
    }
    assert stored[sha]["stored"] == "file" and stored[sha]["n"] == 0
    assert stored[small]["stored"] == "inline" and not blobs.blob_file(project, small).exists()
    assert put_blob(project, big, "image/png", large_outside=True) == sha  # stored once
    blobs.blob_file(project, sha).unlink()
    with pytest.raises(NotFoundError, match="assets folder"):
        get_blob(project, sha)


def test_a_saved_copy_keeps_the_pictures_kept_beside_the_file(project, tmp_path):
    big = os.urandom(blobs.LARGE_BLOB + 10)
    sha = put_blob(project, big, "image/png", large_outside=True)
    copy = project.save_copy(tmp_path / "copy.pstudio")
    with Project.open(copy) as other:
        assert get_blob(other, sha) == big
