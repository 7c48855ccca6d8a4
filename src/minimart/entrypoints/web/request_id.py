"""Every response carries X-Request-ID (the caller's when it is sane), and every request
is logged on one line with its id, route, status and duration — failures raised above the
exception views included."""

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
from minimart.entrypoints.web.problems import BadRequest, error_body

log = logging.getLogger("minimart.requests")
_SANE_ID = re.compile(r"\A[A-Za-z0-9._:-]{1,128}\Z")

Handler = Callable[[Request], Response]


def request_id_of(request: Request) -> str:
    offered = request.headers.get("X-Request-ID", "")
    return offered if _SANE_ID.match(offered) else uuid.uuid4().hex


def unreadable_url(request: Request) -> str | None:
    """Why the URL cannot be served, if it cannot: escapes that are not UTF-8, or a NUL,
    which no database column accepts. Answered here, before anything reads the path."""
    try:
        path = request.path_info
    except UnicodeDecodeError:
        return "the URL path is not UTF-8"
    if "\x00" in path or "%00" in request.query_string:
        return "the URL holds a NUL character"
    return None


def answer_anyway(handler: Handler, request: Request) -> Response:
    """The handler's answer, or the exception views' answer to what it raised.

    Pyramid's exception views sit below pyramid_tm; what fails above them (a commit, an
    error view that itself failed) would otherwise reach waitress, which answers a bare
    text 500 with no request id, no headers, no log line and no metric. Rendered here,
    the request still counts as failed: pyramid_retry sees `request.exception` and
    retries what is retryable.
    """
    try:
        return handler(request)
    except Exception:
        return request.invoke_exception_view(reraise=True)


def request_id_tween_factory(handler: Handler, registry: Registry) -> Handler:
    def request_id_tween(request: Request) -> Response:
        started = time.perf_counter()
        request.request_id = request_id_of(request)
        problem = unreadable_url(request)
        response = answer_anyway(handler, request) if problem is None else Response(
            status=400, json_body=error_body(BadRequest.code, problem), charset="utf-8")
        response.headers["X-Request-ID"] = request.request_id
        route = request.matched_route.name if getattr(request, "matched_route", None) else "-"
        account = getattr(request, "authenticated_account_id", None)
        duration = time.perf_counter() - started
        observe_request(request.method, route, response.status_code, duration)
        path = request.environ.get("PATH_INFO", "")
        log.info("%s %s route=%s status=%s duration_ms=%.1f request_id=%s account_id=%s",
                 request.method, path, route, response.status_code, duration * 1000,
                 request.request_id, account or "-",
                 extra={"method": request.method, "path": path, "route": route,
                        "status": response.status_code,
                        "duration_ms": round(duration * 1000, 1),
                        "request_id": request.request_id, "account_id": account})
        return response

    return request_id_tween
