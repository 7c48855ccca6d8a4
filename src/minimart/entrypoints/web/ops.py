"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy.exc import SQLAlchemyError

from minimart.domain.errors import Unavailable
from minimart.entrypoints.web.errors import json_error

log = logging.getLogger(__name__)


def healthz(request: Request) -> dict[str, Any]:
    """Touches nothing the database holds: it answers while the database hangs."""
    return {"status": "ok"}


def readyz(request: Request) -> Response | dict[str, Any]:
    try:
        current = request.registry.container.schema_is_current()
    except SQLAlchemyError as error:
        log.warning("not ready: database does not answer: %s", error.__class__.__name__)
        return json_error(request, 503, Unavailable.code, "the database does not answer")
    if not current:
        return json_error(request, 503, Unavailable.code,
                          "the database schema is not current: run `minimart db upgrade`")
    return {"status": "ready"}


def includeme(config: Configurator) -> None:
    config.add_route("ops.healthz", "/healthz")
    config.add_route("ops.readyz", "/readyz")
    config.add_view(healthz, route_name="ops.healthz", request_method="GET", renderer="json",
                    http_cache=0)
    config.add_view(readyz, route_name="ops.readyz", request_method="GET", renderer="json",
                    http_cache=0)
