"""Model files on disk: headers read and checked whole, pickles refused or converted in a child
process that loads tensors only, hashes with progress, cancel and a cache, models found in the
Hugging Face cache and ComfyUI / AUTOMATIC1111 folders, downloads from a hub."""

from __future__ import annotations

import hashlib
import http.server
import os
import socketserver
import threading
from pathlib import Path

import pytest

from studio.core import models as m
from studio.core.errors import Cancelled, ModelMissingError
from studio.core.jobs import CancelToken
from studio.engine import model_files as mf
from tests.fixtures.model_files import (
    VIT_BIGG,
    VIT_H,
    checkpoint_shapes,
    ip_adapter_shapes,
    lora_shapes,
    write_encoder,
    write_pipeline,
    write_safetensors,
)

# -- headers ----------------------------------------------------------------------------------


def test_a_header_is_read_without_the_tensors_and_the_file_checked_whole(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / "real.safetensors"
    arrays = {"a": np.ones((3, 2), np.float32), "b": np.zeros(5, np.float32)}
    save_file(arrays, str(path), metadata={"k": "v"})
    head = mf.read_header(path)
    assert head.tensors["a"]["shape"] == [3, 2] and head.tensors["b"]["dtype"] == "F32"
    assert head.metadata == {"k": "v"}
    assert head.data_bytes == 6 * 4 + 5 * 4 == path.stat().st_size - 8 - head.header_bytes


def test_a_cut_off_file_is_incomplete_with_its_own_message(tmp_path):
    shapes = lora_shapes(m.SDXL, m.KOHYA)
    cut = write_safetensors(tmp_path / "ada.safetensors", shapes, cut=1000)
    with pytest.raises(m.IncompleteModelError) as incomplete:
        mf.inspect(cut)
    assert incomplete.value.message.startswith("ada.safetensors is incomplete")
    assert "cut off" in incomplete.value.hint
    head_only = tmp_path / "head.safetensors"
    head_only.write_bytes(cut.read_bytes()[:40])
    with pytest.raises(m.IncompleteModelError, match="ends inside its own header"):
        mf.read_header(head_only)


def test_files_that_are_not_safetensors_say_so(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"PK\x03\x04 this is a zip archive, not a model" * 4)
    with pytest.raises(m.ModelFileError, match="not a safetensors file"):
        mf.inspect(junk)
    longer = write_safetensors(tmp_path / "long.safetensors", {"a": (4,)})
    with open(longer, "ab") as f:
        f.write(b"\0" * 16)
    with pytest.raises(m.ModelFileError, match="16 bytes more"):
        mf.read_header(longer)
    with pytest.raises(m.ModelFileError, match="not a model file the studio reads"):
        mf.inspect(
            tmp_path.joinpath("notes.txt").resolve() if _touch(tmp_path / "notes.txt") else ""
        )


def _touch(path: Path) -> bool:
    path.write_text("x")
    return True


def test_pickle_files_are_refused_before_anything_reads_them(tmp_path):
    ckpt = tmp_path / "v1-5-pruned.ckpt"
    ckpt.write_bytes(b"\x80\x02 not even read")
    with pytest.raises(m.PickleRefusedError) as refused:
        mf.inspect(ckpt)
    assert "never loads it" in refused.value.message and "convert" in refused.value.hint


def test_inspect_reads_files_and_folders(tmp_path):
    lora = write_safetensors(tmp_path / "l.safetensors", lora_shapes(m.SD15, m.PEFT))
    assert mf.inspect(lora).describe() == "SD 1.5 LoRA (peft layout)"
    pipe = write_pipeline(tmp_path / "pipe", m.SDXL)
    assert mf.inspect(pipe).describe() == "SDXL base model (diffusers folder)"
    onnx = tmp_path / "det.onnx"
    onnx.write_bytes(b"onnx")
    assert "face engines" in mf.inspect(onnx).problem


# -- hashing ----------------------------------------------------------------------------------


def test_a_file_hash_is_its_sha256_with_progress_by_the_byte(tmp_path):
    data = os.urandom(3 * mf.HASH_CHUNK // 2)
    path = tmp_path / "x.safetensors"
    path.write_bytes(data)
    reports = []
    hashed = mf.hash_model(path, progress=reports.append)
    assert hashed.sha256 == hashlib.sha256(data).hexdigest() and hashed.size == len(data)
    assert reports[-1].done == reports[-1].total == len(data)
    assert reports[-1].message == "Hashing x.safetensors: 12 MiB of 12 MiB"


def test_a_folder_hash_covers_its_weights_not_its_configs(tmp_path):
    pipe = write_pipeline(tmp_path / "pipe", m.SD15)
    first = mf.hash_model(pipe)
    rels = [f.rel for f in first.files]
    assert rels == mf.weight_files(pipe) and all(r.endswith(".safetensors") for r in rels)
    assert first.sha256 == m.folder_sha256((f.rel, f.sha256) for f in first.files)
    (pipe / "unet" / "config.json").write_text('{"edited": true}')
    assert mf.hash_model(pipe).sha256 == first.sha256
    with open(pipe / "vae" / "diffusion_pytorch_model.safetensors", "r+b") as f:
        f.seek(-1, os.SEEK_END)
        f.write(b"\x01")
    assert mf.hash_model(pipe).sha256 != first.sha256


def test_known_hashes_are_reused_while_size_and_mtime_hold(tmp_path, monkeypatch):
    path = write_safetensors(tmp_path / "a.safetensors", {"w": (64, 64)}, fill=b"abc")
    first = mf.hash_model(path)
    row = first.files[0]
    known = [(row.path, row.size, row.mtime_ns, row.sha256)]
    reads = []
    real = mf.hash_file
    monkeypatch.setattr(mf, "hash_file", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    again = mf.hash_model(path, known)
    assert again.sha256 == first.sha256 and again.files[0].cached and reads == []
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    touched = mf.hash_model(path, known)
    assert not touched.files[0].cached and reads == [str(path)] and touched.hashed == 1


def test_hashing_stops_between_chunks_on_cancel(tmp_path):
    path = tmp_path / "big.safetensors"
    path.write_bytes(b"\0" * (3 * mf.HASH_CHUNK))
    token = CancelToken()
    with pytest.raises(Cancelled):
        mf.hash_model(path, progress=lambda p: token.cancel(), cancel=token)


# -- converting pickles -----------------------------------------------------------------------


@pytest.mark.slow  # the child process imports torch
def test_a_pickle_converts_in_a_child_process_to_an_equivalent_safetensors_file(tmp_path):
    import torch
    from safetensors.torch import load_file

    state = {"down.weight": torch.randn(4, 8), "up.weight": torch.randn(8, 4)}
    shared = torch.arange(6.0)
    src = tmp_path / "lora.ckpt"
    torch.save(
        {"state_dict": {**state, "nested": {"b": shared, "view": shared[:3]}}, "epoch": 7}, src
    )
    stages = []
    dest = mf.convert_pickle(src, tmp_path / "lora.safetensors", stages.append)
    loaded = load_file(str(dest))
    assert set(loaded) == {"down.weight", "up.weight", "nested.b", "nested.view"}
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor)
    assert torch.equal(loaded["nested.view"], shared[:3])
    assert mf.read_header(dest).metadata["converted_from"] == "lora.ckpt"
    assert [s.message for s in stages][-1] == "Converted lora.ckpt"
    assert not Path(str(dest) + ".part").exists()


class _Payload:
    """Pickles as a call of os.system, as a malicious checkpoint would."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.slow  # the child process imports torch
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    import torch

    marker = tmp_path / "ran.txt"
    src = tmp_path / "evil.pt"
    torch.save({"weight": torch.ones(2), "payload": _Payload(marker)}, src)
    with pytest.raises(m.ModelFileError) as refused:
        mf.convert_pickle(src, tmp_path / "evil.safetensors")
    assert "holds more than weights" in refused.value.message
    assert "system" in refused.value.message and "nothing in it was run" in refused.value.message
    assert not marker.exists()
    assert not (tmp_path / "evil.safetensors").exists()
    assert not (tmp_path / "evil.safetensors.part").exists()


def test_conversion_refuses_to_overwrite_and_stops_on_cancel(tmp_path):
    import torch

    src = tmp_path / "a.pt"
    torch.save({"w": torch.ones(2)}, src)
    taken = tmp_path / "taken.safetensors"
    taken.write_bytes(b"x")
    with pytest.raises(m.ModelFileError, match="already exists"):
        mf.convert_pickle(src, taken)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        mf.convert_pickle(src, tmp_path / "a.safetensors", cancel=token)
    assert not (tmp_path / "a.safetensors").exists()


# -- finding models ---------------------------------------------------------------------------


def test_a_comfyui_models_folder_is_scanned_in_place(tmp_path):
    root = tmp_path / "ComfyUI" / "models"
    write_safetensors(
        root / "checkpoints" / "realistic_sd15.safetensors", checkpoint_shapes(m.SD15)
    )
    write_safetensors(root / "loras" / "ada_xl.safetensors", lora_shapes(m.SDXL, m.KOHYA))
    (root / "loras" / "old.ckpt").write_bytes(b"\x80\x02")
    write_safetensors(
        root / "ipadapter" / "ip-adapter-plus_sd15.safetensors", ip_adapter_shapes(m.PLUS, m.SD15)
    )
    write_safetensors(root / "clip_vision" / "CLIP-ViT-H-14.safetensors", _clip_file_shapes(VIT_H))
    (root / "upscale_models").mkdir()
    (root / "upscale_models" / "4x_ultra.pth").write_bytes(b"\x80\x02")
    assert mf.root_kind(tmp_path / "ComfyUI") == "comfyui" == mf.root_kind(root)

    found = {Path(c.path).name: c for c in mf.scan(tmp_path / "ComfyUI")}
    assert set(found) == {
        "realistic_sd15.safetensors",
        "ada_xl.safetensors",
        "old.ckpt",
        "ip-adapter-plus_sd15.safetensors",
        "CLIP-ViT-H-14.safetensors",
    }  # the upscaler's folder is not the renderer's
    assert found["realistic_sd15.safetensors"].detection.describe().startswith("SD 1.5 base")
    assert found["ada_xl.safetensors"].detection.family == m.SDXL
    assert not found["old.ckpt"].usable and "pickle" in found["old.ckpt"].error
    clip = found["CLIP-ViT-H-14.safetensors"]
    assert not clip.usable and "--file models/image_encoder/config.json" in clip.detection.hint
    assert found["ip-adapter-plus_sd15.safetensors"].encoder_path == ""
    write_encoder(root / "clip_vision" / "vit-h" / "image_encoder", VIT_H)
    (adapter,) = [c for c in mf.scan(root) if c.detection.kind == m.IP_ADAPTER]
    assert adapter.encoder_path == str(root / "clip_vision" / "vit-h" / "image_encoder")
    assert {c.source for c in found.values()} == {"comfyui"}


def _clip_file_shapes(encoder):
    from tests.fixtures.model_files import clip_vision_shapes

    return clip_vision_shapes(encoder)


def test_an_automatic1111_folder_and_its_extensions_models_are_scanned(tmp_path):
    root = tmp_path / "stable-diffusion-webui"
    models = root / "models"
    write_safetensors(
        models / "Stable-diffusion" / "xl_base.safetensors", checkpoint_shapes(m.SDXL)
    )
    write_safetensors(models / "Lora" / "ada.safetensors", lora_shapes(m.SD15, m.KOHYA))
    write_safetensors(
        models / "ControlNet" / "ip-adapter_sd15.safetensors", ip_adapter_shapes(m.PLAIN, m.SD15)
    )
    ext = root / "extensions" / "sd-webui-controlnet" / "models"
    write_safetensors(
        ext / "ip-adapter-faceid_sdxl.safetensors", ip_adapter_shapes(m.FACEID, m.SDXL)
    )
    (root / "venv" / "lib").mkdir(parents=True)
    write_safetensors(root / "venv" / "lib" / "stray.safetensors", {"x": (2,)})
    assert mf.root_kind(root) == "a1111"

    found = {Path(c.path).name: c for c in mf.scan(root)}
    assert set(found) == {
        "xl_base.safetensors",
        "ada.safetensors",
        "ip-adapter_sd15.safetensors",
        "ip-adapter-faceid_sdxl.safetensors",
    }
    assert found["ip-adapter-faceid_sdxl.safetensors"].detection.variant == m.FACEID
    assert found["ip-adapter-faceid_sdxl.safetensors"].encoder_path == ""  # FaceID needs none
    assert found["ip-adapter_sd15.safetensors"].encoder_path == ""  # none found: paired later


def _hub_repo(hub: Path, repo: str, rev: str) -> Path:
    folder = hub / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(rev)
    return folder / "snapshots" / rev


def test_the_hugging_face_cache_is_scanned_one_revision_a_repository(tmp_path):
    hub = tmp_path / ".cache" / "huggingface" / "hub"
    snap = _hub_repo(hub, "h94/IP-Adapter", "c0ffee")
    old = hub / "models--h94--IP-Adapter" / "snapshots" / "0ld"
    write_safetensors(
        old / "models" / "ip-adapter_sd15.safetensors", ip_adapter_shapes(m.PLAIN, m.SD15)
    )
    write_encoder(snap / "models" / "image_encoder", VIT_H)
    write_encoder(snap / "sdxl_models" / "image_encoder", VIT_BIGG)
    write_safetensors(
        snap / "models" / "ip-adapter_sd15.safetensors", ip_adapter_shapes(m.PLAIN, m.SD15)
    )
    write_safetensors(
        snap / "sdxl_models" / "ip-adapter_sdxl.safetensors",
        ip_adapter_shapes(m.PLAIN, m.SDXL, VIT_BIGG),
    )
    write_safetensors(
        snap / "sdxl_models" / "ip-adapter-plus_sdxl_vit-h.safetensors",
        ip_adapter_shapes(m.PLUS, m.SDXL, VIT_H),
    )
    pipe = write_pipeline(_hub_repo(hub, "runwayml/stable-diffusion-v1-5", "beef"), m.SD15)
    (hub / "models--runwayml--stable-diffusion-v1-5" / "blobs").mkdir()
    assert mf.root_kind(tmp_path / ".cache" / "huggingface") == "hf-cache" == mf.root_kind(hub)

    found = mf.scan(hub)
    by_path = {c.path: c for c in found}
    assert all("0ld" not in p for p in by_path)  # refs/main picks the revision
    assert str(pipe) in by_path and by_path[str(pipe)].detection.format == m.DIFFUSERS
    vit_h, bigg = (
        str(snap / "models" / "image_encoder"),
        str(snap / "sdxl_models" / "image_encoder"),
    )
    assert by_path[str(snap / "models" / "ip-adapter_sd15.safetensors")].encoder_path == vit_h
    assert by_path[str(snap / "sdxl_models" / "ip-adapter_sdxl.safetensors")].encoder_path == bigg
    # The vit-h SDXL adapter sits beside bigG but was trained on ViT-H.
    plus = by_path[str(snap / "sdxl_models" / "ip-adapter-plus_sdxl_vit-h.safetensors")]
    assert plus.encoder_path == vit_h
    kinds = [c.detection.kind for c in found]
    assert kinds.index(m.IMAGE_ENCODER) < kinds.index(m.IP_ADAPTER)  # encoders register first
    assert {c.source for c in found} == {"hf-cache"}
    assert {Path(c.path).name for c in mf.scan(snap)} >= {
        "image_encoder",
        "ip-adapter_sd15.safetensors",
    }


def test_scan_needs_a_folder(tmp_path):
    with pytest.raises(m.ModelFileError, match="is not a folder"):
        mf.scan(tmp_path / "nowhere")


# -- downloading ------------------------------------------------------------------------------

HUB_FILE = b"\x07" * (25 << 20)  # three of the hub client's 10 MiB chunks


@pytest.fixture
def hub():
    """A local stand-in for the Hugging Face hub serving h94/IP-Adapter's one file."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _body(self):
            if self.path.endswith("/resolve/main/ip-adapter_sd15.safetensors"):
                return HUB_FILE
            return None

        def do_HEAD(self):
            body = self._body()
            if body is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("X-Repo-Commit", "a" * 40)
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

        def do_GET(self):
            self.do_HEAD()
            body = self._body()
            try:
                for i in range(0, len(body or b""), 1 << 20):
                    self.wfile.write(body[i : i + (1 << 20)])
            except OSError:
                pass  # the client stopped reading (a cancel)

        def log_message(self, *args):
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_named_file_downloads_with_progress_by_the_byte(tmp_path, hub):
    reports = []
    path = mf.download_file(
        "h94/IP-Adapter", "ip-adapter_sd15.safetensors", str(tmp_path / "dl"), reports.append,
        endpoint=hub,
    )  # fmt: skip
    assert path == tmp_path / "dl" / "ip-adapter_sd15.safetensors"
    assert path.read_bytes() == HUB_FILE
    assert [r.done for r in reports] == sorted(r.done for r in reports)
    assert reports[-1].done == reports[-1].total == len(HUB_FILE)
    assert reports[-1].message == "Downloading ip-adapter_sd15.safetensors: 25 MiB of 25 MiB"


def test_a_download_stops_between_chunks_on_cancel(tmp_path, hub):
    token = CancelToken()
    with pytest.raises(Cancelled):
        mf.download_file(
            "h94/IP-Adapter", "ip-adapter_sd15.safetensors", str(tmp_path / "dl"),
            lambda p: token.cancel(), token, endpoint=hub,
        )  # fmt: skip
    assert not (tmp_path / "dl" / "ip-adapter_sd15.safetensors").exists()


def test_an_unreachable_hub_says_which_file_to_put_where(tmp_path, hub):
    dest = tmp_path / "models" / "ip"
    with pytest.raises(ModelMissingError) as offline:
        mf.download_file(
            "h94/IP-Adapter", "models/ip-adapter_sd15.safetensors", str(dest),
            endpoint="http://127.0.0.1:9",
        )  # fmt: skip
    assert "cannot be reached" in offline.value.message
    hint = offline.value.hint
    assert (
        "http://127.0.0.1:9/h94/IP-Adapter/resolve/main/models/ip-adapter_sd15.safetensors" in hint
    )
    assert f"{dest}/models/ip-adapter_sd15.safetensors" in hint
    assert f"persona-studio models add PROJECT {dest}/models/ip-adapter_sd15.safetensors" in hint
    with pytest.raises(ModelMissingError, match="has no such file"):
        mf.download_file("h94/IP-Adapter", "nope.safetensors", str(dest), endpoint=hub)
    with pytest.raises(m.PickleRefusedError):
        mf.download_file("h94/IP-Adapter", "models/ip-adapter_sd15.bin", str(dest), endpoint=hub)


def test_a_pipeline_repository_downloads_its_configs_and_safetensors_only():
    files = [
        ".gitattributes",
        "README.md",
        "model_index.json",
        "v1-5-pruned.ckpt",
        "unet/config.json",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    ]
    assert mf.choose_pipeline_files(files) == [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    with pytest.raises(m.ModelFileError, match="not a diffusers pipeline") as single:
        mf.choose_pipeline_files(["ip-adapter_sd15.safetensors"], "h94/IP-Adapter")
    assert "--file ip-adapter_sd15.safetensors" in single.value.hint


@pytest.mark.slow  # builds tiny pipelines of both families
@pytest.mark.parametrize("family", [m.SD15, m.SDXL])
def test_tiny_models_are_told_apart_as_artists_files_arrive(tmp_path, family):
    """Real model files (tests/fixtures): a family read from structure when widths are tiny."""
    from tests.fixtures.tiny_adapters import save_adapter, save_image_encoder
    from tests.fixtures.tiny_models import save_tiny_lora, save_tiny_model, tiny_pipeline

    tiny = save_tiny_model(family, tmp_path)
    folder, checkpoint = mf.inspect(tiny.folder), mf.inspect(tiny.checkpoint)
    assert (folder.kind, folder.family, folder.format) == (m.BASE, family, m.DIFFUSERS)
    assert (checkpoint.kind, checkpoint.family, checkpoint.layout) == (m.BASE, family, m.CHECKPOINT)
    pipe = tiny_pipeline(family, tmp_path / "tokenizers")
    for layout, described in (("diffusers", m.PEFT), ("kohya", m.KOHYA)):
        lora = mf.inspect(save_tiny_lora(pipe, tmp_path / f"{layout}.safetensors", layout))
        assert (lora.kind, lora.family, lora.layout) == (m.LORA, family, described)
    encoder = mf.inspect(save_image_encoder(tmp_path / "image_encoder"))
    assert encoder.kind == m.IMAGE_ENCODER
    for variant in m.ADAPTER_VARIANTS:
        found = mf.inspect(save_adapter(tmp_path / f"{variant}.safetensors", variant, pipe.unet))
        assert (found.kind, found.variant) == (m.IP_ADAPTER, variant)
        assert found.family == ""  # a tiny width is no evidence: the user says which
        assert m.settle(found, family=family).family == family
        assert m.encoder_fits(found, encoder)


def test_a_whole_repository_is_downloaded_only_when_it_is_a_pipeline(hub):
    with pytest.raises(m.ModelFileError, match="not a diffusers pipeline"):
        mf.pipeline_files("h94/IP-Adapter", endpoint=hub)
    with pytest.raises(ModelMissingError, match="cannot be reached"):
        mf.pipeline_files("runwayml/stable-diffusion-v1-5", endpoint="http://127.0.0.1:9")
