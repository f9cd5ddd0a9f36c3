"""The drift report: per shot and per frame scores, flags, reasons and notes as HTML, CSV or JSON.

The report is a job (`ReportSpec`, planned by `services.review.plan_report`): the HTML report's
pictures are thumbnailed one unit each (kept in the thumbnail cache, so the next report reuses
them), then `finish` writes the file whole or not at all. The HTML report is one self-contained
file (images inlined as data URIs, an inline sort script): the heatmap, the shots' summaries,
every flagged frame beside the persona's best-matching reference, and a table of every frame
for people (rounded values, marks, reference file names) that prints on A4 landscape. CSV and
JSON keep the machine-readable fields.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio import __version__
from studio.core.drift import layer_range
from studio.core.errors import Cancelled, StudioError
from studio.core.ids import now_iso
from studio.core.jobs import CancelToken, Progress
from studio.core.records import Reference
from studio.core.specs import ReportSpec
from studio.core.text import plural
from studio.core.timecode import format_timecode
from studio.project.store import Project
from studio.services import drift, library, review
from studio.services import jobs as job_service

if TYPE_CHECKING:
    from studio.jobs.base import WorkContext

FIELDS = (
    "shot",
    "persona",
    "frame",
    "source_frame",
    "timecode",
    "time_s",
    "state",
    "identity",
    "identity_centroid",
    "wardrobe",
    "lighting",
    "combined",
    "flagged",
    "reason",
    "not_checked",
    "best_reference",
    "best_reference_file",
    "faces",
    "review",
    "note",
)
MAX_GALLERY = review.GALLERY_LIMIT


def frame_records(
    rows: list[drift.DriftRow], refs: Mapping[str, Reference] | None = None
) -> Iterator[dict[str, Any]]:
    """One record per frame (and persona expected in its shot), in timeline order.

    "frame" counts from 1, as the heat map, the inspector and `review --frames` do.
    refs: the best references by id (`review.best_references`), for their file names.
    """
    refs = refs or {}
    for row in rows:
        severity = row.severity()
        for i, frame in enumerate(row.frames):
            v = drift.verdict(row, i)
            s = v.score
            rv = v.review
            yield {
                "shot": row.shot.name,
                "persona": row.persona_name,
                "frame": review.frame_number(row, i),
                "source_frame": frame.source_index,
                "timecode": format_timecode(frame.time_s, row.shot.fps, frame.index),
                "time_s": frame.time_s,
                "state": v.state,
                "identity": _num(s.value("identity") if s else None),
                "identity_centroid": _num(s.identity_centroid if s else None),
                "wardrobe": _num(s.value("wardrobe") if s else None),
                "lighting": _num(s.value("lighting") if s else None),
                "combined": _num(float(severity[i])),
                "flagged": v.flagged,
                "reason": "" if v.state == "ok" else v.why,
                "not_checked": "; ".join(
                    f"{d}: {why}"
                    for d, why in v.unchecked().items()
                    if d in row.thresholds.enabled and v.state != "not measurable"
                ),
                "best_reference": s.best_reference_id if s else None,
                "best_reference_file": _file_name(refs, s.best_reference_id if s else None),
                "faces": s.faces if s else None,
                "review": rv.state if rv else None,
                "note": rv.note if rv else "",
            }


def _file_name(refs: Mapping[str, Reference], ref_id: str | None) -> str | None:
    ref = refs.get(ref_id) if ref_id else None
    return ref.file_name if ref is not None else None


def _num(value: float | None) -> float | None:
    if value is None or np.isnan(value):
        return None
    return round(float(value), 4)


Thumbs = Mapping[str, bytes | None]  # blob sha -> thumbnail made for this report


def write_report(
    project: Project,
    fmt: str,
    output: str | os.PathLike,
    thumbs: Thumbs | None = None,
    size: int = library.THUMBNAIL_SIZE,
) -> str:
    """Write the report and return a one-line summary; the file appears whole or not at all.

    thumbs: pictures made for this report; the others come from the thumbnail cache or are
    made here.
    """
    rows = drift.drift_rows(project)
    refs = review.best_references(project, rows)
    records = list(frame_records(rows, refs))
    if fmt == "json":
        data = _json(project, rows, records)
        text = json.dumps(data, indent=2, ensure_ascii=False)
        _write_atomic(output, text.encode("utf-8"))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        _write_atomic(output, buf.getvalue().encode("utf-8"))
    elif fmt == "html":
        picture = _pictures(project, thumbs or {}, size)
        page = _html(project, rows, records, refs, picture)
        _write_atomic(output, page.encode("utf-8"))
    else:
        raise ValueError(f"unknown report format {fmt!r}")
    flagged = sum(1 for r in records if r["flagged"])
    return f"{plural(len(rows), 'shot')}, {plural(len(records), 'frame')}, {flagged} flagged"


def _pictures(project: Project, made: Thumbs, size: int) -> Callable[[str], str | None]:
    """A blob's thumbnail as a data URI: made for this report, cached, or made now."""
    from studio.engine.images import thumbnail

    def picture(sha: str) -> str | None:
        data = made.get(sha) or library.get_thumbnail(project, sha, size)
        if data is None and sha not in made:
            try:
                data = thumbnail(library.read_blob(project, sha), size)
            except StudioError:
                data = None
        return _data_uri("image/jpeg", data) if data else None

    return picture


class Report:
    """The report job: one unit per picture without a cached thumbnail, then the file."""

    kind = ReportSpec.kind
    executor = "thread"

    def units(self, spec: ReportSpec) -> list[str]:
        return list(dict.fromkeys(spec.thumbs))

    def work(self, spec: ReportSpec, units: list[str], ctx: WorkContext):
        yield from _thumbnails(units, spec.size, ctx.read_blob, ctx.cancel)

    def commit(self, project, job_id, spec: ReportSpec, unit, result: bytes | None, done):
        def store() -> None:
            if result:
                library.store_thumbnail(project, unit, spec.size, result)

        total = len(spec.thumbs)
        job_service.commit_unit(project, job_id, unit, done, f"{done} of {total} pictures", store)

    def finish(self, project, job_id, spec: ReportSpec) -> str:
        summary = write_report(project, spec.fmt, spec.output, size=spec.size)
        return f"Wrote {spec.output}: {summary}"


def _thumbnails(
    shas: list[str], size: int, read_blob: Callable[[str], bytes], cancel: CancelToken
) -> Iterator[tuple[str, bytes | None]]:
    from studio.engine.images import thumbnail  # Pillow loads when the first report needs it

    for sha in shas:
        cancel.raise_if_cancelled()
        try:
            yield sha, thumbnail(read_blob(sha), size)
        except StudioError:
            yield sha, None  # an unreadable picture: the report shows the frame without it


def run_report(
    project: Project,
    spec: ReportSpec,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """Run a report job here without the job queue (a project open read-only); its message.

    The same units and file as the job; thumbnails are kept for this report only. A cancel
    raises Cancelled before anything is written.
    """
    cancel = cancel or CancelToken()
    units = Report().units(spec)
    made: dict[str, bytes | None] = {}
    reading = lambda sha: library.read_blob(project, sha)  # noqa: E731
    for done, (sha, data) in enumerate(_thumbnails(units, spec.size, reading, cancel), 1):
        made[sha] = data
        if progress:
            progress(Progress(done, len(units), f"{done} of {len(units)} pictures"))
        if cancel.cancelled:
            raise Cancelled()
    cancel.raise_if_cancelled()
    summary = write_report(project, spec.fmt, spec.output, made, spec.size)
    return f"Wrote {spec.output}: {summary}"


def _write_atomic(output: str | os.PathLike, data: bytes) -> None:
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}-{secrets.token_hex(4)}")
        # Not mkstemp: its file is private (0600); a report is for sharing, so the umask rules.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise StudioError(
            f"Cannot write the report to {path}: {exc.strerror or exc}.",
            hint="Choose a folder you can write to.",
        ) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StudioError(
            f"Cannot write the report to {path}: {exc.strerror or exc}.",
            hint="Check the free space and that the file is not open elsewhere.",
        ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json(project: Project, rows, records) -> dict[str, Any]:
    return {
        "project": project.path.name,
        "generated_at": now_iso(),
        "generator": f"persona-studio {__version__}",
        "summary": review.summary_line(rows),
        "shots": [review.shot_summary(r) for r in rows],
        "frames": records,
    }


# -- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.muted{color:#666} table{border-collapse:collapse;background:#fff}
td,th{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600} .flag{color:#c62828;font-weight:600}
.heat{max-width:100%;image-rendering:pixelated;border:1px solid #ddd;background:#fff}
.gallery{display:flex;flex-wrap:wrap;gap:14px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:470px}
.pair{display:flex;gap:8px} .pair figure{margin:0;text-align:center;font-size:12px}
.pair img{width:220px;height:220px;object-fit:contain;background:#eee;border-radius:4px}
.shots{min-width:60%}
.frames{width:100%;table-layout:fixed;font-size:12.5px;line-height:1.35}
.frames td{overflow-wrap:break-word}
.frames .badge{white-space:normal;max-width:100%;box-sizing:border-box;padding:0 5px}
.frames caption{caption-side:top;text-align:left;color:#555;padding:0 0 6px;font-size:13px}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.over{color:#c62828;font-weight:600}
tr.flagged td{background:#fff3f2}
.badge{display:inline-block;padding:0 6px;border-radius:9px;font-size:11.5px;white-space:nowrap;
 border:1px solid transparent}
.ok{background:#e6f4ea;color:#1e6b34} .bad{background:#fde7e7;color:#b3261e;font-weight:600}
.warn{background:#fff1d6;color:#8a5300} .none{background:#eee;color:#555}
.sortable th{cursor:pointer;user-select:none;position:relative;padding-right:15px}
.sortable th:hover{background:#e4e4e4}
.sortable th::after{content:"\\2195";color:#aaa;font-weight:400;font-size:10px;position:absolute;
 right:3px;top:5px}
.sortable th[aria-sort=ascending]::after{content:"\\25B2";color:#333}
.sortable th[aria-sort=descending]::after{content:"\\25BC";color:#333}
@page{size:A4 landscape;margin:10mm}
@media print{
 body{margin:0;background:#fff;font-size:10pt}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .newpage{break-before:page} h2{break-after:avoid}
 thead{display:table-header-group} tr,.card,figure{break-inside:avoid}
 .frames{font-size:7.5pt} .frames caption{font-size:8pt} .badge{font-size:7pt}
 .frames td,.frames th{padding:3px 4px} .sortable th{padding-right:4px}
 .sortable th::after{content:none} .screen{display:none}
 .gallery{gap:8px} .card{width:calc(33.3% - 6px);box-sizing:border-box;padding:5px;font-size:8pt}
 .pair{gap:5px} .pair figure{flex:1;min-width:0;font-size:7pt}
 .pair img{width:100%;height:auto;aspect-ratio:1;max-height:48mm}
}
"""

# Click a header to sort by it (again to reverse); ties and the first click keep timeline
# order. Cells sort by data-v when they have one (the exact value), else by their text; empty
# cells go last either way.
_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.tHead.rows[0].cells, body = table.tBodies[0];
  Array.prototype.forEach.call(body.rows, function (r, i) { r.dataset.i = i; });
  Array.prototype.forEach.call(heads, function (th, col) {
    th.tabIndex = 0;
    th.title = th.title || 'Sort by ' + th.textContent;
    function key(row) {
      var td = row.cells[col], v = td.getAttribute('data-v');
      return v === null ? td.textContent.trim() : v;
    }
    function sort() {
      var up = th.getAttribute('aria-sort') !== 'ascending';
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), d;
        if (x === '' || y === '') d = (x === '') - (y === '');
        else {
          d = (!isNaN(x) && !isNaN(y)) ? x - y
            : x.localeCompare(y, undefined, {numeric: true, sensitivity: 'base'});
          if (!up) d = -d;
        }
        return d || a.dataset.i - b.dataset.i;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); }
    });
  });
});
"""

# The "Every frame" table: record field, header, width (% of the page), tooltip.
COLUMNS = (
    ("shot", "Shot", 7.5, ""),
    ("persona", "Persona", 6.5, ""),
    ("frame", "Frame", 5, "Counted from 1, as in the heat map and the inspector"),
    ("timecode", "Timecode", 7, "hours:minutes:seconds:frames"),
    ("state", "State", 7.5, ""),
    ("identity", "Identity", 5.5, "Likeness to the persona, 0 to 1: higher is closer"),
    ("wardrobe", "Wardrobe", 6, "Colour difference of the clothes (ΔE): lower is closer"),
    ("lighting", "Lighting", 5.5, "Difference of the light: lower is closer"),
    ("reason", "Why", 12.5, ""),
    ("not_checked", "Not checked", 8.5, "Checks that could not be made on this frame, and why"),
    ("best_reference_file", "Closest reference", 11.5, "The persona's best-matching reference"),
    ("review", "Review", 7.5, ""),
    ("note", "Note", 9.5, ""),
)
# state -> (mark, words, badge class, sort order: most urgent first)
_STATES = {
    "flagged": ("✗", "flagged", "bad", 0),
    "stale": ("↻", "out of date", "warn", 1),
    "not measurable": ("–", "not measurable", "none", 2),
    "not analysed": ("·", "not analysed", "none", 3),
    "ok": ("✓", "on-model", "ok", 4),
}
_REVIEWS = {"reshoot": ("✗", "reshoot", "bad"), "approved": ("✓", "approved", "ok")}


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _badge(mark: str, words: str, cls: str) -> str:
    # A narrow column may wrap "not measurable" at its space, never "on-model" at its hyphen.
    words = html.escape(words).replace("-", "\u2011")
    return f"<span class='badge {cls}'>{mark} {words}</span>"


def _cell(text: str = "", cls: str = "", sort: Any = None, title: str = "") -> str:
    attrs = f" class='{cls}'" if cls else ""
    if sort is not None:
        attrs += f" data-v='{html.escape(str(sort), quote=True)}'"
    if title:
        attrs += f" title='{html.escape(title, quote=True)}'"
    return f"<td{attrs}>{text}</td>"


def _frame_row(row: drift.DriftRow, i: int, r: dict[str, Any]) -> str:
    """One frame as a row of the "Every frame" table: rounded values, marks, file names."""
    esc = html.escape
    past = review.past_threshold(row.scores[i], row.thresholds)
    mark, words, cls, order = _STATES.get(r["state"], ("", r["state"], "none", 5))
    cells = [
        _cell(esc(r["shot"])),
        _cell(esc(r["persona"])),
        _cell(str(r["frame"]), "num", r["frame"]),
        _cell(esc(r["timecode"]), "num", r["frame"]),  # an image sequence has no time
        _cell(_badge(mark, words, cls), sort=order),
    ]
    for d in ("identity", "wardrobe", "lighting"):
        value = r[d]
        if value is None:
            cells.append(_cell("<span class='muted'>—</span>", "num", ""))
            continue
        over = d in past
        limit = getattr(row.thresholds, d)
        side = "below" if d == "identity" else "above"
        text = f"{value:.{review.DIGITS[d]}f}"
        cells.append(
            _cell(
                ("✗ " if over else "") + text,
                "num over" if over else "num",
                value,
                f"{side} the threshold {limit:.{review.DIGITS[d]}f}" if over else "",
            )
        )
    why = r["reason"] or ("on-model" if r["state"] == "ok" else "")
    cells.append(_cell(esc(why), "muted" if r["state"] == "ok" else ""))
    cells.append(_cell(esc(r["not_checked"])))
    cells.append(_cell(esc(r["best_reference_file"] or "")))
    rv = _REVIEWS.get(r["review"] or "")
    cells.append(_cell(_badge(*rv) if rv else esc(r["review"] or ""), sort=r["review"] or ""))
    cells.append(_cell(esc(r["note"] or "")))
    tr = " class='flagged'" if r["flagged"] else ""
    return f"<tr{tr}>{''.join(cells)}</tr>"


def _worst_html(s: dict[str, Any]) -> str:
    """'wardrobe ΔE 16.5 at 00:00:00:08 (frame 9)', the layer that flagged the shot first."""
    if s["worst_on"] is None:
        return "<span class='muted'>—</span>"
    d = s["worst_on"]
    value = html.escape(review.describe_value(d, s["worst_value"]).removeprefix(d).strip())
    text = (
        f"<b>{html.escape(d)}</b> {value} at {html.escape(s['worst_timecode'])} "
        f"(frame {s['worst_frame']})"
    )
    return f"<span class='flag'>✗ {text}</span>" if s["worst_flagged"] else text


def _html(
    project: Project,
    rows: list[drift.DriftRow],
    records: list[dict],
    refs: Mapping[str, Reference],
    picture: Callable[[str], str | None],
) -> str:
    from studio.engine.heatmap_image import heatmap_png, legend_png

    esc = html.escape
    goodness, flags, labels = [], [], []
    for row in rows:
        lo, hi, _ = layer_range("identity", row.thresholds)
        goodness.append(np.clip((row.array("identity") - lo) / max(hi - lo, 1e-6), 0, 1))
        flags.append(row.flags())
        labels.append(f"{row.shot.name} · {row.persona_name}")
    heat = heatmap_png(goodness, flags, labels) if rows else b""
    legend = legend_png("drifted", "on-model")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Drift report — {esc(project.path.stem)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Drift report — {esc(project.path.stem)}</h1>",
        f"<p class='muted'>{esc(review.summary_line(rows))}. Generated {esc(now_iso())} by "
        f"persona-studio {esc(__version__)}.</p>",
        "<h2>Heatmap</h2>",
    ]
    if heat:
        parts.append(
            f"<img class='heat' alt='Identity heatmap: shots as rows, frames as columns' "
            f"src='{_data_uri('image/png', heat)}'>"
            f"<p><img alt='colour scale' src='{_data_uri('image/png', legend)}'> "
            "<span class='muted'>identity per frame, frames from 1 at the left; grey "
            "hatching: not measurable; red marks: flagged</span></p>"
        )
    else:
        parts.append("<p>No shots yet.</p>")
    parts.append(
        "<h2>Shots</h2><table class='shots sortable'><thead><tr><th>Shot</th><th>Persona</th>"
        "<th>Frames</th><th>Flagged</th><th>Not measurable</th>"
        "<th title='On the layer that is furthest past its threshold'>Worst frame</th>"
        "<th>Notes</th></tr></thead><tbody>"
    )
    for row in rows:
        s = review.shot_summary(row)
        flagged = _badge("✗", str(s["flagged"]), "bad") if s["flagged"] else _badge("✓", "0", "ok")
        parts.append(
            f"<tr><td>{esc(s['shot'])}</td><td>{esc(s['persona'])}</td>"
            f"<td class='num'>{s['frames']}</td>{_cell(flagged, sort=s['flagged'])}"
            f"<td class='num'>{s['not_measurable']}</td><td>{_worst_html(s)}</td>"
            f"<td>{esc(s['notes'])}</td></tr>"
        )
    parts.append("</tbody></table>")

    shown = review.gallery(rows, MAX_GALLERY)
    flagged = sum(int(row.flags().sum()) for row in rows)
    parts.append(f"<section class='newpage'><h2>Flagged frames ({flagged})</h2>")
    if flagged > len(shown):
        parts.append(
            f"<p class='muted'>The first {MAX_GALLERY} are shown; every frame is in the "
            "table below.</p>"
        )
    parts.append("<div class='gallery'>")
    for row, i in shown:
        v = drift.verdict(row, i)
        frame = v.frame
        pic = picture(frame.blob_sha)
        frame_html = (
            f"<img alt='frame' src='{pic}'>" if pic else "<div class='muted'>unreadable</div>"
        )
        ref_html = "<figure><div class='muted'>no matching reference</div></figure>"
        ref = refs.get(v.score.best_reference_id) if v.score else None
        ref_pic = picture(ref.blob_sha) if ref is not None else None
        if ref is not None and ref_pic:
            ref_html = (
                f"<figure><img alt='best reference' src='{ref_pic}'>"
                f"<figcaption>best reference: {esc(ref.file_name)}</figcaption></figure>"
            )
        tc = format_timecode(frame.time_s, row.shot.fps, frame.index)
        note = f"<div>Note: {esc(v.review.note)}</div>" if v.review and v.review.note else ""
        state = f" · {esc(v.review.state)}" if v.review and v.review.state else ""
        parts.append(
            f"<div class='card'><div class='pair'><figure>{frame_html}"
            f"<figcaption>{esc(row.shot.name)} · frame {review.frame_number(row, i)} · {esc(tc)}"
            f"</figcaption></figure>{ref_html}</div>"
            f"<div class='flag'>{esc(v.why)}</div><div class='muted'>{esc(row.persona_name)}"
            f"{state}</div>{note}</div>"
        )
    parts.append("</div></section>")

    parts.append(
        "<section class='newpage'><h2>Every frame</h2><table class='frames sortable'>"
        "<caption>Frames are numbered from 1 in each shot, as in the heat map and the "
        "inspector. Identity: higher is closer; wardrobe (ΔE) and lighting: lower is closer; "
        "✗ marks a value past its threshold. "
        "<span class='screen'>Click a column header to sort by it.</span></caption><colgroup>"
    )
    parts += [f"<col style='width:{w}%'>" for _, _, w, _ in COLUMNS]
    parts.append("</colgroup><thead><tr>")
    parts += [
        f"<th title='{esc(tip, quote=True)}'>{esc(h)}</th>" if tip else f"<th>{esc(h)}</th>"
        for _, h, _, tip in COLUMNS
    ]
    parts.append("</tr></thead><tbody>")
    pairs = [(row, i) for row in rows for i in range(len(row.frames))]
    parts += [_frame_row(row, i, r) for (row, i), r in zip(pairs, records, strict=True)]
    parts.append(f"</tbody></table></section><script>{_SORT_JS}</script></body></html>")
    return "\n".join(parts)
