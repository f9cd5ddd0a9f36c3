"""The drift review headless: shots list, analyze and the report in every format."""

from __future__ import annotations

import csv
import json
import re
import shutil
from html.parser import HTMLParser

import pytest

from studio.cli import main
from studio.jobs.runner import JobRunner
from studio.project import shots as shot_rows
from studio.services import drift, library
from studio.services.projects import open_project


@pytest.fixture(scope="module")
def analysed_path(demo_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-drift") / "demo.pstudio"
    shutil.copyfile(demo_file, path)
    with open_project(path) as project:
        assert JobRunner(project).run(drift.plan_analysis(project)).state == "done"
    return path


@pytest.fixture
def copy(analysed_path, tmp_path):
    dest = tmp_path / "demo.pstudio"
    shutil.copyfile(analysed_path, dest)
    return dest


def test_analyze_again_is_incremental_and_lists_shots(copy, capsys):
    assert main(["analyze", str(copy), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "already analysed" in data["message"]
    names = [s["shot"] for s in data["shots"]]
    assert names[:2] == ["Hangar walk", "Set visit"]
    visit = data["shots"][1]
    assert visit["flagged"] >= 1 and visit["worst_timecode"].startswith("00:00:00:")
    assert main(["shots", "list", str(copy)]) == 0
    assert "Set visit (Nova Hale)" in capsys.readouterr().out


def test_json_and_csv_reports_have_one_entry_per_frame(copy, tmp_path, capsys):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["report", str(copy), "-o", str(out_json)]) == 0
    assert main(["report", str(copy), "--format", "csv", "-o", str(out_csv)]) == 0
    data = json.loads(out_json.read_text())
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    n = sum(s["frames"] for s in data["shots"])
    assert len(data["frames"]) == len(rows) == n
    for entry in (data["frames"][0], rows[0]):
        for key in (
            "shot",
            "frame",
            "timecode",
            "identity",
            "wardrobe",
            "lighting",
            "flagged",
            "reason",
        ):
            assert key in entry
    assert [f["frame"] for f in data["frames"][:3]] == [1, 2, 3]  # as the heat map numbers them
    assert rows[0]["frame"] == "1"
    flagged = [f for f in data["frames"] if f["flagged"]]
    assert flagged and all(f["reason"] for f in flagged)
    assert any(r["flagged"] == "True" and "identity" in r["reason"] for r in rows)
    # Machine-readable as before, plus the best reference's file name beside its id.
    with open_project(copy, read_only=True) as project:
        names = {r.id: r.file_name for r in library.list_references(project)}
    for entry in (*data["frames"], *rows):
        if entry["best_reference"]:
            assert entry["best_reference_file"] == names[entry["best_reference"]]
    assert rows[0]["identity"] == str(data["frames"][0]["identity"])
    cut = [f for f in data["frames"] if f["state"] == "not measurable"]
    assert cut and all("no face" in f["reason"] or "not measurable" in f["reason"] for f in cut)


class _Collect(HTMLParser):
    """Every tag, what each picture, frame or style sheet loads, and each table's cells."""

    def __init__(self):
        super().__init__()
        self.tags, self.srcs, self.scripts = [], [], []
        self.tables: dict[str, dict] = {}
        self._table = self._cell = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag in ("img", "link", "iframe"):
            self.srcs.append(a.get("src") or a.get("href") or "")
        elif tag == "script":
            self.scripts.append(a.get("src"))
        elif tag == "table":
            self._table = self.tables.setdefault(a.get("class") or "", {"head": [], "rows": []})
        elif tag == "tr" and self._table is not None:
            self._table["rows"].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = [tag, ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            kind, text = self._cell
            cells = self._table["head"] if kind == "th" else self._table["rows"][-1]
            cells.append(text.strip())
            self._cell = None
        elif tag == "tr" and self._table is not None and not self._table["rows"][-1]:
            self._table["rows"].pop()  # the header row
        elif tag == "table":
            self._table = None


def _html_report(path, out) -> _Collect:
    assert main(["report", str(path), "-o", str(out)]) == 0
    parser = _Collect()
    parser.feed(out.read_text())
    return parser


def test_html_report_is_one_self_contained_file(copy, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(copy), "-o", str(out)]) == 0
    assert "flagged" in capsys.readouterr().out
    text = out.read_text()
    parser = _Collect()
    parser.feed(text)
    assert text.startswith("<!doctype html>") and "</html>" in text
    assert parser.srcs and all(s.startswith("data:image/") for s in parser.srcs)
    assert parser.scripts == [None]  # the sort script is inline: it works offline
    assert not re.search(r"(src|href)=['\"](https?:|file:|/)", text)
    assert not re.search(r"@import|url\((?!data:)", text)
    assert "Heatmap" in text and "best reference" in text and "Set visit" in text


FRAME_HEADERS = [
    "Shot",
    "Persona",
    "Frame",
    "Timecode",
    "State",
    "Identity",
    "Wardrobe",
    "Lighting",
    "Why",
    "Not checked",
    "Closest reference",
    "Review",
    "Note",
]


def test_the_reports_every_frame_table_is_for_people(copy, tmp_path):
    parser = _html_report(copy, tmp_path / "report.html")
    table = parser.tables["frames sortable"]
    assert table["head"] == FRAME_HEADERS
    rows = table["rows"]
    assert len(rows) == 80 and all(len(r) == len(FRAME_HEADERS) for r in rows)
    col = {h: [r[i] for r in rows] for i, h in enumerate(FRAME_HEADERS)}
    cells = [c for r in rows for c in r]
    assert not {"True", "False", "None", "nan"} & set(cells)
    assert not [c for c in cells if re.search(r"\d\.\d{4,}", c)]  # no 0.08333333333333333
    assert all(re.fullmatch(r"(✗ )?\d\.\d{3}", c) for c in col["Identity"] if c != "—")
    assert all(re.fullmatch(r"(✗ )?\d+\.\d", c) for c in col["Wardrobe"] if c != "—")
    assert all(re.fullmatch(r"(✗ )?\d+\.\d{2}", c) for c in col["Lighting"] if c != "—")
    assert col["Frame"][:3] == ["1", "2", "3"]  # from 1, as the caption says
    assert "numbered from 1" in (tmp_path / "report.html").read_text()
    # Flags are marks, and a value past its threshold is marked where it is.
    states = {c.replace("\u2011", "-") for c in col["State"]}  # on-model's hyphen: no break
    assert {"✓ on-model", "✗ flagged", "– not measurable"} <= states
    flagged = [r for r in rows if r[4] == "✗ flagged"]
    assert len(flagged) == 20 and all(any(c.startswith("✗ ") for c in r[5:8]) for r in flagged)
    # The closest reference by its file name, never its internal id.
    with open_project(copy, read_only=True) as project:
        refs = library.list_references(project)
    names, ids = {r.file_name for r in refs}, {r.id for r in refs}
    shown = {c for c in col["Closest reference"] if c}
    assert shown and shown <= names and not shown & ids


def test_html_report_prints_on_a4_landscape_and_sorts_offline(copy, tmp_path):
    out = tmp_path / "report.html"
    parser = _html_report(copy, out)
    text = out.read_text()
    assert re.search(r"@page\s*\{[^}]*size:\s*A4 landscape", text)
    assert "table-layout:fixed" in text and "display:table-header-group" in text
    assert "break-before:page" in text
    script = text[text.index("<script>") : text.index("</script>")]
    assert "addEventListener('click'" in script and ".sort(" in script
    assert parser.tags.count("thead") == 2 and parser.tags.count("tbody") == 2
    assert "caption" in parser.tags


def test_each_shot_reports_its_worst_frame_on_the_layer_that_flagged_it(copy, tmp_path):
    out = tmp_path / "report.html"
    parser = _html_report(copy, out)
    assert main(["report", str(copy), "-o", str(tmp_path / "r.json")]) == 0
    shots = json.loads((tmp_path / "r.json").read_text())["shots"]
    table = parser.tables["shots sortable"]
    assert table["head"][:6] == ["Shot", "Persona", "Frames", "Flagged", "Not measurable",
                                 "Worst frame"]  # fmt: skip
    by_shot = {r[0]: r for r in table["rows"]}
    costume = next(s for s in shots if s["shot"] == "Costume test")
    assert costume["worst_on"] == "wardrobe"  # not "worst 0.999" identity
    for s in shots:
        worst = by_shot[s["shot"]][5]
        assert worst.lstrip("✗ ").startswith(s["worst_on"])
        assert f"at {s['worst_timecode']} (frame {s['worst_frame']})" in worst
    assert "wardrobe ΔE 16.5 at" in by_shot["Costume test"][5]


def test_reviews_and_notes_read_as_words_in_the_html_report(copy, tmp_path, capsys):
    note = "Wrong actor in the chair: recast the insert and match the key light from the left"
    args = ["review", str(copy), "--shot", "Set visit", "--frames", "6", "--reshoot"]
    assert main([*args, "--note", note]) == 0
    capsys.readouterr()
    rows = _html_report(copy, tmp_path / "report.html").tables["frames sortable"]["rows"]
    row = next(r for r in rows if r[0] == "Set visit" and r[2] == "6")
    assert row[11] == "✗ reshoot" and row[12] == note
    assert "identity" in row[8] and "below" in row[8]


def test_report_refuses_an_unknown_format(copy, tmp_path, capsys):
    assert main(["report", str(copy), "-o", str(tmp_path / "r.txt")]) == 1
    assert "format" in capsys.readouterr().err


def test_a_report_that_cannot_be_written_says_so_and_one_that_can_is_readable(
    copy, tmp_path, capsys
):
    blocked = tmp_path / "a file"
    blocked.write_text("in the way")
    assert main(["report", str(copy), "-o", str(blocked / "drift.html")]) == 1
    err = capsys.readouterr().err
    assert "Cannot write the report" in err and "Traceback" not in err
    assert main(["report", str(copy), "-o", str(tmp_path / "drift.csv")]) == 0
    assert (tmp_path / "drift.csv").stat().st_mode & 0o044  # not private like a temp file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_analyze_without_shots_says_what_to_do(project, capsys):
    path = project.path
    project.close()
    assert main(["analyze", str(path)]) == 1
    assert "Import footage first" in capsys.readouterr().err


def test_shots_import_makes_a_shot_per_clip_and_reports_bad_files(project, tmp_path, capsys):
    from tests.engine.test_footage import write_clip

    clip = write_clip(tmp_path / "take 1.mp4", "mpeg4", n=12, fps=24)
    folder = tmp_path / "renders"
    folder.mkdir()
    from PIL import Image

    for i in (1, 2, 10):
        Image.new("RGB", (32, 24), (i * 20, 0, 0)).save(folder / f"f{i}.png")
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    path = project.path
    project.close()
    code = main(
        ["shots", "import", str(path), "--persona", "Ada", str(clip), str(folder), str(broken),
         "--every", "2", "--json"]
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # one file was refused; the others were imported
    assert [(s["shot"], s["frames"]) for s in report["imported"]] == [("take 1", 6), ("renders", 2)]
    assert report["rejected"][0]["source"].endswith("broken.mp4")
    assert report["rejected"][0]["reason"]
    with open_project(path, read_only=True) as project:
        shots = shot_rows.list_shots(project)
        assert [(s.name, s.frame_count, s.fps) for s in shots] == [
            ("take 1", 6, 24.0),
            ("renders", 2, None),
        ]
        frames = shot_rows.frames_of(project, shots[0].id)
        assert [f.source_index for f in frames] == [0, 2, 4, 6, 8, 10]
        assert frames[1].time_s == pytest.approx(2 / 24, abs=1e-4)


def test_html_report_of_an_image_sequence_not_analysed_yet(project, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "renders"
    folder.mkdir()
    for i in (1, 2):
        Image.new("RGB", (32, 24), (i * 60, 0, 0)).save(folder / f"f{i}.png")
    path = project.path
    project.close()
    assert main(["shots", "import", str(path), "--persona", "Ada", str(folder)]) == 0
    out = tmp_path / "report.html"
    parser = _html_report(path, out)
    rows = parser.tables["frames sortable"]["rows"]
    assert [(r[0], r[2], r[4]) for r in rows] == [
        ("renders", "1", "· not analysed"),
        ("renders", "2", "· not analysed"),
    ]
    assert all(r[5:8] == ["—", "—", "—"] and r[10] == "" for r in rows)
