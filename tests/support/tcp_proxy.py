"""A TCP proxy on loopback that a test can cut, restore, slow down or hang: the database or
the payment provider "going away" without touching the real server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpProxy:
    def __init__(self, upstream_port: int, delay_seconds: float = 0.0,
                 listen_port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.delay_seconds = delay_seconds
        self._listen_port = listen_port
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    @property
    def port(self) -> int:
        return self._listen_port

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._listen_port))
        listener.listen(64)
        self._listen_port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def hang(self) -> None:
        """Accept connections and take in data, but pass nothing on, either way: a server
        that is alive to the kernel but does not answer (frozen, a hung host)."""
        self._flowing.clear()

    def resume(self) -> None:
        """Pass on what was held back and flow again."""
        self._flowing.set()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a crashed server would."""
        self._flowing.set()  # held-back data meets the cut connections, and the pumps end
        with self._lock:
            if self._listener is not None:
                # shutdown wakes the thread blocked in accept(); close alone would not
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._connections += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                if outbound and self.delay_seconds:
                    time.sleep(self.delay_seconds)
                self._flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.close()
