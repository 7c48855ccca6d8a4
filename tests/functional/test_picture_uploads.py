"""Issue 14, pictures through the whole app: large uploads shrunk rather than refused,
400- and 800-pixel copies in the pages' srcset, limits said in MB, damaged files told
apart, replaced pictures still served to cached pages, and a multipart body without a
boundary answered 400 (JSON on the API, an error page on the pages) instead of 500."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlparse

import pytest
from PIL import Image

from tests.functional.envelope import assert_error
from tests.functional.html_pages import text_of

ITEMS = "/api/v1/items"
KEY = r"[0-9a-f]{64}\.(?:png|jpg|webp)"


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def photo(size: tuple[int, int], color: int = 0) -> Image.Image:
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (gradient, Image.new("L", size, color), gradient))


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


@pytest.fixture
def staff(auth: Any) -> dict[str, str]:
    return auth("staff")


def make_item(testapp: Any, headers: dict[str, str], name: str = "Soup") -> dict[str, Any]:
    return testapp.post_json(ITEMS, {"name": name, "price": 500, "stock": 10},
                             headers=headers, status=201).json


def put_image(testapp: Any, item_id: str, headers: dict[str, str], data: bytes,
              content_type: str = "image/jpeg", status: int = 200) -> Any:
    return testapp.put(f"{ITEMS}/{item_id}/image", data, headers=headers,
                       content_type=content_type, status=status)


def send_raw(testapp: Any, method: str, path: str, body: bytes, content_type: str,
             headers: dict[str, str] | None = None, status: int = 200) -> Any:
    """The body and Content-Type exactly as given: webtest's put/post would re-encode a
    multipart body with a boundary of their own."""
    return testapp.request(path, method=method, body=body, status=status,
                           headers={**(headers or {}), "Content-Type": content_type})


def path_of(url: str) -> str:
    return urlparse(url).path


# --- sizes -----------------------------------------------------------------------------------

def test_an_upload_over_5_mb_is_shrunk_to_1600_pixels_not_refused(testapp, staff):
    soup = make_item(testapp, staff)
    upload = encode(Image.effect_noise((1900, 1200), 60).convert("RGB"), "PNG")
    assert len(upload) > 5 * 1024 * 1024

    item = put_image(testapp, soup["id"], staff, upload, content_type="image/png").json

    assert size_of(testapp.get(path_of(item["image_url"])).body) == (1600, 1011)


def test_the_400_and_800_pixel_copies_are_served_for_a_year(testapp, staff):
    soup = make_item(testapp, staff)
    full = path_of(put_image(testapp, soup["id"], staff,
                             encode(photo((1400, 1200)), "JPEG")).json["image_url"])
    key = full.rsplit("/", 1)[1]

    for width, height in ((400, 343), (800, 686)):
        response = testapp.get(f"/images/{width}/{key}")
        assert response.content_type == "image/jpeg"
        assert size_of(response.body) == (width, height)
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        testapp.get(f"/images/{width}/{key}", headers={"If-None-Match": response.etag},
                    status=304)
        assert len(response.body) < len(testapp.get(full).body)


@pytest.mark.parametrize("width", ["0", "300", "1600", "99999", "abc"])
def test_other_widths_are_not_found(testapp, staff, width):
    soup = make_item(testapp, staff)
    key = path_of(put_image(testapp, soup["id"], staff,
                            encode(photo((900, 600)), "JPEG")).json["image_url"]).rsplit("/")[-1]

    assert_error(testapp.get(f"/images/{width}/{key}", status=404), 404, "not_found")


def test_a_copy_of_an_unknown_picture_is_not_found(testapp):
    assert_error(testapp.get(f"/images/400/{'0' * 64}.png", status=404), 404, "not_found")


def test_the_item_json_keeps_only_image_url(testapp, staff):
    # API.md names the item's fields: the copies are reached by path, not new fields.
    soup = make_item(testapp, staff)

    item = put_image(testapp, soup["id"], staff, encode(photo((900, 600)), "JPEG")).json

    assert re.fullmatch(rf"/images/{KEY}", path_of(item["image_url"]))
    assert not [name for name in item if "image" in name and name != "image_url"]


# --- the pages -------------------------------------------------------------------------------

def srcset_of(img: Any) -> dict[str, str]:
    """{descriptor: path} of an <img srcset>."""
    pairs = [entry.strip().rsplit(" ", 1) for entry in img["srcset"].split(",")]
    return {descriptor: path for path, descriptor in pairs}


@pytest.mark.parametrize("page", ["home", "detail"])
def test_the_pages_offer_the_copies_in_srcset(testapp, staff, page):
    soup = make_item(testapp, staff)
    full = path_of(put_image(testapp, soup["id"], staff,
                             encode(photo((1400, 1200)), "JPEG")).json["image_url"])
    key = full.rsplit("/", 1)[1]

    html = testapp.get("/" if page == "home" else f"/items/{soup['id']}").html
    img = html.select_one(".picture img")

    assert img["src"] == full
    assert img["sizes"]
    assert srcset_of(img) == {"400w": f"/images/400/{key}", "800w": f"/images/800/{key}",
                              "1600w": full}
    widths = {descriptor: size_of(testapp.get(path).body)[0]
              for descriptor, path in srcset_of(img).items()}
    assert widths == {"400w": 400, "800w": 800, "1600w": 1400}


def test_a_replaced_picture_and_its_copies_stay_for_cached_pages(testapp, staff):
    soup = make_item(testapp, staff)
    put_image(testapp, soup["id"], staff, encode(photo((900, 600), 0), "JPEG"))
    cached = testapp.get(f"/items/{soup['id']}").html.select_one(".picture img")

    put_image(testapp, soup["id"], staff, encode(photo((900, 600), 255), "JPEG"))
    testapp.delete(f"{ITEMS}/{soup['id']}/image", headers=staff, status=204)

    for path in [cached["src"], *srcset_of(cached).values()]:
        assert testapp.get(path).content_type == "image/jpeg"


# --- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_picture_is_called_damaged_not_the_wrong_format(testapp, staff,
                                                                    image_format):
    soup = make_item(testapp, staff)
    whole = encode(Image.effect_noise((64, 64), 60).convert("RGB"), image_format)

    response = put_image(testapp, soup["id"], staff, whole[: len(whole) // 2], status=422)

    error = assert_error(response, 422, "validation_failed")
    assert error["message"] == "the picture is damaged or incomplete"
    assert error["details"] == {"image": ["the picture is damaged or incomplete"]}


class TestLimitInMegabytes:
    @pytest.fixture
    def app_settings(self, app_settings: dict[str, Any]) -> dict[str, Any]:
        return {**app_settings, "minimart.images.max_bytes": str(1024 * 1024)}

    def test_the_limit_is_said_in_mb(self, testapp, staff):
        soup = make_item(testapp, staff)
        upload = encode(Image.effect_noise((800, 800), 60).convert("RGB"), "PNG")
        assert len(upload) > 1024 * 1024

        response = put_image(testapp, soup["id"], staff, upload, content_type="image/png",
                             status=413)

        assert assert_error(response, 413, "payload_too_large")["message"] == \
            "pictures are at most 1 MB"


FORM_BODY = (b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
             b"Content-Type: image/jpeg\r\n\r\nnot really\r\n--xyz--\r\n")


@pytest.mark.parametrize("content_type", [
    "multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary=""',
    "multipart/form-data; charset=utf-8"])
def test_a_multipart_upload_without_a_boundary_answers_400_json(testapp, staff, content_type):
    soup = make_item(testapp, staff)

    response = send_raw(testapp, "PUT", f"{ITEMS}/{soup['id']}/image", FORM_BODY,
                        content_type, staff, status=400)

    assert "boundary" in assert_error(response, 400, "bad_request")["message"]


def test_a_multipart_upload_with_its_boundary_still_works(testapp, staff):
    soup = make_item(testapp, staff)
    jpeg = encode(photo((60, 40)), "JPEG")
    body = FORM_BODY.replace(b"not really", jpeg)

    item = send_raw(testapp, "PUT", f"{ITEMS}/{soup['id']}/image", body,
                    "multipart/form-data; boundary=xyz", staff).json

    assert size_of(testapp.get(path_of(item["image_url"])).body) == (60, 40)


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_a_page_form_posted_without_a_boundary_gets_a_friendly_page(testapp, path):
    response = send_raw(testapp, "POST", path, FORM_BODY, "multipart/form-data", status=400)

    assert response.content_type == "text/html"
    assert "sent without its multipart boundary" in text_of(response)
    assert "Traceback" not in response.text
