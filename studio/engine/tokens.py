"""Prompt tokens as the Stable Diffusion text encoder (CLIP) counts them.

The tokenizer is the one shipped in `resources/clip_tokenizer/` (the same files the shipped
model configurations use), loaded once with transformers' `CLIPTokenizer`; nothing is fetched.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from studio.core.errors import ModelMissingError
from studio.core.resources import resource_path

TOKENIZER_FOLDER = "clip_tokenizer"


@cache
def clip_tokenizer() -> Any:
    """The CLIP tokenizer of the shipped folder, loaded on first use and kept."""
    folder = resource_path(TOKENIZER_FOLDER)
    if not (folder / "vocab.json").is_file() or not (folder / "merges.txt").is_file():
        raise ModelMissingError(
            f"The CLIP tokenizer files are missing from {folder}.",
            hint="Reinstall Persona Studio: its resources folder is incomplete.",
        )
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)


def count_tokens(text: str) -> int:
    """How many CLIP tokens text takes, without the start and end tokens."""
    if not text.strip():
        return 0
    # Counting is the point, so a text longer than one window is no cause for a warning.
    ids = clip_tokenizer()(text, add_special_tokens=False, verbose=False)["input_ids"]
    return len(ids)
