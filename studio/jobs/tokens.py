"""Prompt token counts for the CLI and the window, which may not reach the engine themselves.

transformers loads on the first count, not when this module is imported, so starting the CLI
or the window stays light.
"""

from __future__ import annotations


def count_tokens(text: str) -> int:
    """How many CLIP tokens text takes, without the start and end tokens."""
    from studio.engine import tokens

    return tokens.count_tokens(text)


def tokenizer_loaded() -> bool:
    """True once the tokenizer has been loaded, so a count no longer waits for transformers."""
    import sys

    module = sys.modules.get("studio.engine.tokens")
    return module is not None and module.clip_tokenizer.cache_info().currsize > 0
