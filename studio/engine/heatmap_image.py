"""The drift heatmap as a PNG for reports: the same colour map and marks as the window's."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from studio.core.colormap import lut_array

HATCH = (150, 150, 150)
FLAG = (220, 40, 40)


def heatmap_png(
    goodness: Sequence[np.ndarray],
    flagged: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    width: int = 900,
    row_height: int = 16,
    label_width: int = 180,
) -> bytes:
    """Rows of per-frame goodness (0 bad .. 1 good, NaN not measurable) as a PNG.

    Long rows are compressed: each pixel column shows the worst frame of its bucket, hatched
    only when the whole bucket is not measurable, marked when any frame in it is flagged.
    """
    lut = lut_array()
    longest = max((len(g) for g in goodness), default=1) or 1
    cols = min(width, longest)
    scale = max(1, width // cols)
    h = max(1, len(goodness)) * row_height
    canvas = Image.new("RGB", (label_width + cols * scale, h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (g, f, label) in enumerate(zip(goodness, flagged, labels, strict=True)):
        y = r * row_height
        draw.text((4, y + 2), label[:28], fill=(30, 30, 30))
        n = len(g)
        if not n:
            continue
        ncols = min(cols, n)
        edges = np.linspace(0, n, ncols + 1).astype(int)
        worst = np.full(ncols, np.nan, np.float32)
        any_flag = np.zeros(ncols, bool)
        for c in range(ncols):
            chunk = g[edges[c] : max(edges[c + 1], edges[c] + 1)]
            if not np.all(np.isnan(chunk)):
                worst[c] = np.nanmin(chunk)
            any_flag[c] = bool(np.any(f[edges[c] : max(edges[c + 1], edges[c] + 1)]))
        idx = np.clip(np.nan_to_num(worst, nan=0.0) * 255, 0, 255).astype(np.uint8)
        strip = lut[idx][None, :, :].repeat(row_height - 2, axis=0)
        nan_cols = np.isnan(worst)
        if nan_cols.any():
            yy, xx = np.mgrid[0 : row_height - 2, 0:ncols]
            hatch = ((xx + yy) % 4 < 2)[:, nan_cols]
            strip[:, nan_cols] = np.where(hatch[..., None], HATCH, (235, 235, 235))
        img = Image.fromarray(strip.astype(np.uint8)).resize(
            (ncols * scale, row_height - 2), Image.Resampling.NEAREST
        )
        canvas.paste(img, (label_width, y + 1))
        for c in np.flatnonzero(any_flag):
            x = label_width + int(c) * scale
            draw.rectangle((x, y + 1, x + max(scale - 1, 1), y + 3), fill=FLAG)
    buf = io.BytesIO()
    canvas.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def legend_png(lo_label: str, hi_label: str, width: int = 300, height: int = 14) -> bytes:
    """The colour map as a strip from the worst (left) to the best (right)."""
    lut = lut_array()
    idx = np.linspace(0, 255, width).astype(np.uint8)
    strip = lut[idx][None, :, :].repeat(height, axis=0)
    img = Image.new("RGB", (width, height + 14), (255, 255, 255))
    img.paste(Image.fromarray(strip), (0, 0))
    draw = ImageDraw.Draw(img)
    draw.text((0, height + 1), lo_label, fill=(30, 30, 30))
    draw.text((width - 6 * len(hi_label), height + 1), hi_label, fill=(30, 30, 30))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
