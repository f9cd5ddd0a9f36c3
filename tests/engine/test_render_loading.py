"""Loading base models and LoRAs for rendering: every format artists have, and every bad file.

Tiny SD 1.5- and SDXL-shaped models (tests/fixtures/tiny_models.py) are written as a diffusers
folder, an original-layout checkpoint with its config folder, and LoRAs in both layouts, then
loaded through `studio.engine.render` as a user's files are, rendering 2 steps at 32 px.
"""

from __future__ import annotations

import json
import pickle
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from studio.core.errors import ModelMissingError
from studio.core.models import BASE, LORA, SD15, SDXL, ModelRef
from studio.core.render import IMG2IMG, INPAINT, TXT2IMG, LoraUse
from studio.core.render_errors import (
    CorruptModelError,
    DeviceError,
    ModelFileMissingError,
    ModelLoadError,
    PickleModelError,
    WrongFamilyError,
)
from tests.fixtures.tiny_models import (
    TinyModel,
    lora_ref,
    model_ref,
    save_tiny_lora,
    save_tiny_model,
)

PROMPT = "a portrait of ada"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: tiny models gain nothing from two, and on a shared CPU two threads
    wait on each other (a 32 px frame takes seconds instead of a fifth of one)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sd15_model(tmp_path_factory) -> TinyModel:
    """A tiny SD 1.5-shaped model as a folder, a checkpoint and its configs (read-only)."""
    return save_tiny_model(SD15, tmp_path_factory.mktemp("sd15"))


@pytest.fixture(scope="module")
def sdxl_model(tmp_path_factory) -> TinyModel:
    """A tiny SDXL-shaped model as a folder, a checkpoint and its configs (read-only)."""
    return save_tiny_model(SDXL, tmp_path_factory.mktemp("sdxl"))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Assembled config folders go to a per-test cache, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def offline(monkeypatch):
    """No network: the hub is offline and any socket connection fails the test."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def tiny(request, family: str):
    return request.getfixturevalue("sd15_model" if family == SD15 else "sdxl_model")


def load(ref, config_root=None, dtype=None):
    import torch

    from studio.engine.render import load_base

    return load_base(ref, "cpu", dtype or torch.float32, config_root=config_root)


def render(pipe, seed: int = 0, **extra) -> np.ndarray:
    import torch

    out = pipe(
        PROMPT,
        num_inference_steps=2,
        height=32,
        width=32,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
        **extra,
    )
    return out.images[0]


def weights(pipe) -> dict:
    parts = ("unet", "vae", "text_encoder", "text_encoder_2")
    return {
        f"{part}.{k}": v
        for part in parts
        if getattr(pipe, part, None) is not None
        for k, v in getattr(pipe, part).state_dict().items()
    }


# -- the shipped configurations -------------------------------------------------------------------

PUBLISHED = {
    # parameters of the published models' components (unet, vae, text encoders)
    SD15: {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    SDXL: {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    },
}


@pytest.mark.parametrize("family", [SD15, SDXL])
def test_shipped_configs_build_the_published_architectures(family):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from studio.engine.render import config_folder

    folder = config_folder(family)
    index = json.loads((folder / "model_index.json").read_text())
    built = {}
    with init_empty_weights():  # on the meta device: no weights are allocated
        built["unet"] = UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(folder / "unet")
        )
        built["vae"] = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        for name, cls in (("text_encoder", CLIPTextModel), ("text_encoder_2", None)):
            if name not in index:
                continue
            cls = cls or CLIPTextModelWithProjection
            assert index[name] == ["transformers", cls.__name__]
            built[name] = cls(CLIPTextConfig.from_pretrained(folder / name))
    import diffusers

    pipeline_class = getattr(diffusers, index["_class_name"])
    init, unused, _ = pipeline_class.extract_init_dict(pipeline_class.load_config(folder))
    assert unused == {}
    parts = {name for name, value in init.items() if isinstance(value, list | tuple) and value[0]}
    tokenizers = {"tokenizer", "tokenizer_2"} if family == SDXL else {"tokenizer"}
    assert parts == {"scheduler", *built, *tokenizers}  # no safety checker, no watermark
    scheduler_class = getattr(diffusers, index["scheduler"][1])
    scheduler_class.from_pretrained(str(folder), subfolder="scheduler", local_files_only=True)
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in built.items()}
    assert counts == PUBLISHED[family]
    assert all(p.device.type == "meta" for p in built["unet"].parameters())
    # No safety checker or feature extractor is part of either pipeline.
    assert not any(index.get(k, [None])[0] for k in ("safety_checker", "feature_extractor"))
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == (
        "PNDMScheduler" if family == SD15 else "EulerDiscreteScheduler"
    )
    if family == SDXL:
        vae = json.loads((folder / "vae" / "config.json").read_text())
        assert vae["force_upcast"] is True  # SDXL's VAE overflows in float16
        assert built["unet"].config.cross_attention_dim == 768 + 1280


def test_config_folder_gets_the_shipped_tokenizer_once():
    from transformers import CLIPTokenizer

    from studio.engine.render import config_folder

    folder = config_folder(SDXL)
    assert config_folder(SDXL) == folder
    vocab = folder / "tokenizer_2" / "vocab.json"
    stamp = vocab.stat().st_mtime_ns
    assert config_folder(SDXL) == folder and vocab.stat().st_mtime_ns == stamp
    first = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
    second = CLIPTokenizer.from_pretrained(str(folder / "tokenizer_2"), local_files_only=True)
    # CLIP's own ids: <start> a photo of a cat <end>
    assert first("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert (first.pad_token_id, second.pad_token_id) == (49407, 0)  # SDXL pads with "!"
    assert first.model_max_length == 77


def test_an_unwritable_cache_is_named(tmp_path, monkeypatch):
    from studio.engine.render import config_folder

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(ModelLoadError, match="cannot be written to") as caught:
        config_folder(SD15)
    assert "writable" in caught.value.hint


def test_a_complete_config_root_is_used_in_place(sd15_model):
    from studio.engine.render import config_folder

    assert config_folder(SD15, sd15_model.config_root) == sd15_model.config_root / SD15


# -- base models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [SD15, SDXL])
def test_folder_and_single_file_render_the_same_frame(request, family, offline):
    model = tiny(request, family)
    folder = load(model_ref(model.folder, family))
    single = load(model_ref(model.checkpoint, family), config_root=model.config_root)
    assert type(single) is type(folder)
    a, b = weights(folder), weights(single)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    frame = render(folder)
    assert frame.shape == (32, 32, 3) and frame.std() > 0.01
    again = render(single)
    np.testing.assert_allclose(again, frame, atol=1e-5)
    assert np.abs((again * 255).round() - (frame * 255).round()).max() <= 1


def test_a_checkpoint_loads_with_the_family_defaults(sd15_model):
    from studio.engine.render import pipeline_family

    pipe = load(model_ref(sd15_model.checkpoint, SD15), config_root=sd15_model.config_root)
    assert pipeline_family(pipe) == SD15
    assert pipe.safety_checker is None
    assert type(pipe.scheduler).__name__ == "PNDMScheduler"
    assert pipe.unet.device.type == "cpu"


def test_modes_share_the_loaded_components(sd15_model):
    import torch
    from PIL import Image

    from studio.engine.render import pipeline_for

    pipe = load(model_ref(sd15_model.folder, SD15), dtype=torch.bfloat16)
    assert pipeline_for(TXT2IMG, pipe) is pipe
    img2img = pipeline_for(IMG2IMG, pipe)
    inpaint = pipeline_for(INPAINT, pipe)
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"
    for derived in (img2img, inpaint):
        for part in ("unet", "vae", "text_encoder", "tokenizer"):
            assert getattr(derived, part) is getattr(pipe, part)
    assert pipe.unet.dtype == torch.bfloat16  # deriving did not cast the shared weights
    start = Image.new("RGB", (32, 32), (200, 120, 90))
    pipe.to(dtype=torch.float32)
    frame = render(img2img, image=start, strength=0.5)
    assert frame.shape == (32, 32, 3)
    with pytest.raises(ModelLoadError, match="not a render mode"):
        pipeline_for("outpaint", pipe)


def test_an_sdxl_folder_derives_sdxl_modes(sdxl_model):
    from studio.engine.render import pipeline_family, pipeline_for

    pipe = load(model_ref(sdxl_model.folder, SDXL))
    assert pipeline_family(pipe) == SDXL
    assert type(pipeline_for(INPAINT, pipe)).__name__ == "StableDiffusionXLInpaintPipeline"
    assert pipe.vae.config.force_upcast


# -- LoRAs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [SD15, SDXL])
def test_both_lora_layouts_change_the_frame_and_weight_zero_restores_it(request, family, tmp_path):
    from studio.engine.render import apply_loras, loaded_loras

    pipe = load(model_ref(tiny(request, family).folder, family))
    plain = render(pipe)
    # The same random weights in both layouts: kohya's keys must land on the same layers.
    diffusers_lora = lora_ref(save_tiny_lora(pipe, tmp_path / "d.safetensors"), family)
    kohya_lora = lora_ref(save_tiny_lora(pipe, tmp_path / "k.safetensors", "kohya"), family)
    assert diffusers_lora.sha256 != kohya_lora.sha256

    active = apply_loras(pipe, [LoraUse(diffusers_lora, 1.0)])
    with_diffusers = render(pipe)
    assert np.abs(with_diffusers - plain).mean() > 0.01
    apply_loras(pipe, [LoraUse(kohya_lora, 1.0)])
    with_kohya = render(pipe)
    np.testing.assert_allclose(with_kohya, with_diffusers, atol=1e-4)

    apply_loras(pipe, [LoraUse(kohya_lora, 0.0)])
    np.testing.assert_array_equal(render(pipe), plain)
    assert apply_loras(pipe, []) == []
    np.testing.assert_array_equal(render(pipe), plain)
    assert loaded_loras(pipe) == set(active) | {f"lora_{kohya_lora.sha256[:16]}"}


def test_loras_load_once_and_combine(sd15_model, tmp_path, monkeypatch):
    from studio.engine.render import apply_loras

    pipe = load(model_ref(sd15_model.folder, SD15))
    first = lora_ref(save_tiny_lora(pipe, tmp_path / "a.safetensors", seed=1), SD15)
    second = lora_ref(save_tiny_lora(pipe, tmp_path / "b.safetensors", seed=2), SD15)
    half = lora_ref(
        save_tiny_lora(pipe, tmp_path / "h.safetensors", "kohya", seed=1, alpha=2.0), SD15
    )
    apply_loras(pipe, [LoraUse(first, 1.0)])
    only_first = render(pipe)
    apply_loras(pipe, [LoraUse(second, 1.0)])
    only_second = render(pipe)
    both_names = apply_loras(pipe, [LoraUse(first, 1.0), LoraUse(second, 1.0)])
    both = render(pipe)
    assert len(both_names) == 2
    assert np.abs(both - only_first).mean() > 0.005 and np.abs(both - only_second).mean() > 0.005

    calls = []
    original = pipe.load_lora_weights
    monkeypatch.setattr(
        pipe, "load_lora_weights", lambda *a, **k: calls.append(a) or original(*a, **k)
    )
    apply_loras(pipe, [LoraUse(first, 1.0)])
    np.testing.assert_array_equal(render(pipe), only_first)
    assert calls == []  # already loaded: only activated

    # kohya's alpha scales a LoRA: alpha 2 at rank 4 acts like weight 0.5.
    apply_loras(pipe, [LoraUse(half, 1.0)])
    halved = render(pipe)
    apply_loras(pipe, [LoraUse(first, 0.5)])
    np.testing.assert_allclose(halved, render(pipe), atol=1e-4)
    assert len(calls) == 1


def test_an_sdxl_lora_is_refused_on_sd15(sd15_model, sdxl_model, tmp_path):
    from studio.engine.render import apply_loras, loaded_loras

    pipe = load(model_ref(sd15_model.folder, SD15))
    plain = render(pipe)
    sdxl_pipe = load(model_ref(sdxl_model.folder, SDXL))
    for layout in ("diffusers", "kohya"):
        path = save_tiny_lora(sdxl_pipe, tmp_path / f"{layout}.safetensors", layout)
        # Registered (wrongly) as SD 1.5: the layers themselves give it away.
        with pytest.raises(WrongFamilyError) as caught:
            apply_loras(pipe, [LoraUse(lora_ref(path, SD15, name="Neon XL"), 1.0)])
        message = str(caught.value)
        assert "'Neon XL' looks like a Stable Diffusion XL LoRA" in message
        assert "96 wide, the model's is 32" in message
        assert (
            caught.value.hint == "Use a LoRA trained for Stable Diffusion 1.5 with this base model."
        )
        # Registered as SDXL: refused before the file is read.
        with pytest.raises(WrongFamilyError, match="is for Stable Diffusion XL; the base model"):
            apply_loras(pipe, [LoraUse(lora_ref(path, SDXL), 1.0)])
    assert loaded_loras(pipe) == set()
    np.testing.assert_array_equal(render(pipe), plain)


def test_a_lora_folder_loads_its_weights_file(sd15_model, tmp_path):
    from studio.engine.render import apply_loras

    pipe = load(model_ref(sd15_model.folder, SD15))
    file = save_tiny_lora(pipe, tmp_path / "file" / "freckles.safetensors")
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copyfile(file, folder / "pytorch_lora_weights.safetensors")
    apply_loras(pipe, [LoraUse(lora_ref(file, SD15), 1.0)])
    from_file = render(pipe)
    [name] = apply_loras(pipe, [LoraUse(lora_ref(folder, SD15), 1.0)])
    assert name.startswith("lora_")
    np.testing.assert_array_equal(render(pipe), from_file)


def test_lora_files_that_are_not_loras(sd15_model, tmp_path):
    from safetensors.torch import save_file

    from studio.engine.render import apply_loras

    pipe = load(model_ref(sd15_model.folder, SD15))
    with pytest.raises(ModelLoadError, match="holds no LoRA weights"):
        apply_loras(pipe, [LoraUse(lora_ref(sd15_model.checkpoint, SD15), 1.0)])
    base_as_lora = model_ref(sd15_model.checkpoint, SD15)
    with pytest.raises(ModelLoadError, match="is a base model, not a LoRA"):
        apply_loras(pipe, [LoraUse(base_as_lora, 1.0)])
    import torch

    odd = tmp_path / "odd.safetensors"
    save_file({"lora_unet_nowhere_at_all.lora_down.weight": torch.zeros(2, 2)}, str(odd))
    with pytest.raises(ModelLoadError, match="not a LoRA layout"):
        apply_loras(pipe, [LoraUse(lora_ref(odd, SD15), 1.0)])


# -- bad files ------------------------------------------------------------------------------------


def cut_in_half(source: Path, dest: Path) -> Path:
    data = source.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


class _Trap:
    """Unpickling this writes a file: a stand-in for code a malicious pickle would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_truncated_files_are_refused(sd15_model, tmp_path):
    from studio.engine.render import apply_loras

    half = cut_in_half(sd15_model.checkpoint, tmp_path / "half.safetensors")
    with pytest.raises(CorruptModelError, match="is cut short") as caught:
        load(model_ref(half, SD15), config_root=sd15_model.config_root)
    assert "interrupted" in caught.value.hint

    folder = tmp_path / "folder"
    shutil.copytree(sd15_model.folder, folder)
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    cut_in_half(unet, unet)
    with pytest.raises(CorruptModelError, match="cut short"):
        load(model_ref(folder, SD15))

    pipe = load(model_ref(sd15_model.folder, SD15))
    lora = save_tiny_lora(pipe, tmp_path / "lora.safetensors")
    with pytest.raises(CorruptModelError, match="is cut short"):
        apply_loras(pipe, [LoraUse(lora_ref(cut_in_half(lora, lora), SD15), 1.0)])

    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(CorruptModelError, match="is not a safetensors file"):
        load(model_ref(noise, SD15))


def test_pickles_are_refused_unopened(sd15_model, tmp_path):
    import torch

    from studio.engine.render import apply_loras

    marker = tmp_path / "the pickle ran"
    payload = pickle.dumps({"state_dict": _Trap(marker)}, protocol=2)
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(payload)
    with pytest.raises(PickleModelError, match="is a pickle file") as caught:
        load(model_ref(ckpt, SD15))
    assert "never loads them" in caught.value.hint
    renamed = tmp_path / "renamed.safetensors"
    renamed.write_bytes(payload)
    with pytest.raises(PickleModelError, match="named .safetensors"):
        load(model_ref(renamed, SD15))
    zipped = tmp_path / "zipped.safetensors"
    torch.save({"weight": torch.zeros(2)}, zipped)  # PyTorch's zip container
    with pytest.raises(PickleModelError, match="named .safetensors"):
        load(model_ref(zipped, SD15))

    pipe = load(model_ref(sd15_model.folder, SD15))
    lora = tmp_path / "lora.pt"
    lora.write_bytes(payload)
    with pytest.raises(PickleModelError):
        apply_loras(pipe, [LoraUse(lora_ref(lora, SD15), 1.0)])

    folder = tmp_path / "folder"
    shutil.copytree(sd15_model.folder, folder)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(payload)
    with pytest.raises(PickleModelError, match="unet of .* is stored as a pickle"):
        load(model_ref(folder, SD15))
    assert not marker.exists()


def test_missing_files_are_refused(sd15_model, tmp_path):
    from studio.engine.render import apply_loras

    gone = ModelRef("Ada base", BASE, SD15, str(tmp_path / "gone.safetensors"), sha256="")
    with pytest.raises(ModelFileMissingError, match="'Ada base' is missing") as caught:
        load(gone)
    assert isinstance(caught.value, ModelMissingError)
    assert "register the model again" in caught.value.hint
    pipe = load(model_ref(sd15_model.folder, SD15))
    lost = ModelRef("Freckles", LORA, SD15, str(tmp_path / "gone.safetensors"), sha256="")
    with pytest.raises(ModelFileMissingError, match="'Freckles' is missing"):
        apply_loras(pipe, [LoraUse(lost, 1.0)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="has no model_index.json"):
        load(model_ref(empty, SD15))


def test_a_base_model_of_the_other_family_is_refused(sdxl_model, tmp_path):
    with pytest.raises(WrongFamilyError, match="is a Stable Diffusion XL checkpoint") as caught:
        load(model_ref(sdxl_model.checkpoint, SD15), config_root=sdxl_model.config_root)
    assert caught.value.hint == "Register it again as Stable Diffusion XL."
    with pytest.raises(WrongFamilyError, match="is a Stable Diffusion XL model"):
        load(model_ref(sdxl_model.folder, SD15))
    sdxl = load(model_ref(sdxl_model.folder, SDXL))
    lora = save_tiny_lora(sdxl, tmp_path / "lora.safetensors")
    with pytest.raises(ModelLoadError, match="is a LoRA, not a base model"):
        load(model_ref(lora, SDXL))


# -- devices --------------------------------------------------------------------------------------


def test_device_choice_on_the_cpu():
    import torch

    from studio.engine.render import choose_device, free_memory

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the automatic choice is tested in the gpu test")
    assert choose_device() == (torch.device("cpu"), torch.float32)
    assert choose_device("CPU", "bf16") == (torch.device("cpu"), torch.bfloat16)
    assert choose_device("cpu", "torch.float32")[1] == torch.float32
    with pytest.raises(DeviceError, match="cannot render in float16"):
        choose_device("cpu", "half")
    with pytest.raises(DeviceError, match="'tpu' is not a device") as caught:
        choose_device("tpu")
    assert "cuda:N" in caught.value.hint
    with pytest.raises(DeviceError, match="'int8' is not a number format"):
        choose_device("", "int8")
    with pytest.raises(DeviceError, match="No CUDA GPU is available"):
        choose_device("cuda:1")
    free = free_memory("cpu")
    assert free is None or free > 0


@pytest.mark.gpu
def test_render_on_the_gpu(sd15_model, sdxl_model):
    import torch

    from studio.engine.render import choose_device, free_memory, load_base

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    device, dtype = choose_device()
    assert device.type == "cuda"
    major, _minor = torch.cuda.get_device_capability(device)
    assert dtype == (torch.bfloat16 if major >= 8 else torch.float16)
    with pytest.raises(DeviceError, match="There is no GPU cuda:99"):
        choose_device("cuda:99")
    before = free_memory(device)
    assert 0 < before <= torch.cuda.get_device_properties(device).total_memory
    for family, model in ((SD15, sd15_model), (SDXL, sdxl_model)):
        pipe = load_base(
            model_ref(model.checkpoint, family), device, torch.float16, model.config_root
        )
        assert pipe.unet.device.type == "cuda" and pipe.unet.dtype == torch.float16
        out = pipe(
            PROMPT,
            num_inference_steps=2,
            height=32,
            width=32,
            generator=torch.Generator(device).manual_seed(0),
            output_type="np",
        ).images[0]
        assert np.isfinite(out).all() and out.std() > 0.01
        # SDXL decodes in float32 (the VAE overflows in float16) and returns to float16 after.
        assert pipe.vae.dtype == torch.float16
