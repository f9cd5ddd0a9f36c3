"""Clip render throughput of the studio's animator against the bare diffusers Wan I2V pipeline.

Both sides animate the same keyframe (PNG bytes, as the render job hands it over) with the same
prompt, negative prompt, size, frame count, steps, guidance and seed (one CPU generator), from
the same pipeline object, and both end with each frame as PNG bytes. The baseline is what a
script would write:

    image = Image.open(keyframe_png).convert("RGB")
    frames = pipe(image=image, prompt=..., negative_prompt=..., height=..., width=...,
                  num_frames=..., num_inference_steps=..., guidance_scale=...,
                  generator=Generator("cpu").manual_seed(seed), output_type="pil").frames[0]
    for frame in frames: frame.save(buffer, "PNG")

The studio side is the render job's path: `Animator.animate` (keyframe PNG in, prompts encoded
by the studio, `render_clip`'s denoising to latents, its own decode, one PNG per frame out, a
progress callback on every step). Each side is warmed up once, then timed over `--rounds`
interleaved rounds; the best round counts. Printed: frames per second per side, the ratio
studio / diffusers (target 1.0x or more; on the CPU also by CPU time), whether the frames are
bitwise equal, and with --gpu the peak GPU memory of each side.

CPU (default): the tiny Wan 2.1 I2V pipeline of tests/fixtures/tiny_video.py at 64x64 px,
33 frames, 4 steps, on one thread (tiny models run fastest so; threads fight over shared cores).

--gpu: the Wan 2.1 I2V 14B architecture (Wan-AI/Wan2.1-I2V-14B-480P-Diffusers) with random
weights, built in memory from the configs below: the 40-layer 5120-wide transformer with its
image-conditioning projections (about 16.4 billion parameters), the UMT5-XXL text encoder
(24 layers, 5.7 billion), the CLIP ViT-H/14 image encoder and the Wan 2.1 VAE. The transformer
and text encoder are in the dtype the studio picks for the GPU (bfloat16 from Ampere on) with the
modules diffusers keeps in float32 kept so, the VAE and image encoder in float32, as the studio
loads a real folder. That is about 47 GB of weights: it fits one 80 GB H100, and at a small clip
(832x480, 17 frames, 10 steps) a clip takes seconds, so the whole run takes a few minutes.
On a smaller GPU, `--layers N` cuts every model to N layers (widths unchanged). The T5 tokenizer
is the fixture's, made in code; nothing is downloaded.

Run: .venv/bin/python bench/bench_clip.py [--gpu] [--width N --height N] [--frames N]
     [--steps N] [--rounds N] [--seed N] [--layers N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_render import sync, timed  # noqa: E402  (the same timing for both benchmarks)

from studio.core.jobs import CancelToken  # noqa: E402
from studio.core.models import VIDEO, WAN_I2V, ModelRef  # noqa: E402
from studio.engine.render.motion import Animator  # noqa: E402

PROMPT = "ada, a woman in a red coat, turns to the window and smiles, slow push in"
NEGATIVE = "blurry, static, deformed hands, flicker"
GUIDANCE = 5.0
REF = ModelRef("bench", VIDEO, WAN_I2V, "/in-memory", "bench-wan-i2v")

# Wan 2.1 I2V 14B 480P, as diffusers' conversion script configures it.
TRANSFORMER_14B = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 40,
    "attention_head_dim": 128,
    "in_channels": 36,  # noise latents (16) + keyframe latents (16) + frame mask (4)
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 13824,
    "num_layers": 40,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "image_dim": 1280,
    "added_kv_proj_dim": 5120,
    "rope_max_seq_len": 1024,
}
# google/umt5-xxl, whose encoder Wan uses.
UMT5_XXL = {
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
# laion/CLIP-ViT-H-14-laion2B-s32B-b79K's vision tower.
CLIP_VIT_H = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 16,
    "num_hidden_layers": 32,
    "image_size": 224,
    "patch_size": 14,
    "projection_dim": 1024,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
SCHEDULER_SHIFT = 3.0  # Wan 2.1's flow shift at 480P


@dataclass(frozen=True)
class Clip:
    """What both sides render."""

    width: int
    height: int
    frames: int
    steps: int
    seed: int


CPU_CLIP = Clip(width=64, height=64, frames=33, steps=4, seed=1000)
GPU_CLIP = Clip(width=832, height=480, frames=17, steps=10, seed=1000)


# -- the two sides --------------------------------------------------------------------------------


class PrebuiltAnimator(Animator):
    """The studio's animator over a pipeline built in memory (loading is not what is timed)."""

    def __init__(self, pipe, device: str, dtype: str):
        super().__init__(device=device, dtype=dtype)
        self.pipe = pipe

    def pipeline(self, ref: ModelRef):
        return self.pipe


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def baseline(pipe, keyframe_png: bytes, clip: Clip) -> list[bytes]:
    """The script: the diffusers pipeline called with the prompts, its PIL frames saved as PNG."""
    from PIL import Image

    image = Image.open(io.BytesIO(keyframe_png)).convert("RGB")
    frames = pipe(
        image=image,
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        height=clip.height,
        width=clip.width,
        num_frames=clip.frames,
        num_inference_steps=clip.steps,
        guidance_scale=GUIDANCE,
        generator=torch.Generator("cpu").manual_seed(clip.seed),
        output_type="pil",
    ).frames[0]
    return [png(frame) for frame in frames]


def studio(animator: Animator, keyframe_png: bytes, clip: Clip) -> list[bytes]:
    """The render job's path: the animator's PNG frames, with a progress callback as the job's."""
    steps: list[int] = []
    pngs = list(
        animator.animate(
            REF, keyframe_png, PROMPT, NEGATIVE, clip.frames, clip.width, clip.height,
            clip.steps, GUIDANCE, clip.seed, CancelToken(), lambda p: steps.append(p.step),
        )
    )  # fmt: skip
    if steps != list(range(1, clip.steps + 1)):
        raise RuntimeError(f"the animator reported steps {steps} for a {clip.steps}-step clip")
    return pngs


def keyframe(width: int, height: int) -> bytes:
    """A keyframe as the job hands it to the animator: PNG bytes of the clip's size."""
    from PIL import Image

    rng = np.random.default_rng(7)
    # A smooth picture with grain, so the VAE sees structure rather than pure noise.
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    return png(Image.fromarray(pixels))


# -- timing ---------------------------------------------------------------------------------------


def compare(pipe, name: str, clip: Clip, rounds: int, device: str, dtype: str) -> dict:
    """Time both sides on the clip, print the figures, and return them."""
    key = keyframe(clip.width, clip.height)
    animator = PrebuiltAnimator(pipe, device, dtype)
    sides = {
        "diffusers pipeline": lambda: baseline(pipe, key, clip),
        "studio animator": lambda: studio(animator, key, clip),
    }
    for fn in sides.values():  # first-call costs (kernels, allocator) stay out of the rounds
        fn()
    runs: dict[str, list[tuple[float, float, list[bytes], int]]] = {s: [] for s in sides}
    for round_ in range(rounds):
        order = list(sides.items())
        if round_ % 2:  # alternate the order, so neither side always runs first
            order.reverse()
        for side, fn in order:
            runs[side].append(timed(fn, device))

    # The best round of each side. On the CPU also by CPU time: other programs sharing the
    # cores slow the wall clock, not this process's CPU seconds.
    wall = {s: min(r[0] for r in rs) for s, rs in runs.items()}
    cpu = {s: min(r[1] for r in rs) for s, rs in runs.items()}
    peak = {s: max(r[3] for r in rs) for s, rs in runs.items()}
    ours, theirs = runs["studio animator"][0][2], runs["diffusers pipeline"][0][2]
    same = sum(a == b for a, b in zip(ours, theirs, strict=True))
    distinct = len(set(theirs))

    print(
        f"\n{name}: {clip.width}x{clip.height}, {clip.frames} frames, {clip.steps} steps, "
        f"guidance {GUIDANCE}, seed {clip.seed}, {device} {dtype}, best of {rounds} rounds"
    )
    for side in sides:
        line = f"  {side:<20} {clip.frames / wall[side]:8.2f} frames/s  {wall[side]:7.3f} s a clip"
        if peak[side]:
            line += f"  peak GPU memory {peak[side] / 2**30:.2f} GiB (weights included)"
        print(line)
    ratio = wall["diffusers pipeline"] / wall["studio animator"]
    line = f"  studio / diffusers frames per second: {ratio:.2f}x by wall clock"
    if not device.startswith("cuda"):
        line += f", {cpu['diffusers pipeline'] / cpu['studio animator']:.2f}x by CPU time"
    print(line)
    verdict = "yes" if same == clip.frames else "no"
    print(f"  frames bitwise equal: {verdict} ({same}/{clip.frames}; {distinct} distinct frames)")
    return {"ratio": ratio, "same": same, "wall": wall, "cpu": cpu, "peak": peak}


@contextlib.contextmanager
def plain_prompts() -> Iterator[None]:
    """Let the pipeline clean prompts without ftfy when it is not installed.

    diffusers' Wan pipelines call ftfy (mojibake repair) on every prompt and fail without it; the
    studio cleans prompts without it. These prompts hold nothing for it to repair, so where it is
    missing it is stood in for by the identity, and where it is installed the baseline runs it.
    """
    from diffusers.pipelines.wan import pipeline_wan_i2v

    if hasattr(pipeline_wan_i2v, "ftfy"):
        yield
        return
    pipeline_wan_i2v.ftfy = type("NoFtfy", (), {"fix_text": staticmethod(str)})
    try:
        yield
    finally:
        del pipeline_wan_i2v.ftfy


# -- the pipelines --------------------------------------------------------------------------------


def ready(pipe):
    """The pipeline as loading leaves it: every model in eval mode (no dropout), no bars."""
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny():
    """The tests' tiny Wan 2.1 I2V pipeline, float32 on the CPU."""
    from tests.fixtures.tiny_video import tiny_wan_i2v_pipeline

    return ready(tiny_wan_i2v_pipeline())


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    # Built straight in the target dtype: the 14B transformer in float32 alone is 66 GB.
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def keep_float32(model: torch.nn.Module, names) -> None:
    """Put the parameters and buffers under the named modules back in float32, as loading does."""
    keep = set(names or ())
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and keep & set(name.split(".")):
            tensor.data = tensor.data.float()


def wan21_i2v_14b(device: str, dtype: torch.dtype, layers: int | None = None):
    """The Wan 2.1 I2V 14B pipeline with random weights on the device (see the module's notes).

    layers: cut the transformer, text encoder and image encoder to this many layers.
    """
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanTransformer3DModel,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        UMT5Config,
        UMT5EncoderModel,
    )

    from tests.fixtures.tiny_video import tiny_t5_tokenizer

    depth = {} if layers is None else {"num_layers": layers}
    clip_depth = {} if layers is None else {"num_hidden_layers": layers}
    torch.manual_seed(0)
    # Built directly on the device: initialising billions of weights on the CPU takes minutes.
    with torch.device(device):
        with default_dtype(dtype):
            transformer = WanTransformer3DModel(**{**TRANSFORMER_14B, **depth})
            text_encoder = UMT5EncoderModel(UMT5Config(**{**UMT5_XXL, **depth}))
        # diffusers loads these modules of the transformer in float32 whatever the dtype;
        # transformers keeps the T5 feed-forward outputs in float32 only for float16.
        keep_float32(transformer, transformer._keep_in_fp32_modules)
        if dtype == torch.float16:
            keep_float32(text_encoder, text_encoder._keep_in_fp32_modules)
        vae = AutoencoderKLWan()  # Wan 2.1's VAE is diffusers' default one
        image_encoder = CLIPVisionModel(CLIPVisionConfig(**{**CLIP_VIT_H, **clip_depth}))
    pipe = WanImageToVideoPipeline(
        tokenizer=tiny_t5_tokenizer(),
        text_encoder=text_encoder,
        image_encoder=image_encoder,
        image_processor=CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224}),
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=SCHEDULER_SHIFT),
    )
    return ready(pipe)


def chosen(defaults: Clip, args: argparse.Namespace) -> Clip:
    """The clip the command line asks for, the mode's defaults where it says nothing."""
    names = [f.name for f in fields(Clip)]
    return replace(defaults, **{n: getattr(args, n) for n in names if getattr(args, n) is not None})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="the 14B architecture on the CUDA GPU")
    what = {"width": "pixels", "height": "pixels", "frames": "frames in the clip"}
    what |= {"steps": "denoising steps", "seed": "the clip's seed"}
    for name, text in what.items():
        cpu, gpu = getattr(CPU_CLIP, name), getattr(GPU_CLIP, name)
        parser.add_argument(
            f"--{name}", type=int, help=f"{text} (default {cpu} on CPU, {gpu} on GPU)"
        )
    parser.add_argument("--rounds", type=int, default=None, help="default: 5 on CPU, 2 on GPU")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (CPU mode)")
    parser.add_argument("--layers", type=int, default=None, help="GPU mode: layers of each model")
    args = parser.parse_args(argv)
    # Random weights overflow half precision now and then; a NaN frame times like any other.
    warnings.filterwarnings("ignore", message="invalid value encountered in cast")

    if args.gpu:
        if not torch.cuda.is_available():
            sys.exit("--gpu needs a CUDA GPU and PyTorch's CUDA build.")
        from studio.engine.render.device import choose_device

        device, dtype = choose_device("cuda", "")
        clip = chosen(GPU_CLIP, args)
        print(f"GPU: {torch.cuda.get_device_name(device)}")
        start = time.perf_counter()
        pipe = wan21_i2v_14b(str(device), dtype, args.layers)
        sync("cuda")
        count = sum(p.numel() for p in pipe.transformer.parameters()) / 1e9
        print(f"built in {time.perf_counter() - start:.0f} s: transformer {count:.1f}B parameters")
        name = "Wan 2.1 I2V 14B architecture, random weights"
        if args.layers:
            name += f", {args.layers} layers"
        with plain_prompts():
            compare(pipe, name, clip, args.rounds or 2, str(device), str(dtype).split(".")[-1])
        return

    torch.set_num_threads(args.threads)
    clip = chosen(CPU_CLIP, args)
    name = "Wan 2.1 I2V, tiny (tests/fixtures/tiny_video.py)"
    with plain_prompts():
        compare(tiny(), name, clip, args.rounds or 5, "cpu", "float32")


if __name__ == "__main__":
    main()
