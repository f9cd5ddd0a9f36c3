"""The persona record: defaults, validation, JSON, paths and diffs."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from studio.core.colours import colour_name, hex_to_rgb, is_hex
from studio.core.errors import InvalidRecordError
from studio.core.persona import (
    SCHEMA_VERSION,
    FieldChange,
    RecordIssue,
    check_record,
    default_record,
    delete_path,
    diff_records,
    format_path,
    get_path,
    parse_path,
    record_from_json,
    record_to_json,
    schema,
    set_path,
    unset_path,
    validate_record,
)
from tests.fixtures.records import filled_record


def issues_at(record: dict, path: str) -> list[str]:
    return [i.message for i in validate_record(record) if i.path == path]


# --------------------------------------------------------------------------- defaults


def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION == 1


def test_schema_returns_a_copy():
    schema()["properties"].clear()
    assert "identity" in schema()["properties"]


@pytest.mark.parametrize(
    "name", ["Ada", "Ada Lovelace", "É", "42", "李小龙", "Zoë-Jane O'Neil", "x"]
)
def test_default_record_validates(name):
    record = default_record(name)
    assert validate_record(record) == []
    assert record["identity"]["name"] == name


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("Ada", "ohwx_ada"),
        ("Ada Lovelace", "ohwx_adalovelace"),
        ("É", "ohwx_e"),
        ("42", "ohwx_42"),
        ("Zoë-Jane", "ohwx_zoejane"),
        ("n" * 80, "ohwx_" + "n" * 27),
    ],
)
def test_trigger_token_from_name(name, token):
    assert default_record(name)["identity"]["trigger_token"] == token


def test_trigger_token_for_a_name_without_latin_letters_is_distinct_and_stable():
    a, b = default_record("李"), default_record("王")
    assert a["identity"]["trigger_token"] != b["identity"]["trigger_token"]
    assert a["identity"]["trigger_token"] == default_record("李")["identity"]["trigger_token"]
    assert a["identity"]["trigger_token"].startswith("ohwx_")


def test_given_trigger_token_is_used_and_checked():
    assert default_record("Ada", "adaxyz")["identity"]["trigger_token"] == "adaxyz"
    with pytest.raises(InvalidRecordError) as info:
        default_record("Ada", "Ada!")
    assert [i.path for i in info.value.issues] == ["identity.trigger_token"]


def test_seed_base_is_deterministic_and_differs_by_name():
    seeds = {default_record(n)["identity"]["seed_base"] for n in ["Ada", "Bea", "Cy"]}
    assert len(seeds) == 3
    assert (
        default_record("Ada")["identity"]["seed_base"]
        == default_record("Ada")["identity"]["seed_base"]
    )
    assert all(0 <= s <= 4294967295 for s in seeds)


def test_default_record_strips_and_refuses_a_blank_name():
    assert default_record("  Ada  ")["identity"]["name"] == "Ada"
    with pytest.raises(InvalidRecordError) as info:
        default_record("   ")
    assert "identity.name" in [i.path for i in info.value.issues]


def test_a_new_persona_holds_only_who_it_is():
    record = default_record("Ada")
    assert list(record) == ["schema_version", "identity", "prompt_template"]
    assert list(record["identity"]) == ["name", "trigger_token", "seed_base"]
    for section in ("face", "wardrobe", "lighting", "posture", "style", "negative_traits"):
        assert section not in record, section
    assert "None" not in record_to_json(record) and "null" not in record_to_json(record)


def test_the_schema_itself_accepts_a_minimal_and_a_partly_set_record():
    validator = Draft202012Validator(schema())
    validator.validate(default_record("Ada"))
    partly = {
        **default_record("Bea"),
        "face": {"eye_colour": "green", "hair": {"colour": "#aa0000"}},
        "wardrobe": {"outfits": [{"name": "coat", "garments": [{"item": "coat"}]}]},
        "lighting": {"mood": "noir"},
        "posture": {},
    }
    validator.validate(partly)
    assert validate_record(partly) == []


def test_null_is_not_a_second_way_to_leave_a_field_unset():
    record = set_path(default_record("Ada"), "face", {"eye_colour": None, "jaw": "soft"})
    assert validate_record(record) == [
        RecordIssue("face.eye_colour", "is null; leave the field out to leave it unset")
    ]


def test_a_default_outfit_needs_an_outfit_even_with_no_wardrobe_yet():
    record = set_path(default_record("Ada"), "wardrobe", {"default_outfit": "gala"})
    assert validate_record(record) == [
        RecordIssue("wardrobe.default_outfit", "'gala' is not one of the outfits (none yet)")
    ]


# --------------------------------------------------------------------------- validation


def test_wrong_enum_names_the_choices():
    record = set_path(filled_record(), "face.eye_colour", "purple")
    assert issues_at(record, "face.eye_colour") == [
        "'purple' is not one of: amber, blue, brown, dark brown, grey, green, hazel, violet, "
        "heterochromia"
    ]


@pytest.mark.parametrize(
    "path", ["face.hair.colour", "face.skin_tone.hex", "wardrobe.outfits[0].garments[1].colour"]
)
def test_bad_hex_is_reported_at_its_path(path):
    record = set_path(filled_record(), path, "#ff00")
    assert validate_record(record) == [RecordIssue(path, "'#ff00' is not a colour like #a1b2c3")]


def test_missing_required_field_is_reported_at_the_field():
    record = delete_path(filled_record(), "wardrobe.outfits[0].garments[1].item")
    record = delete_path(record, "identity.seed_base")
    assert validate_record(record) == [
        RecordIssue("identity.seed_base", "is missing"),
        RecordIssue("wardrobe.outfits[0].garments[1].item", "is missing"),
    ]


def test_extra_key_is_reported_at_the_key():
    record = set_path(filled_record(), "identity.nickname", "Addy")
    record = set_path(record, "odd key", 1)
    assert validate_record(record) == [
        RecordIssue("identity.nickname", "'nickname' is not a field here; remove it"),
        RecordIssue('["odd key"]', "'odd key' is not a field here; remove it"),
    ]


def test_only_with_rule_needs_an_object():
    record = set_path(
        filled_record(), "wardrobe.rules[0]", {"kind": "only-with", "subject": "gloves"}
    )
    assert validate_record(record) == [RecordIssue("wardrobe.rules[0].object", "is missing")]


def test_default_outfit_must_name_an_outfit():
    record = set_path(filled_record(), "wardrobe.default_outfit", "gala")
    assert validate_record(record) == [
        RecordIssue("wardrobe.default_outfit", "'gala' is not one of the outfits ('everyday')")
    ]


def test_outfit_names_must_differ():
    record = filled_record()
    twin = copy.deepcopy(record["wardrobe"]["outfits"][0])
    twin["name"] = "Everyday"
    record = set_path(record, "wardrobe.outfits[1]", twin)
    assert [i.path for i in validate_record(record)] == ["wardrobe.outfits[1].name"]


def test_age_min_must_not_exceed_max():
    record = set_path(filled_record(), "face.apparent_age", {"min": 40, "max": 30})
    assert validate_record(record) == [
        RecordIssue("face.apparent_age.min", "40 is more than the upper age 30; swap them")
    ]


def test_unknown_placeholder_is_reported():
    record = set_path(filled_record(), "prompt_template.positive", "{trigger}, {hiar}, {x}")
    messages = issues_at(record, "prompt_template.positive")
    assert len(messages) == 2
    assert messages[0] == "'{hiar}' is not a known placeholder; did you mean {hair}?"
    assert messages[1].startswith("'{x}' is not a known placeholder; use one of: {trigger},")


def test_placeholder_in_the_wrong_template_is_reported():
    record = set_path(filled_record(), "prompt_template.negative", "{negative_traits} {face}")
    assert validate_record(record) == [
        RecordIssue("prompt_template.negative", "'{face}' belongs in the positive template")
    ]


def test_wardrobe_rules_are_free_text():
    record = set_path(
        filled_record(),
        "wardrobe.rules",
        [
            {"kind": "never", "subject": "baseball cap"},
            {"kind": "always", "subject": "a silver locket"},
            {"kind": "only-with", "subject": "scarf", "object": "winter coat"},
        ],
    )
    assert validate_record(record) == []


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("face.apparent_age.max", 200, "must be at most 120 (is 200)"),
        ("style.lens_mm", "85", "expected a whole number, got text '85'"),
        ("style.aperture", "2.8", "'2.8' is not an aperture like f/2.8"),
        ("identity.name", "", "must not be empty"),
        ("identity.name", "   ", "must not be blank"),
        ("wardrobe.outfits[0].garments", [], "needs at least one item"),
        ("lighting.allowed_setups", ["rim", "rim"], "lists 'rim' more than once"),
        ("schema_version", 2, "version 2 records come from a newer Persona Studio; this one "
         "reads version 1"),
    ],
)  # fmt: skip
def test_common_errors_read_like_sentences(path, value, message):
    assert issues_at(set_path(filled_record(), path, value), path) == [message]


def test_not_a_record_at_all():
    assert validate_record([]) == [RecordIssue("$", "expected a group of fields, got a list []")]


def test_issues_come_in_field_order_and_are_deterministic():
    record = filled_record()
    record = set_path(record, "style.medium", "fresco")
    record = set_path(record, "identity.trigger_token", "X")
    record = set_path(record, "wardrobe.outfits[0].garments[1].colour", "blue")
    record = set_path(record, "face.hair.colour", "red")
    paths = [i.path for i in validate_record(record)]
    assert paths == [
        "identity.trigger_token",
        "face.hair.colour",
        "wardrobe.outfits[0].garments[1].colour",
        "style.medium",
    ]
    assert validate_record(record) == validate_record(copy.deepcopy(record))


def test_check_record_raises_with_source_and_returns_a_valid_record():
    record = filled_record()
    assert check_record(record) is record
    with pytest.raises(InvalidRecordError) as info:
        check_record(set_path(record, "face.jaw", "wobbly"), source="ada.json")
    assert "in ada.json" in str(info.value)
    assert info.value.issues[0].path == "face.jaw"


# --------------------------------------------------------------------------- JSON


def test_json_round_trip():
    record = filled_record("Zoë")
    text = record_to_json(record)
    assert text.endswith("}\n") and "Zoë" in text and '\n  "identity": {\n    "name"' in text
    assert record_from_json(text) == record


def test_record_to_json_uses_canonical_order():
    record = filled_record()
    shuffled = {k: record[k] for k in reversed(list(record))}
    shuffled["face"] = {k: record["face"][k] for k in reversed(list(record["face"]))}
    assert list(shuffled) != list(record)
    assert record_to_json(shuffled) == record_to_json(record)
    assert record_to_json(record) == json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def test_malformed_json_gives_line_and_column():
    with pytest.raises(InvalidRecordError) as info:
        record_from_json('{\n  "schema_version": 1,\n  "identity": }', source="bad.json")
    assert info.value.issues == [
        RecordIssue("$", "is not valid JSON: Expecting value at line 3, column 15")
    ]
    assert "bad.json" in str(info.value)


def test_valid_json_with_an_invalid_record_raises():
    text = record_to_json(set_path(filled_record(), "face.hair.length", "medium"))
    with pytest.raises(InvalidRecordError) as info:
        record_from_json(text)
    assert [i.path for i in info.value.issues] == ["face.hair.length"]


# --------------------------------------------------------------------------- paths


def test_parse_and_format_paths():
    assert parse_path("wardrobe.outfits[0].garments[1].colour") == [
        "wardrobe", "outfits", 0, "garments", 1, "colour",
    ]  # fmt: skip
    assert parse_path("$") == [] and parse_path("") == []
    assert parse_path('$["odd key"][2]') == ["odd key", 2]
    assert format_path(["wardrobe", "outfits", 0, "name"]) == "wardrobe.outfits[0].name"
    assert format_path([]) == "$"
    with pytest.raises(ValueError):
        parse_path("a..b")
    with pytest.raises(ValueError):
        parse_path("a[-1]")


def test_get_path():
    record = filled_record()
    assert get_path(record, "face.hair.length") == "shoulder"
    assert get_path(record, "wardrobe.outfits[0].garments[1].item") == "jeans"
    assert get_path(record, "$") is record
    assert get_path(record, "face.nope", None) is None
    with pytest.raises(KeyError):
        get_path(record, "face.nope")
    with pytest.raises(IndexError):
        get_path(record, "wardrobe.outfits[5]")


def test_set_path_returns_a_new_record_and_leaves_the_input_alone():
    record = filled_record()
    before = copy.deepcopy(record)
    new = set_path(record, "wardrobe.outfits[0].garments[0].colour", "#000000")
    assert record == before
    assert new["wardrobe"]["outfits"][0]["garments"][0]["colour"] == "#000000"
    assert new["face"] == record["face"] and new["face"] is not record["face"]


def test_set_path_appends_at_len_and_refuses_beyond():
    record = filled_record()
    new = set_path(record, "posture.expression_range[2]", "laughing")
    assert new["posture"]["expression_range"] == ["neutral", "soft smile", "laughing"]
    with pytest.raises(IndexError):
        set_path(record, "posture.expression_range[5]", "laughing")
    with pytest.raises(KeyError):
        set_path(record, "face.nothing.here", 1)


def test_set_path_copies_the_value():
    value = {"kind": "mole", "placement": "left cheek"}
    new = set_path(filled_record(), "face.distinguishing_marks[0]", value)
    value["placement"] = "chin"
    assert get_path(new, "face.distinguishing_marks[0].placement") == "left cheek"


def test_delete_path_removes_keys_and_list_items_without_mutating():
    record = filled_record()
    before = copy.deepcopy(record)
    no_desc = delete_path(record, "identity.description")
    assert "description" not in no_desc["identity"]
    one = delete_path(record, "posture.expression_range[0]")
    assert one["posture"]["expression_range"] == ["soft smile"]
    assert record == before
    with pytest.raises(KeyError):
        delete_path(record, "identity.nickname")
    with pytest.raises(IndexError):
        delete_path(record, "posture.expression_range[9]")


def test_set_path_can_create_the_unset_groups_on_the_way():
    record = default_record("Ada")
    with pytest.raises(KeyError):
        set_path(record, "face.hair.colour", "#aa0000")
    new = set_path(record, "face.hair.colour", "#aa0000", create=True)
    assert new["face"] == {"hair": {"colour": "#aa0000"}}
    outfit = {"name": "coat", "garments": [{"item": "coat"}]}
    new = set_path(record, "wardrobe.outfits[0]", outfit, create=True)
    assert new["wardrobe"] == {"outfits": [outfit]}
    assert "face" not in record and "wardrobe" not in record


def test_unset_path_takes_the_groups_it_empties_and_gives_back_the_record():
    record = default_record("Ada")
    hair = set_path(record, "face.hair.colour", "#aa0000", create=True)
    assert unset_path(hair, "face.hair.colour") == record
    outfit = {"name": "coat", "garments": [{"item": "coat"}], "accessories": ["scarf"]}
    dressed = set_path(record, "wardrobe.outfits[0]", outfit, create=True)
    assert unset_path(dressed, "wardrobe.outfits[0]") == record
    # A list item the artist made stays, and so does a list its item requires.
    assert unset_path(dressed, "wardrobe.outfits[0].accessories[0]")["wardrobe"]["outfits"] == [
        {"name": "coat", "garments": [{"item": "coat"}]}
    ]
    bare = unset_path(dressed, "wardrobe.outfits[0].garments[0]")
    assert bare["wardrobe"]["outfits"][0]["garments"] == []
    assert unset_path(record, "lighting.mood") == record  # already unset


# --------------------------------------------------------------------------- diff


def test_diff_of_equal_records_is_empty():
    assert diff_records(filled_record(), filled_record()) == []


def test_diff_changed_added_removed_leaves():
    a = filled_record()
    b = set_path(a, "face.hair.length", "waist")
    b = set_path(b, "identity.nickname", "Addy")
    b = delete_path(b, "identity.description")
    b = set_path(b, "wardrobe.outfits[0].garments[1].colour", "#000000")
    assert diff_records(a, b) == [
        FieldChange("identity.description", "removed", "", None),
        FieldChange("identity.nickname", "added", None, "Addy"),
        FieldChange("face.hair.length", "changed", "shoulder", "waist"),
        FieldChange("wardrobe.outfits[0].garments[1].colour", "changed", "#34568b", "#000000"),
    ]


def test_diff_lists_of_words_by_sequence_and_lists_of_groups_by_index():
    a = filled_record()
    b = set_path(a, "posture.expression_range[2]", "laughing")
    assert diff_records(a, b) == [
        FieldChange("posture.expression_range[2]", "added", None, "laughing")
    ]
    c = delete_path(a, "posture.expression_range[0]")
    assert diff_records(a, c) == [
        FieldChange("posture.expression_range[0]", "removed", "neutral", None)
    ]
    e = set_path(a, "negative_traits", ["tattoos", *a["negative_traits"]])
    assert diff_records(a, e) == [FieldChange("negative_traits[0]", "added", None, "tattoos")]
    f = set_path(a, "negative_traits[1]", "six fingers")
    assert diff_records(a, f) == [
        FieldChange("negative_traits[1]", "changed", a["negative_traits"][1], "six fingers")
    ]
    assert diff_records({"x": [1, 2]}, {"x": [True, 2]}) == [
        FieldChange("x[0]", "changed", 1, True)
    ]
    garment = {"item": "scarf", "colour": "#ff0000"}
    d = set_path(a, "wardrobe.outfits[0].garments[2]", garment)
    assert diff_records(a, d) == [
        FieldChange("wardrobe.outfits[0].garments[2]", "added", None, garment)
    ]


def test_diff_treats_a_flag_and_a_number_as_different():
    assert diff_records({"x": 1}, {"x": True}) == [FieldChange("x", "changed", 1, True)]
    assert diff_records({"x": 2}, {"x": 2.0}) == []


# --------------------------------------------------------------------------- colours


@pytest.mark.parametrize(
    ("hex_", "name"),
    [
        ("#ff0000", "red"),
        ("#000080", "navy blue"),
        ("#000000", "black"),
        ("#FFFFFF", "white"),
        ("#fffff0", "ivory"),
        ("#36454f", "charcoal"),
        ("#101010", "black"),
        ("#0000ff", "blue"),
        ("#50c878", "emerald green"),
        ("#cb6d51", "copper red"),
    ],
)
def test_colour_name(hex_, name):
    assert colour_name(hex_) == name


def test_colour_name_of_near_colours():
    assert "red" in colour_name("#e8100c")
    assert "blue" in colour_name("#0a0a8a")
    assert "green" in colour_name("#10a010")


def test_hex_helpers():
    assert hex_to_rgb("#a1B2c3") == (0xA1, 0xB2, 0xC3)
    assert is_hex("#a1b2c3") and not is_hex("#a1b2c") and not is_hex("a1b2c3") and not is_hex(3)
    with pytest.raises(ValueError):
        hex_to_rgb("#ff00")
    with pytest.raises(ValueError):
        colour_name("red")
