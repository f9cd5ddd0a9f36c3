"""Live previews: latents to a rough picture without the VAE, a few times a second in a render."""

from __future__ import annotations

import inspect
import io

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.jobs import CancelToken
from studio.core.models import SD15, SDXL, WAN_I2V, ModelRef
from studio.core.render import ShotRender
from studio.engine.render import pipelines
from studio.engine.render.motion import iter_clip
from studio.engine.render.preview import (
    LATENT_RGB,
    DenoisedWatch,
    PreviewClock,
    encode_preview,
    latent_preview,
)
from studio.engine.render.renderer import SAMPLERS, Renderer, StepProgress
from tests.fixtures.tiny_models import SD15_SCHEDULER, tiny_pipeline
from tests.fixtures.tiny_video import SAMPLE_SIZE, tiny_wan_i2v_pipeline

SIZE = 32


def projected(latent: np.ndarray, family: str) -> np.ndarray:
    """The preview worked out by hand: each channel's colour added up, -1..1 mapped to 0..255."""
    factors, bias = LATENT_RGB[family]
    rgb = np.einsum("chw,cr->hwr", latent.astype(np.float64), np.asarray(factors)) + bias
    return np.clip(np.round((rgb + 1.0) * 127.5), 0, 255).astype(np.uint8)


class Prebuilt:
    """The renderer's loader over one tiny pipeline built in memory."""

    def __init__(self, pipe):
        self.pipe = pipe

    def load_base(self, ref, device, dtype):
        return self.pipe

    pipeline_for = staticmethod(pipelines.pipeline_for)

    def apply_loras(self, pipe, loras):
        assert not loras

    def load_adapters(self, pipe, adapters, loras):
        raise AssertionError("no adapters in these shots")

    adapter_embeds = load_adapters


@pytest.fixture(scope="module", params=[SD15, SDXL])
def tiny(request, tmp_path_factory):
    family = request.param
    return family, tiny_pipeline(family, tmp_path_factory.mktemp(f"tok-{family}"))


def shot(family, frames=2, steps=3) -> ShotRender:
    return ShotRender(
        shot_id="s1",
        shot_name="Intro",
        base=ModelRef("tiny", "base", family, "/models/tiny", "b" * 64),
        prompt="a portrait of ada",
        negative="",
        width=SIZE,
        height=SIZE,
        steps=steps,
        guidance=5.0,
        seeds=tuple((i, 40 + i) for i in range(frames)),
        sampler="ddim",  # one UNet call a step
    )


def test_a_tiny_pipelines_latents_preview_as_a_picture_at_the_latent_size(tiny):
    family, pipe = tiny
    latents = pipe(
        "a portrait of ada",
        num_inference_steps=2,
        height=SIZE,
        width=SIZE,
        num_images_per_prompt=2,
        generator=torch.Generator("cpu").manual_seed(3),
        output_type="latent",
    ).images
    side = SIZE // pipe.vae_scale_factor
    picture = latent_preview(latents, family)
    assert picture.dtype == np.uint8 and picture.shape == (side, side, 3)
    assert np.array_equal(picture, projected(latents[0].numpy(), family))  # the first one
    assert not np.array_equal(picture, projected(latents[1].numpy(), family))
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 1  # a picture, not a flat colour


def test_a_clip_previews_its_middle_frame():
    clip = torch.zeros(1, 16, 5, 6, 8)
    clip[0, :, 2] = torch.linspace(-2, 2, 16).view(16, 1, 1)
    picture = latent_preview(clip, WAN_I2V)
    assert picture.shape == (6, 8, 3)
    assert np.array_equal(picture, projected(clip[0, :, 2].numpy(), WAN_I2V))
    assert not np.array_equal(picture, latent_preview(clip[:, :, :1], WAN_I2V))


def test_latents_no_table_covers_have_no_preview():
    assert latent_preview(torch.zeros(1, 48, 3, 4, 4), WAN_I2V) is None  # Wan 2.2 TI2V-5B
    assert latent_preview(torch.zeros(1, 16, 4, 4), SD15) is None
    assert latent_preview(torch.zeros(1, 4, 4, 4), "flux") is None
    assert latent_preview(None, SD15) is None
    assert latent_preview(torch.zeros(1, 4, 4, 4), SDXL).shape == (4, 4, 3)


def test_a_preview_travels_as_a_small_jpeg():
    rgb = np.zeros((300, 200, 3), np.uint8)
    rgb[:, :100] = (220, 40, 30)
    image = Image.open(io.BytesIO(encode_preview(rgb)))
    assert image.format == "JPEG" and image.size == (171, 256)
    red = np.asarray(image.convert("RGB"))[128, 40]
    assert red[0] > 180 and red[1] < 90
    small = Image.open(io.BytesIO(encode_preview(np.zeros((16, 24, 3), np.uint8))))
    assert small.size == (24, 16)  # never enlarged


def test_previews_come_on_the_first_and_last_step_and_at_most_every_interval():
    now = [0.0]
    clock = PreviewClock(0.25, clock=lambda: now[0])
    due = []
    for step in range(1, 11):
        due.append(clock.due(step, 10))
        now[0] += 0.1
    # steps at 0.0, 0.1 ... 0.9 s: previews at 0.0, 0.3, 0.6, 0.9 (last step)
    assert [s for s, d in zip(range(1, 11), due, strict=True) if d] == [1, 4, 7, 10]


def test_the_renderers_steps_carry_a_preview_of_the_first_frame_in_flight(tiny):
    family, pipe = tiny
    renderer = Renderer(device="cpu", loader=Prebuilt(pipe))
    steps: list[StepProgress] = []
    frames = list(
        renderer.render(shot(family), [0, 1], {}.__getitem__, CancelToken(), steps.append, 2)
    )
    assert [f.index for f in frames] == [0, 1]
    assert [(p.frames, p.step, p.steps) for p in steps] == [((0, 1), s, 3) for s in (1, 2, 3)]
    side = SIZE // pipe.vae_scale_factor
    first, last = steps[0].preview, steps[-1].preview
    for picture in (first, last):
        assert picture.dtype == np.uint8 and picture.shape == (side, side, 3)
    assert not np.array_equal(first, last)  # the picture settles as the steps run


def test_a_clips_steps_carry_a_preview():
    pipe = tiny_wan_i2v_pipeline()
    rng = np.random.default_rng(7)
    keyframe = Image.fromarray(rng.integers(0, 256, (SAMPLE_SIZE, SAMPLE_SIZE, 3), np.uint8))
    steps: list[StepProgress] = []
    clip = list(
        iter_clip(
            pipe, keyframe, "a wave", "", 9, SAMPLE_SIZE, SAMPLE_SIZE, 2, 5.0, 9, CancelToken(),
            steps.append,
        )
    )  # fmt: skip
    assert len(clip) == 9
    assert [p.step for p in steps] == [1, 2]
    side = SAMPLE_SIZE // pipe.vae_scale_factor_spatial
    assert all(p.preview.shape == (side, side, 3) for p in steps)


# -- the sampler's estimate of the finished latents ---------------------------------------------


def scheduler_named(name: str):
    """A sampler the studio offers, SD 1.5's own ("pndm"), or a flow matching one as Wan's
    folders name them ("wan-unipc") and as the tiny Wan model has it ("flow")."""
    import diffusers

    if name == "pndm":
        return diffusers.PNDMScheduler.from_config(SD15_SCHEDULER)
    if name == "flow":
        return diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)
    if name == "wan-unipc":
        return diffusers.UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        )
    class_name, options = SAMPLERS[name]
    return getattr(diffusers, class_name).from_config(SD15_SCHEDULER, **options)


@pytest.mark.parametrize("name", ["pndm", *SAMPLERS, "flow", "wan-unipc"])
def test_a_perfect_noise_prediction_gives_the_clean_latents_as_the_estimate(name):
    """Latents noised to a step's level, stepped with the exact noise (or velocity) that was
    added: every sampler's estimate is the clean latents, far from the noisy ones."""
    scheduler = scheduler_named(name)
    generator = torch.Generator().manual_seed(5)
    clean = torch.randn(1, 4, 6, 6, generator=generator)
    noise = torch.randn(1, 4, 6, 6, generator=generator)
    scheduler.set_timesteps(10)
    t = scheduler.timesteps[3]
    if name == "flow":
        noisy = scheduler.scale_noise(clean, t.reshape(1), noise)
    else:
        noisy = scheduler.add_noise(clean, noise, t.reshape(1))
    if name in ("flow", "wan-unipc"):
        model_output = noise - clean  # the velocity flow matching predicts
    else:
        model_output = noise
    for earlier in scheduler.timesteps[:3]:  # the steps before, so multistep state is real
        scheduler.step(model_output, earlier, noisy, return_dict=False)
    own = inspect.signature(scheduler.step)
    with DenoisedWatch(scheduler) as watch:
        assert inspect.signature(scheduler.step) == own  # pipelines read it (generator, eta)
        assert watch.estimate() is None  # no step seen yet
        scheduler.step(model_output, t, noisy, return_dict=False)
        estimate = watch.estimate()
    assert torch.allclose(estimate.float(), clean, atol=1e-3), name
    assert not torch.allclose(noisy, clean, atol=0.1)
    assert "step" not in vars(scheduler)  # the scheduler's own step again


def test_a_step_that_gives_no_estimate_previews_the_noisy_latents():
    import diffusers

    from studio.engine.render.preview import step_preview

    scheduler = diffusers.DDPMScheduler.from_config(SD15_SCHEDULER)
    scheduler.set_timesteps(10)
    latents = torch.randn(1, 4, 6, 6, generator=torch.Generator().manual_seed(2))
    with DenoisedWatch(scheduler) as watch:
        # As the pipelines call it, DDPM's step gives only the previous sample.
        scheduler.step(
            torch.zeros_like(latents), scheduler.timesteps[0], latents, return_dict=False
        )
        assert watch.estimate() is None
        preview = step_preview(watch, {"latents": latents}, SD15)
        # Asked for its dataclass, the same step names its estimate.
        out = scheduler.step(torch.zeros_like(latents), scheduler.timesteps[1], latents)
        assert watch.estimate() is out.pred_original_sample
    assert np.array_equal(preview, latent_preview(latents, SD15))
