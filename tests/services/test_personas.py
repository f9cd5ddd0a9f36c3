import json

import pytest

from studio.core.errors import InvalidRecordError, NotFoundError, StudioError
from studio.core.persona import compose_prompt, record_to_json
from studio.services import personas
from tests.fixtures.records import filled_record


def test_save_version_chains_parents_and_clears_draft(project):
    ada = personas.get_persona(project, "ada")
    v1 = personas.get_version(project, ada.id)
    record = personas.set_field(project, ada, v1, v1.record, "face.eye_colour", "green")
    assert personas.get_draft(project, ada.id)[1]["face"]["eye_colour"] == "green"

    v2 = personas.save_version(project, ada.id, record, "  Green eyes  ")
    assert (v2.number, v2.parent_id, v2.note) == (2, v1.id, "Green eyes")
    assert personas.get_draft(project, ada.id) is None
    assert [v.number for v in personas.history(project, ada.id)] == [2, 1]
    assert "face" not in personas.get_version(project, ada.id, 1).record


def test_versions_are_immutable_and_unchanged_save_is_refused(project):
    ada = personas.get_persona(project, "Ada")
    head = personas.get_version(project, ada.id)
    with pytest.raises(StudioError, match="Nothing changed since version 1"):
        personas.save_version(project, "Ada", head.record, "again")


def test_invalid_record_is_refused_with_the_field_path(project):
    ada = personas.get_persona(project, "Ada")
    head = personas.get_version(project, ada.id)
    bad = personas.set_field(project, ada, head, head.record, "face.hair.colour", "reddish")
    with pytest.raises(InvalidRecordError) as err:
        personas.save_version(project, "Ada", bad, "bad")
    assert [i.path for i in err.value.issues] == ["face.hair.colour"]
    assert len(personas.history(project, ada.id)) == 1


def test_diff_between_any_two_versions(project):
    ada = personas.get_persona(project, "Ada")
    v1 = personas.get_version(project, ada.id)
    r = personas.set_field(project, ada, v1, v1.record, "lighting.colour_temperature_k", 5600)
    r = personas.set_field(project, ada, v1, r, "negative_traits[0]", "tattoos")
    v2 = personas.save_version(project, "Ada", r, "daylight")
    r = personas.set_field(project, ada, v2, r, "lighting.colour_temperature_k", 3200)
    r = personas.set_field(project, ada, v2, r, "negative_traits[1]", "blurry")
    personas.save_version(project, "Ada", r, "warmer")
    va, vb, changes = personas.diff_versions(project, "Ada", 2, None)
    assert (va.number, vb.number) == (2, 3)
    assert {(c.path, c.kind, c.old, c.new) for c in changes} == {
        ("lighting.colour_temperature_k", "changed", 5600, 3200),
        ("negative_traits[1]", "added", None, "blurry"),
    }
    _, _, back = personas.diff_versions(project, "Ada", 3, 2)
    assert {c.kind for c in back} == {"changed", "removed"}
    # From the new persona's record, whole sections were set.
    _, _, first = personas.diff_versions(project, "Ada", 1, 2)
    assert [(c.path, c.kind, c.old) for c in first] == [
        ("lighting", "added", None),
        ("negative_traits", "added", None),
    ]


def test_export_import_round_trip_creates_or_extends(project, tmp_path):
    text = personas.export_persona(project, "Ada")
    record = json.loads(text)
    record["identity"]["name"] = "Bea"
    record["identity"]["trigger_token"] = "ohwx_bea"
    f = tmp_path / "bea.json"
    f.write_text(json.dumps(record))
    v = personas.import_persona(project, f)
    assert v.number == 1 and personas.get_persona(project, "Bea").id == v.persona_id
    assert sorted(p.name for p in personas.list_personas(project)) == ["Ada", "Bea"]

    record["face"] = {"jaw": "angular"}
    f.write_text(json.dumps(record))
    v2 = personas.import_persona(project, f)
    assert v2.number == 2 and v2.note == "Imported from bea.json"
    with pytest.raises(StudioError, match="nothing imported"):
        personas.import_persona(project, f)


def test_import_errors_name_the_path_and_problem(project, tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"schema_version": 1,')
    with pytest.raises(InvalidRecordError) as err:
        personas.import_persona(project, f)
    assert err.value.issues[0].path == "$" and "broken.json" in str(err.value)

    record = json.loads(personas.export_persona(project, "Ada"))
    record["wardrobe"] = {
        "outfits": [{"name": "coat", "garments": [{"item": "coat", "colour": "white"}]}]
    }
    f.write_text(json.dumps(record))
    with pytest.raises(InvalidRecordError) as err:
        personas.import_persona(project, f)
    assert err.value.issues[0].path == "wardrobe.outfits[0].garments[0].colour"
    with pytest.raises(StudioError, match="no file"):
        personas.import_persona(project, tmp_path / "missing.json")


def test_a_cast_and_renaming_rules(project):
    personas.add_persona(project, "Bea")
    with pytest.raises(StudioError, match="already exists"):
        personas.add_persona(project, "bea")
    bea = personas.get_persona(project, "Bea")
    head = personas.get_version(project, bea.id)
    renamed = personas.set_field(project, bea, head, head.record, "identity.name", "Ada")
    with pytest.raises(StudioError, match="already named 'Ada'"):
        personas.save_version(project, "Bea", renamed, "clash")
    with pytest.raises(NotFoundError, match="Ada, Bea"):
        personas.get_persona(project, "Cleo")


def test_prompt_for_a_shot_comes_from_the_head_version(demo_project):
    p = personas.compose(demo_project, "Nova Hale", "waving at the camera")
    assert p.positive.startswith("ohwx_nova") and "waving at the camera" in p.positive
    assert "jewellery" in p.negative
    old = personas.compose(demo_project, "Nova Hale", "waving", number=1)
    assert "chin-length" in p.positive and "chin-length" not in old.positive


# -- a new persona holds only what the artist said ---------------------------------------------


def test_a_new_persona_has_no_wardrobe_lighting_or_face(project):
    for name in ("Ada", "Bea"):  # made with the project, and added to it
        if name == "Bea":
            personas.add_persona(project, "Bea")
        record = personas.get_version(project, name).record
        assert set(record) == {"schema_version", "identity", "prompt_template"}, name
        prompt = personas.compose(project, name, "reading")
        text = (prompt.positive + " " + prompt.negative).lower()
        for old_default in ("t-shirt", "jeans", "5600", "natural light", "brown eyes"):
            assert old_default not in text, (name, old_default)
        assert prompt.positive == f"ohwx_{name.lower()}, portrait of {name}, reading"


def test_setting_and_clearing_a_field_of_a_new_persona_gives_its_record_back(project):
    ada = personas.get_persona(project, "Ada")
    v1 = personas.get_version(project, ada.id)
    record = personas.set_field(project, ada, v1, v1.record, "face.hair.colour", "#b5562c")
    assert record["face"] == {"hair": {"colour": "#b5562c"}}
    assert personas.get_draft(project, ada.id)[1]["face"]["hair"]["colour"] == "#b5562c"
    assert "copper red hair" in compose_prompt(record).positive
    cleared = personas.delete_field(project, ada, v1, record, "face.hair.colour")
    assert cleared == v1.record
    with pytest.raises(StudioError, match="Nothing changed"):
        personas.save_version(project, "Ada", cleared, "same")


def test_records_with_values_keep_them(project, tmp_path, demo_project):
    f = tmp_path / "cleo.json"
    f.write_text(record_to_json(filled_record("Cleo")))
    personas.import_persona(project, f)
    assert personas.get_version(project, "Cleo").record == filled_record("Cleo")
    assert "white cotton t-shirt" in personas.compose(project, "Cleo").positive
    nova = personas.get_version(demo_project, "Nova Hale").record
    assert nova["lighting"]["colour_temperature_k"] and nova["wardrobe"]["outfits"]
    assert nova["face"]["eye_colour"] == "brown"
