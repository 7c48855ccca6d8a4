"""The REST API under /api/v1: one module per resource, each declaring its operations
(operation.py) beside their views and schemas; openapi.py collects them into the
document. A new resource module is added to RESOURCES, nowhere else."""

from pyramid.config import Configurator

from minimart.entrypoints.web.api import (
    accounts,
    audit,
    categories,
    item_images,
    items,
    orders,
    payments,
    store,
)

RESOURCES = (items, accounts, orders, payments, categories, store, audit, item_images)


def includeme(config: Configurator) -> None:
    for resource in RESOURCES:
        config.include(resource)
    config.include(".openapi")
    config.include("minimart.entrypoints.web.pictures")  # what an item's image_url names
