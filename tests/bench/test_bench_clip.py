"""The clip benchmark: its CPU mode compares both sides, and its GPU architecture fits together."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_clip.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_clip", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.slow
def test_the_cpu_mode_prints_both_rates_the_ratio_and_bitwise_equal_frames():
    run = subprocess.run(
        [sys.executable, str(BENCH), "--width", "32", "--height", "32", "--frames", "5"]
        + ["--steps", "1", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    out = run.stdout

    assert run.returncode == 0, run.stderr[-3000:]
    assert "32x32, 5 frames, 1 steps" in out
    rates = dict(
        re.findall(r"^  (diffusers pipeline|studio animator) +(\d+\.\d+) frames/s", out, re.M)
    )
    assert set(rates) == {"diffusers pipeline", "studio animator"}
    assert all(float(rate) > 0 for rate in rates.values())
    ratio = re.search(
        r"studio / diffusers frames per second: (\d+\.\d+)x by wall clock, (\d+\.\d+)x by CPU time",
        out,
    )
    assert ratio is not None and float(ratio[1]) > 0 and float(ratio[2]) > 0
    assert "frames bitwise equal: yes (5/5;" in out


@pytest.mark.slow  # the first build imports and sets up every model class (5 to 10 s)
def test_the_gpu_architecture_is_wan_2_1_i2v_14b_and_its_shapes_fit_the_default_clip(bench):
    """Built on the meta device (no memory, no arithmetic): sizes, dtypes and shapes only."""
    import torch

    from studio.engine.render.motion import clip_frame_counts, clip_size_multiple

    pipe = bench.wan21_i2v_14b("meta", torch.bfloat16)
    billions = {
        name: round(sum(p.numel() for p in model.parameters()) / 1e9, 2)
        for name, model in pipe.components.items()
        if isinstance(model, torch.nn.Module)
    }
    clip = bench.GPU_CLIP
    step, minimum = clip_frame_counts(pipe)
    multiple = clip_size_multiple(pipe)
    transformer = pipe.transformer

    assert billions == pytest.approx(
        {"transformer": 16.4, "text_encoder": 5.68, "image_encoder": 0.63, "vae": 0.13}, abs=0.01
    )
    # As the studio loads a real folder: the big models in the GPU's dtype, with the modules
    # diffusers keeps in float32 kept so; the VAE and image encoder in float32.
    assert transformer.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
    assert transformer.blocks[0].scale_shift_table.dtype == torch.float32
    assert transformer.blocks[0].ffn.net[2].weight.dtype == torch.bfloat16
    assert pipe.vae.dtype == torch.float32 and pipe.image_encoder.dtype == torch.float32
    assert torch.get_default_dtype() == torch.float32
    # The default clip is one the studio renders (it refuses others before the first step).
    assert clip.frames >= minimum and clip.frames % step == 1
    assert clip.width % multiple == 0 and clip.height % multiple == 0

    latent = (
        1 + (clip.frames - 1) // step,
        clip.height // pipe.vae_scale_factor_spatial,
        clip.width // pipe.vae_scale_factor_spatial,
    )
    with torch.no_grad():
        image = pipe.image_encoder(
            pixel_values=torch.empty(1, 3, 224, 224, device="meta"), output_hidden_states=True
        ).hidden_states[-2]
        noise = transformer(
            hidden_states=torch.empty(1, 36, *latent, device="meta", dtype=torch.bfloat16),
            timestep=torch.full((1,), 999.0, device="meta"),
            encoder_hidden_states=torch.empty(
                1, 512, pipe.text_encoder.config.d_model, device="meta", dtype=torch.bfloat16
            ),
            encoder_hidden_states_image=image.to(torch.bfloat16),
            return_dict=False,
        )[0]
        video = pipe.vae.decode(torch.empty(1, 16, *latent, device="meta"), return_dict=False)[0]

    assert image.shape == (1, 257, 1280)
    assert noise.shape == (1, 16, *latent)
    assert video.shape == (1, 3, clip.frames, clip.height, clip.width)


def test_a_cut_depth_keeps_the_widths(bench):
    import torch

    pipe = bench.wan21_i2v_14b("meta", torch.float16, layers=2)

    assert len(pipe.transformer.blocks) == 2 and pipe.transformer.config.num_layers == 2
    assert pipe.transformer.config.ffn_dim == 13824 and pipe.transformer.config.image_dim == 1280
    assert pipe.text_encoder.config.num_layers == 2 and pipe.text_encoder.config.d_model == 4096
    assert pipe.image_encoder.config.num_hidden_layers == 2
    # In float16 transformers keeps T5's feed-forward outputs in float32 too.
    ff = pipe.text_encoder.encoder.block[0].layer[-1].DenseReluDense
    assert ff.wo.weight.dtype == torch.float32 and ff.wi_0.weight.dtype == torch.float16
