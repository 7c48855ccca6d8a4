"""Error pages for the HTML entrypoint; the web package's exception views call these for
every path outside the JSON API. Each status's heading comes from the error table
(entrypoints/web/problems.py)."""

from __future__ import annotations

import logging

from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid_jinja2 import IJinja2Environment
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from minimart.entrypoints.web.problems import title_of

log = logging.getLogger(__name__)

TEMPLATE = "minimart.entrypoints.web.html:templates/error.jinja2"
STATIC_TEMPLATE = "minimart.entrypoints.web.html:templates/static_error.jinja2"
# The database does not answer: it refused, timed out, or the pool had no connection left.
DATABASE_UNAVAILABLE = (OperationalError, PoolTimeout)


def _values(status: int, message: str) -> dict[str, object]:
    return {"status": status, "title": title_of(status),
            "message": message[:1].upper() + message[1:]}


def error_page(request: Request, status: int, message: str) -> Response:
    """A whole page in the site's layout, with the status and what went wrong.

    The layout shows the store and the signed-in account, both from the database; when
    that does not answer, the same status comes as the static page instead.
    """
    try:
        response = render_to_response(TEMPLATE, _values(status, message), request=request,
                                      response=Response())
    except DATABASE_UNAVAILABLE as error:
        log.warning("error page %s without the layout: the database is unavailable (%s)",
                    status, error.__class__.__name__)
        return static_error_page(request, status, message)
    response.status_int = status
    response.cache_control = "no-store"
    return response


def static_error_page(request: Request, status: int, message: str) -> Response:
    """An error page that reads nothing from the database, for when it does not answer.

    Rendered by Jinja2 directly, not through Pyramid's renderers, so the BeforeRender
    subscriber that looks up the store for every page does not run.
    """
    environment = request.registry.getUtility(IJinja2Environment, name=".jinja2")
    body = environment.get_template(STATIC_TEMPLATE).render(
        request=request, store_name=request.registry.container.settings.store_name,
        **_values(status, message))
    response = Response(body, status=status, content_type="text/html", charset="utf-8")
    response.cache_control = "no-store"
    return response
