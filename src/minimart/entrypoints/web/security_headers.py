"""Browser-facing hardening headers on every response, whichever view or error answered.

A header the view set itself is left alone: it knows better (an image's own nosniff, a
page's own policy, a token's own no-store).
"""

from __future__ import annotations

from collections.abc import Callable

from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

Handler = Callable[[Request], Response]

# JSON and images are never rendered as documents: nothing may load, frame or run.
STRICT_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# HTML pages run only this origin's scripts and styles and show only its images.
HTML_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
               "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
               "frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"

ALWAYS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
          "X-Frame-Options": "DENY"}


def add_security_headers(request: Request, response: Response) -> None:
    headers = response.headers
    for name, value in ALWAYS.items():
        headers.setdefault(name, value)
    html = response.content_type == "text/html"
    headers.setdefault("Content-Security-Policy", HTML_POLICY if html else STRICT_POLICY)
    # An answer to a signed-in caller is theirs alone: no shared or browser cache keeps it.
    if _raw_path(request).startswith("/api/") and "Authorization" in request.headers \
            and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    # Only over HTTPS (as waitress reports it from trusted proxy headers): browsers ignore
    # HSTS over plain HTTP, and sending it there would misstate how the site is served.
    if request.scheme == "https":
        headers.setdefault("Strict-Transport-Security", HSTS)


def _raw_path(request: Request) -> str:
    """The path as the WSGI server gave it: request.path decodes UTF-8 and raises on a
    malformed escape, and this must not fail on any request."""
    environ = request.environ
    return environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")


def security_headers_tween_factory(handler: Handler, registry: Registry) -> Handler:
    def security_headers_tween(request: Request) -> Response:
        response = handler(request)
        add_security_headers(request, response)
        return response

    return security_headers_tween
