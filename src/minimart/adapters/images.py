"""Pictures with Pillow, kept in a local directory under content-addressed names.

An upload is judged by its bytes, never its name or declared type: only PNG, JPEG and WebP
decode. Its pixel count is read from the header and bounded before anything is decoded (no
decompression bombs), it is turned upright from its EXIF orientation, shrunk to at most
MAX_EDGE pixels on its longest side, and re-encoded from pixels alone, which drops EXIF,
GPS, comments and every other metadata.

The bomb check is our own comparison of the header's size, plus Pillow's
DecompressionBombError as a backstop; never `warnings.catch_warnings`, which swaps the
process-wide warning filters and so races under waitress's threads (one request's restore
can undo another's "error" filter, or leave it on for the whole process).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageOps

from minimart.domain.images import (
    MAX_EDGE,
    DamagedImage,
    ImageTooLarge,
    Picture,
    UnsupportedImage,
    megapixels,
)

FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"),
           "WEBP": ("image/webp", "webp")}
CONTENT_TYPES = {ext: content_type for content_type, ext in FORMATS.values()}
_KEY = re.compile(r"^([0-9a-f]{64})\.(png|jpg|webp)$")
UNSUPPORTED = "send a PNG, JPEG or WebP image"
# How each accepted format's files begin: a file that starts like one but does not open is
# a damaged picture (cut short in its header), not a file of another kind.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError)


def _looks_like_ours(data: bytes) -> bool:
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


class PillowImageProcessor:
    def __init__(self, max_pixels: int = 25_000_000, max_side: int = MAX_EDGE) -> None:
        self._max_pixels = max_pixels
        self._max_side = max_side

    def normalize(self, data: bytes) -> Picture:
        try:
            probe = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            # Pillow's own ceiling, far above ours; its warning is raised only where the
            # process's filters say "error", and otherwise our check below refuses it.
            raise self._too_large() from error
        except _DECODE_ERRORS as error:  # UnidentifiedImageError is an OSError
            if _looks_like_ours(data):
                raise DamagedImage() from error
            raise UnsupportedImage(UNSUPPORTED) from error
        with probe:
            image_format = probe.format or ""
            if image_format not in FORMATS:
                raise UnsupportedImage(UNSUPPORTED)
            # A JPEG may decode at 1/2, 1/4 or 1/8 scale straight from the file: a 48 MP
            # photo bound for 1600 pixels never needs its full size in memory.
            probe.draft(None, (self._max_side, self._max_side))
            width, height = probe.size
            if width * height > self._max_pixels:
                raise self._too_large()
            try:
                probe.load()
                image = ImageOps.exif_transpose(probe)
            except Image.DecompressionBombError as error:
                raise self._too_large() from error
            except _DECODE_ERRORS as error:
                raise DamagedImage() from error
        if "transparency" in image.info:  # a palette or grey PNG's transparent colour
            image = image.convert("RGBA")
        if max(image.size) > self._max_side and image.mode in ("P", "1"):
            image = image.convert("RGB")  # shrink smoothly, not by dropping pixels
        image.thumbnail((self._max_side, self._max_side), Image.Resampling.LANCZOS)
        return _encode(_pixels_only(image), image_format)

    def variant(self, picture: Picture, width: int) -> Picture:
        """A copy at most `width` pixels wide, same format; never wider than the picture
        (a narrow picture is its own variant). The picture is one this processor made."""
        with Image.open(io.BytesIO(picture.data), formats=list(FORMATS)) as image:
            if image.width <= width:
                return picture
            image_format = image.format or ""
            image.load()
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                converted = image.convert("RGBA" if image.has_transparency_data else "RGB")
            else:
                converted = image
            height = max(1, round(image.height * width / image.width))
            small = converted.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        return _encode(small, image_format)

    def _too_large(self) -> ImageTooLarge:
        return ImageTooLarge(f"the picture has over {megapixels(self._max_pixels)}")


def _pixels_only(image: Image.Image) -> Image.Image:
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode == "P":
        clean.putpalette(image.getpalette() or [])
    return clean


def _encode(image: Image.Image, image_format: str) -> Picture:
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    # PNG's optimize (zlib level 9) takes three times as long for a few percent fewer bytes.
    options = {"WEBP": {"quality": 85}, "JPEG": {"quality": 85, "optimize": True},
               "PNG": {}}[image_format]
    image.save(out, format=image_format, **options)
    content_type, extension = FORMATS[image_format]
    return Picture(data=out.getvalue(), content_type=content_type, extension=extension)


class LocalDirectoryImageStore:
    """`<sha256>.<ext>` for a picture, `<sha256>-<width>.<ext>` for its narrower copies."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)

    def put(self, picture: Picture) -> str:
        key = f"{hashlib.sha256(picture.data).hexdigest()}.{picture.extension}"
        self._write(key, picture)
        return key

    def put_variant(self, key: str, width: int, picture: Picture) -> None:
        name = self._variant_name(key, width)
        if name is not None:
            self._write(name, picture)

    def get(self, key: str, width: int | None = None) -> Picture | None:
        name = key if width is None and _KEY.match(key) else (
            self._variant_name(key, width) if width is not None else None)
        if name is None:
            return None
        try:
            data = (self._root / name).read_bytes()
        except FileNotFoundError:
            return None
        extension = name.rsplit(".", 1)[1]
        return Picture(data=data, content_type=CONTENT_TYPES[extension], extension=extension)

    def delete(self, key: str) -> None:
        """The picture and every narrower copy of it."""
        found = _KEY.match(key)
        if found is None:
            return
        for path in self._root.glob(f"{found[1]}-*.{found[2]}"):
            path.unlink(missing_ok=True)
        (self._root / key).unlink(missing_ok=True)

    def stored_before(self, moment: datetime) -> Iterator[str]:
        """Keys of pictures last stored (or stored again) before `moment`."""
        if not self._root.is_dir():
            return
        cutoff = moment.timestamp()
        for path in self._root.iterdir():
            if _KEY.match(path.name) and path.stat().st_mtime < cutoff:
                yield path.name

    def _write(self, name: str, picture: Picture) -> None:
        target = self._root / name
        if target.exists():
            os.utime(target)  # stored again: a sweep's grace period starts anew
            return
        self._root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self._root, delete=False) as partial:
            partial.write(picture.data)
        os.replace(partial.name, target)  # readers never see half a file

    @staticmethod
    def _variant_name(key: str, width: int) -> str | None:
        found = _KEY.match(key)
        if found is None or not 0 < width < 10_000:
            return None
        return f"{found[1]}-{width}.{found[2]}"
