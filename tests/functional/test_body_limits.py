"""Bodies the API refuses before a schema sees them: too large (413), not a JSON object
(400), or nested too deep (400) — each in the JSON error envelope, changing nothing."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from webtest import TestRequest

from minimart.entrypoints.web.api.body import MAX_DEPTH, nesting_depth
from tests.functional.envelope import assert_error

ITEMS = "/api/v1/items"
LIMIT = 8192  # under WebOb's 10 KiB, so bodies stay in memory


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """A small body limit, so an oversized body stays in memory and the tests stay fast."""
    return {**app_settings, "minimart.max_body_bytes": str(LIMIT)}


@pytest.fixture
def staff(auth: Any) -> dict[str, str]:
    return auth("staff")




def nested(depth: int) -> Any:
    """`depth` levels of arrays and objects, alternating, around a number."""
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


def no_items(testapp: Any) -> bool:
    return testapp.get(ITEMS).json["data"] == []


# --- depth -------------------------------------------------------------------------------

def test_a_body_nested_exactly_max_depth_deep_reaches_the_schema(testapp, staff):
    body = {"name": "Tea", "price": 1, "extra": nested(MAX_DEPTH - 1)}
    assert nesting_depth(body) == MAX_DEPTH
    error = assert_error(testapp.post_json(ITEMS, body, headers=staff, status=422),
                         422, "validation_failed")
    assert "extra" in error["details"]


def test_a_body_nested_one_level_deeper_than_max_depth_answers_400(testapp, staff):
    body = {"name": "Tea", "price": 1, "extra": nested(MAX_DEPTH)}
    assert nesting_depth(body) == MAX_DEPTH + 1
    error = assert_error(testapp.post_json(ITEMS, body, headers=staff, status=400),
                         400, "bad_request")
    assert error["details"] == {"max_depth": MAX_DEPTH}
    assert no_items(testapp)


@pytest.mark.parametrize("opening", ["[", '{"":'])
def test_a_body_nested_past_the_interpreters_recursion_limit_answers_400(testapp, staff,
                                                                         opening):
    """Far deeper than Python's recursion limit, in fewer bytes than the body limit allows:
    answered as too deep, not as a crash."""
    depth = sys.getrecursionlimit() + 100
    closing = "]" if opening == "[" else "}"
    raw = '{"name": ' + opening * depth + "1" + closing * depth + "}"
    assert len(raw) <= LIMIT
    response = testapp.post(ITEMS, raw, headers=staff,
                            content_type="application/json", status=400)
    assert_error(response, 400, "bad_request")


def test_an_unclosed_deep_body_is_refused_with_400(testapp, staff):
    response = testapp.post(ITEMS, "[" * (LIMIT - 1), headers=staff,
                            content_type="application/json", status=400)
    assert response.json["error"]["code"] in {"bad_request", "malformed_json"}


def test_nesting_depth_counts_containers_not_scalars():
    assert nesting_depth(1) == 0
    assert nesting_depth({}) == 1
    assert nesting_depth({"a": [1, {"b": []}], "c": 2}) == 4
    assert nesting_depth([[[]], []]) == 3


def test_nesting_depth_needs_no_recursion_for_very_deep_values():
    assert nesting_depth(nested(100_000)) == MAX_DEPTH + 1  # stops once past the bound


# --- size --------------------------------------------------------------------------------

def test_a_body_exactly_at_the_limit_is_read(testapp, staff):
    body = {"name": "Tea", "price": 1, "description": ""}
    body["description"] = "d" * (LIMIT - len(json.dumps(body)))
    assert len(json.dumps(body)) == LIMIT
    # read and judged by the schema (descriptions are at most 5000), not refused for size
    error = assert_error(testapp.post_json(ITEMS, body, headers=staff, status=422),
                         422, "validation_failed")
    assert set(error["details"]) == {"description"}


def test_a_body_one_byte_over_the_limit_answers_413(testapp, staff):
    body = {"name": "Tea", "price": 1, "description": ""}
    body["description"] = "d" * (LIMIT + 1 - len(json.dumps(body)))
    response = testapp.post_json(ITEMS, body, headers=staff, status=413)
    assert_error(response, 413, "payload_too_large")
    assert no_items(testapp)


def test_a_body_without_content_length_is_measured_as_read(testapp, staff):
    """A chunked body declares no length: it is refused by what arrives."""
    raw = json.dumps({"name": "Tea", "price": 1, "description": "d" * LIMIT}).encode()
    request = TestRequest.blank(ITEMS, method="POST", body=raw,
                                content_type="application/json", headers=staff)
    del request.environ["CONTENT_LENGTH"]
    request.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.environ["wsgi.input_terminated"] = True
    response = testapp.do_request(request, status=413)
    assert_error(response, 413, "payload_too_large")
    assert no_items(testapp)


def test_an_oversized_body_is_refused_before_its_media_type_is_judged(testapp, staff):
    response = testapp.post(ITEMS, b"x" * (LIMIT + 1), headers=staff,
                            content_type="text/plain", status=413)
    assert_error(response, 413, "payload_too_large")


# --- shape -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["[]", "[{}]", '"text"', "42", "-1.5e308", "true", "null"])
def test_json_that_is_not_an_object_answers_400_bad_request(testapp, staff, raw):
    response = testapp.post(ITEMS, raw, headers=staff, content_type="application/json",
                            status=400)
    assert_error(response, 400, "bad_request")
    assert no_items(testapp)


@pytest.mark.parametrize("raw", [b"{", b'{"name": "Tea",}', b"{'name': 'Tea'}",
                                 b'{"name": "\xff"}', b"NaN-"])
def test_json_that_does_not_parse_answers_400_malformed_json(testapp, staff, raw):
    response = testapp.post(ITEMS, raw, headers=staff,
                            content_type="application/json", status=400)
    assert_error(response, 400, "malformed_json")


# --- text that is not Unicode ------------------------------------------------------------

@pytest.mark.parametrize("raw", [b'{"name": "\\ud800", "price": 1}',
                                 b'{"name": "tea", "price": 1, "\\udfff": 1}',
                                 b'{"name": "\xed\xa0\x80", "price": 1}'])
def test_a_body_with_an_unpaired_surrogate_answers_400(testapp, staff, raw):
    """JSON escapes (and CESU-8 bytes) can spell half a character; no database stores it."""
    response = testapp.post(ITEMS, raw, headers=staff, content_type="application/json",
                            status=400)
    assert_error(response, 400, "malformed_json")
    assert no_items(testapp)


def test_a_paired_surrogate_escape_is_an_ordinary_character(testapp, staff):
    response = testapp.post(ITEMS, b'{"name": "tea \\ud83c\\udf75", "price": 1}',
                            headers=staff, content_type="application/json", status=201)
    assert response.json["name"] == "tea \U0001f375"


@pytest.mark.parametrize("query", ["q=%FF", "q=%ED%A0%80", "q=%C0%AF", "%FF=1"])
def test_a_query_string_that_is_not_utf8_answers_400(testapp, query):
    response = testapp.get(f"{ITEMS}?{query}", status=400)
    assert_error(response, 400, "bad_request")
