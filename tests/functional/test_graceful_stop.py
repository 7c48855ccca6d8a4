"""The server runner's stop: requests in flight finish, new connections are refused, and a
request that will not finish is cut off after the shutdown timeout."""

from __future__ import annotations

import contextlib
import http.client
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from minimart.entrypoints.server import GracefulStop


class SlowApp:
    """/slow waits until released; anything else answers at once."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            self.entered.set()
            self.release.wait(timeout=10)
        body = environ["PATH_INFO"].encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]


Running = tuple[GracefulStop, threading.Thread]


@pytest.fixture
def served() -> Iterator[tuple[SlowApp, Callable[[float], Running]]]:
    """The app behind a GracefulStop whose run() goes on in a thread; the tests ask for the
    stop as the SIGTERM handler would."""
    app = SlowApp()
    started: list[Running] = []

    def start(timeout: float) -> Running:
        stop = GracefulStop(app, timeout, listen="127.0.0.1:0", threads=2,
                            asyncore_loop_timeout=0.1)
        runner = threading.Thread(target=stop.run, daemon=True)
        runner.start()
        started.append((stop, runner))
        return stop, runner

    yield app, start
    app.release.set()
    for stop, runner in started:
        stop.request(signal.SIGTERM, None)
        runner.join(timeout=10)


def port_of(stop: GracefulStop) -> int:
    return stop.server.effective_port


def get(port: int, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_a_request_in_flight_finishes_and_says_close_while_new_connections_are_refused(
        served):
    app, start = served
    stop, runner = start(5.0)
    port = port_of(stop)
    answers: list[http.client.HTTPResponse] = []
    client = threading.Thread(target=lambda: answers.append(get(port, "/slow")))
    client.start()
    assert app.entered.wait(timeout=5)

    stop.request(signal.SIGTERM, None)
    deadline = time.monotonic() + 3
    while not refuses(port):
        assert time.monotonic() < deadline, "still accepting after the stop was asked"
        time.sleep(0.05)
    app.release.set()
    client.join(timeout=10)

    [answer] = answers
    assert answer.status == 200
    assert answer.getheader("Connection") == "close"
    runner.join(timeout=5)
    assert not runner.is_alive()  # nothing left in flight: run() returned


def test_an_idle_server_stops_at_once_closing_its_keep_alive_connections(served):
    _, start = served
    stop, runner = start(5.0)
    idle = http.client.HTTPConnection("127.0.0.1", port_of(stop), timeout=5)
    idle.request("GET", "/fast")
    assert idle.getresponse().read() == b"/fast"
    started = time.monotonic()
    stop.request(signal.SIGTERM, None)
    runner.join(timeout=5)
    assert not runner.is_alive() and time.monotonic() - started < 2
    assert idle.sock.recv(1) == b""  # closed by the server, not left open
    idle.close()


def test_a_request_that_will_not_finish_is_cut_off_after_the_timeout(served, caplog):
    app, start = served
    stop, runner = start(0.5)
    port = port_of(stop)
    threading.Thread(target=lambda: _cut_off(lambda: get(port, "/slow")), daemon=True).start()
    assert app.entered.wait(timeout=5)
    with caplog.at_level(logging.WARNING, logger="minimart.entrypoints.server"):
        started = time.monotonic()
        stop.request(signal.SIGTERM, None)
        while not any("unfinished" in r.getMessage() for r in caplog.records):
            assert time.monotonic() - started < 5, "the stop waited past its timeout"
            time.sleep(0.05)
    assert time.monotonic() - started >= 0.5
    assert any("1 request(s) unfinished" in r.getMessage() for r in caplog.records)
    runner.join(timeout=5)
    assert not runner.is_alive()


def _cut_off(action: Callable[[], Any]) -> None:
    with contextlib.suppress(OSError, http.client.HTTPException):
        action()
