"""Motion shots: a tiny Wan image-to-video folder loads offline and animates a keyframe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.core.errors import Cancelled, JobError
from studio.core.jobs import CancelToken
from studio.core.models import BASE, DIFFUSERS, SD15, ModelRef
from studio.core.render_errors import ModelFileMissingError, ModelLoadError, PickleModelError
from studio.engine.render.motion import (
    VIDEO,
    WAN_I2V,
    detect_video_folder,
    iter_clip,
    load_video_pipeline,
    render_clip,
)
from tests.fixtures.tiny_video import SAMPLE_SIZE, WAN22, save_tiny_wan_i2v

FRAMES = 9


def wan_ref(path: Path, kind: str = VIDEO, family: str = WAN_I2V) -> ModelRef:
    return ModelRef(
        name="Tiny Wan", kind=kind, family=family, path=str(path), sha256="", format=DIFFUSERS
    )


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory) -> Path:
    """The tiny Wan I2V pipeline saved as a diffusers folder, once for this module."""
    return save_tiny_wan_i2v(tmp_path_factory.mktemp("video") / "tiny-wan-i2v")


@pytest.fixture(scope="module")
def wan(wan_folder):
    """The tiny folder loaded the way the studio loads a user's model, with the hub off."""
    import torch

    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        yield load_video_pipeline(wan_ref(wan_folder), torch.device("cpu"), torch.float32)
    finally:
        mp.undo()


@pytest.fixture
def keyframe():
    from PIL import Image

    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (SAMPLE_SIZE, SAMPLE_SIZE, 3), dtype=np.uint8))


def clip(pipe, keyframe, seed=3, cancel=None, on_step=None, steps=2, frames=FRAMES, size=None):
    side = size or SAMPLE_SIZE
    return render_clip(
        pipe,
        keyframe,
        "a slow smile",
        "blur",
        frames,
        side,
        side,
        steps,
        5.0,
        seed,
        cancel or CancelToken(),
        on_step,
    )


def test_a_tiny_wan_folder_loads_offline_and_animates_a_keyframe(wan, keyframe):
    import torch

    seen = []
    frames = clip(wan, keyframe, on_step=seen.append)

    assert type(wan).__name__ == "WanImageToVideoPipeline"
    assert wan.vae.dtype == torch.float32 and wan.transformer.dtype == torch.float32
    assert len(frames) == FRAMES
    assert all(f.shape == (SAMPLE_SIZE, SAMPLE_SIZE, 3) and f.dtype == np.uint8 for f in frames)
    assert [(p.step, p.steps) for p in seen] == [(1, 2), (2, 2)]
    assert seen[0].frames == tuple(range(FRAMES))
    assert len({f.tobytes() for f in frames}) > 1  # the frames of a clip differ


def test_the_same_seed_gives_the_same_clip_and_another_seed_another(wan, keyframe):
    first = clip(wan, keyframe, seed=11)
    again = clip(wan, keyframe, seed=11)
    other = clip(wan, keyframe, seed=12)

    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_the_clip_equals_the_pipeline_rendering_it_itself(wan, keyframe, monkeypatch):
    """Prompts are encoded and the clip decoded exactly as diffusers' own Wan pipeline does."""
    import torch
    from diffusers.pipelines.wan import pipeline_wan_i2v

    # The pipeline cleans prompts with ftfy, which is not installed; these prompts need none.
    monkeypatch.setattr(
        pipeline_wan_i2v, "ftfy", type("Ftfy", (), {"fix_text": staticmethod(str)}), raising=False
    )
    ours = clip(wan, keyframe, seed=5)
    theirs = wan(
        image=keyframe,
        prompt="a slow smile",
        negative_prompt="blur",
        height=SAMPLE_SIZE,
        width=SAMPLE_SIZE,
        num_frames=FRAMES,
        num_inference_steps=2,
        guidance_scale=5.0,
        generator=torch.Generator("cpu").manual_seed(5),
        output_type="np",
    ).frames[0]

    expected = (theirs * 255).round().astype(np.uint8)
    assert np.array_equal(np.stack(ours), expected)


def test_cancel_during_the_first_step_stops_within_one_step(wan, keyframe):
    cancel = CancelToken()
    seen = []

    def on_step(progress):
        seen.append(progress.step)
        cancel.cancel()

    with pytest.raises(Cancelled):
        clip(wan, keyframe, cancel=cancel, on_step=on_step, steps=4)
    assert seen == [1]


def test_frames_are_handed_over_one_by_one_after_the_whole_clip_is_decoded(
    wan, keyframe, monkeypatch
):
    decodes = []
    decode = wan.vae.decode

    def counted(*args, **kwargs):
        decodes.append(args[0].shape[2])  # latent frames decoded in this call
        return decode(*args, **kwargs)

    monkeypatch.setattr(wan.vae, "decode", counted)
    steps = []
    cancel = CancelToken()
    frames = iter_clip(wan, keyframe, "a wave", "", FRAMES, 32, 32, 2, 5.0, 9, cancel, steps.append)

    first = next(frames)
    assert [p.step for p in steps] == [1, 2]
    assert decodes == [3]  # 9 frames are 3 latent frames, decoded together
    second = next(frames)
    assert decodes == [3]
    assert first.shape == second.shape == (32, 32, 3)
    cancel.cancel()  # a cancel between frames stops the hand-over at the next frame
    with pytest.raises(Cancelled):
        next(frames)


def test_a_frame_count_or_size_wan_cannot_render_is_refused_with_the_nearest(wan, keyframe):
    with pytest.raises(JobError) as count:
        clip(wan, keyframe, frames=10)
    with pytest.raises(JobError) as size:
        clip(wan, keyframe, size=40)

    assert "10 frames" in count.value.message and count.value.hint == "Use 9 frames."
    assert "multiples of 16" in size.value.message and size.value.hint == "Use 48x48."


def test_the_folder_is_detected_as_a_wan_image_to_video_model(wan_folder):
    assert detect_video_folder(wan_folder) == (VIDEO, WAN_I2V)


def _pipeline_folder(root: Path, class_name: str) -> Path:
    folder = root / class_name
    folder.mkdir()
    index = {"_class_name": class_name, "_diffusers_version": "0.42.1"}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def test_a_folder_of_another_pipeline_is_refused_naming_it(tmp_path):
    import torch

    sd = _pipeline_folder(tmp_path, "StableDiffusionPipeline")
    t2v = _pipeline_folder(tmp_path, "WanPipeline")
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(ModelLoadError) as other:
        load_video_pipeline(wan_ref(sd), torch.device("cpu"), torch.float32)
    with pytest.raises(ModelLoadError) as text_to_video:
        detect_video_folder(t2v)
    with pytest.raises(ModelLoadError) as no_index:
        detect_video_folder(empty)

    assert "is a StableDiffusionPipeline model, not a Wan image-to-video model" in str(other.value)
    assert "a Wan text-to-video model" in text_to_video.value.message
    assert "no model_index.json" in no_index.value.message
    assert "image-to-video" in other.value.hint


def test_pickles_are_refused_unopened(tmp_path, wan_folder):
    import torch

    ckpt = tmp_path / "wan_i2v.ckpt"
    ckpt.write_bytes(b"\x80\x04not opened")
    folder = tmp_path / "pickled"
    shutil.copytree(wan_folder, folder)
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))

    with pytest.raises(PickleModelError) as single:
        load_video_pipeline(wan_ref(ckpt), torch.device("cpu"), torch.float32)
    with pytest.raises(PickleModelError) as component:
        detect_video_folder(folder)

    assert "is a pickle file (wan_i2v.ckpt)" in single.value.message
    assert "transformer" in component.value.message
    assert "diffusion_pytorch_model.bin" in component.value.message
    assert ".safetensors" in component.value.hint


def test_a_missing_component_is_named(tmp_path, wan_folder):
    folder = tmp_path / "no_encoder"
    shutil.copytree(wan_folder, folder)
    shutil.rmtree(folder / "image_encoder")

    with pytest.raises(ModelLoadError) as missing:
        detect_video_folder(folder)

    assert "missing its image_encoder" in missing.value.message
    assert "download or copy the model again" in missing.value.hint


def test_a_model_not_registered_as_video_or_not_there_is_refused(tmp_path, wan_folder):
    import torch

    with pytest.raises(ModelLoadError) as wrong_kind:
        load_video_pipeline(wan_ref(wan_folder, BASE, SD15), torch.device("cpu"), torch.float32)
    with pytest.raises(ModelFileMissingError):
        load_video_pipeline(wan_ref(tmp_path / "gone"), torch.device("cpu"), torch.float32)

    assert "not as a Wan image-to-video model" in wrong_kind.value.message


def test_a_wan_2_2_folder_renders_with_both_transformers(tmp_path, keyframe, monkeypatch):
    """Wan 2.2 I2V: no image encoder; the second transformer takes the low-noise steps."""
    import torch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = save_tiny_wan_i2v(tmp_path / "wan22", version=WAN22)
    pipe = load_video_pipeline(wan_ref(folder), torch.device("cpu"), torch.float32)
    calls = []
    pipe.transformer.register_forward_hook(lambda *_: calls.append(1))
    pipe.transformer_2.register_forward_hook(lambda *_: calls.append(2))

    frames = clip(pipe, keyframe)

    assert detect_video_folder(folder) == (VIDEO, WAN_I2V)
    assert pipe.image_encoder is None
    assert len(frames) == FRAMES and frames[0].shape == (SAMPLE_SIZE, SAMPLE_SIZE, 3)
    assert calls == [1, 1, 2, 2]  # one step each, with and without the prompt
    shutil.rmtree(folder / "transformer_2")
    with pytest.raises(ModelLoadError) as missing:
        detect_video_folder(folder)
    assert "missing its transformer_2" in missing.value.message


def test_a_half_precision_load_keeps_the_vae_and_image_encoder_in_float32(wan_folder, keyframe):
    import torch

    pipe = load_video_pipeline(wan_ref(wan_folder), torch.device("cpu"), torch.bfloat16)

    frames = clip(pipe, keyframe)

    assert pipe.transformer.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
    assert pipe.vae.dtype == torch.float32 and pipe.image_encoder.dtype == torch.float32
    assert len(frames) == FRAMES and frames[0].dtype == np.uint8
