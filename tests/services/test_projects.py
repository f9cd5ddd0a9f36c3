import pytest

from studio.core.errors import ProjectError, StudioError
from studio.services import library, personas, projects


def test_demo_has_a_complete_persona_two_versions_and_references(demo_project):
    cast = personas.list_personas(demo_project)
    assert [p.name for p in cast] == ["Nova Hale"]
    assert len(personas.history(demo_project, cast[0].id)) == 2
    refs = library.list_references(demo_project, cast[0].id)
    assert len(refs) == 6 and all(r.width > 0 and r.height > 0 for r in refs)
    assert len({r.blob_sha for r in refs}) == 6


def test_check_reports_integrity_schema_and_counts(demo_path):
    report = projects.check_project(demo_path)
    assert report["integrity"] == "ok"
    assert report["schema_version"] >= 1
    assert report["counts"]["personas"] == 1
    assert report["counts"]["persona_versions"] == 2
    assert report["counts"]["reference_images"] == 6


def test_new_project_refuses_existing_file_and_missing_folder(tmp_path):
    projects.new_project(tmp_path / "a", "Ada").close()
    assert (tmp_path / "a.pstudio").exists()
    with pytest.raises(ProjectError, match="already exists"):
        projects.new_project(tmp_path / "a.pstudio", "Ada")
    with pytest.raises(ProjectError, match="does not exist"):
        projects.new_project(tmp_path / "nope" / "b.pstudio")


def test_save_copy_is_a_consistent_project(demo_project, tmp_path):
    dest = projects.save_copy(demo_project, tmp_path / "copy")
    assert dest.name == "copy.pstudio"
    assert projects.check_project(dest)["counts"]["persona_versions"] == 2
    with pytest.raises(StudioError, match="cannot replace"):
        projects.save_copy(demo_project, demo_project.path)
