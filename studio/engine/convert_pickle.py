"""Convert a pickle weights file to .safetensors: `python -m studio.engine.convert_pickle SRC DEST`.

Run only as a child process of the studio (see `model_files.convert_pickle`). The file is
loaded with `torch.load(weights_only=True)`, whose unpickler builds tensors and plain
containers and refuses every other object, so a file that would run code stops here with an
error and the code never runs. A `state_dict` wrapper (Lightning and A1111 checkpoints) is
unwrapped, nested tables (IP-Adapter's image_proj/ip_adapter) are flattened with dots, and
what is not a tensor (a step count, an epoch) is left out. DEST is written whole or not at all.

Speaks JSON lines on stdout: {"event": "stage", "step", "message"}, then {"event": "done",
"tensors", "skipped"} or {"event": "error", "message", "hint"} (exit status 2).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _say(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def flatten(data: Any, prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """Tensors of a loaded checkpoint by dotted name, and the names of what was not a tensor."""
    import torch

    if prefix == "" and isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    tensors: dict[str, Any] = {}
    skipped: list[str] = []
    if isinstance(data, torch.Tensor):
        return {prefix or "weight": data}, skipped
    if not isinstance(data, Mapping):
        return tensors, [prefix or type(data).__name__]
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, torch.Tensor):
            tensors[name] = value
        elif isinstance(value, Mapping):
            inner, left = flatten(value, name)
            tensors.update(inner)
            skipped.extend(left)
        else:
            skipped.append(name)
    return tensors, skipped


def _unshared(tensors: dict[str, Any]) -> dict[str, Any]:
    """Contiguous tensors with no two sharing memory (safetensors stores each once)."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for name, tensor in tensors.items():
        t = tensor.contiguous()
        key = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else (0, id(t))
        if key in seen or t.untyped_storage().nbytes() != t.numel() * t.element_size():
            t = t.clone()
        seen.add(key)
        out[name] = t
    return out


def convert(src: Path, dest: Path) -> tuple[int, int]:
    """Load src with weights_only=True and write its tensors to dest; (tensors, skipped)."""
    import pickle

    import torch
    from safetensors.torch import save_file

    _say("stage", step=0, message=f"Reading {src.name} (tensors only)")
    try:
        data = torch.load(src, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError) as exc:
        wanted = re.search(r"GLOBAL (\S+)", str(exc))
        what = f"it asks for {wanted.group(1)}" if wanted else "objects the safe loader refuses"
        raise RefusedError(
            f"{src.name} holds more than weights ({what}), so it was not converted and nothing"
            " in it was run.",
            "Get the .safetensors version of the model from where it was published; only"
            " convert files from sources you trust.",
        ) from None
    except (EOFError, OSError) as exc:
        raise RefusedError(
            f"{src.name} cannot be read as PyTorch weights: {exc}.",
            "Download or copy it again.",
        ) from None
    tensors, skipped = flatten(data)
    if not tensors:
        raise RefusedError(f"{src.name} holds no tensors.", "Check that it is a model file.")
    _say("stage", step=1, message=f"Writing {dest.name} ({len(tensors)} tensors)")
    part = dest.with_name(dest.name + ".part")
    metadata = {"format": "pt", "converted_from": src.name}
    try:
        save_file(_unshared(tensors), str(part), metadata=metadata)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return len(tensors), len(skipped)


class RefusedError(Exception):
    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message, self.hint = message, hint


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m studio.engine.convert_pickle SRC DEST\n")
        return 2
    src, dest = Path(args[0]), Path(args[1])
    try:
        count, skipped = convert(src, dest)
    except RefusedError as exc:
        _say("error", message=exc.message, hint=exc.hint)
        return 2
    _say("done", tensors=count, skipped=skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
