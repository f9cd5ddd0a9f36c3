"""Prompt composition from a persona record and a shot's action text."""

from __future__ import annotations

import copy

import pytest

from studio.core.errors import InvalidRecordError, NotFoundError
from studio.core.persona import (
    NEGATIVE_PLACEHOLDERS,
    POSITIVE_PLACEHOLDERS,
    Prompt,
    compose_prompt,
    default_record,
    set_path,
)


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


# --------------------------------------------------------------------------- pinned outputs


def test_pinned_prompt_with_action_and_default_outfit():
    prompt = compose_prompt(mara(), "  climbing a   rocky ridge ")
    assert prompt == Prompt(
        positive=(
            "ohwx_maraquinn, cinematic still, 50mm lens, f/1.8, shot on Kodak Portra 400, "
            "portrait of Mara Quinn, 28 years old, green eyes, heart face, defined jaw, "
            "small upturned nose, thick straight brows, full lips, fair skin, "
            "copper red mid-back-length hair, loose curls, light freckles across the nose, "
            "scar on left eyebrow, wearing olive green waxed cotton wax jacket, "
            "dark brown boots, brass compass, silver locket, contrapposto, "
            "head tilted slightly to the left, calm expression, climbing a rocky ridge, "
            "rembrandt lighting, golden hour light, key light from the left, "
            "warm 3200K light, moderate contrast, moody"
        ),
        negative="blurry, extra fingers, baseball cap",
    )


def test_pinned_prompt_with_another_outfit():
    prompt = compose_prompt(mara(), outfit="gala")
    assert prompt.positive == (
        "ohwx_maraquinn, cinematic still, 50mm lens, f/1.8, shot on Kodak Portra 400, "
        "portrait of Mara Quinn, 28 years old, green eyes, heart face, defined jaw, "
        "small upturned nose, thick straight brows, full lips, fair skin, "
        "copper red mid-back-length hair, loose curls, light freckles across the nose, "
        "scar on left eyebrow, wearing navy blue silk gown, pearl earrings, silver locket, "
        "long gloves, contrapposto, head tilted slightly to the left, calm expression, "
        "rembrandt lighting, golden hour light, key light from the left, warm 3200K light, "
        "moderate contrast, moody"
    )
    assert prompt.negative == "blurry, extra fingers, baseball cap"


def test_pinned_prompt_of_a_new_persona_says_only_who_it_is():
    prompt = compose_prompt(default_record("Ada"), "reading")
    assert prompt == Prompt(positive="ohwx_ada, portrait of Ada, reading", negative="")
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
    assert prompt == Prompt(
        positive=(
            "ohwx_ada, 35mm lens, portrait of Ada, at least 30 years old, copper red hair, "
            "head tilted to the right, noir mood"
        ),
        negative="hats",
    )
    dressed = compose_prompt(record, outfit="coat").positive
    assert "wearing trench coat, head tilted" in dressed
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
        "lighting": "rembrandt lighting, golden hour light, key light from the left, "
        "warm 3200K light, moderate contrast, moody",
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
