"""Error pages for the HTML entrypoint; the web package's exception views call these for
every path outside the JSON API."""

from __future__ import annotations

from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response

TEMPLATE = "minimart.entrypoints.web.html:templates/error.jinja2"
TITLES = {400: "That request did not make sense", 402: "Payment declined",
          403: "Not allowed", 404: "Page not found", 405: "Not allowed here",
          409: "That cannot be done now", 412: "Changed meanwhile",
          413: "Too large", 415: "Not a supported file", 422: "Not valid",
          429: "Too many attempts", 503: "Unavailable"}


def error_page(request: Request, status: int, message: str) -> Response:
    """A whole page in the site's layout, with the status and what went wrong."""
    values = {"status": status, "title": TITLES.get(status, "Something went wrong"),
              "message": message[:1].upper() + message[1:]}
    response = render_to_response(TEMPLATE, values, request=request, response=Response())
    response.status_int = status
    response.cache_control = "no-store"
    return response
