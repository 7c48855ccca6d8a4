"""The one place that turns failures into HTTP answers: the JSON error envelope of API.md,
or, for the HTML pages outside /api/, an error page (and the sign-in page for a visitor).

pyramid_tm aborts the transaction whenever one of these views renders, so a failed
request changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from marshmallow import ValidationError
from pyramid.config import Configurator
from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPException, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from minimart.domain import errors
from minimart.domain.accounts import RateLimited
from minimart.entrypoints.web.html.error_pages import error_page, static_error_page
from minimart.entrypoints.web.problems import (
    HttpProblem,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    error_body,
    field_messages,
    general_code,
    status_of,
)

log = logging.getLogger(__name__)


def json_error(request: Request, status: int, code: str, message: str,
               details: dict[str, Any] | None = None) -> Response:
    response = request.response
    response.status_int = status
    response.content_type = "application/json"
    response.json_body = error_body(code, message, details)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def json_problem(request: Request, error: errors.DomainError | HttpProblem) -> Response:
    """The envelope of a named kind: its status from the one table, its own code."""
    return json_error(request, status_of(error), error.code, error.message, error.details)


NOT_PAGES = ("/api/", "/images/")


def is_page(request: Request) -> bool:
    """Whether a failure answers with an HTML page: outside /api/ (and the pictures), on a
    page route or on no route at all; the operations routes keep the JSON envelope."""
    if request.path.startswith(NOT_PAGES):
        return False
    route = request.matched_route
    return route is None or route.name.startswith("html.")


def domain_error_view(exc: errors.DomainError, request: Request) -> Response:
    if is_page(request):
        response = error_page(request, status_of(exc), exc.message)
    else:
        response = json_problem(request, exc)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def problem_view(exc: HttpProblem, request: Request) -> Response:
    return json_problem(request, exc)


def validation_view(exc: ValidationError, request: Request) -> Response:
    return json_problem(request, InvalidRequest("the request is not valid",
                                                field_messages(exc.messages)))


def forbidden_view(request: Request) -> Response:
    if is_page(request):
        if request.account is None:
            wanted = {"next": request.path_qs} if request.method == "GET" else {}
            return HTTPSeeOther(request.route_path("html.login", _query=wanted))
        return error_page(request, 403, "Your account may not open this page.")
    if request.account is None:
        return json_problem(request, errors.Unauthenticated("sign in with a bearer token"))
    return json_problem(request, errors.Forbidden("your role may not do this"))


def allowed_methods(request: Request, route_name: str) -> list[str]:
    """The methods some view of the route answers, from Pyramid's introspector."""
    methods: set[str] = set()
    for view in request.registry.introspector.get_category("views"):
        spec = view["introspectable"]
        if spec["route_name"] == route_name and spec["request_methods"]:
            found = spec["request_methods"]
            methods.update([found] if isinstance(found, str) else found)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def notfound_view(request: Request) -> Response:
    if is_page(request):
        if request.matched_route is not None:
            response = error_page(request, 405, f"{request.method} is not allowed here.")
            response.allow = allowed_methods(request, request.matched_route.name)
            return response
        return error_page(request, 404, "There is no page at this address.")
    if request.matched_route is not None:
        response = json_problem(request, MethodNotAllowed(
            f"{request.method} is not allowed here"))
        response.allow = allowed_methods(request, request.matched_route.name)
        return response
    return json_problem(request, errors.NotFound("no such resource"))


def http_exception_view(exc: HTTPException, request: Request) -> Response:
    status = exc.code or 500
    if is_page(request):
        if isinstance(exc, BadCSRFToken | BadCSRFOrigin):
            return error_page(request, 403, "This form has expired or did not come from this "
                                            "site, so nothing was changed. Go back, reload the "
                                            "page and try again.")
        return error_page(request, status, exc.explanation or exc.title)
    return json_error(request, status, general_code(status), exc.explanation or exc.title)


def database_unavailable_view(exc: DBAPIError | PoolTimeout, request: Request) -> Response:
    """Reads nothing from the database: not the signed-in account, not the store."""
    log.error("database unavailable: %s", exc.__class__.__name__, exc_info=exc)
    if is_page(request):
        return static_error_page(request, 503, "The shop cannot reach its database just "
                                               "now. Nothing was changed; please try again "
                                               "shortly.")
    return json_problem(request, errors.Unavailable(
        "the database is unavailable; nothing was changed, retry is safe"))


def internal_error_view(exc: Exception, request: Request) -> Response:
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    if is_page(request):
        return error_page(request, 500, "Something went wrong on our side; nothing was "
                                        "changed.")
    return json_problem(request, InternalError(
        "something went wrong on our side; nothing was changed"))


def includeme(config: Configurator) -> None:
    config.add_exception_view(domain_error_view, context=errors.DomainError)
    config.add_exception_view(problem_view, context=HttpProblem)
    config.add_exception_view(validation_view, context=ValidationError)
    config.add_forbidden_view(forbidden_view)
    config.add_notfound_view(notfound_view)
    config.add_exception_view(http_exception_view, context=HTTPException)
    config.add_exception_view(database_unavailable_view, context=OperationalError)
    config.add_exception_view(database_unavailable_view, context=PoolTimeout)
    config.add_exception_view(internal_error_view, context=Exception)

