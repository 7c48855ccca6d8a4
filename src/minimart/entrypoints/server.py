"""`pserve`'s server: waitress, plus a graceful stop on SIGTERM.

Waitress on its own dies mid-request when a process manager sends SIGTERM. This runner
takes in the connections already in its listen backlog, then stops listening (the load
balancer moves on to the other processes), lets every request received finish and its
answer reach the client, closes idle keep-alive connections, and exits when nothing is
left in flight, or after `shutdown_timeout` seconds (default 30), saying how many
requests it cut short. It reads waitress's channels and task queue, so it is tested
against the waitress version the project installs (tests/functional/test_graceful_stop.py).

Waitress's own refusals (a body over `max_request_body_size`, an oversized header, a
request it cannot parse) answer on /api/ in the JSON error envelope of API.md, like the
app's. Keep `max_request_body_size` above the app's limits (`minimart.max_body_bytes`,
`minimart.images.max_bytes`), so the app's own 413, which names its limit, answers first.

In an ini file: `[server:main]` with `use = egg:minimart#main` and any waitress setting.
"""

from __future__ import annotations

import json
import logging
import select
import signal
import time
import uuid
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from minimart.entrypoints.web.problems import (
    BadRequest,
    InternalError,
    PayloadTooLarge,
    error_body,
)

log = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT = 30.0
QUIET_SECONDS = 0.5  # an idle connection this long has no request on its way
MAX_BACKLOG_TAKEN = 1024  # what waitress's default listen backlog holds
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


_CODES = {400: BadRequest.code, 413: PayloadTooLarge.code, 431: BadRequest.code,
          500: InternalError.code}


class JsonErrorTask(ErrorTask):
    """A waitress refusal of a request for /api/: the JSON envelope, not waitress's text."""

    def execute(self) -> None:
        path = self.request.path or ""
        if not path.startswith("/api/"):
            super().execute()
            return
        error = self.request.error
        code = _CODES.get(error.code, BadRequest.code)
        message = f"{error.reason.lower()}: {error.body}".rstrip(": ")
        body = json.dumps(error_body(code, message), separators=(",", ":")).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"),
                                      ("X-Request-ID", uuid.uuid4().hex)])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class GracefulStop:
    """The drain on SIGTERM (and SIGINT): what is running finishes, nothing new starts."""

    def __init__(self, app: WSGIApp, timeout: float, **waitress_settings: Any) -> None:
        self.requested = False
        self._signal = "stop"
        self._timeout = timeout
        self.server = create_server(app, **waitress_settings)
        self._map: dict[int, Any] = self.server.map if hasattr(self.server, "map") \
            else self.server._map
        for listener in self._listeners():
            listener.channel_class = JsonErrorChannel
        self._loop_timeout = self.server.adj.asyncore_loop_timeout
        self._use_poll = self.server.adj.asyncore_use_poll

    def request(self, signum: int, _frame: FrameType | None) -> None:
        """The signal handler: only a flag, which the loop looks at between turns."""
        self._signal = signal.Signals(signum).name
        self.requested = True

    def run(self) -> None:
        self.server.print_listen("Serving on http://{}:{}")
        while not self.requested:
            self._turn()
        log.warning("%s: finishing the requests in flight, then stopping", self._signal)
        self._stop_listening()
        deadline = time.monotonic() + self._timeout
        while self._channels() and time.monotonic() < deadline:
            self._close_idle_channels()
            self._turn()
        busy = self._busy_channels()
        if busy:
            log.warning("stopped with %d request(s) unfinished after %.0f s", busy,
                        self._timeout)
        self.server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(self._map)
        log.info("stopped")

    def _turn(self) -> None:
        wasyncore.loop(timeout=self._loop_timeout, map=self._map, use_poll=self._use_poll,
                       count=1)

    def _listeners(self) -> list[BaseWSGIServer]:
        return [d for d in self._map.values() if isinstance(d, BaseWSGIServer)]

    def _channels(self) -> list[HTTPChannel]:
        return [d for d in self._map.values() if isinstance(d, HTTPChannel)]

    def _stop_listening(self) -> None:
        """Take in the connections already waiting in the listen backlog (their clients
        have sent requests a proxy will not resend elsewhere), then close the listening
        sockets: new connections are refused from now on. The dispatcher's own close()
        would also close the trigger the workers still pull."""
        for listener in self._listeners():
            for _ in range(MAX_BACKLOG_TAKEN):
                if not select.select([listener.socket], [], [], 0)[0]:
                    break
                listener.handle_accept()
            listener.accepting = False
            wasyncore.dispatcher.close(listener)

    def _close_idle_channels(self) -> None:
        """Connections quiet for a moment close now; busy ones after their answers, which
        say `Connection: close` (waitress reads that from the request when it answers), so
        a keep-alive client sends its next request elsewhere. The moment matters: a
        connection just taken from the backlog has not been read yet, and closing it would
        reset a client whose request is on its way."""
        quiet_since = time.time() - QUIET_SECONDS
        for channel in self._channels():
            if _idle(channel) and channel.last_activity < quiet_since:
                channel.will_close = True  # the loop closes it on its next turn
            for received in channel.requests:
                received.headers["CONNECTION"] = "close"

    def _busy_channels(self) -> int:
        return sum(not _idle(channel) for channel in self._channels())


def _idle(channel: HTTPChannel) -> bool:
    """No request received and unanswered, none half read, and nothing left to send."""
    return not channel.requests and channel.request is None and not channel.total_outbufs_len


def serve(app: WSGIApp, global_conf: dict[str, Any] | None = None, **settings: Any) -> int:
    """The PasteDeploy server runner (`use = egg:minimart#main`)."""
    timeout = float(settings.pop("shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT))
    logging.basicConfig()  # as waitress.serve does; a no-op once pserve configured logging
    stop = GracefulStop(app, timeout, **settings)
    signal.signal(signal.SIGTERM, stop.request)
    signal.signal(signal.SIGINT, stop.request)
    stop.run()
    return 0
