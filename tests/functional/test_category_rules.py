"""Category names are unique whatever their case (API.md, Stores: 409 `name_taken`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.envelope import assert_error

CATEGORIES = "/api/v1/categories"


@pytest.fixture
def staff(auth: Any) -> dict[str, str]:
    return auth("staff")


@pytest.mark.parametrize("again", ["Starters", "starters", "STARTERS", "  Starters "])
def test_a_second_category_of_the_same_name_answers_409(testapp, staff, again):
    testapp.post_json(CATEGORIES, {"name": "Starters"}, headers=staff, status=201)
    response = testapp.post_json(CATEGORIES, {"name": again}, headers=staff, status=409)
    assert assert_error(response, 409, "name_taken")["details"] == {
        "name": ["another category has this name"]}
    assert [c["name"] for c in testapp.get(CATEGORIES).json["data"]] == ["Starters"]


def test_renaming_onto_another_categorys_name_answers_409_and_onto_its_own_is_fine(
        testapp, staff):
    testapp.post_json(CATEGORIES, {"name": "Mains"}, headers=staff, status=201)
    drinks = testapp.post_json(CATEGORIES, {"name": "Drinks"}, headers=staff,
                               status=201).json
    response = testapp.patch_json(f"{CATEGORIES}/{drinks['id']}", {"name": "MAINS"},
                                  headers=staff, status=409)
    assert_error(response, 409, "name_taken")
    renamed = testapp.patch_json(f"{CATEGORIES}/{drinks['id']}", {"name": "DRINKS"},
                                 headers=staff).json
    assert renamed["name"] == "DRINKS"
