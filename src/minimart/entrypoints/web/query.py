"""The query string, read once for the API and the pages alike."""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qsl

from pyramid.request import Request

from minimart.entrypoints.web.problems import BadRequest, InvalidRequest


def query_pairs(request: Request) -> dict[str, str]:
    """The query string as text, each parameter given once and free of NUL.

    Parsed here rather than by WebOb, which also splits on ';' (so `q=salt;pepper` would
    search for "salt") and raises on escapes that are not UTF-8.
    """
    try:
        pairs = parse_qsl(request.query_string, keep_blank_values=True, separator="&",
                          errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not UTF-8") from None
    counts = Counter(key for key, _ in pairs)
    repeated = [key for key, count in counts.items() if count > 1]
    if repeated:
        raise InvalidRequest("a query parameter is repeated",
                             {key: ["give this parameter once"] for key in repeated})
    params = dict(pairs)
    nul = [key for key, value in params.items() if "\x00" in key or "\x00" in value]
    if nul:
        raise InvalidRequest("text must not hold NUL characters",
                             {key: ["remove the NUL character"] for key in nul})
    return params
