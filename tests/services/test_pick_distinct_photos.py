"""Picking references for a shot from a real library: each photo once (its mirrors, crops and
regrades left out as copies), and a note when no reference covers the shot's pose."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageEnhance, ImageOps

from studio.core import library as lib
from studio.core.faces import Face
from studio.services import audit, library, personas
from tests.fixtures.photos import demo_photo

# Where the dlib engine finds the demo portrait's eyes and nose (512 x 512).
NOVA_POINTS = ((203.5, 102.0), (246.5, 104.5), (224.0, 135.0), (204.7, 153.0), (240.4, 155.0))


def _by_name(picks):
    return {p.reference.file_name: p for p in picks}


def test_the_demo_has_one_photo_of_nova_and_says_so(demo_project):
    picks = audit.pick_references(demo_project, "Nova Hale", 0, 0, count=4)
    assert [p.reference.file_name for p in picks] == ["nova-closeup.jpg"]
    assert sorted(c.file_name for c in picks[0].copies) == [
        "nova-medium.jpg",
        "nova-mirrored.jpg",
        "nova-portrait.jpg",
        "nova-warm-grade.jpg",
    ]
    assert picks[0].pose_gap < lib.POSE_TOLERANCE_DEG and picks[0].pose_note == ""
    assert picks.pose_note == ""
    assert picks.warnings == (
        "Only 1 distinct photo of Nova Hale for 4 picks: 4 other usable references are copies"
        " of it (mirrored, cropped, resized or regraded); import or approve other photos of"
        " Nova Hale.",
    )
    assert picks.note == picks.warnings[0]


def test_a_turned_shot_is_told_that_every_reference_is_frontal(demo_project):
    picks = audit.pick_references(demo_project, "Nova Hale", 30, 0, count=3)
    (only,) = picks
    assert "set-photo-0412.jpg" not in {c.file_name for c in only.copies}  # a suspect, never
    assert (
        25 < only.pose_gap < 28 and only.pose_note == f"{only.pose_gap:.0f}° from the shot's pose"
    )
    assert picks.pose_note.startswith(
        "No reference within 15° of the shot's pose, yaw +30°, pitch 0° (right three-quarter"
        " view): the nearest is"
    )
    assert "(frontal view); add references at about yaw +30°, pitch 0°." in picks.pose_note
    assert picks.warnings[-1] == picks.pose_note and picks.pose_note in picks.note


def _jpeg(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def test_an_image_without_a_thumbnail_is_read_upright_from_its_file(project):
    ada = personas.get_persona(project, "Ada").id
    portrait = Image.open(demo_photo("nova-portrait.jpg")).convert("RGB")
    # Stored on its side with an EXIF orientation of 6: shown upright, so found upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = _jpeg(portrait.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    buf = io.BytesIO()
    ImageEnhance.Brightness(ImageOps.mirror(portrait)).enhance(1.1).save(buf, "PNG")
    refs = {}
    for name, data, mime in (
        ("upright.jpg", _jpeg(portrait), "image/jpeg"),
        ("sideways.jpg", sideways, "image/jpeg"),
        ("mirrored.png", buf.getvalue(), "image/png"),
    ):
        refs[name] = library.add_reference_bytes(
            project, ada, data, mime=mime, file_name=name, source_path=f"/shoot/{name}",
            width=512, height=512,
        )  # fmt: skip
    face = Face(box=(180, 70, 268, 158), landmarks=NOVA_POINTS, score=1.0, size_px=88)
    mirrored_face = Face(
        box=(243, 70, 331, 158),
        landmarks=((264.5, 104.5), (307.5, 102.0), (287.0, 135.0), (270.6, 155.0), (306.3, 153.0)),
        score=1.0,
        size_px=88,
    )
    prints = {
        name: audit.face_fingerprint(
            project, ref, mirrored_face if name == "mirrored.png" else face
        )
        for name, ref in refs.items()
    }
    assert all(p is not None for p in prints.values())
    up = prints["upright.jpg"]
    assert lib.fingerprint_distance(up, prints["sideways.jpg"]) < 0.05
    assert lib.fingerprint_distance(up, prints["mirrored.png"]) < 0.05
    # Eyes put where the stored, sideways pixels have them do not match: orientation matters.
    stored = Face(
        box=face.box, landmarks=[(y, 511 - x) for x, y in NOVA_POINTS], score=1, size_px=88
    )
    wrong = audit.face_fingerprint(project, refs["upright.jpg"], stored)
    assert wrong is None or lib.fingerprint_distance(up, wrong) > 2 * lib.SAME_PHOTO_DISTANCE


@pytest.mark.slow  # the real dlib engine on six photos
def test_real_photos_of_one_person_stay_apart_and_their_copies_do_not(
    project, sdist_photos, tmp_path
):
    from studio.jobs.library import audit_persona, import_references

    folder = tmp_path / "shoot"
    folder.mkdir()
    obama = Image.open(sdist_photos["obama"]).convert("RGB")
    obama2 = Image.open(sdist_photos["obama2"]).convert("RGB")
    w, h = obama2.size
    for name in ("obama", "obama2", "obama3"):
        (folder / f"{name}.jpg").write_bytes(sdist_photos[name].read_bytes())
    (folder / "obama-mirrored.jpg").write_bytes(_jpeg(ImageOps.mirror(obama)))
    crop = obama2.crop((int(w * 0.1), int(h * 0.05), int(w * 0.85), int(h * 0.7)))
    (folder / "obama2-cropped.jpg").write_bytes(
        _jpeg(
            ImageEnhance.Brightness(crop.resize((crop.width // 2, crop.height // 2))).enhance(1.1)
        )
    )
    report = import_references(project, "Ada", [folder])
    assert len(report.imported) == 5
    audit_persona(project, "Ada", "dlib")
    picks = audit.pick_references(project, "Ada", 0, 0, count=5)
    # Each photo is picked once, by whichever of its copies scores best.
    groups = {frozenset([p.reference.file_name, *(c.file_name for c in p.copies)]) for p in picks}
    assert groups == {
        frozenset({"obama.jpg", "obama-mirrored.jpg"}),
        frozenset({"obama2.jpg", "obama2-cropped.jpg"}),
        frozenset({"obama3.jpg"}),
    }
    assert len(picks) == 3 and picks.left_out == 2
    assert picks.warnings[0].startswith("Only 3 distinct photos of Ada for 5 picks: 2 other")
