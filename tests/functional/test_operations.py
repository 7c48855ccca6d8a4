"""Operating minimart: HTTP caching of the catalog, /metrics, and JSON log lines."""

from __future__ import annotations

import json
import logging

import pytest
from webtest import TestApp

from minimart import make_app
from minimart.logging_json import JsonFormatter


def test_the_item_list_answers_304_to_its_own_etag(testapp, auth):
    testapp.post_json("/api/v1/items", {"name": "Tea", "price": 100}, headers=auth("staff"))
    first = testapp.get("/api/v1/items")
    assert first.etag
    assert first.headers["Cache-Control"] == "public, max-age=30"
    assert "Authorization" in first.headers["Vary"]
    again = testapp.get("/api/v1/items", headers={"If-None-Match": f'"{first.etag}"'},
                        status=304)
    assert again.body == b""


def test_a_changed_catalog_changes_the_list_etag(testapp, auth):
    staff = auth("staff")
    testapp.post_json("/api/v1/items", {"name": "Tea", "price": 100}, headers=staff)
    before = testapp.get("/api/v1/items").etag
    testapp.post_json("/api/v1/items", {"name": "Coffee", "price": 200}, headers=staff)
    assert testapp.get("/api/v1/items", headers={"If-None-Match": f'"{before}"'}).status_int \
        == 200


def test_an_item_read_with_a_token_is_not_shared_by_caches(testapp, auth):
    staff = auth("staff")
    item = testapp.post_json("/api/v1/items", {"name": "Tea", "price": 100},
                             headers=staff).json
    response = testapp.get(f"/api/v1/items/{item['id']}", headers=staff)
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_metrics_count_requests_by_route_and_show_orders_and_the_pool(testapp, auth):
    testapp.get("/healthz")
    testapp.get("/api/v1/items")
    text = testapp.get("/metrics").text
    assert 'minimart_http_requests_total{method="GET",route="ops.healthz",status="200"}' in text
    assert "minimart_http_request_duration_seconds_bucket" in text
    assert "minimart_db_pool_checked_out" in text
    assert "minimart_orders" in text


@pytest.fixture
def guarded(app_settings):
    wsgi = make_app({**app_settings, "minimart.metrics_token": "scrape-" + "s" * 30},
                    environ={})
    yield TestApp(wsgi)
    wsgi.registry.container.engine.dispose()


def test_metrics_with_a_token_set_refuse_a_scrape_without_it(guarded):
    assert guarded.get("/metrics", status=401).json["error"]["code"] == "unauthenticated"
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}, status=401)
    ok = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-" + "s" * 30})
    assert "minimart_http_requests_total" in ok.text


def test_a_log_line_is_one_json_object_with_the_request_fields():
    record = logging.makeLogRecord({"name": "minimart.requests", "levelname": "INFO",
                                    "msg": "GET / status=%s", "args": (200,),
                                    "request_id": "abc", "status": 200})
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET / status=200"
    assert (line["request_id"], line["status"], line["level"]) == ("abc", 200, "INFO")
