"""Image decoding and thumbnails with Pillow."""

from __future__ import annotations

import io

from PIL import Image, ImageOps


def thumbnail(data: bytes, size: int) -> bytes:
    """A JPEG thumbnail whose longer edge is `size`, EXIF orientation applied, sRGB."""
    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGBA")
            background = Image.new("RGB", im.size, (40, 40, 44))
            background.paste(im, mask=im.getchannel("A"))
            im = background
        im.thumbnail((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        im.convert("RGB").save(out, "JPEG", quality=88)
        return out.getvalue()
