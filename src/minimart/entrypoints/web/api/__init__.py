"""The REST API under /api/v1: one module per resource, each with its schemas and views."""

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".items", route_prefix="/api/v1")
    config.include(".accounts", route_prefix="/api/v1")
    config.include(".orders", route_prefix="/api/v1")
    config.include(".payments", route_prefix="/api/v1")
    config.include(".categories", route_prefix="/api/v1")
    config.include(".store", route_prefix="/api/v1")
    config.include(".audit", route_prefix="/api/v1")
    config.include(".item_images")
    config.include(".openapi", route_prefix="/api/v1")
