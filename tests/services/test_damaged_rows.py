"""A version row whose JSON is damaged: clear errors, the rest of the project still works."""

import pytest

from studio.__main__ import main
from studio.core.errors import DamagedProjectError
from studio.services import personas


@pytest.fixture
def damaged(project):
    ada = personas.get_persona(project, "Ada")
    v1 = personas.get_version(project, ada.id)
    record = personas.set_field(project, ada, v1, v1.record, "face.jaw", "angular")
    personas.save_version(project, "Ada", record, "v2")
    with project.atomic() as db:
        db.execute(
            "update persona_versions set record = ? where persona_id = ? and number = 2",
            ['{"schema_version": 1, "identity": {', ada.id],
        )
    return project


def test_service_names_the_version_and_what_to_do(damaged):
    with pytest.raises(DamagedProjectError) as err:
        personas.get_version(damaged, "Ada")
    assert "Version 2 of persona 'Ada' is damaged" in err.value.message
    assert "backup" in err.value.hint
    assert "face" not in personas.get_version(damaged, "Ada", 1).record  # v1 is intact
    assert [v["number"] for v in personas.version_numbers(damaged, "Ada")] == [2, 1]


def test_cli_reports_it_in_one_line(damaged, capsys):
    path = str(damaged.path)
    damaged.close()
    assert main(["persona", "show", path, "Ada"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("persona-studio: Version 2 of persona 'Ada' is damaged")
    assert err.count("\n") == 1
    assert main(["persona", "show", path, "Ada", "--version", "1", "--json"]) == 0
    assert main(["check", path]) == 0
