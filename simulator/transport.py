"""Transport faults: the connection is reset, closed with no reply, cut off mid-body, or left
hanging. A view asks for one (request_transport_fault); the server carries it out on the
connection once the app has answered (carry_out, on the server's event loop).

In process (no server, e.g. Flask's test client) the fault is raised as TransportFault by the
TransportFaults middleware.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import sys
import threading
from dataclasses import dataclass
from typing import Any

from flask import current_app, request

ENVIRON_KEY = "cm_sim.transport"
SERVED_KEY = "cm_sim.served"  # set by simulator.server, which carries faults out itself
MAX_HANGS = 100  # hangs in progress at once; past that a hang becomes an empty reply
HANGS_KEY = "cm_sim.hangs"  # the app's Hangs, in app.extensions


class TransportFault(ConnectionError):
    """What an in-process client sees instead of a response."""

    def __init__(self, kind: str):
        super().__init__(f"simulated transport fault: {kind}")
        self.kind = kind


class Hangs:
    """The hangs in progress, at most `limit`: each holds a connection until it ends."""

    def __init__(self, limit: int = MAX_HANGS):
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.held >= self.limit:
                return False
            self.held += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.held -= 1


@dataclass(frozen=True)
class Fault:
    kind: str
    hang_seconds: float
    hangs: Hangs | None = None  # the slot a hang holds, given back when it ends


def request_transport_fault(kind: str, hang_seconds: float = 30) -> str:
    """Ask for a transport fault on this call's connection; the kind that will happen (a hang
    past the limit of hangs in progress is closed at once with no reply instead)."""
    hangs = current_app.extensions[HANGS_KEY] if kind == "hang" else None
    if hangs is not None and not hangs.take():
        kind, hangs = "empty_reply", None
    request.environ[ENVIRON_KEY] = Fault(kind, hang_seconds, hangs)
    return kind


class TransportFaults:
    """WSGI middleware: in process, a requested fault is raised once the app has answered."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get(SERVED_KEY):
            return self.wsgi_app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(self.wsgi_app(environ, capture))
        fault = environ.get(ENVIRON_KEY)
        if fault is not None:
            if fault.hangs:
                fault.hangs.give_back()  # in process a hang ends at once
            raise TransportFault(fault.kind)
        start_response(captured["status"], captured["headers"])
        return [body]


async def carry_out(fault: Fault, scope, protocol, status: int, headers: list, body: bytes, stopping) -> None:
    """Fail the connection as asked, instead of sending the app's answer."""
    try:
        await _fail(fault.kind, fault.hang_seconds, scope, protocol, status, headers, body, stopping)
    finally:
        if fault.hangs:
            fault.hangs.give_back()


async def _fail(
    kind: str, hang_seconds: float, scope, protocol, status: int, headers: list, body: bytes, stopping
) -> None:
    if kind == "truncated":
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        stream = protocol.response_stream(status, [*headers, ("content-length", str(len(body)))])
        await stream.send_bytes(body[: max(1, len(body) // 2)])
        return  # granian closes a connection whose body came out short
    if kind == "hang":
        await _wait(hang_seconds, protocol, stopping)
    connection = _connection(scope)
    if connection is None:  # where the socket cannot be reached: the status line alone, then closed
        protocol.response_stream(status, [("content-length", str(len(body) + 1))])
        return
    with connection:
        if kind == "reset":
            _reset(connection)
        else:  # empty_reply, and the end of a hang: closed with no reply
            connection.shutdown(socket.SHUT_RDWR)


async def _wait(seconds: float, protocol, stopping) -> None:
    """Until the time is up, the client leaves, or the server stops (an asyncio.Event)."""
    import asyncio  # here, not at the top: the app, which imports this module, runs without it in process

    waits = [asyncio.ensure_future(protocol.client_disconnect()), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


def _connection(scope) -> socket.socket | None:
    """A duplicate of the socket granian serves this request on, found by its two addresses."""
    peer, local = _address(scope.client), _address(scope.server)
    try:
        descriptors = [int(name) for name in os.listdir("/dev/fd")]
    except OSError:
        return None
    for descriptor in descriptors:
        try:
            if not stat.S_ISSOCK(os.fstat(descriptor).st_mode):
                continue
            candidate = socket.socket(fileno=os.dup(descriptor))
        except OSError:
            continue
        try:
            if _address_of(candidate.getpeername()) == peer and _address_of(candidate.getsockname()) == local:
                return candidate
        except OSError:
            pass
        candidate.close()
    return None


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _address_of(name) -> tuple[str, int] | None:
    return (name[0], name[1]) if isinstance(name, tuple) else None


def _reset(connection: socket.socket) -> None:
    """Abort the connection with RST: on Linux a connect() to AF_UNSPEC aborts a TCP
    connection at once; elsewhere a zero linger time makes the final close send RST."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if sys.platform.startswith("linux"):
        import ctypes

        unspecified = struct.pack("H14x", socket.AF_UNSPEC)
        if ctypes.CDLL(None, use_errno=True).connect(connection.fileno(), unspecified, len(unspecified)) == 0:
            return
    connection.shutdown(socket.SHUT_RDWR)
