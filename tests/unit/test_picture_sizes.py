"""Picture sizes (issue 14): uploads shrunk to a largest edge, narrower copies for the
pages' srcset, limits said in MB and megapixels, damaged files told apart, a bomb check
that never touches the process-wide warning filters, and replaced pictures kept until a
sweep past the grace period."""

from __future__ import annotations

import io
import os
import struct
import sys
import threading
import time
import warnings
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from minimart.adapters.images import LocalDirectoryImageStore, PillowImageProcessor
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.errors import Forbidden, NotFound, ValidationFailed
from minimart.domain.images import ImageTooLarge, Picture, megabytes
from minimart.domain.services.catalog import CatalogService
from tests.fakes.catalog import MemoryImageStore
from tests.fakes.common import FixedClock
from tests.fakes.wiring import fake_adapters, fake_services

STAFF = Actor("staff-1", Role.STAFF, request_id="req-staff")
CUSTOMER = Actor("customer-1", Role.CUSTOMER)


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    """Smooth colour with a little grain: compresses like a photo, not like noise."""
    gradient = Image.linear_gradient("L").resize(size)
    grain = Image.effect_noise(size, 12)
    mirrored = gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return Image.merge("RGB", (gradient, grain, mirrored))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.fixture
def processor() -> PillowImageProcessor:
    return PillowImageProcessor()


# === PillowImageProcessor ======================================================================

@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_a_large_upload_is_shrunk_to_1600_pixels_on_its_longest_side(processor, image_format):
    out = decoded(processor.normalize(encode(photo((3000, 2000)), image_format)).data)

    assert out.size == (1600, 1067)
    assert out.format == image_format


def test_a_tall_upload_is_shrunk_by_its_height(processor):
    out = decoded(processor.normalize(encode(photo((1000, 2400)), "JPEG")).data)

    assert out.size == (667, 1600)


def test_a_picture_within_the_largest_edge_keeps_its_size(processor):
    out = decoded(processor.normalize(encode(photo((1400, 1200)), "JPEG")).data)

    assert out.size == (1400, 1200)


def test_a_big_jpeg_is_decoded_at_a_reduced_scale_within_the_pixel_limit():
    # 20 MP in the header; JPEG's DCT scaling decodes it at 1/2 (5 MP), enough for 1600 px,
    # so a 6 MP budget admits it without ever holding 20 MP in memory.
    upload = encode(photo((5000, 4000)), "JPEG", quality=70)
    capped = PillowImageProcessor(max_pixels=6_000_000)

    out = decoded(capped.normalize(upload).data)

    assert out.size == (1600, 1280)


def test_a_big_png_has_no_reduced_scale_and_is_refused_by_its_header():
    capped = PillowImageProcessor(max_pixels=6_000_000)

    with pytest.raises(ImageTooLarge):
        capped.normalize(png_claiming(5000, 4000))


def test_the_pixel_limit_is_said_in_megapixels():
    with pytest.raises(ImageTooLarge) as refused:
        PillowImageProcessor().normalize(png_claiming(6000, 6000))

    assert refused.value.message == "the picture has over 25 megapixels"


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_a_variant_is_the_given_width_with_the_same_shape_and_format(processor, image_format):
    picture = processor.normalize(encode(photo((1400, 1200)), image_format))

    for width, height in ((400, 343), (800, 686)):
        variant = processor.variant(picture, width)
        out = decoded(variant.data)
        assert out.size == (width, height)
        assert out.format == image_format
        assert (variant.content_type, variant.extension) == (picture.content_type,
                                                             picture.extension)
        assert len(variant.data) < len(picture.data)


def test_a_picture_narrower_than_the_variant_is_its_own_variant(processor):
    picture = processor.normalize(encode(photo((300, 900)), "JPEG"))

    assert processor.variant(picture, 400) == picture


def test_a_palette_png_with_transparency_gets_a_smooth_see_through_variant(processor):
    image = Image.new("P", (1000, 500), 0)
    image.putpalette([255, 255, 255, 255, 0, 0])
    image.paste(1, (250, 100, 750, 400))
    picture = processor.normalize(encode(image, "PNG", transparency=0))

    out = decoded(processor.variant(picture, 400).data).convert("RGBA")

    assert out.size == (400, 200)
    assert out.getpixel((2, 2))[3] == 0
    assert out.getpixel((200, 100)) == (255, 0, 0, 255)


def test_the_bomb_check_never_swaps_the_warning_filters(processor, monkeypatch):
    # catch_warnings replaces warnings.filters for the whole process: under waitress's
    # threads one request's exit can undo another's "error" filter, or leave it on.
    real = warnings.catch_warnings
    callers: list[str] = []

    def spy(*args, **kwargs):  # pytest itself uses it too: only note minimart's calls
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("minimart"):
            callers.append(caller)
        return real(*args, **kwargs)

    monkeypatch.setattr(warnings, "catch_warnings", spy)

    assert processor.normalize(encode(photo((40, 30)), "PNG")).content_type == "image/png"
    for width, height in ((6_000, 6_000), (10_000, 10_000), (20_000, 20_000)):
        with pytest.raises(ImageTooLarge):
            processor.normalize(png_claiming(width, height))
    assert callers == []


@pytest.mark.parametrize("action", ["ignore", "error"])
def test_a_bomb_is_refused_whatever_the_warning_filters_say(processor, action):
    # Another thread (or library) may have left DecompressionBombWarning ignored, or made
    # it an error.
    with warnings.catch_warnings():
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        for width, height in ((6_000, 6_000), (10_000, 10_000), (20_000, 20_000)):
            with pytest.raises(ImageTooLarge):
                processor.normalize(png_claiming(width, height))


def test_threads_normalizing_at_once_leave_the_warning_filters_as_they_were(processor):
    before = list(warnings.filters)
    upload, bomb = encode(photo((64, 48)), "PNG"), png_claiming(10_000, 10_000)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                processor.normalize(upload)
                with pytest.raises(ImageTooLarge):
                    processor.normalize(bomb)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert warnings.filters == before


@pytest.mark.parametrize(("size", "said"), [
    (5 * 1024 * 1024, "5 MB"), (16 * 1024 * 1024, "16 MB"), (1536 * 1024, "1.5 MB"),
    (1024, "1024 bytes")])
def test_byte_limits_are_said_in_megabytes(size, said):
    assert megabytes(size) == said


# === LocalDirectoryImageStore ==================================================================

def picture(data: bytes = b"picture-bytes") -> Picture:
    return Picture(data=data, content_type="image/png", extension="png")


def test_the_store_keeps_variants_beside_their_picture(tmp_path):
    store = LocalDirectoryImageStore(tmp_path)
    key = store.put(picture())

    store.put_variant(key, 400, picture(b"small"))

    assert store.get(key) == picture()
    assert store.get(key, 400) == picture(b"small")
    assert store.get(key, 800) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [key, key.replace(".png", "-400.png")])


@pytest.mark.parametrize(("key", "width"), [
    ("../etc/passwd", 400), ("0" * 64 + ".svg", 400), ("0" * 64 + ".png", 0),
    ("0" * 64 + ".png", 10_000), ("0" * 64 + ".png", -1)])
def test_the_store_refuses_odd_keys_and_widths(tmp_path, key, width):
    store = LocalDirectoryImageStore(tmp_path)

    store.put_variant(key, width, picture())

    assert store.get(key, width) is None
    assert list(tmp_path.iterdir()) == []


def test_deleting_a_picture_deletes_its_variants_and_nothing_else(tmp_path):
    store = LocalDirectoryImageStore(tmp_path)
    key, other = store.put(picture(b"a")), store.put(picture(b"b"))
    for width in (400, 800):
        store.put_variant(key, width, picture(b"a%d" % width))
    store.put_variant(other, 400, picture(b"b400"))

    store.delete(key)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [other, other.replace(".png", "-400.png")])


def test_stored_before_lists_pictures_by_when_they_were_last_stored(tmp_path):
    store = LocalDirectoryImageStore(tmp_path)
    old, fresh = store.put(picture(b"old")), store.put(picture(b"fresh"))
    store.put_variant(old, 400, picture(b"old-400"))
    long_ago = time.time() - 10 * 24 * 3600
    for name in (old, old.replace(".png", "-400.png"), fresh):
        os.utime(tmp_path / name, (long_ago, long_ago))
    week_ago = datetime.now(UTC) - timedelta(days=7)

    assert sorted(store.stored_before(week_ago)) == sorted([old, fresh])

    assert store.put(picture(b"fresh")) == fresh  # stored again: its grace starts anew
    assert list(store.stored_before(week_ago)) == [old]


def test_an_empty_store_has_nothing_stored_before(tmp_path):
    assert list(LocalDirectoryImageStore(tmp_path / "none").stored_before(
        datetime.now(UTC))) == []


# === CatalogService ============================================================================

@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
def images(clock):
    return MemoryImageStore(clock.now)


@pytest.fixture
def services(clock, images, processor):
    return fake_services(adapters=fake_adapters(clock=clock, images=images,
                                                image_processor=processor))


@pytest.fixture
def catalog(services):
    return services.catalog


def add_item(catalog: CatalogService, name: str = "Soup"):
    return catalog.create_item(NewItem(name=name, description="", price=500, stock=3), STAFF)


def test_set_image_stores_the_400_and_800_pixel_copies(catalog, images):
    soup = add_item(catalog)

    key = catalog.set_image(soup.id, encode(photo((1400, 1200)), "JPEG"), STAFF).image_key

    assert decoded(catalog.image(key).data).size == (1400, 1200)
    assert decoded(catalog.image(key, 400).data).size == (400, 343)
    assert decoded(catalog.image(key, 800).data).size == (800, 686)
    assert set(images.variants) == {(key, 400), (key, 800)}


@pytest.mark.parametrize("width", [0, 1, 399, 1600, 4000])
def test_only_the_offered_widths_are_served(catalog, width):
    soup = add_item(catalog)
    key = catalog.set_image(soup.id, encode(photo((900, 600)), "JPEG"), STAFF).image_key

    with pytest.raises(NotFound):
        catalog.image(key, width)


def test_a_picture_stored_before_it_had_copies_gets_them_on_first_request(catalog, images,
                                                                          processor):
    key = images.put(processor.normalize(encode(photo((1000, 500)), "JPEG")))
    assert images.get(key, 400) is None

    served = catalog.image(key, 400)

    assert decoded(served.data).size == (400, 200)
    assert images.get(key, 400) == served  # made once, then served from the store


def test_a_copy_of_an_unknown_picture_is_not_found(catalog, images):
    with pytest.raises(NotFound):
        catalog.image("0" * 64 + ".png", 400)
    assert images.variants == {}


def test_the_sweep_deletes_only_unshown_pictures_older_than_the_grace(catalog, images, clock):
    soup, stew = add_item(catalog, "Soup"), add_item(catalog, "Stew")
    replaced = catalog.set_image(soup.id, encode(photo((500, 400)), "JPEG"), STAFF).image_key
    shown = catalog.set_image(stew.id, encode(photo((600, 400)), "JPEG"), STAFF).image_key
    current = catalog.set_image(soup.id, encode(photo((700, 400)), "JPEG"), STAFF).image_key

    clock.advance(days=3)
    assert catalog.sweep_pictures(timedelta(days=7), STAFF) == []  # still in its grace
    clock.advance(days=5)
    recent = images.put(Picture(b"unshown but new", "image/png", "png"))

    assert catalog.sweep_pictures(timedelta(days=7), STAFF) == [replaced]
    assert images.get(replaced) is None
    assert images.get(replaced, 400) is None
    for key in (shown, current, recent):
        assert images.get(key) is not None


def test_the_sweep_grace_cannot_be_shorter_than_a_day(catalog):
    with pytest.raises(ValidationFailed):
        catalog.sweep_pictures(timedelta(hours=23), STAFF)


def test_only_catalog_writers_may_sweep(catalog):
    with pytest.raises(Forbidden):
        catalog.sweep_pictures(timedelta(days=7), CUSTOMER)
