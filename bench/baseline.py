"""The practical ceiling for the catalog page: a hand-written WSGI app with one prepared
statement and plain json, no framework. Served by waitress like minimart.

Run as: python bench/baseline.py DATABASE_URL PORT THREADS
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
import waitress

QUERY = ("SELECT id, sku, name, description, price, stock, available, featured, archived, "
         "category_id, created_at, updated_at FROM items WHERE archived = false "
         "ORDER BY name_key, id LIMIT 21")
FIELDS = ("id", "sku", "name", "description", "price", "stock", "available", "featured",
          "archived", "category_id", "created_at", "updated_at")
_local = threading.local()


def _rows(url: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        if not hasattr(_local, "db"):
            _local.db = sqlite3.connect(url.split("///", 1)[1])
        return _local.db.execute(QUERY.replace("false", "0")).fetchall()
    if not hasattr(_local, "db"):
        _local.db = psycopg.connect(url.replace("+psycopg", ""), autocommit=True,
                                    prepare_threshold=0)
    return _local.db.execute(QUERY, prepare=True).fetchall()


def make_app(url: str) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        rows = _rows(url)
        data = [{**dict(zip(FIELDS, row, strict=True)), "currency": "usd"} for row in rows[:20]]
        for item in data:
            for key in ("created_at", "updated_at"):
                item[key] = str(item[key])
        body = json.dumps({"data": data, "next_cursor": rows[-1][0] if len(rows) > 20
                           else None}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app


if __name__ == "__main__":
    waitress.serve(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]),
                   threads=int(sys.argv[3]), _quiet=True)
