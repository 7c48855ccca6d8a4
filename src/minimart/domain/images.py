"""Item pictures: accepted only as real PNG, JPEG or WebP, re-encoded without metadata."""

from __future__ import annotations

from dataclasses import dataclass

from minimart.domain.errors import DomainError


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
