def test_healthz_answers_ok(testapp):
    response = testapp.get("/healthz")
    assert response.json == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_staff_creates_item_and_shopper_finds_it(testapp, auth):
    staff = auth("staff")
    created = testapp.post_json("/api/v1/items", {"name": "Tea", "price": 250, "stock": 3},
                                headers=staff, status=201)
    assert created.headers["Location"].endswith(created.json["id"])
    listing = testapp.get("/api/v1/items", {"q": "tea"})
    assert [i["name"] for i in listing.json["data"]] == ["Tea"]
