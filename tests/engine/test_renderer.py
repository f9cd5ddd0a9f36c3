"""The Renderer renders frames of a shot with tiny SD 1.5 / SDXL pipelines on the CPU."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.errors import BadImageError, Cancelled, JobError, StudioError
from studio.core.jobs import CancelToken
from studio.core.models import FACEID_PLUS, PLAIN, SD15, SDXL, ModelRef
from studio.core.render import IMG2IMG, INPAINT, AdapterUse, LoraUse, ShotRender
from studio.engine.render import pipelines
from studio.engine.render.prompts import CHUNK_TOKENS, encode_prompts, token_chunks
from studio.engine.render.renderer import (
    NOTE_OFFLOAD,
    NOTE_TILING,
    SAMPLERS,
    Renderer,
    StepProgress,
)
from tests.fixtures.tiny_models import (
    lora_ref,
    model_ref,
    save_tiny_lora,
    tiny_pipeline,
)

SIZE = 32
PROMPT = "a portrait of ada, red coat"
# Well over 77 tokens for the tiny tokenizer, with commas to break chunks at.
LONG_PROMPT = ", ".join(
    ["a portrait of ada", "red coat", "green scarf", "rain at night", "neon signs behind her"] * 3
    + ["and a small yellow umbrella in her left hand"]
)


class TinyLoader:
    """The renderer's loader over tiny in-memory pipelines; records what it is asked."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.loads: list[str] = []
        self.loras: list[tuple] = []
        self.last = None

    def load_base(self, ref, device, dtype):
        self.loads.append(ref.sha256)
        folder = self.tmp_path / f"tokenizer-{len(self.loads)}"
        return tiny_pipeline(ref.family, folder)  # float32 on the CPU already

    def pipeline_for(self, mode, pipe):
        self.last = pipelines.pipeline_for(mode, pipe)
        return self.last

    def apply_loras(self, pipe, loras):
        self.loras.append(tuple(loras))

    def load_adapters(self, pipe, adapters, loras):
        assert not adapters

    def adapter_embeds(self, pipe, adapters, images, face_embedding, do_cfg):
        raise AssertionError("no adapters in these shots")


def base(family=SD15, sha="a" * 64):
    return ModelRef("tiny", "base", family, "/models/tiny", sha)


def shot(family=SD15, frames=4, **changes):
    values = dict(
        shot_id="s1",
        shot_name="Shot 1",
        base=base(family),
        prompt=PROMPT,
        negative="blurry",
        width=SIZE,
        height=SIZE,
        steps=2,
        guidance=6.0,
        seeds=tuple((i, 1000 + i) for i in range(frames)),
    )
    values.update(changes)
    return ShotRender(**values)


def render(renderer, the_shot, frames=None, batch_size=1, on_step=None, blobs=None, cancel=None):
    frames = [i for i, _ in the_shot.seeds] if frames is None else frames
    read_blob = (blobs or {}).__getitem__
    return list(
        renderer.render(the_shot, frames, read_blob, cancel or CancelToken(), on_step, batch_size)
    )


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def png_blob(array: np.ndarray) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    data = buffer.getvalue()
    return hashlib.sha256(data).hexdigest(), data


@pytest.fixture
def loader(tmp_path):
    return TinyLoader(tmp_path)


@pytest.fixture
def renderer(loader):
    return Renderer(device="cpu", loader=loader)


# -- seeds and batches ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", [SD15, SDXL])
def test_frames_are_bitwise_the_same_whatever_the_batch_size(renderer, family):
    the_shot = shot(family, sampler="euler-a")  # ancestral: fresh noise every step, too
    by_batch = {size: render(renderer, the_shot, batch_size=size) for size in (1, 2, 4)}
    pngs = {size: [f.png for f in frames] for size, frames in by_batch.items()}
    assert pngs[1] == pngs[2] == pngs[4]
    assert len(set(pngs[1])) == 4  # four seeds, four different frames
    # A frame does not depend on which frames share its batch either.
    alone = render(renderer, the_shot, frames=[3, 1], batch_size=2)
    assert [f.png for f in alone] == [pngs[1][3], pngs[1][1]]
    frame = by_batch[4][2]
    assert (frame.index, frame.seed, frame.width, frame.height) == (2, 1002, SIZE, SIZE)
    assert (frame.device, frame.dtype, frame.notes) == ("cpu", "float32", ())


@pytest.mark.parametrize("family", [SD15, SDXL])
def test_a_frame_is_what_the_plain_diffusers_pipeline_renders_with_its_seed(
    renderer, loader, family
):
    [frame] = render(renderer, shot(family, frames=1, negative=""))
    plain = loader.last(
        PROMPT,
        num_inference_steps=2,
        height=SIZE,
        width=SIZE,
        guidance_scale=6.0,
        generator=torch.Generator("cpu").manual_seed(1000),
    ).images[0]
    assert np.array_equal(pixels(frame.png), np.asarray(plain))


def test_a_different_seed_gives_a_different_frame_and_the_same_seed_the_same(renderer):
    first = render(renderer, shot(frames=1))[0].png
    again = render(renderer, shot(frames=1))[0].png
    other = render(renderer, shot(frames=1, seeds=((0, 7),)))[0].png
    assert first == again
    assert other != first
    assert Image.open(io.BytesIO(first)).info == {}  # plain PNG: no metadata to differ


def test_frames_are_yielded_one_by_one_as_each_batch_finishes(renderer):
    steps: list[StepProgress] = []
    frames = renderer.render(
        shot(sampler="ddim"), [0, 1, 2, 3], {}.__getitem__, CancelToken(), steps.append, 2
    )
    assert next(frames).index == 0
    assert {p.frames for p in steps} == {(0, 1)}  # the second batch has not started
    assert [(p.step, p.steps) for p in steps] == [(1, 2), (2, 2)]  # DDIM: one UNet call a step
    assert next(frames).index == 1
    assert next(frames).index == 2
    assert {p.frames for p in steps} == {(0, 1), (2, 3)}
    assert [f.index for f in frames] == [3]


def test_pndm_counts_the_steps_asked_for_though_it_calls_back_once_more(renderer):
    steps: list[StepProgress] = []
    render(renderer, shot(frames=1, steps=3), on_step=steps.append)  # SD 1.5's own PNDM
    assert len(steps) == 4  # its warm-up repeats a timestep
    assert [(p.step, p.steps) for p in steps] == [(1, 3), (2, 3), (3, 3), (3, 3)]


def test_the_cpu_renders_one_frame_at_a_time_unless_told(renderer):
    steps: list[StepProgress] = []
    render(renderer, shot(frames=2), batch_size=0, on_step=steps.append)
    assert {p.frames for p in steps} == {(0,), (1,)}


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_during_a_step_stops_the_render_within_that_step(renderer, loader):
    cancel = CancelToken()
    steps: list[StepProgress] = []
    done = render(renderer, shot(frames=2), frames=[0])
    unet_calls = []

    def during_step(_module, _args):
        unet_calls.append(1)
        if len(unet_calls) == 2:
            cancel.cancel()  # the artist clicks Cancel while the second step runs

    handle = loader.last.unet.register_forward_pre_hook(during_step)
    try:
        with pytest.raises(Cancelled):
            render(renderer, shot(frames=2, steps=6), cancel=cancel, on_step=steps.append)
    finally:
        handle.remove()
    assert len(unet_calls) == 2  # the step under way finished; none of the other four ran
    assert [p.step for p in steps] == [1, 2]
    assert done and done[0].index == 0


def test_a_cancelled_token_stops_before_anything_loads(renderer, loader):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        render(renderer, shot(), cancel=cancel)
    assert loader.loads == []


# -- out of memory --------------------------------------------------------------------------------


def test_running_out_of_memory_halves_the_batch_then_tiles_then_offloads(loader):
    tried: list[tuple[int, tuple[str, ...]]] = []

    def memory_check(batch, notes):
        tried.append((batch, notes))
        if NOTE_OFFLOAD not in notes:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    renderer = Renderer(device="cpu", loader=loader, memory_check=memory_check)
    frames = render(renderer, shot(), batch_size=4)
    halved = ("batch 4 -> 2 (out of GPU memory)", "batch 2 -> 1 (out of GPU memory)")
    assert [batch for batch, _ in tried] == [4, 2, 1, 1, 1, 1, 1, 1]
    assert tried[4][1] == (*halved, NOTE_TILING, NOTE_OFFLOAD)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.notes == (*halved, NOTE_TILING, NOTE_OFFLOAD) for f in frames)
    assert loader.last.vae.use_tiling
    # The fallbacks stay while the pipeline does: the next render starts tiled and offloaded.
    tried.clear()
    [again] = render(renderer, shot(frames=1), batch_size=1)
    assert tried == [(1, (NOTE_TILING, NOTE_OFFLOAD))]
    assert again.notes == (NOTE_TILING, NOTE_OFFLOAD)
    assert loader.loads == ["a" * 64]


def test_out_of_memory_with_every_fallback_taken_is_a_clear_error(loader):
    def memory_check(batch, notes):
        raise torch.OutOfMemoryError("CUDA out of memory.")

    renderer = Renderer(device="cpu", loader=loader, memory_check=memory_check)
    with pytest.raises(StudioError) as caught:
        render(renderer, shot(frames=2), batch_size=2)
    assert "ran out of memory rendering one 32x32 frame" in caught.value.message
    assert "render smaller frames" in caught.value.hint


def test_a_model_too_large_for_the_gpu_is_a_clear_error(loader, monkeypatch):
    def too_large(ref, device, dtype):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 5.00 GiB")

    monkeypatch.setattr(loader, "load_base", too_large)
    with pytest.raises(StudioError, match="not enough memory on cpu to load tiny in float32"):
        render(Renderer(device="cpu", loader=loader), shot(frames=1))


def test_other_errors_are_not_taken_for_running_out_of_memory(loader):
    def memory_check(batch, notes):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    renderer = Renderer(device="cpu", loader=loader, memory_check=memory_check)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        render(renderer, shot(frames=1))


# -- prompts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [SD15, SDXL])
def test_a_short_prompt_encodes_exactly_as_diffusers_does(tmp_path, family):
    pipe = tiny_pipeline(family, tmp_path)
    ours = encode_prompts(pipe, PROMPT, "blurry")
    theirs = pipe.encode_prompt(
        PROMPT, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True,
        negative_prompt="blurry",
    )  # fmt: skip
    assert torch.equal(ours.prompt, theirs[0]) and torch.equal(ours.negative, theirs[1])
    if family == SDXL:
        assert torch.equal(ours.pooled, theirs[2])
        assert torch.equal(ours.negative_pooled, theirs[3])
        # No negative prompt: SDXL feeds zeros, as its pipeline does.
        empty = encode_prompts(pipe, PROMPT, "")
        assert not empty.negative.any() and not empty.negative_pooled.any()


def test_a_long_prompt_is_chunked_at_commas_not_truncated(tmp_path):
    pipe = tiny_pipeline(SD15, tmp_path)
    tokenizer = pipe.tokenizer
    chunks = token_chunks(tokenizer, LONG_PROMPT)
    every = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(LONG_PROMPT))
    assert len(every) > 77 and len(chunks) >= 2
    assert [t for c in chunks for t in c] == every  # nothing dropped
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    assert all(len(c) <= CHUNK_TOKENS and c[-1] == comma for c in chunks[:-1])
    embeds = encode_prompts(pipe, LONG_PROMPT, "blurry")
    assert embeds.prompt.shape[1] == 77 * len(chunks) == embeds.negative.shape[1]
    assert token_chunks(tokenizer, "") == [[]]


@pytest.mark.parametrize("family", [SD15, SDXL])
def test_a_long_prompt_renders_otherwise_than_its_first_75_tokens(renderer, loader, family):
    [frame] = render(renderer, shot(family, frames=1, prompt=LONG_PROMPT, negative=""))
    # diffusers' own call truncates the prompt to its first 75 tokens.
    truncated = loader.last(
        LONG_PROMPT,
        num_inference_steps=2,
        height=SIZE,
        width=SIZE,
        guidance_scale=6.0,
        generator=torch.Generator("cpu").manual_seed(1000),
    ).images[0]
    assert not np.array_equal(pixels(frame.png), np.asarray(truncated))


# -- modes, samplers, loading ---------------------------------------------------------------------


def test_img2img_and_inpaint_render_from_the_loaded_components(renderer, loader):
    ramp = np.linspace(0, 255, SIZE * SIZE * 3).reshape(SIZE, SIZE, 3).astype(np.uint8)
    start_sha, start = png_blob(ramp)
    other_sha, other = png_blob(255 - ramp)
    half = np.zeros((SIZE, SIZE, 3), np.uint8)
    half[:, SIZE // 2 :] = 255
    mask_sha, mask = png_blob(half)
    top_sha, top = png_blob(np.ascontiguousarray(half.transpose(1, 0, 2)))
    blobs = {start_sha: start, other_sha: other, mask_sha: mask, top_sha: top}

    [text] = render(renderer, shot(frames=1))
    inits = ((0, start_sha), (1, other_sha))
    steps: list[StepProgress] = []
    img2img = shot(frames=2, steps=4, sampler="ddim", mode=IMG2IMG, init_images=inits, strength=0.5)
    one_by_one = render(renderer, img2img, blobs=blobs, on_step=steps.append)
    together = render(renderer, img2img, blobs=blobs, batch_size=2)
    assert [f.png for f in one_by_one] == [f.png for f in together]
    assert one_by_one[0].png not in (text.png, one_by_one[1].png)  # each frame its own start
    assert {p.steps for p in steps} == {2}  # strength 0.5 of 4 steps
    assert type(loader.last).__name__ == "StableDiffusionImg2ImgPipeline"

    inpaint = shot(frames=1, mode=INPAINT, init_images=inits[:1], masks=((0, mask_sha),))
    [left] = render(renderer, inpaint, blobs=blobs)
    [upper] = render(renderer, replace(inpaint, masks=((0, top_sha),)), blobs=blobs)
    assert type(loader.last).__name__ == "StableDiffusionInpaintPipeline"
    assert left.png != upper.png and pixels(left.png).shape == (SIZE, SIZE, 3)
    assert len(loader.loads) == 1  # one load served all three modes


def test_a_frame_without_its_init_image_or_mask_is_refused_before_loading(renderer, loader):
    with pytest.raises(JobError, match="Frame 2 of shot Shot 1 has no init image"):
        render(renderer, shot(frames=2, mode=IMG2IMG, init_images=((0, "f" * 64),)))
    with pytest.raises(JobError, match="has no mask"):
        render(renderer, shot(frames=1, mode=INPAINT, init_images=((0, "f" * 64),)))
    assert loader.loads == []


def test_an_init_image_that_is_not_a_picture_is_named_before_loading(renderer, loader):
    blobs = {"d" * 64: b"not a picture"}
    the_shot = shot(frames=1, mode=IMG2IMG, init_images=((0, "d" * 64),))
    with pytest.raises(BadImageError, match="The init image dddddddddddd cannot be used"):
        render(renderer, the_shot, blobs=blobs)
    assert loader.loads == []


def test_samplers_are_swapped_by_name_and_empty_keeps_the_models_own(renderer, loader):
    frames = {}
    for name in SAMPLERS:
        # 4 steps: at 2, DPM++ 2M and UniPC fall back to first order and match DDIM.
        frames[name] = render(renderer, shot(frames=1, steps=4, sampler=name))[0].png
        scheduler = loader.last.scheduler
        assert type(scheduler).__name__ == SAMPLERS[name][0]
        if name.startswith("dpmpp"):
            assert scheduler.config.use_karras_sigmas == name.endswith("karras")
    assert len(set(frames.values())) == len(SAMPLERS)
    render(renderer, shot(frames=1))
    assert type(loader.last.scheduler).__name__ == "PNDMScheduler"  # the tiny model's own
    assert len(loader.loads) == 1


def test_an_unknown_sampler_is_refused_with_the_known_names(renderer, loader):
    with pytest.raises(JobError) as caught:
        render(renderer, shot(frames=1, sampler="heun++"))
    assert "'heun++' is not a sampler" in caught.value.message
    assert all(name in caught.value.hint for name in SAMPLERS)
    assert loader.loads == []


def test_pipelines_stay_loaded_while_the_base_model_is_the_same(renderer, loader):
    lora = LoraUse(ModelRef("freckles", "lora", SD15, "/models/l.safetensors", "b" * 64), 0.7)
    render(renderer, shot(frames=1))
    render(renderer, shot(frames=1, prompt="ada in the rain", loras=(lora,), sampler="ddim"))
    assert loader.loads == ["a" * 64]
    assert loader.loras == [(), (lora,)]  # LoRAs change on the loaded pipeline
    render(renderer, shot(frames=1, base=base(sha="c" * 64)))
    assert loader.loads == ["a" * 64, "c" * 64]
    renderer.release()
    render(renderer, shot(frames=1, base=base(sha="c" * 64)))
    assert len(loader.loads) == 3


# -- with the studio's own loaders ----------------------------------------------------------------


def test_a_lora_weight_changes_the_frame_without_loading_the_model_again(
    tmp_path, tiny_sd15, monkeypatch
):
    pipe = tiny_pipeline(SD15, tmp_path / "lora-tokenizer")
    lora = lora_ref(save_tiny_lora(pipe, tmp_path / "freckles.safetensors"), SD15)
    loads = []
    real_load = pipelines.load_base
    monkeypatch.setattr(
        pipelines, "load_base", lambda *a, **k: loads.append(1) or real_load(*a, **k)
    )
    renderer = Renderer(device="cpu")
    the_shot = shot(frames=1, base=model_ref(tiny_sd15.folder, SD15))
    plain = render(renderer, the_shot)[0].png
    light = render(renderer, shot(frames=1, base=the_shot.base, loras=(LoraUse(lora, 0.5),)))
    strong = render(renderer, shot(frames=1, base=the_shot.base, loras=(LoraUse(lora, 1.5),)))
    assert len({plain, light[0].png, strong[0].png}) == 3
    assert render(renderer, the_shot)[0].png == plain  # the LoRA is switched off again
    assert loads == [1]


@pytest.mark.parametrize("variant", [PLAIN, FACEID_PLUS])
def test_ip_adapter_frames_do_not_depend_on_the_batch_either(tmp_path, tiny_sd15, variant):
    from tests.fixtures.tiny_adapters import (
        adapter_ref,
        face_embedding,
        reference_images,
        save_adapter,
        save_image_encoder,
    )

    unet = tiny_pipeline(SD15, tmp_path / "adapter-tokenizer").unet
    encoder = save_image_encoder(tmp_path / "image_encoder")
    adapter = adapter_ref(
        save_adapter(tmp_path / "a.safetensors", variant, unet), variant, encoder=encoder
    )
    blobs = dict(png_blob(np.asarray(im.convert("RGB"))) for im in reference_images(3))
    the_shot = shot(
        frames=2,
        base=model_ref(tiny_sd15.folder, SD15),
        adapters=(AdapterUse(adapter, 0.8),),
        references=tuple(blobs),
        face_embedding=tuple(float(x) for x in face_embedding()),
    )
    renderer = Renderer(device="cpu")
    one = render(renderer, the_shot, blobs=blobs, batch_size=1)
    two = render(renderer, the_shot, blobs=blobs, batch_size=2)
    again = render(renderer, the_shot, blobs=blobs, batch_size=1)
    assert [f.png for f in one] == [f.png for f in two] == [f.png for f in again]
    without = render(renderer, shot(frames=1, base=the_shot.base))
    assert without[0].png != one[0].png  # the references steer the frame
