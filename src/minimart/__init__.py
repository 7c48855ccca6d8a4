"""minimart: an online store and ordering backend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router

from minimart.composition import Container
from minimart.settings import load_settings


def make_app(raw_settings: Mapping[str, Any], environ: Mapping[str, str]) -> Router:
    """Build the WSGI app from ini settings and an environment (tests pass their own)."""
    settings = load_settings(raw_settings, environ)
    with Configurator(settings=dict(raw_settings)) as config:
        config.registry.container = Container(settings)
        config.include("minimart.entrypoints.web")
    return config.make_wsgi_app()


def main(global_config: Mapping[str, Any], **settings: Any) -> Router:
    """The PasteDeploy app factory `pserve` calls."""
    return make_app(settings, os.environ)
