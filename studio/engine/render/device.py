"""Where frames are rendered and in which number format: a CUDA GPU, Apple's MPS or the CPU.

Automatic choice: a CUDA GPU with bfloat16 where the GPU computes it natively (compute
capability 8.0 and up), float16 on older GPUs; Apple MPS with float16; otherwise the CPU in
float32. The artist may name either explicitly ("cuda:1", "cpu", "float16"...).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from studio.core.render_errors import DeviceError

DTYPE_NAMES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "full": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
DEVICE_HINT = "Use cpu, cuda, cuda:N or mps, or leave it empty to choose automatically."
DTYPE_HINT = "Use float32, float16 or bfloat16, or leave it empty to choose automatically."


def choose_device(device: str = "", dtype: str = "") -> tuple[Any, Any]:
    """The torch device and dtype to render with; empty strings choose automatically."""
    import torch

    dev = _device(str(device or "").strip().lower())
    wanted = str(dtype or "").strip().lower()
    if wanted in ("", "auto"):
        return dev, _default_dtype(dev)
    if wanted.removeprefix("torch.") not in DTYPE_NAMES:
        raise DeviceError(
            f"'{dtype}' is not a number format the studio renders in.", hint=DTYPE_HINT
        )
    name = DTYPE_NAMES[wanted.removeprefix("torch.")]
    if dev.type == "cpu" and name == "float16":
        raise DeviceError(
            "The CPU cannot render in float16: it lacks half-precision kernels for several steps.",
            hint="Use float32 (or bfloat16) on the CPU, or render on a GPU.",
        )
    if dev.type == "cuda" and name == "bfloat16" and not _native_bf16(dev):
        raise DeviceError(
            f"{torch.cuda.get_device_name(dev)} does not compute in bfloat16.",
            hint="Use float16 on this GPU, or leave the format empty to choose automatically.",
        )
    return dev, getattr(torch, name)


def _device(name: str) -> Any:
    import torch

    if name in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise DeviceError(
                "Apple's Metal (mps) device is not available on this computer.",
                hint="It needs a Mac with Apple silicon and macOS 12.3 or later; choose cpu.",
            )
        return torch.device("mps")
    match = re.fullmatch(r"(?:cuda|gpu)(?::(\d+))?", name)
    if not match:
        raise DeviceError(f"'{name}' is not a device the studio knows.", hint=DEVICE_HINT)
    if not torch.cuda.is_available():
        raise DeviceError(
            "No CUDA GPU is available: this PyTorch has no CUDA support or no GPU was found.",
            hint="Install the NVIDIA driver and PyTorch's CUDA build, or choose cpu.",
        )
    index = int(match[1]) if match[1] is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        have = ", ".join(f"cuda:{i}" for i in range(count))
        raise DeviceError(
            f"There is no GPU cuda:{index}; this computer has {count} ({have}).",
            hint=f"Choose one of {have}.",
        )
    return torch.device("cuda", index)


def _default_dtype(dev: Any) -> Any:
    import torch

    if dev.type == "cuda":
        return torch.bfloat16 if _native_bf16(dev) else torch.float16
    if dev.type == "mps":
        return torch.float16
    return torch.float32


def _native_bf16(dev: Any) -> bool:
    import torch

    # Ampere (8.0) and later compute bfloat16 in hardware; earlier GPUs only emulate it, slowly.
    return torch.cuda.get_device_capability(dev) >= (8, 0)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def free_memory(device: Any) -> int | None:
    """Bytes free for new tensors on the device, or None where it cannot be told."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        free, _total = torch.cuda.mem_get_info(index)
        # Memory PyTorch has reserved but not handed out counts as used to the driver, yet new
        # tensors of this process can use it.
        cached = torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
        return int(free + max(cached, 0))
    if dev.type == "mps":
        mps = getattr(torch, "mps", None)
        if mps is None or not hasattr(mps, "recommended_max_memory"):
            return None
        return max(int(mps.recommended_max_memory() - mps.driver_allocated_memory()), 0)
    if dev.type == "cpu":
        return _available_ram()
    return None


def _available_ram() -> int | None:
    meminfo = Path("/proc/meminfo")
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
