"""What a model file or folder is, from its safetensors header or its files: kind, family,
IP-Adapter variant, LoRA layout, and why; what the user says (--kind, --family) on top.

The files are built by tests/fixtures/model_files.py: headers with the published models' key
names and shapes (no weights), and sparse files around them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core import models as m
from tests.fixtures.model_files import (
    CROSS,
    VIT_BIGG,
    VIT_H,
    checkpoint_shapes,
    clip_vision_shapes,
    header,
    ip_adapter_shapes,
    lora_shapes,
    write_encoder,
    write_pipeline,
)


def _listing(folder: Path) -> tuple[list[str], dict]:
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    configs = {f: json.loads((folder / f).read_text()) for f in files if f.endswith(".json")}
    return files, configs


# -- single files -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", [m.SD15, m.SDXL])
@pytest.mark.parametrize("variant", m.ADAPTER_VARIANTS)
def test_each_ip_adapter_variant_and_family_is_told_from_its_keys(variant, family):
    found = m.detect_safetensors(header(ip_adapter_shapes(variant, family)))
    assert found.ok, found.problem
    assert (found.kind, found.family, found.variant) == (m.IP_ADAPTER, family, variant)
    assert found.meta["cross_attention_dim"] == CROSS[family]
    assert f"{CROSS[family]} wide" in found.explain()
    assert found.describe().startswith(m.FAMILY_SHORT[family] + " ")


def test_ip_adapter_encoder_widths_tell_which_image_encoder_fits():
    plain = m.detect_safetensors(header(ip_adapter_shapes(m.PLAIN, m.SDXL, VIT_BIGG)))
    assert (plain.meta["encoder_dim"], plain.meta["encoder_dim_of"]) == (1280, "projection_dim")
    plus = m.detect_safetensors(header(ip_adapter_shapes(m.PLUS, m.SDXL, VIT_H)))
    assert (plus.meta["encoder_dim"], plus.meta["encoder_dim_of"]) == (1280, "hidden_size")
    vit_h = m.detect_safetensors(header(clip_vision_shapes(VIT_H)))
    bigg = m.detect_safetensors(header(clip_vision_shapes(VIT_BIGG)))
    assert (
        vit_h.meta["encoder"] == "CLIP ViT-H/14" and bigg.meta["encoder"] == "OpenCLIP ViT-bigG/14"
    )
    # ip-adapter_sdxl reads bigG's 1280-wide projection; the plus model ViT-H's hidden states.
    assert m.encoder_fits(plain, bigg) and not m.encoder_fits(plain, vit_h)
    assert m.encoder_fits(plus, vit_h) and not m.encoder_fits(plus, bigg)


def test_faceid_adapters_carry_their_lora_layers_and_need_no_image_encoder():
    found = m.detect_safetensors(header(ip_adapter_shapes(m.FACEID, m.SD15)))
    assert found.meta["lora_layers"] and found.meta["face_dim"] == 512
    assert not m.NEEDS_ENCODER[found.variant]
    assert "FaceID" in found.describe()


def test_a_plus_face_adapter_is_named_from_its_file():
    shapes = ip_adapter_shapes(m.PLUS, m.SD15)
    found = m.detect_safetensors(header(shapes), file_name="ip-adapter-plus-face_sd15.safetensors")
    assert found.describe() == "SD 1.5 IP-Adapter Plus (face)"


@pytest.mark.parametrize(
    "family, layout, described",
    [
        (m.SD15, m.KOHYA, "SD 1.5 LoRA (kohya layout)"),
        (m.SDXL, m.KOHYA, "SDXL LoRA (kohya layout)"),
        (m.SD15, m.PEFT, "SD 1.5 LoRA (peft layout)"),
        (m.SDXL, m.PEFT, "SDXL LoRA (peft layout)"),
        (m.SD15, m.DIFFUSERS_LORA, "SD 1.5 LoRA (diffusers layout)"),
        (m.SDXL, m.DIFFUSERS_LORA, "SDXL LoRA (diffusers layout)"),
    ],
)
def test_loras_are_told_by_layout_and_family(family, layout, described):
    found = m.detect_safetensors(header(lora_shapes(family, layout)))
    assert (found.kind, found.family, found.layout) == (m.LORA, family, layout)
    assert found.describe() == described
    assert found.meta["rank"] == 8


def test_a_lora_with_only_text_encoder_layers_is_placed_by_structure_or_metadata():
    te_only = {
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": (4, 768),
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": (768, 4),
    }
    assert m.detect_safetensors(header(te_only)).family == m.SD15
    odd = {
        "lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": (4, 1280),
        "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight": (1280, 4),
    }
    assert m.detect_safetensors(header(odd)).family == ""
    said = m.detect_safetensors(header(odd, metadata={"ss_base_model_version": "sdxl_base_v1-0"}))
    assert said.family == m.SDXL and "metadata says SDXL" in said.explain()


def test_weights_outrank_a_lora_s_metadata():
    meta = {"ss_base_model_version": "sd_v1"}
    found = m.detect_safetensors(header(lora_shapes(m.SDXL, m.KOHYA), metadata=meta))
    assert found.family == m.SDXL
    assert "its metadata says SD 1.5, but the weights decide" in found.why


def test_loras_the_renderer_cannot_apply_are_refused_with_the_reason():
    sd2 = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight":
           (4, 1024)}  # fmt: skip
    found = m.detect_safetensors(header(sd2))
    assert not found.ok and "Stable Diffusion 2.x" in found.problem
    loha = {"lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a": (4, 320)}
    found = m.detect_safetensors(header(loha))
    assert not found.ok and "LyCORIS" in found.problem and "plain LoRA" in found.hint


@pytest.mark.parametrize("family", [m.SD15, m.SDXL])
def test_single_file_checkpoints_are_base_models_of_their_family(family):
    found = m.detect_safetensors(header(checkpoint_shapes(family)))
    assert (found.kind, found.family, found.layout) == (m.BASE, family, m.CHECKPOINT)
    assert found.describe() == f"{m.FAMILY_SHORT[family]} base model (single-file checkpoint)"
    inpaint = m.detect_safetensors(header(checkpoint_shapes(family, inpainting=True)))
    assert inpaint.meta["inpainting"] and "inpainting base model" in inpaint.describe()


def test_checkpoints_the_studio_does_not_render_with_are_refused():
    sd2 = m.detect_safetensors(header(checkpoint_shapes("sd2")))
    assert not sd2.ok and "Stable Diffusion 2.x" in sd2.problem
    unet_only = m.detect_safetensors(header(checkpoint_shapes(m.SDXL, text=False)))
    assert not unet_only.ok and "lacks its text encoder" in unet_only.problem
    mixed = checkpoint_shapes(m.SD15)
    mixed["conditioner.embedders.1.model.positional_embedding"] = (77, 1280)
    found = m.detect_safetensors(header(mixed))
    assert not found.ok and "disagree" in found.problem


def test_other_weights_files_say_what_they_are():
    vae = m.detect_safetensors(header({"encoder.down.0.block.0.conv1.weight": (128, 3, 3, 3)}))
    assert vae.problem.startswith("a VAE on its own")
    control = m.detect_safetensors(header({"control_model.time_embed.0.weight": (1280, 320)}))
    assert "ControlNet" in control.problem
    empty = m.detect_safetensors({})
    assert "empty" in empty.problem


def test_a_clip_vision_file_is_read_but_its_folder_is_asked_for():
    found = m.detect_safetensors(header(clip_vision_shapes(VIT_H, layers=3)))
    assert found.meta["hidden_size"] == 1280 and found.meta["projection_dim"] == 1024
    assert found.meta["image_size"] == 224 and found.meta["num_hidden_layers"] == 3
    assert not found.ok and "CLIP ViT-H/14 image encoder in one file" in found.problem
    assert "--file models/image_encoder/config.json" in found.hint
    bigg = m.detect_safetensors(header(clip_vision_shapes(VIT_BIGG)))
    assert "--file sdxl_models/image_encoder/model.safetensors" in bigg.hint


# -- folders ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [m.SD15, m.SDXL])
def test_a_diffusers_pipeline_folder_is_a_base_model(tmp_path, family):
    folder = write_pipeline(tmp_path / "pipe", family)
    found = m.detect_folder(*_listing(folder))
    assert (found.kind, found.family, found.format) == (m.BASE, family, m.DIFFUSERS)
    assert found.describe() == f"{m.FAMILY_SHORT[family]} base model (diffusers folder)"
    assert "weights_variant" not in found.meta


def test_a_pipeline_with_only_fp16_weights_is_loaded_as_that_variant(tmp_path):
    folder = write_pipeline(tmp_path / "pipe", m.SDXL, weights="fp16")
    found = m.detect_folder(*_listing(folder))
    assert found.ok and found.meta["weights_variant"] == "fp16"


def test_a_pipeline_with_pickle_weights_only_is_refused_with_what_to_do(tmp_path):
    folder = write_pipeline(tmp_path / "pipe", m.SD15, weights="bin")
    found = m.detect_folder(*_listing(folder))
    assert not found.ok and "pickle" in found.problem and ".safetensors" in found.hint


def test_the_sdxl_refiner_and_other_pipelines_are_refused(tmp_path):
    refiner = m.detect_folder(*_listing(write_pipeline(tmp_path / "r", m.SDXL, refiner=True)))
    assert not refiner.ok and "refiner" in refiner.problem
    files = ["model_index.json"]
    flux = m.detect_folder(files, {"model_index.json": {"_class_name": "FluxPipeline"}})
    assert not flux.ok and "FluxPipeline" in flux.problem


def test_an_image_encoder_folder_and_a_component_folder(tmp_path):
    found = m.detect_folder(*_listing(write_encoder(tmp_path / "image_encoder")))
    assert (found.kind, found.format) == (m.IMAGE_ENCODER, m.DIFFUSERS)
    assert found.meta["projection_dim"] == 1024
    unet = m.detect_folder(
        ["config.json", "diffusion_pytorch_model.safetensors"],
        {"config.json": {"_class_name": "UNet2DConditionModel"}},
    )
    assert not unet.ok and "model_index.json" in unet.hint
    assert "no model_index.json" in m.detect_folder(["a.txt"], {}).problem


# -- what the user says -----------------------------------------------------------------------


def test_a_base_model_the_user_says_is_a_persona_s_is_a_dreambooth_model():
    base = m.detect_safetensors(header(checkpoint_shapes(m.SD15)))
    settled = m.settle(base, kind=m.DREAMBOOTH)
    assert settled.kind == m.DREAMBOOTH and settled.family == m.SD15
    assert settled.describe() == "SD 1.5 DreamBooth model (single-file checkpoint)"


def test_what_the_weights_contradict_is_refused_naming_the_evidence():
    lora = m.detect_safetensors(header(lora_shapes(m.SDXL, m.KOHYA)))
    with pytest.raises(m.ModelFileError) as kind:
        m.settle(lora, kind=m.BASE, where="ada.safetensors")
    assert "ada.safetensors is an SDXL LoRA (kohya layout)" in kind.value.message
    assert "2048 wide" in kind.value.message and "--kind" in kind.value.hint
    with pytest.raises(m.ModelFileError) as family:
        m.settle(lora, family=m.SD15)
    assert "Stable Diffusion XL" in family.value.message and "--family" in family.value.hint
    with pytest.raises(m.ModelFileError) as dreambooth:
        m.settle(lora, kind=m.DREAMBOOTH)
    assert "not a DreamBooth model" in dreambooth.value.message


def test_a_family_the_weights_do_not_show_comes_from_the_user():
    odd = {"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": (4, 1280)}
    found = m.detect_safetensors(header(odd))
    with pytest.raises(m.ModelFileError) as missing:
        m.settle(found)
    assert "--family sd15 or --family sdxl" in missing.value.hint
    settled = m.settle(found, family=m.SDXL)
    assert settled.family == m.SDXL and "you said it is for SDXL" in settled.why
    encoder = m.Detection(kind=m.IMAGE_ENCODER, format=m.DIFFUSERS)
    assert m.settle(encoder).family == ""  # an image encoder serves either family


def test_a_refused_detection_settles_into_its_error():
    sd2 = m.detect_safetensors(header(checkpoint_shapes("sd2")))
    with pytest.raises(m.ModelFileError) as refused:
        m.settle(sd2, where="v2.safetensors")
    assert refused.value.message.startswith("v2.safetensors: a Stable Diffusion 2.x model")


def test_pickle_files_are_refused_with_how_to_convert():
    assert m.is_pickle("model.CKPT") and m.is_pickle("x.bin") and not m.is_pickle("x.safetensors")
    with pytest.raises(m.PickleRefusedError) as refused:
        m.refuse_pickle("/models/v1-5-pruned.ckpt")
    assert refused.value.message.startswith("v1-5-pruned.ckpt is a pickle file")
    assert "persona-studio models convert" in refused.value.hint
    m.refuse_pickle("/models/ok.safetensors")


# -- names and hashes -------------------------------------------------------------------------


def test_default_names_come_from_where_a_model_is():
    hub = "/home/a/.cache/huggingface/hub/models--h94--IP-Adapter/snapshots/abc123"
    assert m.hf_cache_repo(hub + "/models/image_encoder") == (
        "h94/IP-Adapter",
        "models/image_encoder",
    )
    assert m.default_name(hub + "/models/ip-adapter_sd15.safetensors") == (
        "IP-Adapter/models/ip-adapter_sd15"
    )
    pipe = "/c/hub/models--stabilityai--stable-diffusion-xl-base-1.0/snapshots/0f1e"
    assert m.default_name(pipe) == "stabilityai/stable-diffusion-xl-base-1.0"
    assert m.default_name("/ComfyUI/models/loras/ada_v3.safetensors") == "ada_v3"
    assert m.default_name("/ComfyUI/models/clip_vision/sd15/image_encoder/") == "sd15/image_encoder"
    assert m.unique_name("ada", ["Ada", "ada 2"]) == "ada 3"


def test_a_folder_hash_covers_its_weights_paths_and_hashes_in_any_order():
    a = m.folder_sha256([("unet/w.safetensors", "11"), ("vae/w.safetensors", "22")])
    b = m.folder_sha256([("vae/w.safetensors", "22"), ("unet/w.safetensors", "11")])
    moved = m.folder_sha256([("unet/w.safetensors", "22"), ("vae/w.safetensors", "11")])
    assert a == b != moved and len(a) == 64
    assert m.is_weight_file("unet/x.safetensors") and not m.is_weight_file("unet/config.json")


# -- video models -----------------------------------------------------------------------------

_WAN_FILES = {
    "transformer": "diffusion_pytorch_model.safetensors",
    "transformer_2": "diffusion_pytorch_model.safetensors",
    "text_encoder": "model.safetensors",
    "vae": "diffusion_pytorch_model.safetensors",
    "image_encoder": "model.safetensors",
    "tokenizer": "tokenizer_config.json",
    "scheduler": "scheduler_config.json",
    "image_processor": "preprocessor_config.json",
}


def _wan_listing(version: str, drop: str = "", pickled: str = "") -> tuple[list[str], dict]:
    """The file list and configs of a Wan I2V folder: 2.1 reads the keyframe through an image
    encoder; 2.2 has two transformers and none."""
    parts = ["tokenizer", "text_encoder", "vae", "scheduler", "transformer"]
    index: dict = {"_class_name": m.WAN_PIPELINE, "_diffusers_version": "0.42.1"}
    transformer: dict = {"_class_name": "WanTransformer3DModel"}
    if version == "2.1":
        parts += ["image_encoder", "image_processor"]
        transformer["image_dim"] = 1280
    else:
        parts.append("transformer_2")
        index["boundary_ratio"] = 0.875
        index["image_encoder"] = [None, None]
        index["image_processor"] = [None, None]
    files = ["model_index.json", "transformer/config.json"]
    for part in parts:
        index[part] = ["diffusers", "Something"]
        if part == drop:
            continue
        weights = _WAN_FILES[part]
        if part == pickled:
            weights = weights.replace(".safetensors", ".bin")
        files.append(f"{part}/{weights}")
    return files, {"model_index.json": index, "transformer/config.json": transformer}


@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_a_wan_image_to_video_folder_is_a_video_model(version):
    found = m.detect_folder(*_wan_listing(version))
    assert (found.kind, found.family, found.format) == (m.VIDEO, m.WAN_I2V, m.DIFFUSERS)
    assert found.describe() == "Wan image-to-video model (diffusers folder)"
    assert ("Wan 2.2" if version == "2.2" else "Wan 2.1") in found.explain()


def test_an_incomplete_or_pickled_wan_folder_is_refused_naming_the_part():
    no_encoder = m.detect_folder(*_wan_listing("2.1", drop="image_encoder"))
    assert not no_encoder.ok and "image_encoder" in no_encoder.problem
    no_second = m.detect_folder(*_wan_listing("2.2", drop="transformer_2"))
    assert not no_second.ok and "transformer_2" in no_second.problem
    pickled = m.detect_folder(*_wan_listing("2.1", pickled="transformer"))
    assert not pickled.ok and "pickle" in pickled.problem and "transformer" in pickled.problem
    t2v = m.detect_folder(
        ["model_index.json"], {"model_index.json": {"_class_name": "WanPipeline"}}
    )
    assert not t2v.ok and "text-to-video" in t2v.problem


def test_the_video_family_is_not_a_still_family_but_settles_as_detected():
    assert m.VIDEO in m.KINDS and m.WAN_I2V in m.VIDEO_FAMILIES
    assert m.WAN_I2V not in m.FAMILIES
    found = m.detect_folder(*_wan_listing("2.1"))
    assert m.settle(found, kind=m.VIDEO) == found
    assert m.settle(found, family=m.WAN_I2V) == found
    with pytest.raises(m.ModelFileError, match="not a base model"):
        m.settle(found, kind=m.BASE)
    with pytest.raises(m.ModelFileError, match="not Stable Diffusion 1.5"):
        m.settle(found, family=m.SD15)
