"""Motion shots: animating a keyframe of the persona into a short clip with Wan 2.x image-to-video.

A Wan image-to-video model is a diffusers folder whose model_index.json names
WanImageToVideoPipeline: Wan 2.1 I2V (one transformer that also reads the keyframe through a
CLIP vision encoder) or Wan 2.2 I2V (two transformers, one for the high-noise steps and one for
the low-noise steps, no image encoder). The folder is checked before diffusers sees it: a pickle
is refused unopened, a missing component is named, every weights file's table is read.

A clip is rendered like a frame: one generator seeded from the clip's seed, progress after every
denoising step (with a cheap preview of the clip's middle frame a few times a second), cancel
within one step. The VAE decodes the whole clip at once (its temporal layers see every frame);
the frames are then handed over one by one, so the caller can commit each as it comes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from studio.core.errors import JobError, StudioError
from studio.core.jobs import CancelToken
from studio.core.models import (
    PICKLE_SUFFIXES,
    VIDEO,
    WAN_I2V,
    WAN_PIPELINE,
    WAN_WEIGHTED,
    ModelRef,
    wan_named_components,
    wan_needed_components,
)
from studio.core.render_errors import (
    CorruptModelError,
    ModelFileMissingError,
    ModelLoadError,
    PickleModelError,
)
from studio.engine.render.pipelines import (
    PICKLE_HINT,
    REDOWNLOAD_HINT,
    component_weights,
)
from studio.engine.render.preview import DenoisedWatch
from studio.engine.render.renderer import StepProgress, step_callback

WAN_I2V_NAME = "Wan image-to-video"
WAN_HINT = (
    "Choose the diffusers folder of a Wan 2.1 or 2.2 image-to-video model "
    "(such as Wan-AI/Wan2.1-I2V-14B-480P-Diffusers), the one that holds model_index.json."
)
# Wan's transformers attend to exactly this many text tokens: with an image encoder they split
# the keyframe's tokens off the front of the context by this count.
TEXT_TOKENS = 512
MIN_FRAMES = 5


# -- the folder -----------------------------------------------------------------------------------


def detect_video_folder(path: str | Path) -> tuple[str, str]:
    """The (kind, family) of a video model folder, (VIDEO, WAN_I2V); a StudioError says why not.

    The folder's weights are checked too (no pickles, no file cut short), so a folder that is
    detected here also loads.
    """
    folder = Path(path).expanduser()
    _check_folder(folder, folder.name)
    return VIDEO, WAN_I2V


def _check_folder(folder: Path, name: str) -> dict[str, Any]:
    """The folder's model_index.json, after checking the folder is a complete Wan I2V model."""
    label = f"'{name}'"
    if folder.is_file():
        if folder.suffix.lower() in PICKLE_SUFFIXES:
            raise PickleModelError(f"{label} is a pickle file ({folder.name}).", hint=PICKLE_HINT)
        raise ModelLoadError(
            f"{label} ({folder.name}) is a single file; {WAN_I2V_NAME} models load from their "
            "diffusers folder.",
            hint=WAN_HINT,
        )
    index = _read_json(folder / "model_index.json", name)
    if index is None:
        raise ModelLoadError(
            f"{label} ({folder}) is not a diffusers model folder: it has no model_index.json.",
            hint=WAN_HINT,
        )
    class_name = str(index.get("_class_name", ""))
    if class_name != WAN_PIPELINE:
        what = (
            "a Wan text-to-video model"
            if class_name.startswith("Wan")
            else f"a {class_name or 'diffusers'} model"
        )
        raise ModelLoadError(
            f"{label} is {what}, not a {WAN_I2V_NAME} model: motion shots animate a keyframe.",
            hint=WAN_HINT,
        )
    present = wan_named_components(index)
    config = _read_json(folder / "transformer" / "config.json", name) or {}
    needed = wan_needed_components(index, config)
    missing = [c for c in needed if c not in present or not (folder / c).is_dir()]
    if missing:
        raise ModelLoadError(
            f"{label} is missing its {', '.join(missing)} (a {WAN_I2V_NAME} folder has "
            f"{', '.join(needed)}).",
            hint="The folder is incomplete: download or copy the model again.",
        )
    for component in WAN_WEIGHTED:
        if component in present:
            component_weights(folder / component, component, name)
    return index


def _read_json(path: Path, name: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptModelError(
            f"The {path.name} of '{name}' is unreadable ({exc}).", hint=REDOWNLOAD_HINT
        ) from None
    return data if isinstance(data, dict) else {}


# -- loading --------------------------------------------------------------------------------------


def load_video_pipeline(ref: ModelRef, device: Any, dtype: Any) -> Any:
    """Load a Wan image-to-video folder as a WanImageToVideoPipeline on the device, in the dtype.

    `device` and `dtype` are torch's, as `choose_device` returns them. The VAE and the image
    encoder stay in float32 whatever the dtype, as Wan's reference code runs them. Nothing is
    fetched from the network.
    """
    import torch

    if ref.kind != VIDEO or ref.family != WAN_I2V:
        raise ModelLoadError(
            f"'{ref.name}' is registered as a {ref.kind} model of family {ref.family}, not as a "
            f"{WAN_I2V_NAME} model.",
            hint="Choose a video model for the motion shot.",
        )
    path = Path(ref.path).expanduser()
    if not path.exists():
        raise ModelFileMissingError(
            f"The model '{ref.name}' is missing: nothing is at {path}.",
            hint="Reconnect the drive it is on, or register the model again where it is now.",
        )
    _check_folder(path, ref.name)
    from diffusers import WanImageToVideoPipeline

    dtypes = {"default": dtype, "vae": torch.float32, "image_encoder": torch.float32}
    try:
        pipe = WanImageToVideoPipeline.from_pretrained(
            str(path), dtype=dtypes, local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"'{ref.name}' could not be loaded as a {WAN_I2V_NAME} model: {_first_line(exc)}",
            hint="Check that the folder is a complete Wan image-to-video model.",
        ) from exc
    pipe.to(torch.device(device))
    # Progress is reported through the step callback; diffusers' bars would only clutter a
    # worker's stderr.
    pipe.set_progress_bar_config(disable=True)
    return pipe


class Animator:
    """Animates keyframes with video models; keeps the last video pipeline loaded between clips.

    device, dtype: as `studio.engine.render.device.choose_device` reads them ("" chooses).
    """

    def __init__(self, device: str = "", dtype: str = ""):
        from studio.engine.render.device import choose_device

        self.device, self.dtype = choose_device(device, dtype)
        self._key: tuple[str, str] | None = None
        self._pipe: Any = None

    def pipeline(self, ref: ModelRef) -> Any:
        """The video model's pipeline, loaded once while the same model is asked for."""
        key = (ref.sha256, ref.path)
        if self._pipe is None or self._key != key:
            self.release()
            self._pipe = load_video_pipeline(ref, self.device, self.dtype)
            self._key = key
        return self._pipe

    def check(self, ref: ModelRef, num_frames: int, width: int, height: int, steps: int) -> None:
        """Raise JobError, saying what to use, for a clip the model cannot animate."""
        _check_clip(self.pipeline(ref), num_frames, width, height, steps)

    def animate(
        self,
        ref: ModelRef,
        keyframe_png: bytes,
        prompt: str,
        negative: str,
        num_frames: int,
        width: int,
        height: int,
        steps: int,
        guidance: float,
        seed: int,
        cancel: CancelToken,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iterator[bytes]:
        """Animate a keyframe (PNG bytes) into a clip; yield its frames as PNG bytes in order."""
        import io

        from PIL import Image

        keyframe = Image.open(io.BytesIO(keyframe_png))
        keyframe.load()
        pipe = self.pipeline(ref)
        for pixels in iter_clip(
            pipe, keyframe, prompt, negative, num_frames, width, height, steps, guidance, seed,
            cancel, on_step,
        ):  # fmt: skip
            yield _png(pixels)

    def release(self) -> None:
        """Drop the loaded video pipeline and give its memory back."""
        import gc

        self._pipe = None
        self._key = None
        gc.collect()  # diffusers' modules hold reference cycles
        if getattr(self.device, "type", "cpu") == "cuda":
            import torch

            torch.cuda.empty_cache()


def _png(pixels: Any) -> bytes:
    """PNG bytes of the pixels, no metadata: the same pixels always give the same bytes."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


# -- rendering ------------------------------------------------------------------------------------


def clip_frame_counts(pipe: Any) -> tuple[int, int]:
    """(step, minimum): a clip has `minimum + k * step` frames (Wan's VAE packs 4 frames in one)."""
    step = int(pipe.vae_scale_factor_temporal)
    return step, max(MIN_FRAMES, step + 1)


def clip_size_multiple(pipe: Any) -> int:
    """Clip width and height must be multiples of this many pixels (VAE scale x patch size)."""
    model = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
    return int(pipe.vae_scale_factor_spatial) * int(model.config.patch_size[1])


def iter_clip(
    pipe: Any,
    keyframe: Any,
    prompt: str,
    negative: str,
    num_frames: int,
    width: int,
    height: int,
    steps: int,
    guidance: float,
    seed: int,
    cancel: CancelToken,
    on_step: Callable[[StepProgress], None] | None = None,
) -> Iterator[Any]:
    """Animate the keyframe into a clip; yield its frames (HxWx3 uint8 arrays) one by one.

    The clip's noise comes from one CPU generator seeded with `seed`, so a seed gives the same
    clip again on the same hardware. Raises Cancelled within one step of `cancel` being set.
    """
    import torch

    _check_clip(pipe, num_frames, width, height, steps)
    cancel.raise_if_cancelled()
    frames = tuple(range(num_frames))
    positive, negative_embeds = _encode_prompts(pipe, prompt, negative, guidance)
    watch = DenoisedWatch(pipe.scheduler)  # its previews show the clip's middle frame
    step_end = step_callback(frames, steps, WAN_I2V, watch, on_step, cancel)

    try:
        with torch.no_grad(), watch:
            latents = pipe(
                image=keyframe.convert("RGB"),
                prompt_embeds=positive,
                negative_prompt_embeds=negative_embeds,
                height=height,
                width=width,
                num_frames=num_frames,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=torch.Generator("cpu").manual_seed(int(seed)),
                output_type="latent",
                callback_on_step_end=step_end,
            ).frames
            cancel.raise_if_cancelled()
            video = _decode(pipe, latents)
    except torch.OutOfMemoryError:
        raise StudioError(
            f"The GPU ran out of memory animating a {width}x{height} clip of {num_frames} frames.",
            hint="Close other programs using the GPU, or render a smaller or shorter clip.",
        ) from None
    for frame in video:
        cancel.raise_if_cancelled()
        yield frame


def render_clip(
    pipe: Any,
    keyframe: Any,
    prompt: str,
    negative: str,
    num_frames: int,
    width: int,
    height: int,
    steps: int,
    guidance: float,
    seed: int,
    cancel: CancelToken,
    on_step: Callable[[StepProgress], None] | None = None,
) -> list[Any]:
    """Animate the keyframe into a clip: its frames as HxWx3 uint8 arrays, first to last."""
    return list(
        iter_clip(
            pipe,
            keyframe,
            prompt,
            negative,
            num_frames,
            width,
            height,
            steps,
            guidance,
            seed,
            cancel,
            on_step,
        )
    )


def _check_clip(pipe: Any, num_frames: int, width: int, height: int, steps: int) -> None:
    # diffusers would round a wrong count or size with only a log line; the artist is told.
    step, minimum = clip_frame_counts(pipe)
    if num_frames < minimum or num_frames % step != 1:
        near = max(minimum, _nearest(num_frames - 1, step) + 1)
        raise JobError(
            f"A clip of {num_frames} frames cannot be animated: Wan renders {minimum}, "
            f"{minimum + step}, {minimum + 2 * step}... frames "
            f"(one more than a multiple of {step}).",
            hint=f"Use {near} frames.",
        )
    multiple = clip_size_multiple(pipe)
    if width < multiple or height < multiple or width % multiple or height % multiple:
        w = max(multiple, _nearest(width, multiple))
        h = max(multiple, _nearest(height, multiple))
        raise JobError(
            f"A {width}x{height} clip cannot be animated: its sides must be multiples of "
            f"{multiple} pixels.",
            hint=f"Use {w}x{h}.",
        )
    if steps < 1:
        raise JobError(f"A clip needs at least one step, not {steps}.", hint="Use 20 to 50 steps.")


def _nearest(value: int, multiple: int) -> int:
    """The multiple nearest the value, halves rounded up."""
    return (int(value) + multiple // 2) // multiple * multiple


def _clean(text: str) -> str:
    # Wan's pipelines also run ftfy (mojibake repair) here; a typed prompt has none to repair.
    return re.sub(r"\s+", " ", html.unescape(html.unescape(str(text))).strip()).strip()


def _encode_prompts(pipe: Any, prompt: str, negative: str, guidance: float) -> tuple[Any, Any]:
    """UMT5 embeddings of the prompt and (with guidance) the negative, padded as Wan pads them."""
    import torch

    device = pipe._execution_device
    dtype = (pipe.transformer if pipe.transformer is not None else pipe.transformer_2).dtype

    def embed(text: str) -> Any:
        tokens = pipe.tokenizer(
            [_clean(text)],
            padding="max_length",
            max_length=TEXT_TOKENS,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        encoder = pipe.text_encoder
        where = next(encoder.parameters()).device
        with torch.no_grad():
            hidden = encoder(
                tokens.input_ids.to(where), tokens.attention_mask.to(where)
            ).last_hidden_state
        # Wan zeroes the positions past the prompt rather than keeping the padding's states.
        length = int(tokens.attention_mask[0].gt(0).sum())
        hidden = hidden.to(device=device, dtype=dtype)
        hidden[:, length:] = 0
        return hidden

    positive = embed(prompt)
    return positive, (embed(negative) if guidance > 1.0 else None)


def _decode(pipe: Any, latents: Any) -> Any:
    """The clip's latents as frames x H x W x 3 uint8 pixels, as the pipeline's own decode does."""
    import torch

    vae = pipe.vae
    config = vae.config
    latents = latents.to(device=next(vae.parameters()).device, dtype=vae.dtype)
    mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1)
    # Divided by the reciprocal as the pipeline does: multiplying by std differs in the last
    # bit, which can tip a pixel across a rounding step.
    inv_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1)
    latents = latents / inv_std.to(latents) + mean.to(latents)
    video = vae.decode(latents, return_dict=False)[0]
    pixels = pipe.video_processor.postprocess_video(video, output_type="np")[0]
    return (pixels * 255).round().astype("uint8")
