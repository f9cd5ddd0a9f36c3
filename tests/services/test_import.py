"""Importing references: bad files, duplicates, near-duplicates, folders and what is stored."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.core.errors import NotFoundError, StudioError
from studio.core.resources import resource_path
from studio.engine import ingest
from studio.jobs.library import import_references
from studio.project import references as reference_rows
from studio.services import imports, library, personas


def _noise_image(seed: int, size: int = 96) -> Image.Image:
    """A picture no other seed's picture looks like (its perceptual hash is far from theirs)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)


def _write(path: Path, im: Image.Image, fmt: str = "JPEG", **kw) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt, **kw)
    return str(path)


def _photo() -> Image.Image:
    return Image.open(resource_path("demo/nova-portrait.jpg")).convert("RGB")


def _rows(project, ids):
    marks = ",".join("?" * len(ids))
    return project.query(f"select * from reference_images where id in ({marks}) order by id", ids)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_files_are_reported_one_by_one_and_the_good_ones_imported(
    demo_project, tmp_path, monkeypatch
):
    project = demo_project
    nova = personas.list_personas(project)[0]
    before = library.list_references(project)
    before_rows = _rows(project, [r.id for r in before])
    before_blobs = project.query("select sha256, data from blobs order by sha256")

    good_a = _write(tmp_path / "good-a.jpg", _noise_image(1))
    good_b = _write(tmp_path / "good-b.png", _noise_image(2), "PNG")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    jpeg = io.BytesIO()
    _photo().save(jpeg, "JPEG", quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    text_png = tmp_path / "notes.png"
    text_png.write_text("not a picture at all\n")
    bomb = tmp_path / "bomb.png"
    big = Image.new("1", (9000, 9000))  # 81 MP, only a few kB as a PNG
    big.save(bomb, "PNG")
    absurd = tmp_path / "strip.png"
    Image.new("L", (31000, 2)).save(absurd, "PNG")
    locked = tmp_path / "locked.jpg"
    _write(locked, _noise_image(3))
    if os.geteuid() == 0:  # root reads anything, so a failing open stands in for chmod 000
        real_open = open

        def guarded_open(file, *args, **kwargs):
            if os.fspath(file) == str(locked):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(ingest, "open", guarded_open, raising=False)
    else:
        locked.chmod(0)
    broken = tmp_path / "gone.jpg"
    broken.symlink_to(tmp_path / "nowhere.jpg")
    txt = tmp_path / "readme.txt"
    txt.write_text("hello")
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    missing = tmp_path / "missing.jpg"

    batch = [empty, truncated, text_png, bomb, good_a, absurd, locked, broken, txt, pdf]
    batch += [missing, good_b]
    report = import_references(project, nova.name, [str(p) for p in batch], tags=["batch"])

    assert [p for p, _, _ in report.imported] == [good_a, good_b]
    reasons = dict(report.rejected)
    assert len(reasons) == 10 and report.duplicates == () and report.complete
    expected = {
        empty: "empty file (0 bytes)",
        truncated: "truncated JPEG: the file ends before its end-of-image marker",
        text_png: "a text file named .png, not an image",
        bomb: "decompression bomb",
        absurd: "absurd dimensions: 31000x2 px",
        locked: "permission denied",
        broken: "broken symbolic link",
        txt: "a text file, not an image",
        pdf: "a PDF document, not an image",
        missing: "no such file",
    }
    for path, words in expected.items():
        assert words in reasons[str(path)], (path, reasons[str(path)])
        assert "\n" not in reasons[str(path)]

    after = library.list_references(project)
    assert _rows(project, [r.id for r in before]) == before_rows  # nothing touched
    old_blobs = {r["sha256"] for r in before_blobs}
    blobs_now = project.query("select sha256, data from blobs order by sha256")
    assert [b for b in blobs_now if b["sha256"] in old_blobs] == before_blobs
    new = [r for r in after if r.id not in {b.id for b in before}]
    assert sorted(r.source_path for r in new) == sorted([good_a, good_b])
    assert all(r.tags == ("batch",) and r.persona_id == nova.id for r in new)


def test_what_an_import_stores(project, tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "nova, portrait\nSteps: 20, Sampler: Euler a, Seed: 7")
    im = Image.new("P", (64, 48), 1)
    im.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    im.paste(0, (0, 0, 10, 48))
    path = _write(tmp_path / "gen.png", im, "PNG", pnginfo=info, transparency=0)

    report = import_references(project, "Ada", [path], tags=["generated", " ", "generated"])

    (ref,) = library.list_references(project)
    assert report.imported == ((path, ref.id, "palette with transparency flattened"),)
    assert (ref.file_name, ref.source_path, ref.width, ref.height) == ("gen.png", path, 64, 48)
    assert ref.tags == ("generated",) and ref.imported_at
    assert ref.meta["format"] == "PNG" and ref.meta["bytes"] == os.path.getsize(path)
    generation = ref.meta["generation"]
    assert generation["generator"] == "AUTOMATIC1111"
    assert generation["parameters"]["settings"] == {
        "Steps": "20",
        "Sampler": "Euler a",
        "Seed": "7",
    }
    assert library.read_blob(project, ref.blob_sha) == Path(path).read_bytes()  # the original
    thumb = library.get_thumbnail(project, ref.blob_sha, library.THUMBNAIL_SIZE)
    assert Image.open(io.BytesIO(thumb)).size == (64, 48)
    assert reference_rows.import_notes(project, ref.persona_id) == {ref.id: report.imported[0][2]}
    ((hashed, phash),) = reference_rows.references_with_phash(project, ref.persona_id)
    assert hashed == ref and len(phash) == 16


def test_exact_duplicates_in_a_batch_and_across_imports(project, tmp_path):
    first = _write(tmp_path / "a" / "one.jpg", _noise_image(5))
    second = tmp_path / "b" / "same-bytes.jpg"
    second.parent.mkdir()
    second.write_bytes(Path(first).read_bytes())
    link = tmp_path / "link.jpg"
    link.symlink_to(first)

    report = import_references(project, "Ada", [first, str(second), str(link)])
    assert [p for p, _, _ in report.imported] == [first]
    assert report.duplicates == ((str(second), first), (str(link), first))
    assert report.rejected == () and "2 exact duplicates" in report.summary()

    again = import_references(project, "Ada", [str(second)])
    assert again.imported == () and again.duplicates == ((str(second), first),)
    assert len(library.list_references(project)) == 1

    # The same picture may belong to another persona too: one blob, two references.
    personas.add_persona(project, "Bea")
    other = import_references(project, "Bea", [str(second)])
    assert len(other.imported) == 1 and other.duplicates == ()
    refs = library.list_references(project)
    assert len(refs) == 2 and len({r.blob_sha for r in refs}) == 1
    assert len(project.query("select sha256 from blobs")) == 1


def test_near_duplicates_are_imported_reported_and_grouped(project, tmp_path):
    photo = _photo()
    original = _write(tmp_path / "nova.jpg", photo, quality=92)
    smaller = _write(tmp_path / "nova-small.jpg", photo.resize((300, 300)), quality=60)
    webp = _write(tmp_path / "nova.webp", photo.resize((400, 400)), "WEBP", quality=70)
    other = _write(tmp_path / "someone-else.jpg", _noise_image(9, 256))

    report = import_references(project, "Ada", [original, other, smaller, webp])

    assert len(report.imported) == 4 and report.duplicates == ()
    assert report.near_duplicates == ((smaller, original), (webp, original))
    ada = personas.get_persona(project, "Ada")
    groups = imports.near_duplicate_groups(project, ada.id)
    assert [[r.source_path for r in g] for g in groups] == [[original, smaller, webp]]
    assert imports.near_duplicate_groups(project, "no-such-persona") == []


def test_folders_are_walked_recursively_and_sorted(project, tmp_path):
    root = tmp_path / "refs"
    paths = {
        name: _write(root / name, _noise_image(i))
        for i, name in enumerate(["b.jpg", "a.jpg", "sub/z.jpg", "sub/deeper/c.jpg", "sub2/x.jpg"])
    }
    (root / ".hidden.jpg").write_bytes(Path(paths["a.jpg"]).read_bytes())
    (root / ".cache").mkdir()
    _write(root / ".cache" / "thumb.jpg", _noise_image(40))
    (root / "sub" / "loop").symlink_to(root)  # followed once, never forever
    outside = _write(tmp_path / "elsewhere" / "w.jpg", _noise_image(41))
    (root / "sub2" / "linked").symlink_to(Path(outside).parent)
    lone = _write(tmp_path / "lone.jpg", _noise_image(42))

    spec = imports.plan_import(project, "ada", [root, lone, str(root / "a.jpg")])

    expected = [
        paths["a.jpg"],
        paths["b.jpg"],
        paths["sub/z.jpg"],
        paths["sub/deeper/c.jpg"],
        paths["sub2/x.jpg"],  # a folder's own files come before its subfolders'
        str(root / "sub2" / "linked" / "w.jpg"),
        lone,
    ]
    assert list(spec.paths) == expected
    assert spec.title == "Import 7 files into Ada" and spec.kind == "import"
    report = import_references(project, "Ada", [root, lone])
    assert [p for p, _, _ in report.imported] == expected


def test_planning_refuses_unknown_personas_and_empty_folders(project, tmp_path):
    with pytest.raises(NotFoundError):
        imports.plan_import(project, "Nobody", [tmp_path])
    (tmp_path / "empty" / "inner").mkdir(parents=True)
    with pytest.raises(StudioError, match="no files to import"):
        imports.plan_import(project, "Ada", [tmp_path / "empty"])


# -- damaged photos: refused in the reference import and skipped in an image sequence ---------

CRC_REASON = "damaged PNG: the IDAT chunk at byte {} fails its CRC check"
CUT_REASON = "truncated JPEG: the file ends before its end-of-image marker"
EARLY_REASON = "partly decoded JPEG: its picture data stops early and part of the picture"


def _damaged_photos() -> dict[str, tuple[bytes, str]]:
    """The demo photo intact and damaged three ways: {name: (bytes, reason or "")}."""
    png = io.BytesIO()
    _photo().save(png, "PNG")
    png = png.getvalue()
    idat = png.index(b"IDAT") - 4  # the first IDAT chunk's offset
    flipped = bytearray(png)
    flipped[idat + 8 + 5000] ^= 0x01  # one bit of the picture data
    jpeg = io.BytesIO()
    _photo().save(jpeg, "JPEG", quality=90)
    jpeg = jpeg.getvalue()
    return {
        "intact.png": (png, ""),
        "crc.png": (bytes(flipped), CRC_REASON.format(idat)),
        "cut.jpg": (jpeg[: len(jpeg) * 2 // 3], CUT_REASON),
        "early.jpg": (jpeg[: len(jpeg) * 2 // 3] + b"\xff\xd9", EARLY_REASON),
        "intact.jpg": (jpeg, ""),
    }


def test_damaged_photos_are_refused_with_their_reason(project, tmp_path):
    files = _damaged_photos()
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    report = import_references(project, "Ada", [str(tmp_path / name) for name in files])
    assert sorted(os.path.basename(p) for p, _, _ in report.imported) == [
        "intact.jpg",
        "intact.png",
    ]
    reasons = {os.path.basename(p): r for p, r in report.rejected}
    assert set(reasons) == {"crc.png", "cut.jpg", "early.jpg"}
    for name, reason in reasons.items():
        assert reason.startswith(files[name][1]), (name, reason)
        assert "\n" not in reason
    assert len(library.list_references(project)) == 2


def test_a_damaged_frame_of_an_image_sequence_is_skipped_with_its_reason(project, tmp_path):
    from studio.jobs.runner import JobRunner
    from studio.services import shots

    files = _damaged_photos()
    folder = tmp_path / "renders"
    folder.mkdir()
    names = {}
    for i, (name, (data, _)) in enumerate(files.items(), start=1):
        frame = f"frame_{i:03d}{Path(name).suffix}"
        (folder / frame).write_bytes(data)
        names[frame] = name
    job = JobRunner(project).run(shots.plan_footage_import(project, ["Ada"], [folder]))
    report = shots.footage_report(project, job.id)
    assert [(os.path.basename(s), n, count) for s, n, count in report.imported] == [
        ("renders", "renders", 2)
    ]
    skipped = {frame: reason for _, frame, reason in report.skipped}
    assert sorted(names[f] for f in skipped) == ["crc.png", "cut.jpg", "early.jpg"]
    for frame, reason in skipped.items():
        assert reason.startswith(files[names[frame]][1]), (frame, reason)
    assert report.rejected == ()
