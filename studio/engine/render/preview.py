"""Live previews of a frame while it is denoised: its latents seen through a linear projection.

A VAE decode per step would cost as much as a step; instead each latent channel adds a fixed
colour to the pixel (the "latent to RGB" factors ComfyUI and A1111 fit per model family), so a
preview costs one small matrix product. It shows the picture's layout and colours as they
settle, at the latent's resolution (an eighth of the frame's side). Families whose latents no
table covers get no preview.

What is shown is the sampler's estimate of the finished latents after each step (`DenoisedWatch`),
as ComfyUI and A1111 show: the noisy latents themselves are mostly noise until the last steps
(with Euler the first half of a render is all noise). A sampler that offers no estimate shows its
noisy latents instead.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from studio.core.models import SD15, SDXL, WAN_I2V

PREVIEW_INTERVAL_S = 0.25  # at most this often a preview is made while steps run
PREVIEW_MAX_SIDE = 256  # a preview JPEG's longest side, in pixels
PREVIEW_QUALITY = 80

# family -> (one RGB row per latent channel, RGB bias), for the latents the pipelines denoise
# (scaled by the VAE's scaling factor, or Wan's mean/std normalisation). The projection gives
# values around -1..1; fitted by ComfyUI (comfy/latent_formats.py).
LATENT_RGB: dict[str, tuple[tuple[tuple[float, float, float], ...], tuple[float, float, float]]] = {
    SD15: (
        (
            (0.3512, 0.2297, 0.3227),
            (0.3250, 0.4974, 0.2350),
            (-0.2829, 0.1762, 0.2721),
            (-0.2120, -0.2616, -0.7177),
        ),
        (0.0, 0.0, 0.0),
    ),
    SDXL: (
        (
            (0.3651, 0.4232, 0.4341),
            (-0.2533, -0.0042, 0.1068),
            (0.1076, 0.1111, -0.0362),
            (-0.3165, -0.2492, -0.2188),
        ),
        (0.1084, -0.0175, -0.0011),
    ),
    # Wan 2.1 and the Wan 2.2 A14B models share one 16-channel VAE; Wan 2.2 TI2V-5B's VAE has
    # 48 channels and no table here.
    WAN_I2V: (
        (
            (-0.1299, -0.1692, 0.2932),
            (0.0671, 0.0406, 0.0442),
            (0.3568, 0.2548, 0.1747),
            (0.0372, 0.2344, 0.1420),
            (0.0313, 0.0189, -0.0328),
            (0.0296, -0.0956, -0.0665),
            (-0.3477, -0.4059, -0.2925),
            (0.0166, 0.1902, 0.1975),
            (-0.0412, 0.0267, -0.1364),
            (-0.1293, 0.0740, 0.1636),
            (0.0680, 0.3019, 0.1128),
            (0.0032, 0.0581, 0.0639),
            (-0.1251, 0.0927, 0.1699),
            (0.0060, -0.0633, 0.0005),
            (0.3477, 0.2275, 0.2950),
            (0.1984, 0.0913, 0.1861),
        ),
        (-0.1835, -0.0868, -0.3360),
    ),
}


def latent_preview(latents: Any, family: str) -> np.ndarray | None:
    """An HxWx3 uint8 picture of the first latent in the batch; None where no table fits.

    latents: a torch tensor (or array) B x C x H x W, or B x C x F x H x W for a clip, whose
    middle frame is shown. family: the model family (`studio.core.models`) that made them.
    """
    table = LATENT_RGB.get(family)
    if table is None or latents is None:
        return None
    import torch

    factors, bias = table
    x = torch.as_tensor(latents)
    if x.ndim not in (4, 5) or x.shape[0] == 0 or x.shape[1] != len(factors):
        return None
    x = x[0]
    if x.ndim == 4:
        x = x[:, x.shape[1] // 2]
    with torch.no_grad():
        weights = torch.tensor(factors, dtype=torch.float32, device=x.device)
        offset = torch.tensor(bias, dtype=torch.float32, device=x.device)
        rgb = torch.einsum("chw,cr->hwr", x.float(), weights) + offset
        rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8)
    return rgb.cpu().numpy()


def step_preview(watch: DenoisedWatch, tensors: dict, family: str) -> np.ndarray | None:
    """A step's preview: of the sampler's estimate of the finished latents where it offers one,
    else of the noisy latents diffusers hands the step callback."""
    latents = watch.estimate()
    return latent_preview(tensors.get("latents") if latents is None else latents, family)


def encode_preview(
    rgb: np.ndarray, max_side: int = PREVIEW_MAX_SIDE, quality: int = PREVIEW_QUALITY
) -> bytes:
    """A small JPEG of an HxWx3 uint8 picture, its longest side at most `max_side` pixels."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class PreviewClock:
    """Says which steps get a preview: the first, then one at most every `interval_s` seconds,
    and always the last, so previews cost nothing a render would notice."""

    def __init__(
        self,
        interval_s: float = PREVIEW_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.interval_s = interval_s
        self._clock = clock
        self._last: float | None = None

    def due(self, step: int, steps: int) -> bool:
        """Whether step `step` of `steps` (counted from 1) gets a preview."""
        now = self._clock()
        if step >= steps or self._last is None or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False


# Samplers whose step returns (previous sample, estimate of the finished sample).
_RETURNS_ESTIMATE = {"EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DDIMScheduler"}


class DenoisedWatch:
    """While entered, watches a diffusers scheduler's steps; `estimate()` gives its estimate of
    the finished latents (x0) after the latest step, or None where it offers none.

    The step is passed through untouched (frames stay bitwise the same); only references to its
    inputs and output are kept, and an estimate is worked out only when asked for.
    """

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self._seen: tuple[Any, Any, Any, Any] | None = None  # output, timestep, sample, model's
        self._original: Any = None
        self._own = False

    def __enter__(self) -> DenoisedWatch:
        scheduler = self.scheduler
        self._own = "step" in vars(scheduler)  # an earlier wrapper of this instance stays
        self._original = original = scheduler.step
        self._seen = None

        # Pipelines read the step's signature to decide whether to pass it their generator
        # (ancestral samplers' noise) and eta, so the wrapper keeps it.
        @functools.wraps(original)
        def step(model_output: Any, timestep: Any, sample: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(model_output, timestep, sample, *args, **kwargs)
            self._seen = (out, timestep, sample, model_output)
            return out

        scheduler.step = step
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._own:
            self.scheduler.step = self._original
        else:
            del self.scheduler.step
        self._seen = None

    def estimate(self) -> Any:
        """The latest step's estimate of the finished latents (a tensor), or None."""
        if self._seen is None:
            return None
        out, timestep, sample, model_output = self._seen
        scheduler = self.scheduler
        name = type(scheduler).__name__
        config = scheduler.config
        found = getattr(out, "pred_original_sample", None)  # a step asked for its dataclass
        if found is not None:
            return found
        if name in _RETURNS_ESTIMATE and isinstance(out, tuple) and len(out) == 2:
            return out[1]
        # The multistep solvers keep the data prediction they step from.
        keeps_x0 = (
            name == "DPMSolverMultistepScheduler"
            and config.get("algorithm_type") in ("dpmsolver++", "sde-dpmsolver++")
        ) or (name == "UniPCMultistepScheduler" and config.get("predict_x0", True))
        if keeps_x0:
            outputs = getattr(scheduler, "model_outputs", None)
            return outputs[-1] if outputs else None
        if name == "FlowMatchEulerDiscreteScheduler" and scheduler.step_index:
            sigma = float(scheduler.sigmas[scheduler.step_index - 1])
            return sample.float() - sigma * model_output.float()
        if name == "PNDMScheduler":
            alpha = float(scheduler.alphas_cumprod[int(timestep)])
            a, b = alpha**0.5, (1.0 - alpha) ** 0.5
            x, out_ = sample.float(), model_output.float()
            if config.get("prediction_type", "epsilon") == "v_prediction":
                return a * x - b * out_
            return (x - b * out_) / a
        return None
