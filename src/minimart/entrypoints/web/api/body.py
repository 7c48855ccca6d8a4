"""Reading requests: the JSON body and the query string, through marshmallow schemas.

A wrong media type answers 415, an oversized body 413, unreadable JSON 400, and anything
the schema refuses (unknown fields included) 422 naming the fields.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import EXCLUDE, Schema
from pyramid.request import Request

from minimart.entrypoints.web.problems import HttpProblem


def json_body(request: Request, schema: Schema) -> dict[str, Any]:
    limit = request.registry.container.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(413, "payload_too_large", f"the body is over {limit} bytes")
    if request.content_type != "application/json":
        raise HttpProblem(415, "unsupported_media_type", "send the body as application/json")
    raw = request.body
    if len(raw) > limit:
        raise HttpProblem(413, "payload_too_large", f"the body is over {limit} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise HttpProblem(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HttpProblem(400, "bad_request", "the body must be a JSON object")
    return schema.load(data)


def query_params(request: Request, schema: Schema) -> dict[str, Any]:
    """Unknown query parameters are ignored (cache busters); known ones must be readable."""
    repeated = [key for key in request.GET if len(request.GET.getall(key)) > 1]
    if repeated:
        raise HttpProblem(422, "validation_failed", "a query parameter is repeated",
                          {key: ["give this parameter once"] for key in repeated})
    return schema.load(dict(request.GET), unknown=EXCLUDE)
