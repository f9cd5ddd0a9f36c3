"""The shipped CLIP tokenizer, the token counts prompts are fitted by, and how they load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from studio.core.persona import (
    DEFAULT_TOKEN_BUDGET,
    compose_prompt,
    estimate_tokens,
)
from studio.core.resources import load_json, resource_path
from studio.engine import tokens
from studio.jobs import tokens as job_tokens


def test_the_shipped_folder_is_openai_clips_tokenizer():
    folder = resource_path("clip_tokenizer")
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 49408 and sorted(vocab.values()) == list(range(49408))
    assert (vocab["!"], vocab["!</w>"], vocab["a</w>"], vocab["in"]) == (0, 256, 320, 512)
    assert (vocab["<|startoftext|>"], vocab["<|endoftext|>"]) == (49406, 49407)
    merges = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[:3] == ["#version: 0.2", "i n", "t h"] and len(merges) == 1 + 48894
    tokenizer = tokens.clip_tokenizer()
    assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer.model_max_length == 77
    assert tokens.clip_tokenizer() is tokenizer  # loaded once


def test_count_tokens_leaves_out_the_start_and_end_tokens():
    assert tokens.count_tokens("a photo of a cat") == 5
    assert tokens.count_tokens("") == tokens.count_tokens("   ") == 0
    # A comma is a token of its own; digits go one by one.
    assert tokens.count_tokens("warm 3200K light, soft contrast") == 10
    assert tokens.count_tokens("a, " * 100) == 200  # longer than a window: counted, no cut
    assert job_tokens.count_tokens("a photo of a cat") == 5


def test_the_estimate_never_counts_fewer_tokens_than_clip_on_persona_prompts():
    for name in ("nova.v1.json", "nova.v2.json"):
        record = load_json(f"demo/{name}")
        for action in ("", "pouring coffee at a galley window, steam rising"):
            prompt = compose_prompt(record, action)
            for text in (prompt.positive, prompt.negative, *prompt.positive.split(", ")):
                assert estimate_tokens(text) >= tokens.count_tokens(text), text


def test_a_demo_prompt_fitted_with_clip_counts_fills_the_budget():
    record = load_json("demo/nova.v2.json")
    full = compose_prompt(record, "walking through rain", count_tokens=tokens.count_tokens)
    assert full.tokens == tokens.count_tokens(full.positive) > DEFAULT_TOKEN_BUDGET
    fitted = compose_prompt(
        record,
        "walking through rain",
        token_budget=DEFAULT_TOKEN_BUDGET,
        count_tokens=tokens.count_tokens,
    )
    assert not fitted.estimated and fitted.dropped
    assert fitted.tokens == tokens.count_tokens(fitted.positive) <= DEFAULT_TOKEN_BUDGET
    # The last phrase dropped would not have fitted back in.
    assert tokens.count_tokens(f"{fitted.positive}, {fitted.dropped[-1]}") > DEFAULT_TOKEN_BUDGET
    # Identity stays; the style (lowest priority) went first.
    assert fitted.positive.startswith(
        "ohwx_nova, portrait of Nova Hale, walking through rain, 35-42 years old"
    )
    assert fitted.dropped[0] == "fine grain" and "photograph" in fitted.dropped
    assert fitted.negative == full.negative and fitted.negative_tokens == full.negative_tokens


def test_the_counter_loads_transformers_only_when_a_count_is_asked_for():
    code = (
        "import sys\n"
        "from studio.jobs import tokens\n"
        "print(any(m.split('.')[0] == 'transformers' for m in sys.modules))\n"
        "print(tokens.count_tokens('a photo of a cat'))\n"
        "print(any(m.split('.')[0] == 'transformers' for m in sys.modules))\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "5", "True", "False"]


def nova_project(tmp_path):
    """A project whose one persona is the demo's Nova Hale (version 2's record)."""
    from studio.core.persona import record_to_json
    from studio.services import personas
    from studio.services.projects import new_project

    path = tmp_path / "cast.pstudio"
    project = new_project(path)
    f = tmp_path / "nova.json"
    f.write_text(record_to_json(load_json("demo/nova.v2.json")), encoding="utf-8")
    personas.import_persona(project, f)
    return project, path


def test_a_render_prompt_is_the_head_version_fitted_to_the_default_budget(tmp_path):
    from studio.services import personas

    project, _ = nova_project(tmp_path)
    try:
        prompt = personas.compose_for_render(
            project,
            "Nova Hale",
            "walking through rain",
            lighting_setup="butterfly",
            count_tokens=tokens.count_tokens,
        )
    finally:
        project.close()
    assert prompt.budget == DEFAULT_TOKEN_BUDGET and prompt.dropped and not prompt.estimated
    assert prompt.tokens == tokens.count_tokens(prompt.positive) <= DEFAULT_TOKEN_BUDGET
    assert prompt.lighting_setup == "butterfly" and "butterfly lighting" in prompt.positive
    assert "loop lighting" not in prompt.positive


def test_the_persona_prompt_verb_prints_tokens_dropped_phrases_and_the_setup(tmp_path, capsys):
    from studio.__main__ import main

    project, path = nova_project(tmp_path)
    project.close()
    args = ["persona", "prompt", str(path), "Nova Hale", "walking through rain"]
    assert main([*args, "--budget", "75", "--lighting", "High-Key"]) == 0
    lines = capsys.readouterr().out.splitlines()
    positive = lines[0].removeprefix("positive: ")
    # The demo's template puts the style second; it ranks last all the same.
    assert positive.startswith("ohwx_nova, portrait of Nova Hale") and "photograph" not in positive
    assert lines[2] == (
        f"tokens: {tokens.count_tokens(positive)} of 75 in the positive prompt, "
        f"{tokens.count_tokens(lines[1].removeprefix('negative: '))} in the negative"
    )
    assert lines[3] == "lighting setup: high-key"
    assert lines[4].startswith("dropped to fit 75 tokens (")
    assert lines[4].split(": ", 1)[1].startswith("fine grain; shot on medium format; f/4")

    assert main([*args, "--budget", "0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budget"] is None and data["dropped"] == [] and data["estimated"] is False
    assert data["tokens"] == tokens.count_tokens(data["positive"]) > DEFAULT_TOKEN_BUDGET
    assert data["lighting_setup"] == "loop" and "fine grain" in data["positive"]

    assert main([*args, "--lighting", "neon"]) == 1
    err = capsys.readouterr().err
    assert "'neon' is not one of Nova Hale's lighting setups" in err
    assert "'loop', 'butterfly', 'high-key'" in err
