"""A multipart/form-data body without a boundary cannot be parsed: WebOb raises a bare
ValueError wherever request.POST is first read (the CSRF check of every page form, an
upload view), which would answer 500. Refuse it up front as 400: the JSON envelope on the
API, an error page that says what to do on the pages."""

from __future__ import annotations

import re
from collections.abc import Callable

from pyramid.httpexceptions import HTTPBadRequest
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from minimart.entrypoints.web.errors import NOT_PAGES
from minimart.entrypoints.web.problems import BadRequest

# RFC 2046: 1 to 70 characters, quoted or not.
_BOUNDARY = re.compile(r';\s*boundary\s*=\s*(?:"[^"]{1,70}"|[^\s;"]{1,70})', re.IGNORECASE)
API_MESSAGE = ("a multipart/form-data body needs a boundary in its Content-Type, as "
               "browsers and curl -F send it")
MESSAGE = ("The form could not be read: it was sent without its multipart boundary. "
           "Go back and send it again from the page.")


def has_boundary(content_type: str) -> bool:
    return _BOUNDARY.search(content_type) is not None


def multipart_tween_factory(handler: Callable[[Request], Response],
                            registry: Registry) -> Callable[[Request], Response]:
    def multipart_tween(request: Request) -> Response:
        if request.content_type.startswith("multipart/") and \
                not has_boundary(request.headers.get("Content-Type", "")):
            # Raised under the exception views, so they answer it.
            if request.path.startswith(NOT_PAGES):
                raise BadRequest(API_MESSAGE)
            error = HTTPBadRequest()
            error.explanation = MESSAGE
            raise error
        return handler(request)

    return multipart_tween
