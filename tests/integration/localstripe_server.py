"""Serve localstripe for the tests: on 127.0.0.1 only, with no state file on disk, plus a
thin shim for the one call it lacks (ephemeral keys), answering the shape Stripe returns.

Run as: python -m tests.integration.localstripe_server PORT
"""

from __future__ import annotations

import secrets
import sys
import time

from aiohttp import web
from localstripe import resources, server

# localstripe pickles its whole state to one fixed file under /tmp after every write;
# each test run keeps its own state in memory instead.
resources.store.dump_to_disk = lambda *args, **kwargs: None


async def ephemeral_key(request: web.Request) -> web.Response:
    """POST /v1/ephemeral_keys, as recorded from Stripe: needs Stripe-Version and a customer."""
    version = request.headers.get("Stripe-Version")
    form = await request.post()
    customer = form.get("customer")
    if not version:
        return web.json_response({"error": {"type": "invalid_request_error", "message":
                                            "Stripe-Version header is required"}}, status=400)
    if not isinstance(customer, str) or resources.store.get(f"customer:{customer}") is None:
        return web.json_response({"error": {"type": "invalid_request_error", "message":
                                            f"No such customer: '{customer}'"}}, status=400)
    now = int(time.time())
    return web.json_response({
        "id": f"ephkey_{secrets.token_hex(12)}", "object": "ephemeral_key",
        "associated_objects": [{"id": customer, "type": "customer"}],
        "created": now, "expires": now + 3600, "livemode": False,
        "secret": f"ek_test_{secrets.token_hex(24)}", "stripe_version_echo": version,
    })


def main() -> None:
    server.app.router.add_post("/v1/ephemeral_keys", ephemeral_key)
    web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None,
                access_log=None)


if __name__ == "__main__":
    main()
