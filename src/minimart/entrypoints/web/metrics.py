"""GET /metrics in the Prometheus text format: requests and latency per route and status,
orders and payments by status, and the database pool. Each process exposes its own.

Not public in production: with `MINIMART_METRICS_TOKEN` set, a scrape must send it as a
bearer token; in production without it, /metrics does not exist (404).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.errors import NotFound, Unauthenticated
from minimart.domain.ports.metrics import ShopGauges

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("minimart_http_requests_total", "HTTP requests answered",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("minimart_http_request_duration_seconds", "Time to answer a request",
                    ["method", "route"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


class ShopCollector(Collector):
    """Read at scrape time from the database and the pool, so every process agrees."""

    def __init__(self, gauges: ShopGauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily("minimart_orders", "Orders by status", labels=["status"])
        payments = GaugeMetricFamily("minimart_order_payments",
                                     "Orders by payment outcome", labels=["payment_status"])
        for status, count in self._gauges.orders_by_status().items():
            by_status.add_metric([status.value], count)
        for payment_status, count in self._gauges.orders_by_payment_status().items():
            payments.add_metric([payment_status.value], count)
        yield by_status
        yield payments
        checked_out, size = self._gauges.connections()
        for name, doc, value in (
                ("minimart_db_pool_checked_out", "Connections in use", checked_out),
                ("minimart_db_pool_size", "Connections the pool keeps", size)):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge


def metrics(request: Request) -> Response:
    settings = request.registry.container.settings
    token = settings.metrics_token
    if token is None and settings.is_production:
        # A domain NotFound, not Pyramid's HTTPNotFound: that one goes to the not-found
        # view, which sees a matched route and answers 405 "GET is not allowed here".
        raise NotFound("no such resource")
    if token is not None:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(offered.strip(), token):
            raise Unauthenticated("send the metrics token as a bearer token")
    registry = CollectorRegistry()
    registry.register(ShopCollector(request.registry.container.gauges))
    body = generate_latest(REGISTRY) + generate_latest(registry)
    return Response(body=body, content_type=CONTENT_TYPE_LATEST.split(";")[0],
                    charset="utf-8", cache_control="no-store")


def includeme(config: Configurator) -> None:
    config.add_route("ops.metrics", "/metrics")
    config.add_view(metrics, route_name="ops.metrics", request_method="GET")
