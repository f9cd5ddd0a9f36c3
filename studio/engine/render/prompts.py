"""A shot's prompt and negative prompt as text-encoder embeddings, long prompts included.

CLIP reads 77 tokens: a start token, 75 of text, an end token. A longer prompt is not cut:
its tokens are split into chunks of up to 75 (at the last comma of a chunk's final 20
tokens, so a phrase stays whole where it can), each chunk is framed with start and end
tokens and padded to 77, encoded on its own, and the chunks' embeddings are concatenated
along the sequence (as AUTOMATIC1111 and ComfyUI do). The prompt and the negative get the
same number of chunks, the shorter padded with empty ones. SDXL concatenates both text
encoders' penultimate hidden states per chunk; its pooled embedding is that of the first
chunk. A prompt of up to 75 tokens gives exactly the embeddings diffusers' own
`encode_prompt` gives.

The text is literal: no weighting syntax is parsed, so `(word:1.2)` or `C++` reach the
encoder as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHUNK_TOKENS = 75  # text tokens per chunk: CLIP's 77 less the start and end tokens
COMMA_LOOKBACK = 20  # a chunk breaks after a comma found this close to its end


@dataclass(frozen=True)
class PromptEmbeds:
    """Encoded prompt and negative prompt of one shot, ready to hand to a pipeline."""

    prompt: Any  # (1, 77 * chunks, width)
    negative: Any  # same shape as prompt
    pooled: Any = None  # SDXL: (1, projection width)
    negative_pooled: Any = None
    chunks: int = 1

    def pipeline_kwargs(self) -> dict[str, Any]:
        """The keyword arguments a Stable Diffusion (XL) pipeline call takes them as."""
        kwargs = {"prompt_embeds": self.prompt, "negative_prompt_embeds": self.negative}
        if self.pooled is not None:
            kwargs["pooled_prompt_embeds"] = self.pooled
            kwargs["negative_pooled_prompt_embeds"] = self.negative_pooled
        return kwargs


def token_chunks(tokenizer: Any, text: str) -> list[list[int]]:
    """The text's token ids (no start/end tokens) in chunks of at most 75; [] for no text."""
    tokens = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text)) if text.strip() else []
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    chunks: list[list[int]] = []
    current: list[int] = []
    for token in tokens:
        current.append(token)
        if len(current) < CHUNK_TOKENS:
            continue
        cut = _last_comma(current, comma)
        if cut is not None and cut >= CHUNK_TOKENS - COMMA_LOOKBACK:
            chunks.append(current[: cut + 1])
            current = current[cut + 1 :]
        else:
            chunks.append(current)
            current = []
    if current or not chunks:
        chunks.append(current)
    return chunks


def _last_comma(tokens: list[int], comma: int | None) -> int | None:
    if comma is None:
        return None
    for i in range(len(tokens) - 1, -1, -1):
        if tokens[i] == comma:
            return i
    return None


def framed(tokenizer: Any, chunk: list[int]) -> list[int]:
    """One chunk as the encoder reads it: start, tokens, end, padding to 77."""
    ids = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
    return ids + [tokenizer.pad_token_id] * (CHUNK_TOKENS + 2 - len(ids))


def encode_prompts(pipe: Any, prompt: str, negative: str = "") -> PromptEmbeds:
    """Encode a shot's prompt and negative prompt once with the pipeline's text encoder(s)."""
    import torch

    encoders = [
        (tok, enc)
        for tok, enc in (
            (getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None)),
            (getattr(pipe, "tokenizer_2", None), getattr(pipe, "text_encoder_2", None)),
        )
        if tok is not None and enc is not None
    ]
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    device = pipe._execution_device
    # SDXL pipelines feed zeros, not an encoded "", where no negative prompt is given.
    zero_negative = (
        sdxl and not negative and getattr(pipe.config, "force_zeros_for_empty_prompt", False)
    )

    with torch.no_grad():
        texts = [prompt] if zero_negative else [prompt, negative]
        chunked = [
            [token_chunks(tok, _converted(pipe, text, tok)) for tok, _enc in encoders]
            for text in texts
        ]
        count = max(len(chunks) for per_text in chunked for chunks in per_text)
        encoded = []
        for per_text in chunked:
            hidden, pooled = [], None
            for (tok, enc), chunks in zip(encoders, per_text, strict=True):
                chunks = chunks + [[]] * (count - len(chunks))
                states, pooled_first = _encode_chunks(tok, enc, chunks, device, sdxl)
                hidden.append(states)
                if pooled_first is not None:
                    pooled = pooled_first
            embeds = torch.cat(hidden, dim=-1)
            dtype = encoders[-1][1].dtype
            encoded.append((embeds.to(dtype=dtype), None if pooled is None else pooled.to(dtype)))
        prompt_embeds, pooled = encoded[0]
        if zero_negative:
            negative_embeds = torch.zeros_like(prompt_embeds)
            negative_pooled = None if pooled is None else torch.zeros_like(pooled)
        else:
            negative_embeds, negative_pooled = encoded[1]
    return PromptEmbeds(prompt_embeds, negative_embeds, pooled, negative_pooled, count)


def _converted(pipe: Any, text: str, tokenizer: Any) -> str:
    # Textual-inversion tokens loaded into the pipeline expand to their several vectors here.
    convert = getattr(pipe, "maybe_convert_prompt", None)
    return convert(text, tokenizer) if convert is not None else text


def _encode_chunks(
    tokenizer: Any, encoder: Any, chunks: list[list[int]], device: Any, sdxl: bool
) -> tuple[Any, Any]:
    """Each chunk encoded on its own (so a chunk's numbers never depend on its neighbours)."""
    import torch

    states, pooled = [], None
    for chunk in chunks:
        ids = torch.tensor([framed(tokenizer, chunk)], device=device)
        if sdxl:
            out = encoder(ids, output_hidden_states=True)
            states.append(out.hidden_states[-2])
            if pooled is None and out[0].ndim == 2:
                pooled = out[0]
        else:
            mask = None
            if getattr(encoder.config, "use_attention_mask", False):
                mask = torch.zeros_like(ids)
                mask[:, : len(chunk) + 2] = 1  # start, text and end tokens; not the padding
            states.append(encoder(ids, attention_mask=mask)[0])
    return torch.cat(states, dim=1), pooled
