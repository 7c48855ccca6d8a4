"""Every response carries X-Request-ID (the caller's when it is sane), and every request
is logged on one line with its id, route, status and duration."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from minimart.entrypoints.web.metrics import observe_request

log = logging.getLogger("minimart.requests")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Handler = Callable[[Request], Response]


def request_id_of(request: Request) -> str:
    offered = request.headers.get("X-Request-ID", "")
    return offered if _SANE_ID.match(offered) else uuid.uuid4().hex


def request_id_tween_factory(handler: Handler, registry: Registry) -> Handler:
    def request_id_tween(request: Request) -> Response:
        started = time.perf_counter()
        request.request_id = request_id_of(request)
        response = handler(request)
        response.headers["X-Request-ID"] = request.request_id
        route = request.matched_route.name if request.matched_route else "-"
        account = getattr(request, "authenticated_account_id", None)
        duration = time.perf_counter() - started
        observe_request(request.method, route, response.status_code, duration)
        log.info("%s %s route=%s status=%s duration_ms=%.1f request_id=%s account_id=%s",
                 request.method, request.path, route, response.status_code, duration * 1000,
                 request.request_id, account or "-",
                 extra={"method": request.method, "path": request.path, "route": route,
                        "status": response.status_code,
                        "duration_ms": round(duration * 1000, 1),
                        "request_id": request.request_id, "account_id": account})
        return response

    return request_id_tween
