"""Pictures with Pillow, kept in a local directory under content-addressed names.

An upload is judged by its bytes, never its name or declared type: only PNG, JPEG and WebP
decode. Its pixel count is bounded before decoding (no decompression bombs), it is turned
upright from its EXIF orientation, and it is re-encoded from pixels alone, which drops
EXIF, GPS, comments and every other metadata.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from minimart.domain.images import ImageTooLarge, Picture, UnsupportedImage

FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"),
           "WEBP": ("image/webp", "webp")}
CONTENT_TYPES = {ext: content_type for content_type, ext in FORMATS.values()}
_KEY = re.compile(r"^[0-9a-f]{64}\.(png|jpg|webp)$")


class PillowImageProcessor:
    def __init__(self, max_pixels: int = 25_000_000, max_side: int = 4096) -> None:
        self._max_pixels = max_pixels
        self._max_side = max_side

    def normalize(self, data: bytes) -> Picture:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                probe = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
            raise ImageTooLarge(f"the image has over {self._max_pixels} pixels") from error
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise UnsupportedImage("send a PNG, JPEG or WebP image") from error
        try:
            with probe:
                image_format = probe.format or ""
                width, height = probe.size
                if width * height > self._max_pixels:
                    raise ImageTooLarge(f"the image has over {self._max_pixels} pixels")
                probe.load()
                image = ImageOps.exif_transpose(probe)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise UnsupportedImage("send a PNG, JPEG or WebP image") from error
        if image_format not in FORMATS:
            raise UnsupportedImage("send a PNG, JPEG or WebP image")
        if "transparency" in image.info:  # a palette or grey PNG's transparent colour
            image = image.convert("RGBA")
        image.thumbnail((self._max_side, self._max_side))
        clean = Image.frombytes(image.mode, image.size, image.tobytes())
        if image.mode == "P":
            clean.putpalette(image.getpalette() or [])
        if image_format == "JPEG" and clean.mode not in ("RGB", "L"):
            clean = clean.convert("RGB")
        out = io.BytesIO()
        options = {"quality": 85} if image_format in ("JPEG", "WEBP") else {"optimize": True}
        clean.save(out, format=image_format, **options)
        content_type, extension = FORMATS[image_format]
        return Picture(data=out.getvalue(), content_type=content_type, extension=extension)


class LocalDirectoryImageStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)

    def put(self, picture: Picture) -> str:
        key = f"{hashlib.sha256(picture.data).hexdigest()}.{picture.extension}"
        target = self._root / key
        if not target.exists():
            self._root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self._root, delete=False) as partial:
                partial.write(picture.data)
            os.replace(partial.name, target)  # readers never see half a file
        return key

    def get(self, key: str) -> Picture | None:
        if not _KEY.match(key):
            return None
        try:
            data = (self._root / key).read_bytes()
        except FileNotFoundError:
            return None
        extension = key.rsplit(".", 1)[1]
        return Picture(data=data, content_type=CONTENT_TYPES[extension], extension=extension)

    def delete(self, key: str) -> None:
        if _KEY.match(key):
            (self._root / key).unlink(missing_ok=True)
