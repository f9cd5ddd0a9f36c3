"""IP-Adapter: the persona's references and face embedding steer a tiny SD 1.5 render on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.adapter_errors import (
    AdapterFamilyError,
    AdapterFileError,
    EncoderMissingError,
    FaceEmbeddingMissingError,
)
from studio.core.models import FACEID, FACEID_PLUS, FULL_FACE, PLAIN, PLUS, SD15, SDXL
from studio.core.render import AdapterUse, LoraUse
from studio.engine.render.adapters import adapter_embeds, load_adapters
from studio.engine.render.pipelines import apply_loras, lora_adapter_name
from tests.fixtures.tiny_adapters import (
    adapter_ref,
    face_embedding,
    reference_images,
    save_adapter,
    save_image_encoder,
)
from tests.fixtures.tiny_models import lora_ref, save_tiny_lora, tiny_sd15_pipeline

SIZE = 32
PROMPT = "a portrait of ada"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and do not fight other work for cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One image encoder and one tiny adapter file of each variant, sized for the tiny UNet."""
    folder = tmp_path_factory.mktemp("adapters")
    unet = tiny_sd15_pipeline(folder / "tokenizer").unet
    found = {"encoder": save_image_encoder(folder / "image_encoder"), "folder": folder}
    for seed, variant in enumerate((PLAIN, PLUS, FULL_FACE, FACEID, FACEID_PLUS)):
        found[variant] = save_adapter(folder / f"{variant}.safetensors", variant, unet, seed=seed)
    return found


@pytest.fixture
def pipe(tmp_path):
    return tiny_sd15_pipeline(tmp_path / "tokenizer")


def use(files, variant, scale=0.8, **ref):
    encoder = None if variant == FACEID else files["encoder"]
    return AdapterUse(adapter_ref(files[variant], variant, encoder=encoder, **ref), scale)


def render(pipe, embeds=None, frames=1, seed=0, guidance=6.0):
    return pipe(
        [PROMPT] * frames,
        num_inference_steps=2,
        height=SIZE,
        width=SIZE,
        guidance_scale=guidance,
        output_type="np",
        generator=[torch.Generator().manual_seed(seed + i) for i in range(frames)],
        ip_adapter_image_embeds=embeds,
    ).images


def shot(pipe, adapters, loras=(), face=None):
    """Load a shot's adapters and compute its embeddings, as the renderer does."""
    load_adapters(pipe, adapters, loras)
    face = face_embedding() if face is None else face
    return adapter_embeds(pipe, adapters, reference_images(4), face, True)


def differs(a, b):
    return float(np.abs(a - b).max()) > 1e-3


@pytest.mark.parametrize("variant", [PLAIN, PLUS, FULL_FACE, FACEID, FACEID_PLUS])
def test_each_variant_steers_the_frame_and_scale_zero_renders_as_without(pipe, files, variant):
    without = render(pipe)
    adapter = use(files, variant)
    embeds = shot(pipe, [adapter])
    assert differs(render(pipe, embeds), without)

    load_adapters(pipe, [AdapterUse(adapter.model, 0.0)], [])
    np.testing.assert_allclose(render(pipe, embeds), without, atol=1e-6)

    load_adapters(pipe, [], [])
    assert pipe.unet.encoder_hid_proj is None
    assert pipe.get_active_adapters() == []
    np.testing.assert_allclose(render(pipe), without, atol=1e-6)


def test_embedding_shapes_follow_each_variant(pipe, files):
    adapters = [use(files, v) for v in (PLAIN, PLUS, FACEID)]
    load_adapters(pipe, adapters, [])
    images = reference_images(3)
    with_cfg = adapter_embeds(pipe, adapters, images, face_embedding(), True)
    without_cfg = adapter_embeds(pipe, adapters, images, face_embedding(), False)
    # (uncond + cond, one averaged picture, width) or (.., tokens, width): what diffusers reads.
    assert [tuple(e.shape) for e in with_cfg] == [(2, 1, 16), (2, 1, 17, 32), (2, 1, 512)]
    assert [tuple(e.shape) for e in without_cfg] == [(1, 1, 16), (1, 1, 17, 32), (1, 1, 512)]
    torch.testing.assert_close(with_cfg[0][1], without_cfg[0][0])
    assert float(with_cfg[0][0].abs().max()) == 0.0  # the plain adapter's unconditional half
    assert torch.linalg.norm(with_cfg[2][1, 0]) == pytest.approx(1.0, abs=1e-5)


def test_two_adapters_apply_at_once_each_with_its_own_scale(pipe, files):
    plain, faceid = use(files, PLAIN, 0.7), use(files, FACEID, 0.7)
    plain_alone = render(pipe, shot(pipe, [plain]))
    faceid_alone = render(pipe, shot(pipe, [faceid]))

    embeds = shot(pipe, [plain, faceid])
    both = render(pipe, embeds)
    assert differs(both, plain_alone) and differs(both, faceid_alone)

    load_adapters(pipe, [plain, AdapterUse(faceid.model, 0.0)], [])
    np.testing.assert_allclose(render(pipe, embeds), plain_alone, atol=1e-5)
    load_adapters(pipe, [AdapterUse(plain.model, 0.0), faceid], [])
    np.testing.assert_allclose(render(pipe, embeds), faceid_alone, atol=1e-5)


def test_embeddings_are_computed_once_per_shot_and_fit_any_batch(pipe, files, monkeypatch):
    from transformers import CLIPVisionModelWithProjection

    calls = []
    forward = CLIPVisionModelWithProjection.forward

    def counting(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(CLIPVisionModelWithProjection, "forward", counting)
    # Two adapters on one encoder: the plain one reads its embedding, FaceID Plus its patches.
    adapters = [use(files, PLAIN, 0.6), use(files, FACEID_PLUS, 0.6)]
    embeds = shot(pipe, adapters)
    batch = render(pipe, embeds, frames=2, seed=10)
    singles = [render(pipe, embeds, frames=1, seed=10 + i)[0] for i in range(2)]
    assert len(calls) == 1
    np.testing.assert_allclose(batch, np.stack(singles), atol=1e-5)
    assert differs(batch[0], batch[1])

    plain = use(files, PLAIN, 0.6)
    load_adapters(pipe, [plain], [])
    once = adapter_embeds(pipe, [plain], reference_images(4), (), False)
    frames = render(pipe, once, frames=2, guidance=1.0)
    assert frames.shape == (2, SIZE, SIZE, 3) and len(calls) == 2


def test_sdxl_adapters_fit_an_sdxl_render_in_a_batch(files, tmp_path):
    from tests.fixtures.tiny_models import tiny_sdxl_pipeline

    pipe = tiny_sdxl_pipeline(tmp_path / "tokenizer")
    without = render(pipe, frames=2)
    adapters = []
    for variant in (PLUS, FACEID_PLUS):
        path = save_adapter(tmp_path / f"{variant}_sdxl.safetensors", variant, pipe.unet)
        ref = adapter_ref(path, variant, encoder=files["encoder"], family=SDXL)
        adapters.append(AdapterUse(ref, 0.7))
    embeds = shot(pipe, adapters)
    batch = render(pipe, embeds, frames=2)
    assert differs(batch[0], without[0]) and differs(batch[1], without[1])
    np.testing.assert_allclose(batch[:1], render(pipe, embeds, frames=1), atol=1e-5)


def test_references_are_averaged_so_their_order_does_not_matter(pipe, files):
    adapters = [use(files, PLUS)]
    load_adapters(pipe, adapters, [])
    images = reference_images(5)
    forward = adapter_embeds(pipe, adapters, images, (), True)[0]
    backward = adapter_embeds(pipe, adapters, images[::-1], (), True)[0]
    fewer = adapter_embeds(pipe, adapters, images[:3], (), True)[0]
    torch.testing.assert_close(forward, backward, atol=1e-5, rtol=1e-5)
    assert float((forward - fewer).abs().max()) > 1e-4


def test_a_lora_loaded_before_faceid_stays_active_with_its_weight(pipe, files, tmp_path):
    faceid = use(files, FACEID)
    alone = tiny_sd15_pipeline(tmp_path / "alone")
    faceid_alone = render(alone, shot(alone, [faceid]))

    path = save_tiny_lora(pipe, tmp_path / "ada.safetensors")
    lora = LoraUse(lora_ref(path, SD15), 0.8)
    name = lora_adapter_name(lora.model)
    apply_loras(pipe, [lora])  # as the renderer does: the shot's LoRAs, then its adapters
    embeds = shot(pipe, [faceid], [lora])
    assert set(pipe.get_active_adapters()) == {name, "faceid_0"}
    with_lora = render(pipe, embeds)
    assert differs(with_lora, faceid_alone)

    pipe.set_adapters([name, "faceid_0"], [0.8, 1.0])  # the LoRA set again by hand
    np.testing.assert_allclose(render(pipe, embeds), with_lora, atol=1e-6)

    apply_loras(pipe, [])  # the next shot has no LoRA (apply_loras turns LoRAs off)
    load_adapters(pipe, [faceid], [])
    assert pipe.get_active_adapters() == ["faceid_0"]
    np.testing.assert_allclose(render(pipe, embeds), faceid_alone, atol=1e-5)

    apply_loras(pipe, [lora])
    load_adapters(pipe, [use(files, PLAIN)], [lora])  # FaceID replaced: its LoRA goes
    assert pipe.get_active_adapters() == [name]
    assert "faceid_0" not in pipe.unet.peft_config


def test_a_refused_adapter_leaves_the_loaded_ones_in_place(pipe, files):
    plain = use(files, PLAIN)
    embeds = shot(pipe, [plain])
    before = render(pipe, embeds)
    with pytest.raises(AdapterFamilyError):
        load_adapters(pipe, [plain, use(files, FACEID, family=SDXL)], [])
    np.testing.assert_allclose(render(pipe, embeds), before, atol=1e-6)


def test_an_adapter_without_its_image_encoder_says_which_to_get(pipe, files, tmp_path):
    # Published widths: ip-adapter_sd15 reads ViT-H's 1024-wide image embeddings.
    path = save_adapter(tmp_path / "ip-adapter_sd15.safetensors", PLAIN, pipe.unet, clip_embed=1024)
    with pytest.raises(EncoderMissingError) as err:
        load_adapters(pipe, [AdapterUse(adapter_ref(path, PLAIN))], [])
    assert "ip-adapter_sd15 needs the ViT-H image encoder" in err.value.message
    assert "models/image_encoder of h94/IP-Adapter" in err.value.message
    assert "image encoder" in err.value.hint

    gone = adapter_ref(files[PLUS], PLUS, encoder=files["encoder"])
    from dataclasses import replace

    with pytest.raises(EncoderMissingError, match="is not there"):
        load_adapters(pipe, [AdapterUse(replace(gone, encoder_path=str(tmp_path / "no")))], [])

    narrow = save_image_encoder(tmp_path / "narrow", embed=24)
    with pytest.raises(EncoderMissingError, match="reads 16-wide image features"):
        load_adapters(pipe, [AdapterUse(adapter_ref(files[PLAIN], PLAIN, encoder=narrow))], [])


def test_faceid_without_a_face_embedding_says_to_scan_with_insightface(pipe, files):
    adapters = [use(files, FACEID)]
    load_adapters(pipe, adapters, [])
    with pytest.raises(FaceEmbeddingMissingError, match="not been scanned with insightface"):
        adapter_embeds(pipe, adapters, reference_images(4), (), True)
    with pytest.raises(FaceEmbeddingMissingError, match="dlib") as err:
        adapter_embeds(pipe, adapters, reference_images(4), face_embedding(128), True)
    assert "512-value" in err.value.message and "insightface" in err.value.hint


def test_an_adapter_of_the_other_family_is_refused(pipe, files, tmp_path):
    with pytest.raises(AdapterFamilyError) as err:
        load_adapters(pipe, [use(files, PLUS, name="ip-adapter-plus_sdxl_vit-h", family=SDXL)], [])
    assert err.value.message == (
        "ip-adapter-plus_sdxl_vit-h is an IP-Adapter for Stable Diffusion XL, and this shot "
        "renders with a Stable Diffusion 1.5 model."
    )
    # Registered as SD 1.5, but its weights are sized for an SDXL UNet: the file tells.
    from tests.fixtures.tiny_models import tiny_sdxl_pipeline

    sdxl_unet = tiny_sdxl_pipeline(tmp_path / "tokenizer").unet
    path = save_adapter(tmp_path / "xl.safetensors", PLAIN, sdxl_unet)
    with pytest.raises(AdapterFamilyError, match="does not fit the Stable Diffusion 1.5 model"):
        load_adapters(pipe, [AdapterUse(adapter_ref(path, PLAIN, encoder=files["encoder"]))], [])


def test_damaged_or_unsafe_files_are_refused(pipe, files, tmp_path):
    whole = files[PLAIN].read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole[:-100])
    with pytest.raises(AdapterFileError, match="cut short") as err:
        load_adapters(pipe, [use({**files, PLAIN: cut}, PLAIN)], [])
    assert "Download it again" in err.value.hint

    pickled = tmp_path / "ip-adapter-faceid_sd15.bin"
    pickled.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(AdapterFileError, match="only .safetensors"):
        load_adapters(pipe, [use({**files, FACEID: pickled}, FACEID)], [])

    with pytest.raises(AdapterFileError, match="holds an IP-Adapter Plus"):
        load_adapters(pipe, [AdapterUse(adapter_ref(files[PLUS], FULL_FACE))], [])
