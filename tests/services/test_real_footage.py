"""Drift verdicts on footage made from real photos, through the CLI as a user runs it.

One reference, a still of the persona in her costume and light (as a production has); clips cut
from the same photo with a zoom from a medium shot to a close-up and a pan, in which he crosses
his arms with his hands on his chest. Unchanged, every measurable frame passes wardrobe and
lighting; dyed clothes, a light 1,500 K warmer or cooler and a key from the other side are
flagged on every frame where they can be seen; another man is flagged on identity.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.cli import main
from studio.core.drift import flag_reasons
from studio.services import drift
from studio.services.projects import open_project
from tests.fixtures import footage
from tests.fixtures.photos import load_rgb

FRAMES = 8


@pytest.fixture(scope="module")
def dlib_engine():
    from studio.engine.faces import load_engine

    engine = load_engine("dlib")
    yield engine
    engine.close()


def _face_box(engine, rgb):
    faces = engine.analyze(rgb)
    assert faces, "the photo has a face"
    return max(faces, key=lambda f: f.size_px).box


@pytest.fixture(scope="module")
def analysed(sdist_photos, tmp_path_factory, dlib_engine):
    folder = tmp_path_factory.mktemp("real-footage")
    obama, biden = load_rgb(sdist_photos["obama"]), load_rgb(sdist_photos["biden"])
    box = _face_box(dlib_engine, obama)
    clip = footage.zoom_clip(obama, box, FRAMES)
    boxes = [_face_box(dlib_engine, f) for f in clip]
    clips = {
        "unchanged": clip,
        "dyed": [footage.dye(f, b) for f, b in zip(clip, boxes, strict=True)],
        "warmer": [footage.relight(f, 5600, 4100) for f in clip],
        "cooler": [footage.relight(f, 3200, 4700) for f in clip],
        # His photo's key is on the image's left; this one comes from the right.
        "other side": [footage.key_from(f, b, +1) for f, b in zip(clip, boxes, strict=True)],
        "stranger": footage.zoom_clip(biden, _face_box(dlib_engine, biden), FRAMES),
    }
    for name, frames in clips.items():
        footage.save_clip(frames, folder / "clips" / name)
    path = str(folder / "real.pstudio")
    assert main(["new", path, "--persona", "Barack"]) == 0
    assert main(["refs", "import", path, "--persona", "Barack", str(sdist_photos["obama"])]) == 0
    assert main(["shots", "import", path, "--persona", "Barack", str(folder / "clips")]) == 0
    assert main(["analyze", path]) == 0
    project = open_project(path, read_only=True)
    yield project
    project.close()


def _verdicts(project, shot):
    row = next(r for r in drift.drift_rows(project) if r.shot.name == shot)
    return row, [s for s in row.scores if s is not None and s.state == "measured"]


def _flagged_on(score, t, dimension):
    return any(r.startswith(dimension) for r in flag_reasons(score, t))


def test_the_unchanged_clip_passes_every_check_on_every_measurable_frame(analysed):
    row, measured = _verdicts(analysed, "unchanged")
    assert len(measured) >= FRAMES - 1
    t = row.thresholds
    assert all(flag_reasons(s, t) == [] for s in measured), [
        (s.identity, s.wardrobe, s.lighting) for s in measured
    ]
    # The clothes are measured wherever enough of them is in frame: the wider half at least.
    assert sum(s.wardrobe is not None for s in measured) >= FRAMES // 2
    assert all(s.lighting is not None for s in measured)
    assert all("wardrobe" in s.unchecked for s in measured if s.wardrobe is None)


@pytest.mark.parametrize(
    ("shot", "dimension"),
    [("dyed", "wardrobe"), ("warmer", "lighting"), ("cooler", "lighting"),
     ("other side", "lighting")],
)  # fmt: skip
def test_a_change_of_costume_or_light_is_flagged_wherever_it_is_seen(analysed, shot, dimension):
    row, measured = _verdicts(analysed, shot)
    t = row.thresholds
    seen = [s for s in measured if getattr(s, dimension) is not None]
    assert len(seen) >= FRAMES // 2
    assert all(_flagged_on(s, t, dimension) for s in seen), [getattr(s, dimension) for s in seen]
    assert all(s.identity >= t.identity for s in measured)  # still him


def test_another_man_is_flagged_on_identity(analysed):
    row, measured = _verdicts(analysed, "stranger")
    assert measured and all(_flagged_on(s, row.thresholds, "identity") for s in measured)


def test_the_thresholds_say_where_they_come_from(analysed):
    t = drift.thresholds(analysed, "Barack")
    assert "default" in t.basis["wardrobe"] and "default" in t.basis["lighting"]
    assert t.identity == pytest.approx(0.92)  # one reference: not calibrated


def test_the_persona_in_one_light_with_a_microphone_and_in_a_wide_shot(sdist_photos, dlib_engine):
    """Looks alone (no project): the speech with a microphone below his chin, and a wide shot
    in a hall with his hands on his chest, each against a still of its own."""
    from studio.core.drift import DEFAULT_LIGHTING, DEFAULT_WARDROBE_DE
    from studio.core.looks import adapt_palette, lighting_distance, palette_distance
    from studio.engine.looks import measure_look

    for name in ("obama2", "obama3"):
        rgb = load_rgb(sdist_photos[name])
        faces = dlib_engine.analyze(rgb)
        face = max(faces, key=lambda f: f.size_px)
        ref = measure_look(rgb, face.box, face.landmarks)
        wardrobe, lighting = [], []
        for frame in footage.zoom_clip(rgb, face.box, FRAMES):
            found = dlib_engine.analyze(frame)
            if not found:
                continue
            f = max(found, key=lambda x: x.size_px)
            look = measure_look(frame, f.box, f.landmarks)
            if look.garment and ref.garment:
                adapted = adapt_palette(look.garment, look.face_lab, ref.face_lab)
                wardrobe.append(palette_distance(adapted, ref.garment))
            lighting.append(
                lighting_distance(
                    look.face_lab, look.key_vec, look.key_strength,
                    ref.face_lab, ref.key_vec, ref.key_strength,
                )
            )  # fmt: skip
        assert len(lighting) >= FRAMES - 1, name
        assert max(lighting) < DEFAULT_LIGHTING, (name, lighting)
        assert all(w < DEFAULT_WARDROBE_DE for w in wardrobe), (name, wardrobe)
        assert np.isfinite(lighting).all() and json.dumps(ref.to_dict())


def test_a_shot_expects_an_outfit_and_is_compared_with_its_references(analysed, tmp_path):
    """Tagged references are the outfit's; the shot's outfit is set at import or later."""
    import shutil

    from studio.services import personas

    path = str(tmp_path / "outfits.pstudio")
    shutil.copyfile(analysed.path, path)
    with open_project(path) as project:
        barack = personas.get_persona(project, "Barack")
        record = personas.get_version(project, barack.id).record
        record["wardrobe"] = {
            "outfits": [
                {"name": n, "garments": [{"item": "suit"}]} for n in ("dark suit", "green suit")
            ]
        }
        personas.save_version(project, barack.id, record, "two outfits")
    assert main(["shots", "outfit", path, "unchanged", "--persona", "Barack", "--outfit",
                 "green suit"]) == 0  # fmt: skip
    assert main(["shots", "outfit", path, "unchanged", "--persona", "Barack", "--outfit",
                 "tuxedo"]) == 1  # fmt: skip
    assert main(["analyze", path]) == 0
    with open_project(path, read_only=True) as project:
        row, measured = _verdicts(project, "unchanged")
        # No reference is tagged with an outfit yet: every reference counts for every outfit.
        assert all(flag_reasons(s, row.thresholds) == [] for s in measured)
    refs = json.loads(_run_json(["refs", "list", path]))["personas"][0]["references"]
    assert main(["refs", "set", path, refs[0]["id"], "--tag", "dark suit"]) == 0
    assert main(["analyze", path]) == 0
    with open_project(path, read_only=True) as project:
        row, measured = _verdicts(project, "unchanged")
        # Now the only reference shows the dark suit: the green suit has nothing to go by.
        assert measured and all(s.wardrobe is None for s in measured)
        assert all("in 'green suit'" in s.unchecked["wardrobe"] for s in measured)


def _run_json(argv):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--json"]) == 0
    return out.getvalue()
