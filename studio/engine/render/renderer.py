"""The Renderer: frames of a shot rendered with diffusers, yielded one by one as PNG bytes.

What a frame depends on. Every frame gets its own `torch.Generator` on the CPU, seeded with
its seed from the shot (`ShotRender.seeds`), for its starting noise, for the noise of
ancestral samplers and for encoding its init image; the prompt is encoded once per shot and
each frame is decoded by the VAE on its own. CPU matrix kernels (oneDNN convolutions, MKL
GEMMs) round differently for different batch sizes, though not for a frame's position in a
batch or for its batch-mates; so on the CPU the UNet is run one frame at a time inside a
batch (`exact`), and a frame's PNG is bitwise identical whatever the batch size and
whichever frames share its batch (tested, SD 1.5 and SDXL, txt2img, img2img, IP-Adapter),
and identical to what the plain diffusers pipeline renders with its seed. On a GPU the UNet
runs the whole batch at once for speed: the random numbers are still the frame's own, but
the GPU's kernels too may round differently per batch size, so a frame rendered in another
batch size is the same picture, not necessarily the same bytes. `Renderer(exact=True)` runs
the UNet frame by frame on a GPU too, so each frame meets the same kernels at the same shapes
as when rendered alone, at the cost of the batching speed-up.

Memory. With no batch size given, a CUDA GPU's batch is sized from its free memory at
`BYTES_PER_PIXEL` per frame pixel (half precision, both guidance halves of the UNet batch;
float32 doubles it), keeping `HEADROOM`; other devices render one frame at a time. Running
out of memory halves the batch and renders the same frames again; at one frame the VAE is
switched to tiled decoding, then the model to CPU offload, and only then does the render
fail. The fallbacks stay in force while the pipeline stays loaded, and every frame rendered
under one lists it in `RenderedFrame.notes`.

Progress and cancel. `on_step` hears each denoising step of each batch, a few times a second
with a cheap preview of the first frame in flight (no VAE decode); cancel is checked at
each step's end and interrupts the pipeline there, so a render stops within one step and
raises `Cancelled` (frames already yielded are the caller's).
"""

from __future__ import annotations

import gc
import inspect
import io
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from studio.core.errors import Cancelled, JobError, StudioError
from studio.core.jobs import CancelToken
from studio.core.models import SD15, SDXL, ModelRef
from studio.core.render import IMG2IMG, INPAINT, MODES, TXT2IMG, RenderedFrame, ShotRender
from studio.engine.render.preview import DenoisedWatch, PreviewClock, step_preview

# Sampler names -> (diffusers scheduler class, options), swapped in from the model's own
# scheduler configuration (its betas, timestep spacing and prediction type are kept).
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp-2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False},
    ),
    "dpmpp-2m-karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "ddim": ("DDIMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}

# GPU memory one more frame in a batch takes, per pixel of the frame, in half precision with
# classifier-free guidance: an estimate of the UNet's activations (SDPA attention) for SD 1.5
# at 512 px (~0.5 GB a frame) and SDXL at 1024 px (~2.5 GB a frame), to be checked against the
# peak memory `bench/bench_render.py --gpu` prints. The VAE decodes one frame at a time after
# denoising, so it adds no per-frame cost.
BYTES_PER_PIXEL = {SD15: 2_000, SDXL: 2_400}
HEADROOM = 0.8  # share of free memory a sized batch may use
MAX_AUTO_BATCH = 8  # beyond this a GPU renders no faster per frame

NOTE_TILING = "VAE tiling (out of GPU memory at batch 1)"
NOTE_OFFLOAD = "model CPU offload (out of GPU memory with VAE tiling)"


@dataclass(frozen=True)
class StepProgress:
    """A denoising step finished for the frames in flight (step counts from 1)."""

    frames: tuple[int, ...]
    step: int
    steps: int
    # A rough HxWx3 uint8 picture of the first frame in flight (`preview.latent_preview`), on
    # the steps `preview.PreviewClock` picks; None on the others and where no preview exists.
    preview: Any = field(default=None, compare=False, repr=False)


def step_callback(
    frames: tuple[int, ...],
    steps_asked: int,
    family: str,
    watch: DenoisedWatch,
    on_step: Callable[[StepProgress], None] | None,
    cancel: CancelToken,
) -> Callable[..., dict]:
    """A diffusers `callback_on_step_end` that reports each step (with a preview when one is
    due) and stops the denoising within the step once `cancel` is set."""
    clock = PreviewClock()

    def step_end(p: Any, step: int, _timestep: Any, tensors: dict) -> dict:
        if on_step is not None:
            # PNDM (SD 1.5's default) calls back once more than the steps asked for (its
            # warm-up repeats a timestep): the count shown stays within the steps asked for.
            calls = p.num_timesteps
            steps = min(calls, steps_asked)
            preview = step_preview(watch, tensors, family) if clock.due(step + 1, calls) else None
            on_step(StepProgress(frames, min(step + 1, steps), steps, preview))
        if cancel.cancelled:
            p._interrupt = True  # diffusers skips the remaining steps
        return tensors

    return step_end


@dataclass
class _Loaded:
    """The base pipeline kept between renders, and the memory fallbacks in force on it."""

    key: tuple[str, str, str]
    pipe: Any
    scheduler_class: type
    scheduler_config: dict[str, Any]
    tiled: bool = False
    offloaded: bool = False
    adapters: bool = False  # IP-Adapters are loaded into it


class Renderer:
    """Renders frames of shots; keeps the base pipeline loaded while the model set is unchanged.

    device, dtype: as `studio.engine.render.device.choose_device` reads them ("" chooses).
    loader: an object with `load_base`, `pipeline_for`, `apply_loras`, `load_adapters` and
    `adapter_embeds` (default: `studio.engine.render.pipelines` and `.adapters`).
    exact: run the UNet one frame at a time so frames never depend on their batch (default:
    on the CPU only). memory_check: called with the batch size and the notes in force
    before each batch is rendered; may raise `torch.OutOfMemoryError` (to test the fallbacks).
    """

    def __init__(
        self,
        device: str = "",
        dtype: str = "",
        loader: Any = None,
        *,
        exact: bool | None = None,
        memory_check: Callable[[int, tuple[str, ...]], None] | None = None,
    ):
        from studio.engine.render.device import choose_device

        self.device, self.dtype = choose_device(device, dtype)
        self.exact = self.device.type == "cpu" if exact is None else bool(exact)
        self._loader = loader
        self._memory_check = memory_check
        self._loaded: _Loaded | None = None

    @property
    def device_name(self) -> str:
        return str(self.device)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def render(
        self,
        shot: ShotRender,
        frames: Sequence[int],
        read_blob: Callable[[str], bytes],
        cancel: CancelToken,
        on_step: Callable[[StepProgress], None] | None = None,
        batch_size: int = 0,
    ) -> Iterator[RenderedFrame]:
        """Render the given frames of the shot, yielding each as soon as it is decoded."""
        seeds = dict(shot.seeds)
        todo = list(dict.fromkeys(int(i) for i in frames))
        _check_shot(shot, todo, seeds)
        cancel.raise_if_cancelled()
        if not todo:
            return
        images, masks = _init_images(shot, todo, read_blob)
        references = []
        if shot.adapters:  # read before loading, so a bad picture fails fast
            references = [_picture(read_blob, sha, "reference") for sha in shot.references]
        loaded = self._load(shot.base)
        loader = self._get_loader()
        loader.apply_loras(loaded.pipe, shot.loras)
        if shot.adapters or loaded.adapters:  # also to take the last shot's adapters out
            loader.load_adapters(loaded.pipe, shot.adapters, shot.loras)
            loaded.adapters = bool(shot.adapters)
        pipe = loader.pipeline_for(shot.mode, loaded.pipe)
        pipe.set_progress_bar_config(disable=True)
        pipe.scheduler = _scheduler(shot.sampler, loaded)

        import torch

        from studio.engine.render.prompts import encode_prompts

        do_cfg = shot.guidance > 1.0
        with torch.no_grad():
            embeds = encode_prompts(pipe, shot.prompt, shot.negative).pipeline_kwargs()
            if shot.adapters:
                embeds["ip_adapter_image_embeds"] = loader.adapter_embeds(
                    pipe, shot.adapters, references, tuple(shot.face_embedding), do_cfg
                )

        size = max(1, int(batch_size)) if batch_size else self._auto_batch(shot)
        notes: list[str] = []
        while todo:
            batch = todo[:size]
            cancel.raise_if_cancelled()
            out_of_memory = False
            try:
                for frame in self._render_batch(
                    pipe, loaded, shot, batch, seeds, embeds, images, masks, cancel, on_step, notes
                ):
                    todo.remove(frame.index)
                    yield frame
            except Exception as exc:
                if not _out_of_memory(exc):
                    raise
                out_of_memory = True
            if out_of_memory:  # outside the handler, so the failed batch's tensors can be freed
                _free_memory(self.device)
                size = self._fall_back(pipe, loaded, shot, size, notes)

    def release(self) -> None:
        """Drop the loaded pipelines and give their GPU memory back."""
        self._loaded = None
        gc.collect()  # diffusers' modules hold reference cycles
        _free_memory(self.device)

    # -- loading ----------------------------------------------------------------------------------

    def _get_loader(self) -> Any:
        if self._loader is None:
            from studio.engine.render import adapters, pipelines

            self._loader = SimpleNamespace(
                load_base=pipelines.load_base,
                pipeline_for=pipelines.pipeline_for,
                apply_loras=pipelines.apply_loras,
                load_adapters=adapters.load_adapters,
                adapter_embeds=adapters.adapter_embeds,
            )
        return self._loader

    def _load(self, base: ModelRef) -> _Loaded:
        key = (base.sha256, self.device_name, self.dtype_name)
        if self._loaded is not None and self._loaded.key == key:
            return self._loaded
        self.release()  # one base model in memory at a time
        try:
            pipe = self._get_loader().load_base(base, self.device, self.dtype)
        except Exception as exc:
            if not _out_of_memory(exc):
                raise
            raise StudioError(
                f"There is not enough memory on {self.device_name} to load {base.name} "
                f"in {self.dtype_name}.",
                hint="Close other programs using the GPU, or render on the CPU.",
            ) from None
        scheduler = pipe.scheduler
        self._loaded = _Loaded(key, pipe, type(scheduler), dict(scheduler.config))
        return self._loaded

    # -- batches ----------------------------------------------------------------------------------

    def _auto_batch(self, shot: ShotRender) -> int:
        if self.device.type != "cuda":
            return 1
        from studio.engine.render.device import free_memory

        free = free_memory(self.device) or 0
        per_frame = shot.width * shot.height * BYTES_PER_PIXEL.get(shot.base.family, 2_400)
        if self.dtype_name == "float32":
            per_frame *= 2
        return max(1, min(MAX_AUTO_BATCH, int(free * HEADROOM) // per_frame))

    def _fall_back(
        self, pipe: Any, loaded: _Loaded, shot: ShotRender, size: int, notes: list[str]
    ) -> int:
        """The next memory fallback after running out of memory; the batch size to go on with."""
        if size > 1:
            smaller = size // 2
            notes.append(f"batch {size} -> {smaller} (out of GPU memory)")
            return smaller
        if not loaded.tiled:
            pipe.vae.enable_tiling()
            loaded.tiled = True
            return 1
        if not loaded.offloaded:
            pipe.enable_model_cpu_offload(device=self.device)
            loaded.offloaded = True
            return 1
        raise StudioError(
            f"The GPU ran out of memory rendering one {shot.width}x{shot.height} frame, even "
            "with VAE tiling and the model offloaded to the CPU.",
            hint="Close other programs using the GPU, render smaller frames, or render on the CPU.",
        )

    def _render_batch(
        self,
        pipe: Any,
        loaded: _Loaded,
        shot: ShotRender,
        batch: list[int],
        seeds: dict[int, int],
        embeds: dict[str, Any],
        images: dict[int, Any],
        masks: dict[int, Any],
        cancel: CancelToken,
        on_step: Callable[[StepProgress], None] | None,
        notes: list[str],
    ) -> Iterator[RenderedFrame]:
        import torch

        in_force = tuple(notes) + (NOTE_TILING,) * loaded.tiled + (NOTE_OFFLOAD,) * loaded.offloaded
        if self._memory_check is not None:
            self._memory_check(len(batch), in_force)
        frames = tuple(batch)
        watch = DenoisedWatch(pipe.scheduler)
        step_end = step_callback(frames, shot.steps, shot.base.family, watch, on_step, cancel)

        kwargs = dict(embeds)
        kwargs.update(
            num_inference_steps=shot.steps,
            guidance_scale=shot.guidance,
            num_images_per_prompt=len(batch),
            generator=[torch.Generator("cpu").manual_seed(seeds[i]) for i in batch],
            output_type="latent",
            callback_on_step_end=step_end,
        )
        accepted = inspect.signature(pipe.__call__).parameters
        if "height" in accepted:
            kwargs.update(height=shot.height, width=shot.width)
        if shot.mode != TXT2IMG:
            kwargs.update(image=[images[i] for i in batch], strength=shot.strength)
        if shot.mode == INPAINT:
            kwargs["mask_image"] = [masks[i] for i in batch]

        started = time.perf_counter()
        with torch.no_grad(), _per_frame_unet(pipe.unet, len(batch), self.exact), watch:
            latents = pipe(**kwargs).images
        if cancel.cancelled:
            raise Cancelled()
        share = (time.perf_counter() - started) / len(batch)
        for n, index in enumerate(batch):
            cancel.raise_if_cancelled()
            began = time.perf_counter()
            pixels = _decode(pipe, latents[n : n + 1], shot.base.family)
            png = _png(pixels)
            yield RenderedFrame(
                shot_id=shot.shot_id,
                index=index,
                seed=seeds[index],
                png=png,
                width=pixels.shape[1],
                height=pixels.shape[0],
                seconds=share + time.perf_counter() - began,
                device=self.device_name,
                dtype=self.dtype_name,
                notes=in_force,
            )


# -- the shot's inputs ----------------------------------------------------------------------------


def _check_shot(shot: ShotRender, frames: list[int], seeds: dict[int, int]) -> None:
    if shot.mode not in MODES:
        raise JobError(
            f"'{shot.mode}' is not a way to render a shot.", hint=f"Use one of {', '.join(MODES)}."
        )
    if shot.sampler and shot.sampler not in SAMPLERS:
        raise JobError(
            f"'{shot.sampler}' is not a sampler the studio knows.",
            hint=f"Use one of {', '.join(SAMPLERS)}, or leave it empty for the model's own.",
        )
    missing = [i for i in frames if i not in seeds]
    if missing:
        raise JobError(
            f"Frame {missing[0] + 1} of shot {shot.shot_name} has no seed in the render job.",
            hint="Plan the render again: the job lists a seed for every frame it renders.",
        )
    needs = []
    if shot.mode in (IMG2IMG, INPAINT):
        needs.append(("init image", "an init image", dict(shot.init_images)))
    if shot.mode == INPAINT:
        needs.append(("mask", "a mask", dict(shot.masks)))
    for what, a_what, have in needs:
        lacking = [i for i in frames if i not in have]
        if lacking:
            raise JobError(
                f"Frame {lacking[0] + 1} of shot {shot.shot_name} has no {what} "
                f"to render {shot.mode} from.",
                hint=f"Choose {a_what} for every frame of the shot, or render it from text.",
            )


def _init_images(
    shot: ShotRender, frames: list[int], read_blob: Callable[[str], bytes]
) -> tuple[dict[int, Any], dict[int, Any]]:
    """Init images and masks of the frames, at the shot's size (pictures shared are read once)."""
    if shot.mode == TXT2IMG:
        return {}, {}
    from PIL import Image

    size = (shot.width, shot.height)
    pictures: dict[tuple[str, str], Any] = {}

    def picture(sha: str, what: str) -> Any:
        if (sha, what) not in pictures:
            im = _picture(read_blob, sha, what)
            if what == "mask":
                im = im.convert("L").resize(size, Image.Resampling.NEAREST)
            elif im.size != size:
                im = im.resize(size, Image.Resampling.LANCZOS)
            pictures[sha, what] = im
        return pictures[sha, what]

    starts, masks = dict(shot.init_images), dict(shot.masks)
    images = {i: picture(starts[i], "init image") for i in frames}
    if shot.mode == INPAINT:
        return images, {i: picture(masks[i], "mask") for i in frames}
    return images, {}


def _picture(read_blob: Callable[[str], bytes], sha: str, what: str) -> Any:
    from PIL import Image

    from studio.core.errors import BadImageError
    from studio.engine.images import decode

    try:
        return Image.fromarray(decode(read_blob(sha), what).rgb)
    except BadImageError as exc:
        raise BadImageError(
            f"The {what} {sha[:12]} cannot be used: {exc.message}.",
            hint="Choose another picture for it.",
        ) from None


def _scheduler(name: str, loaded: _Loaded) -> Any:
    """A fresh scheduler for one render: the named sampler, or the model's own for ""."""
    if not name:
        return loaded.scheduler_class.from_config(loaded.scheduler_config)
    import diffusers

    class_name, options = SAMPLERS[name]
    return getattr(diffusers, class_name).from_config(loaded.scheduler_config, **options)


# -- running the UNet frame by frame --------------------------------------------------------------


@contextmanager
def _per_frame_unet(unet: Any, frames: int, exact: bool) -> Iterator[None]:
    """While active, the UNet is run once per frame of the batch, on that frame's rows only.

    The pipeline stacks a batch as [negative rows of every frame, positive rows of every
    frame]; frame f's rows are f and f + frames. Each frame therefore meets the UNet with the
    same two rows, in the same order and batch shape, as when it is rendered alone.
    """
    if not exact or frames == 1:
        yield
        return
    import torch

    own = "forward" in vars(unet)  # an offload hook may have wrapped forward already
    original = unet.forward

    def forward(sample: Any, *args: Any, **kwargs: Any) -> Any:
        rows = sample.shape[0]
        outputs, picked = [], []
        for f in range(frames):
            index = torch.arange(f, rows, frames, device=sample.device)
            result = original(
                sample.index_select(0, index),
                *_rows(args, index, rows),
                **_rows(kwargs, index, rows),
            )
            outputs.append(result[0] if isinstance(result, tuple) else result.sample)
            picked.append(index)
        out = torch.empty(
            (rows, *outputs[0].shape[1:]), dtype=outputs[0].dtype, device=sample.device
        )
        out[torch.cat(picked)] = torch.cat(outputs)
        if kwargs.get("return_dict", True):
            return type(result)(sample=out)
        return (out,)

    unet.forward = forward
    try:
        yield
    finally:
        if own:
            unet.forward = original
        else:
            del unet.forward


def _rows(value: Any, index: Any, rows: int) -> Any:
    """The frame's rows of every per-row tensor in value (nested in dicts, lists, tuples)."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.ndim and value.shape[0] == rows:
            return value.index_select(0, index)
        return value
    if isinstance(value, dict):
        return {k: _rows(v, index, rows) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rows(v, index, rows) for v in value)
    return value


# -- decoding -------------------------------------------------------------------------------------


def _decode(pipe: Any, latents: Any, family: str) -> Any:
    """One frame's latents to HxWx3 uint8 pixels, exactly as the pipeline's own decode does."""
    import torch

    vae = pipe.vae
    config = vae.config
    # SDXL's VAE overflows in float16; its pipelines decode in float32 (force_upcast).
    upcast = family == SDXL and vae.dtype == torch.float16 and config.force_upcast
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        dtype = next(iter(vae.post_quant_conv.parameters())).dtype
        latents = latents.to(dtype)
        mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
        if mean is not None and std is not None:
            mean = torch.tensor(mean).view(1, -1, 1, 1).to(latents.device, latents.dtype)
            std = torch.tensor(std).view(1, -1, 1, 1).to(latents.device, latents.dtype)
            latents = latents * std / config.scaling_factor + mean
        else:
            latents = latents / config.scaling_factor
        with torch.no_grad():
            image = vae.decode(latents, return_dict=False)[0]
        pixels = pipe.image_processor.postprocess(image, output_type="np")[0]
    finally:
        if upcast:
            vae.to(dtype=torch.float16)
    return (pixels * 255).round().astype("uint8")


def _png(pixels: Any) -> bytes:
    """PNG bytes of the pixels, no metadata: the same pixels always give the same bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# -- memory ---------------------------------------------------------------------------------------


def _out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # Apple's MPS reports running out of memory as a plain RuntimeError.
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_memory(device: Any) -> None:
    """Collect the tensors nothing holds any more and hand the device's cached memory back."""
    if device.type == "cpu":
        return  # no driver to give memory back to; a collection would only cost time
    gc.collect()
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
