"""minimart: an online store and ordering backend."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

# Every way in (the `minimart` command, Alembic's env.py, pserve's app factory) passes here
# first. Pyramid 2.1 imports pkg_resources (hence setuptools<81 in install_requires), which
# warns on import, and pkg_resources warns again for each namespace package it declares:
# lines on stderr of every cron job. They are silenced for this one import only.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    warnings.filterwarnings("ignore", "Deprecated call to `pkg_resources.declare_namespace",
                            DeprecationWarning)
    from pyramid.config import Configurator
    from pyramid.interfaces import IExecutionPolicy
    from pyramid.router import Router

from minimart.composition import Container
from minimart.settings import load_settings

ExecutionPolicy = Callable[[dict[str, Any], Router], Any]


def make_app(raw_settings: Mapping[str, Any], environ: Mapping[str, str]) -> Router:
    """Build the WSGI app from ini settings and an environment (tests pass their own)."""
    settings = load_settings(raw_settings, environ)
    with Configurator(settings=dict(raw_settings)) as config:
        config.registry.container = Container(settings)
        config.include("minimart.entrypoints.web")
        config.commit()
        retrying = config.registry.getUtility(IExecutionPolicy)
        config.set_execution_policy(closing_request_body(retrying))
    return config.make_wsgi_app()


def closing_request_body(inner: ExecutionPolicy) -> ExecutionPolicy:
    """pyramid_retry spools a large body to a temporary file to replay it; close that file
    when the request is done instead of leaving it to the garbage collector."""

    def policy(environ: dict[str, Any], router: Router) -> Any:
        original = environ.get("wsgi.input")
        try:
            return inner(environ, router)
        finally:
            spooled = environ.get("wsgi.input")
            if spooled is not None and spooled is not original and hasattr(spooled, "close"):
                spooled.close()

    return policy


def main(global_config: Mapping[str, Any], **settings: Any) -> Router:
    """The PasteDeploy app factory `pserve` calls."""
    return make_app(settings, os.environ)
