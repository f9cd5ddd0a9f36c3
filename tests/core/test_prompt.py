"""Prompt composition from a persona record and a shot's action text."""

from __future__ import annotations

import copy

import pytest

from studio.core.errors import InvalidRecordError, NotFoundError, StudioError
from studio.core.persona import (
    DEFAULT_TOKEN_BUDGET,
    NEGATIVE_PLACEHOLDERS,
    POSITIVE_PLACEHOLDERS,
    PROMPT_PRIORITY,
    Prompt,
    compose_prompt,
    default_record,
    estimate_tokens,
    set_path,
    validate_record,
)
from tests.fixtures.records import filled_record


def mara() -> dict:
    record = default_record("Mara Quinn")
    record["face"] = {
        "eye_colour": "green",
        "face_shape": "heart",
        "jaw": "defined",
        "nose": "small upturned",
        "brows": "thick straight",
        "lips": "full lips",
        "skin_tone": {"label": "fair", "hex": "#f1d3c2"},
        "distinguishing_marks": [
            {"kind": "freckles", "placement": "across the nose", "description": "light"},
            {"kind": "scar", "placement": "left eyebrow"},
        ],
        "hair": {
            "colour_name": "copper red",
            "colour": "#b5562c",
            "length": "mid-back",
            "style": "loose curls",
        },
        "apparent_age": {"min": 28, "max": 28},
    }
    record["wardrobe"] = {
        "outfits": [
            {
                "name": "field",
                "garments": [
                    {"item": "wax jacket", "colour": "#556b2f", "material": "waxed cotton"},
                    {"item": "boots", "colour": "#3d2b1f"},
                ],
                "accessories": ["brass compass"],
            },
            {
                "name": "gala",
                "garments": [{"item": "gown", "colour": "#000080", "material": "silk"}],
                "accessories": ["pearl earrings"],
            },
        ],
        "default_outfit": "field",
        "rules": [
            {"kind": "always", "subject": "silver locket"},
            {"kind": "never", "subject": "baseball cap"},
            {"kind": "only-with", "subject": "long gloves", "object": "gown"},
        ],
    }
    record["lighting"] = {
        "key_direction": "left",
        "colour_temperature_k": 3200,
        "contrast_ratio": 4,
        "mood": "moody",
        "allowed_setups": ["rembrandt", "golden hour"],
    }
    record["posture"] = {
        "default_stance": "contrapposto",
        "head_tilt_deg": -8,
        "expression_range": ["calm", "wry smile"],
    }
    record["style"] = {
        "medium": "cinematic still",
        "lens_mm": 50,
        "aperture": "f/1.8",
        "camera": "Kodak Portra 400",
    }
    record["negative_traits"] = ["blurry", "extra fingers"]
    return record


def with_templates(record: dict, positive: str, negative: str = "") -> dict:
    return set_path(record, "prompt_template", {"positive": positive, "negative": negative})


def words(text: str) -> int:
    """A token counter for tests: one token a word."""
    return len(text.replace(",", " ").split())


MARA_POSITIVE = (
    "ohwx_maraquinn, portrait of Mara Quinn, climbing a rocky ridge, 28 years old, green eyes, "
    "heart face, defined jaw, small upturned nose, thick straight brows, full lips, fair skin, "
    "copper red mid-back-length hair, loose curls, light freckles across the nose, "
    "scar on left eyebrow, wearing olive green waxed cotton wax jacket, dark brown boots, "
    "brass compass, silver locket, rembrandt lighting, "
    "key light from the left, warm 3200K light, moderate contrast, moody, contrapposto, "
    "head tilted slightly to the left, calm expression, cinematic still, 50mm lens, f/1.8, "
    "shot on Kodak Portra 400"
)


# --------------------------------------------------------------------------- pinned outputs


def test_pinned_prompt_with_action_and_default_outfit():
    prompt = compose_prompt(mara(), "  climbing a   rocky ridge ", count_tokens=words)
    assert prompt == Prompt(
        positive=MARA_POSITIVE,
        negative="blurry, extra fingers, baseball cap",
        tokens=words(MARA_POSITIVE),
        negative_tokens=5,
        dropped=(),
        estimated=False,
        budget=None,
        lighting_setup="rembrandt",
    )


def test_pinned_prompt_with_another_outfit():
    prompt = compose_prompt(mara(), outfit="gala")
    assert prompt.positive == (
        "ohwx_maraquinn, portrait of Mara Quinn, 28 years old, green eyes, heart face, "
        "defined jaw, small upturned nose, thick straight brows, full lips, fair skin, "
        "copper red mid-back-length hair, loose curls, light freckles across the nose, "
        "scar on left eyebrow, wearing navy blue silk gown, pearl earrings, silver locket, "
        "long gloves, rembrandt lighting, key light from the left, warm 3200K light, "
        "moderate contrast, moody, contrapposto, head tilted slightly to the left, "
        "calm expression, cinematic still, 50mm lens, f/1.8, shot on Kodak Portra 400"
    )
    assert prompt.negative == "blurry, extra fingers, baseball cap"


def test_the_default_template_reads_in_priority_order():
    positive = default_record("Ada")["prompt_template"]["positive"]
    placeholders = [p.strip(" {}") for p in positive.replace("portrait of", "").split(",")]
    placeholders = [p.replace("wearing ", "").strip("{}") for p in placeholders]
    assert placeholders == list(PROMPT_PRIORITY)


def test_pinned_prompt_of_a_new_persona_says_only_who_it_is():
    prompt = compose_prompt(default_record("Ada"), "reading")
    assert (prompt.positive, prompt.negative) == ("ohwx_ada, portrait of Ada, reading", "")
    assert prompt.negative_tokens == 0 and prompt.lighting_setup is None
    words = (prompt.positive + prompt.negative).lower()
    old_defaults = ("t-shirt", "jeans", "5600", "natural light", "soft natural", "brown eyes",
                    "85mm", "photograph", "blurry", "standing relaxed", "years old")  # fmt: skip
    for old_default in old_defaults:
        assert old_default not in words, old_default


# --------------------------------------------------------------------------- unset fields


def test_unset_fields_are_skipped_without_stray_words():
    record = default_record("Ada")
    record["face"] = {"hair": {"colour": "#b5562c"}, "apparent_age": {"min": 30}}
    record["wardrobe"] = {
        "outfits": [{"name": "coat", "garments": [{"item": "trench coat"}]}],
        "rules": [{"kind": "never", "subject": "hats"}],
    }
    record["lighting"] = {"mood": "noir"}
    record["posture"] = {"head_tilt_deg": 15}
    record["style"] = {"lens_mm": 35}
    prompt = compose_prompt(record)
    assert (prompt.positive, prompt.negative) == (
        "ohwx_ada, portrait of Ada, at least 30 years old, copper red hair, noir mood, "
        "head tilted to the right, 35mm lens",
        "hats",
    )
    dressed = compose_prompt(record, outfit="coat").positive
    assert "copper red hair, wearing trench coat, noir mood" in dressed
    for text in (prompt.positive, dressed):
        assert "None" not in text and ",," not in text.replace(" ", "") and "wearing," not in text
        assert "wearing" not in text or "wearing trench coat" in text


def test_each_placeholder_of_a_new_persona_is_empty_and_its_phrase_goes():
    record = default_record("Ada")
    for name in POSITIVE_PLACEHOLDERS:
        if name in ("trigger", "name", "action"):
            continue
        template = f"{{trigger}}, with {{{name}}} here, {{action}}"
        assert compose_prompt(with_templates(record, template), "x").positive == "ohwx_ada, x"


@pytest.mark.parametrize(
    ("age", "words"),
    [({"min": 30, "max": 40}, "30-40 years old"), ({"min": 30}, "at least 30 years old"),
     ({"max": 40}, "at most 40 years old"), ({}, "")],
)  # fmt: skip
def test_an_age_range_may_have_one_end(age, words):
    record = set_path(default_record("Ada"), "face", {"apparent_age": age})
    assert compose_prompt(with_templates(record, "{trigger}, {age}")).positive == ", ".join(
        w for w in ("ohwx_ada", words) if w
    )


def test_a_named_outfit_on_a_persona_with_no_wardrobe_says_so():
    with pytest.raises(NotFoundError, match="Ada has no outfits yet, so none is called 'gala'"):
        compose_prompt(default_record("Ada"), outfit="gala")


def test_no_default_outfit_wears_nothing_but_the_always_items():
    record = mara()
    del record["wardrobe"]["default_outfit"]
    positive = compose_prompt(with_templates(record, "{trigger}, wearing {outfit}")).positive
    assert positive == "ohwx_maraquinn, wearing silver locket"
    record["wardrobe"]["rules"] = []
    positive = compose_prompt(with_templates(record, "{trigger}, wearing {outfit}")).positive
    assert positive == "ohwx_maraquinn"


# --------------------------------------------------------------------------- rules


def test_same_input_same_output():
    assert compose_prompt(mara(), "x") == compose_prompt(copy.deepcopy(mara()), "x")


def test_compose_does_not_change_the_record():
    record = mara()
    before = copy.deepcopy(record)
    compose_prompt(record, "running", outfit="gala")
    assert record == before


def test_empty_parts_leave_no_stray_commas_or_spaces():
    record = with_templates(
        mara(),
        " , {trigger} ,,  {marks}, ,{action},   {name}   in  rain ,, ",
        " ,{wardrobe_never}, ",
    )
    record = set_path(record, "face.distinguishing_marks", [])
    prompt = compose_prompt(record, "   ")
    assert prompt.positive == "ohwx_maraquinn, Mara Quinn in rain"
    assert prompt.negative == "baseball cap, blurry, extra fingers"


def test_case_insensitive_duplicates_are_dropped_keeping_the_first():
    record = with_templates(mara(), "Masterpiece, {trigger}, masterpiece, {action}")
    assert compose_prompt(record, "OHWX_MARAQUINN, running, MASTERPIECE").positive == (
        "Masterpiece, ohwx_maraquinn, running"
    )
    record = set_path(mara(), "negative_traits", ["Baseball Cap", "blurry"])
    assert compose_prompt(record).negative == "Baseball Cap, blurry"


def test_action_goes_where_the_placeholder_is():
    record = with_templates(mara(), "{action}, {trigger}")
    assert compose_prompt(record, "  jumping ").positive == "jumping, ohwx_maraquinn"


def test_action_is_appended_when_the_template_lacks_it():
    record = with_templates(mara(), "{trigger}, {name}")
    assert compose_prompt(record, " jumping ").positive == "ohwx_maraquinn, Mara Quinn, jumping"
    assert compose_prompt(record).positive == "ohwx_maraquinn, Mara Quinn"


def test_never_rules_go_to_the_negative_prompt_only():
    record = with_templates(mara(), "{outfit}", "{wardrobe_never}, {negative_traits}")
    prompt = compose_prompt(record)
    assert prompt.negative == "baseball cap, blurry, extra fingers"
    assert "baseball cap" not in prompt.positive


def test_always_rules_are_added_to_every_outfit_once():
    record = with_templates(mara(), "{outfit}")
    assert compose_prompt(record, outfit="field").positive.endswith("silver locket")
    assert compose_prompt(record, outfit="gala").positive.count("silver locket") == 1
    worn = set_path(record, "wardrobe.outfits[0].accessories[1]", "Silver Locket")
    assert compose_prompt(worn).positive == (
        "olive green waxed cotton wax jacket, dark brown boots, brass compass, Silver Locket"
    )


def test_only_with_adds_its_subject_only_when_the_object_is_worn():
    record = with_templates(mara(), "{outfit}")
    assert "long gloves" not in compose_prompt(record, outfit="field").positive
    assert compose_prompt(record, outfit="gala").positive == (
        "navy blue silk gown, pearl earrings, silver locket, long gloves"
    )
    # An accessory or an always-item counts as worn too.
    rule = {"kind": "only-with", "subject": "map case", "object": "Brass Compass"}
    record = set_path(record, "wardrobe.rules[3]", rule)
    assert compose_prompt(record, outfit="field").positive.endswith("silver locket, map case")


def test_negative_traits_are_appended_when_the_template_omits_them():
    record = with_templates(mara(), "{trigger}", "lowres")
    assert compose_prompt(record).negative == "lowres, blurry, extra fingers, baseball cap"
    record = with_templates(mara(), "{trigger}", "")
    assert compose_prompt(record).negative == "blurry, extra fingers, baseball cap"


def test_unknown_outfit_names_the_outfits_that_exist():
    with pytest.raises(NotFoundError) as info:
        compose_prompt(mara(), outfit="swimwear")
    message = str(info.value)
    assert "'swimwear'" in message and "'field'" in message and "'gala'" in message


def test_outfit_name_ignores_case_and_blank_means_default():
    assert compose_prompt(mara(), outfit="GALA") == compose_prompt(mara(), outfit="gala")
    assert compose_prompt(mara(), outfit=" ") == compose_prompt(mara())


def test_hex_colours_become_colour_words():
    record = with_templates(mara(), "{outfit}, {face}")
    record = set_path(record, "wardrobe.outfits[0].garments[0].colour", "#ff0000")
    record = set_path(record, "face.skin_tone.label", "")
    positive = compose_prompt(record).positive
    assert positive.startswith("red waxed cotton wax jacket, dark brown boots")
    assert "#" not in positive
    assert positive.endswith("skin") and "fair" not in positive


def test_each_positive_placeholder_fills_in():
    record = mara()
    expected = {
        "trigger": "ohwx_maraquinn",
        "name": "Mara Quinn",
        "age": "28 years old",
        "hair": "copper red mid-back-length hair, loose curls",
        "marks": "light freckles across the nose, scar on left eyebrow",
        "posture": "contrapposto, head tilted slightly to the left, calm expression",
        "style": "cinematic still, 50mm lens, f/1.8, shot on Kodak Portra 400",
        "lighting": "rembrandt lighting, key light from the left, warm 3200K light, "
        "moderate contrast, moody",
    }
    for name, text in expected.items():
        assert compose_prompt(with_templates(record, f"{{{name}}}"), "").positive == text, name
    assert set(expected) | {"face", "outfit", "action"} == set(POSITIVE_PLACEHOLDERS)
    assert set(NEGATIVE_PLACEHOLDERS) == {"negative_traits", "wardrobe_never"}


@pytest.mark.parametrize(
    ("kelvin", "words"),
    [(1900, "very warm 1900K light"), (3200, "warm 3200K light"), (5600, "daylight 5600K light"),
     (7000, "cool 7000K light"), (10000, "very cool 10000K light")],
)  # fmt: skip
def test_colour_temperature_in_words(kelvin, words):
    record = set_path(with_templates(mara(), "{lighting}"), "lighting.colour_temperature_k", kelvin)
    assert words in compose_prompt(record).positive.split(", ")


def test_age_range_and_head_tilt_wording():
    record = with_templates(mara(), "{age}, {posture}")
    record = set_path(record, "face.apparent_age", {"min": 30, "max": 40})
    record = set_path(record, "posture.head_tilt_deg", 20)
    assert compose_prompt(record).positive == (
        "30-40 years old, contrapposto, head tilted to the right, calm expression"
    )
    record = set_path(record, "posture.head_tilt_deg", 1.5)
    assert compose_prompt(record).positive == "30-40 years old, contrapposto, calm expression"


def test_an_invalid_record_is_refused():
    record = with_templates(mara(), "{trigger}, {haircut}")
    with pytest.raises(InvalidRecordError):
        compose_prompt(record)


# --------------------------------------------------------------------------- lighting setup


def test_a_shot_uses_one_lighting_setup_the_first_allowed_by_default():
    record = with_templates(mara(), "{lighting}")
    first = compose_prompt(record)
    assert first.lighting_setup == "rembrandt"
    assert first.positive.startswith("rembrandt lighting, key light from the left")
    assert "golden hour" not in first.positive
    golden = compose_prompt(record, lighting_setup=" Golden  Hour ")
    assert golden.lighting_setup == "golden hour"
    assert golden.positive.startswith("golden hour light, key light from the left")
    assert "rembrandt" not in golden.positive


def test_a_lighting_setup_that_is_not_allowed_names_the_allowed_ones():
    with pytest.raises(NotFoundError) as info:
        compose_prompt(mara(), lighting_setup="neon")
    assert info.value.message == (
        "'neon' is not one of Mara Quinn's lighting setups. "
        "The allowed ones are: 'rembrandt', 'golden hour'."
    )
    assert "Allowed setups" in info.value.hint
    with pytest.raises(NotFoundError, match="Ada allows no lighting setups yet, so 'rim'"):
        compose_prompt(default_record("Ada"), lighting_setup="rim")
    assert compose_prompt(default_record("Ada"), lighting_setup=" ").lighting_setup is None


# --------------------------------------------------------------------------- token budget


def test_a_token_budget_drops_the_lowest_priority_phrases_first():
    full = compose_prompt(mara(), "climbing a rocky ridge", count_tokens=words)
    assert full.tokens == words(MARA_POSITIVE) and full.dropped == ()
    fitted = compose_prompt(
        mara(), "climbing a rocky ridge", token_budget=full.tokens - 10, count_tokens=words
    )
    # The style ranks last: its phrases go, the last first, until ten words are freed.
    assert fitted.dropped == ("shot on Kodak Portra 400", "f/1.8", "50mm lens", "cinematic still")
    assert fitted.positive == MARA_POSITIVE.removesuffix(
        ", cinematic still, 50mm lens, f/1.8, shot on Kodak Portra 400"
    )
    assert (fitted.tokens, fitted.budget, fitted.estimated) == (
        full.tokens - 10,
        full.tokens - 10,
        False,
    )
    assert fitted.negative == full.negative


def test_the_default_template_keeps_the_longest_fitting_start_at_every_budget():
    full = compose_prompt(mara(), "climbing a rocky ridge", count_tokens=words)
    phrases = full.positive.split(", ")
    for budget in range(1, full.tokens + 2):
        fitted = compose_prompt(
            mara(), "climbing a rocky ridge", token_budget=budget, count_tokens=words
        )
        kept = fitted.positive.split(", ")
        # Phrases in priority order: a fitted prompt is the full one cut short, no shorter.
        assert kept == phrases[: len(kept)], budget
        assert fitted.tokens == words(fitted.positive) <= budget
        assert len(kept) == len(phrases) or words(", ".join(phrases[: len(kept) + 1])) > budget
        assert fitted.dropped == tuple(reversed(phrases[len(kept) :])), budget


def test_the_budget_drops_by_priority_wherever_the_template_puts_a_phrase():
    record = with_templates(mara(), "{trigger}, {style}, masterpiece, portrait of {name}, {face}")
    prompt = compose_prompt(record, "running", token_budget=12, count_tokens=words)
    # The style and a phrase without placeholders rank last, then the face from its end; the
    # shot's action ranks with who she is.
    assert prompt.positive == (
        "ohwx_maraquinn, portrait of Mara Quinn, green eyes, heart face, defined jaw, running"
    )
    assert prompt.dropped[:5] == (
        "masterpiece",
        "shot on Kodak Portra 400",
        "f/1.8",
        "50mm lens",
        "cinematic still",
    )
    assert "running" not in prompt.dropped
    assert prompt.dropped[-1] == "small upturned nose"


def test_the_trigger_token_always_stays_and_a_budget_too_small_for_it_is_refused():
    prompt = compose_prompt(mara(), "running", token_budget=1, count_tokens=words)
    assert prompt.positive == "ohwx_maraquinn" and prompt.tokens == 1
    assert prompt.negative == "blurry, extra fingers, baseball cap"  # never cut
    assert len(prompt.dropped) == len(MARA_POSITIVE.split(", ")) - 1
    with pytest.raises(StudioError, match="cannot hold even the trigger token 'ohwx_maraquinn'"):
        compose_prompt(mara(), token_budget=2, count_tokens=lambda text: 3 * words(text))
    with pytest.raises(StudioError, match="A token budget of 0 leaves no room"):
        compose_prompt(mara(), token_budget=0)


def test_without_a_counter_the_counts_are_an_estimate():
    prompt = compose_prompt(mara(), token_budget=DEFAULT_TOKEN_BUDGET)
    assert prompt.estimated and prompt.budget == DEFAULT_TOKEN_BUDGET == 150
    assert prompt.tokens == estimate_tokens(prompt.positive) <= DEFAULT_TOKEN_BUDGET
    assert prompt.negative_tokens == estimate_tokens(prompt.negative) > 0
    assert compose_prompt(mara(), count_tokens=words).estimated is False


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a photo of a cat", 6), ("3200K", 5), ("f/1.8", 5), ("ohwx_nova", 3),
     ("it's", 2), ("photograph", 3), ("lips), with", 3)],
)  # fmt: skip
def test_the_estimate_counts_digits_and_punctuation_one_by_one_and_long_words_high(text, tokens):
    assert estimate_tokens(text) == tokens


def test_a_repeated_phrase_keeps_its_first_place_and_its_better_rank():
    record = with_templates(mara(), "{trigger}, {style}, {lighting}, {name}")
    prompt = compose_prompt(record, "cinematic still", token_budget=5, count_tokens=words)
    # Said by the style and by the action: it stays where the style put it, ranked as the
    # action, so every lighting phrase goes before it.
    assert prompt.positive == "ohwx_maraquinn, cinematic still, Mara Quinn"
    assert prompt.dropped[:3] == ("shot on Kodak Portra 400", "f/1.8", "50mm lens")
    assert prompt.dropped[-1] == "rembrandt lighting"


# --------------------------------------------------------------------------- wording


@pytest.mark.parametrize(
    ("field", "text", "phrase"),
    [
        ("lips", "full with a wide smile", "full lips with a wide smile"),
        ("lips", "parted in a soft smile", "lips parted in a soft smile"),
        ("lips", "thin, pressed together", "thin lips, pressed together"),
        ("lips", "full lips", "full lips"),
        ("lips", "wide mouth", "wide mouth"),
        ("nose", "straight with a narrow bridge", "straight nose with a narrow bridge"),
        ("nose", "slightly crooked to the left", "nose slightly crooked to the left"),
        ("nose", "small upturned", "small upturned nose"),
        ("nose", "Roman nose", "Roman nose"),
        ("brows", "softly arched light brown", "softly arched light brown brows"),
        ("brows", "thick, slightly raised at the ends", "thick brows, slightly raised at the ends"),
        ("brows", "thick slightly raised at the ends", "thick brows slightly raised at the ends"),
        ("brows", "arched toward the temples", "brows arched toward the temples"),
        ("brows", "bushy eyebrows", "bushy eyebrows"),
    ],
)
def test_a_face_field_gets_its_noun_where_english_puts_it(field, text, phrase):
    record = with_templates(set_path(default_record("Ada"), "face", {field: text}), "{face}")
    assert compose_prompt(record).positive == phrase.replace(", ", ",").replace(",", ", ")


@pytest.mark.parametrize(
    ("skin", "phrase"),
    [("fair with warm undertone", "fair skin with warm undertone"),
     ("deep brown with cool undertones", "deep brown skin with cool undertones"),
     ("olive complexion", "olive complexion"), ("porcelain", "porcelain skin")],
)  # fmt: skip
def test_the_skin_tone_reads_as_english(skin, phrase):
    record = set_path(default_record("Ada"), "face", {"skin_tone": {"label": skin}})
    assert compose_prompt(with_templates(record, "{face}")).positive == phrase


@pytest.mark.parametrize(
    ("mood", "expression", "lighting", "posture"),
    [
        ("dark and brooding", "calm", "dark and brooding mood", "calm expression"),
        ("warm evening in the city", "wry smile", "warm evening mood in the city", "wry smile"),
        ("moody", "smiling with her eyes", "moody", "smiling with her eyes"),
        ("noir, with hard shadows", "quietly confident", "noir mood, with hard shadows",
         "quietly confident expression"),
    ],
)  # fmt: skip
def test_mood_and_expression_read_as_english(mood, expression, lighting, posture):
    record = set_path(default_record("Ada"), "lighting", {"mood": mood})
    record = set_path(record, "posture", {"expression_range": [expression, "frown"]})
    prompt = compose_prompt(with_templates(record, "{lighting}, {posture}")).positive
    assert prompt == f"{lighting}, {posture}"


@pytest.mark.parametrize(
    ("mark", "phrase"),
    [
        ({"kind": "dimple", "placement": "both cheeks", "description": "when smiling"},
         "dimple on both cheeks when smiling"),
        ({"kind": "mole", "placement": "above the lip", "description": "small dark"},
         "small dark mole above the lip"),
        ({"kind": "scar", "placement": "left eyebrow", "description": "thin, running through it"},
         "thin scar on left eyebrow, running through it"),
        ({"kind": "tattoo", "placement": "inner left wrist",
          "description": "small swallow tattoo with fine linework"},
         "small swallow tattoo on inner left wrist with fine linework"),
        ({"kind": "freckles", "placement": "across the nose",
          "description": "freckles that fade in winter"},
         "freckles across the nose that fade in winter"),
        ({"kind": "other", "placement": "left cheek", "description": "port-wine stain"},
         "port-wine stain on left cheek"),
        ({"kind": "other", "placement": "chin"}, "mark on chin"),
    ],
)  # fmt: skip
def test_a_mark_reads_as_english(mark, phrase):
    record = set_path(default_record("Ada"), "face", {"distinguishing_marks": [mark]})
    assert compose_prompt(with_templates(record, "{marks}")).positive == phrase.replace(
        ", ", ","
    ).replace(",", ", ")


def test_an_always_item_already_worn_in_other_words_is_not_repeated():
    record = with_templates(mara(), "{outfit}")
    record = set_path(record, "wardrobe.outfits[0].accessories", ["silver lockets on a chain"])
    positive = compose_prompt(record).positive
    assert positive.endswith("brown boots, silver lockets on a chain")
    assert positive.count("locket") == 1


# --------------------------------------------------------------------------- contradictions


def issues_of(record: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for issue in validate_record(record):
        out.setdefault(issue.path, []).append(issue.message)
    return out


def test_a_negative_trait_that_rules_out_the_eye_colour_names_both_fields():
    record = set_path(mara(), "face.eye_colour", "blue")
    record = set_path(record, "negative_traits[2]", "Blue eyes")
    issues = issues_of(record)
    assert set(issues) == {"face.eye_colour", "negative_traits[2]"}
    message = (
        "Never show 'Blue eyes' contradicts the eye colour 'blue': the prompt would ask for it "
        "and against it; remove one of them"
    )
    assert issues["face.eye_colour"] == issues["negative_traits[2]"] == [message]
    with pytest.raises(InvalidRecordError, match="Never show 'Blue eyes' contradicts"):
        compose_prompt(record)


@pytest.mark.parametrize(
    ("path", "value", "trait", "field"),
    [
        ("face.hair.colour_name", "honey brown", "brown hair", "face.hair.colour_name"),
        ("face.hair.colour_name", "platinum blond", "blonde hair", "face.hair.colour_name"),
        ("face.hair.length", "waist", "long hair", "face.hair.length"),
        ("face.hair.length", "pixie", "short hair", "face.hair.length"),
        ("face.hair.length", "shaved", "bald", "face.hair.length"),
        ("face.hair.style", "loose curls", "curls", "face.hair.style"),
        ("face.lips", "full with a wide smile", "wide smile", "face.lips"),
        ("face.distinguishing_marks[0].kind", "tattoo", "tattoos",
         "face.distinguishing_marks[0].kind"),
        ("wardrobe.outfits[0].accessories[0]", "gold hoop earrings", "hoop earring",
         "wardrobe.outfits[0].accessories[0]"),
        ("wardrobe.outfits[0].garments[0].item", "wool beanie", "beanie",
         "wardrobe.outfits[0].garments[0].item"),
        ("wardrobe.outfits[0].garments[0].material", "leather", "leather",
         "wardrobe.outfits[0].garments[0].item"),
        ("wardrobe.rules[0].subject", "red scarf", "scarf", "wardrobe.rules[0].subject"),
        ("lighting.allowed_setups[1]", "neon", "neon lighting", "lighting.allowed_setups[1]"),
        ("style.medium", "anime", "anime", "style.medium"),
    ],
)  # fmt: skip
def test_a_negative_trait_contradicting_what_the_prompt_asks_for_is_an_issue(
    path, value, trait, field
):
    record = set_path(mara(), path, value)
    assert validate_record(record) == []
    record = set_path(record, "negative_traits[2]", trait)
    issues = issues_of(record)
    assert set(issues) == {field, "negative_traits[2]"}, issues
    assert issues[field][0].startswith(f"Never show '{trait}' contradicts the ")


def test_a_never_rule_that_names_a_worn_item_or_an_always_rule_is_an_issue():
    record = set_path(mara(), "wardrobe.rules[1].subject", "boots")  # never boots; field wears them
    issues = issues_of(record)
    assert set(issues) == {"wardrobe.rules[1].subject", "wardrobe.outfits[0].garments[1].item"}
    assert issues["wardrobe.rules[1].subject"] == [
        "the never rule 'boots' contradicts the garment 'boots' of outfit 'field': the prompt "
        "would ask for it and against it; remove one of them"
    ]
    record = set_path(mara(), "wardrobe.rules[1].subject", "Silver Locket")
    assert set(issues_of(record)) == {"wardrobe.rules[0].subject", "wardrobe.rules[1].subject"}


@pytest.mark.parametrize(
    ("path", "value", "trait"),
    [
        ("face.eye_colour", "brown", "dark brown eyes"),  # more particular than the eyes asked for
        ("face.hair.length", "chin", "long hair"),
        ("face.hair.length", "shoulder", "short hair"),
        ("wardrobe.outfits[0].garments[0].item", "cap", "baseball cap"),
        ("face.hair.colour_name", "brown", "brown eyes"),
        ("face.lips", "the colour of ripe plums", "smudged lipstick"),
    ],
)
def test_a_negative_trait_that_asks_for_something_else_is_no_issue(path, value, trait):
    record = set_path(set_path(mara(), path, value), "negative_traits[2]", trait)
    assert validate_record(record) == []


def test_shipped_and_filled_records_have_no_contradictions():
    from studio.core.resources import load_json

    for record in (
        mara(),
        filled_record(),
        load_json("demo/nova.v1.json"),
        load_json("demo/nova.v2.json"),
    ):
        assert validate_record(record) == [], record["identity"]["name"]


def test_a_record_of_the_wrong_shape_gets_schema_issues_not_a_crash():
    record = set_path(mara(), "negative_traits", [5, "green eyes"])
    record = set_path(record, "face.distinguishing_marks[0]", {"kind": "scar"})
    paths = {issue.path for issue in validate_record(record)}
    assert "negative_traits[0]" in paths and "face.distinguishing_marks[0].placement" in paths
