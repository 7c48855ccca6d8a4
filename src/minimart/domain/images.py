"""Item pictures: accepted only as real PNG, JPEG or WebP, re-encoded without metadata.

A picture is stored once at most MAX_EDGE pixels on its longest side, with narrower copies
(VARIANT_WIDTHS) for pages that show it small: a phone shown a 270-pixel card fetches the
400-pixel copy, not the full picture. Every file is named by its content, so a URL never
changes its bytes and may be cached for a year; a replaced picture's file therefore stays
for a grace period (pages cached before the change still name it) and only a later sweep
deletes files no item shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from minimart.domain.errors import DomainError, ValidationFailed

MAX_EDGE = 1600
VARIANT_WIDTHS = (400, 800)


@dataclass(frozen=True, slots=True)
class Picture:
    """A decoded, re-encoded image, ready to store and serve."""

    data: bytes
    content_type: str
    extension: str


class UnsupportedImage(DomainError):
    code = "unsupported_media_type"


class ImageTooLarge(DomainError):
    code = "payload_too_large"


class DamagedImage(ValidationFailed):
    """A PNG, JPEG or WebP that stops short or is corrupt: the sender should send it again,
    not convert it to another format."""

    def __init__(self) -> None:
        super().__init__(DAMAGED, details={"image": [DAMAGED]})


DAMAGED = "the picture is damaged or incomplete"


def megabytes(size: int) -> str:
    """A byte limit the way people say it: 5242880 -> "5 MB", 1572864 -> "1.5 MB"."""
    value = size / (1024 * 1024)
    return f"{value:.1f}".removesuffix(".0") + " MB" if value >= 0.1 else f"{size} bytes"


def megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    return f"{value:.1f}".removesuffix(".0") + " megapixels"
