"""Render throughput of the studio's Renderer against the same diffusers pipeline in a plain loop.

Both sides render the same frames (same seeds, one CPU generator per frame), prompt, negative
prompt, size, steps, guidance and scheduler, from the same pipeline object, and both end with
each frame as PNG bytes. The baseline is what a script would write:

    for seed in seeds:
        image = pipe(prompt, negative_prompt=..., generator=Generator("cpu").manual_seed(seed),
                     num_inference_steps=..., height=..., width=..., guidance_scale=...).images[0]
        image.save(buffer, "PNG")

The studio side is `Renderer.render` (prompt encoded once per shot, each frame decoded on its
own, batches). Each side is warmed up once, then timed over `--rounds` interleaved rounds; the
best round counts. Printed: frames per second, the ratio to the baseline (on the CPU also by
CPU time), how many frames are bitwise the baseline's, and with --gpu the peak GPU memory.

CPU (default): tiny SD 1.5- and SDXL-shaped pipelines (tests/fixtures/tiny_models.py), 32 px,
4 steps, on one thread (tiny models run fastest so; several threads fight over shared cores).
--gpu: SD 1.5 and SDXL architectures at full size with random weights, built from the shipped
configs (resources/model_configs/<family>/), in float16: SD 1.5 at 512 px, SDXL at 1024 px,
20 steps; the studio at batch 1 and at the batch it sizes from free memory.

Run: .venv/bin/python bench/bench_render.py [--gpu] [--frames N] [--steps N] [--rounds N]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from studio.core.jobs import CancelToken  # noqa: E402
from studio.core.models import BASE, SD15, SDXL, ModelRef  # noqa: E402
from studio.core.render import ShotRender  # noqa: E402
from studio.engine.render import pipelines  # noqa: E402
from studio.engine.render.renderer import Renderer  # noqa: E402

PROMPT = "portrait photo of ada, a woman in her thirties, red coat, soft window light, 85mm"
NEGATIVE = "blurry, lowres, deformed hands"
GUIDANCE = 6.0


class Prebuilt:
    """The renderer's loader over a pipeline built in memory (loading is not what is timed)."""

    def __init__(self, pipe):
        self.pipe = pipe

    def load_base(self, ref, device, dtype):
        return self.pipe

    pipeline_for = staticmethod(pipelines.pipeline_for)
    apply_loras = staticmethod(pipelines.apply_loras)

    def load_adapters(self, pipe, adapters, loras):
        raise AssertionError("the benchmark renders without IP-Adapters")

    adapter_embeds = load_adapters


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def baseline(pipe, seeds: list[int], size: int, steps: int) -> list[bytes]:
    """The plain loop: one pipeline call per frame, its PIL image saved as PNG."""
    out = []
    for seed in seeds:
        image = pipe(
            PROMPT,
            negative_prompt=NEGATIVE,
            num_inference_steps=steps,
            height=size,
            width=size,
            guidance_scale=GUIDANCE,
            generator=torch.Generator("cpu").manual_seed(seed),
        ).images[0]
        out.append(png(image))
    return out


def studio(renderer: Renderer, shot: ShotRender, batch: int, sizes: list[int]) -> list[bytes]:
    frames = [i for i, _ in shot.seeds]
    seen: set[tuple[int, ...]] = set()
    pngs = [
        f.png
        for f in renderer.render(
            shot, frames, {}.__getitem__, CancelToken(), lambda p: seen.add(p.frames), batch
        )
    ]
    sizes.append(max(len(f) for f in seen))
    return pngs


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> tuple[float, float, list[bytes], int]:
    """Wall seconds, this process's CPU seconds, the PNGs, the peak GPU memory."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0
    return seconds, cpu, out, peak


def compare(pipe, family: str, size: int, args, device: str, batches: list[int]) -> None:
    dtype = "float16" if device.startswith("cuda") else "float32"
    seeds = [1000 + i for i in range(args.frames)]
    ref = ModelRef("bench", BASE, family, "/in-memory", f"bench-{family}")
    shot = ShotRender(
        shot_id="bench",
        shot_name="Bench",
        base=ref,
        prompt=PROMPT,
        negative=NEGATIVE,
        width=size,
        height=size,
        steps=args.steps,
        guidance=GUIDANCE,
        seeds=tuple(enumerate(seeds)),
    )
    renderer = Renderer(device=device, dtype=dtype, loader=Prebuilt(pipe))
    warm = replace(shot, seeds=((0, 1),))
    list(renderer.render(warm, [0], {}.__getitem__, CancelToken()))  # load, first-call costs
    baseline(pipe, [1], size, args.steps)

    runs: dict[str, list[tuple[float, float, list[bytes], int]]] = {"loop": []}
    chosen: dict[str, list[int]] = {}
    for batch in batches:
        runs[f"studio batch {batch or 'auto'}"] = []
        chosen[f"studio batch {batch or 'auto'}"] = []
    for round_ in range(args.rounds):
        sides = [("loop", lambda: baseline(pipe, seeds, size, args.steps))]
        for batch in batches:
            name = f"studio batch {batch or 'auto'}"
            sides.append((name, lambda b=batch, s=chosen[name]: studio(renderer, shot, b, s)))
        if round_ % 2:  # alternate the order, so neither side always runs first
            sides.reverse()
        for name, fn in sides:
            runs[name].append(timed(fn, device))
    renderer.release()

    # The best round of each side. On the CPU also by CPU time: other programs sharing the
    # cores slow the wall clock, not this process's CPU seconds.
    wall = {name: min(r[0] for r in rs) for name, rs in runs.items()}
    cpu = {name: min(r[1] for r in rs) for name, rs in runs.items()}
    loop_pngs = runs["loop"][0][2]
    print(f"\n{family} {size}x{size}, {args.steps} steps, {args.frames} frames, {device} {dtype}")
    for name, rs in runs.items():
        line = f"  {name:<18} {args.frames / wall[name]:7.2f} frames/s"
        line += f"  {wall['loop'] / wall[name]:4.2f}x"
        if not device.startswith("cuda"):
            line += f" (by CPU time {cpu['loop'] / cpu[name]:4.2f}x)"
        same = sum(a == b for a, b in zip(rs[0][2], loop_pngs, strict=True))
        line += f"  same frames as the loop: {same}/{args.frames}"
        if name in chosen:
            line += f"  batch of {chosen[name][0]}"
        peak = max(r[3] for r in rs)
        if peak:
            line += f"  peak GPU memory {peak / 2**30:.2f} GiB"
        print(line)


# -- the pipelines ---------------------------------------------------------------------------------


def tiny(family: str):
    from tests.fixtures.tiny_models import tiny_pipeline

    return tiny_pipeline(family, Path(tempfile.mkdtemp(prefix="bench-render-")))


def full_size(family: str, device: str):
    """The family's full architecture from the shipped configs, random weights, float16."""
    import diffusers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    folder = pipelines.config_folder(family)
    torch.manual_seed(0)
    # Built directly on the GPU: initialising 2.6 billion SDXL weights on the CPU takes minutes.
    with torch.device(device):
        parts = {
            "unet": UNet2DConditionModel.from_config(
                UNet2DConditionModel.load_config(folder / "unet")
            ),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        }
        if family == SDXL:
            parts["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
            )
    parts["tokenizer"] = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    parts["scheduler"] = getattr(diffusers, scheduler["_class_name"]).from_config(scheduler)
    if family == SDXL:
        parts["tokenizer_2"] = CLIPTokenizer.from_pretrained(folder / "tokenizer_2")
        pipe = diffusers.StableDiffusionXLPipeline(**parts, add_watermarker=False)
    else:
        pipe = diffusers.StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    pipe = pipe.to(device=device, dtype=torch.float16)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="full-size models on the CUDA GPU")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None, help="default: 4 on CPU, 20 on GPU")
    parser.add_argument("--rounds", type=int, default=None, help="default: 4 on CPU, 1 on GPU")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (CPU mode)")
    args = parser.parse_args()
    # Random weights overflow float16 now and then; a NaN frame times like any other.
    warnings.filterwarnings("ignore", message="invalid value encountered in cast")

    if args.gpu:
        if not torch.cuda.is_available():
            sys.exit("--gpu needs a CUDA GPU and PyTorch's CUDA build.")
        args.steps = args.steps or 20
        args.rounds = args.rounds or 1
        print(f"GPU: {torch.cuda.get_device_name()}")
        for family, size in ((SD15, 512), (SDXL, 1024)):
            pipe = full_size(family, "cuda")
            compare(pipe, family, size, args, "cuda", batches=[1, 0])
            del pipe
            torch.cuda.empty_cache()
        return

    torch.set_num_threads(args.threads)
    args.steps = args.steps or 4
    args.rounds = args.rounds or 4
    for family in (SD15, SDXL):
        compare(tiny(family), family, 32, args, "cpu", batches=[0, 4])


if __name__ == "__main__":
    main()
