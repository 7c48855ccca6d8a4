"""The Pyramid web entrypoint: transactions, security, errors, operations, the REST API
and the HTML pages."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.renderers import JSON
from pyramid.request import Request
from pyramid.tweens import INGRESS, MAIN

from minimart.domain.services.wiring import Services


def _services(request: Request) -> Services:
    services: Services = request.registry.container.services(
        request.tm, finished=request.add_finished_callback)
    return services


# Routes a cross-site form cannot forge: the JSON API authenticates only with a bearer
# token (never the session cookie), and Stripe's webhook with its signature.
CSRF_EXEMPT_ROUTES = ("api.payments.stripe_webhook",)
CSRF_EXEMPT_PREFIXES = ("api.",)


def csrf_applies(request: Request) -> bool:
    """Whether an unsafe request must carry the session's CSRF token: every one, unless its
    route is exempted here by name (so a new page form cannot forget the check)."""
    route = request.matched_route
    if route is None:
        return True
    return not (route.name in CSRF_EXEMPT_ROUTES or route.name.startswith(CSRF_EXEMPT_PREFIXES))


def includeme(config: Configurator) -> None:
    # tm.annotate_user off: pyramid_tm would look up the signed-in account above the
    # exception views, before any view runs, so a database that is down or hangs would
    # fail (or hang) every signed-in request there, /healthz included. Nothing reads the
    # transaction's user; the audit trail records the actor itself.
    config.add_settings({"tm.manager_hook": "pyramid_tm.explicit_manager",
                         "tm.annotate_user": False,
                         "retry.attempts": config.get_settings().get("retry.attempts", 3)})
    config.include("pyramid_tm")
    config.include("pyramid_retry")
    config.set_default_csrf_options(require_csrf=True, callback=csrf_applies)
    config.add_request_method(_services, "services", reify=True)
    config.add_tween("minimart.entrypoints.web.request_id.request_id_tween_factory",
                     under=INGRESS)
    config.add_tween("minimart.entrypoints.web.security_headers.security_headers_tween_factory")
    config.add_tween("minimart.entrypoints.web.multipart.multipart_tween_factory", over=MAIN)
    config.include(".security")
    config.include(".errors")
    config.include(".ops")
    config.include(".metrics")
    config.include(".caching")
    config.include(".api")
    config.include(".html")
    config.add_renderer(None, JSON())
