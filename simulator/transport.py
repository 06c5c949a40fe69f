"""Transport faults: the connection is reset, closed with no reply, cut off mid-body, or left
hanging. A view asks for one; this WSGI middleware carries it out on waitress's socket.

In-process (no socket, e.g. Flask's test client) the fault is raised as TransportFault.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

from flask import request

ENVIRON_KEY = "cm_sim.transport"
HANG_POLL_SECONDS = 0.1


class TransportFault(ConnectionError):
    """What an in-process client sees instead of a response."""

    def __init__(self, kind: str):
        super().__init__(f"simulated transport fault: {kind}")
        self.kind = kind


def request_transport_fault(kind: str, hang_seconds: float = 30) -> None:
    request.environ[ENVIRON_KEY] = (kind, hang_seconds)


class TransportFaults:
    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.stopping = threading.Event()  # set when the server stops, to end hangs early

    def __call__(self, environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(self.wsgi_app(environ, capture))
        fault = environ.get(ENVIRON_KEY)
        if fault is None:
            start_response(captured["status"], captured["headers"])
            return [body]
        return self._fail(environ, start_response, fault, captured, body)

    def _fail(self, environ, start_response, fault, captured, body):
        kind, hang_seconds = fault
        channel = _channel(environ)
        if channel is None:
            raise TransportFault(kind)
        from waitress.channel import ClientDisconnected

        if kind == "truncated":
            start_response(captured["status"], captured["headers"])
            return _cut_off(body, ClientDisconnected)
        if kind == "hang":
            self._hang(channel, hang_seconds)
        if kind == "reset":
            # with a zero linger time, closing the socket sends RST instead of FIN
            channel.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise ClientDisconnected(kind)  # waitress then closes the connection without a reply


    def _hang(self, channel, seconds: float) -> None:
        """Keep the connection open and silent until the time is up, the client gives up,
        or the server stops."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and channel.connected:
            if self.stopping.wait(min(HANG_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
                return


def _cut_off(body: bytes, disconnected):
    yield body[: max(1, len(body) // 2)]
    raise disconnected("truncated")


def _channel(environ):
    """waitress's connection for this request, reached through the hook it puts in environ."""
    hook = environ.get("waitress.client_disconnected")
    return getattr(hook, "__self__", None)
