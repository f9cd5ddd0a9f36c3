"""Prompt token counts for the CLI and the window, which may not reach the engine themselves.

transformers loads on the first count, not when this module is imported, so starting the CLI
or the window stays light. The window loads the tokenizer on a thread (`load_in_background`)
and estimates until it is there, so typing never waits for it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable


def count_tokens(text: str) -> int:
    """How many CLIP tokens text takes, without the start and end tokens."""
    from studio.engine import tokens

    return tokens.count_tokens(text)


def tokenizer_loaded() -> bool:
    """True once the tokenizer is loaded, so a count no longer waits for transformers."""
    module = sys.modules.get("studio.engine.tokens")
    return module is not None and module.clip_tokenizer.cache_info().currsize > 0


_loading = threading.Event()  # set while a background load runs


def tokenizer_loading() -> bool:
    """True while `load_in_background` is loading the tokenizer."""
    return _loading.is_set()


def load_in_background(done: Callable[[BaseException | None], None]) -> None:
    """Load the tokenizer on a thread, then call done(None) there, or done(error) if it failed."""

    def run() -> None:
        try:
            from studio.engine import tokens

            tokens.clip_tokenizer()
        except Exception as exc:  # handed to the caller, who keeps estimating and says why
            _loading.clear()
            done(exc)
        else:
            _loading.clear()
            done(None)

    _loading.set()
    threading.Thread(target=run, name="clip-tokenizer", daemon=True).start()
