"""Categories under concurrent requests on PostgreSQL: a delete racing items being moved
into the category, and two creations racing for one name."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import categories, items
from minimart.domain.actors import Role
from tests.integration.test_order_concurrency import Shop, settings_for

pytestmark = pytest.mark.postgres

ITEMS = "/api/v1/items"
CATEGORIES = "/api/v1/categories"


@pytest.fixture
def shop(postgres_url: str) -> Iterator[Shop]:
    from tests.conftest import _empty_all_tables

    app = make_app(settings_for(postgres_url, **{"minimart.database.pool_size": "12"}), environ={})
    _empty_all_tables(app.registry.container.engine)
    yield Shop(app)
    app.registry.container.engine.dispose()


def staff_headers(shop: Shop) -> dict[str, str]:
    from minimart.domain.actors import Actor

    account = shop.work(lambda s: s.accounts.create_account(
        "staff@example.com", "a long password", "Staff", Role.STAFF, Actor.system()))
    return {"Authorization": f"Bearer {shop.app.registry.token_codec.issue(account)}"}


def call(app: Any, method: str, url: str, headers: dict[str, str],
         body: dict[str, Any] | None = None) -> int:
    client = TestApp(app)
    if body is None:
        return client.request(url, method=method, headers=headers, expect_errors=True
                              ).status_int
    return getattr(client, f"{method.lower()}_json")(url, body, headers=headers,
                                                     expect_errors=True).status_int


def test_deleting_a_category_while_items_move_into_it_never_fails(shop: Shop):
    headers = staff_headers(shop)
    app = shop.app
    item_ids = [TestApp(app).post_json(ITEMS, {"name": f"Dish {n}", "price": 100},
                                       headers=headers).json["id"] for n in range(8)]
    for attempt in range(6):
        category = TestApp(app).post_json(CATEGORIES, {"name": f"Menu {attempt}"},
                                          headers=headers).json["id"]
        start = threading.Barrier(len(item_ids) + 1)

        def move(item_id: str, category: str = category,
                 start: threading.Barrier = start) -> int:
            start.wait()
            return call(app, "PATCH", f"{ITEMS}/{item_id}", headers,
                        {"category_id": category})

        def delete(category: str = category, start: threading.Barrier = start) -> int:
            start.wait()
            return call(app, "DELETE", f"{CATEGORIES}/{category}", headers)

        with ThreadPoolExecutor(max_workers=len(item_ids) + 1) as pool:
            moves = [pool.submit(move, item_id) for item_id in item_ids]
            deleted = pool.submit(delete)
            statuses = Counter(f.result() for f in moves)
        assert deleted.result() == 204, f"attempt {attempt}: {deleted.result()}"
        assert set(statuses) <= {200, 422}, f"attempt {attempt}: {statuses}"
        with shop.engine.connect() as connection:
            left = connection.execute(select(items.c.id).where(
                items.c.category_id == category)).all()
            assert left == []
            assert connection.execute(select(categories.c.id).where(
                categories.c.id == category)).first() is None


def test_two_categories_racing_for_one_name_make_one(shop: Shop):
    headers = staff_headers(shop)
    start = threading.Barrier(8)

    def create(n: int) -> int:
        start.wait()
        return call(shop.app, "POST", CATEGORIES, headers,
                    {"name": "Specials" if n % 2 else "SPECIALS"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(create, range(8)))
    assert statuses == {201: 1, 409: 7}
