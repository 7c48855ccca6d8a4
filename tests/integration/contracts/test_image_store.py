"""ImageStore's contract: the memory fake and the local directory keep pictures under their
content's key, with their narrower copies, and tell which were last stored before a moment,
alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from minimart.adapters.images import LocalDirectoryImageStore
from minimart.domain.images import Picture
from tests.fakes.catalog import MemoryImageStore

PNG = Picture(data=b"\x89PNG a picture", content_type="image/png", extension="png")
JPEG = Picture(data=b"\xff\xd8\xff another", content_type="image/jpeg", extension="jpg")
SMALL = Picture(data=b"\x89PNG narrower", content_type="image/png", extension="png")
SMALL_JPEG = Picture(data=b"\xff\xd8\xff narrower", content_type="image/jpeg", extension="jpg")


@pytest.fixture(params=["fake", "directory"])
def images(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The memory fake (on the real clock), then a directory that does not exist yet."""
    if request.param == "fake":
        return MemoryImageStore()
    return LocalDirectoryImageStore(tmp_path / "images")


def now() -> datetime:
    return datetime.now(UTC)


def test_a_stored_picture_reads_back_under_its_contents_key(images):
    key = images.put(PNG)

    assert images.get(key) == PNG
    assert key.endswith(".png")
    assert images.put(PNG) == key
    assert images.put(JPEG) not in (key, None)


def test_unknown_keys_and_keys_that_are_no_picture_read_as_none(images):
    key = images.put(PNG)

    assert images.get("0" * 64 + ".png") is None
    assert images.get("../" + key) is None
    assert images.get(key.replace(".png", ".jpg")) is None


def test_a_narrower_copy_reads_back_by_its_width_only(images):
    key = images.put(PNG)

    images.put_variant(key, 400, SMALL)

    assert images.get(key, 400) == SMALL
    assert images.get(key, 800) is None
    assert images.get(key) == PNG


def test_delete_takes_the_picture_and_its_copies_and_leaves_the_others(images):
    key, other = images.put(PNG), images.put(JPEG)
    images.put_variant(key, 400, SMALL)
    images.put_variant(other, 400, SMALL_JPEG)  # a copy is in its picture's format

    images.delete(key)
    images.delete(key)  # twice: harmless

    assert (images.get(key), images.get(key, 400)) == (None, None)
    assert (images.get(other), images.get(other, 400)) == (JPEG, SMALL_JPEG)


def test_stored_before_lists_the_pictures_last_stored_before_the_moment(images):
    assert list(images.stored_before(now())) == []
    early = images.put(PNG)
    images.put_variant(early, 400, SMALL)
    time.sleep(0.05)
    moment = now()
    time.sleep(0.05)
    late = images.put(JPEG)

    assert list(images.stored_before(moment)) == [early]  # copies are not pictures
    assert sorted(images.stored_before(now())) == sorted([early, late])


def test_storing_a_picture_again_makes_it_new(images):
    key = images.put(PNG)
    time.sleep(0.05)
    moment = now()
    time.sleep(0.05)

    images.put(PNG)

    assert list(images.stored_before(moment)) == []
    assert list(images.stored_before(now())) == [key]
