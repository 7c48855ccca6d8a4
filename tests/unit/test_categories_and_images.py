"""Categories (CategoryService), item pictures (CatalogService) and PillowImageProcessor.

API.md (Catalog): categories are listed in `position` order with the count of items a
shopper sees; deleting one empties it and keeps its items. Pictures are PNG, JPEG or WebP
judged by content, re-encoded with their metadata stripped; a replaced picture goes away
only once the change is committed and no other item still shows it.
"""

from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from minimart.adapters.images import PillowImageProcessor
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.errors import Forbidden, NotFound, ValidationFailed
from minimart.domain.images import DamagedImage, ImageTooLarge, UnsupportedImage
from tests.fakes.catalog import MemoryImageStore
from tests.fakes.common import FixedClock
from tests.fakes.unit_of_work import MemoryUnitOfWork
from tests.fakes.wiring import fake_adapters, fake_services

STAFF = Actor("staff-1", Role.STAFF, request_id="req-staff")
ADMIN = Actor("admin-1", Role.ADMIN, request_id="req-admin")
CUSTOMER = Actor("customer-1", Role.CUSTOMER, request_id="req-customer")
ANONYMOUS = Actor.anonymous(request_id="req-anon")
NOT_STAFF = [pytest.param(CUSTOMER, id="customer"), pytest.param(ANONYMOUS, id="anonymous")]

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 160, 0)


# --- pictures to upload ------------------------------------------------------------------------

def encode(image: Image.Image, image_format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def png(color=RED, size=(8, 6), **options) -> bytes:
    return encode(Image.new("RGB", size, color), "PNG", **options)


def halves(size=(40, 20)) -> Image.Image:
    """Left half red, right half blue: shows which way a picture was turned."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return image


def noise(size=(64, 64)) -> Image.Image:
    """Pixels that do not compress, so a cut file misses real image data."""
    return Image.effect_noise(size, 60).convert("RGB")


def spy_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCamMaker"
    exif[ExifTags.Base.Model] = "SpyCam 3000"
    exif[ExifTags.Base.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N",
                                   ExifTags.GPS.GPSLatitude: (48.0, 51.0, 24.0),
                                   ExifTags.GPS.GPSLongitudeRef: "E",
                                   ExifTags.GPS.GPSLongitude: (2.0, 21.0, 7.0)}
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    return exif


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header announcing width x height, with almost no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(pixel, expected, tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
def uow():
    return MemoryUnitOfWork()


@pytest.fixture
def items(uow):
    return uow.items


@pytest.fixture
def audit(uow):
    return uow.audit


@pytest.fixture
def images(clock):
    return MemoryImageStore(clock.now)


@pytest.fixture
def processor():
    return PillowImageProcessor()


@pytest.fixture
def services(uow, clock, images, processor):
    return fake_services(uow=uow, adapters=fake_adapters(clock=clock, images=images,
                                                         image_processor=processor))


@pytest.fixture
def catalog(services):
    return services.catalog


@pytest.fixture
def categories(services):
    return services.categories


def add_item(catalog, name="Soup", **fields):
    return catalog.create_item(NewItem(name=name, price=500, stock=5, **fields), STAFF)


def category_events(audit, action=None):
    return [e for e in audit.events if e.entity_type == "category"
            and (action is None or e.action == action)]


# === CategoryService ===========================================================================

def test_created_categories_get_the_next_position(categories):
    first = categories.create_category("Starters", STAFF)
    second = categories.create_category("Mains", STAFF, description="Hot food")

    assert (first.position, second.position) == (1, 2)
    assert second.description == "Hot food"
    assert first.id != second.id


def test_the_next_position_follows_the_highest_one(categories):
    categories.create_category("Starters", STAFF, position=10)
    categories.create_category("Drinks", STAFF, position=3)

    assert categories.create_category("Desserts", STAFF).position == 11


def test_a_created_category_is_stored_trimmed_and_timestamped(categories, clock):
    created = categories.create_category("  Drinks  ", ADMIN)

    stored = categories.get_category(created.id)
    assert stored.name == "Drinks"
    assert stored.created_at == stored.updated_at == clock.now()
    assert stored.item_count == 0


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_a_category_needs_a_name(categories, audit, name):
    with pytest.raises(ValidationFailed) as refused:
        categories.create_category(name, STAFF)

    assert "name" in refused.value.details
    assert categories.list_categories() == []
    assert audit.events == []


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_only_catalog_writers_may_create_categories(categories, audit, actor):
    with pytest.raises(Forbidden):
        categories.create_category("Starters", actor)

    assert categories.list_categories() == []
    assert audit.events == []


def test_creating_a_category_is_audited(categories, audit, clock):
    created = categories.create_category("Starters", STAFF, description="Small plates")

    [event] = category_events(audit)
    assert (event.action, event.entity_id, event.actor_id, event.request_id, event.at) == (
        "category.created", created.id, "staff-1", "req-staff", clock.now())
    assert event.changes == {"name": [None, "Starters"],
                             "description": [None, "Small plates"], "position": [None, 1]}


def test_update_changes_the_given_fields_only(categories, clock):
    created = categories.create_category("Starters", STAFF, description="Small plates")
    clock.advance(minutes=5)

    updated = categories.update_category(created.id, {"name": "Appetisers", "position": 7},
                                         STAFF)

    assert (updated.name, updated.description, updated.position) == (
        "Appetisers", "Small plates", 7)
    assert updated.updated_at == clock.now()
    assert updated.created_at == created.created_at
    assert categories.get_category(created.id) == updated


def test_an_update_is_audited_with_the_changed_fields(categories, audit):
    created = categories.create_category("Starters", STAFF)

    categories.update_category(created.id, {"name": "Appetisers", "position": 1}, ADMIN)

    [event] = category_events(audit, "category.updated")
    assert event.entity_id == created.id
    assert event.actor_id == "admin-1"
    assert event.changes == {"name": ["Starters", "Appetisers"]}  # position did not change


def test_updating_to_a_blank_name_is_refused(categories):
    created = categories.create_category("Starters", STAFF)

    with pytest.raises(ValidationFailed) as refused:
        categories.update_category(created.id, {"name": "  "}, STAFF)

    assert "name" in refused.value.details
    assert categories.get_category(created.id).name == "Starters"


def test_updating_an_unknown_category_is_not_found(categories):
    with pytest.raises(NotFound):
        categories.update_category("no-such-id", {"name": "X"}, STAFF)


def test_only_name_description_and_position_are_editable(categories):
    created = categories.create_category("Starters", STAFF)

    with pytest.raises(ValueError, match="item_count"):
        categories.update_category(created.id, {"item_count": 99}, STAFF)


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_only_catalog_writers_may_update_or_delete_categories(categories, actor):
    created = categories.create_category("Starters", STAFF)

    with pytest.raises(Forbidden):
        categories.update_category(created.id, {"name": "Hacked"}, actor)
    with pytest.raises(Forbidden):
        categories.delete_category(created.id, actor)

    assert categories.get_category(created.id).name == "Starters"


def test_get_an_unknown_category_is_not_found(categories):
    with pytest.raises(NotFound):
        categories.get_category("no-such-id")


def test_categories_are_listed_in_position_order(categories):
    drinks = categories.create_category("Drinks", STAFF, position=30)
    starters = categories.create_category("Starters", STAFF, position=10)
    mains = categories.create_category("Mains", STAFF, position=20)

    assert [c.id for c in categories.list_categories()] == [starters.id, mains.id, drinks.id]

    categories.update_category(drinks.id, {"position": 0}, STAFF)
    assert [c.id for c in categories.list_categories()] == [drinks.id, starters.id, mains.id]


def test_item_counts_count_only_the_items_shoppers_see(categories, catalog):
    starters = categories.create_category("Starters", STAFF)
    mains = categories.create_category("Mains", STAFF)
    empty = categories.create_category("Specials", STAFF)
    add_item(catalog, "Soup", category_id=starters.id)
    add_item(catalog, "Salad", category_id=starters.id)
    archived = add_item(catalog, "Old soup", category_id=starters.id)
    catalog.archive_item(archived.id, STAFF)
    add_item(catalog, "Steak", category_id=mains.id)
    add_item(catalog, "Bread")  # in no category

    counts = {c.name: c.item_count for c in categories.list_categories()}

    assert counts == {"Starters": 2, "Mains": 1, "Specials": 0}
    assert categories.get_category(starters.id).item_count == 2
    assert categories.get_category(empty.id).item_count == 0


def test_deleting_a_category_empties_it_and_keeps_its_items(categories, catalog, items, clock):
    starters = categories.create_category("Starters", STAFF)
    mains = categories.create_category("Mains", STAFF)
    soup = add_item(catalog, "Soup", category_id=starters.id)
    archived = add_item(catalog, "Old soup", category_id=starters.id)
    catalog.archive_item(archived.id, STAFF)
    steak = add_item(catalog, "Steak", category_id=mains.id)
    clock.advance(minutes=1)

    categories.delete_category(starters.id, STAFF)

    with pytest.raises(NotFound):
        categories.get_category(starters.id)
    kept = items.get(soup.id)
    assert kept is not None
    assert kept.category_id is None
    assert kept.version == soup.version + 1
    assert kept.updated_at == clock.now()
    assert items.get(archived.id).category_id is None
    assert items.get(steak.id).category_id == mains.id
    assert [c.name for c in categories.list_categories()] == ["Mains"]


def test_deleting_a_category_is_audited_with_how_many_items_it_emptied(categories, catalog,
                                                                       audit):
    starters = categories.create_category("Starters", STAFF, description="Small")
    add_item(catalog, "Soup", category_id=starters.id)
    add_item(catalog, "Salad", category_id=starters.id)

    categories.delete_category(starters.id, ADMIN)

    [event] = category_events(audit, "category.deleted")
    assert (event.entity_id, event.actor_id) == (starters.id, "admin-1")
    assert event.changes["items_emptied"] == [None, 2]


def test_the_deletion_audit_event_records_what_the_category_was(categories, audit):
    starters = categories.create_category("Starters", STAFF, description="Small", position=4)

    categories.delete_category(starters.id, ADMIN)

    [event] = category_events(audit, "category.deleted")
    assert event.changes == {"name": ["Starters", None], "description": ["Small", None],
                             "position": [4, None], "items_emptied": [None, 0]}


def test_deleting_an_unknown_category_is_not_found(categories, audit):
    with pytest.raises(NotFound):
        categories.delete_category("no-such-id", STAFF)

    assert audit.events == []


# === an item's category ========================================================================

def test_an_item_may_be_created_in_an_existing_category(categories, catalog):
    starters = categories.create_category("Starters", STAFF)

    assert add_item(catalog, category_id=starters.id).category_id == starters.id


def test_an_item_cannot_be_created_in_an_unknown_category(catalog, items):
    with pytest.raises(ValidationFailed) as refused:
        add_item(catalog, category_id="no-such-category")

    assert "category_id" in refused.value.details
    assert items.count() == 0


def test_an_item_cannot_be_moved_to_an_unknown_category(categories, catalog, items):
    starters = categories.create_category("Starters", STAFF)
    soup = add_item(catalog, category_id=starters.id)

    with pytest.raises(ValidationFailed) as refused:
        catalog.update_item(soup.id, {"category_id": "no-such-category"}, STAFF)

    assert "category_id" in refused.value.details
    assert items.get(soup.id) == soup


def test_an_item_may_be_moved_between_categories_and_out_of_them(categories, catalog, audit):
    starters = categories.create_category("Starters", STAFF)
    mains = categories.create_category("Mains", STAFF)
    soup = add_item(catalog, category_id=starters.id)

    moved = catalog.update_item(soup.id, {"category_id": mains.id}, STAFF)
    assert moved.category_id == mains.id
    out = catalog.update_item(soup.id, {"category_id": None}, STAFF)
    assert out.category_id is None

    changes = [e.changes for e in audit.events if e.action == "item.updated"]
    assert changes == [{"category_id": [starters.id, mains.id]},
                       {"category_id": [mains.id, None]}]


# === CatalogService pictures ===================================================================

def test_set_image_stores_a_re_encoded_picture_and_bumps_the_item_version(catalog, images,
                                                                          items, clock):
    soup = add_item(catalog)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken in the kitchen")
    upload = png(GREEN, (12, 9), pnginfo=info)
    clock.advance(minutes=3)

    updated = catalog.set_image(soup.id, upload, STAFF)

    assert updated.image_key is not None
    assert updated.version == soup.version + 1
    assert updated.updated_at == clock.now()
    assert items.get(soup.id) == updated
    picture = images.get(updated.image_key)
    assert picture is not None
    assert picture.content_type == "image/png"
    assert picture.data != upload  # re-encoded, not the uploaded bytes
    stored = decoded(picture.data)
    assert stored.format == "PNG"
    assert stored.size == (12, 9)
    assert stored.convert("RGB").getpixel((5, 5)) == GREEN
    assert catalog.image(updated.image_key) == picture


def test_set_image_is_audited(catalog, audit):
    soup = add_item(catalog)

    updated = catalog.set_image(soup.id, png(), ADMIN)

    [event] = [e for e in audit.events if e.action == "item.image_changed"]
    assert (event.entity_type, event.entity_id, event.actor_id) == ("item", soup.id, "admin-1")
    assert event.changes == {"image_key": [None, updated.image_key]}


def test_a_replaced_picture_is_still_served_after_the_change_commits(catalog, images, uow):
    # Pages cached before the change still name the old picture and its copies.
    soup = add_item(catalog)
    old_key = catalog.set_image(soup.id, png(RED), STAFF).image_key
    uow.commit()

    new_key = catalog.set_image(soup.id, png(BLUE), STAFF).image_key
    uow.commit()

    assert new_key != old_key
    assert catalog.image(old_key) == images.get(old_key) is not None
    assert catalog.image(old_key, 400) is not None
    assert catalog.image(new_key) is not None


def test_uploading_the_same_picture_again_keeps_it(catalog, images, uow):
    soup = add_item(catalog)
    key = catalog.set_image(soup.id, png(RED), STAFF).image_key
    uow.commit()

    again = catalog.set_image(soup.id, png(RED), STAFF)
    uow.commit()

    assert again.image_key == key
    assert images.get(key) is not None


def test_a_picture_shared_by_two_items_stays_while_one_still_uses_it(catalog, images, uow,
                                                                     clock):
    soup = add_item(catalog, "Soup")
    stew = add_item(catalog, "Stew")
    shared = catalog.set_image(soup.id, png(RED), STAFF).image_key
    assert catalog.set_image(stew.id, png(RED), STAFF).image_key == shared  # same content
    uow.commit()

    catalog.set_image(soup.id, png(BLUE), STAFF)
    uow.commit()
    clock.advance(days=8)
    catalog.sweep_pictures(timedelta(days=7), STAFF)
    assert images.get(shared) is not None  # the stew still shows it

    catalog.remove_image(stew.id, STAFF)
    uow.commit()
    catalog.sweep_pictures(timedelta(days=7), STAFF)
    assert images.get(shared) is None  # nobody shows it any more


def test_a_picture_taken_up_by_another_item_before_the_commit_is_not_deleted(catalog, images,
                                                                             items, uow):
    # One unit of work: the soup drops picture A (its deletion is scheduled), then the stew
    # is given the very same picture. A must survive the commit.
    soup = add_item(catalog, "Soup")
    stew = add_item(catalog, "Stew")
    picture_a = catalog.set_image(soup.id, png(RED), STAFF).image_key
    uow.commit()

    catalog.set_image(soup.id, png(BLUE), STAFF)
    catalog.set_image(stew.id, png(RED), STAFF)
    uow.commit()

    assert items.get(stew.id).image_key == picture_a
    assert images.get(picture_a) is not None


def test_remove_image_clears_the_key_and_keeps_the_picture_for_cached_pages(catalog, images,
                                                                           items, uow, audit):
    soup = add_item(catalog)
    with_picture = catalog.set_image(soup.id, png(), STAFF)
    uow.commit()

    catalog.remove_image(soup.id, STAFF)

    after = items.get(soup.id)
    assert after.image_key is None
    assert after.version == with_picture.version + 1
    uow.commit()
    assert images.get(with_picture.image_key) is not None
    event = audit.events[-1]
    assert (event.action, event.changes) == (
        "item.image_changed", {"image_key": [with_picture.image_key, None]})


def test_removing_a_picture_an_item_does_not_have_changes_nothing(catalog, items, audit):
    soup = add_item(catalog)
    events = len(audit.events)

    catalog.remove_image(soup.id, STAFF)

    assert items.get(soup.id) == soup
    assert len(audit.events) == events


def test_pictures_of_an_unknown_item_are_not_found(catalog, images):
    with pytest.raises(NotFound):
        catalog.set_image("no-such-item", png(), STAFF)
    with pytest.raises(NotFound):
        catalog.remove_image("no-such-item", STAFF)

    assert images.pictures == {}


def test_an_unknown_picture_key_is_not_found(catalog):
    with pytest.raises(NotFound):
        catalog.image("0" * 64 + ".png")


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_only_catalog_writers_may_change_pictures(catalog, images, items, actor):
    soup = add_item(catalog)

    with pytest.raises(Forbidden):
        catalog.set_image(soup.id, png(), actor)
    with pytest.raises(Forbidden):
        catalog.remove_image(soup.id, actor)

    assert images.pictures == {}
    assert items.get(soup.id) == soup


def test_an_upload_that_is_not_a_picture_changes_nothing(catalog, images, items, audit):
    soup = add_item(catalog)
    events = len(audit.events)

    with pytest.raises(UnsupportedImage):
        catalog.set_image(soup.id, b"<svg xmlns='http://www.w3.org/2000/svg'/>", STAFF)

    assert items.get(soup.id) == soup
    assert images.pictures == {}
    assert len(audit.events) == events


def test_a_catalog_built_without_picture_support_refuses_pictures(uow, items, clock):
    plain = fake_services(uow=uow, adapters=fake_adapters(clock=clock, images=None)).catalog
    soup = add_item(plain)

    with pytest.raises(UnsupportedImage):
        plain.set_image(soup.id, png(), STAFF)
    assert items.get(soup.id).image_key is None


# === PillowImageProcessor ======================================================================

@pytest.mark.parametrize(("image_format", "content_type", "extension"), [
    ("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")])
def test_png_jpeg_and_webp_are_accepted_and_keep_their_format(processor, image_format,
                                                              content_type, extension):
    upload = encode(Image.new("RGB", (30, 20), GREEN), image_format)

    picture = processor.normalize(upload)

    assert (picture.content_type, picture.extension) == (content_type, extension)
    out = decoded(picture.data)
    assert out.format == image_format
    assert out.size == (30, 20)
    assert close_to(out.convert("RGB").getpixel((15, 10)), GREEN)


def test_the_same_upload_always_gives_the_same_bytes(processor):
    upload = encode(noise((32, 32)), "JPEG")

    assert processor.normalize(upload).data == processor.normalize(upload).data


@pytest.mark.parametrize("image_format", ["GIF", "BMP", "TIFF", "ICO"])
def test_other_image_formats_are_unsupported(processor, image_format):
    with pytest.raises(UnsupportedImage):
        processor.normalize(encode(Image.new("RGB", (16, 16), RED), image_format))


@pytest.mark.parametrize("data", [
    pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                 b'<script>alert(1)</script></svg>', id="svg"),
    pytest.param(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
                 id="svg-with-xml-declaration"),
    pytest.param(b"just some text, not a picture", id="text"),
    pytest.param(b"", id="empty"),
    pytest.param(b"GIF89a\x01\x00\x01\x00", id="gif-header"),
])
def test_non_pictures_are_unsupported(processor, data):
    with pytest.raises(UnsupportedImage):
        processor.normalize(data)


@pytest.mark.parametrize("data", [
    pytest.param(b"\x89PNG\r\n\x1a\n", id="png-signature-only"),
    pytest.param(b"\xff\xd8\xff", id="jpeg-marker-only"),
    pytest.param(b"RIFF\x00\x00\x00\x00WEBP", id="webp-header-only"),
])
def test_a_picture_cut_off_in_its_header_is_damaged(processor, data):
    with pytest.raises(DamagedImage) as refused:
        processor.normalize(data)

    assert refused.value.message == "the picture is damaged or incomplete"


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.9], ids=["half", "most"])
def test_truncated_pictures_are_damaged_not_unsupported(processor, image_format, keep):
    whole = encode(noise(), image_format)
    processor.normalize(whole)  # the whole file is fine

    with pytest.raises(DamagedImage) as refused:
        processor.normalize(whole[: int(len(whole) * keep)])

    assert refused.value.code == "validation_failed"
    assert refused.value.details == {"image": ["the picture is damaged or incomplete"]}


@pytest.mark.parametrize(("width", "height"), [
    (6_000, 6_000),     # over this processor's 25 megapixels
    (10_000, 10_000),   # over Pillow's own warning threshold
    (20_000, 20_000),   # over Pillow's hard limit
    (1, 30_000_000),
])
def test_a_png_claiming_huge_dimensions_is_too_large(processor, width, height):
    with pytest.raises(ImageTooLarge):
        processor.normalize(png_claiming(width, height))


def test_the_pixel_limit_is_the_processor_s_own():
    small = PillowImageProcessor(max_pixels=100)

    assert small.normalize(png(size=(10, 10))).content_type == "image/png"  # exactly 100
    with pytest.raises(ImageTooLarge):
        small.normalize(png(size=(11, 10)))
    with pytest.raises(ImageTooLarge):
        small.normalize(encode(Image.new("RGB", (101, 1)), "JPEG"))


def test_large_pictures_are_scaled_down_to_the_longest_side():
    picture = PillowImageProcessor(max_side=16).normalize(png(size=(64, 32)))

    assert decoded(picture.data).size == (16, 8)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_exif_with_gps_and_camera_is_stripped(processor, image_format):
    upload = encode(Image.new("RGB", (20, 20), GREEN), image_format, exif=spy_exif())
    assert b"SpyCamMaker" in upload  # the test upload does carry it

    picture = processor.normalize(upload)

    out = decoded(picture.data)
    assert "exif" not in out.info
    assert len(out.getexif()) == 0
    assert b"SpyCamMaker" not in picture.data
    assert b"SpyCam 3000" not in picture.data
    assert b"Exif" not in picture.data


def test_png_text_chunks_are_stripped(processor):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret-comment")
    info.add_text("Author", "Jane Doe", zip=True)
    info.add_itxt("Description", "secret-itxt", lang="en")
    upload = png(pnginfo=info)
    assert decoded(upload).text  # the test upload does carry them

    picture = processor.normalize(upload)

    out = decoded(picture.data)
    assert out.text == {}
    for secret in (b"secret-comment", b"Jane", b"secret-itxt", b"tEXt", b"zTXt", b"iTXt"):
        assert secret not in picture.data


def test_a_jpeg_comment_is_stripped(processor):
    upload = encode(Image.new("RGB", (20, 20), GREEN), "JPEG", comment=b"secret-jpeg-comment")
    assert b"secret-jpeg-comment" in upload

    picture = processor.normalize(upload)

    assert b"secret-jpeg-comment" not in picture.data
    assert "comment" not in decoded(picture.data).info


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_the_exif_orientation_is_applied_to_the_pixels(processor, image_format):
    # 6 = "rotate 90 degrees clockwise to display": the left (red) half ends up on top
    upload = encode(halves((40, 20)), image_format, exif=spy_exif(orientation=6))

    out = decoded(processor.normalize(upload).data).convert("RGB")

    assert out.size == (20, 40)
    assert close_to(out.getpixel((10, 5)), RED)
    assert close_to(out.getpixel((10, 34)), BLUE)
    assert ExifTags.Base.Orientation not in out.getexif()  # not turned a second time


@pytest.mark.parametrize(("orientation", "size", "top_left"), [
    (1, (40, 20), RED), (3, (40, 20), BLUE), (8, (20, 40), BLUE)])
def test_other_exif_orientations_are_applied(processor, orientation, size, top_left):
    upload = encode(halves((40, 20)), "PNG", exif=spy_exif(orientation=orientation))

    out = decoded(processor.normalize(upload).data).convert("RGB")

    assert out.size == size
    assert out.getpixel((2, 2)) == top_left


def test_an_rgba_picture_keeps_its_transparency(processor):
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (2, 2, 6, 6))

    out = decoded(processor.normalize(encode(image, "PNG")).data).convert("RGBA")

    assert out.getpixel((0, 0))[3] == 0
    assert out.getpixel((4, 4)) == (255, 0, 0, 255)


def test_a_palette_png_keeps_its_transparent_colour(processor):
    # a logo on a transparent background, saved as a palette PNG with a tRNS chunk
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 255, 255, 255, 0, 0])
    image.paste(1, (2, 2, 6, 6))
    upload = encode(image, "PNG", transparency=0)
    assert decoded(upload).convert("RGBA").getpixel((0, 0))[3] == 0

    out = decoded(processor.normalize(upload).data).convert("RGBA")

    assert out.getpixel((0, 0))[3] == 0  # still see-through
    assert out.getpixel((4, 4)) == (255, 0, 0, 255)


def test_a_cmyk_jpeg_is_accepted_as_an_rgb_jpeg(processor):
    upload = encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG")

    picture = processor.normalize(upload)

    out = decoded(picture.data)
    assert picture.content_type == "image/jpeg"
    assert out.mode in ("RGB", "L")

